//! Counting the documents of a union of postings lists: a disjunction's
//! hits, without scoring.
//!
//! Every list's documents set bits of a bitset of the segment's
//! documents; the count is the number of bits set (of live documents).
//! The bitsets are the searching thread's own and are kept between
//! queries. Sparse lists also mark each word they set in a summary (a bit
//! per 64 words, gathered in a register while a list's documents stay in
//! one summary word), and only the marked words are counted and then
//! cleared: such a query costs its postings and a 64th of a 64th of the
//! segment, not the segment's size. Dense lists scan and clear every word. (Segments of more than 33,554,432
//! documents get a bitset of their own per query, so that no thread keeps
//! one larger than 4 MiB.) Allocating, zeroing and counting a
//! bitset of the whole segment per query cost prose's small disjunctions
//! (a few hundred hits in 300,757 documents) about a tenth of their time,
//! and logs-big's (2 M documents, 250 KB of bitset) more.

use crate::error::Result;
use std::cell::RefCell;

thread_local! {
    /// This thread's bitset and its summary (all zero between uses).
    static SCRATCH: RefCell<(Vec<u64>, Vec<u64>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Words of the bitset per document of the lists at or under which every
/// word is counted: a word scanned costs about a tenth of one visited
/// through the summary (measured on logs-big's disjunctions, where lists
/// of one document per word took 1.7 times as long through the summary).
const DENSE: u64 = 8;

/// A bitset of `max_doc` documents, all zero, and its summary.
pub(crate) struct UnionBits<'a> {
    /// The words of `max_doc` documents.
    bits: &'a mut [u64],
    /// Bit `i` set when word `i` of `bits` may be non-zero.
    summary: &'a mut [u64],
    /// Whether the lists hold a document per [`DENSE`] words or more:
    /// then the summary is not kept and every word is counted and cleared,
    /// which costs less than visiting the marked words one by one.
    dense: bool,
}

impl UnionBits<'_> {
    /// Sets the bits of `docs`, ascending, each below the `max_doc` the
    /// bitset was made for (a document past its last word is ignored).
    #[inline]
    pub fn add(&mut self, docs: &[u32]) {
        if self.dense {
            for &d in docs {
                if let Some(word) = self.bits.get_mut(d as usize >> 6) {
                    *word |= 1u64 << (d & 63);
                }
            }
            return;
        }
        // The marks of a run of documents in one summary word are gathered
        // in a register and written once (a list's documents ascend).
        let (mut cur, mut marks) = (usize::MAX, 0u64);
        for &d in docs {
            let at = d as usize >> 6;
            let Some(word) = self.bits.get_mut(at) else {
                continue;
            };
            *word |= 1u64 << (d & 63);
            if at >> 6 != cur {
                self.mark(cur, marks);
                (cur, marks) = (at >> 6, 0);
            }
            marks |= 1u64 << (at & 63);
        }
        self.mark(cur, marks);
    }

    /// Sets `marks` in summary word `at` (none past the summary).
    #[inline]
    fn mark(&mut self, at: usize, marks: u64) {
        if let Some(m) = self.summary.get_mut(at) {
            *m |= marks;
        }
    }

    /// The indexes of the words the summary marks, in order.
    fn marked(summary: &[u64]) -> impl Iterator<Item = usize> + '_ {
        summary.iter().enumerate().flat_map(|(i, &m)| {
            let mut m = m;
            std::iter::from_fn(move || {
                (m != 0).then(|| {
                    let at = i * 64 + m.trailing_zeros() as usize;
                    m &= m - 1;
                    at
                })
            })
        })
    }

    /// The documents set, those for which `live` holds when it is given.
    pub fn count(&self, live: Option<&dyn Fn(u32) -> bool>) -> u64 {
        if self.dense {
            Self::count_words(self.bits.iter().copied().enumerate(), live)
        } else {
            let words = Self::marked(self.summary).map(|at| (at, self.bits[at]));
            Self::count_words(words, live)
        }
    }

    /// The bits set in `words` (index, word), of live documents when
    /// `live` is given.
    #[inline]
    fn count_words(
        words: impl Iterator<Item = (usize, u64)>,
        live: Option<&dyn Fn(u32) -> bool>,
    ) -> u64 {
        match live {
            None => words.map(|(_, w)| u64::from(w.count_ones())).sum(),
            Some(live) => {
                let mut n = 0u64;
                for (at, mut w) in words {
                    while w != 0 {
                        n += u64::from(live(at as u32 * 64 + w.trailing_zeros()));
                        w &= w - 1;
                    }
                }
                n
            }
        }
    }
}

impl Drop for UnionBits<'_> {
    /// Clears the words set and the summary, so both are all zero for the
    /// next use (also when the use ended in an error).
    fn drop(&mut self) {
        if self.dense {
            self.bits.fill(0);
        } else {
            for at in Self::marked(self.summary) {
                self.bits[at] = 0;
            }
            self.summary.fill(0);
        }
    }
}

