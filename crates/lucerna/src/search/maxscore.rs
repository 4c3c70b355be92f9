//! Top-k for a disjunction of terms with the MaxScore algorithm (Turtle &
//! Flood; Lucene's `MaxScoreBulkScorer`).
//!
//! Clauses are ordered by their maximum possible score. Once the top-k is
//! full with k-th score θ, the lowest clauses whose maximum scores sum to at
//! most θ are *non-essential*: a document matching only those cannot enter
//! the top-k, so candidates come from the *essential* clauses alone, and the
//! non-essential ones are only probed (`seek`) for those candidates, from
//! the highest bound down, stopping as soon as the candidate cannot reach
//! θ. With a query like `lord of the rings`, the postings of `of` and `the`
//! are then skipped through instead of walked doc by doc.
//!
//! The bounds are per *window* (as Lucene's `MaxScoreBulkScorer`): once the
//! top-k is full, documents are taken a window at a time, from the smallest
//! current document to the end of the sparsest clause's block there, and
//! each clause's bound in the window is the largest maximum impact of its
//! blocks overlapping the window. A window where even every clause
//! together cannot beat θ is skipped whole.
//!
//! A clause is *required* in a window when the other clauses' bounds
//! together cannot beat θ: a competitive document must hold it. With two
//! or more required clauses (`error OR invalid` once θ is above either
//! word's bound alone), candidates come from their intersection, led by
//! the rarest, and the other clauses are probed as non-essential ones
//! are (Lucene's `MaxScoreBulkScorer` does the same).
//!
//! Where three or more clauses are essential and they are dense, a
//! document at a time spends more on finding the next candidate (the
//! smallest document of every essential clause) and moving the clauses on
//! it than on scoring: then candidates are taken a window of documents at
//! a time, each essential clause scored in one loop over its decoded
//! blocks into the window's slots ([`ScoreWindow`], as Lucene's
//! `MaxScoreBulkScorer` does with several essential clauses).
//!
//! Scores are summed in the original clause order, so every hit's score is
//! bit-for-bit the one the plain disjunction scorer computes
//! (`tests/pruning.rs` checks pruned rankings against exhaustive ones).

use crate::error::Result;
use crate::index::segment_reader::SegmentReader;
use crate::search::collector::{DocAddress, TopK};
use crate::search::score_floor::score_floor;
use crate::search::score_window::{ScoreWindow, WINDOW};
use crate::search::scorer::{Candidates, Scorer, TermScorer, TERMINATED};

/// The exact total of a candidate is summed in clause order, a partial one
/// in another; this relative slack (tens of units in the last place)
/// covers the difference, so a document that may reach the k-th score is
/// still offered and the top k decides, and one passed surely cannot.
const SUM_ORDER_SLACK: f32 = 1e-5;

/// Essential clauses from which candidates are taken a [`ScoreWindow`]
/// at a time (when dense enough, see [`WINDOW_MIN_POSTINGS`]): with two,
/// logs-big's disjunctions measured 3 % slower that way than a document
/// at a time; with three or more (prose's longer disjunctions), up to
/// twice as fast.
const WINDOW_MIN_ESSENTIAL: usize = 3;

/// Postings the essential clauses must hold per [`ScoreWindow`] on
/// average (their documents over the segment's) for it to be used.
const WINDOW_MIN_POSTINGS: u64 = 16;

/// Blocks of the window's lead clause per window.
const WINDOW_BLOCKS: usize = 4;

