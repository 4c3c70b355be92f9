//! Count and top-k of a conjunction of terms in one pass, with concrete
//! term scorers (no virtual call per document).
//!
//! Counting ([`collect_term_conjunction`]): every match is counted; a
//! match is scored only while the sum of its terms' block bounds can still
//! beat the k-th best score (an equal score never displaces an earlier
//! hit, so a bound that only reaches the threshold is not enough).
//!
//! Top-k only ([`collect_term_conjunction_pruned`]): nothing is counted.
//! A window (up to the earliest end of the terms' current blocks) whose
//! summed bounds cannot beat the k-th score is passed without decoding
//! anything, and after one, a whole range of the terms' groups of 32
//! blocks when their bounds cannot either. In a window that may compete,
//! the rarest term's decoded documents are scored in one loop without
//! branches on the scores (as tantivy's `block_wand_intersection`); only
//! those whose score with the others' bounds, and then with each other
//! term's bound at the document's norm, can still compete are looked up
//! in the other terms: merged with the next rarest term's decoded block
//! where they are dense and that term not much denser than the lead, each
//! sought otherwise.

use crate::error::Result;
use crate::index::segment_reader::SegmentReader;
use crate::search::collector::{DocAddress, TopK};
use crate::search::intersect::{intersect, merge, Pairs};
use crate::search::scorer::{Candidates, Scorer, TermScorer, TERMINATED};
use lucerna_codec::bitpack::BLOCK;

/// Counts the live documents of segment `ord` holding every term of
/// `terms` and offers the competitive ones to `top` (when `want_hits`).
/// Scores and bounds are summed in the same order (rarest term first) as
/// the generic conjunction scorer does.
///
/// The lead (the rarest term) goes a decoded block at a time, in one of
/// two ways, chosen again after each block from how many of its documents
/// the next rarest term held:
/// * *merged*: where few do, the two terms' decoded blocks are merged
///   ([`intersect`]), which passes a document of either in a few
///   instructions, and each shared one is sought in the other terms;
/// * *sought*: where most do (or where the next term is much denser, see
///   [`MERGE_MAX_RATIO`]), the others are sought to each of the lead's
///   documents, galloping past theirs and passing their blocks between
///   undecoded. With two terms, the competitive matches of a lead block
///   are scored together after it ([`Matches`]).
pub(crate) fn collect_term_conjunction(
    seg: &SegmentReader,
    ord: u32,
    mut terms: Vec<TermScorer>,
    top: &mut TopK,
    want_hits: bool,
) -> Result<u64> {
    terms.sort_by_key(|t| t.cost());
    let Some((lead, others)) = terms.split_first_mut() else {
        return Ok(0);
    };
    let mergeable = others
        .first()
        .is_some_and(|next| next.cost() <= lead.cost().saturating_mul(MERGE_MAX_RATIO));
    let mut tally = Tally::new(want_hits);
    let mut pairs = Pairs::new();
    let mut matches = Matches::new();
    let mut merge = mergeable;
    loop {
        let a = lead.block_docs();
        let (Some(&a_first), Some(&a_last)) = (a.first(), a.last()) else {
            break;
        };
        let a_len = a.len();
        let (matched, passed) = if merge {
            let b = others[0].block_docs();
            let (Some(&b_first), Some(&b_last)) = (b.first(), b.last()) else {
                break;
            };
            if a_last < b_first {
                lead.seek(b_first)?;
                continue;
            }
            if b_last < a_first {
                others[0].seek(a_first)?;
                continue;
            }
            let (i, j) = intersect(a, b, &mut pairs);
            for p in 0..pairs.len {
                let d = pairs.docs[p];
                match agree_on(&mut others[1..], d)? {
                    Agree::Yes => {}
                    Agree::No => continue,
                    Agree::Done => return Ok(tally.n),
                }
                if tally.offers(seg, lead, others, top, d)? {
                    let mut s = lead.score_in_block(pairs.a[p] as usize);
                    s += others[0].score_in_block(pairs.b[p] as usize);
                    push_match(s, &mut others[1..], top, ord, d)?;
                }
            }
            lead.postings_mut().advance_in_block(i)?;
            others[0].postings_mut().advance_in_block(j)?;
            (pairs.len, i)
        } else if let ([other], true) = (&mut *others, want_hits) {
            // Two terms: the matches of the lead's block are gathered
            // with both frequencies and scored together after it. The
            // seeking is `leapfrog`'s for one other term, written out:
            // calling `leapfrog` here (even inlined) made the logs-big
            // AND set 4-7 % slower.
            let mut matched = 0;
            let mut d = a_first;
            while d <= a_last {
                let x = other.seek(d)?;
                if x == TERMINATED {
                    matches.offer(ord, lead, other, top);
                    return Ok(tally.n);
                }
                if x != d {
                    d = lead.seek(x)?;
                    if d == TERMINATED {
                        break;
                    }
                    continue;
                }
                matched += 1;
                if tally.offers(seg, lead, std::slice::from_mut(other), top, d)? {
                    matches.add(d, lead.freq(), other.freq());
                    if matches.len == BLOCK {
                        matches.offer(ord, lead, other, top);
                    }
                }
                d = lead.advance()?;
            }
            matches.offer(ord, lead, other, top);
            (matched, a_len)
        } else {
            // Through the lead's block, seeking the others to each of
            // its documents (a match may lie past it, in the next).
            let mut matched = 0;
            let mut d = a_first;
            while d <= a_last {
                let Some(agreed) = leapfrog(lead, others, d)? else {
                    return Ok(tally.n);
                };
                d = agreed;
                matched += 1;
                if tally.offers(seg, lead, others, top, d)? {
                    push_match(lead.score()?, others, top, ord, d)?;
                }
                d = lead.advance()?;
            }
            (matched, a_len)
        };
        merge = mergeable && matched * 2 < passed;
    }
    Ok(tally.n)
}

