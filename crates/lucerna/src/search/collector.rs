//! Collectors: count, top-k by score, top-k by a numeric column.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// The address of a document in a searcher: segment ordinal and the
/// document's number within the segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocAddress {
    /// Segment ordinal within the searcher.
    pub segment: u32,
    /// Document number within the segment.
    pub doc: u32,
}

/// A hit: a document and its score (or sort value).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoredDoc {
    /// BM25 score (or, for sorted collectors, 0).
    pub score: f32,
    /// Sort key for field-sorted collection (0 otherwise).
    pub sort_value: u64,
    /// The document.
    pub address: DocAddress,
}

/// Heap capacity reserved up front for a top-`k`: `k + 1`, bounded, so that
/// a huge `k` ("every hit") neither overflows nor allocates for hits that
/// may never come.
fn prealloc(k: usize) -> usize {
    k.saturating_add(1).min(4096)
}

/// Heap entry ordered so that the *worst* hit is on top: lower score, then
/// higher address (ties go to the smaller address).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Worst(pub ScoredDoc);

impl PartialEq for Worst {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Worst {}
impl PartialOrd for Worst {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Worst {
    fn cmp(&self, o: &Self) -> Ordering {
        // Greater = worse.
        o.0.score
            .total_cmp(&self.0.score)
            .then(self.0.address.cmp(&o.0.address))
    }
}

/// Keeps the best `k` hits by score (ties: smaller address first).
#[derive(Debug)]
pub struct TopK {
    k: usize,
    heap: BinaryHeap<Worst>,
}

impl TopK {
    /// Collects the best `k`.
    pub fn new(k: usize) -> Self {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(prealloc(k)),
        }
    }

    /// The score a new hit must beat to enter (−∞ while not full).
    #[inline]
    pub fn threshold(&self) -> f32 {
        if self.heap.len() < self.k {
            f32::NEG_INFINITY
        } else {
            self.heap.peek().map_or(f32::NEG_INFINITY, |w| w.0.score)
        }
    }

    /// How many hits are kept.
    pub fn k(&self) -> usize {
        self.k
    }

    /// True when `k` hits are held.
    pub fn is_full(&self) -> bool {
        self.heap.len() >= self.k
    }

    /// Offers a hit. Hits arrive in increasing address order within a
    /// segment and segments in order, so an equal score never displaces an
    /// earlier hit.
    #[inline]
    pub fn push(&mut self, score: f32, address: DocAddress) {
        if self.heap.len() >= self.k {
            // Full (or k = 0): most offers lose to the worst kept hit on
            // the score alone, or tie it bit for bit at a later address
            // (`<` is false for NaN and for −0 against +0, which the full
            // order then settles).
            match self.heap.peek() {
                Some(top)
                    if score < top.0.score
                        || (score.to_bits() == top.0.score.to_bits()
                            && address >= top.0.address) =>
                {
                    return
                }
                None => return,
                Some(_) => {}
            }
        }
        self.admit(score, address);
    }

    /// [`push`](Self::push) past the quick refusals: the hit enters when
    /// there is room or it beats the worst kept one in the full order.
    #[inline(never)]
    fn admit(&mut self, score: f32, address: DocAddress) {
        let cand = Worst(ScoredDoc {
            score,
            sort_value: 0,
            address,
        });
        if self.heap.len() < self.k {
            self.heap.push(cand);
        } else if let Some(top) = self.heap.peek() {
            if cand < *top {
                self.heap.pop();
                self.heap.push(cand);
            }
        }
    }

    /// The hits, best first.
    pub fn into_sorted(self) -> Vec<ScoredDoc> {
        let mut v: Vec<ScoredDoc> = self.heap.into_iter().map(|w| w.0).collect();
        v.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.address.cmp(&b.address)));
        v
    }
}

/// Heap entry for field-sorted collection: worst on top.
#[derive(Debug, Clone, Copy)]
struct WorstSorted {
    hit: ScoredDoc,
    /// The document has no value: after every document that has one.
    missing: bool,
    descending: bool,
}

impl PartialEq for WorstSorted {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for WorstSorted {}
impl PartialOrd for WorstSorted {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for WorstSorted {
    fn cmp(&self, o: &Self) -> Ordering {
        let by_value = if self.descending {
            o.hit.sort_value.cmp(&self.hit.sort_value)
        } else {
            self.hit.sort_value.cmp(&o.hit.sort_value)
        };
        self.missing
            .cmp(&o.missing)
            .then(by_value)
            .then(self.hit.address.cmp(&o.hit.address))
    }
}

/// Keeps the best `k` hits by a u64 sort key (order-preserving encoding of
/// the column value); ties go to the smaller address. Documents without a
/// value ([`push_missing`](TopKSorted::push_missing)) come after every
/// document with one, in either direction, by address; their hits carry
/// `sort_value` 0.
#[derive(Debug)]
pub struct TopKSorted {
    k: usize,
    descending: bool,
    heap: BinaryHeap<WorstSorted>,
}

impl TopKSorted {
    /// Collects the `k` hits with the largest (`descending`) or smallest keys.
    pub fn new(k: usize, descending: bool) -> Self {
        TopKSorted {
            k,
            descending,
            heap: BinaryHeap::with_capacity(prealloc(k)),
        }
    }

