//! Scores of several clauses over a window of documents, gathered a
//! clause at a time: what [`maxscore`](super::maxscore) does when three
//! or more dense clauses are essential (Lucene's `MaxScoreBulkScorer`
//! does the same with several essential clauses).
//!
//! Taking candidates a document at a time, the smallest current
//! document of every essential clause is found, each clause on it is
//! scored and moved on, and the non-essential ones are probed: with five
//! essential clauses (`new york times best sellers list`, where any two
//! words may reach the k-th score) that bookkeeping cost more than the
//! scores. Here each essential clause's decoded blocks are scored in one
//! loop, up to the end of a window of [`WINDOW`] documents: the score
//! goes into the document's slot of the window, once summed in the
//! clauses' order (the candidate's partial score, bit for bit the one the
//! document-at-a-time loop sums) and once per clause (so that the exact
//! total can be summed in query order), and the document's bit is set.
//! Then the set bits are visited in document order, each a candidate.

/// Documents per window.
pub(crate) const WINDOW: usize = 2048;

const WORDS: usize = WINDOW / 64;

/// The scores of a window's documents, all zero between windows.
pub(crate) struct ScoreWindow {
    /// The window's first document.
    base: u32,
    /// Per slot: the scores added so far, summed in the order they came.
    partial: Vec<f32>,
    /// Per clause (in the order they are added), per slot: its score.
    by_clause: Vec<f32>,
    /// Slots holding a document of some clause.
    bits: [u64; WORDS],
    /// Clauses added to this window.
    clauses: usize,
    /// The words of `bits` before this one are all zero.
    word: usize,
}

impl ScoreWindow {
    /// An empty window with room for `clauses` clauses.
    pub(crate) fn new(clauses: usize) -> Self {
        ScoreWindow {
            base: 0,
            partial: vec![0.0; WINDOW],
            by_clause: vec![0.0; WINDOW * clauses],
            bits: [0; WORDS],
            clauses: 0,
            word: 0,
        }
    }

    /// Starts a window at document `base` (the window must be empty: a
    /// new one, or one whose candidates were all taken).
    pub(crate) fn start(&mut self, base: u32) {
        debug_assert!(self.bits.iter().all(|&w| w == 0));
        self.base = base;
        self.clauses = 0;
        self.word = 0;
    }

    /// The window's last document.
    pub(crate) fn last(&self) -> u32 {
        self.base.saturating_add(WINDOW as u32 - 1)
    }

    /// Starts the next clause's scores (making room for them when the
    /// window was made for fewer clauses).
    pub(crate) fn next_clause(&mut self) {
        self.clauses += 1;
        let need = self.clauses * WINDOW;
        if self.by_clause.len() < need {
            self.by_clause.resize(need, 0.0);
        }
    }

    /// Adds the current clause's `scores` of `docs` (ascending, each in
    /// the window; a document outside it is ignored).
    #[inline]
    pub(crate) fn add(&mut self, docs: &[u32], scores: impl Iterator<Item = f32>) {
        let Some(c) = self.clauses.checked_sub(1) else {
            return;
        };
        let own = &mut self.by_clause[c * WINDOW..(c + 1) * WINDOW];
        for (&d, s) in docs.iter().zip(scores) {
            let slot = d.wrapping_sub(self.base) as usize;
            if let (Some(p), Some(o)) = (self.partial.get_mut(slot), own.get_mut(slot)) {
                *p += s;
                *o = s;
                self.bits[slot >> 6] |= 1u64 << (slot & 63);
            }
        }
    }

    /// Takes the window's next candidate (the smallest document left), as
    /// [`take_above`](Self::take_above) with no bound.
    #[cfg(test)]
    pub(crate) fn take(&mut self, to: &[usize], scores: &mut [f32]) -> Option<(u32, f32)> {
        self.take_above(0.0, f32::NEG_INFINITY, to, scores)
    }

