//! Document-at-a-time scorers: term, conjunction (leapfrog skipping),
//! disjunction, exclusion, phrase (exact and sloppy), constant-score doc sets.
//!
//! Every scorer is positioned on its current document (`doc()`), or on
//! [`TERMINATED`] when exhausted; `advance` and `seek` move forward only.

use crate::error::Result;
use crate::search::bm25::Bm25;
use crate::search::collector::{DocAddress, TopK};
use crate::search::score_window::ScoreWindow;
use lucerna_codec::bitpack::BLOCK;
use lucerna_codec::postings::SegmentPostings;
use std::sync::Arc;

/// The doc id of an exhausted scorer.
pub const TERMINATED: u32 = u32::MAX;

/// A cursor over matching documents that can score the current one.
pub trait Scorer: Send {
    /// The current document, or [`TERMINATED`].
    fn doc(&self) -> u32;
    /// Moves to the next match.
    fn advance(&mut self) -> Result<u32>;
    /// Moves to the first match ≥ `target` (no-op when already there).
    fn seek(&mut self, target: u32) -> Result<u32>;
    /// Score of the current document.
    fn score(&mut self) -> Result<f32>;
    /// An upper bound of every score this scorer can produce.
    fn max_score(&self) -> f32;
    /// Moves block-max data to the block holding `target` without moving
    /// the cursor; returns the last doc up to which
    /// [`block_max_score`](Scorer::block_max_score) holds.
    fn shallow_seek(&mut self, _target: u32) -> Result<u32> {
        Ok(TERMINATED)
    }
    /// Upper bound of scores of docs up to the last `shallow_seek` boundary.
    fn block_max_score(&self) -> f32 {
        self.max_score()
    }
    /// A coarser bound than [`shallow_seek`](Scorer::shallow_seek)'s, for
    /// skipping many blocks at once: the last doc of a range of blocks
    /// holding the first match ≥ `target` ([`TERMINATED`] past the last),
    /// and an upper bound of every score in it. Moves nothing. `None` when
    /// the scorer keeps no such ranges (the default).
    fn shallow_seek_group(&mut self, _target: u32) -> Result<Option<(u32, f32)>> {
        Ok(None)
    }
    /// An estimate of the number of matches (for ordering clauses).
    fn cost(&self) -> u64;
}

/// Norms of one field of one segment (one byte per doc).
#[derive(Clone)]
pub struct NormSource {
    bytes: Option<lucerna_store::FileSlice>,
}

impl NormSource {
    /// From a byte per document, or `None` (every doc gets norm 0).
    pub fn new(bytes: Option<lucerna_store::FileSlice>) -> Self {
        NormSource { bytes }
    }
    #[inline]
    fn get(&self, doc: u32) -> u8 {
        match &self.bytes {
            Some(b) => b.get(doc as usize).copied().unwrap_or(0),
            None => 0,
        }
    }
}

/// The bound `bm25` gives the block under `postings`' block-max cursor,
/// which ends at `last` (0 past the last block; the global bound when the
/// block has no impacts).
fn block_bound(postings: &SegmentPostings, last: u32, bm25: &Bm25) -> f32 {
    if last == TERMINATED {
        return 0.0;
    }
    let impacts = postings.block_impacts();
    if impacts.is_empty() {
        return bm25.max_score();
    }
    bm25.impacts_bound(impacts)
}

/// The group of `postings`' blocks holding the first document ≥ `target`:
/// its last document and the bound `bm25` gives its impacts (`None` when
/// the term keeps no group impacts).
fn group_bound(
    postings: &mut SegmentPostings,
    target: u32,
    bm25: &Bm25,
) -> Result<Option<(u32, f32)>> {
    Ok(postings
        .shallow_seek_group(target)?
        .map(|g| (g.last_doc, bm25.impacts_bound(g.impacts))))
}

