//! [`IdSet`]: the values of a segment's numeric `id` field, as sorted,
//! disjoint, inclusive ranges.
//!
//! Every commit records, per segment, the `id` values of the segment's live
//! documents (when the schema has a `u64` field named `id`). When a segment
//! is lost beyond repair, this is what lets [`repair`](crate::index::recovery::repair)
//! say exactly which documents went with it, without reading a byte of the
//! damaged segment.
//!
//! Sequential ids (the common case) take one range per segment. To keep
//! commits small when ids are scattered, a set holds at most
//! [`MAX_RANGES`] ranges: beyond that the closest ranges are joined, the set
//! becomes a superset of the true ids and says so ([`IdSet::is_exact`]).

use crate::error::Result;
use crate::schema::{Field, FieldType, NumericKind, Schema};
use lucerna_codec::{ByteReader, ByteWriter};

/// The schema's `id` field: a `u64` numeric field named `id`, whose values
/// commits record per segment.
pub(crate) fn id_field(schema: &Schema) -> Option<Field> {
    schema.fields().find_map(|(f, e)| match e.field_type {
        FieldType::Numeric {
            kind: NumericKind::U64,
            ..
        } if e.name == "id" => Some(f),
        _ => None,
    })
}

/// Most ranges an [`IdSet`] keeps before joining the closest ones (about
/// 10 bytes each in a commit).
pub const MAX_RANGES: usize = 4096;

/// A set of `u64` ids as sorted, disjoint, non-adjacent inclusive ranges.
///
/// ```
/// use lucerna::index::IdSet;
/// let s = IdSet::from_values([7, 1, 2, 3, 9, 8, 3]);
/// assert_eq!(s.ranges(), &[(1, 3), (7, 9)]);
/// assert_eq!(s.len(), 6);
/// assert!(s.contains(8) && !s.contains(5));
/// assert!(s.is_exact());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IdSet {
    ranges: Vec<(u64, u64)>,
    exact: bool,
}

impl IdSet {
    /// The empty (exact) set.
    pub fn new() -> IdSet {
        IdSet {
            ranges: Vec::new(),
            exact: true,
        }
    }

    /// The set of `values` (any order, duplicates allowed), coarsened to at
    /// most [`MAX_RANGES`] ranges.
    ///
    /// Runs of consecutive values (how sequential ids arrive, even from
    /// several writer threads) are kept as ranges as they come, so only
    /// the runs and the lone values are sorted, and memory stays at most
    /// eight bytes per value.
    pub fn from_values(values: impl IntoIterator<Item = u64>) -> IdSet {
        let mut singles: Vec<u64> = Vec::new();
        let mut runs: Vec<(u64, u64)> = Vec::new();
        let mut keep = |(lo, hi): (u64, u64)| {
            if lo == hi {
                singles.push(lo);
            } else {
                runs.push((lo, hi));
            }
        };
        let mut cur: Option<(u64, u64)> = None;
        for x in values {
            cur = match cur {
                Some((lo, hi)) if hi.checked_add(1) == Some(x) => Some((lo, x)),
                Some((lo, hi)) if (lo..=hi).contains(&x) => Some((lo, hi)),
                Some(r) => {
                    keep(r);
                    Some((x, x))
                }
                None => Some((x, x)),
            };
        }
        if let Some(r) = cur {
            keep(r);
        }
        singles.sort_unstable();
        runs.sort_unstable();
        // Both in ascending order of their starts, joined where they touch.
        let mut ranges: Vec<(u64, u64)> = Vec::new();
        let (mut s, mut r) = (singles.into_iter().peekable(), runs.into_iter().peekable());
        loop {
            let next = match (s.peek(), r.peek()) {
                (Some(&x), Some(&(lo, _))) if x < lo => s.next().map(|x| (x, x)),
                (_, Some(_)) => r.next(),
                (Some(_), None) => s.next().map(|x| (x, x)),
                (None, None) => break,
            };
            let Some((lo, hi)) = next else { break };
            match ranges.last_mut() {
                Some(last) if last.1.checked_add(1).is_none_or(|n| n >= lo) => {
                    last.1 = last.1.max(hi)
                }
                _ => ranges.push((lo, hi)),
            }
        }
        Self::from_ranges(ranges, true)
    }

    /// A set from sorted, disjoint ranges (coarsened to [`MAX_RANGES`]);
    /// `exact == false` marks it as a superset of the true ids.
    pub(crate) fn from_ranges(ranges: Vec<(u64, u64)>, exact: bool) -> IdSet {
        let mut s = IdSet { ranges, exact };
        s.coarsen(MAX_RANGES);
        s
    }

