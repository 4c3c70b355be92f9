//! Deletes and updates by numeric id (`IndexWriter::delete_by_id`,
//! `update_by_id`) against a model: seeded random adds (duplicates
//! included), upserts and deletes, with flushes, commits, forced merges,
//! automatic merges, near-real-time searchers, rollbacks and reopens that
//! replay the write-ahead log. After every step that exposes the index, the
//! live documents are exactly the model's.

use lucerna::internals::SearcherInternals;
use lucerna::schema::Schema;
use lucerna::store::rng::SplitMix64;
use lucerna::store::{Directory, RamDirectory};
use lucerna::{Document, Durability, Index, IndexWriter, WriterConfig};
use std::collections::BTreeMap;
use std::sync::Arc;

const SEEDS: [u64; 6] = [1, 2, 3, 0xD1D, 0xBEEF, 77];
const OPS: usize = 600;
const IDS: u64 = 40;

/// id → the versions of its live documents (several after plain adds of
/// the same id).
type Model = BTreeMap<u64, Vec<i64>>;

fn doc(schema: &Schema, id: u64, version: i64) -> Document {
    let mut d = Document::new();
    d.add_u64(schema.field("id").unwrap(), id)
        .add_i64(schema.field("timestamp").unwrap(), version)
        .add_text(schema.field("body").unwrap(), format!("version {version}"));
    d
}

fn open(dir: &Arc<dyn Directory>, merges: bool) -> (Index, IndexWriter) {
    let index = Index::open(dir.clone()).unwrap();
    let mut config = WriterConfig::default()
        .durability(Durability::Sync)
        .max_buffered_docs(5);
    if !merges {
        config = config.no_merges();
    }
    let w = index.writer(config).unwrap();
    (index, w)
}

/// The live (id, version) pairs a near-real-time searcher sees.
fn live(w: &IndexWriter) -> Model {
    let s = w.searcher().unwrap();
    let (id, ts) = (
        s.schema().field("id").unwrap(),
        s.schema().field("timestamp").unwrap(),
    );
    let mut m = Model::new();
    for seg in s.segments() {
        for d in 0..seg.max_doc() {
            if seg.is_live(d) {
                let v = lucerna::numeric::u64_to_i64(seg.column_value(ts, d).unwrap());
                m.entry(seg.column_value(id, d).unwrap())
                    .or_default()
                    .push(v);
            }
        }
    }
    for v in m.values_mut() {
        v.sort_unstable();
    }
    m
}

fn normalized(m: &Model) -> Model {
    m.iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| {
            let mut v = v.clone();
            v.sort_unstable();
            (*k, v)
        })
        .collect()
}

fn run(seed: u64) {
    let mut rng = SplitMix64::new(seed);
    let dir: Arc<dyn Directory> = Arc::new(RamDirectory::new());
    Index::create(dir.clone(), Schema::logs()).unwrap();
    let merges = seed.is_multiple_of(2);
    let (index, mut w) = open(&dir, merges);
    let schema = index.schema().clone();
    let id_field = schema.field("id").unwrap();
    let mut model = Model::new();
    let mut committed = Model::new();
    let mut version = 0i64;
    for step in 0..OPS {
        let what = format!("seed {seed}, step {step}");
        let id = rng.below(IDS);
        match rng.below(100) {
            0..=34 => {
                version += 1;
                w.add_document(doc(&schema, id, version)).unwrap();
                model.entry(id).or_default().push(version);
            }
            35..=59 => {
                version += 1;
                w.update_by_id(id_field, id, doc(&schema, id, version))
                    .unwrap();
                model.insert(id, vec![version]);
            }
            60..=79 => {
                w.delete_by_id(id_field, id).unwrap();
                model.remove(&id);
            }
            80..=84 => w.flush().unwrap(),
            85..=89 => {
                w.commit().unwrap();
                committed = model.clone();
            }
            90..=92 => {
                w.force_merge(1).unwrap();
            }
            93..=95 => assert_eq!(live(&w), normalized(&model), "{what}: searcher"),
            96..=97 => {
                // A crash: the log replays everything acknowledged.
                drop(w);
                let (_, again) = open(&dir, merges);
                w = again;
                assert_eq!(live(&w), normalized(&model), "{what}: after replay");
            }
            _ => {
                w.rollback().unwrap();
                model = committed.clone();
                assert_eq!(live(&w), normalized(&model), "{what}: after rollback");
            }
        }
    }
    w.commit().unwrap();
    w.wait_for_merges().unwrap();
    assert_eq!(live(&w), normalized(&model), "seed {seed}: end");
    drop(w);
    // A fresh reader of the last commit.
    let s = Index::open(dir.clone())
        .unwrap()
        .reader()
        .unwrap()
        .searcher();
    let total: usize = model.values().map(Vec::len).sum();
    assert_eq!(s.num_docs(), total as u64, "seed {seed}: committed count");
}

#[test]
fn random_adds_upserts_and_deletes_by_id_match_the_model() {
    for seed in SEEDS {
        run(seed);
    }
}

#[test]
fn only_u64_fields_take_deletes_by_id() {
    let index = Index::create(RamDirectory::new(), Schema::logs()).unwrap();
    let s = index.schema().clone();
    let w = index.writer(WriterConfig::default()).unwrap();
    for name in ["timestamp", "body"] {
        let f = s.field(name).unwrap();
        assert!(w.delete_by_id(f, 1).is_err(), "{name}");
        assert!(w.update_by_id(f, 1, doc(&s, 1, 1)).is_err(), "{name}");
    }
    // A rejected document deletes nothing.
    w.add_document(doc(&s, 1, 1)).unwrap();
    let mut bad = Document::new();
    bad.add_text(s.field("body").unwrap(), "no id");
    assert!(w.update_by_id(s.field("id").unwrap(), 1, bad).is_err());
    assert_eq!(w.searcher().unwrap().num_docs(), 1);
}