/// Scores one term's postings with BM25. A clone is an independent
/// cursor at the same place.
#[derive(Clone)]
pub struct TermScorer {
    postings: SegmentPostings,
    bm25: Arc<Bm25>,
    norms: NormSource,
    block_max: f32,
    /// The last group [`shallow_seek_group`](Scorer::shallow_seek_group)
    /// found: `(from, last, bound)` answers every target in `from..=last`
    /// (no group holds a document in `from..` before this one). Empty
    /// (`from > last`) at first.
    group: (u32, u32, f32),
}

/// Documents of a decoded block that may compete, as
/// [`TermScorer::block_candidates`] finds them.
pub(crate) struct Candidates {
    /// Offsets from the cursor's document, ascending.
    pub(crate) offsets: [u8; BLOCK],
    /// Their scores.
    pub(crate) scores: [f32; BLOCK],
    /// How many there are.
    pub(crate) len: usize,
}

impl Candidates {
    pub(crate) fn new() -> Self {
        Candidates {
            offsets: [0; BLOCK],
            scores: [0.0; BLOCK],
            len: 0,
        }
    }
}
impl TermScorer {
    /// A scorer over `postings`.
    pub fn new(postings: SegmentPostings, bm25: Arc<Bm25>, norms: NormSource) -> Self {
        let block_max = bm25.max_score();
        TermScorer {
            postings,
            bm25,
            norms,
            block_max,
            group: (1, 0, 0.0),
        }
    }
    /// The postings cursor (for phrase matching).
    pub fn postings_mut(&mut self) -> &mut SegmentPostings {
        &mut self.postings
    }
    /// Term frequency in the current document.
    pub fn freq(&self) -> u32 {
        self.postings.freq()
    }

    /// The score of document `doc` at frequency `freq`, bit for bit as
    /// [`score`](Scorer::score) computes it on that document.
    #[inline]
    pub(crate) fn score_at(&self, doc: u32, freq: u32) -> f32 {
        self.bm25.score(freq, self.norms.get(doc))
    }

    /// Scores the documents of the loaded block from the current one on,
    /// in one loop over the decoded block, and offers to `top` those that
    /// are `live` and beat its k-th score (as [`score`](Scorer::score)
    /// computes them, bit for bit); then moves to the next block and
    /// returns its first document. An equal score never displaces an
    /// earlier hit, so only higher ones are offered.
    pub(crate) fn collect_block(
        &mut self,
        live: impl Fn(u32) -> bool,
        segment: u32,
        top: &mut TopK,
    ) -> Result<u32> {
        let mut theta = top.threshold();
        let (docs, freqs) = self.postings.block_rest();
        for (&doc, &f) in docs.iter().zip(freqs) {
            let s = self.score_at(doc, f);
            if s > theta && live(doc) {
                top.push(s, DocAddress { segment, doc });
                theta = top.threshold();
            }
        }
        Ok(self.postings.next_block()?)
    }

    /// An upper bound of this term's score in document `doc`, which must
    /// lie in the block under the block-max cursor (from the last
    /// [`shallow_seek`](Scorer::shallow_seek) at or before `doc`, not
    /// past that block's end). The document's norm is read, so only the
    /// block's impacts of at most that norm bound its frequency: for a
    /// term whose frequencies are all 1 the bound is the exact score.
    /// 0 when no impact allows the norm (the document cannot hold the
    /// term); the block's bound when it keeps no impacts. Computed as
    /// [`score`](Scorer::score) is, with a frequency at least the
    /// document's, so never below it.
    pub(crate) fn bound_at(&self, doc: u32) -> f32 {
        let impacts = self.postings.block_impacts();
        if impacts.is_empty() {
            return self.block_max;
        }
        let norm = self.norms.get(doc);
        // The largest frequency of an impact at or under the norm (all of
        // them are looked at: the bound holds whatever their order).
        match impacts
            .iter()
            .filter(|&&(_, n)| n <= norm)
            .map(|&(f, _)| f)
            .max()
        {
            Some(f) => self.bm25.score(f, norm),
            None => 0.0,
        }
    }

