//! Segment merging ([`IndexWriter::force_merge`]): seeded random corpora in
//! many small segments with deletes and updates answer every kind of query
//! the same before and after merging and after reopening; the merged
//! segment equals a freshly indexed one holding the same documents (file
//! payloads, statistics, scores); the merged index passes a deep check; a
//! corrupt input fails the merge, naming the file, and changes nothing; old
//! searchers keep working; deletes that arrive during a merge are kept.

use lucerna::index::check::check_index;
use lucerna::index::recovery::{repair, RepairOptions, RepairOutcome};
use lucerna::internals::corrupt_marker::marker_file_name;
use lucerna::internals::SearcherInternals;
use lucerna::schema::{Field, NumericKind, Schema};
use lucerna::store::rng::SplitMix64;
use lucerna::store::{
    Directory, EnvelopeReader, FaultyDirectory, RamDirectory, ReadCorruption, StoreError,
};
use lucerna::{Collect, Document, Error, Index, IndexWriter, Query, Searcher, Value, WriterConfig};
use std::collections::BTreeSet;
use std::ops::Bound;
use std::sync::Arc;

const VOCAB: &[&str] = &[
    "alpha", "beta", "gamma", "delta", "alps", "bet", "error", "err", "disk", "full", "node", "x",
];
const TAGS: &[&str] = &["red", "green", "blue", "amber"];

#[derive(Debug, Clone, Copy)]
struct Fields {
    id: Field,
    ts: Field,
    key: Field,
    tag: Field,
    body: Field,
    title: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let id = b.add_numeric("id", NumericKind::U64, true);
    b.required();
    let ts = b.add_numeric("ts", NumericKind::I64, true);
    let key = b.add_keyword("key", true);
    let tag = b.add_keyword("tag", true);
    let body = b.add_text("body", true);
    let title = b.add_text("title", true);
    let f = Fields {
        id,
        ts,
        key,
        tag,
        body,
        title,
    };
    (b.build().unwrap(), f)
}

/// A document of the model.
#[derive(Debug, Clone)]
struct MDoc {
    id: u64,
    ts: Option<i64>,
    key: String,
    tags: Vec<usize>,
    body: Vec<usize>,
    title: Option<Vec<usize>>,
}

impl MDoc {
    fn random(rng: &mut SplitMix64, id: u64, key: String) -> MDoc {
        let words = |rng: &mut SplitMix64, max: u64| -> Vec<usize> {
            (0..rng.below(max + 1))
                .map(|_| rng.below(VOCAB.len() as u64) as usize)
                .collect()
        };
        MDoc {
            id,
            ts: (!rng.chance(0.1)).then(|| rng.below(200) as i64 - 100),
            key,
            tags: (0..rng.below(3))
                .map(|_| rng.below(TAGS.len() as u64) as usize)
                .collect(),
            body: words(rng, 14),
            title: rng.chance(0.5).then(|| words(rng, 4)),
        }
    }

    fn to_doc(&self, f: &Fields) -> Document {
        let mut d = Document::new();
        d.add_u64(f.id, self.id);
        if let Some(ts) = self.ts {
            d.add_i64(f.ts, ts);
        }
        d.add_text(f.key, self.key.clone());
        for &t in &self.tags {
            d.add_text(f.tag, TAGS[t]);
        }
        let text = |ws: &[usize]| ws.iter().map(|&w| VOCAB[w]).collect::<Vec<_>>().join(" ");
        d.add_text(f.body, text(&self.body));
        if let Some(t) = &self.title {
            d.add_text(f.title, text(t));
        }
        d
    }
}

/// The model: every document added, in order, and whether it is live.
#[derive(Default)]
struct Model {
    docs: Vec<MDoc>,
    live: Vec<bool>,
}

impl Model {
    fn add(&mut self, w: &IndexWriter, f: &Fields, d: MDoc) {
        w.add_document(d.to_doc(f)).unwrap();
        self.docs.push(d);
        self.live.push(true);
    }

