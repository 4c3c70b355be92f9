//! [`Searcher`]: runs queries over a fixed set of segments.

use crate::analysis::Analyzer;
use crate::document::Document;
use crate::error::{Error, Result};
use crate::index::commit::SegmentMeta;
use crate::index::page_budget::PageBudget;
use crate::index::segment_reader::SegmentReader;
use crate::index::IdSet;
use crate::schema::{Field, FieldType, Schema};
use crate::search::bm25::{FieldStats, LengthFactors};
use crate::search::collector::{DocAddress, ScoredDoc, TopK, TopKSorted};
use crate::search::conjunction::{collect_term_conjunction, collect_term_conjunction_pruned};
use crate::search::maxscore::collect_maxscore;
use crate::search::query::Query;
use crate::search::scorer::{Scorer, TermScorer, TERMINATED};
use crate::search::weight::{StatsSource, Weight};
use std::borrow::Cow;
use std::sync::Arc;
use std::sync::OnceLock;

/// Result of a search: the exact number of matches and the best hits.
#[derive(Debug, Clone, PartialEq)]
pub struct TopDocs {
    /// Exact number of matching live documents (when counted).
    pub count: Option<u64>,
    /// Best hits, best first.
    pub hits: Vec<ScoredDoc>,
    /// `Some` when the searcher is partial (only with
    /// [`Index::allow_partial`](crate::Index::allow_partial)): the segments
    /// it left out and the documents they hold. The count and hits are of
    /// the intact segments only.
    pub partial: Option<Arc<Vec<Unavailable>>>,
}

impl TopDocs {
    /// True when segments were left out of this result.
    pub fn is_partial(&self) -> bool {
        self.partial.is_some()
    }
}

/// A segment a partial searcher left out (it is quarantined: a file is
/// damaged or missing and no replica restored it), and what it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Unavailable {
    /// The segment.
    pub segment: String,
    /// The damaged or missing file.
    pub file: String,
    /// Why it could not be opened.
    pub reason: String,
    /// Its live documents, missing from every result.
    pub docs: u64,
    /// The `id` values of those documents, when the commit records them
    /// (see [`SegmentMeta::ids`](crate::index::commit::SegmentMeta::ids)):
    /// the unavailable id ranges are `ids.ranges()`.
    pub ids: Option<IdSet>,
    /// Smallest and largest of them, when known.
    pub id_range: Option<(u64, u64)>,
}

impl Unavailable {
    pub(crate) fn of(meta: &SegmentMeta, e: &Error) -> Unavailable {
        Unavailable {
            segment: meta.name.clone(),
            file: match e {
                Error::Store(s) => s.file().to_string(),
                _ => meta.name.clone(),
            },
            reason: e.to_string(),
            docs: meta.num_live() as u64,
            ids: meta.ids.clone(),
            id_range: meta.id_range,
        }
    }
}

/// How to collect.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Collect {
    /// Count every match and keep the top `k` by BM25 (one pass).
    CountAndTopK(usize),
    /// Only the top `k` by BM25: blocks whose maximum possible score
    /// cannot enter the top `k` are skipped (block-max pruning); no count.
    TopK(usize),
    /// Only count.
    Count,
    /// Count and keep the top `k` by a numeric column (e.g. newest first);
    /// documents without a value come last, by address.
    CountAndTopKByField {
        /// The numeric field.
        field: Field,
        /// How many.
        k: usize,
        /// Largest values first.
        descending: bool,
    },
}

/// A point-in-time view of an index: a set of segments and their deletes.
/// Cheap to clone; searches are `&self` and can run from many threads.
///
/// ```
/// use lucerna::{Index, Document, schema::Schema, store::RamDirectory, Query, WriterConfig};
/// # fn main() -> lucerna::Result<()> {
/// let index = Index::create(RamDirectory::new(), Schema::logs())?;
/// let body = index.schema().field("body").unwrap();
/// let id = index.schema().field("id").unwrap();
/// let writer = index.writer(WriterConfig::default())?;
/// let mut doc = Document::new();
/// doc.add_u64(id, 1).add_text(body, "disk full on node 7");
/// writer.add_document(doc)?;
/// writer.commit()?;
/// let searcher = index.reader()?.searcher();
/// let top = searcher.top_k(&Query::term(body, "disk"), 10)?;
/// assert_eq!(top.count, Some(1));
/// let stored = searcher.doc(top.hits[0].address)?;
/// assert_eq!(stored.get_first(id).and_then(|v| v.as_u64()), Some(1));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Searcher {
    schema: Arc<Schema>,
    analyzer: Arc<dyn Analyzer>,
    segments: Arc<Vec<SegmentReader>>,
    generation: u64,
    page_budget: Option<Arc<PageBudget>>,
    /// Segments left out (a partial searcher), empty when complete.
    unavailable: Arc<Vec<Unavailable>>,
    /// Each field's BM25 length factors, computed by the first query
    /// that scores the field (by ordinal; the segments never change).
    length_factors: Arc<Vec<OnceLock<LengthFactors>>>,
}