/// Collects the best hits of the disjunction of `clauses` (one per query
/// clause, in query order; `None` for a clause absent from the segment) into
/// `top`. Counts nothing: the caller counts separately.
///
/// The loop takes one candidate document per turn; its phases (a new
/// window, skipping a window, scoring a candidate) are methods of
/// [`MaxScore`], which holds the clauses and their bounds.
pub(crate) fn collect_maxscore(
    seg: &SegmentReader,
    ord: u32,
    clauses: Vec<Option<TermScorer>>,
    top: &mut TopK,
) -> Result<()> {
    // Pruning may start from a floor under the k-th best score, found on
    // the rare clauses' documents (see `score_floor`).
    let floor = score_floor(seg, &clauses, top.k())?;
    let Some(mut m) = MaxScore::new(clauses) else {
        return Ok(());
    };
    let mut cands = Candidates::new();
    let mut window: Option<ScoreWindow> = None;
    loop {
        let theta = top.threshold().max(floor);
        let d = m.first_doc();
        if d == TERMINATED {
            return Ok(());
        }
        if theta > f32::NEG_INFINITY && (!m.windowed || d > m.window_end) {
            m.open_window(d, theta)?;
        }
        if !m.windowed {
            m.use_global_bounds();
        }
        while m.essential < m.order.len() && m.wbound[m.essential] <= theta {
            m.essential += 1;
        }
        if m.essential == m.order.len() {
            // Nothing in this window can beat the k-th score: skip it.
            if !m.windowed || m.window_end == TERMINATED {
                return Ok(());
            }
            m.leave_window(m.window_end + 1)?;
            continue;
        }
        if m.windowed && m.find_required(theta) {
            // Every document that can compete holds the required
            // clauses: candidates come from their intersection.
            let d = m.next_required(m.window_end)?;
            if d == TERMINATED {
                return Ok(());
            }
            if d > m.window_end {
                m.leave_window(m.window_end.saturating_add(1))?;
                continue;
            }
            let competes = m.score_required(d, theta)?;
            m.offer(competes, seg, ord, d, top);
            m.advance_required()?;
            continue;
        }
        if m.collect_lone_essential(seg, ord, theta, top, &mut cands)? {
            if top.threshold().max(floor) > theta {
                m.essential = 0;
            }
            continue;
        }
        let d = m.next_candidate();
        if d == TERMINATED {
            return Ok(());
        }
        if m.windowed && d > m.window_end {
            // The essential clauses are done with this window; documents of
            // the non-essential ones alone cannot compete there.
            m.leave_window(m.window_end.saturating_add(1))?;
            continue;
        }
        if m.windowed
            && m.order.len() - m.essential >= WINDOW_MIN_ESSENTIAL
            && m.dense_essentials(seg.max_doc())
        {
            let window = window.get_or_insert_with(|| ScoreWindow::new(m.sc.len()));
            m.collect_essential_window(d, window, seg, ord, floor, top)?;
            if top.threshold().max(floor) > theta {
                m.essential = 0;
            }
            continue;
        }
        let competes = m.score_candidate(d, theta)?;
        m.offer(competes, seg, ord, d, top);
        m.advance_essentials(d)?;
        if top.threshold().max(floor) > theta && m.windowed {
            // θ rose: the partition may move up within the window.
            m.essential = 0;
        }
    }
}

/// The state of [`collect_maxscore`]: the clauses, their global and
/// window bounds, and the essential / non-essential partition.
struct MaxScore {
    /// (original clause index, scorer), ascending by max score.
    sc: Vec<(usize, TermScorer)>,
    /// bound[i] = sum of max scores of sc[0..=i].
    bound: Vec<f32>,
    /// The current candidate's score per original clause.
    scores: Vec<f32>,
    /// Per window: (window bound, position in `sc`), ascending.
    order: Vec<(f32, usize)>,
    /// The prefix sums of `order`'s bounds.
    wbound: Vec<f32>,
    /// `order[..essential]` are the non-essential clauses.
    essential: usize,
    /// Positions in `order` of the clauses every competitive document of
    /// the window must hold (see [`find_required`](Self::find_required)),
    /// the rarest first; and the prefix sums of the other clauses' window
    /// bounds, in `order`'s order.
    required: Vec<usize>,
    optional_bound: Vec<f32>,
    /// The window count and k-th score `required` was found for.
    required_for: Option<(u64, u32)>,
    /// Windows opened so far.
    windows: u64,
    /// Whether the essential clauses are dense enough to be scored a
    /// [`ScoreWindow`] at a time, found for this window count and
    /// partition (see [`dense_essentials`](Self::dense_essentials)).
    dense: bool,
    dense_for: Option<(u64, usize)>,
    /// The original clause index of each essential clause, in the order
    /// they are added to a [`ScoreWindow`].
    window_to: Vec<usize>,
    /// The last document of the current window.
    window_end: u32,
    /// Until the top-k is full (θ = −∞) every clause is essential and the
    /// global bounds serve; after that, windows of documents are processed
    /// with each clause's block bound over the window.
    windowed: bool,
}

