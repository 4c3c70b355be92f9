//! The command line as parsed ([`Args`]); [`config`](crate::config) turns
//! it into the settings the server runs with.

use clap::{Parser, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

/// How log events are written to standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per line.
    Json,
}

/// lucerna-server: a multi-tenant log-search service. One index per
/// tenant under --data, created on first bulk request.
///
/// Endpoints: POST /{tenant}/_bulk (NDJSON), GET /{tenant}/_search?q=&k=&sort=,
/// POST /{tenant}/_commit, GET /metrics (Prometheus), GET /health.
/// Log events go to standard error, filtered by RUST_LOG (default `info`).
#[derive(Parser, Debug)]
#[command(name = "lucerna-server", version, about, long_about = None)]
pub struct Args {
    /// Directory holding one index directory per tenant.
    #[arg(long)]
    pub data: PathBuf,
    /// Address to listen on (port 0: any free port; the address taken is
    /// printed on standard output as `{"listening":"ADDR"}`).
    #[arg(long, default_value = "127.0.0.1:7700")]
    pub listen: SocketAddr,
    /// Log event format on standard error.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Default durability of a bulk request: `sync` (acknowledged once the
    /// log is fsync'd, one fsync per request), `interval:<ms>` or `none`
    /// (acknowledged at once; the log is fsync'd every --wal-sync-ms).
    #[arg(long, default_value = "sync")]
    pub durability: lucerna::Durability,
    /// A tenant's own default durability, `NAME=MODE` (repeatable).
    #[arg(long = "tenant-durability", value_name = "NAME=MODE")]
    pub tenant_durability: Vec<String>,
    /// Period of the background fsync of each tenant's write-ahead log,
    /// in milliseconds (what `none` and long `interval` requests rely on).
    #[arg(long, default_value_t = 1000)]
    pub wal_sync_ms: u64,
    /// Near-real-time refresh interval of searches, in milliseconds: a
    /// search sees documents acknowledged this long ago.
    #[arg(long, default_value_t = 1000)]
    pub refresh_ms: u64,
    /// Commit every tenant this often, in milliseconds (0: only on
    /// POST /{tenant}/_commit and at shutdown).
    #[arg(long, default_value_t = 30_000)]
    pub commit_interval_ms: u64,
    /// Indexing memory budget of each tenant's writer, in MiB.
    #[arg(long, alias = "mem-mb", default_value_t = 64)]
    pub mem_mib: usize,
    /// Flush a tenant's buffer after this many documents.
    #[arg(long)]
    pub max_buffered_docs: Option<usize>,
    /// Merge threads shared by all tenants (default: half the cores, 1 to 4).
    #[arg(long)]
    pub merge_threads: Option<usize>,
    /// Fixed merge write rate shared by all tenants, in MiB/s, applied to
    /// every merge (default: automatic, merges under 50 MiB unthrottled).
    #[arg(long, alias = "merge-mb-per-s")]
    pub merge_mib_per_s: Option<f64>,
    /// Resident memory-mapped pages of all tenants' searchers, in MiB.
    #[arg(long, alias = "page-budget-mb", default_value_t = 2048)]
    pub page_budget_mib: u64,
    /// Backpressure: merge debt (MiB) above which a tenant's writes are
    /// rate limited.
    #[arg(long, alias = "bp-soft-merge-mb")]
    pub bp_soft_merge_mib: Option<f64>,
    /// Backpressure: merge debt (MiB) at which a tenant's writes stall
    /// (bulk requests are answered 429).
    #[arg(long, alias = "bp-hard-merge-mb")]
    pub bp_hard_merge_mib: Option<f64>,
    /// Backpressure: segments over the merge policy's budget above which
    /// a tenant's writes are rate limited.
    #[arg(long)]
    pub bp_soft_segments: Option<usize>,
    /// Backpressure: segments over the merge policy's budget at which a
    /// tenant's writes stall (bulk requests are answered 429).
    #[arg(long)]
    pub bp_hard_segments: Option<usize>,
    /// Largest bulk request body, in MiB.
    #[arg(long, alias = "max-body-mb", default_value_t = 64)]
    pub max_body_mib: usize,
    /// Replica root: each tenant's commits are copied to `REPLICA/<tenant>`
    /// and damaged files healed from there.
    #[arg(long)]
    pub replica: Option<PathBuf>,
    /// At shutdown, how long bulk requests in flight may finish before
    /// the writers are committed and closed, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub shutdown_grace_ms: u64,
}
