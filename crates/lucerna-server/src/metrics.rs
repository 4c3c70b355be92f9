//! `GET /metrics`: every tenant's engine and request counters in the
//! Prometheus text format.
//!
//! Per tenant (label `tenant`), from [`IndexWriter::metrics`] (segments,
//! merge debt, admitted rate, delays and stalls with their durations),
//! [`IndexWriter::wal_stats`] (fsyncs), [`Index::heal_stats`] and
//! [`IndexWriter::heal_stats`] (heals), [`IndexWriter::replication`] (lag,
//! label `replica`) and the server's own request counters; per server: the
//! shared merge throttle and page budget. Every family is listed in
//! [`TENANT_FAMILIES`], one line each.
//!
//! [`IndexWriter::metrics`]: lucerna::IndexWriter::metrics
//! [`IndexWriter::wal_stats`]: lucerna::IndexWriter::wal_stats
//! [`Index::heal_stats`]: lucerna::Index::heal_stats
//! [`IndexWriter::heal_stats`]: lucerna::IndexWriter::heal_stats
//! [`IndexWriter::replication`]: lucerna::IndexWriter::replication

use crate::health::{self, TenantHealth};
use crate::prometheus::{Exposition, Kind};
use crate::tenant::{Tenant, TenantCounters};
use crate::tenants::{Slot, Tenants};
use lucerna::WalStats;
use lucerna::WriterMetrics;
use std::sync::atomic::AtomicU64;

/// What one tenant's samples are read from.
pub struct Snapshot<'a> {
    tenant: &'a Tenant,
    writer: WriterMetrics,
    wal: WalStats,
    docs: u64,
    files_healed: u64,
    repairs: u64,
    heal_failures: u64,
    refreshes: u64,
}

