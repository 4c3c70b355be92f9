//! Model test: random corpora and random queries of every kind (term,
//! boolean with must / should / must_not / minimum_should_match, exact and
//! sloppy phrase, prefix, numeric and timestamp range, match-all, boost),
//! checked against a brute-force reference written here: counts, hit sets,
//! every hit's BM25 score (1e-4 relative), top-k (ties by doc id), pruned
//! top-k, and time-sorted top-k (both directions, documents without a
//! timestamp last), in one segment and in many, with deletes and updates
//! before and after commits, through near-real-time searchers, rollbacks
//! and reopened writers.
//!
//! The reference shares no code with the engine: BM25 (Lucene's formula,
//! k1 = 1.2, b = 0.75), Lucene's `SmallFloat` norm encoding and Lucene's
//! sloppy-phrase sweep are written out below from their definitions.
//! Statistics count deleted documents, as Lucene's do until a merge (the
//! tests here never merge).

use lucerna::internals::SearcherInternals;
use lucerna::schema::{Field, NumericKind, Schema};
use lucerna::store::RamDirectory;
use lucerna::{
    Collect, Document, Durability, Index, IndexWriter, Query, Searcher, Value, WriterConfig,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::ops::Bound;

/// A small vocabulary, with shared prefixes, so that terms collide.
const VOCAB: &[&str] = &[
    "alpha", "beta", "gamma", "delta", "alps", "bet", "error", "err", "disk", "full", "node", "x",
];
/// A term no document contains.
const ABSENT: &str = "zzz";
const TAGS: &[&str] = &["red", "green", "blue"];
/// Timestamps at the edges of i64, mixed among small ones.
const TS_EDGES: &[i64] = &[i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX];
/// Positions the engine leaves between two values of a multi-valued text
/// field (`POSITION_GAP` in the index buffer): a phrase never matches
/// across values exactly, but may with enough slop.
const POSITION_GAP: i64 = 1;

const K1: f64 = 1.2;
const B: f64 = 0.75;

/// Lucene's `SmallFloat` (`intToByte4` / `byte4ToInt`), from its Java
/// source: lengths below 24 exactly, larger ones as a 4-bit-mantissa float
/// rounding down.
mod small_float {
    fn long_to_int4(i: u64) -> u32 {
        let num_bits = 64 - i.leading_zeros();
        if num_bits < 4 {
            i as u32
        } else {
            let shift = num_bits - 4;
            let mut encoded = (i >> shift) as u32;
            encoded &= 0x07;
            encoded |= (shift + 1) << 3;
            encoded
        }
    }

    fn int4_to_long(i: u32) -> u64 {
        let bits = (i & 0x07) as u64;
        let shift = (i >> 3) as i32 - 1;
        if shift == -1 {
            bits
        } else {
            (bits | 0x08) << shift
        }
    }

    fn num_free_values() -> u32 {
        255 - long_to_int4(i32::MAX as u64)
    }

    pub fn int_to_byte4(i: u32) -> u8 {
        let free = num_free_values();
        if i < free {
            i as u8
        } else {
            (free + long_to_int4((i - free) as u64)) as u8
        }
    }

    pub fn byte4_to_int(b: u8) -> u32 {
        let free = num_free_values();
        let i = b as u32;
        if i < free {
            i
        } else {
            (free as u64 + int4_to_long(i - free)) as u32
        }
    }
}

/// A document of the model.
#[derive(Debug, Clone)]
struct MDoc {
    /// Unique; maps engine hits back to the model.
    id: u64,
    /// A keyword for updates and deletes by key (not necessarily unique).
    key: u64,
    /// Timestamp, when the document has one.
    ts: Option<i64>,
    tag: usize,
    /// Values of the text field `body` (each a list of words).
    body: Vec<Vec<usize>>,
}

impl MDoc {
    /// (position, word) of every token of `body`, as the engine documents
    /// positions: consecutive within a value, `POSITION_GAP` between values.
    fn tokens(&self) -> Vec<(i64, usize)> {
        let mut out = Vec::new();
        let mut pos = 0i64;
        for value in &self.body {
            for &w in value {
                out.push((pos, w));
                pos += 1;
            }
            if !value.is_empty() {
                pos += POSITION_GAP;
            }
        }
        out
    }
}

#[derive(Debug, Clone)]
enum MQuery {
    /// A body term (`None`: a term absent from the index).
    Term(Option<usize>),
    Tag(usize),
    Phrase {
        words: Vec<usize>,
        offsets: Vec<u32>,
        slop: u32,
    },
    Prefix {
        on_tag: bool,
        prefix: String,
    },
    TsRange(Bound<i64>, Bound<i64>),
    IdRange(Bound<u64>, Bound<u64>),
    All,
    Boost(Box<MQuery>, f32),
    Bool {
        must: Vec<MQuery>,
        should: Vec<MQuery>,
        must_not: Vec<MQuery>,
        msm: usize,
    },
}

fn arb_words() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        8 => prop::collection::vec(0..VOCAB.len(), 0..12),
        // Long values: lengths where the one-byte norm is lossy.
        1 => prop::collection::vec(0..VOCAB.len(), 20..100),
    ]
}

