//! Compiled queries: a [`Query`] with index-wide statistics resolved
//! (BM25 idf and average lengths), ready to build per-segment scorers.

use crate::document::Value;
use crate::error::{Error, Result};
use crate::index::segment_reader::SegmentReader;
use crate::schema::{Field, FieldType, NumericKind, Schema};
use crate::search::bm25::{idf, Bm25, FieldStats, LengthFactors};
use crate::search::query::Query;
use crate::search::scorer::*;
use crate::search::union_count::with_union_bits;
use lucerna_codec::columns::{f64_to_u64, i64_to_u64};
use std::borrow::Cow;
use std::ops::Bound;
use std::sync::Arc;

/// The term-dictionary key of `term` in `field`: the field ordinal byte
/// followed by the term's bytes.
pub fn term_key(field: Field, term: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(term.len() + 1);
    k.push(field.0 as u8);
    k.extend_from_slice(term.as_bytes());
    k
}

/// A compiled query.
#[derive(Debug, Clone)]
pub enum Weight {
    /// Term with its scorer.
    Term {
        /// Field.
        field: Field,
        /// Dictionary key.
        key: Vec<u8>,
        /// BM25 with index-wide statistics.
        bm25: Arc<Bm25>,
    },
    /// Phrase.
    Phrase {
        /// Field.
        field: Field,
        /// (dictionary key, offset) pairs.
        keys: Vec<(Vec<u8>, u32)>,
        /// Slop.
        slop: u32,
        /// BM25 with the summed idf.
        bm25: Arc<Bm25>,
    },
    /// Prefix (constant score).
    Prefix {
        /// Prefix key.
        key: Vec<u8>,
        /// Score.
        score: f32,
    },
    /// Numeric range over a column, bounds as order-preserving u64, inclusive.
    Range {
        /// Field.
        field: Field,
        /// Inclusive lower bound.
        lo: u64,
        /// Inclusive upper bound.
        hi: u64,
        /// Score.
        score: f32,
    },
    /// Boolean.
    Boolean {
        /// Required.
        must: Vec<Weight>,
        /// Optional.
        should: Vec<Weight>,
        /// Prohibited.
        must_not: Vec<Weight>,
        /// Minimum optional matches.
        min_should: usize,
    },
    /// Every document.
    All {
        /// Score.
        score: f32,
    },
    /// Matches nothing.
    Empty,
}

/// Index-wide statistics source (the searcher).
pub(crate) trait StatsSource {
    fn schema(&self) -> &Schema;
    fn doc_freq(&self, key: &[u8]) -> Result<u64>;
    fn field_stats(&self, field: Field) -> FieldStats;
    /// The field's BM25 length factors (from [`field_stats`]
    /// (StatsSource::field_stats)), computed once per field where the
    /// source can keep them.
    fn length_factors(&self, field: Field) -> Cow<'_, LengthFactors>;
}

fn check_field(schema: &Schema, field: Field) -> Result<&crate::schema::FieldEntry> {
    schema
        .entry(field)
        .ok_or_else(|| Error::Query(format!("unknown field ordinal {}", field.0)))
}

fn encode_bound(kind: NumericKind, v: &Value, name: &str) -> Result<u64> {
    let bad = || Error::Query(format!("field `{name}`: {v:?} is not a {kind:?} bound"));
    Ok(match kind {
        NumericKind::U64 => v.as_u64().ok_or_else(bad)?,
        NumericKind::I64 | NumericKind::Timestamp => i64_to_u64(v.as_i64().ok_or_else(bad)?),
        NumericKind::F64 => {
            let f = v.as_f64().ok_or_else(bad)?;
            if f.is_nan() {
                return Err(bad());
            }
            f64_to_u64(f)
        }
    })
}

