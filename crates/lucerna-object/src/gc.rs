//! Garbage collection of a bucket prefix.
//!
//! Objects are never overwritten and never deleted by writers; [`gc`]
//! removes what nothing needs any more:
//!
//! * **retained** commits: the newest `keep_commits` valid manifests, every
//!   commit a snapshot names, and every commit a live reader lease names;
//! * manifests older than the oldest retained one (and ignored manifests
//!   of fenced writers) that nothing retains are deleted;
//! * a segment object is kept when a retained manifest references it. One
//!   that no manifest references at all is a *crash orphan* (uploaded by a
//!   writer that died, or lost a race, before its manifest): it is deleted
//!   only when older than `grace` — a live writer's upload is younger —
//!   and one referenced only by deleted manifests goes at once;
//! * shipped log objects every retained commit covers are deleted;
//! * expired leases are deleted.
//!
//! When a manifest cannot be read, nothing but expired leases is deleted
//! (never on uncertainty). The grace period must exceed the longest time
//! a writer takes from uploading a segment to publishing its manifest.

use crate::bucket::Bucket;
use crate::catalog::Catalog;
use crate::chain::Chain;
use crate::error::Result;
use crate::keys::{
    parse_lease_key, parse_segment_key, parse_wal_key, segment_key, LEASES, SEGMENTS, SNAPSHOTS,
    WAL,
};
use crate::lease::{now_secs, Hold};
use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

/// What [`gc`] may remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcOptions {
    /// Newest valid commits kept (at least 1).
    pub keep_commits: usize,
    /// Orphans younger than this are kept (a writer may be about to
    /// publish them).
    pub grace: Duration,
    /// Report only; delete nothing.
    pub dry_run: bool,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            keep_commits: 2,
            grace: Duration::from_secs(3600),
            dry_run: false,
        }
    }
}

/// What [`gc`] removed (or, in a dry run, would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Generations retained.
    pub retained: Vec<u64>,
    /// Manifest keys deleted.
    pub manifests: Vec<String>,
    /// Segment object keys deleted (superseded).
    pub segments: Vec<String>,
    /// Crash orphans deleted.
    pub orphans: Vec<String>,
    /// Crash orphans kept because they are younger than the grace period.
    pub young_orphans: Vec<String>,
    /// Shipped log objects deleted.
    pub logs: Vec<String>,
    /// Expired leases deleted.
    pub leases: Vec<String>,
    /// Why nothing was deleted, when so.
    pub skipped: Option<String>,
}