impl std::fmt::Debug for Searcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Searcher")
            .field("generation", &self.generation)
            .field("segments", &self.segments.len())
            .finish()
    }
}

impl StatsSource for Searcher {
    fn schema(&self) -> &Schema {
        &self.schema
    }
    fn doc_freq(&self, key: &[u8]) -> Result<u64> {
        let mut df = 0;
        for s in self.segments.iter() {
            if let Some(info) = s.term_info(key)? {
                df += info.doc_freq as u64;
            }
        }
        Ok(df)
    }
    fn field_stats(&self, field: Field) -> FieldStats {
        let mut t = FieldStats::default();
        for s in self.segments.iter() {
            let f = s.field_stats(field);
            // Values from disk: saturate rather than overflow.
            t.doc_count = t.doc_count.saturating_add(f.doc_count);
            t.sum_total_term_freq = t.sum_total_term_freq.saturating_add(f.sum_total_term_freq);
        }
        t
    }
    fn length_factors(&self, field: Field) -> Cow<'_, LengthFactors> {
        let compute = || LengthFactors::new(self.field_stats(field));
        match self.length_factors.get(field.0 as usize) {
            Some(cell) => Cow::Borrowed(cell.get_or_init(compute)),
            None => Cow::Owned(compute()),
        }
    }
}

impl Searcher {
    pub(crate) fn new(
        schema: Arc<Schema>,
        analyzer: Arc<dyn Analyzer>,
        segments: Vec<SegmentReader>,
        generation: u64,
    ) -> Self {
        let length_factors = Arc::new((0..schema.len()).map(|_| OnceLock::new()).collect());
        Searcher {
            schema,
            analyzer,
            segments: Arc::new(segments),
            generation,
            page_budget: None,
            unavailable: Arc::new(Vec::new()),
            length_factors,
        }
    }

    /// This searcher, missing `unavailable` segments (a partial searcher).
    pub(crate) fn with_unavailable(mut self, unavailable: Vec<Unavailable>) -> Self {
        self.unavailable = Arc::new(unavailable);
        self
    }

    /// The segments this searcher left out (empty unless it was opened
    /// with [`Index::allow_partial`](crate::Index::allow_partial) and a
    /// segment is quarantined).
    pub fn unavailable(&self) -> &[Unavailable] {
        &self.unavailable
    }

    /// What every result carries: `Some` when segments are left out.
    fn partial(&self) -> Option<Arc<Vec<Unavailable>>> {
        (!self.unavailable.is_empty()).then(|| self.unavailable.clone())
    }

    /// This searcher, enforcing `budget` after each query.
    pub(crate) fn with_page_budget(mut self, budget: Option<Arc<PageBudget>>) -> Self {
        self.page_budget = budget;
        self
    }

    /// The page budget this searcher enforces after each query (see
    /// [`Index::with_page_budget`](crate::Index::with_page_budget)).
    pub fn page_budget(&self) -> Option<&Arc<PageBudget>> {
        self.page_budget.as_ref()
    }

    /// Gives the resident pages of every file of this searcher's segments
    /// back to the operating system (the files stay readable: the next
    /// query faults in what it reads, from the page cache). Searchers with
    /// a [`PageBudget`] do this themselves when the process is over it.
    pub fn release_pages(&self) {
        for s in self.segments.iter() {
            s.core().release_pages();
        }
    }

    /// The schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The analyzer of text fields.
    pub fn analyzer(&self) -> &Arc<dyn Analyzer> {
        &self.analyzer
    }

    /// The segments (outside the crate: `internals::SearcherInternals`).
    pub(crate) fn segment_readers(&self) -> &[SegmentReader] {
        &self.segments
    }

    /// Commit generation this view was opened from (for near-real-time
    /// views: the last commit before it).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Number of live documents.
    pub fn num_docs(&self) -> u64 {
        self.segments.iter().map(|s| s.num_live() as u64).sum()
    }