    /// The loaded block's documents from the current one on (empty when
    /// exhausted).
    pub(crate) fn block_docs(&self) -> &[u32] {
        self.postings.block_rest().0
    }

    /// The score of document `k` of [`block_docs`](Self::block_docs),
    /// bit for bit as [`score`](Scorer::score) computes it on that
    /// document.
    #[inline]
    pub(crate) fn score_in_block(&self, k: usize) -> f32 {
        let (docs, freqs) = self.postings.block_rest();
        match (docs.get(k), freqs.get(k)) {
            (Some(&doc), Some(&f)) => self.score_at(doc, f),
            _ => 0.0,
        }
    }

    /// Adds this term's documents from the current one on, up to
    /// `last`, with their scores (bit for bit as [`score`](Scorer::score)
    /// computes them) to `window`'s current clause, a decoded block at a
    /// time, and moves past them.
    pub(crate) fn add_to_window(&mut self, last: u32, window: &mut ScoreWindow) -> Result<()> {
        loop {
            let (docs, freqs) = self.postings.block_rest();
            if docs.is_empty() {
                return Ok(());
            }
            let end = docs.partition_point(|&d| d <= last);
            let scores = docs[..end]
                .iter()
                .zip(&freqs[..end])
                .map(|(&d, &f)| self.score_at(d, f));
            window.add(&docs[..end], scores);
            if end < docs.len() {
                self.postings.advance_in_block(end)?;
                return Ok(());
            }
            self.postings.next_block()?;
        }
    }

    /// Scores the loaded block's documents from the current one on, up
    /// to `last`, in one loop without branches on the scores, and keeps
    /// in `out` those whose score plus `others` beats `theta` (scores
    /// bit for bit as [`score`](Scorer::score) computes them). Moves
    /// nothing; returns how many documents it looked at.
    pub(crate) fn block_candidates(
        &self,
        last: u32,
        others: f32,
        theta: f32,
        out: &mut Candidates,
    ) -> usize {
        let (docs, freqs) = self.postings.block_rest();
        let end = docs.partition_point(|&d| d <= last).min(BLOCK);
        let mut n = 0;
        for (k, (&doc, &f)) in docs[..end].iter().zip(&freqs[..end]).enumerate() {
            let s = self.score_at(doc, f);
            // n ≤ k < BLOCK: always in range.
            out.offsets[n] = k as u8;
            out.scores[n] = s;
            n += usize::from(s + others > theta);
        }
        out.len = n;
        end
    }
}

impl Scorer for TermScorer {
    #[inline]
    fn doc(&self) -> u32 {
        self.postings.doc()
    }
    #[inline]
    fn advance(&mut self) -> Result<u32> {
        Ok(self.postings.advance()?)
    }
    #[inline]
    fn seek(&mut self, target: u32) -> Result<u32> {
        if self.postings.doc() >= target {
            return Ok(self.postings.doc());
        }
        Ok(self.postings.seek(target)?)
    }
    #[inline]
    fn score(&mut self) -> Result<f32> {
        let doc = self.postings.doc();
        Ok(self.score_at(doc, self.postings.freq()))
    }
    fn max_score(&self) -> f32 {
        self.bm25.max_score()
    }
    fn shallow_seek(&mut self, target: u32) -> Result<u32> {
        let last = self.postings.shallow_seek(target)?;
        self.block_max = block_bound(&self.postings, last, &self.bm25);
        Ok(last)
    }
    fn block_max_score(&self) -> f32 {
        self.block_max
    }
    fn shallow_seek_group(&mut self, target: u32) -> Result<Option<(u32, f32)>> {
        // A pruned walk asks once per block of a competitive group: the
        // group's bound is computed once.
        let (from, last, bound) = self.group;
        if (from..=last).contains(&target) {
            return Ok(Some((last, bound)));
        }
        let found = group_bound(&mut self.postings, target, &self.bm25)?;
        if let Some((last, bound)) = found {
            self.group = (target, last, bound);
        }
        Ok(found)
    }
    fn cost(&self) -> u64 {
        self.postings.doc_freq() as u64
    }
}

