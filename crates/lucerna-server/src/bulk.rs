//! Bulk ingest: an NDJSON body in, one result per line out.
//!
//! Each non-blank line (numbered from 1, as `lucerna add` numbers them;
//! see [`lucerna::jsonl`]) ends as one of:
//!
//! | result | when | the client |
//! |---|---|---|
//! | `accepted` (with the document's `id`) | added, durable as the request asked once the answer is sent | is done with it |
//! | `rejected` (with the reason) | not a valid document of the schema | fixes it; sending it again fails again |
//! | `not_processed` | the tenant stalled before this line | sends it again after `Retry-After` |
//!
//! One bad line never fails the request. Backpressure, per tenant:
//!
//! 1. The writer keeps up: lines are added at once.
//! 2. Rate limited (merges behind, below the hard limits): the line waits
//!    for the tenant's admitted rate, on the blocking pool; the request is
//!    slower, never refused.
//! 3. Past a hard limit (the writer would stall): the line is refused at
//!    once ([`IndexWriter::add_document_with_stall_timeout`] with a zero
//!    timeout), the request stops there, the rest of its lines are
//!    `not_processed`, and the answer is `429 Too Many Requests` with
//!    `Retry-After` from the engine's estimate
//!    ([`BackpressureError::retry_after`]).
//!
//! Durability: before answering, a request whose durability asks for it
//! waits for one fsync of the tenant's log covering all its lines (see
//! [`Tenant::must_sync`]); if that fails, nothing in it is acknowledged.
//!
//! [`IndexWriter::add_document_with_stall_timeout`]: lucerna::IndexWriter::add_document_with_stall_timeout
//! [`BackpressureError::retry_after`]: lucerna::merge::BackpressureError::retry_after

use crate::tenant::{Tenant, TenantCounters};
use lucerna::jsonl::{parse_document, InputLine, LineReader};
use lucerna::merge::BackpressureError;
use lucerna::{Document, Durability, Error, Value};
use serde::Serialize;
use std::time::{Duration, Instant};

/// The result of one line.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LineResult {
    /// Added.
    Accepted {
        /// 1-based line number.
        line: u64,
        /// The document's `id`.
        id: Option<u64>,
    },
    /// Not a valid document.
    Rejected {
        /// 1-based line number.
        line: u64,
        /// Why.
        reason: String,
    },
    /// Not looked at: the tenant stalled (or failed) before it.
    NotProcessed {
        /// 1-based line number.
        line: u64,
    },
}

/// Why a request stopped before its last line.
#[derive(Debug, Clone)]
pub enum Stop {
    /// The tenant's writer would stall: answer 429.
    Stalled(BackpressureError),
    /// The writer failed: answer 5xx.
    Failed {
        /// The error.
        error: String,
        /// The writer was closed (shutdown): 503 rather than 500.
        unavailable: bool,
    },
}

/// What a bulk request did.
#[derive(Debug, Clone)]
pub struct BulkOutcome {
    /// One result per non-blank line, in order.
    pub items: Vec<LineResult>,
    /// Lines accepted.
    pub accepted: u64,
    /// Lines rejected.
    pub rejected: u64,
    /// Lines not processed.
    pub not_processed: u64,
    /// The durability the accepted lines have.
    pub durability: Durability,
    /// Why it stopped early, if it did.
    pub stop: Option<Stop>,
    /// How long it took.
    pub took: Duration,
}

/// Adds the lines of `body` to `tenant` (blocking; see the module docs).
pub fn ingest(tenant: &Tenant, body: &[u8], durability: Durability) -> BulkOutcome {
    let _span = tenant.span().enter();
    let started = Instant::now();
    let mut out = BulkOutcome {
        items: Vec::new(),
        accepted: 0,
        rejected: 0,
        not_processed: 0,
        durability,
        stop: None,
        took: Duration::ZERO,
    };
    let mut lines = LineReader::new(body);
    // Reading a byte slice never fails.
    while let Ok(Some((line, input))) = lines.next_line() {
        let text = match input {
            InputLine::Text(t) => t,
            InputLine::Rejected(reason) => {
                out.reject(line, reason);
                continue;
            }
        };
        if out.stop.is_some() {
            out.items.push(LineResult::NotProcessed { line });
            out.not_processed += 1;
            continue;
        }
        match parse_document(tenant.index().schema(), &text) {
            Err(reason) => out.reject(line, reason),
            Ok(doc) => add_line(tenant, line, doc, &mut out),
        }
    }
    if out.accepted > 0 && tenant.must_sync(durability) {
        if let Err(e) = tenant.writer().sync_log() {
            tenant.record_error(&e);
            out.unacknowledge(format!("the log could not be made durable: {e}"));
        }
    }
    out.took = started.elapsed();
    count(tenant, &out);
    out
}

/// Adds one parsed line: delayed while the tenant is rate limited, refused
/// at once when it would stall.
fn add_line(tenant: &Tenant, line: u64, doc: Document, out: &mut BulkOutcome) {
    let id = doc.get_first(tenant.id_field()).and_then(Value::as_u64);
    let added = tenant
        .writer()
        .add_document_with_stall_timeout(doc, Duration::ZERO);
    match added {
        Ok(_) => {
            out.items.push(LineResult::Accepted { line, id });
            out.accepted += 1;
        }
        Err(Error::Document(reason)) => out.reject(line, reason),
        Err(Error::Backpressure { backlog }) => {
            out.items.push(LineResult::NotProcessed { line });
            out.not_processed += 1;
            out.stop = Some(Stop::Stalled(backlog));
        }
        Err(e) => {
            tenant.record_error(&e);
            out.items.push(LineResult::NotProcessed { line });
            out.not_processed += 1;
            out.stop = Some(Stop::Failed {
                error: e.to_string(),
                unavailable: matches!(e, Error::Closed(_)),
            });
        }
    }
}

impl BulkOutcome {
    fn reject(&mut self, line: u64, reason: String) {
        self.items.push(LineResult::Rejected { line, reason });
        self.rejected += 1;
    }

    /// The log sync failed: no accepted line is acknowledged. They may
    /// still be in the index (and be replayed); the client must send them
    /// again (with ids, an upsert-safe retry is the client's choice).
    fn unacknowledge(&mut self, error: String) {
        for item in &mut self.items {
            if let LineResult::Accepted { line, .. } = *item {
                *item = LineResult::NotProcessed { line };
            }
        }
        self.not_processed += self.accepted;
        self.accepted = 0;
        self.stop = Some(Stop::Failed {
            error,
            unavailable: false,
        });
    }
}

fn count(tenant: &Tenant, out: &BulkOutcome) {
    let c = &tenant.counters;
    TenantCounters::add(&c.bulk_requests, 1);
    TenantCounters::add(&c.lines_accepted, out.accepted);
    TenantCounters::add(&c.lines_rejected, out.rejected);
    TenantCounters::add(&c.lines_not_processed, out.not_processed);
    if matches!(out.stop, Some(Stop::Stalled(_))) {
        TenantCounters::add(&c.throttled_requests, 1);
    }
}