impl MaxScore {
    /// The clauses present, ordered by their maximum scores; `None` when
    /// there is none.
    fn new(clauses: Vec<Option<TermScorer>>) -> Option<MaxScore> {
        let mut sc: Vec<(usize, TermScorer)> = clauses
            .into_iter()
            .enumerate()
            .filter_map(|(i, s)| s.map(|s| (i, s)))
            .collect();
        if sc.is_empty() {
            return None;
        }
        let n_clauses = sc.iter().map(|(i, _)| i + 1).max().unwrap_or(0);
        sc.sort_by(|a, b| {
            a.1.max_score()
                .total_cmp(&b.1.max_score())
                .then(a.0.cmp(&b.0))
        });
        let mut bound = Vec::with_capacity(sc.len());
        let mut acc = 0.0f32;
        for (_, s) in &sc {
            acc += s.max_score();
            bound.push(acc);
        }
        Some(MaxScore {
            order: Vec::with_capacity(sc.len()),
            wbound: Vec::with_capacity(sc.len()),
            scores: vec![0.0f32; n_clauses],
            required: Vec::with_capacity(sc.len()),
            optional_bound: Vec::with_capacity(sc.len()),
            required_for: None,
            windows: 0,
            dense: false,
            dense_for: None,
            window_to: Vec::with_capacity(sc.len()),
            sc,
            bound,
            essential: 0,
            window_end: 0,
            windowed: false,
        })
    }

    /// The smallest current document of any clause.
    fn first_doc(&self) -> u32 {
        let mut d = TERMINATED;
        for (_, s) in &self.sc {
            d = d.min(s.doc());
        }
        d
    }

    /// A new window from `d` to the end of the block of the sparsest
    /// clause that still has documents (its blocks span the most
    /// documents, so windows stay large); each clause is bounded by the
    /// largest block bound it has within the window.
    fn open_window(&mut self, d: u32, theta: f32) -> Result<()> {
        let sc = &mut self.sc;
        let lead = sc
            .iter()
            .enumerate()
            .filter(|(_, (_, s))| s.doc() != TERMINATED)
            .min_by_key(|(_, (_, s))| s.cost())
            .map_or(0, |(j, _)| j);
        // Several of the lead's blocks per window: a window's set-up
        // (block walks, the sort) is paid per window, not per block.
        let mut window_end = sc[lead].1.shallow_seek(d)?;
        for _ in 1..WINDOW_BLOCKS {
            if window_end == TERMINATED {
                break;
            }
            let next = sc[lead].1.shallow_seek(window_end + 1)?;
            if next == TERMINATED {
                break;
            }
            window_end = next;
        }
        // Clauses non-essential by their global bounds stay so with
        // tighter ones: they keep the global bound (no block walk).
        let mut global = 0;
        while global < sc.len() && self.bound[global] <= theta {
            global += 1;
        }
        self.order.clear();
        for (j, (_, s)) in sc.iter_mut().enumerate() {
            let b = if j < global {
                s.max_score()
            } else {
                window_max(s, d, window_end)?
            };
            self.order.push((b, j));
        }
        self.order
            .sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        self.wbound.clear();
        let mut acc = 0.0f32;
        for (b, _) in &self.order {
            acc += *b;
            self.wbound.push(acc);
        }
        self.window_end = window_end;
        self.windowed = true;
        self.windows += 1;
        self.essential = 0;
        Ok(())
    }