/// Competitive matches of a two-term conjunction (live, in a window whose
/// bounds can beat the k-th score) gathered a lead block at a time, to be
/// scored in one loop without a branch between the scores, where one at
/// a time each waited on the seeks around it.
struct Matches {
    docs: [u32; BLOCK],
    lead_freqs: [u32; BLOCK],
    other_freqs: [u32; BLOCK],
    scores: [f32; BLOCK],
    len: usize,
}

impl Matches {
    fn new() -> Self {
        Matches {
            docs: [0; BLOCK],
            lead_freqs: [0; BLOCK],
            other_freqs: [0; BLOCK],
            scores: [0.0; BLOCK],
            len: 0,
        }
    }

    /// Adds match `d` with each term's frequency in it (the caller offers
    /// the batch when [`BLOCK`] are held).
    #[inline]
    fn add(&mut self, d: u32, lead_freq: u32, other_freq: u32) {
        let at = self.len.min(BLOCK - 1);
        self.docs[at] = d;
        self.lead_freqs[at] = lead_freq;
        self.other_freqs[at] = other_freq;
        self.len = at + 1;
    }

    /// Offers each match held to `top` with its score, summed as
    /// [`push_match`] sums it (the lead's, then the other's); empties the
    /// batch.
    fn offer(&mut self, ord: u32, lead: &TermScorer, other: &TermScorer, top: &mut TopK) {
        let n = self.len.min(BLOCK);
        for i in 0..n {
            let d = self.docs[i];
            self.scores[i] =
                lead.score_at(d, self.lead_freqs[i]) + other.score_at(d, self.other_freqs[i]);
        }
        for i in 0..n {
            let address = DocAddress {
                segment: ord,
                doc: self.docs[i],
            };
            top.push(self.scores[i], address);
        }
        self.len = 0;
    }
}

