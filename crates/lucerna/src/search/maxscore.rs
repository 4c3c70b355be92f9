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
//! Scores are summed in the original clause order, so every hit's score is
//! bit-for-bit the one the plain disjunction scorer computes.

use crate::error::Result;
use crate::index::segment_reader::SegmentReader;
use crate::search::collector::{DocAddress, TopK};
use crate::search::scorer::{Scorer, TermScorer, TERMINATED};

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
    let mut essential = 0usize;
    loop {
        let theta = top.threshold();
        while essential < sc.len() && bound[essential] <= theta {
            essential += 1;
        }
        if essential == sc.len() {
            // Even every clause together cannot beat the k-th score.
            return Ok(());
        }
        let mut d = TERMINATED;
        for (_, s) in &sc[essential..] {
            d = d.min(s.doc());
        }
        if d == TERMINATED {
            return Ok(());
        }
        // Essential clauses on d.
        let mut partial = 0.0f32;
        for (i, s) in sc[essential..].iter_mut() {
            if s.doc() == d {
                let v = s.score()?;
                scores[*i] = v;
                partial += v;
            }
        }
        // Non-essential clauses, highest bound first, while d can still
        // reach the top-k.
        let mut possible = true;
        for j in (0..essential).rev() {
            if partial + bound[j] <= theta {
                possible = false;
                break;
            }
            let (i, s) = &mut sc[j];
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
        for (_, s) in sc[essential..].iter_mut() {
            if s.doc() == d {
                s.advance()?;
            }
        }
    }
}