/// Documents of a precomputed set, all with one constant score.
pub struct ConstScorer {
    docs: Vec<u32>,
    idx: usize,
    score: f32,
}

impl ConstScorer {
    /// `docs` must be strictly increasing.
    pub fn new(docs: Vec<u32>, score: f32) -> Self {
        ConstScorer {
            docs,
            idx: 0,
            score,
        }
    }
}

impl Scorer for ConstScorer {
    fn doc(&self) -> u32 {
        self.docs.get(self.idx).copied().unwrap_or(TERMINATED)
    }
    fn advance(&mut self) -> Result<u32> {
        if self.idx < self.docs.len() {
            self.idx += 1;
        }
        Ok(self.doc())
    }
    fn seek(&mut self, target: u32) -> Result<u32> {
        if self.doc() >= target {
            return Ok(self.doc());
        }
        let rest = &self.docs[self.idx..];
        self.idx += rest.partition_point(|&d| d < target);
        Ok(self.doc())
    }
    fn score(&mut self) -> Result<f32> {
        Ok(self.score)
    }
    fn max_score(&self) -> f32 {
        self.score
    }
    fn cost(&self) -> u64 {
        (self.docs.len() - self.idx) as u64
    }
}

/// Every document `0..max_doc`, constant score.
pub struct AllScorer {
    doc: u32,
    max_doc: u32,
    score: f32,
}

impl AllScorer {
    /// Matches `0..max_doc`.
    pub fn new(max_doc: u32, score: f32) -> Self {
        AllScorer {
            doc: if max_doc == 0 { TERMINATED } else { 0 },
            max_doc,
            score,
        }
    }
}

impl Scorer for AllScorer {
    fn doc(&self) -> u32 {
        self.doc
    }
    fn advance(&mut self) -> Result<u32> {
        self.seek(self.doc.saturating_add(1))
    }
    fn seek(&mut self, target: u32) -> Result<u32> {
        if self.doc >= target {
            return Ok(self.doc);
        }
        self.doc = if target >= self.max_doc {
            TERMINATED
        } else {
            target
        };
        Ok(self.doc)
    }
    fn score(&mut self) -> Result<f32> {
        Ok(self.score)
    }
    fn max_score(&self) -> f32 {
        self.score
    }
    fn cost(&self) -> u64 {
        self.max_doc as u64
    }
}

/// Documents matching every sub-scorer; sum of their scores. Leapfrogs
/// with `seek` from the rarest clause, so common clauses skip whole blocks.
pub struct ConjunctionScorer {
    scorers: Vec<Box<dyn Scorer>>,
    doc: u32,
}

impl ConjunctionScorer {
    /// Requires at least one scorer.
    pub fn new(mut scorers: Vec<Box<dyn Scorer>>) -> Result<Self> {
        scorers.sort_by_key(|s| s.cost());
        let mut c = ConjunctionScorer { scorers, doc: 0 };
        let first = c.scorers.first().map_or(TERMINATED, |s| s.doc());
        c.doc = c.align(first)?;
        Ok(c)
    }

    /// Finds the first doc ≥ `target` on which all scorers agree.
    fn align(&mut self, mut target: u32) -> Result<u32> {
        'outer: loop {
            if target == TERMINATED {
                return Ok(TERMINATED);
            }
            let lead = self.scorers[0].seek(target)?;
            if lead == TERMINATED {
                return Ok(TERMINATED);
            }
            target = lead;
            for i in 1..self.scorers.len() {
                let d = self.scorers[i].seek(target)?;
                if d != target {
                    target = d;
                    continue 'outer;
                }
            }
            return Ok(target);
        }
    }
}