    /// Joins the ranges separated by the smallest gaps until at most `max`
    /// remain; the set then covers ids it does not hold and is no longer
    /// exact.
    fn coarsen(&mut self, max: usize) {
        let max = max.max(1);
        if self.ranges.len() <= max {
            return;
        }
        // The gaps to close: the (len - max) smallest, ties by position.
        let mut gaps: Vec<(u64, usize)> = self
            .ranges
            .windows(2)
            .enumerate()
            .map(|(i, w)| (w[1].0 - w[0].1, i))
            .collect();
        gaps.sort_unstable();
        let mut close = vec![false; self.ranges.len()];
        for &(_, i) in gaps.iter().take(self.ranges.len() - max) {
            close[i] = true;
        }
        let mut out: Vec<(u64, u64)> = Vec::with_capacity(max);
        let mut join_next = false;
        for (i, r) in self.ranges.iter().enumerate() {
            match out.last_mut() {
                Some(last) if join_next => last.1 = r.1,
                _ => out.push(*r),
            }
            join_next = close[i];
        }
        self.ranges = out;
        self.exact = false;
    }

    /// The ranges, ascending, each `(first, last)` inclusive.
    pub fn ranges(&self) -> &[(u64, u64)] {
        &self.ranges
    }

    /// True when the set holds exactly the recorded ids; false when ranges
    /// were joined to stay under [`MAX_RANGES`] (a superset).
    pub fn is_exact(&self) -> bool {
        self.exact
    }

    /// Number of ids covered (saturating at `u64::MAX`).
    pub fn len(&self) -> u64 {
        self.ranges.iter().fold(0u64, |a, &(lo, hi)| {
            a.saturating_add((hi - lo).saturating_add(1))
        })
    }

    /// True when the set covers no id.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// True when `id` is covered.
    pub fn contains(&self, id: u64) -> bool {
        let i = self.ranges.partition_point(|r| r.1 < id);
        self.ranges.get(i).is_some_and(|r| r.0 <= id)
    }

    /// Smallest and largest id, if any.
    pub fn bounds(&self) -> Option<(u64, u64)> {
        Some((self.ranges.first()?.0, self.ranges.last()?.1))
    }