    fn delete_where(&mut self, pred: impl Fn(&MDoc) -> bool) -> usize {
        let mut n = 0;
        for (d, l) in self.docs.iter().zip(self.live.iter_mut()) {
            if *l && pred(d) {
                *l = false;
                n += 1;
            }
        }
        n
    }

    fn live_docs(&self) -> Vec<MDoc> {
        self.docs
            .iter()
            .zip(&self.live)
            .filter(|(_, &l)| l)
            .map(|(d, _)| d.clone())
            .collect()
    }

    fn num_live(&self) -> u64 {
        self.live.iter().filter(|&&l| l).count() as u64
    }

    /// One random operation: mostly adds, some updates and deletes.
    fn random_op(&mut self, rng: &mut SplitMix64, w: &IndexWriter, f: &Fields, deletes: bool) {
        let next_id = self.docs.len() as u64;
        let r = rng.below(100);
        if !deletes || self.docs.is_empty() || r < 72 {
            let d = MDoc::random(rng, next_id, format!("k{next_id}"));
            self.add(w, f, d);
        } else if r < 86 {
            // Update: a delete of the key and an add with the same key.
            let key = self.docs[rng.below(self.docs.len() as u64) as usize]
                .key
                .clone();
            let d = MDoc::random(rng, next_id, key.clone());
            w.update_document(f.key, &key, d.to_doc(f)).unwrap();
            self.delete_where(|x| x.key == key);
            self.docs.push(d);
            self.live.push(true);
        } else if r < 97 {
            let key = self.docs[rng.below(self.docs.len() as u64) as usize]
                .key
                .clone();
            w.delete_term(f.key, &key).unwrap();
            self.delete_where(|d| d.key == key);
        } else {
            let t = rng.below(TAGS.len() as u64) as usize;
            w.delete_term(f.tag, TAGS[t]).unwrap();
            self.delete_where(|d| d.tags.contains(&t));
        }
    }
}

/// A fixed, seeded set of queries of every kind.
fn queries(rng: &mut SplitMix64, f: &Fields) -> Vec<Query> {
    let word = |rng: &mut SplitMix64| VOCAB[rng.below(VOCAB.len() as u64) as usize].to_string();
    let mut qs = vec![Query::MatchAll];
    qs.extend(VOCAB.iter().map(|w| Query::term(f.body, *w)));
    qs.extend(TAGS.iter().map(|t| Query::term(f.tag, *t)));
    qs.extend(["alpha", "disk", "x"].map(|w| Query::term(f.title, w)));
    qs.push(Query::term(f.key, "k3"));
    for (field, p) in [
        (f.body, "al"),
        (f.body, "e"),
        (f.body, "d"),
        (f.body, "zz"),
        (f.title, "b"),
        (f.tag, "gr"),
    ] {
        qs.push(Query::Prefix {
            field,
            prefix: p.into(),
        });
    }
    for (field, lo, hi) in [
        (
            f.ts,
            Bound::Included(Value::I64(-20)),
            Bound::Included(Value::I64(30)),
        ),
        (f.ts, Bound::Unbounded, Bound::Excluded(Value::I64(0))),
        (f.id, Bound::Included(Value::U64(50)), Bound::Unbounded),
    ] {
        qs.push(Query::Range {
            field,
            lower: lo,
            upper: hi,
        });
    }
    for i in 0..14 {
        let n = 2 + rng.below(2) as usize;
        let field = if i % 5 == 4 { f.title } else { f.body };
        qs.push(Query::Phrase {
            field,
            terms: (0..n).map(|k| (k as u32, word(rng))).collect(),
            slop: if i % 3 == 2 { 1 } else { 0 },
        });
    }
    for _ in 0..14 {
        let leaf = |rng: &mut SplitMix64| match rng.below(5) {
            0 => Query::term(f.title, word(rng)),
            1 => Query::phrase(f.body, [word(rng), word(rng)]),
            2 => Query::term(f.tag, TAGS[rng.below(TAGS.len() as u64) as usize]),
            _ => Query::term(f.body, word(rng)),
        };
        let n_must = rng.below(3);
        let n_should = rng.below(4);
        let n_not = rng.below(2);
        qs.push(Query::Boolean {
            must: (0..n_must).map(|_| leaf(rng)).collect(),
            should: (0..n_should).map(|_| leaf(rng)).collect(),
            must_not: (0..n_not).map(|_| leaf(rng)).collect(),
            minimum_should_match: rng.below(3) as usize,
        });
    }
    qs.push(Query::Boost(Box::new(Query::term(f.body, "disk")), 2.5));
    qs
}

