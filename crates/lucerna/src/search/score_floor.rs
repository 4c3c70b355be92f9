//! A floor under the k-th best score of a disjunction, from its rare
//! clauses, before its top-k collection starts.
//!
//! MaxScore prunes with the k-th best score found so far, θ. It starts at
//! −∞, and the first k documents it meets fill the top-k: with a query
//! like `helen of troy`, they are documents holding only `of`, whose low
//! scores keep `of` essential, so its postings are walked document by
//! document until enough documents with `helen` or `troy` have raised θ
//! (the slowest disjunctions of the prose set, measured).
//!
//! The rare clauses' documents are few. Summing, per document, the scores
//! of the rare clauses it holds gives a *partial* score, and a document's
//! full score is never below it: scores are not negative, and a rounded
//! sum only grows when a non-negative term joins it, as long as the terms
//! are added in the same order (the original clause order, as the full
//! score is). So the k-th best partial score over the rare clauses'
//! documents is at most the segment's true k-th best score, and pruning
//! may start from just under it (a millionth under: a document scoring
//! exactly that much must still be collected, to break ties by address).

use crate::error::Result;
use crate::index::segment_reader::SegmentReader;
use crate::search::collector::{DocAddress, TopK};
use crate::search::scorer::{DisjunctionScorer, Scorer, TermScorer, TERMINATED};

/// The rare clauses may hold at most this share of the most common
/// clause's documents: the walk over them must stay cheap next to what it
/// saves.
const RARE_SHARE: u64 = 8;

/// At most this many rare clauses are walked: each document of the walk
/// looks at every one of them.
const MAX_RARE: usize = 4;

/// A score every one of the segment's top `k` documents for the
/// disjunction of `clauses` (one per query clause, in query order) beats
/// or equals, strictly below the true k-th best score; −∞ when the rare
/// clauses hold fewer than `k` live documents, or when no clause is rare.
pub(crate) fn score_floor(
    seg: &SegmentReader,
    clauses: &[Option<TermScorer>],
    k: usize,
) -> Result<f32> {
    let most = clauses
        .iter()
        .flatten()
        .map(|s| s.cost())
        .max()
        .unwrap_or(0);
    let mut by_cost: Vec<(usize, &TermScorer)> = clauses
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.as_ref().map(|s| (i, s)))
        .collect();
    if k == 0 || by_cost.len() < 2 {
        return Ok(f32::NEG_INFINITY);
    }
    by_cost.sort_by_key(|(i, s)| (s.cost(), *i));
    let budget = most / RARE_SHARE;
    let mut rare: Vec<(usize, TermScorer)> = Vec::new();
    let mut docs = 0u64;
    // Never every clause: the most common one is what the floor saves.
    for (i, s) in by_cost[..by_cost.len() - 1].iter().take(MAX_RARE) {
        if docs + s.cost() > budget {
            break;
        }
        docs += s.cost();
        rare.push((*i, (*s).clone()));
    }
    if (docs as usize) < k {
        return Ok(f32::NEG_INFINITY);
    }
    // In query order, as the full score sums: the rare clauses' union,
    // scored as the disjunction scorer sums (from 0.0, clause by clause).
    rare.sort_by_key(|(i, _)| *i);
    let clauses: Vec<Box<dyn Scorer>> = rare
        .into_iter()
        .map(|(_, s)| Box::new(s) as Box<dyn Scorer>)
        .collect();
    let mut union = DisjunctionScorer::new(clauses, 1)?;
    let mut best = TopK::new(k);
    let mut d = union.doc();
    while d != TERMINATED {
        if seg.is_live(d) {
            best.push(union.score()?, DocAddress { segment: 0, doc: d });
        }
        d = union.advance()?;
    }
    // −∞ while fewer than k documents were offered; a k-th score that is
    // not positive (or NaN) raises no floor.
    let kth = best.threshold();
    if kth.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return Ok(f32::NEG_INFINITY);
    }
    // A little under it: MaxScore compares sums of bounds, added in
    // another order than a document's score, with the floor; a few units
    // in the last place of slack keep a document that scores exactly the
    // k-th best from being passed over (the conjunction's bounds keep the
    // same margin).
    Ok(kth * 0.999_999)
}
