//! Unit tests of the tiered merge policy on synthetic segment sets.

use std::collections::HashSet;

use lucerna_merge::{
    MergeError, MergeKind, MergePolicy, OneMerge, SegmentDescriptor, TieredMergePolicy, GIB, MIB,
};
use proptest::prelude::*;

fn seg(id: u64, bytes: u64) -> SegmentDescriptor {
    SegmentDescriptor::new(id, bytes, (bytes / 1024).max(1))
}

fn none() -> HashSet<u64> {
    HashSet::new()
}

fn policy() -> TieredMergePolicy {
    TieredMergePolicy::new()
}

/// Checks the invariants every answer must satisfy.
fn check_answer(
    p: &TieredMergePolicy,
    segs: &[SegmentDescriptor],
    merging: &HashSet<u64>,
    merges: &[OneMerge],
    bounded_count: bool,
) {
    let ids: HashSet<u64> = segs.iter().map(|s| s.id).collect();
    let mut used = HashSet::new();
    for m in merges {
        assert!(!m.segments.is_empty());
        if bounded_count {
            assert!(
                m.segments.len() <= p.max_merge_at_once(),
                "{} segments in one merge",
                m.segments.len()
            );
            // Only a lone segment may exceed the maximum merged size.
            assert!(
                m.total_bytes <= p.max_merged_segment_bytes() || m.segments.len() == 1,
                "merge of {} bytes",
                m.total_bytes
            );
        }
        for id in &m.segments {
            assert!(ids.contains(id), "unknown segment {id}");
            assert!(!merging.contains(id), "segment {id} already merging");
            assert!(used.insert(*id), "segment {id} in two merges");
        }
    }
}

fn arb_segments() -> impl Strategy<Value = Vec<SegmentDescriptor>> {
    prop::collection::vec(
        (
            prop_oneof![1u64..4 * MIB, 1u64..512 * MIB, 1u64..8 * GIB, Just(0u64)],
            0u64..100_000,
            0u64..120_000,
        ),
        0..60,
    )
    .prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (bytes, docs, del))| SegmentDescriptor {
                id: i as u64,
                size_bytes: bytes,
                max_doc: docs,
                deleted_docs: del,
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn natural_merges_respect_limits(
        segs in arb_segments(),
        merging_mask in any::<u64>(),
        spt in 2.0f64..20.0,
        at_once in 2usize..15,
    ) {
        let p = TieredMergePolicy::builder()
            .segments_per_tier(spt)
            .max_merge_at_once(at_once)
            .max_merged_segment_bytes(GIB)
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let merging: HashSet<u64> = segs
            .iter()
            .filter(|s| s.id < 64 && merging_mask & (1 << s.id) != 0 && s.id % 3 == 0)
            .map(|s| s.id)
            .collect();
        let merges = p.find_merges(&segs, &merging);
        check_answer(&p, &segs, &merging, &merges, true);
        let merges = p.find_forced_deletes_merges(&segs, &merging);
        check_answer(&p, &segs, &merging, &merges, true);
        for m in &merges {
            prop_assert_eq!(m.kind, MergeKind::ForcedDeletes);
        }
        for max in [1usize, 3, 10] {
            let merges = p.find_forced_merges(&segs, max, &merging);
            check_answer(&p, &segs, &merging, &merges, false);
        }
        // Deterministic.
        prop_assert_eq!(p.find_merges(&segs, &merging), p.find_merges(&segs, &merging));
    }
}

#[test]
fn no_segments_no_merges() {
    let p = policy();
    assert!(p.find_merges(&[], &none()).is_empty());
    assert!(p.find_forced_merges(&[], 1, &none()).is_empty());
    assert!(p.find_forced_deletes_merges(&[], &none()).is_empty());
    // Duplicated ids are considered once.
    let dup = vec![seg(1, MIB); 30];
    let m = p.find_merges(&dup, &none());
    check_answer(&p, &dup, &none(), &m, true);
}

#[test]
fn within_budget_nothing_to_do() {
    let p = policy();
    let segs: Vec<_> = (0..10).map(|i| seg(i, 10 * MIB)).collect();
    assert!(p.find_merges(&segs, &none()).is_empty());
}

