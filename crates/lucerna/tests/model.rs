//! Model test: random corpora and random queries of every kind, checked
//! against a brute-force reference written here: counts, hit sets, top-k
//! (ids and BM25 scores within 1e-4 relative, ties by doc id), time-sorted
//! top-k, in one segment and in many, with deletes and updates.

use lucerna::codec::norms::{length_to_norm, norm_to_length};
use lucerna::schema::{Field, NumericKind, Schema};
use lucerna::search::scorer::sloppy_freq;
use lucerna::store::RamDirectory;
use lucerna::{Collect, Document, Index, Query, Searcher, Value, WriterConfig};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;

const VOCAB: &[&str] = &[
    "alpha", "beta", "gamma", "delta", "alps", "bet", "error", "err", "disk", "full", "node", "x",
];
const TAGS: &[&str] = &["red", "green", "blue"];

#[derive(Debug, Clone)]
struct MDoc {
    id: u64,
    ts: i64,
    tag: usize,
    words: Vec<usize>,
}

#[derive(Debug, Clone)]
enum MQuery {
    Term(usize),
    Tag(usize),
    Phrase(Vec<usize>, u32),
    Prefix(String),
    Range(Bound<i64>, Bound<i64>),
    All,
    Bool {
        must: Vec<MQuery>,
        should: Vec<MQuery>,
        must_not: Vec<MQuery>,
        msm: usize,
    },
}

fn arb_doc(id: u64) -> impl Strategy<Value = MDoc> {
    (
        -50i64..50,
        0..TAGS.len(),
        prop::collection::vec(0..VOCAB.len(), 0..12),
    )
        .prop_map(move |(ts, tag, words)| MDoc { id, ts, tag, words })
}

fn arb_corpus(max: usize) -> impl Strategy<Value = Vec<MDoc>> {
    (1..max).prop_flat_map(|n| (0..n as u64).map(arb_doc).collect::<Vec<_>>())
}

fn arb_bound() -> impl Strategy<Value = Bound<i64>> {
    prop_oneof![
        Just(Bound::Unbounded),
        (-55i64..55).prop_map(Bound::Included),
        (-55i64..55).prop_map(Bound::Excluded),
    ]
}

fn arb_leaf() -> impl Strategy<Value = MQuery> {
    prop_oneof![
        4 => (0..VOCAB.len()).prop_map(MQuery::Term),
        1 => (0..TAGS.len()).prop_map(MQuery::Tag),
        3 => (prop::collection::vec(0..VOCAB.len(), 2..4), 0u32..3).prop_map(|(w, s)| MQuery::Phrase(w, s)),
        1 => prop::sample::select(vec!["al", "be", "er", "d", "zz", "alpha", "e"]).prop_map(|p| MQuery::Prefix(p.to_string())),
        1 => (arb_bound(), arb_bound()).prop_map(|(a, b)| MQuery::Range(a, b)),
        1 => Just(MQuery::All),
    ]
}

fn arb_query() -> impl Strategy<Value = MQuery> {
    arb_leaf().prop_recursive(2, 12, 4, |inner| {
        (
            prop::collection::vec(inner.clone(), 0..3),
            prop::collection::vec(inner.clone(), 0..4),
            prop::collection::vec(inner, 0..2),
            0usize..3,
        )
            .prop_map(|(must, should, must_not, msm)| MQuery::Bool {
                must,
                should,
                must_not,
                msm,
            })
    })
}

struct Fields {
    id: Field,
    ts: Field,
    tag: Field,
    body: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let id = b.add_numeric("id", NumericKind::U64, true);
    let ts = b.add_numeric("ts", NumericKind::Timestamp, false);
    let tag = b.add_keyword("tag", false);
    let body = b.add_text("body", false);
    (b.build().unwrap(), Fields { id, ts, tag, body })
}

fn to_doc(d: &MDoc, f: &Fields) -> Document {
    let mut doc = Document::new();
    doc.add_u64(f.id, d.id)
        .add_i64(f.ts, d.ts)
        .add_text(f.tag, TAGS[d.tag]);
    let text: Vec<&str> = d.words.iter().map(|&w| VOCAB[w]).collect();
    doc.add_text(f.body, text.join(" "));
    doc
}