fn arb_body() -> impl Strategy<Value = Vec<Vec<usize>>> {
    prop_oneof![
        1 => Just(Vec::new()),
        8 => arb_words().prop_map(|w| vec![w]),
        2 => (arb_words(), arb_words()).prop_map(|(a, b)| vec![a, b]),
    ]
}

fn arb_ts() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![
        12 => (-50i64..50).prop_map(Some),
        2 => prop::sample::select(TS_EDGES).prop_map(Some),
        1 => Just(None),
    ]
}

fn arb_doc(id: u64) -> impl Strategy<Value = MDoc> {
    (arb_ts(), 0..TAGS.len(), arb_body()).prop_map(move |(ts, tag, body)| MDoc {
        id,
        key: id,
        ts,
        tag,
        body,
    })
}

fn arb_corpus(max: usize) -> impl Strategy<Value = Vec<MDoc>> {
    (1..max).prop_flat_map(|n| (0..n as u64).map(arb_doc).collect::<Vec<_>>())
}

fn arb_ts_bound() -> impl Strategy<Value = Bound<i64>> {
    let v = prop_oneof![4 => -55i64..55, 1 => prop::sample::select(TS_EDGES)];
    prop_oneof![
        1 => Just(Bound::Unbounded),
        2 => v.clone().prop_map(Bound::Included),
        2 => v.prop_map(Bound::Excluded),
    ]
}

fn arb_id_bound() -> impl Strategy<Value = Bound<u64>> {
    let v = prop_oneof![4 => 0u64..320, 1 => prop::sample::select(vec![0, u64::MAX - 1, u64::MAX])];
    prop_oneof![
        1 => Just(Bound::Unbounded),
        2 => v.clone().prop_map(Bound::Included),
        2 => v.prop_map(Bound::Excluded),
    ]
}

fn arb_phrase() -> impl Strategy<Value = MQuery> {
    (
        prop::collection::vec(
            (
                0..VOCAB.len(),
                prop_oneof![4 => Just(1u32), 1 => Just(2u32)],
            ),
            1..4,
        ),
        0u32..3,
        prop_oneof![3 => Just(0u32), 2 => 1u32..4],
    )
        .prop_map(|(items, base, slop)| {
            // Increasing relative positions, not necessarily from 0 nor
            // consecutive (as a query whose stop words were removed).
            let mut offsets = Vec::new();
            let mut at = base;
            for (i, &(_, gap)) in items.iter().enumerate() {
                if i > 0 {
                    at += gap;
                }
                offsets.push(at);
            }
            MQuery::Phrase {
                words: items.iter().map(|x| x.0).collect(),
                offsets,
                slop,
            }
        })
}

fn arb_leaf() -> impl Strategy<Value = MQuery> {
    prop_oneof![
        4 => (0..VOCAB.len()).prop_map(|w| MQuery::Term(Some(w))),
        1 => Just(MQuery::Term(None)),
        1 => (0..TAGS.len()).prop_map(MQuery::Tag),
        4 => arb_phrase(),
        1 => prop::sample::select(vec!["al", "be", "er", "d", "zz", "alpha", "e", "", "x"])
            .prop_map(|p| MQuery::Prefix { on_tag: false, prefix: p.to_string() }),
        1 => prop::sample::select(vec!["r", "g", "bl", "", "z"])
            .prop_map(|p| MQuery::Prefix { on_tag: true, prefix: p.to_string() }),
        2 => (arb_ts_bound(), arb_ts_bound()).prop_map(|(a, b)| MQuery::TsRange(a, b)),
        1 => (arb_id_bound(), arb_id_bound()).prop_map(|(a, b)| MQuery::IdRange(a, b)),
        1 => Just(MQuery::All),
    ]
}

fn arb_query() -> impl Strategy<Value = MQuery> {
    arb_leaf().prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            4 => (
                prop::collection::vec(inner.clone(), 0..3),
                prop::collection::vec(inner.clone(), 0..4),
                prop::collection::vec(inner.clone(), 0..2),
                0usize..3,
            )
                .prop_map(|(must, should, must_not, msm)| MQuery::Bool {
                    must,
                    should,
                    must_not,
                    msm,
                }),
            1 => (inner, prop::sample::select(vec![0.0f32, 0.5, 2.0]))
                .prop_map(|(q, b)| MQuery::Boost(Box::new(q), b)),
        ]
    })
}