    /// Compiles a query against this view's statistics.
    pub(crate) fn weight(&self, query: &Query) -> Result<Weight> {
        Weight::build(query, self, 1.0)
    }

    /// Counts matches.
    pub fn count(&self, query: &Query) -> Result<u64> {
        Ok(self.search(query, Collect::Count)?.count.unwrap_or(0))
    }

    /// Counts matches and returns the best `k` by BM25, in one pass.
    pub fn top_k(&self, query: &Query, k: usize) -> Result<TopDocs> {
        self.search(query, Collect::CountAndTopK(k))
    }

    /// Counts matches and returns the `k` with the largest (or smallest)
    /// value of a numeric field; ties by address; documents without a value
    /// come last (in either direction).
    pub fn top_k_by_field(
        &self,
        query: &Query,
        k: usize,
        field: Field,
        descending: bool,
    ) -> Result<TopDocs> {
        self.search(
            query,
            Collect::CountAndTopKByField {
                field,
                k,
                descending,
            },
        )
    }

    /// Runs `query` and collects as asked.
    pub fn search(&self, query: &Query, collect: Collect) -> Result<TopDocs> {
        let weight = self.weight(query)?;
        self.search_weight(&weight, collect)
    }

    /// Runs a compiled query.
    pub(crate) fn search_weight(&self, weight: &Weight, collect: Collect) -> Result<TopDocs> {
        let result = self.search_weight_unbudgeted(weight, collect);
        if let Some(budget) = &self.page_budget {
            budget.enforce(|| self.release_pages());
        }
        result
    }

    // Long on purpose: the per-segment loop of every search. For each
    // segment it picks the fastest path the collect mode allows (MaxScore
    // for top-k of a disjunction, one pass for a conjunction, counting from
    // document frequencies, the generic scorer), each path a few lines
    // sharing the running count and top-k.
    fn search_weight_unbudgeted(&self, weight: &Weight, collect: Collect) -> Result<TopDocs> {
        if let Collect::CountAndTopKByField { field, .. } = collect {
            match self.schema.entry(field).map(|e| &e.field_type) {
                Some(FieldType::Numeric { .. }) => {}
                _ => return Err(Error::Query("sorting needs a numeric field".into())),
            }
        }
        let mut count = 0u64;
        let mut top = match collect {
            Collect::CountAndTopK(k) | Collect::TopK(k) => TopK::new(k),
            _ => TopK::new(0),
        };
        let mut sorted = match collect {
            Collect::CountAndTopKByField { k, descending, .. } => TopKSorted::new(k, descending),
            _ => TopKSorted::new(0, true),
        };
        for (ord, seg) in self.segments.iter().enumerate() {
            let ord = ord as u32;
            if let Collect::CountAndTopK(k) | Collect::TopK(k) = collect {
                if k > 0 {
                    if let Some(clauses) = weight.term_disjunction_scorers(seg)? {
                        if let Collect::CountAndTopK(_) = collect {
                            count += weight.fast_count(seg)?.unwrap_or(0);
                        }
                        collect_maxscore(seg, ord, clauses, &mut top)?;
                        continue;
                    }
                }
            }
            if let Collect::CountAndTopK(k) = collect {
                // A conjunction of terms: counted and scored in one pass
                // with concrete scorers.
                if let Some(terms) = weight.term_conjunction_scorers(seg)? {
                    if let Some(terms) = terms {
                        count += collect_term_conjunction(seg, ord, terms, &mut top, k > 0)?;
                    }
                    continue;
                }
            }
            if let Collect::TopK(k) = collect {
                // A conjunction of terms, top k only: whole windows that
                // cannot compete are skipped, with concrete scorers.
                if k > 0 {
                    if let Some(terms) = weight.term_conjunction_scorers(seg)? {
                        if let Some(terms) = terms {
                            collect_term_conjunction_pruned(seg, ord, terms, &mut top)?;
                        }
                        continue;
                    }
                }
            }
            if let Collect::CountAndTopK(k) | Collect::TopK(k) = collect {
                // A lone term: a concrete scorer, so the hot loop is
                // monomorphized instead of going through `dyn Scorer`.
                if let Some(term) = weight.term_scorer(seg)? {
                    let mut term = match term {
                        Some(t) => t,
                        None => continue,
                    };
                    if let Collect::CountAndTopK(_) = collect {
                        // Without deletions the count is the scorer's own
                        // doc_freq: no second dictionary lookup.
                        count += if seg.live_docs().is_none() {
                            term.cost()
                        } else {
                            weight.fast_count(seg)?.unwrap_or(0)
                        };
                    }
                    if k > 0 {
                        collect_term_pruned(seg, ord, &mut term, &mut top)?;
                    }
                    continue;
                }
            }
            if let Collect::Count = collect {
                if let Some(n) = weight.fast_count(seg)? {
                    count += n;
                    continue;
                }
            }
            let Some(mut scorer) = weight.scorer(seg)? else {
                continue;
            };
            match collect {
                Collect::Count => count += count_segment(seg, scorer.as_mut())?,
                Collect::CountAndTopK(k) => match weight.fast_count(seg)? {
                    // Counted without scoring: top-k may skip whole blocks.
                    Some(n) => {
                        count += n;
                        if k > 0 {
                            collect_pruned(seg, ord, scorer.as_mut(), &mut top)?;
                        }
                    }
                    None => count += collect_scored(seg, ord, scorer.as_mut(), &mut top, k > 0)?,
                },
                Collect::TopK(_) => collect_pruned(seg, ord, scorer.as_mut(), &mut top)?,
                Collect::CountAndTopKByField { field, .. } => {
                    let mut d = scorer.doc();
                    while d != TERMINATED {
                        if seg.is_live(d) {
                            count += 1;
                            let address = DocAddress {
                                segment: ord,
                                doc: d,
                            };
                            // Documents without a value sort last.
                            match seg.column_value(field, d) {
                                Some(v) => sorted.push(v, address),
                                None => sorted.push_missing(address),
                            }
                        }
                        d = scorer.advance()?;
                    }
                }
            }
        }
        Ok(match collect {
            Collect::Count => TopDocs {
                count: Some(count),
                hits: Vec::new(),
                partial: self.partial(),
            },
            Collect::CountAndTopK(_) => TopDocs {
                count: Some(count),
                hits: top.into_sorted(),
                partial: self.partial(),
            },
            Collect::TopK(_) => TopDocs {
                count: None,
                hits: top.into_sorted(),
                partial: self.partial(),
            },
            Collect::CountAndTopKByField { .. } => TopDocs {
                count: Some(count),
                hits: sorted.into_sorted(),
                partial: self.partial(),
            },
        })
    }

