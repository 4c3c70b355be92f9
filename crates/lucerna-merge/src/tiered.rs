//! The tiered merge policy (Lucene's `TieredMergePolicy`, re-derived).
//!
//! # Algorithm
//!
//! Segments are organised, conceptually, in *tiers* of exponentially growing
//! size: tier 0 holds segments of about `floor_segment_bytes` (smaller ones
//! count as the floor), tier 1 segments `merge_factor` times bigger, and so
//! on up to `max_merged_segment_bytes`, where
//! `merge_factor = min(max_merge_at_once, segments_per_tier)`.
//!
//! 1. **Sizes.** Every segment's size is pro-rated by its live documents
//!    (`size * (1 - deleted/max_doc)`). Segments are sorted by decreasing
//!    size.
//! 2. **Too-large segments.** A segment larger than half of
//!    `max_merged_segment_bytes` is left alone (it could only be merged with
//!    small segments into a segment barely larger), unless both the index and
//!    the segment carry more than `deletes_pct_allowed` percent deletes, in
//!    which case it stays eligible so its deletes can be reclaimed (possibly
//!    by rewriting it alone: a *singleton merge*).
//! 3. **Budget.** With `T` the total size of the remaining segments (segments
//!    being merged included) and `L` the level size, starting at
//!    `max(smallest segment, floor_segment_bytes)`: while `T / L >=
//!    segments_per_tier` (and `L < max_merged_segment_bytes`), the tier is
//!    full: allow `segments_per_tier` segments, `T -= segments_per_tier * L`,
//!    `L = min(L * merge_factor, max_merged_segment_bytes)`; finally allow
//!    `ceil(T / L)` segments for the last tier. The allowed count is at least
//!    `segments_per_tier`. See [`TieredMergePolicy::segment_budget_details`].
//! 4. **Selection.** While the number of eligible segments not yet picked is
//!    above the allowed count (or they hold more deletes than
//!    `deletes_pct_allowed` percent of the documents), consider every window
//!    of up to `merge_factor` consecutive segments in the size order, starting
//!    at each segment, skipping segments that would push the merge over
//!    `max_merged_segment_bytes` (so smaller segments may be packed in).
//!    Windows whose result is less than 1.5× their largest input are ignored
//!    (that would be O(n²) rewriting) unless that input has more than
//!    `deletes_pct_allowed` deletes. The window with the lowest
//!    [`score`](TieredMergePolicy::score) wins, is removed, and the search
//!    repeats. Only one merge that hit the maximum size is returned per call.
//!
//! # Score
//!
//! `score = skew * total^0.05 * non_deleted_ratio^2`, lower is better:
//! * `skew` = largest input / total of inputs, both with sizes raised to the
//!   floor: ranges from `1/n` (perfectly balanced) to 1 (one big segment and
//!   crumbs). Balanced merges keep write amplification logarithmic. A merge
//!   that hit the maximum size is considered perfectly balanced (`1 /
//!   merge_factor`): it cannot cascade.
//! * `total^0.05` gently favours smaller merges.
//! * `non_deleted_ratio` = live bytes / on-disk bytes: strongly favours
//!   merges that reclaim deletes.
//!
//! # Defaults
//!
//! The defaults are those of Lucene 9.x (checked against Lucene's source and
//! change log): `segments_per_tier` 10, `max_merge_at_once` 10,
//! `max_merged_segment_bytes` 5 GiB, `floor_segment_bytes` 2 MiB,
//! `deletes_pct_allowed` 20 (allowed range 5..=50), and
//! `force_merge_deletes_pct_allowed` 10. Newer Lucene changed some of them
//! (10.2 raised the floor to 16 MB; the main branch lowers segments per tier
//! to 8 and drops `max_merge_at_once`); we keep the 9.x values, which are the
//! best studied, and every knob is configurable.

use std::collections::HashSet;

use crate::error::MergeError;
use crate::policy::{MergeKind, MergePolicy, OneMerge, SegmentDescriptor};

/// One mebibyte (the "MB" of Lucene's settings).
pub const MIB: u64 = 1024 * 1024;
/// One gibibyte.
pub const GIB: u64 = 1024 * MIB;

