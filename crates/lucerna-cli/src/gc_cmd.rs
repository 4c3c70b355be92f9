//! `lucerna gc`: collects the garbage of an index in a bucket (old
//! manifests, superseded segment objects, crash orphans past a grace
//! period, covered log batches, expired leases).

use lucerna_object::{gc, Bucket, GcOptions, GcReport};
use serde_json::json;
use std::time::Duration;

/// Options of `lucerna gc`.
pub struct GcArgs<'a> {
    /// `s3://bucket/prefix`.
    pub bucket: &'a str,
    /// Newest commits kept.
    pub keep_commits: usize,
    /// Grace period of orphans, seconds.
    pub grace_secs: u64,
    /// Report only.
    pub dry_run: bool,
    /// JSON output.
    pub json: bool,
}

/// Runs the collection and prints what it removed.
pub fn run_gc(a: &GcArgs<'_>) -> Result<(), Box<dyn std::error::Error>> {
    if crate::location::bucket_url(std::path::Path::new(a.bucket))?.is_none() {
        return Err(format!(
            "gc works on a bucket (s3://bucket/prefix), not {}",
            a.bucket
        )
        .into());
    }
    let b = Bucket::from_url(a.bucket)?;
    let r = gc(
        &b,
        &GcOptions {
            keep_commits: a.keep_commits.max(1),
            grace: Duration::from_secs(a.grace_secs),
            dry_run: a.dry_run,
        },
    )?;
    if a.json {
        outln!("{}", to_json(&r, a.dry_run));
    } else {
        let verb = if a.dry_run { "would delete" } else { "deleted" };
        outln!("retained generations: {:?}", r.retained);
        outln!(
            "{verb}: {} manifests, {} superseded segment objects, {} crash orphans, {} log batches, {} expired leases",
            r.manifests.len(),
            r.segments.len(),
            r.orphans.len(),
            r.logs.len(),
            r.leases.len()
        );
        if !r.young_orphans.is_empty() {
            outln!(
                "kept {} orphans younger than the grace period ({} s)",
                r.young_orphans.len(),
                a.grace_secs
            );
        }
        if let Some(s) = &r.skipped {
            outln!("skipped: {s}");
        }
    }
    Ok(())
}

fn to_json(r: &GcReport, dry_run: bool) -> serde_json::Value {
    json!({
        "dry_run": dry_run, "retained": r.retained, "manifests": r.manifests,
        "segments": r.segments, "orphans": r.orphans, "young_orphans": r.young_orphans,
        "logs": r.logs, "leases": r.leases, "skipped": r.skipped,
    })
}