#[test]
fn many_small_segments_merge_at_most_max_at_once() {
    let p = policy();
    let segs: Vec<_> = (0..95).map(|i| seg(i, MIB)).collect();
    let merges = p.find_merges(&segs, &none());
    assert!(!merges.is_empty());
    check_answer(&p, &segs, &none(), &merges, true);
    assert!(merges.iter().all(|m| m.segments.len() == 10));
}

#[test]
fn merged_size_never_exceeds_the_maximum() {
    let p = TieredMergePolicy::builder()
        .max_merged_segment_bytes(100 * MIB)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    // 40 segments of 30 MiB: at most 3 fit in a merge.
    let segs: Vec<_> = (0..40).map(|i| seg(i, 30 * MIB)).collect();
    let merges = p.find_merges(&segs, &none());
    assert!(!merges.is_empty());
    check_answer(&p, &segs, &none(), &merges, true);
    assert!(merges.iter().all(|m| m.total_bytes <= 100 * MIB));
    // Only one merge hitting the maximum per call.
    assert_eq!(merges.len(), 1);
    // While segments of at least the maximum size are merging (4 x 30 MiB),
    // no merge limited by the maximum is started: only the 3-segment tail
    // window, which fits, remains acceptable.
    let merging: HashSet<u64> = (0..4).collect();
    let more = p.find_merges(&segs, &merging);
    check_answer(&p, &segs, &merging, &more, true);
    assert!(more.iter().all(|m| m.segments.len() == 3), "{more:?}");
}

#[test]
fn floor_sizes_are_treated_as_floor() {
    let p = policy();
    // Skew of a merge of sub-floor segments ignores their real sizes.
    let uneven: Vec<_> = [MIB, 100 * 1024, 10 * 1024, 1024]
        .iter()
        .enumerate()
        .map(|(i, &b)| seg(i as u64, b))
        .collect();
    let even: Vec<_> = (0..4).map(|i| seg(i, MIB)).collect();
    let s1 = p.score(&uneven, false);
    let s2 = p.score(&even, false);
    assert!((s1.skew - 0.25).abs() < 1e-12, "{s1:?}");
    assert!((s2.skew - 0.25).abs() < 1e-12, "{s2:?}");
    // Above the floor, real sizes count.
    let big: Vec<_> = [30 * MIB, 10 * MIB]
        .iter()
        .enumerate()
        .map(|(i, &b)| seg(i as u64, b))
        .collect();
    assert!((p.score(&big, false).skew - 0.75).abs() < 1e-12);

    // The budget counts tiny segments as floor-sized: 25 segments of 100 KiB
    // (2.4 MiB) are allowed only segments_per_tier segments...
    let tiny: Vec<_> = (0..25).map(|i| seg(i, 100 * 1024)).collect();
    let budget = p.segment_budget_details(&tiny, &none());
    assert_eq!(budget.allowed, 10);
    // ... and the policy merges them although each merge is of tiny segments.
    let mut segs = tiny;
    let mut next = 100;
    loop {
        let merges = p.find_merges(&segs, &none());
        if merges.is_empty() {
            break;
        }
        for m in merges {
            segs.retain(|s| !m.segments.contains(&s.id));
            segs.push(SegmentDescriptor::new(next, m.total_bytes, m.live_docs));
            next += 1;
        }
    }
    assert!(segs.len() <= 10, "{} segments", segs.len());

    // A lopsided set under the floor is merged as if balanced: 1.9 MiB with
    // ten 1 KiB crumbs; the crumbs are merged (result >= 1.5x the largest
    // input, which is a crumb).
    let mut lop = vec![seg(0, 1900 * 1024)];
    lop.extend((1..=10).map(|i| seg(i, 1024)));
    let merges = p.find_merges(&lop, &none());
    assert_eq!(merges.len(), 1);
    assert!(!merges[0].segments.contains(&0));
}