impl Weight {
    /// Compiles `query` with statistics from `stats`.
    // Long on purpose: one short arm per kind of query, as a table would
    // list them; a function per arm would only move each arm elsewhere.
    pub(crate) fn build(query: &Query, stats: &dyn StatsSource, boost: f32) -> Result<Weight> {
        let schema = stats.schema();
        Ok(match query {
            Query::Term { field, term } => {
                let e = check_field(schema, *field)?;
                if !e.field_type.is_indexed() {
                    return Err(Error::Query(format!("field `{}` is not indexed", e.name)));
                }
                let key = term_key(*field, term);
                let df = stats.doc_freq(&key)?;
                if df == 0 {
                    return Ok(Weight::Empty);
                }
                let weight = boost * idf(df, stats.field_stats(*field).doc_count);
                Weight::Term {
                    field: *field,
                    bm25: Arc::new(Bm25::with_factors(weight, &stats.length_factors(*field))),
                    key,
                }
            }
            Query::Phrase { field, terms, slop } => {
                let e = check_field(schema, *field)?;
                if !matches!(e.field_type, FieldType::Text { .. }) {
                    return Err(Error::Query(format!(
                        "phrase query on `{}`, which has no positions",
                        e.name
                    )));
                }
                if terms.is_empty() {
                    return Ok(Weight::Empty);
                }
                if terms.len() == 1 {
                    return Weight::build(
                        &Query::Term {
                            field: *field,
                            term: terms[0].1.clone(),
                        },
                        stats,
                        boost,
                    );
                }
                let fs = stats.field_stats(*field);
                let mut keys = Vec::with_capacity(terms.len());
                let mut idf_sum = 0.0f32;
                for (pos, t) in terms {
                    let key = term_key(*field, t);
                    let df = stats.doc_freq(&key)?;
                    if df == 0 {
                        return Ok(Weight::Empty);
                    }
                    idf_sum += idf(df, fs.doc_count);
                    keys.push((key, *pos));
                }
                Weight::Phrase {
                    field: *field,
                    keys,
                    slop: *slop,
                    bm25: Arc::new(Bm25::with_factors(
                        boost * idf_sum,
                        &stats.length_factors(*field),
                    )),
                }
            }
            Query::Prefix { field, prefix } => {
                let e = check_field(schema, *field)?;
                if !e.field_type.is_indexed() {
                    return Err(Error::Query(format!("field `{}` is not indexed", e.name)));
                }
                Weight::Prefix {
                    key: term_key(*field, prefix),
                    score: boost,
                }
            }
            Query::Range {
                field,
                lower,
                upper,
            } => {
                let e = check_field(schema, *field)?;
                let FieldType::Numeric { kind, .. } = e.field_type else {
                    return Err(Error::Query(format!(
                        "range query on `{}`, which is not numeric",
                        e.name
                    )));
                };
                let lo = match lower {
                    Bound::Unbounded => Some(0),
                    Bound::Included(v) => Some(encode_bound(kind, v, &e.name)?),
                    Bound::Excluded(v) => encode_bound(kind, v, &e.name)?.checked_add(1),
                };
                let hi = match upper {
                    Bound::Unbounded => Some(u64::MAX),
                    Bound::Included(v) => Some(encode_bound(kind, v, &e.name)?),
                    Bound::Excluded(v) => encode_bound(kind, v, &e.name)?.checked_sub(1),
                };
                match (lo, hi) {
                    (Some(lo), Some(hi)) if lo <= hi => Weight::Range {
                        field: *field,
                        lo,
                        hi,
                        score: boost,
                    },
                    _ => Weight::Empty,
                }
            }
            Query::Boolean {
                must,
                should,
                must_not,
                minimum_should_match,
            } => {
                let build_all = |qs: &[Query], b: f32| -> Result<Vec<Weight>> {
                    qs.iter().map(|q| Weight::build(q, stats, b)).collect()
                };
                let must = build_all(must, boost)?;
                // A clause that matches nothing (e.g. a term absent from the
                // index) is dropped where that changes no result: an optional
                // or prohibited one never matches nor scores; a required one
                // makes the whole query match nothing.
                if must.iter().any(|w| matches!(w, Weight::Empty)) {
                    return Ok(Weight::Empty);
                }
                let mut should = build_all(should, boost)?;
                should.retain(|w| !matches!(w, Weight::Empty));
                let mut must_not = build_all(must_not, 1.0)?;
                must_not.retain(|w| !matches!(w, Weight::Empty));
                let min_should = *minimum_should_match;
                let need = if must.is_empty() {
                    min_should.max(1)
                } else {
                    min_should
                };
                if need > should.len() {
                    return Ok(Weight::Empty);
                }
                if must.is_empty() && must_not.is_empty() && should.len() == 1 {
                    // One optional clause alone: the same matches and the
                    // same score (0.0 + s == s).
                    return Ok(should.pop().unwrap_or(Weight::Empty));
                }
                Weight::Boolean {
                    must,
                    should,
                    must_not,
                    min_should,
                }
            }
            Query::MatchAll => Weight::All { score: boost },
            Query::Boost(inner, b) => {
                if !b.is_finite() || *b < 0.0 {
                    return Err(Error::Query(format!("boost {b} must be finite and ≥ 0")));
                }
                Weight::build(inner, stats, boost * b)?
            }
        })
    }

