//! The command-line arguments of `spike`, and the parsing of
//! `--durability`.

use crate::BoxError;
use clap::Parser;
use lucerna::Durability;
use std::path::PathBuf;
use std::time::Duration;

/// Command-line arguments.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "spike",
    about = "Ingest-spike scenario: tenants on one merge scheduler, one spikes"
)]
pub(crate) struct Args {
    /// Number of indexes (tenants) sharing the merge scheduler.
    #[arg(long, default_value_t = 4)]
    pub(crate) tenants: usize,
    /// Tenant 0's rate during the spike, as a multiple of the base rate.
    #[arg(long, default_value_t = 10.0)]
    pub(crate) spike: f64,
    /// Length of the whole run (baseline + spike), in seconds.
    #[arg(long, default_value_t = 60.0)]
    pub(crate) seconds: f64,
    /// Length of the baseline phase (default: half of --seconds).
    #[arg(long)]
    pub(crate) baseline_seconds: Option<f64>,
    /// Start of the baseline phase excluded from its figures (empty indexes
    /// warming up); default: a tenth of the baseline, at most 3 s.
    #[arg(long)]
    pub(crate) warmup_seconds: Option<f64>,
    /// Writer threads of the spiking tenant (each takes an equal share of
    /// its schedule); the quiet tenants have one.
    #[arg(long, default_value_t = 1)]
    pub(crate) spike_writers: usize,
    /// The overload case: the spike is meant to exceed what the spiking
    /// tenant's merges absorb, so its admitted rate is judged too (steady,
    /// close to the merges' rate, add p99 within 10 ms).
    #[arg(long)]
    pub(crate) overload: bool,
    /// Base ingest rate of every tenant, documents per second.
    #[arg(long, default_value_t = 2000.0)]
    pub(crate) rate: f64,
    /// The corpus file (JSON lines with a `body`), default
    /// `../shared/peers/corpus/out/logs.jsonl` when it is built, else
    /// synthetic log lines (the report says which); `--corpus synthetic`
    /// asks for them.
    #[arg(long)]
    pub(crate) corpus: Option<PathBuf>,
    /// Memory budget of each writer, MiB.
    #[arg(long, alias = "mem-mb", default_value_t = 8)]
    pub(crate) mem_mib: usize,
    /// Merge threads of the shared scheduler (default: the scheduler's
    /// default, max(1, min(4, cores / 2))).
    #[arg(long)]
    pub(crate) merge_threads: Option<usize>,
    /// Fixed merge IO limit, MiB/s (default: the automatic throttle).
    #[arg(long, alias = "throttle-mb")]
    pub(crate) throttle_mib_per_s: Option<f64>,
    /// Merges smaller than this many MiB are not throttled.
    #[arg(long, alias = "min-throttled-mb", default_value_t = 1.0)]
    pub(crate) min_throttled_mib: f64,
    /// Deficit-round-robin quantum of the scheduler, MiB.
    #[arg(long, alias = "quantum-mb", default_value_t = 4.0)]
    pub(crate) quantum_mib: f64,
    /// Merge debt (MiB) above which a tenant's writers are delayed.
    #[arg(long, alias = "soft-backlog-mb", default_value_t = 32)]
    pub(crate) soft_backlog_mib: u64,
    /// Merge debt (MiB) at which a tenant's writers stall.
    #[arg(long, alias = "hard-backlog-mb", default_value_t = 128)]
    pub(crate) hard_backlog_mib: u64,
    /// How often each searcher reopens its near-real-time searcher, ms.
    #[arg(long, default_value_t = 1000)]
    pub(crate) reopen_ms: u64,
    /// How often each searcher runs its queries, ms.
    #[arg(long, default_value_t = 100)]
    pub(crate) query_ms: u64,
    /// Directory for the indexes (default: a temporary directory, removed
    /// at the end).
    #[arg(long)]
    pub(crate) dir: Option<PathBuf>,
    /// Print one JSON object as the last line of stdout.
    #[arg(long)]
    pub(crate) json: bool,
    /// Write the timeline as an SVG file.
    #[arg(long)]
    pub(crate) plot: Option<PathBuf>,
    /// Exit with status 1 when a goal is missed.
    #[arg(long)]
    pub(crate) check: bool,
    /// When adds are durable: `none` (only commits: the write-ahead log is
    /// off, so the run measures indexing and merging alone), `sync`
    /// (logged and fsync'd before each add returns) or `interval:MS`
    /// (logged, fsync'd every MS milliseconds).
    #[arg(long, default_value = "none")]
    pub(crate) durability: String,
    /// Resident memory-mapped pages allowed to the whole process, MiB
    /// (a `PageBudget` shared by every tenant's searchers); 0: no budget.
    /// It counts every file-backed page, the program's code included.
    #[arg(long, alias = "page-budget-mb", default_value_t = 16)]
    pub(crate) page_budget_mib: u64,
    /// Keep glibc's default malloc settings (see `tune_malloc`).
    #[arg(long)]
    pub(crate) no_malloc_tuning: bool,
}

/// The `--durability` argument: `none`, `sync` or `interval:MS`.
pub(crate) fn parse_durability(s: &str) -> Result<Durability, BoxError> {
    match s {
        "none" => Ok(Durability::None),
        "sync" => Ok(Durability::Sync),
        _ => {
            let ms: u64 = s
                .strip_prefix("interval:")
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| {
                    format!("--durability: expected none, sync or interval:MS, got `{s}`")
                })?;
            Ok(Durability::Interval(Duration::from_millis(ms.max(1))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durability_flag() {
        assert_eq!(parse_durability("none").ok(), Some(Durability::None));
        assert_eq!(parse_durability("sync").ok(), Some(Durability::Sync));
        assert_eq!(
            parse_durability("interval:250").ok(),
            Some(Durability::Interval(Duration::from_millis(250)))
        );
        assert!(parse_durability("sometimes").is_err());
    }
}