/// How many times as many documents as the lead the next rarest term may
/// hold for the two to be merged a decoded block at a time: merging
/// passes every document of both, seeking only those of the lead. Eight
/// until seeks into a new block bisected it whole; then three measured
/// best on logs-big's AND set (`init info`, 6.2 times as many, 3,249 →
/// 2,764 µs merged against sought) and two no better (docs/benchmarks.md,
/// "Issue 14, twelfth round").
const MERGE_MAX_RATIO: u64 = 3;

/// About how many steps of a merge one seek costs: a window's candidates
/// are merged with the next rarest term's block where the merge passes at
/// most this many of its documents per candidate ([`merges`]).
const SEEK_STEPS: u64 = 4;

/// A counting conjunction's matches so far, and the window of block
/// bounds that says whether one may still compete.
struct Tally {
    want_hits: bool,
    /// Live matches counted.
    n: u64,
    /// The last document of the current window, and its bound.
    up_to: u32,
    bound: f32,
    bound_known: bool,
}

impl Tally {
    fn new(want_hits: bool) -> Self {
        Tally {
            want_hits,
            n: 0,
            up_to: 0,
            bound: f32::INFINITY,
            bound_known: false,
        }
    }

    /// Counts match `d` when it is live, and says whether to score it and
    /// offer it to `top`: when hits are wanted and the window's summed
    /// block bounds can still beat the k-th score (an equal score never
    /// displaces an earlier hit).
    #[inline]
    fn offers(
        &mut self,
        seg: &SegmentReader,
        lead: &mut TermScorer,
        others: &mut [TermScorer],
        top: &TopK,
        d: u32,
    ) -> Result<bool> {
        if !seg.is_live(d) {
            return Ok(false);
        }
        self.n += 1;
        if !self.want_hits {
            return Ok(false);
        }
        let threshold = top.threshold();
        if threshold == f32::NEG_INFINITY {
            return Ok(true);
        }
        if !self.bound_known || d > self.up_to {
            (self.up_to, self.bound) = window(lead, others, d)?;
            self.bound_known = true;
        }
        Ok(self.bound > threshold)
    }
}

/// Seeks the other terms to the lead's document `d`, moving the lead on
/// whenever one of them skips past it, until every term agrees (that
/// document) or a term runs out (`None`).
#[inline]
fn leapfrog(lead: &mut TermScorer, others: &mut [TermScorer], mut d: u32) -> Result<Option<u32>> {
    let mut i = 0;
    while i < others.len() {
        let x = others[i].seek(d)?;
        if x == d {
            i += 1;
            continue;
        }
        if x == TERMINATED {
            return Ok(None);
        }
        d = lead.seek(x)?;
        if d == TERMINATED {
            return Ok(None);
        }
        i = 0;
    }
    Ok(Some(d))
}

/// Whether a lead document `d` of score `lead_score` may still beat
/// `theta`: first with the others' block bounds (`others_bound`), then with
/// each one's bound at `d`'s norm, summed in the order scores are, so
/// never below the score.
#[inline]
fn may_compete(
    lead_score: f32,
    others: &[TermScorer],
    others_bound: f32,
    d: u32,
    theta: f32,
) -> bool {
    if lead_score + others_bound <= theta {
        return false;
    }
    bound_at_norm(lead_score, others, d) > theta
}

/// `lead_score` plus each other term's bound at `d`'s norm, summed in the
/// order scores are, so never below the score `d` can have.
#[inline]
fn bound_at_norm(lead_score: f32, others: &[TermScorer], d: u32) -> f32 {
    let mut b = lead_score;
    for t in others {
        b += t.bound_at(d);
    }
    b
}

/// The sum of `terms`' block bounds, a millionth wider: a score plus it
/// must never round below the score's own sum, whatever the order of the
/// additions.
#[inline]
fn widened_block_bound(terms: &[TermScorer]) -> f32 {
    terms.iter().map(|t| t.block_max_score()).sum::<f32>() * 1.000_001
}