/// Default [`TieredMergePolicy::segments_per_tier`].
pub const DEFAULT_SEGMENTS_PER_TIER: f64 = 10.0;
/// Default [`TieredMergePolicy::max_merge_at_once`].
pub const DEFAULT_MAX_MERGE_AT_ONCE: usize = 10;
/// Default [`TieredMergePolicy::max_merged_segment_bytes`]: 5 GiB.
pub const DEFAULT_MAX_MERGED_SEGMENT_BYTES: u64 = 5 * GIB;
/// Default [`TieredMergePolicy::floor_segment_bytes`]: 2 MiB.
pub const DEFAULT_FLOOR_SEGMENT_BYTES: u64 = 2 * MIB;
/// Default [`TieredMergePolicy::deletes_pct_allowed`].
pub const DEFAULT_DELETES_PCT_ALLOWED: f64 = 20.0;
/// Default [`TieredMergePolicy::force_merge_deletes_pct_allowed`].
pub const DEFAULT_FORCE_MERGE_DELETES_PCT_ALLOWED: f64 = 10.0;

/// A merge result must be at least this many times its largest input
/// (unless that input carries many deletes), else the merge is skipped.
const MIN_GROWTH: f64 = 1.5;

/// The score of one candidate merge; lower is better.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MergeScore {
    /// `skew * total_bytes^0.05 * non_deleted_ratio^2`.
    pub score: f64,
    /// Largest input over total of inputs (sizes raised to the floor).
    pub skew: f64,
    /// Live bytes over on-disk bytes of the inputs.
    pub non_deleted_ratio: f64,
}

/// How the segment budget of an index was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SegmentBudget {
    /// Segments allowed by the tier formula, for the segments that are
    /// neither too large nor being merged.
    pub allowed: usize,
    /// Segments left out because they are too large to merge (more than half
    /// the maximum merged size, few deletes).
    pub too_large: usize,
    /// Segments currently being merged.
    pub merging: usize,
    /// Segments eligible for merging (not too large, not merging).
    pub eligible: usize,
}

impl SegmentBudget {
    /// The number of segments the index may hold: `allowed + too_large +
    /// merging`. After the natural merges of
    /// [`TieredMergePolicy::find_merges`] are applied (and the call repeated
    /// until it returns nothing), the segment count is at most this.
    pub fn limit(&self) -> usize {
        self.allowed
            .saturating_add(self.too_large)
            .saturating_add(self.merging)
    }

    /// Whether the eligible segments exceed the allowed count.
    pub fn is_over(&self) -> bool {
        self.eligible > self.allowed
    }
}

/// Merges segments of roughly equal size, allowing a bounded number of
/// segments per size tier. See the [module documentation](self) for the
/// algorithm.
///
/// ```
/// use std::collections::HashSet;
/// use lucerna_merge::{MergePolicy, SegmentDescriptor, TieredMergePolicy, MIB};
///
/// let policy = TieredMergePolicy::builder()
///     .segments_per_tier(4.0)
///     .max_merge_at_once(4)
///     .build()?;
/// // Twelve freshly flushed 1 MiB segments: over the budget of 4 per tier.
/// let segments: Vec<_> = (0..12).map(|id| SegmentDescriptor::new(id, MIB, 1000)).collect();
/// let merges = policy.find_merges(&segments, &HashSet::new());
/// assert!(!merges.is_empty());
/// assert!(merges.iter().all(|m| m.segments.len() <= 4));
/// # Ok::<(), lucerna_merge::MergeError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TieredMergePolicy {
    segments_per_tier: f64,
    max_merge_at_once: usize,
    max_merged_segment_bytes: u64,
    floor_segment_bytes: u64,
    deletes_pct_allowed: f64,
    force_merge_deletes_pct_allowed: f64,
}