    /// Top-k not full yet: every clause, global bounds.
    fn use_global_bounds(&mut self) {
        if self.order.len() != self.sc.len() {
            self.order = (0..self.sc.len()).map(|j| (self.bound[j], j)).collect();
            self.wbound = self.bound.clone();
        }
    }

    /// Moves every clause to `next` or beyond, leaving the window.
    fn leave_window(&mut self, next: u32) -> Result<()> {
        for (_, s) in self.sc.iter_mut() {
            if s.doc() < next {
                s.seek(next)?;
            }
        }
        self.windowed = false;
        Ok(())
    }

    /// Finds the clauses without which no document of the window can beat
    /// `theta`: those whose window bound, taken away, leaves a sum of the
    /// others' at most `theta` (summed on their own and a millionth wider,
    /// so that no order of adding the scores can round above it; Lucene's
    /// `MaxScoreBulkScorer` calls them required). True when there are two
    /// or more; a lone one is not kept (its documents are no fewer
    /// candidates than the essential clauses').
    fn find_required(&mut self, theta: f32) -> bool {
        // Found once per window and k-th score.
        let key = (self.windows, theta.to_bits());
        if self.required_for == Some(key) {
            return !self.required.is_empty();
        }
        self.required_for = Some(key);
        self.required.clear();
        for (k, &(_, j)) in self.order.iter().enumerate() {
            let rest: f32 = self
                .order
                .iter()
                .filter(|&&(_, i)| i != j)
                .map(|&(b, _)| b)
                .sum();
            if rest * 1.000_001 <= theta {
                self.required.push(k);
            }
        }
        if self.required.len() < 2 {
            // One required clause gives no fewer candidates than the
            // essential ones, which hold it.
            self.required.clear();
            return false;
        }
        let sc = &self.sc;
        let order = &self.order;
        self.required.sort_by_key(|&k| sc[order[k].1].1.cost());
        self.optional_bound.clear();
        let mut acc = 0.0f32;
        for (k, &(b, _)) in self.order.iter().enumerate() {
            if !self.required.contains(&k) {
                acc += b;
            }
            self.optional_bound.push(acc);
        }
        true
    }

