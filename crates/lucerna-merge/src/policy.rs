//! What a merge policy sees and returns.
//!
//! A merge policy is a pure function of the index's current segments: it
//! receives a list of [`SegmentDescriptor`]s (opaque id, size on disk, number
//! of documents, number of deleted documents) and the set of ids already
//! being merged, and returns a list of [`OneMerge`]s, each naming the ids of
//! the segments to merge together. The policy never performs a merge and
//! knows nothing of postings; the caller hands the returned merges to a
//! [`MergeScheduler`](crate::MergeScheduler) (or runs them itself).
//!
//! Policies must be deterministic: the same input gives the same output.

use std::collections::HashSet;

/// A segment as the merge policy sees it.
///
/// `max_doc` counts every document ever written to the segment (Lucene's
/// `maxDoc`), `deleted_docs` those of them that are deleted. The policy
/// pro-rates the size by the fraction of live documents
/// ([`live_size_bytes`](Self::live_size_bytes)), as Lucene does: a 100 MB
/// segment with 40% deletes counts as 60 MB, the size its data will have
/// once merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SegmentDescriptor {
    /// Opaque segment id, unique within one index.
    pub id: u64,
    /// Size of the segment's files in bytes.
    pub size_bytes: u64,
    /// Number of documents in the segment, deleted ones included.
    pub max_doc: u64,
    /// Number of deleted documents (clamped to `max_doc` when used).
    pub deleted_docs: u64,
}

impl SegmentDescriptor {
    /// A segment without deletes.
    pub fn new(id: u64, size_bytes: u64, max_doc: u64) -> Self {
        SegmentDescriptor {
            id,
            size_bytes,
            max_doc,
            deleted_docs: 0,
        }
    }

    /// The same segment with `deleted_docs` deleted documents.
    pub fn with_deletes(mut self, deleted_docs: u64) -> Self {
        self.deleted_docs = deleted_docs;
        self
    }

    /// Deleted documents, never more than `max_doc`.
    pub fn deleted(&self) -> u64 {
        self.deleted_docs.min(self.max_doc)
    }

    /// Live (not deleted) documents.
    pub fn live_docs(&self) -> u64 {
        self.max_doc - self.deleted()
    }

    /// Fraction of deleted documents in `[0, 1]` (0 for an empty segment).
    pub fn delete_ratio(&self) -> f64 {
        if self.max_doc == 0 {
            0.0
        } else {
            self.deleted() as f64 / self.max_doc as f64
        }
    }

    /// Percentage of deleted documents in `[0, 100]`.
    pub fn delete_pct(&self) -> f64 {
        100.0 * self.delete_ratio()
    }

    /// Size pro-rated by live documents: `size_bytes * (1 - delete_ratio)`.
    /// This is the size the policy reasons with and the estimated size of
    /// the segment's data after a merge.
    pub fn live_size_bytes(&self) -> u64 {
        if self.max_doc == 0 || self.deleted() == 0 {
            return self.size_bytes;
        }
        // u128 arithmetic: exact and cannot overflow.
        let live =
            u128::from(self.size_bytes) * u128::from(self.live_docs()) / u128::from(self.max_doc);
        live as u64
    }
}

/// Why a merge was selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MergeKind {
    /// Selected by [`MergePolicy::find_merges`] (the index is over its
    /// segment budget or carries too many deletes).
    Natural,
    /// Selected by [`MergePolicy::find_forced_merges`].
    Forced,
    /// Selected by [`MergePolicy::find_forced_deletes_merges`].
    ForcedDeletes,
    /// Fresh segments merged first while writers are rate limited
    /// ([`fresh_merges`](crate::fresh::fresh_merges)).
    Fresh,
}

/// One merge: the segments to merge into a single new segment.
#[derive(Debug, Clone, PartialEq)]
pub struct OneMerge {
    /// Ids of the segments to merge, largest first.
    pub segments: Vec<u64>,
    /// Estimated size of the merged segment: the sum of the inputs'
    /// [`live_size_bytes`](SegmentDescriptor::live_size_bytes). This is the
    /// number of bytes the merge will write.
    pub total_bytes: u64,
    /// Sum of the inputs' `size_bytes`: the bytes the merge will read.
    pub input_bytes: u64,
    /// Live documents the merged segment will hold.
    pub live_docs: u64,
    /// Why the merge was selected.
    pub kind: MergeKind,
    /// The policy's score for the merge (lower is better; 0 when the policy
    /// does not score, e.g. forced merges).
    pub score: f64,
}