impl Default for TieredMergePolicy {
    fn default() -> Self {
        TieredMergePolicy {
            segments_per_tier: DEFAULT_SEGMENTS_PER_TIER,
            max_merge_at_once: DEFAULT_MAX_MERGE_AT_ONCE,
            max_merged_segment_bytes: DEFAULT_MAX_MERGED_SEGMENT_BYTES,
            floor_segment_bytes: DEFAULT_FLOOR_SEGMENT_BYTES,
            deletes_pct_allowed: DEFAULT_DELETES_PCT_ALLOWED,
            force_merge_deletes_pct_allowed: DEFAULT_FORCE_MERGE_DELETES_PCT_ALLOWED,
        }
    }
}

/// Builder of [`TieredMergePolicy`]; [`build`](Self::build) validates.
#[derive(Debug, Clone, PartialEq)]
pub struct TieredMergePolicyBuilder {
    policy: TieredMergePolicy,
}

impl TieredMergePolicyBuilder {
    /// See [`TieredMergePolicy::segments_per_tier`].
    pub fn segments_per_tier(mut self, v: f64) -> Self {
        self.policy.segments_per_tier = v;
        self
    }
    /// See [`TieredMergePolicy::max_merge_at_once`].
    pub fn max_merge_at_once(mut self, v: usize) -> Self {
        self.policy.max_merge_at_once = v;
        self
    }
    /// See [`TieredMergePolicy::max_merged_segment_bytes`].
    pub fn max_merged_segment_bytes(mut self, v: u64) -> Self {
        self.policy.max_merged_segment_bytes = v;
        self
    }
    /// See [`TieredMergePolicy::floor_segment_bytes`].
    pub fn floor_segment_bytes(mut self, v: u64) -> Self {
        self.policy.floor_segment_bytes = v;
        self
    }
    /// See [`TieredMergePolicy::deletes_pct_allowed`].
    pub fn deletes_pct_allowed(mut self, v: f64) -> Self {
        self.policy.deletes_pct_allowed = v;
        self
    }
    /// See [`TieredMergePolicy::force_merge_deletes_pct_allowed`].
    pub fn force_merge_deletes_pct_allowed(mut self, v: f64) -> Self {
        self.policy.force_merge_deletes_pct_allowed = v;
        self
    }
    /// Validates every knob and returns the policy.
    pub fn build(self) -> Result<TieredMergePolicy, MergeError> {
        let p = self.policy;
        check_segments_per_tier(p.segments_per_tier)?;
        check_max_merge_at_once(p.max_merge_at_once)?;
        check_max_merged(p.max_merged_segment_bytes)?;
        check_floor(p.floor_segment_bytes)?;
        check_deletes_pct(p.deletes_pct_allowed)?;
        check_force_deletes_pct(p.force_merge_deletes_pct_allowed)?;
        Ok(p)
    }
}

fn check_segments_per_tier(v: f64) -> Result<(), MergeError> {
    if v.is_finite() && v >= 2.0 {
        Ok(())
    } else {
        Err(MergeError::invalid(
            "segments_per_tier",
            format!("must be a finite number >= 2 (got {v})"),
        ))
    }
}
fn check_max_merge_at_once(v: usize) -> Result<(), MergeError> {
    if v >= 2 {
        Ok(())
    } else {
        Err(MergeError::invalid(
            "max_merge_at_once",
            format!("must be >= 2 (got {v})"),
        ))
    }
}
fn check_max_merged(v: u64) -> Result<(), MergeError> {
    if v > 0 {
        Ok(())
    } else {
        Err(MergeError::invalid(
            "max_merged_segment_bytes",
            "must be > 0 (got 0)",
        ))
    }
}
fn check_floor(v: u64) -> Result<(), MergeError> {
    if v > 0 {
        Ok(())
    } else {
        Err(MergeError::invalid(
            "floor_segment_bytes",
            "must be > 0 (got 0)",
        ))
    }
}
fn check_deletes_pct(v: f64) -> Result<(), MergeError> {
    if (5.0..=50.0).contains(&v) {
        Ok(())
    } else {
        Err(MergeError::invalid(
            "deletes_pct_allowed",
            format!("must be between 5 and 50 (got {v})"),
        ))
    }
}
fn check_force_deletes_pct(v: f64) -> Result<(), MergeError> {
    if (0.0..=100.0).contains(&v) {
        Ok(())
    } else {
        Err(MergeError::invalid(
            "force_merge_deletes_pct_allowed",
            format!("must be between 0 and 100 (got {v})"),
        ))
    }
}