    /// Parses a query string (Lucene syntax; default operator OR; default
    /// fields: every text field) with this index's analyzer.
    pub fn parse_query(&self, text: &str) -> Result<Query> {
        crate::search::parse::QueryBuilder::new(&self.schema, self.analyzer.as_ref())
            .parse(&crate::query_parser::QueryParser::new(), text)
    }

    /// The stored fields of a hit (checks the page budget after, as a
    /// query does).
    pub fn doc(&self, address: DocAddress) -> Result<Document> {
        let result = self.doc_unbudgeted(address);
        if let Some(budget) = &self.page_budget {
            budget.enforce(|| self.release_pages());
        }
        result
    }

    fn doc_unbudgeted(&self, address: DocAddress) -> Result<Document> {
        let seg = self
            .segments
            .get(address.segment as usize)
            .ok_or_else(|| Error::InvalidArgument(format!("no segment {}", address.segment)))?;
        if address.doc >= seg.max_doc() {
            return Err(Error::InvalidArgument(format!(
                "doc {} out of range in segment {}",
                address.doc, address.segment
            )));
        }
        seg.doc(address.doc)
    }

    /// The encoded column value of numeric `field` for a hit.
    pub fn column_value(&self, address: DocAddress, field: Field) -> Option<u64> {
        self.segments
            .get(address.segment as usize)?
            .column_value(field, address.doc)
    }
}

fn count_segment(seg: &SegmentReader, scorer: &mut dyn Scorer) -> Result<u64> {
    let mut n = 0;
    let mut d = scorer.doc();
    if seg.live_docs().is_none() {
        while d != TERMINATED {
            n += 1;
            d = scorer.advance()?;
        }
    } else {
        while d != TERMINATED {
            n += seg.is_live(d) as u64;
            d = scorer.advance()?;
        }
    }
    Ok(n)
}