struct Fields {
    id: Field,
    key: Field,
    ts: Field,
    tag: Field,
    body: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let id = b.add_numeric("id", NumericKind::U64, true);
    let key = b.add_keyword("key", false);
    let ts = b.add_numeric("ts", NumericKind::Timestamp, false);
    let tag = b.add_keyword("tag", false);
    let body = b.add_text("body", false);
    (
        b.build().unwrap(),
        Fields {
            id,
            key,
            ts,
            tag,
            body,
        },
    )
}

fn to_doc(d: &MDoc, f: &Fields) -> Document {
    let mut doc = Document::new();
    doc.add_u64(f.id, d.id)
        .add_text(f.key, format!("k{}", d.key))
        .add_text(f.tag, TAGS[d.tag]);
    if let Some(ts) = d.ts {
        doc.add_i64(f.ts, ts);
    }
    for value in &d.body {
        let text: Vec<&str> = value.iter().map(|&w| VOCAB[w]).collect();
        doc.add_text(f.body, text.join(" "));
    }
    doc
}

fn map_bound<T: Copy>(b: &Bound<T>, f: impl Fn(T) -> Value) -> Bound<Value> {
    match b {
        Bound::Unbounded => Bound::Unbounded,
        Bound::Included(v) => Bound::Included(f(*v)),
        Bound::Excluded(v) => Bound::Excluded(f(*v)),
    }
}