/// Most words of a bitset a thread keeps (4 MiB, segments of up to
/// 33,554,432 documents): a larger segment's count allocates its own, so
/// no thread holds a large bitset after the query.
const KEEP_MAX_WORDS: usize = 1 << 19;

/// Words of the bitset and of its summary for `max_doc` documents.
fn sizes(max_doc: u32) -> (usize, usize) {
    let words = (max_doc as usize).div_ceil(64);
    (words, words.div_ceil(64))
}

/// Runs `f` with this thread's bitset made ready for `max_doc`
/// documents, into which lists of `postings` documents in all will be
/// added.
pub(crate) fn with_union_bits<T, F>(max_doc: u32, postings: u64, f: F) -> Result<T>
where
    F: FnOnce(&mut UnionBits<'_>) -> Result<T>,
{
    let (words, marks) = sizes(max_doc);
    let dense = postings.saturating_mul(DENSE) >= words as u64;
    // A bitset of its own for a segment too large to keep one for, or
    // when this thread's is in use further up its stack (not done today).
    let own = |f: F| {
        let (mut bits, mut summary) = (vec![0u64; words], vec![0u64; marks]);
        let mut union = UnionBits {
            bits: &mut bits,
            summary: &mut summary,
            dense,
        };
        f(&mut union)
    };
    if words > KEEP_MAX_WORDS {
        return own(f);
    }
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => {
            let (bits, summary) = &mut *scratch;
            if bits.len() < words {
                bits.resize(words, 0);
                summary.resize(marks, 0);
            }
            let mut union = UnionBits {
                bits: &mut bits[..words],
                summary: &mut summary[..marks],
                dense,
            };
            f(&mut union)
        }
        Err(_) => own(f),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lucerna_store::rng::SplitMix64;
    use std::collections::BTreeSet;

    /// Against a set: random lists over segments of several sizes in turn
    /// (so the kept bitset is reused, larger and smaller), with and
    /// without a live test; an error inside leaves the bitset clean.
    #[test]
    fn counts_like_a_set_and_leaves_no_bits_behind() {
        let mut rng = SplitMix64::new(9);
        for round in 0..300 {
            let max_doc = 1 + rng.below(if round % 3 == 0 { 200_000 } else { 3_000 }) as u32;
            let lists: Vec<Vec<u32>> = (0..1 + rng.below(4))
                .map(|_| {
                    let mut l: Vec<u32> = (0..rng.below(500))
                        .map(|_| rng.below(max_doc as u64) as u32)
                        .collect();
                    l.sort_unstable();
                    l.dedup();
                    l
                })
                .collect();
            let set: BTreeSet<u32> = lists.iter().flatten().copied().collect();
            let live = |d: u32| !d.is_multiple_of(3);
            let total = lists.iter().map(|l| l.len() as u64).sum();
            let (all, alive) = with_union_bits(max_doc, total, |u| {
                for l in &lists {
                    u.add(l);
                }
                Ok((u.count(None), u.count(Some(&live))))
            })
            .unwrap();
            assert_eq!(all, set.len() as u64, "round {round}");
            assert_eq!(alive, set.iter().filter(|&&d| live(d)).count() as u64);
            if round % 7 == 0 {
                let failed: Result<()> = with_union_bits(max_doc, total, |u| {
                    u.add(&lists[0]);
                    Err(crate::error::Error::Query("stop".into()))
                });
                assert!(failed.is_err());
            }
            // Nothing left set: an empty union counts 0.
            for postings in [0, u64::MAX] {
                let n = with_union_bits(max_doc, postings, |u| Ok(u.count(None)));
                assert_eq!(n.unwrap(), 0);
            }
        }
    }

    /// A segment above the kept size gets a bitset of its own, counted
    /// the same way.
    #[test]
    fn a_very_large_segment_gets_its_own_bitset() {
        let max_doc = (KEEP_MAX_WORDS as u32 + 1) * 64;
        for postings in [3, u64::MAX] {
            let n = with_union_bits(max_doc, postings, |u| {
                u.add(&[0, 5, max_doc - 1]);
                u.add(&[5, 70]);
                Ok(u.count(None))
            });
            assert_eq!(n.unwrap(), 4);
        }
        SCRATCH.with(|cell| assert!(cell.borrow().0.len() <= KEEP_MAX_WORDS));
    }

    #[test]
    fn documents_past_the_bitset_are_ignored() {
        let n = with_union_bits(10, 6, |u| {
            u.add(&[3, 3, 9, 64, 130, 1_000_000]);
            Ok(u.count(None))
        })
        .unwrap();
        assert_eq!(n, 2);
    }
}
