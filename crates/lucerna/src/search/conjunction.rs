//! Count and top-k of a conjunction of terms in one pass, with concrete
//! term scorers (no virtual call per document).
//!
//! Every match is counted; a match is scored only while the sum of its
//! terms' block bounds can still beat the k-th best score (an equal score
//! never displaces an earlier hit, so a bound that only reaches the
//! threshold is not enough).

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