impl<'a> Snapshot<'a> {
    /// Reads `tenant`'s counters (blocking: takes the writer's locks
    /// briefly).
    pub fn of(tenant: &'a Tenant) -> Snapshot<'a> {
        let (hi, hw) = (tenant.index().heal_stats(), tenant.writer().heal_stats());
        Snapshot {
            tenant,
            writer: tenant.writer().metrics(),
            wal: tenant.writer().wal_stats().unwrap_or_default(),
            docs: tenant.reader().current().num_docs(),
            files_healed: hi.files_healed + hw.files_healed,
            repairs: hi.repairs + hw.repairs,
            heal_failures: hi.failures + hw.failures,
            refreshes: tenant.reader().refreshes(),
        }
    }

    fn counter(&self, f: impl Fn(&TenantCounters) -> &AtomicU64) -> f64 {
        TenantCounters::get(f(&self.tenant.counters)) as f64
    }
}

/// A per-tenant family: name, kind, help, and how its value is read.
type Family = (&'static str, Kind, &'static str, fn(&Snapshot<'_>) -> f64);

/// Every per-tenant family, one sample per tenant.
pub const TENANT_FAMILIES: &[Family] = &[
    ("lucerna_docs", Kind::Gauge, "Live documents in the tenant's searchable view.", |s| s.docs as f64),
    ("lucerna_segments", Kind::Gauge, "Segments in the tenant's writer (flushed, committed or not).", |s| s.writer.segments as f64),
    ("lucerna_merge_debt_bytes", Kind::Gauge, "Bytes of merges queued or running (what backpressure measures).", |s| s.writer.pending_merge_bytes as f64),
    ("lucerna_pending_merges", Kind::Gauge, "Merges chosen and not started.", |s| s.writer.pending_merges as f64),
    ("lucerna_running_merges", Kind::Gauge, "Merges running.", |s| s.writer.running_merges as f64),
    ("lucerna_merges_total", Kind::Counter, "Merges installed.", |s| s.writer.merges_completed as f64),
    ("lucerna_merges_failed_total", Kind::Counter, "Merges that failed.", |s| s.writer.merges_failed as f64),
    ("lucerna_flushed_bytes_total", Kind::Counter, "Bytes of segments written by flushes.", |s| s.writer.bytes_flushed as f64),
    ("lucerna_merged_bytes_total", Kind::Counter, "Bytes of segments written by merges.", |s| s.writer.bytes_merged as f64),
    ("lucerna_admitted_bytes_per_second", Kind::Gauge, "Rate the tenant's writes are admitted at, document bytes per second (+Inf: not throttled).", |s| s.writer.admitted_bytes_per_s),
    ("lucerna_admitted_bytes_total", Kind::Counter, "Document bytes admitted.", |s| s.writer.admitted_bytes as f64),
    ("lucerna_backpressure_pressure", Kind::Gauge, "Smoothed pressure of the worst backlog: below 0 free, 0 to 1 rate limited, 1 stalled.", |s| s.writer.backlog_pressure),
    ("lucerna_throttle_episodes_total", Kind::Counter, "Episodes of a limited admitted rate.", |s| s.writer.rate_limited_episodes as f64),
    ("lucerna_write_delays_total", Kind::Counter, "Writes that waited for the admitted rate.", |s| s.writer.delays as f64),
    ("lucerna_write_delay_seconds_total", Kind::Counter, "Time writes waited for the admitted rate.", |s| s.writer.delayed_time.as_secs_f64()),
    ("lucerna_write_stalls_total", Kind::Counter, "Writes that blocked past a hard backpressure limit.", |s| s.writer.stalls as f64),
    ("lucerna_write_stall_seconds_total", Kind::Counter, "Time writes blocked past a hard backpressure limit.", |s| s.writer.stalled_time.as_secs_f64()),
    ("lucerna_write_rejections_total", Kind::Counter, "Non-blocking writes refused by backpressure (stalled or rate limited).", |s| s.writer.rejections as f64),
    ("lucerna_wal_fsyncs_total", Kind::Counter, "Fsyncs of the write-ahead log.", |s| s.wal.syncs as f64),
    ("lucerna_wal_records_total", Kind::Counter, "Records appended to the write-ahead log.", |s| s.wal.records as f64),
    ("lucerna_wal_bytes_total", Kind::Counter, "Bytes written to the write-ahead log.", |s| s.wal.bytes as f64),
    ("lucerna_heal_files_total", Kind::Counter, "Damaged files restored from a replica.", |s| s.files_healed as f64),
    ("lucerna_heal_repairs_total", Kind::Counter, "Heals by repair (an older commit plus the log).", |s| s.repairs as f64),
    ("lucerna_heal_failures_total", Kind::Counter, "Damage that could not be healed.", |s| s.heal_failures as f64),
    ("lucerna_refreshes_total", Kind::Counter, "Near-real-time views opened for searches.", |s| s.refreshes as f64),
    ("lucerna_bulk_requests_total", Kind::Counter, "Bulk requests answered.", |s| s.counter(|c| &c.bulk_requests)),
    ("lucerna_bulk_lines_accepted_total", Kind::Counter, "Bulk lines accepted.", |s| s.counter(|c| &c.lines_accepted)),
    ("lucerna_bulk_lines_rejected_total", Kind::Counter, "Bulk lines rejected (invalid documents).", |s| s.counter(|c| &c.lines_rejected)),
    ("lucerna_bulk_lines_not_processed_total", Kind::Counter, "Bulk lines not processed because the tenant stalled.", |s| s.counter(|c| &c.lines_not_processed)),
    ("lucerna_bulk_throttled_total", Kind::Counter, "Bulk requests answered 429 Too Many Requests.", |s| s.counter(|c| &c.throttled_requests)),
    ("lucerna_searches_total", Kind::Counter, "Searches answered.", |s| s.counter(|c| &c.searches)),
    ("lucerna_search_errors_total", Kind::Counter, "Searches that failed.", |s| s.counter(|c| &c.search_errors)),
    ("lucerna_commits_total", Kind::Counter, "Commits (requested, periodic, at shutdown).", |s| s.counter(|c| &c.commits)),
];

/// Renders the exposition of every tenant (blocking).
pub fn render(tenants: &Tenants) -> String {
    let slots = tenants.snapshot();
    let open: Vec<&Tenant> = slots
        .iter()
        .filter_map(|(_, s)| match s {
            Slot::Open(t) => Some(t.as_ref()),
            Slot::Failed(_) => None,
        })
        .collect();
    let snaps: Vec<Snapshot<'_>> = open.iter().map(|t| Snapshot::of(t)).collect();
    let mut e = Exposition::new();
    for (name, kind, help, value) in TENANT_FAMILIES {
        e.family(name, *kind, help);
        for s in &snaps {
            e.sample(name, &[("tenant", s.tenant.name().as_str())], value(s));
        }
    }
    replication(&mut e, &open);
    status(&mut e, &slots);
    server(&mut e, tenants);
    e.finish()
}

fn replication(e: &mut Exposition, open: &[&Tenant]) {
    let name = "lucerna_replication_lag_commits";
    e.family(
        name,
        Kind::Gauge,
        "Commits a replica is behind the tenant's newest.",
    );
    for t in open {
        for (i, r) in t.writer().replication().iter().enumerate() {
            let replica = i.to_string();
            e.sample(
                name,
                &[("tenant", t.name().as_str()), ("replica", &replica)],
                r.lag as f64,
            );
        }
    }
}

fn status(e: &mut Exposition, slots: &[(crate::tenant_name::TenantName, Slot)]) {
    let name = "lucerna_tenant_status";
    e.family(
        name,
        Kind::Gauge,
        "1 for the tenant's health status (healthy, degraded, quarantined).",
    );
    for (tenant, slot) in slots {
        let h: TenantHealth = match slot {
            Slot::Open(t) => health::of_tenant(t),
            Slot::Failed(err) => health::of_unopened(err),
        };
        e.sample(
            name,
            &[("tenant", tenant.as_str()), ("status", h.status.as_str())],
            1.0,
        );
    }
}

fn server(e: &mut Exposition, tenants: &Tenants) {
    let limiter = tenants.scheduler().rate_limiter();
    e.family(
        "lucerna_merge_throttle_bytes_per_second",
        Kind::Gauge,
        "The shared merge write limit in bytes per second (+Inf: unlimited).",
    )
    .sample(
        "lucerna_merge_throttle_bytes_per_second",
        &[],
        limiter.mib_per_s() * (1u64 << 20) as f64,
    );
    let budget = tenants.page_budget();
    e.family(
        "lucerna_page_budget_releases_total",
        Kind::Counter,
        "Times searchers released mapped pages to stay within the page budget.",
    )
    .sample(
        "lucerna_page_budget_releases_total",
        &[],
        budget.releases() as f64,
    );
    e.family(
        "lucerna_tenants",
        Kind::Gauge,
        "Tenants known to the server.",
    )
    .sample("lucerna_tenants", &[], tenants.snapshot().len() as f64);
}