fn to_query(q: &MQuery, f: &Fields) -> Query {
    match q {
        MQuery::Term(w) => Query::term(f.body, VOCAB[*w]),
        MQuery::Tag(t) => Query::term(f.tag, TAGS[*t]),
        MQuery::Phrase(ws, slop) => Query::Phrase {
            field: f.body,
            terms: ws
                .iter()
                .enumerate()
                .map(|(i, &w)| (i as u32, VOCAB[w].to_string()))
                .collect(),
            slop: *slop,
        },
        MQuery::Prefix(p) => Query::Prefix {
            field: f.body,
            prefix: p.clone(),
        },
        MQuery::Range(a, b) => {
            let c = |b: &Bound<i64>| match b {
                Bound::Unbounded => Bound::Unbounded,
                Bound::Included(v) => Bound::Included(Value::I64(*v)),
                Bound::Excluded(v) => Bound::Excluded(Value::I64(*v)),
            };
            Query::Range {
                field: f.ts,
                lower: c(a),
                upper: c(b),
            }
        }
        MQuery::All => Query::MatchAll,
        MQuery::Bool {
            must,
            should,
            must_not,
            msm,
        } => Query::Boolean {
            must: must.iter().map(|q| to_query(q, f)).collect(),
            should: should.iter().map(|q| to_query(q, f)).collect(),
            must_not: must_not.iter().map(|q| to_query(q, f)).collect(),
            minimum_should_match: *msm,
        },
    }
}

/// The brute-force reference: documents ever added (for statistics, as
/// deleted documents still count in Lucene's statistics) and live ones.
struct Reference<'a> {
    all: &'a [MDoc],
    live: &'a [bool],
}

