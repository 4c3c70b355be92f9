//! Fresh-first merges: what automatic merging does while writers are rate
//! limited.
//!
//! In sustained overload the merge threads are the bottleneck, and every
//! byte they write for a merge of older, larger segments is a byte of new
//! documents they did not absorb: with a tiered policy a flushed byte is
//! merged once into a tier-1 segment and again into a tier-2 one within
//! seconds, so the writers are admitted at about half of what the merges
//! could take. While the index is over its backpressure limits (see
//! [`Backpressure::fresh_merges_first`](crate::Backpressure::fresh_merges_first)),
//! automatic merges therefore take only *fresh* segments (written by a
//! flush, never merged), oldest first, many at once (up to
//! [`fresh_merge_fan_in`](crate::BackpressureConfig::fresh_merge_fan_in),
//! writing segments of at least
//! [`fresh_merge_min_bytes`](crate::BackpressureConfig::fresh_merge_min_bytes)):
//! each new byte is merged exactly once, and the larger merges the policy
//! would choose wait until the overload is over. Fresh segments waiting
//! for their group count within the segment budget, like segments being
//! merged (there are at most a fan-in of them). The segment count stays
//! bounded: the writer returns to the policy when the index reaches
//! [`soft_excess_segments`](crate::BackpressureConfig::soft_excess_segments).
//!
//! RocksDB does the like by scoring level-0 compactions first when level 0
//! fills; Lucene's merge scheduler has no such mode.

use std::collections::HashSet;

use crate::policy::{MergeKind, OneMerge, SegmentDescriptor};

/// A group of fresh segments is merged once it has at least this many
/// segments (the tiered policy's default segments per tier) and
/// [`fresh_merge_min_bytes`](crate::BackpressureConfig::fresh_merge_min_bytes),
/// or `fan_in` segments: fewer would only make small segments that soon
/// need merging again.
pub const FRESH_MERGE_MIN: usize = 10;

/// The merges of fresh segments: the fresh segments of `segments` (ids in
/// `fresh`) not in `merging`, oldest (lowest id) first, in groups of
/// `fan_in` segments, or of at least [`FRESH_MERGE_MIN`] segments holding
/// at least `min_bytes`; the rest waits for more flushes. Returns nothing
/// when `fan_in < 2`.
///
/// ```
/// use std::collections::HashSet;
/// use lucerna_merge::{fresh_merges, SegmentDescriptor};
/// let segments: Vec<_> = (0..25).map(|id| SegmentDescriptor::new(id, 1 << 20, 1000)).collect();
/// let fresh: HashSet<u64> = (5..25).collect(); // 0..5 came from merges
/// // 20 fresh segments of 1 MiB: one group of 16 MiB, the other 4 wait.
/// let merges = fresh_merges(&segments, &fresh, &HashSet::new(), 100, 16 << 20);
/// assert_eq!(merges.len(), 1);
/// assert_eq!(merges[0].segments, (5..21).collect::<Vec<u64>>());
/// ```
pub fn fresh_merges(
    segments: &[SegmentDescriptor],
    fresh: &HashSet<u64>,
    merging: &HashSet<u64>,
    fan_in: usize,
    min_bytes: u64,
) -> Vec<OneMerge> {
    if fan_in < 2 {
        return Vec::new();
    }
    let mut candidates: Vec<&SegmentDescriptor> = segments
        .iter()
        .filter(|s| fresh.contains(&s.id) && !merging.contains(&s.id))
        .collect();
    candidates.sort_by_key(|s| s.id);
    let min_count = FRESH_MERGE_MIN.min(fan_in);
    let mut merges = Vec::new();
    let mut group: Vec<SegmentDescriptor> = Vec::new();
    let mut bytes = 0u64;
    for s in candidates {
        group.push(*s);
        bytes = bytes.saturating_add(s.size_bytes);
        if group.len() == fan_in || (group.len() >= min_count && bytes >= min_bytes) {
            merges.push(OneMerge::from_segments(&group, MergeKind::Fresh, 0.0));
            group.clear();
            bytes = 0;
        }
    }
    merges
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(n: u64) -> Vec<SegmentDescriptor> {
        (0..n)
            .map(|id| SegmentDescriptor::new(id, (id + 1) << 16, 100))
            .collect()
    }

    #[test]
    fn only_fresh_segments_not_merging_in_id_order() {
        let s = segs(40);
        let fresh: HashSet<u64> = (0..40).filter(|id| id % 3 != 0).collect();
        let merging: HashSet<u64> = [1, 2].into_iter().collect();
        let ms = fresh_merges(&s, &fresh, &merging, 32, 0);
        assert_eq!(ms.len(), 2);
        let m = &ms[0];
        assert_eq!(m.kind, MergeKind::Fresh);
        assert!(m.segments.windows(2).all(|w| w[0] < w[1]));
        assert!(m
            .segments
            .iter()
            .all(|id| fresh.contains(id) && !merging.contains(id)));
        assert_eq!(m.segments.len(), 10);
        assert_eq!(ms[1].segments.len(), 10);
        assert_eq!(
            m.total_bytes,
            m.segments.iter().map(|id| (id + 1) << 16).sum::<u64>()
        );
    }

    #[test]
    fn groups_close_at_the_byte_target_or_the_fan_in() {
        // Segment i holds (i + 1) * 64 KiB.
        let s = segs(75);
        let fresh: HashSet<u64> = (0..75).collect();
        let none = HashSet::new();
        // No byte target: groups of the minimum count.
        let sizes = |ms: &[OneMerge]| ms.iter().map(|m| m.segments.len()).collect::<Vec<_>>();
        assert_eq!(sizes(&fresh_merges(&s, &fresh, &none, 32, 0)).len(), 7);
        // An unreachable byte target: groups of the fan-in, the tail waits.
        assert_eq!(
            sizes(&fresh_merges(&s, &fresh, &none, 32, u64::MAX)),
            vec![32, 32]
        );
        // 4 MiB: the first group closes at 11 segments (1 + 2 + … + 11 =
        // 66 units of 64 KiB, the first sum of at least 64), later ones at
        // the minimum count, 10, as the segments grow.
        let ms = fresh_merges(&s, &fresh, &none, 32, 4 << 20);
        assert_eq!(ms[0].segments.len(), 11);
        assert!(ms
            .iter()
            .all(|m| m.segments.len() >= 10 && m.total_bytes >= 4 << 20));
        // 40 MiB with a fan-in of 32: the fan-in closes the first group.
        let ms = fresh_merges(&s, &fresh, &none, 32, 40 << 20);
        assert_eq!(ms[0].segments.len(), 32);
        assert!(ms[0].total_bytes < 40 << 20);
        let few = fresh_merges(&s[..9], &fresh, &none, 32, 0);
        assert!(few.is_empty(), "9 fresh segments wait for a tenth");
    }

    #[test]
    fn off_below_two() {
        let s = segs(20);
        let fresh: HashSet<u64> = (0..20).collect();
        assert!(fresh_merges(&s, &fresh, &HashSet::new(), 0, 0).is_empty());
        assert!(fresh_merges(&s, &fresh, &HashSet::new(), 1, 0).is_empty());
        assert_eq!(fresh_merges(&s, &fresh, &HashSet::new(), 2, 0).len(), 10);
    }
}
