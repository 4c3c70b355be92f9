//! Automatic healing: a reader or writer configured with replicas that
//! meets a damaged, truncated or missing segment file restores it by
//! itself, without an operator.
//!
//! The order is `repair`'s ([`recovery`](crate::index::recovery)), run in
//! process:
//!
//! 1. **From a replica** ([`HealPolicy::FromReplicas`], the default): every
//!    file of the segment that does not verify against the commit's record
//!    is copied from the first replica holding a file of the same name with
//!    the recorded length and CRC and the segment's id; the copy is
//!    verified whole, fsync'd and renamed over the damaged file (see
//!    `copy_verified`), the directory fsync'd, the segment's corruption
//!    marker removed, and the segment opened again.
//! 2. **From an older commit and the log**
//!    ([`HealPolicy::FromReplicasAndLog`]): when no replica holds a copy,
//!    [`Index::reader`](crate::Index::reader) and
//!    [`Index::writer`](crate::Index::writer) run a full
//!    [`repair`](crate::index::recovery::repair_with) (never with loss): an
//!    intact older commit plus the write-ahead log rebuild the newest
//!    state, as one new commit. It needs the writer lock, so a reader heals
//!    this way only while no writer is running.
//!
//! Only when neither restores the segment does it stay quarantined (its
//! corruption marker stays, and opening it fails with an error naming the
//! file), unless the reader was asked for partial results
//! ([`Index::allow_partial`](crate::Index::allow_partial)).
//!
//! Every heal is a `tracing` event (target `lucerna::heal`: file, segment,
//! source, bytes, duration) and is counted in [`HealStats`].

use crate::error::{Error, Result};
use crate::index::integrity::commit::SegmentMeta;
use crate::index::integrity::corrupt_marker::remove_marker;
use crate::index::integrity::heal_hook::{err_file, HealHook};
use crate::index::integrity::verify::verify_file;
use crate::index::recover::replica::{copy_verified, holds};
use lucerna_store::Directory;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::{Duration, Instant};

// Defined with the heal hook, below readers and writers (which configure
// and report them); documented here, with the healing they describe.
pub use crate::index::integrity::heal_hook::{HealEvent, HealPolicy, HealSource, HealStats};

/// The replicas and policy of an index, and its heal counters.
#[derive(Default)]
pub(crate) struct Healer {
    pub(crate) replicas: Vec<Arc<dyn Directory>>,
    pub(crate) policy: HealPolicy,
    stats: Mutex<HealStats>,
}

impl std::fmt::Debug for Healer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Healer")
            .field("replicas", &self.replicas.len())
            .field("policy", &self.policy)
            .finish()
    }
}

impl Healer {
    pub(crate) fn new(replicas: Vec<Arc<dyn Directory>>, policy: HealPolicy) -> Healer {
        Healer {
            replicas,
            policy,
            stats: Mutex::new(HealStats::default()),
        }
    }

    /// Whether a failed repair-based heal may be tried.
    pub(crate) fn may_repair(&self) -> bool {
        self.policy == HealPolicy::FromReplicasAndLog
    }

    fn record(&self, ev: HealEvent) {
        let mut st = self.stats.lock();
        match ev.source {
            HealSource::Replica(_) => {
                st.files_healed += 1;
                st.bytes += ev.bytes;
            }
            HealSource::OlderCommitAndLog => st.repairs += 1,
        }
        st.recent.push(ev);
        let excess = st.recent.len().saturating_sub(16);
        st.recent.drain(..excess);
    }

    /// Records a repair that healed the index.
    pub(crate) fn repaired(&self, file: &str, segment: &str, duration: Duration) {
        tracing::warn!(
            target: "lucerna::heal",
            file,
            segment,
            source = "older commit and log",
            duration_ms = duration.as_secs_f64() * 1e3,
            "healed by a repair"
        );
        self.record(HealEvent {
            file: file.to_string(),
            segment: segment.to_string(),
            source: HealSource::OlderCommitAndLog,
            bytes: 0,
            duration,
        });
    }
}

impl HealHook for Healer {
    /// Restores every file of `meta` in `dir` that does not verify from
    /// the first replica holding an intact copy, and removes the segment's
    /// marker. `Ok(true)` when every damaged file was restored (and at
    /// least one was), `Ok(false)` when the policy, the replicas or their
    /// copies do not allow it.
    fn heal_segment(&self, dir: &dyn Directory, meta: &SegmentMeta) -> Result<bool> {
        if self.policy == HealPolicy::Never || self.replicas.is_empty() {
            return Ok(false);
        }
        let mut plan = Vec::new();
        for entry in &meta.files {
            if verify_file(dir, meta, entry, |_| {}).is_ok() {
                continue;
            }
            match self
                .replicas
                .iter()
                .position(|r| holds(r.as_ref(), meta, entry))
            {
                Some(i) => plan.push((entry, i)),
                None => return Ok(false),
            }
        }
        if plan.is_empty() {
            // Every file verifies: nothing to restore (a marker stays until
            // `repair` has looked: a device that read wrong once may again).
            return Ok(false);
        }
        for (entry, i) in &plan {
            let start = Instant::now();
            let copied = copy_verified(self.replicas[*i].as_ref(), dir, meta, entry, &mut |_| {});
            let bytes = match copied {
                Ok(n) => n,
                // The replica's copy was not intact after all: another
                // replica may still help next time.
                Err(e) => {
                    let e: Error = e.into();
                    tracing::warn!(
                        target: "lucerna::heal",
                        file = %entry.name,
                        replica = i,
                        error = %e,
                        "a replica's copy failed to restore"
                    );
                    return Ok(false);
                }
            };
            dir.sync_dir()?;
            let duration = start.elapsed();
            tracing::warn!(
                target: "lucerna::heal",
                file = %entry.name,
                segment = %meta.name,
                replica = i,
                bytes,
                duration_ms = duration.as_secs_f64() * 1e3,
                "healed from a replica"
            );
            self.record(HealEvent {
                file: entry.name.clone(),
                segment: meta.name.clone(),
                source: HealSource::Replica(*i),
                bytes,
                duration,
            });
        }
        remove_marker(dir, &meta.name)?;
        Ok(true)
    }

    /// Counts damage that could not be healed, with its event.
    fn failed(&self, meta: &SegmentMeta, err: &Error) {
        self.stats.lock().failures += 1;
        tracing::error!(
            target: "lucerna::heal",
            segment = %meta.name,
            file = %err_file(err),
            error = %err,
            "segment quarantined: no replica holds an intact copy"
        );
    }

    /// The counters.
    fn stats(&self) -> HealStats {
        self.stats.lock().clone()
    }
}