/// A segment with the numbers the policy works with.
#[derive(Debug, Clone, Copy)]
struct Seg {
    desc: SegmentDescriptor,
    /// Live (pro-rated) size.
    size: u64,
    del: u64,
    max_doc: u64,
}

impl Seg {
    fn new(desc: SegmentDescriptor) -> Self {
        Seg {
            desc,
            size: desc.live_size_bytes(),
            del: desc.deleted(),
            max_doc: desc.max_doc,
        }
    }
}

/// The candidate merge starting at `eligible[start]` (sorted by
/// decreasing size): up to `merge_factor` segments, skipping those that
/// would take it over `max_bytes`. Returns their indices, their bytes
/// (an oversized singleton included) and whether a segment did not fit.
fn pack_window(
    eligible: &[Seg],
    start: usize,
    merge_factor: usize,
    max_bytes: u64,
) -> (Vec<usize>, u64, bool) {
    let mut cand: Vec<usize> = Vec::with_capacity(merge_factor);
    let mut packed: u64 = 0; // bytes of the inputs that fit
    let mut bytes_this_merge: u64 = 0; // including an oversized singleton
    let mut hit_too_large = false;
    let mut idx = start;
    while idx < eligible.len() && cand.len() < merge_factor && bytes_this_merge < max_bytes {
        let size = eligible[idx].size;
        if packed.saturating_add(size) > max_bytes {
            hit_too_large = true;
            if cand.is_empty() {
                // A segment larger than the maximum on its own: only a
                // singleton rewrite (reclaiming deletes) can touch it.
                cand.push(idx);
                bytes_this_merge = bytes_this_merge.saturating_add(size);
            }
            // Keep going: smaller segments may still fit.
            idx += 1;
            continue;
        }
        cand.push(idx);
        bytes_this_merge = bytes_this_merge.saturating_add(size);
        packed += size;
        idx += 1;
    }
    (cand, bytes_this_merge, hit_too_large)
}

/// Deduplicates by id (first occurrence wins) and sorts by decreasing live
/// size, ties by increasing id, so the policy is deterministic.
fn sorted_by_size(segments: &[SegmentDescriptor]) -> Vec<Seg> {
    let mut seen = HashSet::with_capacity(segments.len());
    let mut v: Vec<Seg> = segments
        .iter()
        .filter(|s| seen.insert(s.id))
        .map(|s| Seg::new(*s))
        .collect();
    v.sort_by(|a, b| b.size.cmp(&a.size).then(a.desc.id.cmp(&b.desc.id)));
    v
}

/// The result of the analysis common to `find_merges` and `segment_budget`.
struct Analysis {
    eligible: Vec<Seg>,
    budget: SegmentBudget,
    allowed_deletes: u64,
    max_merge_is_running: bool,
}

impl TieredMergePolicy {
    /// A policy with the default settings (see the constants `DEFAULT_*`).
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder starting from the defaults.
    pub fn builder() -> TieredMergePolicyBuilder {
        TieredMergePolicyBuilder {
            policy: Self::default(),
        }
    }

    /// Segments allowed per tier (default 10, at least 2). Smaller values
    /// mean fewer segments (faster searches) and more merging (higher write
    /// amplification: roughly one rewrite per tier, and tiers grow by the
    /// merge factor).
    pub fn segments_per_tier(&self) -> f64 {
        self.segments_per_tier
    }
    /// Sets [`segments_per_tier`](Self::segments_per_tier).
    pub fn set_segments_per_tier(&mut self, v: f64) -> Result<(), MergeError> {
        check_segments_per_tier(v)?;
        self.segments_per_tier = v;
        Ok(())
    }

