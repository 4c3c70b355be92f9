//! The heal hook: what readers and writers call when a segment file is
//! damaged, truncated or missing, and the vocabulary of healing they
//! share (the policy, the counters, which errors a heal can help with).
//!
//! Readers (read layer) and writers (write layer) meet damage; the healer
//! that restores files from replicas lives in the recover layer
//! (`heal::Healer`), above both. So they know it only as a
//! [`HealHook`], defined here, below both; `Index` hands them the healer
//! (see docs/architecture.md, "Layers inside `lucerna`").

use crate::error::{Error, Result};
use crate::index::integrity::commit::SegmentMeta;
use lucerna_store::{Directory, StoreError};
use std::time::Duration;

/// What a reader or writer does about a damaged segment file: restore it
/// and count. Implemented by the recover layer's healer; called from
/// whichever thread opens or merges the segment, so it must be
/// `Send + Sync`.
pub(crate) trait HealHook: Send + Sync + std::fmt::Debug {
    /// Restores every file of `meta` in `dir` that does not verify.
    /// `Ok(true)` when every damaged file was restored (and at least one
    /// was): the segment can be opened again; `Ok(false)` when the
    /// policy, the replicas or their copies do not allow it.
    fn heal_segment(&self, dir: &dyn Directory, meta: &SegmentMeta) -> Result<bool>;

    /// Counts damage to `meta` that could not be healed (`err` is what
    /// opening it failed with), with its event.
    fn failed(&self, meta: &SegmentMeta, err: &Error);

    /// The heal counters.
    fn stats(&self) -> HealStats;
}

/// What readers and writers do by themselves about a damaged file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HealPolicy {
    /// Nothing: the error names the file; `lucerna repair` is the remedy.
    Never,
    /// Restore damaged files from the replicas (default; without replicas
    /// it does nothing).
    #[default]
    FromReplicas,
    /// As `FromReplicas`, then fall back to an intact older commit plus
    /// the write-ahead log (a full repair, never with loss).
    FromReplicasAndLog,
}

/// Where a heal restored from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealSource {
    /// The replica at this position of the configured replicas.
    Replica(usize),
    /// An older commit plus the write-ahead log (a repair).
    OlderCommitAndLog,
}

/// One heal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealEvent {
    /// The file restored (for a repair: the file whose damage started it).
    pub file: String,
    /// Its segment.
    pub segment: String,
    /// Where it came from.
    pub source: HealSource,
    /// Bytes copied.
    pub bytes: u64,
    /// How long it took.
    pub duration: Duration,
}

/// Heal counters of an [`Index`](crate::Index) (every reader and writer
/// it opened).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealStats {
    /// Files restored from replicas.
    pub files_healed: u64,
    /// Bytes copied for them.
    pub bytes: u64,
    /// Repairs run (older commit plus the log).
    pub repairs: u64,
    /// Damage that could not be healed (the segment stays quarantined).
    pub failures: u64,
    /// The most recent heals, newest last (at most 16).
    pub recent: Vec<HealEvent>,
}

/// True for errors a heal can help with: a damaged or missing file.
pub(crate) fn healable(e: &Error) -> bool {
    matches!(
        e,
        Error::Store(StoreError::Corrupt { .. } | StoreError::NotFound { .. })
    )
}

/// The file an error names (the segment's, if none).
pub(crate) fn err_file(e: &Error) -> String {
    match e {
        Error::Store(s) => s.file().to_string(),
        _ => String::new(),
    }
}