/// What a searcher answers to one query, documents named by `id`.
#[derive(Debug, Clone, PartialEq)]
struct Answer {
    count: u64,
    hits: BTreeSet<u64>,
    /// The best 10, exhaustively collected: (id, score).
    top: Vec<(u64, f32)>,
    /// The best 10 with block-max pruning.
    pruned: Vec<(u64, f32)>,
}

fn answers(s: &Searcher, qs: &[Query], f: &Fields) -> Vec<Answer> {
    let n = s.num_docs() as usize + 1;
    let id = |a| s.column_value(a, f.id).expect("every document has an id");
    qs.iter()
        .map(|q| {
            let all = s.search(q, Collect::CountAndTopK(n)).unwrap();
            let count = s.count(q).unwrap();
            assert_eq!(all.count, Some(count), "{q:?}");
            let pruned = s.search(q, Collect::TopK(10)).unwrap();
            Answer {
                count,
                hits: all.hits.iter().map(|h| id(h.address)).collect(),
                top: all
                    .hits
                    .iter()
                    .take(10)
                    .map(|h| (id(h.address), h.score))
                    .collect(),
                pruned: pruned
                    .hits
                    .iter()
                    .map(|h| (id(h.address), h.score))
                    .collect(),
            }
        })
        .collect()
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() <= 1e-4 * a.abs().max(b.abs()).max(1e-6)
}

fn same_hits(a: &[Answer], b: &[Answer], qs: &[Query], what: &str) {
    for ((x, y), q) in a.iter().zip(b).zip(qs) {
        assert_eq!(x.count, y.count, "{what}: count of {q:?}");
        assert_eq!(x.hits, y.hits, "{what}: hit set of {q:?}");
    }
}

fn same_top(a: &[Answer], b: &[Answer], qs: &[Query], what: &str, pruned_too: bool) {
    for ((x, y), q) in a.iter().zip(b).zip(qs) {
        let lists = if pruned_too {
            vec![(&x.top, &y.top), (&x.pruned, &y.pruned)]
        } else {
            vec![(&x.top, &y.top)]
        };
        for (l, r) in lists {
            let ids = |v: &Vec<(u64, f32)>| v.iter().map(|h| h.0).collect::<Vec<_>>();
            assert_eq!(ids(l), ids(r), "{what}: top-k ids of {q:?}");
            for (h, g) in l.iter().zip(r) {
                assert!(
                    close(h.1, g.1),
                    "{what}: score of {} in {q:?}: {} vs {}",
                    h.0,
                    h.1,
                    g.1
                );
            }
        }
    }
}

/// A fresh index holding exactly `docs`, indexed in one segment.
fn reference(docs: &[MDoc], schema: &Schema, f: &Fields) -> (RamDirectory, Searcher) {
    let dir = RamDirectory::new();
    let index = Index::create(dir.clone(), schema.clone()).unwrap();
    let w = index
        .writer(WriterConfig::default().no_merges().indexing_threads(1))
        .unwrap();
    for d in docs {
        w.add_document(d.to_doc(f)).unwrap();
    }
    w.commit().unwrap();
    let s = index.reader().unwrap().searcher();
    assert!(s.segments().len() <= 1);
    (dir, s)
}