    /// Maximum number of segments merged at once by natural and
    /// forced-deletes merges (default 10, at least 2). The effective merge
    /// factor is `min(max_merge_at_once, segments_per_tier)`: merging more
    /// segments than a tier holds would skip tiers and mix sizes. Bounds the
    /// number of files a merge holds open. Forced merges
    /// ([`find_forced_merges`](MergePolicy::find_forced_merges)) are not
    /// bounded by it, as in Lucene 9: the requested segment count wins.
    pub fn max_merge_at_once(&self) -> usize {
        self.max_merge_at_once
    }
    /// Sets [`max_merge_at_once`](Self::max_merge_at_once).
    pub fn set_max_merge_at_once(&mut self, v: usize) -> Result<(), MergeError> {
        check_max_merge_at_once(v)?;
        self.max_merge_at_once = v;
        Ok(())
    }

    /// Largest segment (live bytes) natural merges produce (default 5 GiB).
    /// Bounds the cost of any one merge and the transient disk space it
    /// needs; segments above half of it are no longer merged unless they
    /// carry many deletes. Forced merges may exceed it.
    pub fn max_merged_segment_bytes(&self) -> u64 {
        self.max_merged_segment_bytes
    }
    /// Sets [`max_merged_segment_bytes`](Self::max_merged_segment_bytes).
    pub fn set_max_merged_segment_bytes(&mut self, v: u64) -> Result<(), MergeError> {
        check_max_merged(v)?;
        self.max_merged_segment_bytes = v;
        Ok(())
    }

    /// Segments smaller than this count as this size when computing the
    /// budget and the skew of merges (default 2 MiB, Lucene 9). Without a
    /// floor, an index receiving tiny flushes would keep a long tail of tiny
    /// segments, each tier being tiny too.
    pub fn floor_segment_bytes(&self) -> u64 {
        self.floor_segment_bytes
    }
    /// Sets [`floor_segment_bytes`](Self::floor_segment_bytes).
    pub fn set_floor_segment_bytes(&mut self, v: u64) -> Result<(), MergeError> {
        check_floor(v)?;
        self.floor_segment_bytes = v;
        Ok(())
    }

    /// Percentage of deleted documents tolerated in the index (default 20,
    /// range 5..=50). Above it natural merges are selected to reclaim
    /// deletes even when the segment count is within budget. Lower values
    /// save disk and search time at the cost of more merging.
    pub fn deletes_pct_allowed(&self) -> f64 {
        self.deletes_pct_allowed
    }
    /// Sets [`deletes_pct_allowed`](Self::deletes_pct_allowed).
    pub fn set_deletes_pct_allowed(&mut self, v: f64) -> Result<(), MergeError> {
        check_deletes_pct(v)?;
        self.deletes_pct_allowed = v;
        Ok(())
    }

    /// A segment is rewritten by
    /// [`find_forced_deletes_merges`](MergePolicy::find_forced_deletes_merges)
    /// only if more than this percentage of its documents are deleted
    /// (default 10, range 0..=100): expunging a handful of deletes is not
    /// worth rewriting a segment.
    pub fn force_merge_deletes_pct_allowed(&self) -> f64 {
        self.force_merge_deletes_pct_allowed
    }
    /// Sets [`force_merge_deletes_pct_allowed`](Self::force_merge_deletes_pct_allowed).
    pub fn set_force_merge_deletes_pct_allowed(&mut self, v: f64) -> Result<(), MergeError> {
        check_force_deletes_pct(v)?;
        self.force_merge_deletes_pct_allowed = v;
        Ok(())
    }

    /// `min(max_merge_at_once, floor(segments_per_tier))`, at least 2.
    pub fn merge_factor(&self) -> usize {
        let spt = self.segments_per_tier.floor();
        let spt = if spt >= usize::MAX as f64 {
            usize::MAX
        } else {
            spt as usize
        };
        self.max_merge_at_once.min(spt).max(2)
    }

    fn floored(&self, bytes: u64) -> u64 {
        bytes.max(self.floor_segment_bytes)
    }