impl Scorer for ConjunctionScorer {
    fn doc(&self) -> u32 {
        self.doc
    }
    fn advance(&mut self) -> Result<u32> {
        if self.doc == TERMINATED {
            return Ok(TERMINATED);
        }
        let next = self.scorers[0].advance()?;
        self.doc = self.align(next)?;
        Ok(self.doc)
    }
    fn seek(&mut self, target: u32) -> Result<u32> {
        if self.doc >= target {
            return Ok(self.doc);
        }
        self.doc = self.align(target)?;
        Ok(self.doc)
    }
    fn score(&mut self) -> Result<f32> {
        let mut s = 0.0;
        for sc in &mut self.scorers {
            s += sc.score()?;
        }
        Ok(s)
    }
    fn max_score(&self) -> f32 {
        sum_max_scores(&self.scorers)
    }
    fn shallow_seek(&mut self, target: u32) -> Result<u32> {
        shallow_seek_all(&mut self.scorers, target)
    }
    fn block_max_score(&self) -> f32 {
        sum_block_max_scores(&self.scorers)
    }
    fn cost(&self) -> u64 {
        self.scorers.first().map_or(0, |s| s.cost())
    }
}

/// Sum of the sub-scorers' maximum scores: a bound for a sum of their scores.
fn sum_max_scores(scorers: &[Box<dyn Scorer>]) -> f32 {
    scorers.iter().map(|s| s.max_score()).sum()
}

/// Shallow-seeks every sub-scorer; the combined bound holds up to the
/// earliest of their block ends.
fn shallow_seek_all(scorers: &mut [Box<dyn Scorer>], target: u32) -> Result<u32> {
    let mut up_to = TERMINATED;
    for s in scorers {
        up_to = up_to.min(s.shallow_seek(target)?);
    }
    Ok(up_to)
}

/// Sum of the sub-scorers' current block bounds.
fn sum_block_max_scores(scorers: &[Box<dyn Scorer>]) -> f32 {
    scorers.iter().map(|s| s.block_max_score()).sum()
}

/// Documents matching at least `min_match` sub-scorers (1 for a plain OR);
/// the score is the sum of the matching sub-scorers' scores.
pub struct DisjunctionScorer {
    scorers: Vec<Box<dyn Scorer>>,
    min_match: usize,
    doc: u32,
    /// Indexes of the scorers positioned on `doc`.
    on_doc: Vec<usize>,
}

impl DisjunctionScorer {
    /// `min_match` ≥ 1.
    pub fn new(scorers: Vec<Box<dyn Scorer>>, min_match: usize) -> Result<Self> {
        let mut d = DisjunctionScorer {
            scorers,
            min_match: min_match.max(1),
            doc: 0,
            on_doc: Vec::new(),
        };
        d.settle()?;
        Ok(d)
    }

    /// Positions on the smallest doc (≥ every scorer's current doc) that at
    /// least `min_match` scorers share.
    fn settle(&mut self) -> Result<()> {
        loop {
            let mut min = TERMINATED;
            for s in &self.scorers {
                min = min.min(s.doc());
            }
            self.doc = min;
            self.on_doc.clear();
            if min == TERMINATED {
                return Ok(());
            }
            for (i, s) in self.scorers.iter().enumerate() {
                if s.doc() == min {
                    self.on_doc.push(i);
                }
            }
            if self.on_doc.len() >= self.min_match {
                return Ok(());
            }
            for &i in &self.on_doc {
                self.scorers[i].advance()?;
            }
        }
    }
}