    /// Offers a hit.
    pub fn push(&mut self, sort_value: u64, address: DocAddress) {
        self.offer(sort_value, false, address);
    }

    /// Offers a hit that has no value: it sorts last.
    pub fn push_missing(&mut self, address: DocAddress) {
        self.offer(0, true, address);
    }

    fn offer(&mut self, sort_value: u64, missing: bool, address: DocAddress) {
        if self.k == 0 {
            return;
        }
        let cand = WorstSorted {
            hit: ScoredDoc {
                score: 0.0,
                sort_value,
                address,
            },
            missing,
            descending: self.descending,
        };
        if self.heap.len() < self.k {
            self.heap.push(cand);
        } else if let Some(top) = self.heap.peek() {
            if cand < *top {
                self.heap.pop();
                self.heap.push(cand);
            }
        }
    }

    /// The worst key held when full (for skipping), else `None` (also
    /// when the worst hit held has no value).
    pub fn worst_value(&self) -> Option<u64> {
        if self.heap.len() < self.k {
            None
        } else {
            self.heap
                .peek()
                .filter(|w| !w.missing)
                .map(|w| w.hit.sort_value)
        }
    }

    /// The hits, best first.
    pub fn into_sorted(self) -> Vec<ScoredDoc> {
        let mut v: Vec<WorstSorted> = self.heap.into_vec();
        v.sort();
        v.into_iter().map(|w| w.hit).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(doc: u32) -> DocAddress {
        DocAddress { segment: 0, doc }
    }

    #[test]
    fn top_k_keeps_best_and_breaks_ties_by_address() {
        let mut t = TopK::new(3);
        for (d, s) in [(0, 1.0), (1, 3.0), (2, 3.0), (3, 0.5), (4, 3.0), (5, 2.0)] {
            t.push(s, a(d));
        }
        let got: Vec<u32> = t.into_sorted().iter().map(|h| h.address.doc).collect();
        assert_eq!(got, vec![1, 2, 4]);
    }

    /// The quick refusal of a tie keeps the full order's answer, in
    /// whatever address order ties arrive, and for −0 against +0.
    #[test]
    fn ties_keep_the_smaller_address_in_any_arrival_order() {
        let mut t = TopK::new(2);
        for d in [9, 7, 8, 3, 5, 3] {
            t.push(2.0, a(d));
        }
        let got: Vec<u32> = t.into_sorted().iter().map(|h| h.address.doc).collect();
        assert_eq!(got, vec![3, 3]);
        let mut t = TopK::new(1);
        t.push(-0.0, a(1));
        t.push(0.0, a(2));
        let got: Vec<u32> = t.into_sorted().iter().map(|h| h.address.doc).collect();
        assert_eq!(got, vec![2]);
        let mut t = TopK::new(0);
        t.push(1.0, a(0));
        assert!(t.into_sorted().is_empty());
    }

    #[test]
    fn sorted_descending_and_ascending() {
        let mut d = TopKSorted::new(2, true);
        let mut asc = TopKSorted::new(2, false);
        for (doc, v) in [(0, 5), (1, 9), (2, 9), (3, 1)] {
            d.push(v, a(doc));
            asc.push(v, a(doc));
        }
        let dd: Vec<u32> = d.into_sorted().iter().map(|h| h.address.doc).collect();
        let aa: Vec<u32> = asc.into_sorted().iter().map(|h| h.address.doc).collect();
        assert_eq!(dd, vec![1, 2]);
        assert_eq!(aa, vec![3, 0]);
    }

    #[test]
    fn missing_values_sort_last_in_both_directions() {
        for descending in [true, false] {
            let mut t = TopKSorted::new(3, descending);
            t.push_missing(a(0));
            t.push(7, a(1));
            t.push_missing(a(2));
            t.push(0, a(3));
            let got: Vec<u32> = t.into_sorted().iter().map(|h| h.address.doc).collect();
            let want = if descending { [1, 3, 0] } else { [3, 1, 0] };
            assert_eq!(got, want);
        }
        let mut t = TopKSorted::new(1, true);
        t.push_missing(a(0));
        assert_eq!(t.worst_value(), None);
        t.push(0, a(1));
        assert_eq!(t.worst_value(), Some(0));
    }

    #[test]
    fn a_huge_k_does_not_preallocate() {
        let mut t = TopK::new(usize::MAX);
        t.push(1.0, a(0));
        assert_eq!(t.into_sorted().len(), 1);
        let mut t = TopKSorted::new(usize::MAX, true);
        t.push(1, a(0));
        assert_eq!(t.into_sorted().len(), 1);
    }
}