    /// The number of segments the tier formula allows for `total_bytes` of
    /// eligible data whose smallest segment is `smallest_segment_bytes`
    /// (step 3 of the algorithm). Never less than `segments_per_tier`
    /// (rounded up).
    pub fn allowed_segment_count(&self, total_bytes: u64, smallest_segment_bytes: u64) -> usize {
        let spt = self.segments_per_tier;
        let max = self.max_merged_segment_bytes as f64;
        let factor = self.merge_factor() as f64;
        let mut level = self.floored(smallest_segment_bytes) as f64;
        let mut left = total_bytes as f64;
        let mut allowed = 0.0f64;
        // Each iteration multiplies `level` by >= 2 until it reaches `max`,
        // so 130 iterations cover any u64; the bound is belt and braces.
        for _ in 0..130 {
            let count = left / level;
            if count < spt || level >= max {
                allowed += count.ceil();
                break;
            }
            allowed += spt;
            left -= spt * level;
            level = (level * factor).min(max);
        }
        let allowed = allowed.max(spt).ceil();
        if allowed >= usize::MAX as f64 {
            usize::MAX
        } else {
            allowed as usize
        }
    }

    fn analyze(&self, segments: &[SegmentDescriptor], merging: &HashSet<u64>) -> Analysis {
        let sorted = sorted_by_size(segments);
        let mut total_bytes: u64 = 0;
        let mut min_bytes = u64::MAX;
        let mut merging_bytes: u64 = 0;
        let mut total_del: u64 = 0;
        let mut total_max_doc: u64 = 0;
        let mut merging_count = 0usize;
        let mut eligible = Vec::with_capacity(sorted.len());
        for s in sorted {
            min_bytes = min_bytes.min(s.size);
            total_bytes = total_bytes.saturating_add(s.size);
            if merging.contains(&s.desc.id) {
                merging_count += 1;
                merging_bytes = merging_bytes.saturating_add(s.size);
                // Its deletes are being reclaimed already.
                total_max_doc = total_max_doc.saturating_add(s.max_doc - s.del);
            } else {
                total_del = total_del.saturating_add(s.del);
                total_max_doc = total_max_doc.saturating_add(s.max_doc);
                eligible.push(s);
            }
        }
        let total_del_pct = if total_max_doc == 0 {
            0.0
        } else {
            100.0 * total_del as f64 / total_max_doc as f64
        };
        let mut allowed_deletes =
            (self.deletes_pct_allowed * total_max_doc as f64 / 100.0).floor() as i128;

        let half_max = self.max_merged_segment_bytes / 2;
        let mut too_large = 0usize;
        eligible.retain(|s| {
            let seg_del_pct = if s.max_doc == 0 {
                0.0
            } else {
                100.0 * s.del as f64 / s.max_doc as f64
            };
            let keep = !(s.size > half_max
                && (total_del_pct <= self.deletes_pct_allowed
                    || seg_del_pct <= self.deletes_pct_allowed));
            if !keep {
                too_large += 1;
                total_bytes -= s.size.min(total_bytes);
                allowed_deletes -= i128::from(s.del);
            }
            keep
        });
        let allowed = self.allowed_segment_count(total_bytes, min_bytes);
        Analysis {
            budget: SegmentBudget {
                allowed,
                too_large,
                merging: merging_count,
                eligible: eligible.len(),
            },
            eligible,
            allowed_deletes: allowed_deletes.max(0) as u64,
            max_merge_is_running: merging_bytes >= self.max_merged_segment_bytes,
        }
    }

    /// The budget of the index and how it was computed (see
    /// [`SegmentBudget`]).
    pub fn segment_budget_details(
        &self,
        segments: &[SegmentDescriptor],
        merging: &HashSet<u64>,
    ) -> SegmentBudget {
        self.analyze(segments, merging).budget
    }

    /// Scores a candidate merge (lower is better). `segments` must be sorted
    /// by decreasing live size; `hit_too_large` says the candidate was
    /// limited by `max_merged_segment_bytes`.
    pub fn score(&self, segments: &[SegmentDescriptor], hit_too_large: bool) -> MergeScore {
        let segs: Vec<Seg> = segments.iter().map(|s| Seg::new(*s)).collect();
        let refs: Vec<&Seg> = segs.iter().collect();
        self.score_segs(&refs, hit_too_large)
    }