#[test]
fn prefers_merges_that_reclaim_deletes() {
    let p = policy();
    // 20 segments of 10 MiB on disk; the ten with ids >= 10 have half their
    // documents deleted.
    let segs: Vec<_> = (0..20u64)
        .map(|i| {
            let s = seg(i, 10 * MIB);
            if i >= 10 {
                s.with_deletes(s.max_doc / 2)
            } else {
                s
            }
        })
        .collect();
    let merges = p.find_merges(&segs, &none());
    assert!(!merges.is_empty());
    let first: HashSet<u64> = merges[0].segments.iter().copied().collect();
    assert_eq!(first, (10..20).collect::<HashSet<u64>>());
    // Same sizes without deletes score worse.
    let with: Vec<_> = segs[10..].to_vec();
    let without: Vec<_> = segs[10..]
        .iter()
        .map(|s| seg(s.id, s.live_size_bytes()))
        .collect();
    assert!(p.score(&with, false).score < p.score(&without, false).score);
}

#[test]
fn deletes_above_allowed_trigger_merges_within_budget() {
    let p = policy();
    // Five segments (well within budget), 40% deleted each.
    let segs: Vec<_> = (0..5)
        .map(|i| {
            let s = seg(i, 100 * MIB);
            s.with_deletes(s.max_doc * 2 / 5)
        })
        .collect();
    let merges = p.find_merges(&segs, &none());
    assert!(!merges.is_empty());
    // At 10% deletes nothing happens.
    let light: Vec<_> = (0..5)
        .map(|i| {
            let s = seg(i, 100 * MIB);
            s.with_deletes(s.max_doc / 10)
        })
        .collect();
    assert!(p.find_merges(&light, &none()).is_empty());
}

#[test]
fn too_large_segments_are_left_alone_unless_deleted() {
    let p = policy();
    // 3 GiB > 5 GiB / 2: out of the budget.
    let mut segs: Vec<_> = (0..3).map(|i| seg(i, 3 * GIB)).collect();
    segs.extend((10..20).map(|i| seg(i, 10 * MIB)));
    let b = p.segment_budget_details(&segs, &none());
    assert_eq!(b.too_large, 3);
    for m in p.find_merges(&segs, &none()) {
        assert!(m.segments.iter().all(|&id| id >= 10));
    }
    // A single oversized segment (raw 20 GiB, live 14 GiB) with 30% deletes
    // in an index with 30% deletes: rewritten alone (singleton merge).
    let s = seg(1, 20 * GIB);
    let huge = s.with_deletes(s.max_doc * 3 / 10);
    let merges = p.find_merges(&[huge], &none());
    assert_eq!(merges.len(), 1);
    assert_eq!(merges[0].segments, vec![1]);
    assert!(merges[0].total_bytes > p.max_merged_segment_bytes());
}

#[test]
fn force_merge_to_one_repeated_ends_with_one_segment() {
    let p = policy();
    let mut segs: Vec<_> = (0..57u64)
        .map(|i| {
            let s = seg(i, (i % 7 + 1) * 300 * MIB);
            if i % 5 == 0 {
                s.with_deletes(s.max_doc / 3)
            } else {
                s
            }
        })
        .collect();
    let mut next = 1000;
    let mut rounds = 0;
    loop {
        let merges = p.find_forced_merges(&segs, 1, &none());
        if merges.is_empty() {
            break;
        }
        rounds += 1;
        assert!(rounds < 10, "force merge does not converge");
        for m in merges {
            assert_eq!(m.kind, MergeKind::Forced);
            segs.retain(|s| !m.segments.contains(&s.id));
            segs.push(SegmentDescriptor::new(next, m.total_bytes, m.live_docs));
            next += 1;
        }
    }
    assert_eq!(segs.len(), 1);
    assert_eq!(segs[0].deleted_docs, 0);
    // A lone segment with deletes is rewritten to expunge them.
    let s = seg(7, MIB);
    let lone = s.with_deletes(3);
    assert_eq!(p.find_forced_merges(&[lone], 1, &none()).len(), 1);
    assert!(p.find_forced_merges(&[s], 1, &none()).is_empty());
    // max_segments 0 is treated as 1.
    let two = [seg(1, MIB), seg(2, MIB)];
    assert_eq!(p.find_forced_merges(&two, 0, &none()).len(), 1);
}

