//! The common documents of two decoded blocks, found in one merge loop
//! without branches on the comparisons.
//!
//! Where two terms are about as frequent as each other, most of a
//! conjunction's time went into seeking one term to each document of the
//! other: a call, a galloping search and a bisection per document. Two
//! decoded blocks cover overlapping ranges of documents; merging them
//! costs a compare and three additions per step, and the steps are at most
//! the two blocks' lengths together.
//!
//! Where one block is much denser than the other over the range they
//! share, most merge steps pass a document of the denser one. Then each
//! document of the sparser one moves the denser one on by counting, eight
//! at a time, its documents below it (a compare of eight lanes): `failed
//! ready` (count mode) on logs-big, 12,834 documents against 92,718, took
//! 389 → 347 µs (docs/benchmarks.md, "Issue 14, tenth round"). The top-k
//! path merges a window's candidates with [`merge`] alone: there the
//! skewed walk measured slower.

use lucerna_codec::bitpack::BLOCK;

/// The documents two blocks share, and where each lies in either block.
pub(crate) struct Pairs {
    /// The shared documents, ascending.
    pub(crate) docs: [u32; BLOCK],
    /// Each one's index in the first block.
    pub(crate) a: [u8; BLOCK],
    /// Each one's index in the second block.
    pub(crate) b: [u8; BLOCK],
    /// How many there are.
    pub(crate) len: usize,
}

impl Pairs {
    pub(crate) fn new() -> Self {
        Pairs {
            docs: [0; BLOCK],
            a: [0; BLOCK],
            b: [0; BLOCK],
            len: 0,
        }
    }
}

/// Fills `out` with the documents both `a` and `b` hold (each ascending,
/// at most [`BLOCK`] long) until either is used up, and returns how many
/// of each the merge passed: `(i, j)` with `i == a.len()` or
/// `j == b.len()`. As one is used up, every document they share is in
/// `out`, and what remains of the other lies after the used-up one's last
/// document: the two can move on by those counts, the used-up one to its
/// next block, and merge again. For example (the `documented_example`
/// test runs it; the function is private to the crate):
///
/// ```text
/// let mut pairs = Pairs::new();
/// let (i, j) = intersect(&[1, 4, 6, 9, 10], &[4, 5, 9, 12, 13], &mut pairs);
/// assert_eq!(&pairs.docs[..pairs.len], &[4, 9]);
/// assert_eq!((i, j), (5, 3));
/// ```
#[inline]
pub(crate) fn intersect(a: &[u32], b: &[u32], out: &mut Pairs) -> (usize, usize) {
    let a = &a[..a.len().min(BLOCK)];
    let b = &b[..b.len().min(BLOCK)];
    if let (Some(&a_last), Some(&b_last)) = (a.last(), b.last()) {
        // How many of each lie in the range the other covers.
        let in_b = a.partition_point(|&d| d <= b_last);
        let in_a = b.partition_point(|&d| d <= a_last);
        if in_a >= SKEW * in_b.max(1) {
            return skewed(a, b, out, false);
        }
        if in_b >= SKEW * in_a.max(1) {
            let (j, i) = skewed(b, a, out, true);
            return (i, j);
        }
    }
    merge(a, b, out)
}

/// How many times as many documents one block must hold as the other,
/// in the range both cover, for [`skewed`] to pass them. Measured on
/// logs-big's AND set against never: 4 gained 1.7 % (top-k) and lost
/// 0.5 % (count) in geometric mean, 8 gained 3.6 % and 1.4 %, 16 nothing;
/// under about eight documents to pass per document, the merge's
/// branch-free steps win.
const SKEW: usize = 8;

/// [`intersect`] by one merge step per document, whatever the blocks'
/// densities.
#[inline]
pub(crate) fn merge(a: &[u32], b: &[u32], out: &mut Pairs) -> (usize, usize) {
    let (mut i, mut j, mut k) = (0usize, 0usize, 0usize);
    while i < a.len() && j < b.len() {
        let (x, y) = (a[i], b[j]);
        // k < BLOCK here: a match moves both sides on, so k never
        // reaches the shorter block's length while both have more.
        let slot = k.min(BLOCK - 1);
        out.docs[slot] = x;
        out.a[slot] = i as u8;
        out.b[slot] = j as u8;
        k += usize::from(x == y);
        i += usize::from(x <= y);
        j += usize::from(y <= x);
    }
    out.len = k;
    (i, j)
}

/// Lanes of the denser block compared with a document at once.
const LANES: usize = 8;