    /// Every id covered, ascending (beware of huge ranges).
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.ranges.iter().flat_map(|&(lo, hi)| lo..=hi)
    }

    /// The union of `self` and `other` (exact when both are).
    pub fn union(&self, other: &IdSet) -> IdSet {
        let mut all: Vec<(u64, u64)> = self.ranges.iter().chain(&other.ranges).copied().collect();
        all.sort_unstable();
        let mut out: Vec<(u64, u64)> = Vec::with_capacity(all.len());
        for r in all {
            match out.last_mut() {
                Some(last) if r.0 <= last.1.saturating_add(1) => last.1 = last.1.max(r.1),
                _ => out.push(r),
            }
        }
        Self::from_ranges(out, self.exact && other.exact)
    }

    /// Ids of `self` not in `other`. Exact when `self` is exact and `other`
    /// is exact (a coarsened `other` could remove ids it does not hold).
    pub fn difference(&self, other: &IdSet) -> IdSet {
        let mut out: Vec<(u64, u64)> = Vec::new();
        let mut j = 0;
        for &(lo, hi) in &self.ranges {
            let mut cur = lo;
            let mut done = false;
            while j < other.ranges.len() && other.ranges[j].1 < cur {
                j += 1;
            }
            let mut k = j;
            while let Some(&(olo, ohi)) = other.ranges.get(k) {
                if olo > hi {
                    break;
                }
                if olo > cur {
                    out.push((cur, olo - 1));
                }
                if ohi >= hi {
                    done = true;
                    break;
                }
                cur = ohi + 1;
                k += 1;
            }
            if !done {
                out.push((cur, hi));
            }
        }
        Self::from_ranges(out, self.exact && other.exact)
    }

    /// Appends the set to a commit: count, then per range the gap from the
    /// previous range's end (the first: its start) and its span, as vints.
    pub(crate) fn encode(&self, w: &mut ByteWriter) {
        w.vint(self.ranges.len() as u64);
        let mut prev: Option<u64> = None;
        for &(lo, hi) in &self.ranges {
            w.vint(match prev {
                None => lo,
                Some(p) => lo - p,
            });
            w.vint(hi - lo);
            prev = Some(hi);
        }
    }

    /// Reads a set written by [`encode`](Self::encode); ranges must
    /// increase strictly and fit `u64`.
    pub(crate) fn decode(r: &mut ByteReader<'_>, exact: bool) -> Result<IdSet> {
        let n = r.vint_max(r.remaining() as u64 / 2, "id range count")? as usize;
        let mut ranges = Vec::with_capacity(n.min(MAX_RANGES));
        let mut prev: Option<u64> = None;
        for _ in 0..n {
            let gap = r.vint()?;
            let lo = match prev {
                None => Some(gap),
                Some(p) if gap >= 2 => p.checked_add(gap),
                Some(_) => None,
            };
            let span = r.vint()?;
            let Some((lo, hi)) = lo.and_then(|lo| Some((lo, lo.checked_add(span)?))) else {
                return Err(r.err("id range out of order or past u64::MAX").into());
            };
            ranges.push((lo, hi));
            prev = Some(hi);
        }
        Ok(IdSet { ranges, exact })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(s: &IdSet) -> IdSet {
        let mut w = ByteWriter::new();
        s.encode(&mut w);
        let mut r = ByteReader::new("t", 0, &w.buf);
        let d = IdSet::decode(&mut r, s.is_exact()).unwrap();
        assert_eq!(r.remaining(), 0);
        d
    }

    #[test]
    fn runs_and_encoding() {
        let s = IdSet::from_values([5, 3, 4, 10, u64::MAX, 0, u64::MAX - 1]);
        assert_eq!(
            s.ranges(),
            &[(0, 0), (3, 5), (10, 10), (u64::MAX - 1, u64::MAX)]
        );
        assert_eq!(s.len(), 7);
        assert_eq!(roundtrip(&s), s);
        assert_eq!(roundtrip(&IdSet::new()), IdSet::new());
        assert_eq!(s.bounds(), Some((0, u64::MAX)));
    }

    /// Runs, duplicates, interleavings and reversals give the ranges of
    /// the sorted, deduplicated values (the construction without runs).
    #[test]
    fn ranges_equal_those_of_the_sorted_values() {
        use lucerna_store::rng::SplitMix64;
        for seed in 0..200u64 {
            let mut rng = SplitMix64::new(seed);
            let mut vals: Vec<u64> = Vec::new();
            for _ in 0..rng.below(12) {
                let start = rng.below(200);
                let len = rng.below(40);
                match rng.below(4) {
                    0 => vals.extend(start..start + len),
                    1 => vals.extend((start..start + len).rev()),
                    2 => vals.extend((0..len).map(|_| rng.below(200))),
                    _ => vals.extend((start..start + len).flat_map(|x| [x, x])),
                }
            }
            if rng.chance(0.1) {
                vals.extend([u64::MAX, u64::MAX - 1, u64::MAX]);
            }
            let mut sorted = vals.clone();
            sorted.sort_unstable();
            sorted.dedup();
            let mut want: Vec<(u64, u64)> = Vec::new();
            for x in sorted {
                match want.last_mut() {
                    Some(last) if last.1 + 1 == x => last.1 = x,
                    _ => want.push((x, x)),
                }
            }
            let got = IdSet::from_values(vals.iter().copied());
            assert_eq!(got.ranges(), &want[..], "seed {seed}: {vals:?}");
            assert!(got.is_exact(), "seed {seed}");
        }
    }

    #[test]
    fn corrupt_encodings_are_errors() {
        // Second range overlapping the first.
        let mut w = ByteWriter::new();
        w.vint(2);
        w.vint(10);
        w.vint(5);
        w.vint(1);
        w.vint(0);
        let mut r = ByteReader::new("t", 0, &w.buf);
        assert!(IdSet::decode(&mut r, true).is_err());
        // Span past u64::MAX.
        let mut w = ByteWriter::new();
        w.vint(1);
        w.vint(u64::MAX);
        w.vint(1);
        let mut r = ByteReader::new("t", 0, &w.buf);
        assert!(IdSet::decode(&mut r, true).is_err());
    }

    #[test]
    fn coarsening_keeps_a_superset() {
        let vals: Vec<u64> = (0..(MAX_RANGES as u64 * 3)).map(|i| i * 3).collect();
        let s = IdSet::from_values(vals.iter().copied());
        assert!(!s.is_exact());
        assert!(s.ranges().len() <= MAX_RANGES);
        assert!(vals.iter().all(|&v| s.contains(v)));
        let mut c = IdSet::from_values(0..10);
        c.coarsen(1);
        assert_eq!(c.ranges(), &[(0, 9)]);
    }

    #[test]
    fn set_operations() {
        let a = IdSet::from_values([1, 2, 3, 4, 5, 10, 11, 12, 20]);
        let b = IdSet::from_values([0, 3, 4, 11, 20, 21]);
        let d = a.difference(&b);
        assert_eq!(d.ranges(), &[(1, 2), (5, 5), (10, 10), (12, 12)]);
        let u = a.union(&b);
        assert_eq!(u.ranges(), &[(0, 5), (10, 12), (20, 21)]);
        for x in 0..30 {
            assert_eq!(d.contains(x), a.contains(x) && !b.contains(x), "{x}");
            assert_eq!(u.contains(x), a.contains(x) || b.contains(x), "{x}");
        }
    }
}