    /// The exact number of live matches in `seg`, when it can be had
    /// without scoring: a term (its document frequency when the segment has
    /// no deletions), a pure disjunction of terms (a bitset union), or a
    /// pure conjunction of terms (the rarest walked, the others probed).
    /// `None` for every other query: the caller counts while scoring.
    pub(crate) fn fast_count(&self, seg: &SegmentReader) -> Result<Option<u64>> {
        match self {
            Weight::Empty => Ok(Some(0)),
            Weight::Term { key, .. } => {
                let Some(info) = seg.term_info(key)? else {
                    return Ok(Some(0));
                };
                if seg.live_docs().is_none() {
                    return Ok(Some(info.doc_freq as u64));
                }
                let mut p = seg.postings(&info)?;
                let mut n = 0u64;
                p.for_each_block(|docs| {
                    n += docs.iter().filter(|&&d| seg.is_live(d)).count() as u64;
                })?;
                Ok(Some(n))
            }
            Weight::Boolean {
                must,
                should,
                must_not,
                min_should,
            } if must.is_empty()
                && must_not.is_empty()
                && *min_should <= 1
                && should.iter().all(|w| matches!(w, Weight::Term { .. })) =>
            {
                let mut infos = Vec::with_capacity(should.len());
                for w in should {
                    if let Weight::Term { key, .. } = w {
                        infos.extend(seg.term_info(key)?);
                    }
                }
                let postings = infos.iter().map(|i| i.doc_freq as u64).sum();
                let n = with_union_bits(seg.max_doc(), postings, |bits| {
                    for info in &infos {
                        // Doc ids are checked < max_doc by the decoder.
                        seg.postings(info)?.for_each_block(|docs| bits.add(docs))?;
                    }
                    Ok(match seg.live_docs() {
                        None => bits.count(None),
                        Some(_) => bits.count(Some(&|d| seg.is_live(d))),
                    })
                })?;
                Ok(Some(n))
            }
            Weight::Boolean {
                must,
                should,
                must_not,
                ..
            } if must.len() >= 2
                && should.is_empty()
                && must_not.is_empty()
                && must.iter().all(|w| matches!(w, Weight::Term { .. })) =>
            {
                let keys: Vec<&[u8]> = must
                    .iter()
                    .filter_map(|w| match w {
                        Weight::Term { key, .. } => Some(key.as_slice()),
                        _ => None,
                    })
                    .collect();
                count_conjunction(seg, &keys).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// For a term query, its scorer on `seg` (`Some(None)` when the segment
    /// lacks the term); `None` for any other query.
    pub(crate) fn term_scorer(&self, seg: &SegmentReader) -> Result<Option<Option<TermScorer>>> {
        let Weight::Term { field, key, bm25 } = self else {
            return Ok(None);
        };
        Ok(Some(match seg.term_info(key)? {
            None => None,
            Some(info) => Some(TermScorer::new(
                seg.postings(&info)?,
                bm25.clone(),
                seg.norms(*field),
            )),
        }))
    }

    /// True for a pure disjunction of terms (only `should` term clauses,
    /// at most one required to match).
    fn is_term_disjunction(&self) -> bool {
        matches!(self, Weight::Boolean { must, should, must_not, min_should }
            if must.is_empty()
                && must_not.is_empty()
                && *min_should <= 1
                && should.len() > 1
                && should.iter().all(|w| matches!(w, Weight::Term { .. })))
    }

    /// For a pure disjunction of terms, one term scorer per clause in query
    /// order (`None` where the segment lacks the term), for
    /// [`collect_maxscore`](crate::search::maxscore::collect_maxscore);
    /// `None` for any other query.
    pub(crate) fn term_disjunction_scorers(
        &self,
        seg: &SegmentReader,
    ) -> Result<Option<Vec<Option<TermScorer>>>> {
        if !self.is_term_disjunction() {
            return Ok(None);
        }
        let Weight::Boolean { should, .. } = self else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(should.len());
        for w in should {
            let Weight::Term { field, key, bm25 } = w else {
                return Ok(None);
            };
            out.push(match seg.term_info(key)? {
                None => None,
                Some(info) => Some(TermScorer::new(
                    seg.postings(&info)?,
                    bm25.clone(),
                    seg.norms(*field),
                )),
            });
        }
        Ok(Some(out))
    }

    /// For a conjunction of two or more terms (nothing optional or
    /// prohibited), their scorers on `seg` (`Some(None)` when the segment
    /// lacks one of the terms, so nothing matches); `None` for any other
    /// query.
    pub(crate) fn term_conjunction_scorers(
        &self,
        seg: &SegmentReader,
    ) -> Result<Option<Option<Vec<TermScorer>>>> {
        let Weight::Boolean {
            must,
            should,
            must_not,
            ..
        } = self
        else {
            return Ok(None);
        };
        if must.len() < 2 || !should.is_empty() || !must_not.is_empty() {
            return Ok(None);
        }
        if !must.iter().all(|w| matches!(w, Weight::Term { .. })) {
            return Ok(None);
        }
        // Every term's entry first: a term missing from the segment ends
        // it before any postings are opened. Then the scorers are made
        // rarest first, the order the conjunction sorts them in (stable,
        // so equal ones keep the query's order): sorting the scorers
        // themselves moved kilobytes each.
        let mut found = Vec::with_capacity(must.len());
        for w in must {
            let Weight::Term { field, key, bm25 } = w else {
                return Ok(None);
            };
            match seg.term_info(key)? {
                None => return Ok(Some(None)),
                Some(info) => found.push((info, *field, bm25)),
            }
        }
        found.sort_by_key(|(info, _, _)| info.doc_freq);
        let mut out = Vec::with_capacity(found.len());
        for (info, field, bm25) in found {
            out.push(TermScorer::new(
                seg.postings(&info)?,
                bm25.clone(),
                seg.norms(field),
            ));
        }
        Ok(Some(Some(out)))
    }

    /// Builds the scorer of this weight on one segment (`None`: no match).
    // Long on purpose: one short arm per kind of weight (see `build`).
    pub(crate) fn scorer(&self, seg: &SegmentReader) -> Result<Option<Box<dyn Scorer>>> {
        Ok(match self {
            Weight::Empty => None,
            Weight::All { score } => Some(Box::new(AllScorer::new(seg.max_doc(), *score))),
            Weight::Term { field, key, bm25 } => match seg.term_info(key)? {
                None => None,
                Some(info) => Some(Box::new(TermScorer::new(
                    seg.postings(&info)?,
                    bm25.clone(),
                    seg.norms(*field),
                ))),
            },
            Weight::Phrase {
                field,
                keys,
                slop,
                bm25,
            } => {
                let mut terms = Vec::with_capacity(keys.len());
                for (k, off) in keys {
                    match seg.term_info(k)? {
                        None => return Ok(None),
                        Some(info) => terms.push((seg.postings(&info)?, *off)),
                    }
                }
                Some(Box::new(PhraseScorer::new(
                    terms,
                    *slop,
                    bm25.clone(),
                    seg.norms(*field),
                )?))
            }
            Weight::Prefix { key, score } => {
                let docs = seg.prefix_docs(key)?;
                if docs.is_empty() {
                    None
                } else {
                    Some(Box::new(ConstScorer::new(docs, *score)))
                }
            }
            Weight::Range {
                field,
                lo,
                hi,
                score,
            } => {
                let docs = seg.range_docs(*field, *lo, *hi)?;
                if docs.is_empty() {
                    None
                } else {
                    Some(Box::new(ConstScorer::new(docs, *score)))
                }
            }
            Weight::Boolean {
                must,
                should,
                must_not,
                min_should,
            } => {
                let mut req: Vec<Box<dyn Scorer>> = Vec::new();
                for w in must {
                    match w.scorer(seg)? {
                        Some(s) => req.push(s),
                        None => return Ok(None),
                    }
                }
                let mut opt: Vec<Box<dyn Scorer>> = Vec::new();
                for w in should {
                    if let Some(s) = w.scorer(seg)? {
                        opt.push(s);
                    }
                }
                let mut excl: Vec<Box<dyn Scorer>> = Vec::new();
                for w in must_not {
                    if let Some(s) = w.scorer(seg)? {
                        excl.push(s);
                    }
                }
                let need_should = if must.is_empty() {
                    (*min_should).max(1)
                } else {
                    *min_should
                };
                if need_should > opt.len() {
                    return Ok(None);
                }
                let positive: Box<dyn Scorer> = if req.is_empty() {
                    if opt.is_empty() {
                        return Ok(None);
                    }
                    if opt.len() == 1 {
                        opt.pop().expect("one optional scorer")
                    } else {
                        Box::new(DisjunctionScorer::new(opt, need_should)?)
                    }
                } else {
                    let base: Box<dyn Scorer> = if req.len() == 1 {
                        req.pop().expect("one required scorer")
                    } else {
                        Box::new(ConjunctionScorer::new(req)?)
                    };
                    if opt.is_empty() {
                        base
                    } else if need_should > 0 {
                        let d: Box<dyn Scorer> = if opt.len() == 1 {
                            opt.pop().expect("one optional scorer")
                        } else {
                            Box::new(DisjunctionScorer::new(opt, need_should)?)
                        };
                        Box::new(ConjunctionScorer::new(vec![base, d])?)
                    } else {
                        let d: Box<dyn Scorer> = if opt.len() == 1 {
                            opt.pop().expect("one optional scorer")
                        } else {
                            Box::new(DisjunctionScorer::new(opt, 1)?)
                        };
                        Box::new(ReqOptScorer::new(base, d))
                    }
                };
                if excl.is_empty() {
                    Some(positive)
                } else {
                    let ex: Box<dyn Scorer> = if excl.len() == 1 {
                        excl.pop().expect("one excluded scorer")
                    } else {
                        Box::new(DisjunctionScorer::new(excl, 1)?)
                    };
                    Some(Box::new(ExclusionScorer::new(positive, ex)?))
                }
            }
        })
    }
}

/// Counts the live documents holding every one of `keys` without scoring:
/// the rarest term's blocks are walked as plain slices, and every other
/// term is probed with `seek` (which skips whole blocks by the skip table
/// and never moves backwards). No scorer, no per-document virtual call.
fn count_conjunction(seg: &SegmentReader, keys: &[&[u8]]) -> Result<u64> {
    let mut lists = Vec::with_capacity(keys.len());
    for key in keys {
        match seg.term_info(key)? {
            Some(info) => lists.push(seg.postings(&info)?),
            None => return Ok(0),
        }
    }
    lists.sort_by_key(|p| p.doc_freq());
    let (lead, others) = lists.split_at_mut(1);
    let mut n = 0u64;
    let mut err = None;
    let mut done = false;
    lead[0].for_each_block(|docs| {
        if done {
            return;
        }
        'docs: for &d in docs {
            for p in others.iter_mut() {
                match p.seek(d) {
                    Ok(x) if x == d => {}
                    Ok(lucerna_codec::postings::TERMINATED) => {
                        done = true;
                        return;
                    }
                    Ok(_) => continue 'docs,
                    Err(e) => {
                        err = Some(e);
                        done = true;
                        return;
                    }
                }
            }
            n += seg.is_live(d) as u64;
        }
    })?;
    match err {
        Some(e) => Err(e.into()),
        None => Ok(n),
    }
}