fn to_query(q: &MQuery, f: &Fields) -> Query {
    match q {
        MQuery::Term(w) => Query::term(f.body, w.map_or(ABSENT, |w| VOCAB[w])),
        MQuery::Tag(t) => Query::term(f.tag, TAGS[*t]),
        MQuery::Phrase {
            words,
            offsets,
            slop,
        } => Query::Phrase {
            field: f.body,
            terms: offsets
                .iter()
                .zip(words)
                .map(|(&o, &w)| (o, VOCAB[w].to_string()))
                .collect(),
            slop: *slop,
        },
        MQuery::Prefix { on_tag, prefix } => Query::Prefix {
            field: if *on_tag { f.tag } else { f.body },
            prefix: prefix.clone(),
        },
        MQuery::TsRange(a, b) => Query::Range {
            field: f.ts,
            lower: map_bound(a, Value::I64),
            upper: map_bound(b, Value::I64),
        },
        MQuery::IdRange(a, b) => Query::Range {
            field: f.id,
            lower: map_bound(a, Value::U64),
            upper: map_bound(b, Value::U64),
        },
        MQuery::All => Query::MatchAll,
        MQuery::Boost(q, b) => Query::Boost(Box::new(to_query(q, f)), *b),
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

fn in_bounds<T: Ord>(v: T, lo: &Bound<T>, hi: &Bound<T>) -> bool {
    (match lo {
        Bound::Unbounded => true,
        Bound::Included(l) => v >= *l,
        Bound::Excluded(l) => v > *l,
    }) && (match hi {
        Bound::Unbounded => true,
        Bound::Included(h) => v <= *h,
        Bound::Excluded(h) => v < *h,
    })
}

/// Lucene's `ln(1 + (N - n + 0.5) / (n + 0.5))`.
fn idf(df: f64, n: f64) -> f64 {
    let n = n.max(df);
    (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
}

/// Exact phrase frequency: the number of start positions `s` (relative
/// positions: `s` may be negative) with word `i` at `s + offsets[i]`.
fn exact_phrase_freq(tokens: &[(i64, usize)], words: &[usize], offsets: &[u32]) -> f64 {
    let at: HashMap<i64, usize> = tokens.iter().copied().collect();
    let starts: BTreeSet<i64> = tokens
        .iter()
        .filter(|t| t.1 == words[0])
        .map(|t| t.0 - offsets[0] as i64)
        .collect();
    starts
        .into_iter()
        .filter(|&s| {
            words
                .iter()
                .zip(offsets)
                .all(|(w, &o)| at.get(&(s + o as i64)) == Some(w))
        })
        .count() as f64
}

/// Lucene's `SloppyPhraseMatcher` (without its handling of repeated
/// terms), transcribed from the Java: phrase positions in a priority queue
/// by (position − offset, offset, ordinal); pop the smallest, advance it
/// while it stays ≤ the next smallest, narrowing the match length
/// `end − position`; each time it passes the next one (or runs out), a
/// match length ≤ slop adds `1 / (1 + length)` to the frequency.
fn sloppy_phrase_freq(positions: &[Vec<i64>], offsets: &[u32], slop: u32) -> f64 {
    struct Pp {
        positions: Vec<i64>,
        next: usize,
        position: i64,
    }
    if positions.iter().any(|p| p.is_empty()) {
        return 0.0;
    }
    let mut pps: Vec<Pp> = positions
        .iter()
        .zip(offsets)
        .map(|(ps, &o)| Pp {
            positions: ps.iter().map(|p| p - o as i64).collect(),
            next: 1,
            position: ps[0] - o as i64,
        })
        .collect();
    let mut end = i64::MIN;
    let mut pq = BinaryHeap::new();
    for (ord, pp) in pps.iter().enumerate() {
        end = end.max(pp.position);
        pq.push(Reverse((pp.position, offsets[ord], ord)));
    }
    let slop = slop as i64;
    let mut freq = 0.0;
    let Some(Reverse((_, _, mut cur))) = pq.pop() else {
        return 0.0;
    };
    let mut match_length = end - pps[cur].position;
    let mut next = pq.peek().map_or(i64::MAX, |Reverse(t)| t.0);
    loop {
        // advancePP
        let pp = &mut pps[cur];
        if pp.next >= pp.positions.len() {
            if match_length <= slop {
                freq += 1.0 / (1.0 + match_length as f64);
            }
            return freq;
        }
        pp.position = pp.positions[pp.next];
        pp.next += 1;
        end = end.max(pp.position);
        if pp.position > next {
            pq.push(Reverse((pp.position, offsets[cur], cur)));
            if match_length <= slop {
                freq += 1.0 / (1.0 + match_length as f64);
            }
            let Some(Reverse((_, _, c))) = pq.pop() else {
                return freq;
            };
            cur = c;
            next = pq.peek().map_or(i64::MAX, |Reverse(t)| t.0);
            match_length = end - pps[cur].position;
        } else {
            match_length = match_length.min(end - pp.position);
        }
    }
}

/// True when some choice of one position per term puts every term within
/// `slop` of its place (brute force): what a sloppy match means.
fn some_window_within(positions: &[Vec<i64>], offsets: &[u32], slop: u32) -> bool {
    fn rec(i: usize, ps: &[Vec<i64>], offs: &[u32], lo: i64, hi: i64, slop: i64) -> bool {
        if hi.saturating_sub(lo) > slop && i > 0 {
            return false;
        }
        if i == ps.len() {
            return true;
        }
        ps[i].iter().any(|&p| {
            let a = p - offs[i] as i64;
            rec(i + 1, ps, offs, lo.min(a), hi.max(a), slop)
        })
    }
    rec(0, positions, offsets, i64::MAX, i64::MIN, slop as i64)
}

/// The brute-force reference: every document ever indexed (statistics
/// include deleted ones) and which are live.
struct Reference<'a> {
    all: &'a [MDoc],
    live: &'a [bool],
    tokens: Vec<Vec<(i64, usize)>>,
    /// Documents with at least one body token.
    body_docs: f64,
    avgdl: f64,
    df: Vec<f64>,
    tag_df: Vec<f64>,
}

impl<'a> Reference<'a> {
    fn new(all: &'a [MDoc], live: &'a [bool]) -> Self {
        let tokens: Vec<Vec<(i64, usize)>> = all.iter().map(MDoc::tokens).collect();
        let body_docs = tokens.iter().filter(|t| !t.is_empty()).count() as f64;
        let sum: usize = tokens.iter().map(Vec::len).sum();
        // Lucene: (float) (sumTotalTermFreq / (double) docCount), 1 if empty.
        let avgdl = if body_docs == 0.0 || sum == 0 {
            1.0
        } else {
            (sum as f64 / body_docs) as f32 as f64
        };
        let df = (0..VOCAB.len())
            .map(|w| tokens.iter().filter(|t| t.iter().any(|x| x.1 == w)).count() as f64)
            .collect();
        let tag_df = (0..TAGS.len())
            .map(|t| all.iter().filter(|d| d.tag == t).count() as f64)
            .collect();
        Reference {
            all,
            live,
            tokens,
            body_docs,
            avgdl,
            df,
            tag_df,
        }
    }

    /// `tf / (tf + k1 · (1 − b + b · dl / avgdl))`, dl decoded from the norm.
    fn tf_norm(tf: f64, len: usize, avgdl: f64) -> f64 {
        let dl = small_float::byte4_to_int(small_float::int_to_byte4(len as u32)) as f64;
        tf / (tf + K1 * (1.0 - B + B * dl / avgdl))
    }

    /// The score of document `i` if it matches `q`.
    fn eval(&self, q: &MQuery, i: usize) -> Option<f64> {
        let d = &self.all[i];
        let toks = &self.tokens[i];
        match q {
            MQuery::Term(None) => None,
            MQuery::Term(Some(w)) => {
                let tf = toks.iter().filter(|t| t.1 == *w).count();
                (tf > 0).then(|| {
                    idf(self.df[*w], self.body_docs)
                        * Self::tf_norm(tf as f64, toks.len(), self.avgdl)
                })
            }
            MQuery::Tag(t) => (d.tag == *t).then(|| {
                // One keyword per document: length 1, average 1.
                idf(self.tag_df[*t], self.all.len() as f64) * Self::tf_norm(1.0, 1, 1.0)
            }),
            MQuery::Phrase {
                words,
                offsets,
                slop,
            } => {
                if words.len() == 1 {
                    return self.eval(&MQuery::Term(Some(words[0])), i);
                }
                let freq = if *slop == 0 {
                    exact_phrase_freq(toks, words, offsets)
                } else {
                    let positions: Vec<Vec<i64>> = words
                        .iter()
                        .map(|w| toks.iter().filter(|t| t.1 == *w).map(|t| t.0).collect())
                        .collect();
                    let f = sloppy_phrase_freq(&positions, offsets, *slop);
                    assert_eq!(
                        f > 0.0,
                        some_window_within(&positions, offsets, *slop),
                        "the reference sweep disagrees with brute force on {positions:?}"
                    );
                    f
                };
                (freq > 0.0).then(|| {
                    let idf_sum: f64 = words.iter().map(|w| idf(self.df[*w], self.body_docs)).sum();
                    idf_sum * Self::tf_norm(freq, toks.len(), self.avgdl)
                })
            }
            MQuery::Prefix { on_tag, prefix } => {
                let hit = if *on_tag {
                    TAGS[d.tag].starts_with(prefix.as_str())
                } else {
                    toks.iter().any(|t| VOCAB[t.1].starts_with(prefix.as_str()))
                };
                hit.then_some(1.0)
            }
            MQuery::TsRange(a, b) => d.ts.filter(|&t| in_bounds(t, a, b)).map(|_| 1.0),
            MQuery::IdRange(a, b) => in_bounds(d.id, a, b).then_some(1.0),
            MQuery::All => Some(1.0),
            MQuery::Boost(q, b) => self.eval(q, i).map(|s| s * *b as f64),
            MQuery::Bool {
                must,
                should,
                must_not,
                msm,
            } => {
                let mut score = 0.0;
                for m in must {
                    score += self.eval(m, i)?;
                }
                if must_not.iter().any(|m| self.eval(m, i).is_some()) {
                    return None;
                }
                // Without a must clause at least one should clause matches.
                let need = if must.is_empty() { (*msm).max(1) } else { *msm };
                let mut matched = 0;
                for s in should {
                    if let Some(x) = self.eval(s, i) {
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
        let mut v: Vec<(f64, usize)> = (0..self.all.len())
            .filter(|&i| self.live[i])
            .filter_map(|i| self.eval(q, i).map(|s| (s, i)))
            .collect();
        v.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        v
    }

    fn live_count(&self) -> u64 {
        self.live.iter().filter(|&&l| l).count() as u64
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-4 * a.abs().max(b.abs()).max(1e-6)
}

fn fail(e: lucerna::Error) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

/// Checks every way of running `q` on `s` against the reference. Engine
/// hits map back to reference indexes through the `id` column. When
/// `ordered`, documents were indexed in reference order by one thread, so
/// doc-id order (ties) is reference-index order; otherwise ties are
/// checked against doc-id order only.
fn check_query(
    s: &Searcher,
    r: &Reference<'_>,
    q: &MQuery,
    f: &Fields,
    id_to_idx: &HashMap<u64, usize>,
    k: usize,
    ordered: bool,
) -> Result<(), TestCaseError> {
    let expected = r.run(q);
    let ref_score: HashMap<usize, f64> = expected.iter().map(|&(s, i)| (i, s)).collect();
    let query = to_query(q, f);
    let idx_of = |h: &lucerna::ScoredDoc| -> Result<usize, TestCaseError> {
        let id = s
            .column_value(h.address, f.id)
            .ok_or_else(|| TestCaseError::fail("a hit without an id"))?;
        id_to_idx
            .get(&id)
            .copied()
            .ok_or_else(|| TestCaseError::fail(format!("unknown id {id}")))
    };
    let n = expected.len() as u64;

    prop_assert_eq!(s.count(&query).map_err(fail)?, n, "count of {:?}", q);

    // Every hit, with its score: the hit set and every score.
    let everything = s
        .search(&query, Collect::CountAndTopK(r.all.len() + 1))
        .map_err(fail)?;
    prop_assert_eq!(everything.count, Some(n), "counted top-k of {:?}", q);
    let all_hits: Vec<(f32, usize)> = everything
        .hits
        .iter()
        .map(|h| Ok((h.score, idx_of(h)?)))
        .collect::<Result<_, TestCaseError>>()?;
    let got: BTreeSet<usize> = all_hits.iter().map(|h| h.1).collect();
    let want: BTreeSet<usize> = expected.iter().map(|x| x.1).collect();
    prop_assert_eq!(got.len(), all_hits.len(), "a document hit twice by {:?}", q);
    prop_assert_eq!(&got, &want, "hit set of {:?}", q);
    for &(sc, idx) in &all_hits {
        prop_assert!(
            close(sc as f64, ref_score[&idx]),
            "score of doc {} for {:?}: engine {} vs reference {}",
            idx,
            q,
            sc,
            ref_score[&idx]
        );
    }
    // Best first; equal scores by doc id.
    for w in everything.hits.windows(2) {
        prop_assert!(
            w[0].score > w[1].score || (w[0].score == w[1].score && w[0].address < w[1].address),
            "hits of {:?} out of order: {:?}",
            q,
            w
        );
    }

    // Top-k: the first k of the full list, rank by rank the reference's.
    let top = s.search(&query, Collect::CountAndTopK(k)).map_err(fail)?;
    prop_assert_eq!(top.count, Some(n));
    let top_hits: Vec<(f32, usize)> = top
        .hits
        .iter()
        .map(|h| Ok((h.score, idx_of(h)?)))
        .collect::<Result<_, TestCaseError>>()?;
    prop_assert_eq!(
        &top_hits[..],
        &all_hits[..all_hits.len().min(k)],
        "top-{} of {:?}",
        k,
        q
    );
    for (rank, &(sc, idx)) in top_hits.iter().enumerate() {
        let (want_score, want_idx) = expected[rank];
        prop_assert!(
            close(sc as f64, want_score),
            "rank {} of {:?}: {} vs {}",
            rank,
            q,
            sc,
            want_score
        );
        // Where the reference's scores are clearly apart, ids agree exactly.
        let tied = expected.iter().filter(|e| close(e.0, want_score)).count() > 1;
        if !tied {
            prop_assert_eq!(idx, want_idx, "rank {} of {:?}", rank, q);
        }
    }
    // Stored fields of the hits are those of the documents.
    for h in &top.hits {
        let stored = s.doc(h.address).map_err(fail)?;
        let id = stored.get_first(f.id).and_then(Value::as_u64);
        prop_assert_eq!(id, Some(r.all[idx_of(h)?].id));
    }

    // Pruned top-k (no count) finds exactly the same hits.
    let pruned = s.search(&query, Collect::TopK(k)).map_err(fail)?;
    prop_assert_eq!(pruned.count, None);
    prop_assert_eq!(&pruned.hits, &top.hits, "pruned top-{} of {:?}", k, q);

    // Sorted by timestamp, newest (or oldest) first, ties by doc id,
    // documents without a timestamp last.
    for descending in [true, false] {
        let sorted = s
            .search(
                &query,
                Collect::CountAndTopKByField {
                    field: f.ts,
                    k,
                    descending,
                },
            )
            .map_err(fail)?;
        prop_assert_eq!(sorted.count, Some(n));
        let key = |i: usize| {
            let ts = r.all[i].ts;
            let v = ts.map_or(0, |t| if descending { -(t as i128) } else { t as i128 });
            (ts.is_none(), v)
        };
        let mut by_ts: Vec<usize> = expected.iter().map(|x| x.1).collect();
        by_ts.sort_by_key(|&i| (key(i), i));
        by_ts.truncate(k);
        let got_ts: Vec<usize> = sorted
            .hits
            .iter()
            .map(idx_of)
            .collect::<Result<_, TestCaseError>>()?;
        if ordered {
            prop_assert_eq!(
                got_ts,
                by_ts,
                "top-{} of {:?} by timestamp, descending {}",
                k,
                q,
                descending
            );
        } else {
            // The same sort keys, rank by rank, from matching documents,
            // equal keys by doc id.
            prop_assert!(got_ts.iter().all(|i| want.contains(i)));
            let got_keys: Vec<_> = got_ts.iter().map(|&i| key(i)).collect();
            let want_keys: Vec<_> = by_ts.iter().map(|&i| key(i)).collect();
            prop_assert_eq!(&got_keys, &want_keys, "top-{} of {:?} by timestamp", k, q);
            for (w, h) in got_keys.windows(2).zip(sorted.hits.windows(2)) {
                prop_assert!(w[0] < w[1] || h[0].address < h[1].address);
            }
        }
    }
    Ok(())
}

/// Checks `queries` (and the document count) on `s` against `all`/`live`;
/// `ordered`: see [`check_query`].
fn check_all(
    s: &Searcher,
    all: &[MDoc],
    live: &[bool],
    queries: &[MQuery],
    f: &Fields,
    ordered: bool,
) -> Result<(), TestCaseError> {
    let r = Reference::new(all, live);
    let id_to_idx: HashMap<u64, usize> = all.iter().enumerate().map(|(i, d)| (d.id, i)).collect();
    prop_assert_eq!(s.num_docs(), r.live_count(), "live documents");
    prop_assert_eq!(
        s.count(&Query::MatchAll).map_err(fail)?,
        r.live_count(),
        "match-all"
    );
    for (i, q) in queries.iter().enumerate() {
        check_query(s, &r, q, f, &id_to_idx, [1, 3, 10][i % 3], ordered)?;
    }
    Ok(())
}

/// Indexes `corpus` from `threads` threads (one: in order) and commits.
fn build(corpus: &[MDoc], cfg: WriterConfig, threads: usize) -> (Index, Searcher, Fields) {
    let (schema, f) = schema();
    let index = Index::create(RamDirectory::new(), schema).unwrap();
    let w = index.writer(cfg).unwrap();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (w, f) = (&w, &f);
            scope.spawn(move || {
                for d in corpus.iter().skip(t).step_by(threads) {
                    w.add_document(to_doc(d, f)).unwrap();
                }
            });
        }
    });
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

#[test]
fn reference_small_float_matches_lucene_values() {
    // Values from Lucene's TestSmallFloat and the encoding's definition.
    for len in 0..=23u32 {
        assert_eq!(
            small_float::byte4_to_int(small_float::int_to_byte4(len)),
            len
        );
    }
    assert_eq!(small_float::int_to_byte4(i32::MAX as u32), 255);
    let mut last = 0;
    for len in (0..100_000u32).step_by(7) {
        let dec = small_float::byte4_to_int(small_float::int_to_byte4(len));
        assert!(dec <= len && dec >= last, "{len} -> {dec}");
        last = dec;
    }
    assert_eq!(
        small_float::byte4_to_int(small_float::int_to_byte4(1000)),
        984
    );
}

#[test]
fn reference_sloppy_sweep_examples() {
    // "a b" in "a x b": one position out, length 1 → 1/2.
    assert_eq!(sloppy_phrase_freq(&[vec![0], vec![2]], &[0, 1], 1), 0.5);
    assert_eq!(sloppy_phrase_freq(&[vec![0], vec![2]], &[0, 1], 0), 0.0);
    // Reversed "b a" needs slop 2.
    assert_eq!(sloppy_phrase_freq(&[vec![1], vec![0]], &[0, 1], 1), 0.0);
    assert!((sloppy_phrase_freq(&[vec![1], vec![0]], &[0, 1], 2) - 1.0 / 3.0).abs() < 1e-12);
    // Two exact occurrences.
    assert_eq!(
        sloppy_phrase_freq(&[vec![0, 5], vec![1, 6]], &[0, 1], 1),
        2.0
    );
}

proptest! {
    #![proptest_config(config(0x5EED_0003, 64))]

    /// One segment, many segments by document count, many by a tiny RAM
    /// budget, several indexing threads: the same answers, the reference's.
    /// Automatic merging is off (`no_merges`): the point is many segments.
    #[test]
    fn queries_match_the_reference_in_one_and_many_segments(
        corpus in arb_corpus(300),
        queries in prop::collection::vec(arb_query(), 1..10),
    ) {
        let live = vec![true; corpus.len()];
        let per_seg = corpus.len().div_ceil(50).max(1);
        let (_i1, one, f) = build(&corpus, WriterConfig::default().no_merges().indexing_threads(1), 1);
        let (_i2, many, _) =
            build(&corpus, WriterConfig::default().no_merges().indexing_threads(1).max_buffered_docs(per_seg), 1);
        let (_i3, small_ram, _) =
            build(&corpus, WriterConfig::default().no_merges().indexing_threads(1).mem_budget_bytes(8 << 10), 1);
        let (_i4, threaded, _) =
            build(&corpus, WriterConfig::default().no_merges().indexing_threads(3).max_buffered_docs(per_seg), 3);
        prop_assert!(one.segments().len() <= 1);
        prop_assert!(
            many.segments().len() >= corpus.len().min(50) / 2,
            "{} segments", many.segments().len()
        );
        if corpus.len() >= 100 {
            prop_assert!(small_ram.segments().len() > 1, "the RAM budget never flushed");
        }
        for s in [&one, &many, &small_ram] {
            check_all(s, &corpus, &live, &queries, &f, true)?;
        }
        check_all(&threaded, &corpus, &live, &queries, &f, false)?;
    }
}

#[derive(Debug, Clone)]
enum Op {
    Add(MDoc),
    DeleteTag(usize),
    DeleteWord(usize),
    /// Delete by key; the key is picked among existing documents.
    DeleteKey(usize),
    /// Replace every document with this key (picked among existing ones)
    /// by a new document with the same key.
    UpdateKey(usize, MDoc),
    /// Replace every document of a tag by a new document.
    UpdateTag(usize, MDoc),
    Commit,
    Flush,
    /// Opens a near-real-time searcher, checks it, and keeps it.
    Nrt,
    Rollback,
    /// Drops the writer without committing and opens a new one.
    ReopenWriter,
}

fn arb_ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            30 => arb_doc(0).prop_map(Op::Add),
            1 => (0..TAGS.len()).prop_map(Op::DeleteTag),
            1 => (0..VOCAB.len()).prop_map(Op::DeleteWord),
            4 => any::<usize>().prop_map(Op::DeleteKey),
            5 => (any::<usize>(), arb_doc(0)).prop_map(|(k, d)| Op::UpdateKey(k, d)),
            1 => (0..TAGS.len(), arb_doc(0)).prop_map(|(t, d)| Op::UpdateTag(t, d)),
            2 => Just(Op::Commit),
            1 => Just(Op::Flush),
            2 => Just(Op::Nrt),
            1 => Just(Op::Rollback),
            1 => Just(Op::ReopenWriter),
        ],
        1..250,
    )
}

proptest! {
    #![proptest_config(config(0x5EED_0004, 64))]

    /// Deletes (by keyword, tag and text term) and updates, before and after
    /// commits, seen through near-real-time searchers, rolled back, or lost
    /// with an uncommitted writer (commit-only durability) or replayed from
    /// the write-ahead log when the writer reopens (`durable`): deleted
    /// documents never appear, counts are exact, scores keep matching the
    /// reference, and every searcher keeps its point-in-time view.
    #[test]
    fn deletes_and_updates_are_exact(
        ops in arb_ops(),
        queries in prop::collection::vec(arb_query(), 1..6),
        per_seg in 1usize..40,
        durable in any::<bool>(),
    ) {
        let (schema, f) = schema();
        let dir = RamDirectory::new();
        let index = Index::create(dir.clone(), schema).unwrap();
        // No automatic merges: the reference's BM25 statistics count deleted
        // documents until a merge drops them, as the engine's do without
        // merging (automerge.rs checks exact counts with merging).
        let cfg = WriterConfig::default()
            .no_merges()
            .indexing_threads(1)
            .max_buffered_docs(per_seg)
            .durability(if durable { Durability::Sync } else { Durability::None });
        let mut w: IndexWriter = index.writer(cfg.clone()).unwrap();
        let mut all: Vec<MDoc> = Vec::new();
        let mut live: Vec<bool> = Vec::new();
        let mut committed: (Vec<MDoc>, Vec<bool>) = (Vec::new(), Vec::new());
        let mut snapshots: Vec<(Searcher, Vec<MDoc>, Vec<bool>)> = Vec::new();
        let mut next_id = 0u64;
        let mut fresh = |d: &MDoc, key: Option<u64>| {
            let mut d = d.clone();
            d.id = next_id;
            d.key = key.unwrap_or(next_id);
            next_id += 1;
            d
        };
        for op in &ops {
            match op {
                Op::Add(d) => {
                    let d = fresh(d, None);
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
                        if d.body.iter().flatten().any(|w| w == x) { live[i] = false; }
                    }
                }
                Op::DeleteKey(pick) => {
                    let Some(key) = (!all.is_empty()).then(|| all[pick % all.len()].key) else {
                        continue;
                    };
                    w.delete_term(f.key, &format!("k{key}")).unwrap();
                    for (i, d) in all.iter().enumerate() {
                        if d.key == key { live[i] = false; }
                    }
                }
                Op::UpdateKey(pick, d) => {
                    let key = if all.is_empty() { u64::MAX } else { all[pick % all.len()].key };
                    let d = fresh(d, Some(key));
                    w.update_document(f.key, &format!("k{key}"), to_doc(&d, &f)).unwrap();
                    for (i, x) in all.iter().enumerate() {
                        if x.key == key { live[i] = false; }
                    }
                    all.push(d);
                    live.push(true);
                }
                Op::UpdateTag(t, d) => {
                    let d = fresh(d, None);
                    w.update_document(f.tag, TAGS[*t], to_doc(&d, &f)).unwrap();
                    for (i, x) in all.iter().enumerate() {
                        if x.tag == *t { live[i] = false; }
                    }
                    all.push(d);
                    live.push(true);
                }
                Op::Commit => {
                    w.commit().unwrap();
                    committed = (all.clone(), live.clone());
                }
                Op::Flush => w.flush().unwrap(),
                Op::Nrt => {
                    let s = w.searcher().unwrap();
                    check_all(&s, &all, &live, &queries, &f, true)?;
                    snapshots.push((s, all.clone(), live.clone()));
                    if snapshots.len() > 3 {
                        snapshots.remove(0);
                    }
                }
                Op::Rollback => {
                    w.rollback().unwrap();
                    (all, live) = committed.clone();
                }
                Op::ReopenWriter => {
                    drop(w);
                    w = index.writer(cfg.clone()).unwrap();
                    if !durable {
                        (all, live) = committed.clone();
                    }
                }
            }
        }
        w.commit().unwrap();
        let s = index.reader().unwrap().searcher();
        check_all(&s, &all, &live, &queries, &f, true)?;
        // The committed state survives reopening the index.
        drop(w);
        let again = Index::open(dir).unwrap().reader().unwrap().searcher();
        check_all(&again, &all, &live, &queries, &f, true)?;
        // Earlier near-real-time searchers still show their point in time.
        for (old, all, live) in &snapshots {
            check_all(old, all, live, &queries, &f, true)?;
        }
    }
}