impl Reference<'_> {
    fn doc_count(&self) -> f64 {
        self.all.iter().filter(|d| !d.words.is_empty()).count() as f64
    }
    fn avgdl(&self) -> f64 {
        let n = self.doc_count();
        let sum: usize = self.all.iter().map(|d| d.words.len()).sum();
        if n == 0.0 || sum == 0 {
            1.0
        } else {
            (sum as f64 / n) as f32 as f64
        }
    }
    fn df(&self, w: usize) -> f64 {
        self.all.iter().filter(|d| d.words.contains(&w)).count() as f64
    }
    fn idf(&self, df: f64, n: f64) -> f64 {
        let n = n.max(df);
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }
    fn tf_part(&self, tf: f64, len: usize) -> f64 {
        let dl = norm_to_length(length_to_norm(len as u32)) as f64;
        let k = 1.2 * (1.0 - 0.75 + 0.75 * dl / self.avgdl());
        tf / (tf + k)
    }

    /// Score if `d` matches `q`.
    fn eval(&self, q: &MQuery, d: &MDoc) -> Option<f64> {
        match q {
            MQuery::Term(w) => {
                let tf = d.words.iter().filter(|x| *x == w).count();
                if tf == 0 {
                    return None;
                }
                Some(
                    self.idf(self.df(*w), self.doc_count())
                        * self.tf_part(tf as f64, d.words.len()),
                )
            }
            MQuery::Tag(t) => {
                if d.tag != *t {
                    return None;
                }
                let df = self.all.iter().filter(|x| x.tag == *t).count() as f64;
                let n = self.all.len() as f64;
                // Keyword fields have length 1 in every document.
                let dl = norm_to_length(length_to_norm(1)) as f64;
                let k = 1.2 * (1.0 - 0.75 + 0.75 * dl / 1.0);
                Some(self.idf(df, n) * (1.0 / (1.0 + k)))
            }
            MQuery::Phrase(ws, slop) => {
                if ws.iter().any(|w| self.df(*w) == 0.0) {
                    return None;
                }
                let positions: Vec<Vec<u32>> = ws
                    .iter()
                    .map(|w| {
                        d.words
                            .iter()
                            .enumerate()
                            .filter(|(_, x)| *x == w)
                            .map(|(i, _)| i as u32)
                            .collect()
                    })
                    .collect();
                let offsets: Vec<u32> = (0..ws.len() as u32).collect();
                let freq = if *slop == 0 {
                    // Exact: count start positions.
                    (0..d.words.len())
                        .filter(|&s| {
                            ws.iter()
                                .enumerate()
                                .all(|(i, w)| d.words.get(s + i) == Some(w))
                        })
                        .count() as f64
                } else {
                    // Existence by brute force over every choice of positions.
                    if !exists_window(&positions, &offsets, *slop) {
                        return None;
                    }
                    sloppy_freq(&positions, &offsets, *slop) as f64
                };
                if freq == 0.0 {
                    return None;
                }
                let idf: f64 = ws
                    .iter()
                    .map(|w| self.idf(self.df(*w), self.doc_count()) as f32 as f64)
                    .sum();
                Some(idf * self.tf_part(freq, d.words.len()))
            }
            MQuery::Prefix(p) => d
                .words
                .iter()
                .any(|&w| VOCAB[w].starts_with(p.as_str()))
                .then_some(1.0),
            MQuery::Range(a, b) => {
                let lo = match a {
                    Bound::Unbounded => true,
                    Bound::Included(v) => d.ts >= *v,
                    Bound::Excluded(v) => d.ts > *v,
                };
                let hi = match b {
                    Bound::Unbounded => true,
                    Bound::Included(v) => d.ts <= *v,
                    Bound::Excluded(v) => d.ts < *v,
                };
                (lo && hi).then_some(1.0)
            }
            MQuery::All => Some(1.0),
            MQuery::Bool {
                must,
                should,
                must_not,
                msm,
            } => {
                let mut score = 0.0;
                for m in must {
                    score += self.eval(m, d)?;
                }
                if must_not.iter().any(|m| self.eval(m, d).is_some()) {
                    return None;
                }
                let need = if must.is_empty() { (*msm).max(1) } else { *msm };
                let mut matched = 0;
                for s in should {
                    if let Some(x) = self.eval(s, d) {
                        matched += 1;
                        score += x;
                    }
                }
                (matched >= need).then_some(score)
            }
        }
    }

    /// Every live match, (score, doc index), best first, ties by index.
    fn run(&self, q: &MQuery) -> Vec<(f64, usize)> {
        let mut v: Vec<(f64, usize)> = self
            .all
            .iter()
            .enumerate()
            .filter(|(i, _)| self.live[*i])
            .filter_map(|(i, d)| self.eval(q, d).map(|s| (s, i)))
            .collect();
        v.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        v
    }
}

fn exists_window(positions: &[Vec<u32>], offsets: &[u32], slop: u32) -> bool {
    fn rec(i: usize, positions: &[Vec<u32>], offsets: &[u32], lo: i64, hi: i64, slop: i64) -> bool {
        if i == positions.len() {
            return hi - lo <= slop;
        }
        positions[i].iter().any(|&p| {
            let a = p as i64 - offsets[i] as i64;
            rec(i + 1, positions, offsets, lo.min(a), hi.max(a), slop)
        })
    }
    rec(0, positions, offsets, i64::MAX, i64::MIN, slop as i64)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-4 * a.abs().max(b.abs()).max(1e-6)
}