/// The merged single segment equals a freshly flushed one of the same
/// documents: every file's payload byte for byte, the statistics, the id
/// range.
fn assert_equals_fresh_segment(
    merged: &Searcher,
    mdir: &dyn Directory,
    fresh: &Searcher,
    fdir: &dyn Directory,
    schema: &Schema,
) {
    assert_eq!(merged.segments().len(), 1);
    assert_eq!(fresh.segments().len(), 1);
    let (m, r) = (&merged.segments()[0], &fresh.segments()[0]);
    assert_eq!(m.max_doc(), r.max_doc());
    assert_eq!(m.meta().num_deleted, 0);
    assert_eq!(m.meta().del_gen, 0);
    assert_eq!(m.meta().id_range, r.meta().id_range);
    for (field, _) in schema.fields() {
        assert_eq!(
            m.field_stats(field),
            r.field_stats(field),
            "stats of {field:?}"
        );
        assert_eq!(m.num_terms(field), r.num_terms(field), "terms of {field:?}");
    }
    let ext = |n: &str| n.rsplit('.').next().unwrap().to_string();
    let kinds = |meta: &lucerna::index::SegmentMeta| {
        meta.files
            .iter()
            .map(|f| ext(&f.name))
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(kinds(m.meta()), kinds(r.meta()));
    for mf in &m.meta().files {
        let rf = r
            .meta()
            .files
            .iter()
            .find(|x| ext(&x.name) == ext(&mf.name))
            .unwrap();
        let a = EnvelopeReader::open(mdir, &mf.name).unwrap();
        let b = EnvelopeReader::open(fdir, &rf.name).unwrap();
        assert_eq!(a.header().format, b.header().format);
        assert!(
            a.payload()[..] == b.payload()[..],
            "payload of {} differs from a fresh segment's",
            mf.name
        );
    }
}

fn dyn_dir(d: impl Directory + 'static) -> Arc<dyn Directory> {
    Arc::new(d)
}

/// Indexes a random corpus into many small segments with random deletes,
/// updates and commits, merges it into one, and checks every answer.
fn merge_case(seed: u64, ops: usize, deletes: bool) {
    let (schema, f) = schema();
    let dir = RamDirectory::new();
    let index = Index::create(dir.clone(), schema.clone()).unwrap();
    let mut rng = SplitMix64::new(seed);
    let per_seg = 3 + rng.below(10) as usize;
    let w = index
        .writer(
            WriterConfig::default()
                .no_merges()
                .indexing_threads(1)
                .max_buffered_docs(per_seg),
        )
        .unwrap();
    let mut model = Model::default();
    for _ in 0..ops {
        model.random_op(&mut rng, &w, &f, deletes);
        if rng.chance(0.02) {
            w.commit().unwrap();
        }
    }
    let qs = queries(&mut rng, &f);
    let pre = w.searcher().unwrap();
    assert!(
        pre.segments().len() >= 10,
        "seed {seed}: {} segments",
        pre.segments().len()
    );
    assert_eq!(pre.num_docs(), model.num_live(), "seed {seed}");
    let had_deletes = model.num_live() < model.docs.len() as u64;
    assert_eq!(had_deletes, deletes, "seed {seed}");
    let before = answers(&pre, &qs, &f);

    w.force_merge(1).unwrap();
    assert_eq!(w.num_segments(), 1);
    let post = w.searcher().unwrap();
    let after = answers(&post, &qs, &f);
    w.commit().unwrap();
    let reopened = Index::open(dir.clone())
        .unwrap()
        .reader()
        .unwrap()
        .searcher();
    let committed = answers(&reopened, &qs, &f);
    let live = model.live_docs();
    let (rdir, fresh) = reference(&live, &schema, &f);
    let expected = answers(&fresh, &qs, &f);

    let what = |s: &str| format!("seed {seed}: {s}");
    same_hits(&before, &after, &qs, &what("before vs after the merge"));
    same_hits(&after, &committed, &qs, &what("merged vs reopened"));
    same_hits(&after, &expected, &qs, &what("merged vs fresh"));
    same_top(&after, &committed, &qs, &what("merged vs reopened"), true);
    same_top(&after, &expected, &qs, &what("merged vs fresh"), true);
    if !deletes {
        // Statistics count deleted documents (as Lucene's), so scores only
        // stay put across a merge when it drops none.
        same_top(
            &before,
            &after,
            &qs,
            &what("before vs after the merge"),
            false,
        );
    }
    // Live documents keep their order.
    let seg = &reopened.segments()[0];
    let ids: Vec<u64> = (0..seg.max_doc())
        .map(|d| seg.column_value(f.id, d).unwrap())
        .collect();
    assert_eq!(ids, live.iter().map(|d| d.id).collect::<Vec<_>>());
    let doc = seg.doc(seg.max_doc() / 2).unwrap();
    assert_eq!(
        doc.get_first(f.id).and_then(|v| v.as_u64()),
        Some(ids[ids.len() / 2])
    );
    assert_equals_fresh_segment(&reopened, &dir, &fresh, &rdir, &schema);

    let report = check_index(&dyn_dir(dir.clone()), true).unwrap();
    assert!(report.healthy(), "seed {seed}: {:?}", report.problems);
    assert_eq!(report.docs, model.num_live());
    assert_eq!(report.segments.len(), 1);
}

#[test]
fn merged_index_answers_like_before_and_like_a_fresh_index() {
    for seed in 1..=5u64 {
        merge_case(0x4D45_5247_0000 + seed, 350, true);
    }
}

#[test]
fn merge_without_deletes_keeps_scores_and_rankings() {
    for seed in 1..=2u64 {
        merge_case(0x4144_4453_0000 + seed, 300, false);
    }
}

#[test]
fn merging_to_a_few_segments_then_to_one() {
    let (schema, f) = schema();
    let dir = RamDirectory::new();
    let index = Index::create(dir.clone(), schema.clone()).unwrap();
    let mut rng = SplitMix64::new(0xFE11);
    let w = index
        .writer(
            WriterConfig::default()
                .no_merges()
                .indexing_threads(1)
                .max_buffered_docs(7),
        )
        .unwrap();
    let mut model = Model::default();
    for _ in 0..250 {
        model.random_op(&mut rng, &w, &f, true);
    }
    let qs = queries(&mut rng, &f);
    let before = answers(&w.searcher().unwrap(), &qs, &f);
    let n = w.num_segments();
    assert!(n > 20);
    // Nothing to do: already few enough.
    w.force_merge(n + 5).unwrap();
    assert_eq!(w.num_segments(), n);
    for max in [12, 4, 3, 2] {
        w.force_merge(max).unwrap();
        assert!(w.num_segments() <= max, "{} > {max}", w.num_segments());
        let s = w.searcher().unwrap();
        assert_eq!(s.num_docs(), model.num_live());
        same_hits(
            &before,
            &answers(&s, &qs, &f),
            &qs,
            &format!("after force_merge({max})"),
        );
        w.commit().unwrap();
        let c = index.reader().unwrap().searcher();
        same_hits(
            &before,
            &answers(&c, &qs, &f),
            &qs,
            &format!("committed force_merge({max})"),
        );
    }
    w.force_merge(1).unwrap();
    w.commit().unwrap();
    let merged = index.reader().unwrap().searcher();
    let (rdir, fresh) = reference(&model.live_docs(), &schema, &f);
    same_top(
        &answers(&merged, &qs, &f),
        &answers(&fresh, &qs, &f),
        &qs,
        "merged vs fresh",
        true,
    );
    assert_equals_fresh_segment(&merged, &dir, &fresh, &rdir, &schema);
    assert!(matches!(w.force_merge(0), Err(Error::InvalidArgument(_))));
}

#[test]
fn single_segment_with_deletes_is_rewritten_and_all_deleted_segments_vanish() {
    let (schema, f) = schema();
    let dir = RamDirectory::new();
    let index = Index::create(dir.clone(), schema.clone()).unwrap();
    let w = index
        .writer(WriterConfig::default().no_merges().indexing_threads(1))
        .unwrap();
    let mut rng = SplitMix64::new(7);
    let mut model = Model::default();
    for i in 0..40u64 {
        model.add(&w, &f, MDoc::random(&mut rng, i, format!("k{i}")));
    }
    w.commit().unwrap();
    w.delete_term(f.key, "k3").unwrap();
    model.delete_where(|d| d.key == "k3");
    w.force_merge(2).unwrap(); // one segment: left as it is
    assert_eq!(w.searcher().unwrap().segments()[0].max_doc(), 40);
    w.force_merge(1).unwrap(); // rewritten without the deleted document
    let s = w.searcher().unwrap();
    assert_eq!(s.segments().len(), 1);
    assert_eq!(s.segments()[0].max_doc(), 39);
    assert_eq!(s.num_docs(), 39);
    w.force_merge(1).unwrap(); // nothing left to do
                               // Delete everything: merging leaves no segment at all.
    w.delete_term(f.id, "0").unwrap_err(); // numeric fields are not terms
    for d in &model.docs {
        w.delete_term(f.key, &d.key).unwrap();
    }
    w.force_merge(1).unwrap();
    assert_eq!(w.num_segments(), 0);
    w.commit().unwrap();
    let c = index.reader().unwrap().searcher();
    assert_eq!(c.num_docs(), 0);
    assert_eq!(c.segments().len(), 0);
    let report = check_index(&dyn_dir(dir.clone()), true).unwrap();
    assert!(report.healthy(), "{:?}", report.problems);
}

/// Documents as seen through a searcher: the set of ids.
fn all_ids(s: &Searcher, f: &Fields) -> BTreeSet<u64> {
    let n = s.num_docs() as usize + 1;
    s.search(&Query::MatchAll, Collect::CountAndTopK(n))
        .unwrap()
        .hits
        .iter()
        .map(|h| s.column_value(h.address, f.id).unwrap())
        .collect()
}

fn live_ids(model: &Model) -> BTreeSet<u64> {
    model.live_docs().iter().map(|d| d.id).collect()
}

/// Builds an index of a few segments, some deletes, committed.
fn small_index(dir: impl Directory + 'static, seed: u64) -> (Index, IndexWriter, Model, Fields) {
    let (schema, f) = schema();
    let index = Index::create(dir, schema).unwrap();
    let w = index
        .writer(
            WriterConfig::default()
                .no_merges()
                .indexing_threads(1)
                .max_buffered_docs(10),
        )
        .unwrap();
    let mut rng = SplitMix64::new(seed);
    let mut model = Model::default();
    for _ in 0..80 {
        model.random_op(&mut rng, &w, &f, true);
    }
    w.commit().unwrap();
    assert!(w.num_segments() >= 4);
    (index, w, model, f)
}

fn expect_corrupt(e: &Error, file: &str) {
    match e {
        Error::Store(StoreError::Corrupt { file: got, .. }) => assert_eq!(got, file, "{e}"),
        other => panic!("expected a corruption of `{file}`, got {other:?}"),
    }
    assert!(e.is_corrupt());
    assert!(e.to_string().contains(file), "{e}");
}

#[test]
fn a_bit_flip_in_an_input_fails_the_merge_and_changes_nothing() {
    let fd = Arc::new(FaultyDirectory::new(RamDirectory::new(), 0xB17));
    let (index, w, model, f) = small_index(fd.clone(), 11);
    let commit = index.latest_commit().unwrap();
    let target = commit.segments[2]
        .files
        .iter()
        .find(|x| x.name.ends_with(".pos"))
        .unwrap()
        .name
        .clone();
    let len = fd.file_len(&target).unwrap();
    fd.corrupt_on_read(
        &target,
        ReadCorruption::FlipBit {
            offset: len / 2,
            bit: 5,
        },
    );
    let files_before = fd.list().unwrap();
    let segments_before = w.num_segments();
    let e = w.force_merge(1).unwrap_err();
    expect_corrupt(&e, &target);
    // No file is left behind but the damaged segment's corruption marker.
    let marker = marker_file_name(&commit.segments[2].name);
    let mut files_after = fd.list().unwrap();
    files_after.retain(|f| f != &marker);
    assert_eq!(files_after, files_before, "a failed merge leaves no file");
    assert!(fd.exists(&marker).unwrap(), "the damaged segment is marked");
    assert_eq!(w.num_segments(), segments_before);
    assert_eq!(all_ids(&w.searcher().unwrap(), &f), live_ids(&model));
    drop(w);

    // The index is at its last good commit. The marked segment is refused
    // at open, naming the damaged file, even with structure checks only:
    // a restart does not forget the damage.
    let again = Index::open(fd.clone()).unwrap();
    assert_eq!(again.latest_commit().unwrap().generation, commit.generation);
    expect_open_names(&again, &target);
    let again = again.with_verify(lucerna::index::Verify::Structure);
    expect_open_names(&again, &target);

    // Once the device reads right again, repair finds every file intact
    // and clears the marker; the index serves every document and the
    // merge goes through.
    fd.clear_read_corruptions();
    let r = repair(&dyn_dir(fd.clone()), &[], RepairOptions::default()).unwrap();
    assert_eq!(r.outcome, RepairOutcome::Repaired, "{r:?}");
    assert!(r.healthy() && r.lost.is_empty());
    let s = again.reader().unwrap().searcher();
    assert_eq!(s.num_docs(), model.num_live());
    assert_eq!(all_ids(&s, &f), live_ids(&model));
    let w = again.writer(WriterConfig::default().no_merges()).unwrap();
    w.force_merge(1).unwrap();
    w.commit().unwrap();
    let s = again.reader().unwrap().searcher();
    assert_eq!(s.segments().len(), 1);
    assert_eq!(all_ids(&s, &f), live_ids(&model));
    let report = check_index(&dyn_dir(fd.clone()), true).unwrap();
    assert!(report.healthy(), "{:?}", report.problems);
}

/// Opening a reader with full verification (the default) fails with a
/// corruption error naming `file`.
fn expect_open_names(index: &Index, file: &str) {
    match index.reader() {
        Err(lucerna::Error::Store(e)) => {
            assert!(e.is_corrupt() && e.to_string().contains(file), "{e}")
        }
        other => panic!("expected a corruption error naming {file}, got {other:?}"),
    }
}

#[test]
fn a_stored_checksum_mismatch_on_disk_fails_the_merge_naming_the_file() {
    let dir = RamDirectory::new();
    let (index, w, _model, _f) = small_index(dir.clone(), 12);
    let commit = index.latest_commit().unwrap();
    let target = commit.segments[1]
        .files
        .iter()
        .find(|x| x.name.ends_with(".sto"))
        .unwrap()
        .name
        .clone();
    // Flip a bit of the footer's CRC: the file still opens, only a full
    // checksum shows the damage.
    let mut bytes = dir.open(&target).unwrap().to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x10;
    dir.delete(&target).unwrap();
    lucerna::store::write_file(&dir, &target, &bytes).unwrap();
    let files_before = dir.list().unwrap();
    let e = w.force_merge(1).unwrap_err();
    expect_corrupt(&e, &target);
    let marker = marker_file_name(&commit.segments[1].name);
    let mut files_after = dir.list().unwrap();
    files_after.retain(|f| f != &marker);
    assert_eq!(files_after, files_before);
    assert!(
        dir.exists(&marker).unwrap(),
        "the damaged segment is marked"
    );
    drop(w);

    // The marked segment is refused at open, with full verification or
    // structure checks only, naming the damaged file.
    let again = Index::open(dir.clone()).unwrap();
    assert_eq!(again.latest_commit().unwrap().generation, commit.generation);
    expect_open_names(&again, &target);
    let again = again.with_verify(lucerna::index::Verify::Structure);
    expect_open_names(&again, &target);
    let report = check_index(&dyn_dir(dir.clone()), false).unwrap();
    let files: Vec<&str> = report.problems.iter().map(|p| p.file.as_str()).collect();
    assert_eq!(files, vec![target.as_str()]);
    assert_eq!(report.markers.len(), 1);
    assert!(report.markers[0].active);
}

#[test]
fn old_searchers_keep_their_view_after_merge_and_commit() {
    let dir = RamDirectory::new();
    let (schema, f) = schema();
    let index = Index::create(dir.clone(), schema).unwrap();
    let mut cfg = WriterConfig::default()
        .no_merges()
        .indexing_threads(1)
        .max_buffered_docs(9);
    cfg.keep_commits = 1;
    let w = index.writer(cfg).unwrap();
    let mut rng = SplitMix64::new(0x01D);
    let mut model = Model::default();
    for _ in 0..120 {
        model.random_op(&mut rng, &w, &f, true);
    }
    w.commit().unwrap();
    let reader = index.reader().unwrap();
    let old_committed = reader.searcher();
    for _ in 0..40 {
        model.random_op(&mut rng, &w, &f, true);
    }
    let old_nrt = w.searcher().unwrap();
    let qs = queries(&mut rng, &f);
    let committed_before = answers(&old_committed, &qs, &f);
    let nrt_before = answers(&old_nrt, &qs, &f);
    let old_files: BTreeSet<String> = old_nrt
        .segments()
        .iter()
        .flat_map(|s| s.meta().files.iter().map(|x| x.name.clone()))
        .collect();
    let sample = old_committed
        .search(&Query::MatchAll, Collect::CountAndTopK(5))
        .unwrap();

    w.force_merge(1).unwrap();
    w.commit().unwrap();
    w.commit().unwrap();
    // Old views answer exactly as before (scores too), stored fields included.
    assert_eq!(answers(&old_committed, &qs, &f), committed_before);
    assert_eq!(answers(&old_nrt, &qs, &f), nrt_before);
    for h in &sample.hits {
        old_committed.doc(h.address).unwrap();
    }
    // New views see one segment with the same documents.
    assert!(reader.reload().unwrap());
    let merged = reader.searcher();
    assert_eq!(merged.segments().len(), 1);
    same_hits(
        &nrt_before,
        &answers(&merged, &qs, &f),
        &qs,
        "merged vs old near-real-time",
    );
    assert_eq!(all_ids(&merged, &f), live_ids(&model));
    // Still referenced: the inputs' files stay while the old views live.
    let present = |names: &BTreeSet<String>| {
        let listed: BTreeSet<String> = dir.list().unwrap().into_iter().collect();
        names.iter().filter(|n| listed.contains(*n)).count()
    };
    assert!(present(&old_files) > 0);
    drop((old_committed, old_nrt, sample));
    w.commit().unwrap();
    assert_eq!(
        present(&old_files),
        0,
        "unreferenced input files are deleted"
    );
    let report = check_index(&dyn_dir(dir.clone()), true).unwrap();
    assert!(report.healthy(), "{:?}", report.problems);
}

#[test]
fn deletes_and_adds_during_merges_are_kept() {
    let (schema, f) = schema();
    let dir = RamDirectory::new();
    let index = Index::create(dir.clone(), schema.clone()).unwrap();
    let w = index
        .writer(
            WriterConfig::default()
                .no_merges()
                .indexing_threads(1)
                .max_buffered_docs(6),
        )
        .unwrap();
    let mut rng = SplitMix64::new(0xC0C0);
    let mut model = Model::default();
    for _ in 0..150 {
        model.random_op(&mut rng, &w, &f, true);
    }
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let worker = {
        let (w, done) = (w.clone(), done.clone());
        std::thread::spawn(move || {
            for _ in 0..400 {
                model.random_op(&mut rng, &w, &f, true);
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            (model, rng)
        })
    };
    let mut merges = 0;
    while !done.load(std::sync::atomic::Ordering::SeqCst) || merges == 0 {
        w.force_merge(if merges % 2 == 0 { 1 } else { 3 }).unwrap();
        merges += 1;
        if merges % 3 == 0 {
            w.commit().unwrap();
        }
    }
    let (model, mut rng) = worker.join().unwrap();
    assert_eq!(all_ids(&w.searcher().unwrap(), &f), live_ids(&model));
    w.force_merge(1).unwrap();
    w.commit().unwrap();
    let merged = index.reader().unwrap().searcher();
    assert_eq!(merged.num_docs(), model.num_live());
    let qs = queries(&mut rng, &f);
    let (rdir, fresh) = reference(&model.live_docs(), &schema, &f);
    let (a, b) = (answers(&merged, &qs, &f), answers(&fresh, &qs, &f));
    same_hits(&a, &b, &qs, "merged vs fresh");
    same_top(&a, &b, &qs, "merged vs fresh", true);
    assert_equals_fresh_segment(&merged, &dir, &fresh, &rdir, &schema);
}