    /// Takes the window's next candidate (the smallest document left)
    /// whose partial score plus `others` may beat `theta`: its id and
    /// partial score, its clauses' scores written to `scores` (clause `c`
    /// of the window to `scores[to[c]]`, 0 where it does not hold the
    /// document). The slots of the candidate and of those passed over
    /// before it are cleared. `None` once the window is empty.
    #[inline]
    pub(crate) fn take_above(
        &mut self,
        others: f32,
        theta: f32,
        to: &[usize],
        scores: &mut [f32],
    ) -> Option<(u32, f32)> {
        loop {
            let w = self.first_word()?;
            let slot = w * 64 + self.bits[w].trailing_zeros() as usize;
            self.bits[w] &= self.bits[w] - 1;
            let partial = std::mem::take(&mut self.partial[slot]);
            let competes = partial + others > theta;
            for c in 0..self.clauses {
                let v = std::mem::take(&mut self.by_clause[c * WINDOW + slot]);
                if let Some(s) = to
                    .get(c)
                    .and_then(|&i| scores.get_mut(i))
                    .filter(|_| competes)
                {
                    *s = v;
                }
            }
            if competes {
                return Some((self.base + slot as u32, partial));
            }
        }
    }

    /// The first non-zero word of `bits` (candidates are only taken, so
    /// the search goes on from the last one found).
    fn first_word(&mut self) -> Option<usize> {
        while let Some(&w) = self.bits.get(self.word) {
            if w != 0 {
                return Some(self.word);
            }
            self.word += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lucerna_store::rng::SplitMix64;
    use std::collections::BTreeMap;

    /// Random clauses' documents come out once each, ascending, with the
    /// partial summed in the order the clauses came and each clause's
    /// score where it should go; the window is empty after.
    #[test]
    fn candidates_match_a_model() {
        for seed in 0..50u64 {
            let mut rng = SplitMix64::new(seed);
            let clauses = 1 + rng.below(5) as usize;
            let mut w = ScoreWindow::new(clauses);
            for round in 0..3u32 {
                let base = 1000 * round + rng.below(500) as u32;
                w.start(base);
                let mut want: BTreeMap<u32, (f32, Vec<f32>)> = BTreeMap::new();
                for c in 0..clauses {
                    w.next_clause();
                    let mut docs: Vec<u32> = (0..rng.below(300))
                        .map(|_| base + rng.below(WINDOW as u64) as u32)
                        .collect();
                    docs.sort_unstable();
                    docs.dedup();
                    let scores: Vec<f32> = docs
                        .iter()
                        .map(|_| 0.5 + rng.below(1000) as f32 / 7.0)
                        .collect();
                    for (&d, &s) in docs.iter().zip(&scores) {
                        let e = want.entry(d).or_insert((0.0, vec![0.0; clauses]));
                        e.0 += s;
                        e.1[c] = s;
                    }
                    // A document past the window is ignored.
                    let mut with_outside = docs.clone();
                    with_outside.push(w.last() + 1);
                    let mut s2 = scores.clone();
                    s2.push(99.0);
                    w.add(&with_outside, s2.into_iter());
                }
                let to: Vec<usize> = (0..clauses).rev().collect();
                let mut scores = vec![0.0f32; clauses];
                for (&d, (p, per)) in &want {
                    let (got, partial) = w.take(&to, &mut scores).expect("a candidate");
                    assert_eq!(got, d, "seed {seed}");
                    assert_eq!(
                        partial.to_bits(),
                        p.to_bits(),
                        "seed {seed}: partial of {d}"
                    );
                    for c in 0..clauses {
                        assert_eq!(scores[to[c]], per[c], "seed {seed}: clause {c} of {d}");
                    }
                }
                assert!(w.take(&to, &mut scores).is_none(), "seed {seed}: emptied");
            }
        }
    }

    /// `take_above` passes (and clears) exactly the candidates whose
    /// partial plus the others' bound cannot beat θ.
    #[test]
    fn take_above_passes_only_those_that_cannot_compete() {
        // Made for one clause: the second makes room for itself.
        let mut w = ScoreWindow::new(1);
        w.start(100);
        w.next_clause();
        w.add(&[100, 105, 3000], [1.0, 5.0, 9.0].into_iter());
        w.next_clause();
        w.add(&[105, 110], [1.0, 2.0].into_iter());
        let mut scores = [0.0f32; 2];
        assert_eq!(
            w.take_above(1.0, 3.5, &[0, 1], &mut scores),
            Some((105, 6.0))
        );
        assert_eq!(scores, [5.0, 1.0]);
        assert_eq!(w.take_above(1.0, 3.5, &[0, 1], &mut scores), None);
        // Everything was cleared: a new window starts empty.
        w.start(0);
        assert_eq!(w.take(&[0, 1], &mut scores), None);
    }
}
