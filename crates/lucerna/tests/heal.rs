//! Automatic healing, in process, no operator: a damaged segment file is
//! restored from a local replica when a reader opens, when a merge meets
//! it, or (policy `FromReplicasAndLog`) rebuilt from an older commit plus
//! the write-ahead log; what cannot be healed is an error naming the file,
//! or, when asked for, a partial result that says exactly which documents
//! are missing. Every heal is counted (its `tracing` event, with the same
//! fields, is checked by `tests/events.rs`).

use lucerna::index::check::{check_index_with, CheckOptions};
use lucerna::index::{HealPolicy, HealSource};
use lucerna::internals::SearcherInternals;
use lucerna::schema::{Field, Schema};
use lucerna::store::{write_file, Directory, FsDirectory, RamDirectory};
use lucerna::{Document, Durability, Index, IndexWriter, Query, WriterConfig};
use std::collections::BTreeSet;
use std::sync::Arc;

#[derive(Clone, Copy)]
struct F {
    id: Field,
    body: Field,
}

fn fields(index: &Index) -> F {
    F {
        id: index.schema().field("id").unwrap(),
        body: index.schema().field("body").unwrap(),
    }
}

fn config() -> WriterConfig {
    let mut c = WriterConfig::default()
        .no_merges()
        .indexing_threads(1)
        .max_buffered_docs(50)
        .durability(Durability::Sync);
    c.keep_commits = 2;
    c
}

/// Three commits of 50 documents ("event n<id> w<id % 7>").
fn fill(w: &IndexWriter, f: F) -> BTreeSet<u64> {
    let mut ids = BTreeSet::new();
    for b in 0..3u64 {
        for id in b * 50..(b + 1) * 50 {
            let mut d = Document::new();
            d.add_u64(f.id, id)
                .add_text(f.body, format!("event n{id} w{}", id % 7));
            w.add_document(d).unwrap();
            ids.insert(id);
        }
        w.commit().unwrap();
    }
    ids
}

/// Every live id a searcher of `index` serves, and the count of "w3".
fn served(index: &Index) -> (BTreeSet<u64>, u64) {
    let f = fields(index);
    let s = index.reader().unwrap().searcher();
    let mut ids = BTreeSet::new();
    for seg in s.segments() {
        for d in 0..seg.max_doc() {
            if seg.is_live(d) {
                ids.insert(seg.column_value(f.id, d).unwrap());
            }
        }
    }
    let n = s.count(&Query::term(f.body, "w3")).unwrap();
    (ids, n)
}

fn flip_ram(dir: &RamDirectory, name: &str) {
    let mut b = dir.open(name).unwrap().to_vec();
    let at = b.len() / 2;
    b[at] ^= 0x08;
    dir.delete(name).unwrap();
    write_file(dir, name, &b).unwrap();
}

/// Flips a bit of `name` in place (a storage fault under an open map).
fn flip_in_place(path: &std::path::Path, name: &str) {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path.join(name))
        .unwrap();
    let len = f.metadata().unwrap().len();
    let at = len / 2;
    let mut b = [0u8; 1];
    f.seek(SeekFrom::Start(at)).unwrap();
    f.read_exact(&mut b).unwrap();
    b[0] ^= 0x08;
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(&b).unwrap();
    f.sync_all().unwrap();
}

fn healthy(dir: &dyn Directory, d: Arc<dyn Directory>) -> bool {
    let _ = dir;
    check_index_with(
        &d,
        CheckOptions {
            deep: true,
            write_markers: false,
        },
    )
    .unwrap()
    .healthy()
}

fn expected_w3(ids: &BTreeSet<u64>) -> u64 {
    ids.iter().filter(|i| *i % 7 == 3).count() as u64
}

#[test]
fn a_reader_heals_a_damaged_file_from_a_local_replica() {
    for ext in [".tdi", ".doc", ".pos", ".nrm", ".sto", ".col", ".fls"] {
        let dir = RamDirectory::new();
        let replica = RamDirectory::new();
        let index = Index::create(dir.clone(), Schema::logs()).unwrap();
        let f = fields(&index);
        let w = index
            .writer(config().replica(Arc::new(replica.clone())))
            .unwrap();
        let ids = fill(&w, f);
        drop(w);
        let victim = format!("seg_1{ext}");
        flip_ram(&dir, &victim);
        // Without replicas: an error naming the file.
        let e = Index::open(dir.clone()).unwrap().reader().unwrap_err();
        assert!(e.to_string().contains("seg_1"), "{ext}: {e}");
        // With them: healed, exact answers, counted.
        let index = Index::open(dir.clone())
            .unwrap()
            .with_replicas(vec![Arc::new(replica.clone())]);
        let (got, w3) = served(&index);
        assert_eq!(got, ids, "{ext}");
        assert_eq!(w3, expected_w3(&ids), "{ext}");
        let st = index.heal_stats();
        assert_eq!(st.files_healed, 1, "{ext}: {st:?}");
        assert_eq!(st.recent[0].file, victim);
        assert_eq!(st.recent[0].source, HealSource::Replica(0));
        assert!(healthy(&dir, Arc::new(dir.clone())), "{ext}");
    }
}