/// Counts every match; scores only documents whose block could still
/// enter the top k.
fn collect_scored(
    seg: &SegmentReader,
    ord: u32,
    scorer: &mut dyn Scorer,
    top: &mut TopK,
    want_hits: bool,
) -> Result<u64> {
    if !want_hits {
        return count_segment(seg, scorer);
    }
    let mut n = 0;
    let mut d = scorer.doc();
    let mut up_to: u32 = 0;
    let mut block_max = f32::INFINITY;
    let mut first = true;
    while d != TERMINATED {
        if seg.is_live(d) {
            n += 1;
            let threshold = top.threshold();
            if threshold > f32::NEG_INFINITY && (first || d > up_to) {
                up_to = scorer.shallow_seek(d)?;
                block_max = scorer.block_max_score();
                first = false;
            }
            // A hit equal to the threshold never enters (earlier hits win
            // ties), so a block whose bound only reaches it is skipped.
            if block_max > threshold || d > up_to {
                push_scored(scorer, ord, d, top)?;
            }
        }
        d = scorer.advance()?;
    }
    Ok(n)
}

/// Scores the scorer's current document `d` of segment `ord` into `top`.
#[inline]
fn push_scored<S: Scorer + ?Sized>(scorer: &mut S, ord: u32, d: u32, top: &mut TopK) -> Result<()> {
    let s = scorer.score()?;
    top.push(
        s,
        DocAddress {
            segment: ord,
            doc: d,
        },
    );
    Ok(())
}

/// Top-k without counting: skips whole blocks whose maximum score cannot
/// beat the current k-th score.
fn collect_pruned<S: Scorer + ?Sized>(
    seg: &SegmentReader,
    ord: u32,
    scorer: &mut S,
    top: &mut TopK,
) -> Result<()> {
    let mut d = scorer.doc();
    // The block bound holds for docs up to `up_to`; it is recomputed only
    // when the cursor leaves that range (once per block, not per doc).
    let mut up_to = 0u32;
    let mut block_max = f32::INFINITY;
    let mut bound_known = false;
    while d != TERMINATED {
        let threshold = top.threshold();
        if threshold > f32::NEG_INFINITY {
            if !bound_known || d > up_to {
                up_to = scorer.shallow_seek(d)?;
                block_max = scorer.block_max_score();
                bound_known = true;
            }
            // Equal scores never displace an earlier hit: a block whose
            // bound only reaches the threshold cannot contribute.
            if block_max <= threshold {
                match next_competitive(scorer, up_to, threshold)? {
                    Some((doc, last, bound)) => (d, up_to, block_max) = (doc, last, bound),
                    None => return Ok(()),
                }
                continue;
            }
        }
        if seg.is_live(d) {
            push_scored(scorer, ord, d, top)?;
        }
        d = scorer.advance()?;
    }
    Ok(())
}

/// After a block ending at `up_to` that cannot beat `threshold`: walks the
/// following blocks by their bounds alone (a group of blocks at a time
/// where the scorer bounds groups; nothing decoded) and moves the cursor
/// to the first that could compete. Returns the cursor's document there,
/// that block's last document and its bound; `None` when no block is
/// left.
fn next_competitive<S: Scorer + ?Sized>(
    scorer: &mut S,
    mut up_to: u32,
    threshold: f32,
) -> Result<Option<(u32, u32, f32)>> {
    loop {
        if up_to == TERMINATED {
            return Ok(None);
        }
        let target = up_to + 1;
        // A whole group of blocks first, when the scorer bounds one (a
        // common term's 32 blocks at a time).
        if let Some((last, bound)) = scorer.shallow_seek_group(target)? {
            if bound <= threshold {
                up_to = last;
                continue;
            }
        }
        up_to = scorer.shallow_seek(target)?;
        let block_max = scorer.block_max_score();
        if block_max > threshold {
            let d = scorer.seek(target)?;
            return Ok(Some((d, up_to, block_max)));
        }
    }
}

/// [`collect_pruned`] for a lone term: a block that may compete is scored
/// in one loop over its decoded documents ([`TermScorer::collect_block`]),
/// not a call per document.
fn collect_term_pruned(
    seg: &SegmentReader,
    ord: u32,
    term: &mut TermScorer,
    top: &mut TopK,
) -> Result<()> {
    let mut d = term.doc();
    while d != TERMINATED {
        let threshold = top.threshold();
        if threshold > f32::NEG_INFINITY {
            let up_to = term.shallow_seek(d)?;
            if term.block_max_score() <= threshold {
                match next_competitive(term, up_to, threshold)? {
                    Some((doc, _, _)) => d = doc,
                    None => return Ok(()),
                }
                continue;
            }
        }
        d = term.collect_block(|doc| seg.is_live(doc), ord, top)?;
    }
    Ok(())
}
