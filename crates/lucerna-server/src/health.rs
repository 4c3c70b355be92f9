//! Per-tenant health: healthy, degraded or quarantined, with the reasons.
//!
//! | status | meaning | from |
//! |---|---|---|
//! | `quarantined` | acknowledged documents may be missing from answers | the index cannot be opened; a segment is quarantined (a corruption marker, or left out of the searcher) |
//! | `degraded` | every answer is complete, but something needs attention | a merge failed; damage could not be healed; a replica is failing; a write failed (not the document's fault) |
//! | `healthy` | none of the above | |
//!
//! A tenant stalled by backpressure is healthy (its `backpressure` field
//! says `stalled`): it is behind, not damaged.

use crate::tenant::Tenant;
use lucerna::internals::corrupt_marker::list_markers;
use serde::Serialize;

/// A tenant's status, worst last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Nothing wrong.
    Healthy,
    /// Complete answers; something needs attention.
    Degraded,
    /// Answers may miss acknowledged documents.
    Quarantined,
}

impl Status {
    /// The status as its name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Healthy => "healthy",
            Status::Degraded => "degraded",
            Status::Quarantined => "quarantined",
        }
    }
}

/// Where a tenant's writes stand with backpressure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Throttle {
    /// Admitted freely.
    None,
    /// Admitted at the rate merges absorb (requests are slower).
    RateLimited,
    /// Past a hard limit: bulk requests are answered 429.
    Stalled,
}

/// The health of one tenant.
#[derive(Debug, Clone, Serialize)]
pub struct TenantHealth {
    /// The status.
    pub status: Status,
    /// Why it is not healthy (empty when it is).
    pub reasons: Vec<String>,
    /// Backpressure now (`None` when the index is not open).
    pub backpressure: Option<Throttle>,
}

/// The health of a tenant whose index could not be opened.
pub fn of_unopened(error: &str) -> TenantHealth {
    TenantHealth {
        status: Status::Quarantined,
        reasons: vec![format!("the index cannot be opened: {error}")],
        backpressure: None,
    }
}

/// The health of an open tenant (blocking: lists its directory).
pub fn of_tenant(t: &Tenant) -> TenantHealth {
    let mut quarantined = Vec::new();
    let mut degraded = Vec::new();
    match list_markers(t.index().directory().as_ref()) {
        Ok(markers) if !markers.is_empty() => {
            quarantined.push(format!("corruption markers: {}", markers.join(", ")))
        }
        Ok(_) => {}
        Err(e) => degraded.push(format!("cannot list the index directory: {e}")),
    }
    let searcher = t.reader().current();
    for u in searcher.unavailable() {
        quarantined.push(format!(
            "segment {} left out ({} documents): {}",
            u.segment, u.docs, u.reason
        ));
    }
    let m = t.writer().metrics();
    if m.merges_failed > 0 {
        degraded.push(format!(
            "{} merges failed; last: {}",
            m.merges_failed,
            m.last_merge_error.as_deref().unwrap_or("unknown")
        ));
    }
    let failures = t.index().heal_stats().failures + t.writer().heal_stats().failures;
    if failures > 0 {
        degraded.push(format!("{failures} damaged files could not be healed"));
    }
    for (i, r) in t.writer().replication().iter().enumerate() {
        if let Some(e) = &r.last_error {
            degraded.push(format!("replica {i}: {e}"));
        }
    }
    if let Some(e) = t.last_error() {
        degraded.push(format!("last write error: {e}"));
    }
    let backpressure = if m.backlog_pressure >= 1.0 {
        Throttle::Stalled
    } else if m.admitted_bytes_per_s.is_finite() {
        Throttle::RateLimited
    } else {
        Throttle::None
    };
    let status = if !quarantined.is_empty() {
        Status::Quarantined
    } else if !degraded.is_empty() {
        Status::Degraded
    } else {
        Status::Healthy
    };
    quarantined.append(&mut degraded);
    TenantHealth {
        status,
        reasons: quarantined,
        backpressure: Some(backpressure),
    }
}