#[test]
fn a_merge_that_meets_a_damaged_input_heals_it_and_merges_again() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = FsDirectory::open(tmp.path()).unwrap();
    let replica = RamDirectory::new();
    let index = Index::create(dir.clone(), Schema::logs()).unwrap();
    let f = fields(&index);
    let w = index
        .writer(config().replica(Arc::new(replica.clone())))
        .unwrap();
    let ids = fill(&w, f);
    assert_eq!(w.num_segments(), 3);
    // A storage fault under the writer's open map.
    flip_in_place(tmp.path(), "seg_1.doc");
    // The merge verifies its inputs, finds the damage, heals the file
    // from the replica, and a second attempt merges.
    assert!(w.force_merge(1).is_err());
    assert_eq!(w.heal_stats().files_healed, 1);
    w.force_merge(1).unwrap();
    assert_eq!(w.num_segments(), 1);
    w.commit().unwrap();
    drop(w);
    let (got, w3) = served(&index);
    assert_eq!(got, ids);
    assert_eq!(w3, expected_w3(&ids));
    assert!(healthy(&dir, Arc::new(dir.clone())));
}

#[test]
fn without_a_replica_an_older_commit_plus_the_log_heals() {
    let dir = RamDirectory::new();
    let index = Index::create(dir.clone(), Schema::logs()).unwrap();
    let f = fields(&index);
    let w = index.writer(config()).unwrap();
    let ids = fill(&w, f);
    drop(w);
    // seg_2: only in the newest commit.
    flip_ram(&dir, "seg_2.sto");
    let plain = Index::open(dir.clone()).unwrap();
    assert!(plain.reader().is_err());
    let index = Index::open(dir.clone())
        .unwrap()
        .with_heal_policy(HealPolicy::FromReplicasAndLog);
    let (got, w3) = served(&index);
    assert_eq!(got, ids);
    assert_eq!(w3, expected_w3(&ids));
    let st = index.heal_stats();
    assert_eq!(st.repairs, 1, "{st:?}");
    assert_eq!(st.recent[0].source, HealSource::OlderCommitAndLog);
    assert!(healthy(&dir, Arc::new(dir.clone())));
}

#[test]
fn a_partial_searcher_says_exactly_what_it_lacks() {
    let dir = RamDirectory::new();
    let index = Index::create(dir.clone(), Schema::logs()).unwrap();
    let f = fields(&index);
    let w = index.writer(config()).unwrap();
    let ids = fill(&w, f);
    drop(w);
    flip_ram(&dir, "seg_1.tdi");
    let seg1: BTreeSet<u64> = (50..100).collect();
    // The default: an error naming the file.
    let e = Index::open(dir.clone()).unwrap().reader().unwrap_err();
    assert!(e.to_string().contains("seg_1.tdi"), "{e}");
    // Asked for partial results: the intact segments, flagged.
    let index = Index::open(dir.clone()).unwrap().allow_partial(true);
    let s = index.reader().unwrap().searcher();
    assert_eq!(s.unavailable().len(), 1);
    let u = &s.unavailable()[0];
    assert_eq!(u.segment, "seg_1");
    assert_eq!(u.file, "seg_1.tdi");
    assert_eq!(u.docs, 50);
    assert_eq!(u.ids.as_ref().unwrap().ranges(), &[(50, 99)]);
    let top = s.top_k(&Query::term(f.body, "w3"), 200).unwrap();
    let intact: BTreeSet<u64> = ids.difference(&seg1).copied().collect();
    assert_eq!(top.count, Some(expected_w3(&intact)));
    assert!(top.is_partial());
    assert_eq!(top.partial.as_ref().unwrap()[0].segment, "seg_1");
    for h in &top.hits {
        let id = s.column_value(h.address, f.id).unwrap();
        assert!(!seg1.contains(&id));
    }
}

/// A file a reader healed (an intact copy renamed over it) while the
/// writer still maps the damaged one: the writer's next merge fails on its
/// stale map, opens the segment again over the healed file, and the merge
/// after that succeeds.
#[test]
fn a_writer_picks_up_a_file_someone_else_healed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = FsDirectory::open(tmp.path()).unwrap();
    let replica = RamDirectory::new();
    let index = Index::create(dir.clone(), Schema::logs()).unwrap();
    let f = fields(&index);
    let w = index
        .writer(config().replica(Arc::new(replica.clone())))
        .unwrap();
    let ids = fill(&w, f);
    flip_in_place(tmp.path(), "seg_0.pos");
    // Another process's reader heals it.
    let other = Index::open(FsDirectory::open(tmp.path()).unwrap())
        .unwrap()
        .with_replicas(vec![Arc::new(replica.clone())]);
    assert_eq!(served(&other).0, ids);
    assert_eq!(other.heal_stats().files_healed, 1);
    // The writer's map still holds the damaged bytes.
    assert!(w.force_merge(1).is_err());
    w.force_merge(1).unwrap();
    assert_eq!(w.num_segments(), 1);
    w.commit().unwrap();
    drop(w);
    assert_eq!(served(&index).0, ids);
}