#[test]
fn force_merge_to_n_segments() {
    let p = policy();
    let mut segs: Vec<_> = (0..50u64).map(|i| seg(i, (i + 1) * 20 * MIB)).collect();
    let mut next = 1000;
    loop {
        let merges = p.find_forced_merges(&segs, 5, &none());
        if merges.is_empty() {
            break;
        }
        for m in merges {
            segs.retain(|s| !m.segments.contains(&s.id));
            segs.push(SegmentDescriptor::new(next, m.total_bytes, m.live_docs));
            next += 1;
        }
    }
    assert!(segs.len() <= 5, "{} segments", segs.len());
    // While a merge runs, a forced merge waits.
    let more: Vec<_> = (0..20u64).map(|i| seg(i, MIB)).collect();
    let merging: HashSet<u64> = [3].into_iter().collect();
    assert!(p.find_forced_merges(&more, 1, &merging).is_empty());
}

#[test]
fn forced_deletes_merges_pick_only_heavily_deleted_segments() {
    let p = policy();
    let segs: Vec<_> = (0..30u64)
        .map(|i| {
            let s = seg(i, 50 * MIB);
            // ids 0..10: 5% deleted; 10..30: 25% deleted.
            if i < 10 {
                s.with_deletes(s.max_doc / 20)
            } else {
                s.with_deletes(s.max_doc / 4)
            }
        })
        .collect();
    let merges = p.find_forced_deletes_merges(&segs, &none());
    let picked: HashSet<u64> = merges
        .iter()
        .flat_map(|m| m.segments.iter().copied())
        .collect();
    assert_eq!(picked, (10..30).collect::<HashSet<u64>>());
    check_answer(&p, &segs, &none(), &merges, true);
}

#[test]
fn validation_errors() {
    let bad = [
        TieredMergePolicy::builder().segments_per_tier(1.5).build(),
        TieredMergePolicy::builder()
            .segments_per_tier(f64::NAN)
            .build(),
        TieredMergePolicy::builder()
            .segments_per_tier(f64::INFINITY)
            .build(),
        TieredMergePolicy::builder().max_merge_at_once(1).build(),
        TieredMergePolicy::builder()
            .max_merged_segment_bytes(0)
            .build(),
        TieredMergePolicy::builder().floor_segment_bytes(0).build(),
        TieredMergePolicy::builder()
            .deletes_pct_allowed(4.0)
            .build(),
        TieredMergePolicy::builder()
            .deletes_pct_allowed(51.0)
            .build(),
        TieredMergePolicy::builder()
            .force_merge_deletes_pct_allowed(-1.0)
            .build(),
        TieredMergePolicy::builder()
            .force_merge_deletes_pct_allowed(f64::NAN)
            .build(),
    ];
    for b in bad {
        assert!(matches!(b, Err(MergeError::InvalidConfig { .. })), "{b:?}");
    }
    let mut p = policy();
    assert!(p.set_segments_per_tier(0.0).is_err());
    assert_eq!(p.segments_per_tier(), 10.0);
    assert!(p.set_segments_per_tier(4.0).is_ok());
    assert_eq!(p.merge_factor(), 4);
    assert!(p.set_deletes_pct_allowed(33.0).is_ok());
    assert!(p.set_floor_segment_bytes(0).is_err());
    assert!(p.set_max_merge_at_once(0).is_err());
    assert!(p.set_max_merged_segment_bytes(0).is_err());
    assert!(p.set_force_merge_deletes_pct_allowed(200.0).is_err());
    // Defaults.
    let d = policy();
    assert_eq!(d.segments_per_tier(), 10.0);
    assert_eq!(d.max_merge_at_once(), 10);
    assert_eq!(d.max_merged_segment_bytes(), 5 * GIB);
    assert_eq!(d.floor_segment_bytes(), 2 * MIB);
    assert_eq!(d.deletes_pct_allowed(), 20.0);
    assert_eq!(d.force_merge_deletes_pct_allowed(), 10.0);
}

#[test]
fn allowed_segment_count_follows_tiers() {
    let p = policy();
    // 1000 MiB with 2 MiB floor: 10 at 2 MiB, 10 at 20 MiB, then 780/200.
    assert_eq!(p.allowed_segment_count(1000 * MIB, MIB), 24);
    // Below one tier: at least segments_per_tier.
    assert_eq!(p.allowed_segment_count(MIB, 1), 10);
    assert_eq!(p.allowed_segment_count(0, 0), 10);
    // Enormous inputs do not overflow or loop.
    assert!(p.allowed_segment_count(u64::MAX, 1) > 10);
    assert!(p.allowed_segment_count(u64::MAX, u64::MAX) >= 10);
}
