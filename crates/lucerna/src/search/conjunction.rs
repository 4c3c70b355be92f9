//! Count and top-k of a conjunction of terms in one pass, with concrete
//! term scorers (no virtual call per document).
//!
//! Counting ([`collect_term_conjunction`]): every match is counted; a
//! match is scored only while the sum of its terms' block bounds can still
//! beat the k-th best score (an equal score never displaces an earlier
//! hit, so a bound that only reaches the threshold is not enough).
//!
//! Top-k only ([`collect_term_conjunction_pruned`]): nothing is counted,
//! so a window whose bound cannot beat the k-th score is skipped whole:
//! the rarest term jumps past it and the others are not moved into it.

use crate::error::Result;
use crate::index::segment_reader::SegmentReader;
use crate::search::collector::{DocAddress, TopK};
use crate::search::scorer::{Scorer, TermScorer, TERMINATED};

/// Counts the live documents of segment `ord` holding every term of
/// `terms` and offers the competitive ones to `top` (when `want_hits`).
/// Scores and bounds are summed in the same order (rarest term first) as
/// the generic conjunction scorer does.
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
    let mut n = 0u64;
    let mut up_to = 0u32;
    let mut bound = f32::INFINITY;
    let mut bound_known = false;
    let mut d = lead.doc();
    'docs: while d != TERMINATED {
        // Leapfrog until every term agrees on `d`.
        let mut i = 0;
        while i < others.len() {
            let x = others[i].seek(d)?;
            if x == d {
                i += 1;
                continue;
            }
            if x == TERMINATED {
                break 'docs;
            }
            d = lead.seek(x)?;
            if d == TERMINATED {
                break 'docs;
            }
            i = 0;
        }
        if seg.is_live(d) {
            n += 1;
            if want_hits {
                let threshold = top.threshold();
                let competitive = threshold == f32::NEG_INFINITY || {
                    if !bound_known || d > up_to {
                        up_to = lead.shallow_seek(d)?;
                        bound = lead.block_max_score();
                        for t in others.iter_mut() {
                            up_to = up_to.min(t.shallow_seek(d)?);
                            bound += t.block_max_score();
                        }
                        bound_known = true;
                    }
                    bound > threshold
                };
                if competitive {
                    let mut s = lead.score()?;
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
                }
            }
        }
        d = lead.advance()?;
    }
    Ok(n)
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
    let mut d = lead.doc();
    'docs: while d != TERMINATED {
        let pruning = top.threshold() > f32::NEG_INFINITY;
        // The lead's score at `d`, once computed (it is summed first).
        let mut lead_score = None;
        if pruning {
            if !bound_known || d > up_to {
                (up_to, bound) = window(lead, others, d)?;
                // Summed on its own, and a millionth wider: the sum of a
                // score and this must never round below the score's own
                // sum, whatever the order of the additions.
                others_bound = others.iter().map(|t| t.block_max_score()).sum::<f32>() * 1.000_001;
                bound_known = true;
            }
            if bound <= top.threshold() {
                if up_to == TERMINATED {
                    break;
                }
                d = lead.seek(up_to + 1)?;
                continue;
            }
            // The lead's own score with the others' bounds: a document
            // that cannot compete is passed without moving the others.
            let ls = lead.score()?;
            if ls + others_bound <= top.threshold() {
                d = lead.advance()?;
                continue;
            }
            lead_score = Some(ls);
        }
        // Leapfrog until every term agrees on `d`; a lead that leaves the
        // window has its new window judged first.
        let mut i = 0;
        while i < others.len() {
            let x = others[i].seek(d)?;
            if x == d {
                i += 1;
                continue;
            }
            if x == TERMINATED {
                break 'docs;
            }
            d = lead.seek(x)?;
            if d == TERMINATED {
                break 'docs;
            }
            if pruning {
                // The lead moved: judge its new document first.
                continue 'docs;
            }
            i = 0;
        }
        if seg.is_live(d) {
            let mut s = match lead_score {
                Some(ls) => ls,
                None => lead.score()?,
            };
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
        }
        d = lead.advance()?;
    }
    Ok(())
}