/// Whether every other term holds document `d`.
enum Agree {
    Yes,
    No,
    /// A term has no document left: nothing further can match.
    Done,
}

/// Seeks the other terms to `d` (none moves back), stopping at the first
/// that does not hold it.
#[inline]
fn agree_on(others: &mut [TermScorer], d: u32) -> Result<Agree> {
    for t in others.iter_mut() {
        let x = if t.doc() < d { t.seek(d)? } else { t.doc() };
        if x != d {
            return Ok(if x == TERMINATED {
                Agree::Done
            } else {
                Agree::No
            });
        }
    }
    Ok(Agree::Yes)
}

/// Offers document `d`, on which every term agrees, to `top` with its
/// score: the lead's `lead_score`, then the others' in order (the order
/// every path sums in, so equal documents get equal bits).
#[inline]
fn push_match(
    lead_score: f32,
    others: &mut [TermScorer],
    top: &mut TopK,
    ord: u32,
    d: u32,
) -> Result<()> {
    let mut s = lead_score;
    for t in others.iter_mut() {
        s += t.score()?;
    }
    top.push(
        s,
        DocAddress {
            segment: ord,
            doc: d,
        },
    );
    Ok(())
}

/// The window starting at `d`: the last document up to which every term's
/// current block bound holds (the earliest of their block ends), and the
/// sum of those bounds, rarest term first.
fn window(lead: &mut TermScorer, others: &mut [TermScorer], d: u32) -> Result<(u32, f32)> {
    let mut up_to = lead.shallow_seek(d)?;
    let mut bound = lead.block_max_score();
    for t in others.iter_mut() {
        up_to = up_to.min(t.shallow_seek(d)?);
        bound += t.block_max_score();
    }
    Ok((up_to, bound))
}

/// As [`window`], with the terms' groups of 32 blocks
/// ([`Scorer::shallow_seek_group`]; a term that keeps none is bounded by
/// its maximum score over all its documents).
fn group_window(lead: &mut TermScorer, others: &mut [TermScorer], d: u32) -> Result<(u32, f32)> {
    let (mut up_to, mut bound) = lead
        .shallow_seek_group(d)?
        .unwrap_or((TERMINATED, lead.max_score()));
    for t in others.iter_mut() {
        let (end, b) = t
            .shallow_seek_group(d)?
            .unwrap_or((TERMINATED, t.max_score()));
        up_to = up_to.min(end);
        bound += b;
    }
    Ok((up_to, bound))
}