/// Checks the engine's answers for `q` against the reference. `order`
/// maps engine document id values (the `id` field) to reference indexes.
fn check_query(
    s: &Searcher,
    r: &Reference<'_>,
    q: &MQuery,
    f: &Fields,
    id_to_idx: &HashMap<u64, usize>,
    check_scores: bool,
) -> Result<(), TestCaseError> {
    let expected = r.run(q);
    let query = to_query(q, f);
    let k = 5;
    let top = s
        .search(&query, Collect::CountAndTopK(k))
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(top.count, Some(expected.len() as u64), "count of {:?}", q);
    // Hit set, via a top-k as large as the index.
    let all = s.search(&query, Collect::CountAndTopK(100_000)).unwrap();
    let got: BTreeSet<usize> = all
        .hits
        .iter()
        .map(|h| id_to_idx[&s.column_value(h.address, f.id).unwrap()])
        .collect();
    let want: BTreeSet<usize> = expected.iter().map(|x| x.1).collect();
    prop_assert_eq!(&got, &want, "hit set of {:?}", q);
    if check_scores {
        let ref_score: HashMap<usize, f64> = expected.iter().map(|&(s, i)| (i, s)).collect();
        let hits: Vec<(f64, usize)> = top
            .hits
            .iter()
            .map(|h| {
                (
                    h.score as f64,
                    id_to_idx[&s.column_value(h.address, f.id).unwrap()],
                )
            })
            .collect();
        prop_assert_eq!(hits.len(), expected.len().min(k));
        for (rank, (sc, idx)) in hits.iter().enumerate() {
            prop_assert!(
                close(*sc, ref_score[idx]),
                "score of doc {} in {:?}: {} vs {}",
                idx,
                q,
                sc,
                ref_score[idx]
            );
            prop_assert!(
                close(*sc, expected[rank].0),
                "rank {} of {:?}: {} vs {}",
                rank,
                q,
                sc,
                expected[rank].0
            );
            // Where the reference's scores are clearly apart, ids agree exactly.
            let tied = expected
                .iter()
                .filter(|e| close(e.0, expected[rank].0))
                .count()
                > 1;
            if !tied {
                prop_assert_eq!(*idx, expected[rank].1, "rank {} of {:?}", rank, q);
            }
        }
        // Pruned top-k (no count) finds the same best scores.
        let pruned = s.search(&query, Collect::TopK(k)).unwrap();
        prop_assert_eq!(pruned.hits.len(), hits.len());
        for (a, b) in pruned.hits.iter().zip(&hits) {
            prop_assert!(close(a.score as f64, b.0), "pruned top-k of {:?}", q);
        }
    }
    // Time-sorted top-k: newest first, ties by doc order.
    let sorted = s
        .search(
            &query,
            Collect::CountAndTopKByField {
                field: f.ts,
                k,
                descending: true,
            },
        )
        .unwrap();
    let mut by_ts: Vec<(i64, usize)> = expected.iter().map(|&(_, i)| (r.all[i].ts, i)).collect();
    by_ts.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let got_ts: Vec<usize> = sorted
        .hits
        .iter()
        .map(|h| id_to_idx[&s.column_value(h.address, f.id).unwrap()])
        .collect();
    let want_ts: Vec<usize> = by_ts.iter().take(k).map(|x| x.1).collect();
    prop_assert_eq!(got_ts, want_ts, "time-sorted top-k of {:?}", q);
    Ok(())
}

fn build(corpus: &[MDoc], per_segment: Option<usize>) -> (Index, Searcher, Fields) {
    let (schema, f) = schema();
    let index = Index::create(RamDirectory::new(), schema).unwrap();
    let mut cfg = WriterConfig::default().threads(1);
    if let Some(n) = per_segment {
        cfg = cfg.max_buffered_docs(n);
    }
    let w = index.writer(cfg).unwrap();
    for d in corpus {
        w.add_document(to_doc(d, &f)).unwrap();
    }
    w.commit().unwrap();
    let s = index.reader().unwrap().searcher();
    (index, s, f)
}