    fn score_segs(&self, cand: &[&Seg], hit_too_large: bool) -> MergeScore {
        let mut after = 0f64;
        let mut after_floored = 0f64;
        let mut before = 0f64;
        for s in cand {
            after += s.size as f64;
            after_floored += self.floored(s.size) as f64;
            before += s.desc.size_bytes as f64;
        }
        let skew = if hit_too_large {
            1.0 / self.merge_factor() as f64
        } else {
            match cand.first() {
                Some(first) if after_floored > 0.0 => {
                    self.floored(first.size) as f64 / after_floored
                }
                _ => 1.0,
            }
        };
        let non_deleted_ratio = if before > 0.0 { after / before } else { 1.0 };
        let score = skew * after.powf(0.05) * non_deleted_ratio * non_deleted_ratio;
        MergeScore {
            score,
            skew,
            non_deleted_ratio,
        }
    }

    /// The selection loop (step 4), shared by natural and forced-deletes
    /// merges.
    fn select(
        &self,
        mut eligible: Vec<Seg>,
        merge_factor: usize,
        allowed_segments: usize,
        allowed_deletes: u64,
        kind: MergeKind,
        max_merge_is_running: bool,
    ) -> Vec<OneMerge> {
        let max_bytes = self.max_merged_segment_bytes;
        let mut merges = Vec::new();
        let mut have_one_large = false;
        while !eligible.is_empty() {
            if kind == MergeKind::Natural {
                let remaining_deletes = eligible.iter().fold(0u64, |a, s| a.saturating_add(s.del));
                if eligible.len() <= allowed_segments && remaining_deletes <= allowed_deletes {
                    break;
                }
            }
            // (indices into `eligible`, score, hit too large)
            let mut best: Option<(Vec<usize>, MergeScore, bool)> = None;
            for start in 0..eligible.len() {
                let (cand, bytes_this_merge, hit_too_large) =
                    pack_window(&eligible, start, merge_factor, max_bytes);
                let Some(&first_idx) = cand.first() else {
                    continue;
                };
                let first = eligible[first_idx];
                if !hit_too_large
                    && kind == MergeKind::Natural
                    && (bytes_this_merge as f64) < first.size as f64 * MIN_GROWTH
                    && (first.del as f64) < first.max_doc as f64 * self.deletes_pct_allowed / 100.0
                {
                    // The result would barely be bigger than its largest
                    // input: rewriting it again and again is O(n^2).
                    continue;
                }
                if cand.len() == 1 && first.del == 0 {
                    // A singleton without deletes achieves nothing.
                    continue;
                }
                if best.is_some() && !hit_too_large && cand.len() < merge_factor {
                    // We reached the tail: only smaller windows follow.
                    break;
                }
                let segs: Vec<&Seg> = cand.iter().map(|&i| &eligible[i]).collect();
                let score = self.score_segs(&segs, hit_too_large);
                let better = match &best {
                    None => true,
                    Some((_, b, _)) => score.score < b.score,
                };
                if better && (!hit_too_large || !max_merge_is_running) {
                    best = Some((cand, score, hit_too_large));
                }
            }
            let Some((cand, score, too_large)) = best else {
                break;
            };
            if !have_one_large || !too_large || kind == MergeKind::ForcedDeletes {
                have_one_large |= too_large;
                let descs: Vec<SegmentDescriptor> =
                    cand.iter().map(|&i| eligible[i].desc).collect();
                merges.push(OneMerge::from_segments(&descs, kind, score.score));
            }
            // Picked (or deferred to the next call): out of consideration.
            let picked: HashSet<usize> = cand.into_iter().collect();
            let mut i = 0usize;
            eligible.retain(|_| {
                let keep = !picked.contains(&i);
                i += 1;
                keep
            });
        }
        merges
    }
}

impl MergePolicy for TieredMergePolicy {
    fn find_merges(&self, segments: &[SegmentDescriptor], merging: &HashSet<u64>) -> Vec<OneMerge> {
        let a = self.analyze(segments, merging);
        self.select(
            a.eligible,
            self.merge_factor(),
            a.budget.allowed,
            a.allowed_deletes,
            MergeKind::Natural,
            a.max_merge_is_running,
        )
    }