    /// The first document, from the required clauses' current ones on,
    /// that every required clause holds, moving them there (leapfrog,
    /// led by the rarest); [`TERMINATED`] when one runs out. Stops past
    /// `last` (returning where it stopped).
    fn next_required(&mut self, last: u32) -> Result<u32> {
        let mut d = 0;
        for &k in &self.required {
            d = d.max(self.sc[self.order[k].1].1.doc());
        }
        'align: loop {
            if d == TERMINATED || d > last {
                return Ok(d);
            }
            for &k in &self.required {
                let s = &mut self.sc[self.order[k].1].1;
                let x = if s.doc() < d { s.seek(d)? } else { s.doc() };
                if x != d {
                    d = x;
                    continue 'align;
                }
            }
            return Ok(d);
        }
    }

    /// Scores `d`, which every required clause holds, into `scores`: the
    /// required clauses, then the others from the highest window bound
    /// down, each moved to `d`, while `d` can still beat `theta`. False
    /// when it cannot.
    fn score_required(&mut self, d: u32, theta: f32) -> Result<bool> {
        let mut partial = 0.0f32;
        for &k in &self.required {
            let (i, s) = &mut self.sc[self.order[k].1];
            let v = s.score()?;
            self.scores[*i] = v;
            partial += v;
        }
        for k in (0..self.order.len()).rev() {
            if self.required.contains(&k) {
                continue;
            }
            if partial + self.optional_bound[k] <= theta {
                return Ok(false);
            }
            partial += self.probe(self.order[k].1, d)?;
        }
        Ok(true)
    }

    /// Moves the rarest required clause past the candidate (the others
    /// follow it at the next [`next_required`](Self::next_required)).
    fn advance_required(&mut self) -> Result<()> {
        if let Some(&k) = self.required.first() {
            self.sc[self.order[k].1].1.advance()?;
        }
        Ok(())
    }

    /// The next candidate: the smallest document of an essential clause.
    fn next_candidate(&self) -> u32 {
        let mut d = TERMINATED;
        for &(_, j) in &self.order[self.essential..] {
            d = d.min(self.sc[j].1.doc());
        }
        d
    }

    /// Scores `d` into `scores`: the essential clauses on it, then the
    /// non-essential ones, highest bound first, while `d` can still reach
    /// the top-k. False when it cannot.
    fn score_candidate(&mut self, d: u32, theta: f32) -> Result<bool> {
        let mut partial = 0.0f32;
        for &(_, j) in &self.order[self.essential..] {
            let (i, s) = &mut self.sc[j];
            if s.doc() == d {
                let v = s.score()?;
                self.scores[*i] = v;
                partial += v;
            }
        }
        self.score_non_essential(d, partial, theta)
    }

    /// Adds the non-essential clauses' scores of `d` to `scores` (the
    /// essential ones summing to `partial`), highest bound first, each
    /// moved to `d`, while `d` can still beat `theta`. False when it
    /// cannot.
    fn score_non_essential(&mut self, d: u32, mut partial: f32, theta: f32) -> Result<bool> {
        for e in (0..self.essential).rev() {
            if partial + self.wbound[e] <= theta {
                return Ok(false);
            }
            partial += self.probe(self.order[e].1, d)?;
        }
        Ok(partial * (1.0 + SUM_ORDER_SLACK) > theta)
    }

    /// Moves clause `j` (of `sc`) to `d` when it is behind; when it holds
    /// `d`, records its score in `scores` and returns it, else 0.
    fn probe(&mut self, j: usize, d: u32) -> Result<f32> {
        if self.clause_at(j, d)? != d {
            return Ok(0.0);
        }
        let (i, s) = &mut self.sc[j];
        let v = s.score()?;
        self.scores[*i] = v;
        Ok(v)
    }

    /// With one essential clause, inside the window: its decoded block up
    /// to the window's end is scored in one loop that keeps, without
    /// branching on the scores, the documents whose score with the
    /// non-essential clauses' bounds may beat `theta`; those are completed
    /// and offered to `top`. Then the clause moves past them. False (and
    /// nothing done) when the case does not apply.
    fn collect_lone_essential(
        &mut self,
        seg: &SegmentReader,
        ord: u32,
        theta: f32,
        top: &mut TopK,
        cands: &mut Candidates,
    ) -> Result<bool> {
        if !self.windowed || self.essential == 0 || self.essential + 1 != self.order.len() {
            return Ok(false);
        }
        let j = self.order[self.essential].1;
        if self.sc[j].1.doc() > self.window_end {
            return Ok(false);
        }
        if self.order[self.essential].0 <= theta {
            return self.collect_led_by_non_essential(j, seg, ord, theta, top);
        }
        let rest = self.rest_bound(j)?;
        let looked = self.sc[j]
            .1
            .block_candidates(self.window_end, rest, theta, cands);
        let mut at = 0;
        for c in 0..cands.len {
            let offset = usize::from(cands.offsets[c]);
            let v = cands.scores[c];
            if v * (1.0 + SUM_ORDER_SLACK) <= theta {
                // It cannot compete on its own score: only with a
                // non-essential clause that holds it (each moved to it,
                // never past it; most are already past it).
                let d = self.sc[j].1.block_docs()[offset - at];
                if !self.non_essential_holds(d)? {
                    continue;
                }
            }
            let d = self.sc[j].1.postings_mut().advance_in_block(offset - at)?;
            at = offset;
            self.scores[self.sc[j].0] = v;
            let competes = self.score_non_essential(d, v, theta)?;
            self.offer(competes, seg, ord, d, top);
        }
        self.sc[j].1.postings_mut().advance_in_block(looked - at)?;
        Ok(true)
    }

    /// The lone essential clause `j` cannot beat `theta` on its own in
    /// this window (its window bound is at most `theta`; a document's
    /// total of one clause is that clause's score, bit for bit), so only
    /// its documents that a non-essential clause also holds may compete:
    /// the next document of any non-essential clause leads. `j` is sought
    /// to it and, when it holds it, the document is scored and offered;
    /// then the clauses on it move past it. With none left in the window,
    /// `j` moves past the window. One document per call; always true.
    fn collect_led_by_non_essential(
        &mut self,
        j: usize,
        seg: &SegmentReader,
        ord: u32,
        theta: f32,
        top: &mut TopK,
    ) -> Result<bool> {
        let from = self.sc[j].1.doc();
        let mut d = TERMINATED;
        for e in 0..self.essential {
            d = d.min(self.clause_at(self.order[e].1, from)?);
        }
        if d == TERMINATED || d > self.window_end {
            // None left in the window (or at all: then `j` runs out too).
            self.sc[j].1.seek(self.window_end.saturating_add(1))?;
            return Ok(true);
        }
        if self.sc[j].1.seek(d)? == d {
            let v = self.sc[j].1.score()?;
            self.scores[self.sc[j].0] = v;
            let competes = self.score_non_essential(d, v, theta)?;
            self.offer(competes, seg, ord, d, top);
        }
        // (A document only non-essential clauses hold scores at most
        // their bounds' sum, which is at most `theta`.)
        for &(_, k) in &self.order[..self.essential] {
            let s = &mut self.sc[k].1;
            if s.doc() == d {
                s.advance()?;
            }
        }
        Ok(true)
    }

    /// Whether a non-essential clause holds `d`, each moved to it when
    /// behind (as a probe moves it).
    fn non_essential_holds(&mut self, d: u32) -> Result<bool> {
        let mut held = false;
        for e in 0..self.essential {
            held |= self.clause_at(self.order[e].1, d)? == d;
        }
        Ok(held)
    }

    /// Moves clause `k` (of `sc`) to `x` when it is behind; returns its
    /// document.
    #[inline]
    fn clause_at(&mut self, k: usize, x: u32) -> Result<u32> {
        let s = &mut self.sc[k].1;
        if s.doc() < x {
            s.seek(x)?;
        }
        Ok(s.doc())
    }

    /// What the non-essential clauses may add to a document of the lone
    /// essential clause `j`'s decoded block (up to the window's end): the
    /// sum of their window bounds, ascending as `wbound` sums them, of
    /// those that hold a document there. Each is first moved to the
    /// block's current document (every later candidate lies beyond it),
    /// so a sparse clause whose next document lies past the block adds
    /// nothing: its window bound spans many of the essential clause's
    /// blocks, most of which it has no document in.
    fn rest_bound(&mut self, j: usize) -> Result<f32> {
        let (from, last) = {
            let docs = self.sc[j].1.block_docs();
            match (docs.first(), docs.last()) {
                (Some(&f), Some(&l)) => (f, l.min(self.window_end)),
                _ => return Ok(self.wbound[self.essential - 1]),
            }
        };
        let mut rest = 0.0f32;
        for e in 0..self.essential {
            let (b, k) = self.order[e];
            if self.clause_at(k, from)? <= last {
                rest += b;
            }
        }
        Ok(rest)
    }

    /// Offers candidate `d` of segment `ord` to `top` with its total when
    /// it `competes` and is live, then clears the scores for the next.
    fn offer(&mut self, competes: bool, seg: &SegmentReader, ord: u32, d: u32, top: &mut TopK) {
        if competes && seg.is_live(d) {
            top.push(
                self.total(),
                DocAddress {
                    segment: ord,
                    doc: d,
                },
            );
        }
        self.scores.fill(0.0);
    }

    /// The exact score of the candidate, summed in clause order as the
    /// disjunction scorer does (absent clauses add 0.0, which changes
    /// nothing).
    fn total(&self) -> f32 {
        let mut total = 0.0f32;
        for v in &self.scores {
            total += *v;
        }
        total
    }

    /// Whether the essential clauses hold, on average, enough documents
    /// per [`ScoreWindow`] of a segment of `max_doc` documents for
    /// scoring them a clause at a time to pay: a window's set-up and its
    /// walk over the bitset cost more than a few candidates taken one at
    /// a time.
    fn dense_essentials(&mut self, max_doc: u32) -> bool {
        let key = (self.windows, self.essential);
        if self.dense_for != Some(key) {
            let postings: u64 = self.order[self.essential..]
                .iter()
                .map(|&(_, j)| self.sc[j].1.cost())
                .sum();
            self.dense = postings.saturating_mul(WINDOW as u64)
                >= u64::from(max_doc).saturating_mul(WINDOW_MIN_POSTINGS);
            self.dense_for = Some(key);
        }
        self.dense
    }

    /// With [`WINDOW_MIN_ESSENTIAL`] or more essential clauses, dense
    /// enough, inside the window: their
    /// documents from `d` (the smallest) to the end of a [`ScoreWindow`]
    /// (or of this window, when that comes first) are scored a clause at
    /// a time into `window`, and the clauses move past them. Then each
    /// document there whose partial score with the non-essential clauses'
    /// bounds may beat the k-th score is completed (as
    /// [`score_candidate`](Self::score_candidate) completes one, with the
    /// same partial score bit for bit) and offered to `top`.
    #[inline(never)]
    fn collect_essential_window(
        &mut self,
        d: u32,
        window: &mut ScoreWindow,
        seg: &SegmentReader,
        ord: u32,
        floor: f32,
        top: &mut TopK,
    ) -> Result<()> {
        window.start(d);
        let last = window.last().min(self.window_end);
        for &(_, j) in &self.order[self.essential..] {
            window.next_clause();
            self.sc[j].1.add_to_window(last, window)?;
        }
        self.window_to.clear();
        let (order, sc) = (&self.order[self.essential..], &self.sc);
        self.window_to.extend(order.iter().map(|&(_, j)| sc[j].0));
        let others = match self.essential.checked_sub(1) {
            Some(e) => self.wbound[e],
            None => 0.0,
        };
        loop {
            let theta = top.threshold().max(floor);
            // A looser test than the one `score_non_essential` makes
            // (the partial may be summed a few units in the last place
            // below the exact total): it only passes over the documents
            // that one would refuse.
            let loose = theta * (1.0 - 2.0 * SUM_ORDER_SLACK);
            let to = &self.window_to;
            let Some((c, partial)) = window.take_above(others, loose, to, &mut self.scores) else {
                return Ok(());
            };
            let competes = self.score_non_essential(c, partial, theta)?;
            self.offer(competes, seg, ord, c, top);
        }
    }

    /// Moves the essential clauses on `d` past it.
    fn advance_essentials(&mut self, d: u32) -> Result<()> {
        for &(_, j) in &self.order[self.essential..] {
            let s = &mut self.sc[j].1;
            if s.doc() == d {
                s.advance()?;
            }
        }
        Ok(())
    }
}

/// The largest block bound of `s` over the documents `from..=to`: its
/// blocks overlapping the window, walked by their skip entries (no
/// decoding of documents). Moves only the block-max cursor.
fn window_max(s: &mut TermScorer, from: u32, to: u32) -> Result<f32> {
    let mut max = 0.0f32;
    let mut target = from;
    loop {
        let last = s.shallow_seek(target)?;
        if last == TERMINATED {
            return Ok(max);
        }
        max = max.max(s.block_max_score());
        if last >= to {
            return Ok(max);
        }
        target = last + 1;
    }
}