fn config(seed: u64, cases: u32) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config(0x5EED_0003, 48))]

    #[test]
    fn queries_match_the_reference_in_one_and_many_segments(
        corpus in arb_corpus(300),
        queries in prop::collection::vec(arb_query(), 1..12),
    ) {
        let live = vec![true; corpus.len()];
        let r = Reference { all: &corpus, live: &live };
        let id_to_idx: HashMap<u64, usize> = corpus.iter().enumerate().map(|(i, d)| (d.id, i)).collect();
        let per_seg = corpus.len().div_ceil(50).max(1);
        let (_i1, one, f) = build(&corpus, None);
        let (_i2, many, _) = build(&corpus, Some(per_seg));
        prop_assert!(one.segments().len() <= 1);
        prop_assert!(many.segments().len() >= corpus.len().min(50) / 2, "{} segments", many.segments().len());
        for q in &queries {
            check_query(&one, &r, q, &f, &id_to_idx, true)?;
            check_query(&many, &r, q, &f, &id_to_idx, true)?;
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Add(MDoc),
    DeleteTag(usize),
    DeleteWord(usize),
    Update(u64, MDoc),
    Commit,
    Reopen,
}

fn arb_ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            12 => (0u64..1).prop_flat_map(|_| arb_doc(0)).prop_map(Op::Add),
            1 => (0..TAGS.len()).prop_map(Op::DeleteTag),
            1 => (0..VOCAB.len()).prop_map(Op::DeleteWord),
            2 => (0u64..200, arb_doc(0)).prop_map(|(id, d)| Op::Update(id, d)),
            1 => Just(Op::Commit),
            1 => Just(Op::Reopen),
        ],
        1..250,
    )
}

proptest! {
    #![proptest_config(config(0x5EED_0004, 32))]

    #[test]
    fn deletes_and_updates_are_exact(ops in arb_ops(), queries in prop::collection::vec(arb_query(), 1..6), per_seg in 1usize..40) {
        let (schema, f) = schema();
        let index = Index::create(RamDirectory::new(), schema).unwrap();
        let w = index.writer(WriterConfig::default().threads(1).max_buffered_docs(per_seg)).unwrap();
        // The id field is numeric; updates and deletes by id use a keyword copy.
        let mut all: Vec<MDoc> = Vec::new();
        let mut live: Vec<bool> = Vec::new();
        let mut next_id = 0u64;
        let check = |s: &Searcher, all: &[MDoc], live: &[bool]| -> Result<(), TestCaseError> {
            let r = Reference { all, live };
            let id_to_idx: HashMap<u64, usize> = all.iter().enumerate().map(|(i, d)| (d.id, i)).collect();
            prop_assert_eq!(s.num_docs(), live.iter().filter(|&&l| l).count() as u64);
            for q in &queries {
                check_query(s, &r, q, &f, &id_to_idx, true)?;
            }
            Ok(())
        };
        for op in &ops {
            match op {
                Op::Add(d) => {
                    let mut d = d.clone();
                    d.id = next_id;
                    next_id += 1;
                    w.add_document(to_doc(&d, &f)).unwrap();
                    all.push(d);
                    live.push(true);
                }
                Op::DeleteTag(t) => {
                    w.delete_term(f.tag, TAGS[*t]).unwrap();
                    for (i, d) in all.iter().enumerate() {
                        if d.tag == *t { live[i] = false; }
                    }
                }
                Op::DeleteWord(x) => {
                    w.delete_term(f.body, VOCAB[*x]).unwrap();
                    for (i, d) in all.iter().enumerate() {
                        if d.words.contains(x) { live[i] = false; }
                    }
                }
                Op::Update(tag_src, d) => {
                    // Replace every document of one tag with a new document.
                    let t = (*tag_src as usize) % TAGS.len();
                    let mut d = d.clone();
                    d.id = next_id;
                    next_id += 1;
                    w.update_document(f.tag, TAGS[t], to_doc(&d, &f)).unwrap();
                    for (i, x) in all.iter().enumerate() {
                        if x.tag == t { live[i] = false; }
                    }
                    all.push(d);
                    live.push(true);
                }
                Op::Commit => {
                    w.commit().unwrap();
                }
                Op::Reopen => {
                    let s = w.searcher().unwrap();
                    check(&s, &all, &live)?;
                }
            }
        }
        w.commit().unwrap();
        let s = index.reader().unwrap().searcher();
        check(&s, &all, &live)?;
        // Deleted documents never appear, counts are exact.
        prop_assert_eq!(s.count(&Query::MatchAll).unwrap(), live.iter().filter(|&&l| l).count() as u64);
    }
}