/// [`intersect`] of a sparse block and a dense one (each at most
/// [`BLOCK`] long), as many documents of each passed as [`merge`] passes:
/// for each document of `sparse`, `dense` moves on by its documents below
/// it, counted [`LANES`] at a time. `swapped` when `sparse` is the
/// second block of the pair (its indices go to `out.b`). Returns the
/// counts passed, `sparse`'s first.
#[inline]
fn skewed(sparse: &[u32], dense: &[u32], out: &mut Pairs, swapped: bool) -> (usize, usize) {
    let (mut i, mut j, mut k) = (0usize, 0usize, 0usize);
    while i < sparse.len() {
        let x = sparse[i];
        while let Some(lanes) = dense.get(j..j + LANES) {
            let below = lanes.iter().map(|&d| usize::from(d < x)).sum::<usize>();
            j += below;
            if below < LANES {
                break;
            }
        }
        while j < dense.len() && dense[j] < x {
            j += 1;
        }
        let Some(&y) = dense.get(j) else {
            break;
        };
        if y == x {
            // k ≤ i < BLOCK.
            let slot = k.min(BLOCK - 1);
            out.docs[slot] = x;
            let (ia, ib) = if swapped { (j, i) } else { (i, j) };
            out.a[slot] = ia as u8;
            out.b[slot] = ib as u8;
            k += 1;
            j += 1;
        }
        i += 1;
    }
    out.len = k;
    (i, j)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn block(bits: Vec<bool>, base: u32) -> Vec<u32> {
        bits.iter()
            .enumerate()
            .filter(|(_, &b)| b)
            .map(|(i, _)| base + i as u32)
            .take(BLOCK)
            .collect()
    }

    proptest! {
        /// The pairs are exactly the shared documents up to the end of
        /// the block used up first, with their indices, and the counts
        /// passed leave only documents after that end.
        #[test]
        fn finds_the_shared_documents(
            a in prop::collection::vec(any::<bool>(), 0..300),
            b in prop::collection::vec(any::<bool>(), 0..300),
            shift in 0u32..200,
        ) {
            let a = block(a, 0);
            let b = block(b, shift);
            let mut pairs = Pairs::new();
            let (i, j) = intersect(&a, &b, &mut pairs);
            prop_assert!(i == a.len() || j == b.len());
            // One block used up means every shared document was met.
            let shared = |a: &[u32], b: &[u32]| -> Vec<(u32, u8, u8)> {
                a.iter()
                    .enumerate()
                    .filter_map(|(ia, d)| {
                        b.iter().position(|x| x == d).map(|ib| (*d, ia as u8, ib as u8))
                    })
                    .collect()
            };
            let got: Vec<(u32, u8, u8)> = (0..pairs.len)
                .map(|k| (pairs.docs[k], pairs.a[k], pairs.b[k]))
                .collect();
            prop_assert_eq!(got, shared(&a, &b));
            if let (true, Some(&end)) = (i == a.len(), a.last()) {
                prop_assert!(b[j..].iter().all(|&d| d > end));
            }
            if let (true, Some(&end)) = (j == b.len(), b.last()) {
                prop_assert!(a[i..].iter().all(|&d| d > end));
            }
        }
    }

    proptest! {
        /// The skewed intersection finds what the merge finds and passes
        /// as many documents of each, either block the sparse one, on
        /// blocks of any densities.
        #[test]
        fn skewed_passes_what_the_merge_passes(
            a in prop::collection::vec(0u32..40, 0..BLOCK),
            b in prop::collection::vec(0u32..6, 0..BLOCK),
            start in 0u32..300,
        ) {
            // Ascending ids from gaps (0 gaps dropped as duplicates).
            let ids = |gaps: &[u32]| -> Vec<u32> {
                let mut d = start;
                let mut v: Vec<u32> = gaps.iter().map(|g| { d += g; d }).collect();
                v.dedup();
                v
            };
            let (a, b) = (ids(&a), ids(&b));
            let pairs_of = |p: &Pairs| -> Vec<(u32, u8, u8)> {
                (0..p.len).map(|k| (p.docs[k], p.a[k], p.b[k])).collect()
            };
            let (mut want, mut got) = (Pairs::new(), Pairs::new());
            let passed = merge(&a, &b, &mut want);
            prop_assert_eq!(skewed(&a, &b, &mut got, false), passed);
            prop_assert_eq!(pairs_of(&got), pairs_of(&want));
            let (j, i) = skewed(&b, &a, &mut got, true);
            prop_assert_eq!((i, j), passed);
            prop_assert_eq!(pairs_of(&got), pairs_of(&want));
            prop_assert_eq!(intersect(&a, &b, &mut got), passed);
            prop_assert_eq!(pairs_of(&got), pairs_of(&want));
        }
    }

    #[test]
    fn documented_example() {
        let mut pairs = Pairs::new();
        let (i, j) = intersect(&[1, 4, 6, 9, 10], &[4, 5, 9, 12, 13], &mut pairs);
        assert_eq!(&pairs.docs[..pairs.len], &[4, 9]);
        assert_eq!((i, j), (5, 3));
    }

    #[test]
    fn two_equal_full_blocks_pair_up_entirely() {
        let a: Vec<u32> = (0..BLOCK as u32).map(|d| d * 3).collect();
        let mut pairs = Pairs::new();
        assert_eq!(intersect(&a, &a, &mut pairs), (BLOCK, BLOCK));
        assert_eq!(pairs.len, BLOCK);
        assert_eq!(&pairs.docs[..], &a[..]);
        assert!((0..BLOCK).all(|k| pairs.a[k] as usize == k && pairs.b[k] as usize == k));
    }
}