impl Scorer for DisjunctionScorer {
    fn doc(&self) -> u32 {
        self.doc
    }
    fn advance(&mut self) -> Result<u32> {
        if self.doc == TERMINATED {
            return Ok(TERMINATED);
        }
        for k in 0..self.on_doc.len() {
            let i = self.on_doc[k];
            self.scorers[i].advance()?;
        }
        self.settle()?;
        Ok(self.doc)
    }
    fn seek(&mut self, target: u32) -> Result<u32> {
        if self.doc >= target {
            return Ok(self.doc);
        }
        for s in &mut self.scorers {
            if s.doc() < target {
                s.seek(target)?;
            }
        }
        self.settle()?;
        Ok(self.doc)
    }
    fn score(&mut self) -> Result<f32> {
        let mut sum = 0.0;
        for k in 0..self.on_doc.len() {
            let i = self.on_doc[k];
            sum += self.scorers[i].score()?;
        }
        Ok(sum)
    }
    fn max_score(&self) -> f32 {
        sum_max_scores(&self.scorers)
    }
    fn shallow_seek(&mut self, target: u32) -> Result<u32> {
        shallow_seek_all(&mut self.scorers, target)
    }
    fn block_max_score(&self) -> f32 {
        sum_block_max_scores(&self.scorers)
    }
    fn cost(&self) -> u64 {
        self.scorers.iter().map(|s| s.cost()).sum()
    }
}

/// Required scorer plus optional scorers that only add to the score.
pub struct ReqOptScorer {
    req: Box<dyn Scorer>,
    opt: Box<dyn Scorer>,
}

impl ReqOptScorer {
    /// Matches `req`; adds `opt`'s score where it also matches.
    pub fn new(req: Box<dyn Scorer>, opt: Box<dyn Scorer>) -> Self {
        ReqOptScorer { req, opt }
    }
}

impl Scorer for ReqOptScorer {
    fn doc(&self) -> u32 {
        self.req.doc()
    }
    fn advance(&mut self) -> Result<u32> {
        self.req.advance()
    }
    fn seek(&mut self, target: u32) -> Result<u32> {
        self.req.seek(target)
    }
    fn score(&mut self) -> Result<f32> {
        let d = self.req.doc();
        let mut s = self.req.score()?;
        if self.opt.doc() < d {
            self.opt.seek(d)?;
        }
        if self.opt.doc() == d {
            s += self.opt.score()?;
        }
        Ok(s)
    }
    fn max_score(&self) -> f32 {
        self.req.max_score() + self.opt.max_score()
    }
    fn cost(&self) -> u64 {
        self.req.cost()
    }
}

/// Documents of `inner` that no `excluded` scorer matches.
pub struct ExclusionScorer {
    inner: Box<dyn Scorer>,
    excluded: Box<dyn Scorer>,
}

impl ExclusionScorer {
    /// `inner` minus `excluded`.
    pub fn new(inner: Box<dyn Scorer>, excluded: Box<dyn Scorer>) -> Result<Self> {
        let mut e = ExclusionScorer { inner, excluded };
        let d = e.inner.doc();
        e.skip_excluded(d)?;
        Ok(e)
    }

    fn skip_excluded(&mut self, mut doc: u32) -> Result<u32> {
        while doc != TERMINATED {
            let ex = self.excluded.seek(doc)?;
            if ex != doc {
                return Ok(doc);
            }
            doc = self.inner.advance()?;
        }
        Ok(TERMINATED)
    }
}

impl Scorer for ExclusionScorer {
    fn doc(&self) -> u32 {
        self.inner.doc()
    }
    fn advance(&mut self) -> Result<u32> {
        let d = self.inner.advance()?;
        self.skip_excluded(d)
    }
    fn seek(&mut self, target: u32) -> Result<u32> {
        if self.inner.doc() >= target {
            return Ok(self.inner.doc());
        }
        let d = self.inner.seek(target)?;
        self.skip_excluded(d)
    }
    fn score(&mut self) -> Result<f32> {
        self.inner.score()
    }
    fn max_score(&self) -> f32 {
        self.inner.max_score()
    }
    fn shallow_seek(&mut self, target: u32) -> Result<u32> {
        self.inner.shallow_seek(target)
    }
    fn block_max_score(&self) -> f32 {
        self.inner.block_max_score()
    }
    fn cost(&self) -> u64 {
        self.inner.cost()
    }
}