/// Offers the live documents of segment `ord` holding every term of
/// `terms` to `top`, without counting them: windows whose summed block
/// bounds cannot beat the k-th score are skipped without aligning the
/// terms inside them. Scores are summed as in
/// [`collect_term_conjunction`], so the top k is the same, bit for bit.
pub(crate) fn collect_term_conjunction_pruned(
    seg: &SegmentReader,
    ord: u32,
    mut terms: Vec<TermScorer>,
    top: &mut TopK,
) -> Result<()> {
    terms.sort_by_key(|t| t.cost());
    let Some((lead, others)) = terms.split_first_mut() else {
        return Ok(());
    };
    let mut up_to = 0u32;
    let mut bound = f32::INFINITY;
    // The others' part of `bound`.
    let mut others_bound = f32::INFINITY;
    let mut bound_known = false;
    // Whether the last window was skipped, and the end of the last group
    // range that could not be.
    let mut skipping = false;
    let mut group_tried = 0u32;
    let mut cands = Candidates::new();
    let mut pairs = Pairs::new();
    let lead_cost = lead.cost();
    let next_cost = others.first().map_or(u64::MAX, |t| t.cost());
    let mergeable = next_cost <= lead_cost.saturating_mul(MERGE_MAX_RATIO);
    let mut narrowing = Narrowing::default();
    let mut d = lead.doc();
    while d != TERMINATED {
        if top.threshold() > f32::NEG_INFINITY {
            if skipping && d > up_to && d > group_tried {
                // The last window was skipped: try the groups of 32
                // blocks around `d`, which may pass many windows at once
                // (once per group range, when they cannot).
                let (end, group_bound) = group_window(lead, others, d)?;
                if group_bound <= top.threshold() {
                    if end == TERMINATED {
                        break;
                    }
                    d = end + 1;
                    continue;
                }
                group_tried = end;
            }
            if !bound_known || d > up_to {
                (up_to, bound) = window(lead, others, d)?;
                others_bound = widened_block_bound(others);
                bound_known = true;
            }
            if bound <= top.threshold() {
                if up_to == TERMINATED {
                    break;
                }
                // On to the next window without moving the lead: its
                // blocks are decoded only in a window that may compete.
                d = up_to + 1;
                skipping = true;
                continue;
            }
            skipping = false;
            if lead.doc() < d {
                d = lead.seek(d)?;
                if d > up_to {
                    // Past the window (or the end): judge its own.
                    continue;
                }
            }
            // The lead's documents in the window, a decoded block at a
            // time: those whose own score with the others' bounds cannot
            // compete are passed without moving the others.
            let looked = lead.block_candidates(up_to, others_bound, top.threshold(), &mut cands);
            // Whether each candidate is still judged by the others'
            // bounds at its norm before it is sought (not when the
            // candidates were narrowed by them just now).
            let mut judge = true;
            if mergeable {
                // Only those that may compete with the others' bounds at
                // their norms, while that has been ruling out most, then
                // merged or sought as they are dense.
                if narrowing.due() {
                    judge = false;
                    let before = cands.len;
                    let n = narrow(lead, others, top.threshold(), &mut cands);
                    narrowing.record(n, before);
                }
                if merges(cands.len, looked, lead_cost, next_cost) {
                    if !merge_candidates(seg, ord, lead, others, &cands, &mut pairs, top)? {
                        return Ok(());
                    }
                    d = lead.postings_mut().advance_in_block(looked)?;
                    continue;
                }
            }
            let mut at = 0;
            for c in 0..cands.len {
                let offset = usize::from(cands.offsets[c]);
                let cd = lead.postings_mut().advance_in_block(offset - at)?;
                at = offset;
                // A term already past `cd` (sent there by an earlier
                // candidate) rules it out before anything is computed.
                if others.iter().any(|t| t.doc() > cd) {
                    continue;
                }
                let ls = cands.scores[c];
                if judge && !may_compete(ls, others, others_bound, cd, top.threshold()) {
                    continue;
                }
                match agree_on(others, cd)? {
                    Agree::Yes if seg.is_live(cd) => push_match(ls, others, top, ord, cd)?,
                    Agree::Yes | Agree::No => {}
                    Agree::Done => return Ok(()),
                }
            }
            d = lead.postings_mut().advance_in_block(looked - at)?;
            continue;
        }
        // Until the top k is full, every match is offered.
        let Some(agreed) = leapfrog(lead, others, d)? else {
            break;
        };
        d = agreed;
        if seg.is_live(d) {
            push_match(lead.score()?, others, top, ord, d)?;
        }
        d = lead.advance()?;
    }
    Ok(())
}

/// Whether a window's `candidates` (of the `looked` lead documents) are
/// merged with the next rarest term's block rather than sought in it one
/// by one: when they are dense enough that seeking each would cost more
/// than passing the term's documents in the window (about
/// `looked · next_cost / lead_cost` of them, a seek costing about
/// [`SEEK_STEPS`] steps of the merge).
#[inline]
fn merges(candidates: usize, looked: usize, lead_cost: u64, next_cost: u64) -> bool {
    (candidates as u64)
        .saturating_mul(SEEK_STEPS)
        .saturating_mul(lead_cost)
        >= (looked as u64).saturating_mul(next_cost)
}

