//! The writer's reliability settings on the command line (`--replica`,
//! `--keep-commits`, `--lenient-replay`, shared by `index`, `add` and
//! `delete`), and the report of what a replay found.

use clap::Args;
use lucerna::WriterConfig;
use lucerna::{ReplayMode, ReplayReport};
use serde_json::json;
use std::path::PathBuf;

/// Reliability options of the commands that write.
#[derive(Args, Debug, Clone, Default)]
pub struct ReliabilityArgs {
    /// Keep a replica of the index in DIR, brought to every commit
    /// (repeatable; created if missing), or in a bucket given as
    /// `s3://bucket/prefix`. `lucerna repair --replica DIR` restores
    /// damaged files from it.
    #[arg(long = "replica", value_name = "DIR")]
    pub replicas: Vec<PathBuf>,
    /// Keep the files of the N newest commits (default 2, at least 1): the
    /// older ones are what `repair` can fall back to.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub keep_commits: Option<u64>,
    /// When opening the index, skip damaged records in the middle of the
    /// write-ahead log instead of failing (each skipped span is printed:
    /// file, offset, length, reason). Only once `repair` has nothing
    /// better to offer.
    #[arg(long)]
    pub lenient_replay: bool,
}

impl ReliabilityArgs {
    /// `config` with these settings.
    pub fn apply(
        &self,
        mut config: WriterConfig,
    ) -> Result<WriterConfig, Box<dyn std::error::Error>> {
        for r in &self.replicas {
            let dir = crate::location::open_replica(r)
                .map_err(|e| format!("replica {}: {e}", r.display()))?;
            config = config.replica(dir);
        }
        if let Some(n) = self.keep_commits {
            config = config.keep_commits(usize::try_from(n).unwrap_or(usize::MAX));
        }
        if self.lenient_replay {
            config = config.replay_mode(ReplayMode::Lenient);
        }
        Ok(config)
    }
}

/// Prints on stderr each span a lenient replay skipped.
pub fn print_skipped(report: &ReplayReport) {
    for s in &report.skipped {
        eprintln!(
            "warning: replay skipped {} bytes of `{}` at offset {}: {}",
            s.len, s.file, s.offset, s.reason
        );
    }
}

/// The replay report as JSON: counts and every skipped span.
pub fn replay_json(report: &ReplayReport) -> serde_json::Value {
    json!({
        "replayed": report.replayed,
        "torn": report.torn.len(),
        "skipped": report.skipped.len(),
        "rejected": report.rejected,
        "skipped_spans": report.skipped.iter().map(|s| json!({
            "file": s.file, "offset": s.offset, "len": s.len, "reason": s.reason,
        })).collect::<Vec<_>>(),
    })
}

/// One line of text: what the replay at open did.
pub fn replay_line(report: &ReplayReport) -> String {
    format!(
        "replayed at open: {} records, {} torn tails dropped, {} damaged spans skipped",
        report.replayed,
        report.torn.len(),
        report.skipped.len()
    )
}

/// One line per replica: its generation, lag and last error.
pub fn replication_lines(w: &lucerna::IndexWriter) -> Vec<String> {
    w.replication()
        .iter()
        .enumerate()
        .map(|(i, r)| match &r.last_error {
            None => format!(
                "replica {i}: at generation {}, lag {}",
                r.generation.map_or("none".to_string(), |g| g.to_string()),
                r.lag
            ),
            Some(e) => format!("replica {i}: NOT current (lag {}): {e}", r.lag),
        })
        .collect()
}
