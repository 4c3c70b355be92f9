//! The common documents of two decoded blocks, found in one merge loop
//! without branches on the comparisons.
//!
//! Where two terms are about as frequent as each other, most of a
//! conjunction's time went into seeking one term to each document of the
//! other: a call, a galloping search and a bisection per document. Two
//! decoded blocks cover overlapping ranges of documents; merging them
//! costs a compare and three additions per step, and the steps are at most
//! the two blocks' lengths together.

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