/// Phrase matching: documents where the terms occur at the given relative
/// positions (exact, frequency = number of occurrences), or within `slop`
/// (see [`sloppy_freq`]). Scored with BM25 on the phrase frequency and the
/// sum of the terms' idf, as Lucene.
pub struct PhraseScorer {
    terms: Vec<(SegmentPostings, u32)>,
    slop: u32,
    bm25: Arc<Bm25>,
    norms: NormSource,
    doc: u32,
    freq: f32,
    positions: Vec<Vec<u32>>,
    /// Each term's offset in the phrase (from `terms`, kept apart so the
    /// matcher borrows it while positions are filled).
    offsets: Vec<u32>,
    /// The bound of the block under the lead term's block-max cursor.
    block_max: f32,
}

impl PhraseScorer {
    /// `terms`: postings with each term's offset in the phrase.
    ///
    /// An exact phrase (`slop` 0) puts its rarest term first: it leads
    /// the alignment of documents, and its block impacts bound the
    /// phrase's scores (a phrase occurs in a document at most as often as
    /// each of its terms), which lets top-k collection skip blocks. A
    /// sloppy phrase keeps the query's order, which its matcher's ties
    /// follow.
    pub fn new(
        mut terms: Vec<(SegmentPostings, u32)>,
        slop: u32,
        bm25: Arc<Bm25>,
        norms: NormSource,
    ) -> Result<Self> {
        if slop == 0 {
            terms.sort_by_key(|t| t.0.doc_freq());
        }
        let n = terms.len();
        let block_max = bm25.max_score();
        let offsets = terms.iter().map(|t| t.1).collect();
        let mut p = PhraseScorer {
            terms,
            slop,
            bm25,
            norms,
            doc: 0,
            freq: 0.0,
            positions: vec![Vec::new(); n],
            offsets,
            block_max,
        };
        let first = p
            .terms
            .iter()
            .map(|t| t.0.doc())
            .max()
            .unwrap_or(TERMINATED);
        p.doc = p.next_match(first)?;
        Ok(p)
    }

    /// First doc ≥ target where all terms occur and the phrase matches.
    fn next_match(&mut self, mut target: u32) -> Result<u32> {
        loop {
            // Align all postings on one doc.
            'align: loop {
                if target == TERMINATED {
                    return Ok(TERMINATED);
                }
                for i in 0..self.terms.len() {
                    let p = &mut self.terms[i].0;
                    let d = if p.doc() >= target {
                        p.doc()
                    } else {
                        p.seek(target)?
                    };
                    if d != target {
                        target = d;
                        continue 'align;
                    }
                }
                break;
            }
            for i in 0..self.terms.len() {
                let (p, _) = &mut self.terms[i];
                self.positions[i].clear();
                p.positions(&mut self.positions[i])?;
            }
            let f = if self.slop == 0 {
                exact_freq(&self.positions, &self.offsets) as f32
            } else {
                sloppy_freq(&self.positions, &self.offsets, self.slop)
            };
            if f > 0.0 {
                self.freq = f;
                return Ok(target);
            }
            target = target.saturating_add(1);
            if target == TERMINATED {
                return Ok(TERMINATED);
            }
        }
    }
}

/// Number of start positions `p` such that every term `i` occurs at
/// `p + offsets[i]`. Offsets are relative: `p` may be negative (a phrase
/// whose first offset is 1 matches at the start of a field).
pub fn exact_freq(positions: &[Vec<u32>], offsets: &[u32]) -> u32 {
    let Some(first) = positions.first() else {
        return 0;
    };
    let mut count = 0;
    'start: for &p0 in first {
        let start = p0 as i64 - offsets[0] as i64;
        for (i, ps) in positions.iter().enumerate().skip(1) {
            let Ok(want) = u32::try_from(start + offsets[i] as i64) else {
                continue 'start;
            };
            if ps.binary_search(&want).is_err() {
                continue 'start;
            }
        }
        count += 1;
    }
    count
}