/// Whether to narrow a window's candidates by the others' bounds at their
/// norms ([`narrow`]): it pays where it rules out most (then the others'
/// blocks need not be decoded at all), and costs a bound per candidate
/// where it rules out few. After a window where it ruled out fewer than
/// half, it rests for [`NARROW_REST`] windows, then is tried again.
#[derive(Default)]
struct Narrowing {
    rest: u32,
}

/// Windows [`Narrowing`] rests after one where it ruled out few.
const NARROW_REST: u32 = 8;

impl Narrowing {
    #[inline]
    fn due(&mut self) -> bool {
        if self.rest == 0 {
            return true;
        }
        self.rest -= 1;
        false
    }

    #[inline]
    fn record(&mut self, kept: usize, before: usize) {
        if kept * 2 > before {
            self.rest = NARROW_REST;
        }
    }
}

/// Keeps of `cands` (offsets from the lead's cursor) those whose score may
/// still beat `theta` with each other term's bound at the document's norm
/// ([`may_compete`]); returns how many.
fn narrow(lead: &TermScorer, others: &[TermScorer], theta: f32, cands: &mut Candidates) -> usize {
    let docs = lead.block_docs();
    let mut n = 0;
    for c in 0..cands.len.min(BLOCK) {
        let (offset, score) = (cands.offsets[c], cands.scores[c]);
        let d = docs.get(usize::from(offset)).copied().unwrap_or(TERMINATED);
        // n ≤ c: always in range.
        cands.offsets[n] = offset;
        cands.scores[n] = score;
        n += usize::from(bound_at_norm(score, others, d) > theta);
    }
    cands.len = n;
    n
}

/// Offers the documents of `cands` (the lead's candidates in a window, as
/// offsets from its cursor) that every other term holds to `top`: the
/// candidates are merged with the next rarest term's decoded blocks
/// ([`merge`]), and each shared document is sought in the rest when
/// its partial score with their bounds can still compete ([`may_compete`]). Scores are
/// summed as [`push_match`] sums them. Moves the lead nothing; returns
/// `false` when a term ran out (nothing further can match).
fn merge_candidates(
    seg: &SegmentReader,
    ord: u32,
    lead: &TermScorer,
    others: &mut [TermScorer],
    cands: &Candidates,
    pairs: &mut Pairs,
    top: &mut TopK,
) -> Result<bool> {
    let Some((next, rest)) = others.split_first_mut() else {
        return Ok(true);
    };
    let lead_docs = lead.block_docs();
    let mut docs = [0u32; BLOCK];
    for (slot, &offset) in docs.iter_mut().zip(&cands.offsets[..cands.len]) {
        *slot = lead_docs
            .get(usize::from(offset))
            .copied()
            .unwrap_or(TERMINATED);
    }
    let rest_bound = widened_block_bound(rest);
    let mut c = 0;
    while c < cands.len {
        if next.seek(docs[c])? == TERMINATED {
            return Ok(false);
        }
        // The plain merge: a window's candidates are few and spread out,
        // and the skewed walk measured 2-4 % slower here.
        let (i, j) = merge(&docs[c..cands.len], next.block_docs(), pairs);
        for p in 0..pairs.len {
            let d = pairs.docs[p];
            let s = cands.scores[c + usize::from(pairs.a[p])]
                + next.score_in_block(usize::from(pairs.b[p]));
            if !may_compete(s, rest, rest_bound, d, top.threshold()) {
                continue;
            }
            match agree_on(rest, d)? {
                Agree::Yes if seg.is_live(d) => push_match(s, rest, top, ord, d)?,
                Agree::Yes | Agree::No => {}
                Agree::Done => return Ok(false),
            }
        }
        next.postings_mut().advance_in_block(j)?;
        c += i;
    }
    Ok(true)
}