impl OneMerge {
    /// Builds a merge of `segments` (in the given order).
    pub fn from_segments(segments: &[SegmentDescriptor], kind: MergeKind, score: f64) -> Self {
        OneMerge {
            segments: segments.iter().map(|s| s.id).collect(),
            total_bytes: segments
                .iter()
                .fold(0u64, |a, s| a.saturating_add(s.live_size_bytes())),
            input_bytes: segments
                .iter()
                .fold(0u64, |a, s| a.saturating_add(s.size_bytes)),
            live_docs: segments
                .iter()
                .fold(0u64, |a, s| a.saturating_add(s.live_docs())),
            kind,
            score,
        }
    }
}

/// Decides which segments to merge.
///
/// Implementations must be cheap (they run after every flush), deterministic
/// and must never return a segment that is in `merging`, a segment id that
/// is not in `segments`, or the same segment in two merges of one answer.
pub trait MergePolicy: Send + Sync + std::fmt::Debug {
    /// Merges to run now, after a flush or commit ("natural" merges).
    fn find_merges(&self, segments: &[SegmentDescriptor], merging: &HashSet<u64>) -> Vec<OneMerge>;

    /// Merges that bring the index down to at most `max_segments` segments
    /// (and expunge deletes of the merged segments). Callers repeat the call
    /// (applying the returned merges in between) until it returns nothing.
    /// `max_segments == 0` is treated as 1.
    fn find_forced_merges(
        &self,
        segments: &[SegmentDescriptor],
        max_segments: usize,
        merging: &HashSet<u64>,
    ) -> Vec<OneMerge>;

    /// Merges that rewrite segments carrying "too many" deletes
    /// (`expungeDeletes` / `forceMergeDeletes`).
    fn find_forced_deletes_merges(
        &self,
        segments: &[SegmentDescriptor],
        merging: &HashSet<u64>,
    ) -> Vec<OneMerge>;

    /// The number of segments the policy lets the index hold, counting
    /// segments being merged, once its natural merges have been applied: if
    /// `segments.len()` is above it, [`find_merges`](Self::find_merges) has
    /// work to do. Backpressure uses the excess over this budget. The default
    /// is "unbounded".
    fn segment_budget(&self, segments: &[SegmentDescriptor], merging: &HashSet<u64>) -> usize {
        let _ = (segments, merging);
        usize::MAX
    }

    /// Whether the writer may merge fresh segments on its own while its
    /// writers are rate limited ([`fresh_merges`](crate::fresh::fresh_merges)),
    /// instead of asking [`find_merges`](Self::find_merges). The default is
    /// yes; a policy that never merges says no, so that an index set up
    /// not to merge is never merged.
    fn allows_fresh_merges(&self) -> bool {
        true
    }
}

/// A policy that never merges. Useful in tests and for read-only or bulk
/// load scenarios where merging happens once at the end (by switching
/// policies).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMergePolicy;

impl MergePolicy for NoMergePolicy {
    fn find_merges(&self, _: &[SegmentDescriptor], _: &HashSet<u64>) -> Vec<OneMerge> {
        Vec::new()
    }

    fn find_forced_merges(
        &self,
        _: &[SegmentDescriptor],
        _: usize,
        _: &HashSet<u64>,
    ) -> Vec<OneMerge> {
        Vec::new()
    }

    fn find_forced_deletes_merges(
        &self,
        _: &[SegmentDescriptor],
        _: &HashSet<u64>,
    ) -> Vec<OneMerge> {
        Vec::new()
    }

    fn allows_fresh_merges(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_size_is_prorated_and_never_panics() {
        let s = SegmentDescriptor::new(1, 1000, 100).with_deletes(25);
        assert_eq!(s.live_size_bytes(), 750);
        assert_eq!(s.live_docs(), 75);
        assert!((s.delete_pct() - 25.0).abs() < 1e-9);
        let weird = SegmentDescriptor::new(2, u64::MAX, 10).with_deletes(50);
        assert_eq!(weird.deleted(), 10);
        assert_eq!(weird.live_size_bytes(), 0);
        let empty = SegmentDescriptor::new(3, 7, 0).with_deletes(3);
        assert_eq!(empty.live_size_bytes(), 7);
        assert_eq!(empty.delete_ratio(), 0.0);
    }

    #[test]
    fn no_merge_policy_never_merges() {
        let segs: Vec<_> = (0..100).map(|i| SegmentDescriptor::new(i, 10, 1)).collect();
        let p = NoMergePolicy;
        let m = HashSet::new();
        assert!(p.find_merges(&segs, &m).is_empty());
        assert!(p.find_forced_merges(&segs, 1, &m).is_empty());
        assert!(p.find_forced_deletes_merges(&segs, &m).is_empty());
        assert_eq!(p.segment_budget(&segs, &m), usize::MAX);
    }
}
