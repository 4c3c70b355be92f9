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
//! Scores are summed in the original clause order, so every hit's score is
//! bit-for-bit the one the plain disjunction scorer computes
//! (`tests/pruning.rs` checks pruned rankings against exhaustive ones).

use crate::error::Result;
use crate::index::segment_reader::SegmentReader;
use crate::search::collector::{DocAddress, TopK};
use crate::search::scorer::{Scorer, TermScorer, TERMINATED};

/// Blocks of the window's lead clause per window.
const WINDOW_BLOCKS: usize = 4;

/// Collects the best hits of the disjunction of `clauses` (one per query
/// clause, in query order; `None` for a clause absent from the segment) into
/// `top`. Counts nothing: the caller counts separately.
pub(crate) fn collect_maxscore(
    seg: &SegmentReader,
    ord: u32,
    clauses: Vec<Option<TermScorer>>,
    top: &mut TopK,
) -> Result<()> {
    // (original clause index, scorer), ascending by max score.
    let mut sc: Vec<(usize, TermScorer)> = clauses
        .into_iter()
        .enumerate()
        .filter_map(|(i, s)| s.map(|s| (i, s)))
        .collect();
    if sc.is_empty() {
        return Ok(());
    }
    let n_clauses = sc.iter().map(|(i, _)| i + 1).max().unwrap_or(0);
    sc.sort_by(|a, b| {
        a.1.max_score()
            .total_cmp(&b.1.max_score())
            .then(a.0.cmp(&b.0))
    });
    // bound[i] = sum of max scores of sc[0..=i].
    let mut bound = Vec::with_capacity(sc.len());
    let mut acc = 0.0f32;
    for (_, s) in &sc {
        acc += s.max_score();
        bound.push(acc);
    }
    let mut scores = vec![0.0f32; n_clauses];
    // Per window: (window bound, position in `sc`), ascending, and the
    // prefix sums of those bounds.
    let mut order: Vec<(f32, usize)> = Vec::with_capacity(sc.len());
    let mut wbound: Vec<f32> = Vec::with_capacity(sc.len());
    let mut essential = 0usize;
    // Until the top-k is full (θ = −∞) every clause is essential and the
    // global bounds serve; after that, windows of documents are processed
    // with each clause's block bound over the window.
    let mut window_end: u32 = 0;
    let mut windowed = false;
    loop {
        let theta = top.threshold();
        let mut d = TERMINATED;
        for (_, s) in &sc {
            d = d.min(s.doc());
        }
        if d == TERMINATED {
            return Ok(());
        }
        if theta > f32::NEG_INFINITY && (!windowed || d > window_end) {
            // A new window: from d to the end of the block of the sparsest
            // clause that still has documents (its blocks span the most
            // documents, so windows stay large); each clause is bounded by
            // the largest block bound it has within the window.
            let lead = sc
                .iter()
                .enumerate()
                .filter(|(_, (_, s))| s.doc() != TERMINATED)
                .min_by_key(|(_, (_, s))| s.cost())
                .map_or(0, |(j, _)| j);
            // Several of the lead's blocks per window: a window's set-up
            // (block walks, the sort) is paid per window, not per block.
            window_end = sc[lead].1.shallow_seek(d)?;
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
            while global < sc.len() && bound[global] <= theta {
                global += 1;
            }
            order.clear();
            for (j, (_, s)) in sc.iter_mut().enumerate() {
                let b = if j < global {
                    s.max_score()
                } else {
                    window_max(s, d, window_end)?
                };
                order.push((b, j));
            }
            order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            wbound.clear();
            let mut acc = 0.0f32;
            for (b, _) in &order {
                acc += *b;
                wbound.push(acc);
            }
            windowed = true;
            essential = 0;
        }
        if !windowed {
            // Top-k not full yet: every clause, global bounds.
            if order.len() != sc.len() {
                order = (0..sc.len()).map(|j| (bound[j], j)).collect();
                wbound = bound.clone();
            }
        }
        while essential < order.len() && wbound[essential] <= theta {
            essential += 1;
        }
        if essential == order.len() {
            // Nothing in this window can beat the k-th score: skip it.
            if !windowed || window_end == TERMINATED {
                return Ok(());
            }
            let next = window_end + 1;
            for (_, s) in sc.iter_mut() {
                if s.doc() < next {
                    s.seek(next)?;
                }
            }
            windowed = false;
            continue;
        }
        // The next candidate: the smallest document of an essential clause
        // (within the window).
        let mut d = TERMINATED;
        for &(_, j) in &order[essential..] {
            d = d.min(sc[j].1.doc());
        }
        if d == TERMINATED {
            return Ok(());
        }
        if windowed && d > window_end {
            // The essential clauses are done with this window; documents of
            // the non-essential ones alone cannot compete there.
            let next = window_end.saturating_add(1);
            for (_, s) in sc.iter_mut() {
                if s.doc() < next {
                    s.seek(next)?;
                }
            }
            windowed = false;
            continue;
        }
        // Essential clauses on d.
        let mut partial = 0.0f32;
        for &(_, j) in &order[essential..] {
            let (i, s) = &mut sc[j];
            if s.doc() == d {
                let v = s.score()?;
                scores[*i] = v;
                partial += v;
            }
        }
        // Non-essential clauses, highest bound first, while d can still
        // reach the top-k.
        let mut possible = true;
        for e in (0..essential).rev() {
            if partial + wbound[e] <= theta {
                possible = false;
                break;
            }
            let (i, s) = &mut sc[order[e].1];
            if s.doc() < d {
                s.seek(d)?;
            }
            if s.doc() == d {
                let v = s.score()?;
                scores[*i] = v;
                partial += v;
            }
        }
        if possible && seg.is_live(d) {
            // The exact score, summed in clause order as the disjunction
            // scorer does (absent clauses add 0.0, which changes nothing).
            let mut total = 0.0f32;
            for v in &scores {
                total += *v;
            }
            top.push(
                total,
                DocAddress {
                    segment: ord,
                    doc: d,
                },
            );
        }
        scores.fill(0.0);
        for &(_, j) in &order[essential..] {
            let s = &mut sc[j].1;
            if s.doc() == d {
                s.advance()?;
            }
        }
        if top.threshold() > theta && windowed {
            // θ rose: the partition may move up within the window.
            essential = 0;
        }
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