    /// Lucene's `findForcedMerges`: if any segment is being merged, returns
    /// nothing (call again once those merges finished). `max_segments == 1`
    /// merges everything into one segment (also rewriting a lone segment
    /// that has deletes). Otherwise segments are bin-packed, smallest first,
    /// into merges of at most `1.25 * max(total / max_segments,
    /// max_merged_segment_bytes)` bytes until at most `max_segments` remain;
    /// segments without deletes already above that size are left alone.
    fn find_forced_merges(
        &self,
        segments: &[SegmentDescriptor],
        max_segments: usize,
        merging: &HashSet<u64>,
    ) -> Vec<OneMerge> {
        let max_segments = max_segments.max(1);
        let sorted = sorted_by_size(segments);
        if sorted.iter().any(|s| merging.contains(&s.desc.id)) {
            return Vec::new();
        }
        let total = sorted.iter().fold(0u64, |a, s| a.saturating_add(s.size));
        let max_merge_bytes = if max_segments == 1 {
            u64::MAX
        } else {
            let per = (total / max_segments as u64).max(self.max_merged_segment_bytes);
            let fudged = per as f64 * 1.25;
            if fudged >= u64::MAX as f64 {
                u64::MAX
            } else {
                fudged as u64
            }
        };
        let found_deletes = sorted.iter().any(|s| s.del > 0);
        let eligible: Vec<Seg> = sorted
            .into_iter()
            .filter(|s| s.del > 0 || s.size < max_merge_bytes)
            .collect();
        if eligible.is_empty() {
            return Vec::new();
        }
        if !found_deletes
            && ((max_segments > 1 && eligible.len() <= max_segments)
                || (max_segments == 1 && eligible.len() == 1))
        {
            return Vec::new(); // already merged
        }
        if max_segments == 1 {
            let descs: Vec<SegmentDescriptor> = eligible.iter().map(|s| s.desc).collect();
            return vec![OneMerge::from_segments(&descs, MergeKind::Forced, 0.0)];
        }
        // Bin-pack from the smallest segment up.
        let mut merges = Vec::new();
        let mut next = eligible.len(); // one past the next segment to take
        let mut resulting = eligible.len();
        loop {
            let mut cand: Vec<SegmentDescriptor> = Vec::new();
            let mut bytes: u64 = 0;
            while next > 0 && resulting > max_segments {
                let cur = eligible[next - 1];
                if bytes.saturating_add(cur.size) <= max_merge_bytes || cand.len() < 2 {
                    if !cand.is_empty() {
                        resulting -= 1;
                    }
                    cand.push(cur.desc);
                    bytes = bytes.saturating_add(cur.size);
                    next -= 1;
                } else {
                    break;
                }
            }
            if cand.len() > 1 {
                cand.reverse(); // largest first
                merges.push(OneMerge::from_segments(&cand, MergeKind::Forced, 0.0));
            } else {
                return merges;
            }
        }
    }

    /// Rewrites segments whose delete percentage is above
    /// [`force_merge_deletes_pct_allowed`](TieredMergePolicy::force_merge_deletes_pct_allowed),
    /// by the same scoring as natural merges, at most `max_merge_at_once`
    /// segments and `max_merged_segment_bytes` per merge (a lone segment
    /// above the maximum is rewritten alone).
    fn find_forced_deletes_merges(
        &self,
        segments: &[SegmentDescriptor],
        merging: &HashSet<u64>,
    ) -> Vec<OneMerge> {
        let eligible: Vec<Seg> = sorted_by_size(segments)
            .into_iter()
            .filter(|s| {
                !merging.contains(&s.desc.id)
                    && s.desc.delete_pct() > self.force_merge_deletes_pct_allowed
            })
            .collect();
        if eligible.is_empty() {
            return Vec::new();
        }
        self.select(
            eligible,
            self.max_merge_at_once,
            usize::MAX,
            0,
            MergeKind::ForcedDeletes,
            false,
        )
    }

    fn segment_budget(&self, segments: &[SegmentDescriptor], merging: &HashSet<u64>) -> usize {
        self.segment_budget_details(segments, merging).limit()
    }
}