/// Collects garbage under `bucket`'s prefix (see the module docs).
pub fn gc(bucket: &Bucket, opts: &GcOptions) -> Result<GcReport> {
    let mut report = GcReport::default();
    let now = now_secs();
    let del = |key: &str| -> Result<()> {
        if opts.dry_run {
            Ok(())
        } else {
            bucket.delete(key)
        }
    };
    let held = held_generations(bucket, now, &del, &mut report)?;
    let chain = Catalog::new(bucket.clone()).chain()?;
    if !chain.unreadable.is_empty() {
        report.skipped = Some(format!(
            "manifest(s) {:?} cannot be read: nothing deleted",
            chain.unreadable.iter().map(|u| u.0).collect::<Vec<_>>()
        ));
        return Ok(report);
    }
    let valid = chain.valid();
    let keep_n = opts.keep_commits.max(1);
    let mut retained: BTreeSet<u64> = valid[valid.len().saturating_sub(keep_n)..]
        .iter()
        .copied()
        .collect();
    retained.extend(
        held.iter()
            .copied()
            .filter(|g| chain.manifests.contains_key(g)),
    );
    report.retained = retained.iter().copied().collect();
    let Some(&oldest) = retained.iter().next() else {
        return Ok(report);
    };
    let mut keep_keys: HashSet<String> = HashSet::new();
    let mut any_keys: HashSet<String> = HashSet::new();
    for (g, m) in &chain.manifests {
        for seg in &m.commit.segments {
            for f in &seg.files {
                let k = segment_key(&seg.id, &f.name);
                if retained.contains(g) {
                    keep_keys.insert(k.clone());
                }
                any_keys.insert(k);
            }
        }
    }
    // Manifests first: below the oldest retained, or ignored (fenced).
    for g in chain.manifests.keys() {
        if retained.contains(g) {
            continue;
        }
        if *g < oldest || !chain.is_valid(*g) {
            let key = crate::keys::manifest_key(*g);
            del(&key)?;
            report.manifests.push(key);
        }
    }
    for l in bucket.list(SEGMENTS)? {
        if parse_segment_key(&l.key).is_none() || keep_keys.contains(&l.key) {
            continue;
        }
        if any_keys.contains(&l.key) {
            // Referenced only by manifests that are not retained: those
            // below the oldest retained are gone now; newer ones (not
            // retained, still valid) keep theirs.
            let still_listed = chain.manifests.iter().any(|(g, m)| {
                !report.manifests.contains(&crate::keys::manifest_key(*g))
                    && m.commit
                        .segments
                        .iter()
                        .any(|s| s.files.iter().any(|f| segment_key(&s.id, &f.name) == l.key))
            });
            if !still_listed {
                del(&l.key)?;
                report.segments.push(l.key);
            }
        } else if now.saturating_sub(l.modified_secs) >= opts.grace.as_secs() as i64 {
            del(&l.key)?;
            report.orphans.push(l.key);
        } else {
            report.young_orphans.push(l.key);
        }
    }
    // Shipped logs every retained commit covers.
    delete_covered_logs(bucket, &chain, &retained, &del, &mut report)?;
    Ok(report)
}

/// The generations snapshots and live leases hold; expired leases are
/// deleted (and reported) on the way.
fn held_generations(
    bucket: &Bucket,
    now: i64,
    del: &dyn Fn(&str) -> Result<()>,
    report: &mut GcReport,
) -> Result<BTreeSet<u64>> {
    let mut held: BTreeSet<u64> = BTreeSet::new();
    for l in bucket.list(SNAPSHOTS)? {
        let bytes = bucket.get(&l.key)?;
        held.insert(Hold::decode(&l.key, &bytes)?.generation);
    }
    for l in bucket.list(LEASES)? {
        if parse_lease_key(&l.key).is_none() {
            continue;
        }
        let hold = match bucket.get(&l.key) {
            Ok(b) => Hold::decode(&l.key, &b)?,
            Err(crate::ObjectError::NotFound { .. }) => continue,
            Err(e) => return Err(e),
        };
        if hold.expires > now {
            held.insert(hold.generation);
        } else {
            del(&l.key)?;
            report.leases.push(l.key);
        }
    }
    Ok(held)
}

/// Deletes the shipped log files whose records every retained commit
/// covers.
fn delete_covered_logs(
    bucket: &Bucket,
    chain: &Chain,
    retained: &BTreeSet<u64>,
    del: &dyn Fn(&str) -> Result<()>,
    report: &mut GcReport,
) -> Result<()> {
    let floor = retained
        .iter()
        .filter_map(|g| chain.manifests.get(g))
        .map(|m| (m.log_epoch, m.commit.wal_position))
        .min();
    if let Some((fe, fp)) = floor {
        let logs: Vec<(u64, u64, String)> = bucket
            .list(WAL)?
            .into_iter()
            .filter_map(|l| parse_wal_key(&l.key).map(|(e, f)| (e, f, l.key)))
            .collect();
        for (i, (e, _, key)) in logs.iter().enumerate() {
            let covered = if *e < fe {
                true
            } else if *e == fe {
                // Its records end before the next batch of the same epoch.
                logs.get(i + 1)
                    .is_some_and(|(ne, nf, _)| ne == e && nf.saturating_sub(1) <= fp)
            } else {
                false
            };
            if covered {
                del(key)?;
                report.logs.push(key.clone());
            }
        }
    }
    Ok(())
}