/// Sloppy phrase frequency, Lucene's `SloppyPhraseMatcher` sweep.
///
/// Each term's positions are shifted by its offset in the phrase
/// (`adj = pos − offset`), so an exact match has all `adj` equal. The sweep
/// repeatedly takes the term with the smallest `adj`, advances it while that
/// narrows the window `max(adj) − min(adj)`, and when it passes the next
/// smallest term records the narrowest window seen: a window ≤ `slop`
/// contributes `1 / (1 + window)` to the frequency. A document matches when
/// the frequency is > 0. As in Lucene without its repeat handling, a term
/// that appears twice in the phrase may use one occurrence for both slots.
pub fn sloppy_freq(positions: &[Vec<u32>], offsets: &[u32], slop: u32) -> f32 {
    let k = positions.len();
    if k == 0 || positions.iter().any(|p| p.is_empty()) {
        return 0.0;
    }
    let adj = |i: usize, j: usize| positions[i][j] as i64 - offsets[i] as i64;
    let mut idx = vec![0usize; k];
    let mut cur: Vec<i64> = (0..k).map(|i| adj(i, 0)).collect();
    let mut end = cur.iter().copied().max().unwrap_or(0);
    let slop = slop as i64;
    let mut freq = 0.0f32;
    loop {
        // The term with the smallest adjusted position (ties: lowest index).
        let mut i = 0;
        for j in 1..k {
            if cur[j] < cur[i] {
                i = j;
            }
        }
        let next = (0..k)
            .filter(|&j| j != i)
            .map(|j| cur[j])
            .min()
            .unwrap_or(i64::MAX);
        let mut match_len = end - cur[i];
        loop {
            if idx[i] + 1 >= positions[i].len() {
                if match_len <= slop {
                    freq += 1.0 / (1.0 + match_len as f32);
                }
                return freq;
            }
            idx[i] += 1;
            cur[i] = adj(i, idx[i]);
            if cur[i] > end {
                end = cur[i];
            }
            if cur[i] > next {
                if match_len <= slop {
                    freq += 1.0 / (1.0 + match_len as f32);
                }
                break;
            }
            let ml2 = end - cur[i];
            if ml2 < match_len {
                match_len = ml2;
            }
        }
    }
}

impl Scorer for PhraseScorer {
    fn doc(&self) -> u32 {
        self.doc
    }
    fn advance(&mut self) -> Result<u32> {
        if self.doc == TERMINATED {
            return Ok(TERMINATED);
        }
        self.doc = self.next_match(self.doc + 1)?;
        Ok(self.doc)
    }
    fn seek(&mut self, target: u32) -> Result<u32> {
        if self.doc >= target {
            return Ok(self.doc);
        }
        self.doc = self.next_match(target)?;
        Ok(self.doc)
    }
    fn score(&mut self) -> Result<f32> {
        let tf = self.freq;
        let norm = self.norms.get(self.doc);
        Ok(self.bm25.score_f(tf, norm))
    }
    fn max_score(&self) -> f32 {
        self.bm25.max_score()
    }
    fn shallow_seek(&mut self, target: u32) -> Result<u32> {
        let Some((lead, _)) = self.terms.first_mut().filter(|_| self.slop == 0) else {
            return Ok(TERMINATED);
        };
        let last = lead.shallow_seek(target)?;
        // The phrase's frequency is at most the lead term's.
        self.block_max = block_bound(lead, last, &self.bm25);
        Ok(last)
    }
    fn block_max_score(&self) -> f32 {
        self.block_max
    }
    fn shallow_seek_group(&mut self, target: u32) -> Result<Option<(u32, f32)>> {
        let Some((lead, _)) = self.terms.first_mut().filter(|_| self.slop == 0) else {
            return Ok(None);
        };
        // As for a block: the lead term's group impacts bound the phrase.
        group_bound(lead, target, &self.bm25)
    }
    fn cost(&self) -> u64 {
        self.terms
            .iter()
            .map(|t| t.0.doc_freq() as u64)
            .min()
            .unwrap_or(0)
    }
}
