//! Replacing an index in place (`Index::create_replacing`): the old index
//! stays whole and searchable until the new one's commit is durable, a
//! failure or power loss at any point of the build leaves either the old
//! index (with its write-ahead log) or the new one, and after the switch
//! nothing of the old index is left or replayed.

use lucerna::internals::SearcherInternals;
use lucerna::schema::{NumericKind, Schema};
use lucerna::store::{Directory, Fault, FaultyDirectory, OpKind, RamDirectory};
use lucerna::{Document, Durability, Index, WriterConfig};
use std::collections::BTreeSet;
use std::sync::Arc;

/// The new index's schema: unlike the old one, no stored body.
fn new_schema() -> Schema {
    let mut b = Schema::builder();
    b.add_numeric("id", NumericKind::U64, true);
    b.required();
    b.add_text("body", false);
    b.build().unwrap()
}

fn doc(schema: &Schema, id: u64) -> Document {
    let mut d = Document::new();
    d.add_u64(schema.field("id").unwrap(), id)
        .add_text(schema.field("body").unwrap(), format!("line {id}"));
    d
}

/// Ids 0..20 committed, 20..30 only in the write-ahead log, 5 deleted (in
/// the log): the old index holds 0..30 without 5 once its log replays.
fn old_index(dir: &FaultyDirectory<RamDirectory>) {
    let index = Index::create(dir.clone(), Schema::logs()).unwrap();
    let schema = index.schema().clone();
    let w = index
        .writer(
            WriterConfig::default()
                .durability(Durability::Sync)
                .max_buffered_docs(6),
        )
        .unwrap();
    for id in 0..20 {
        w.add_document(doc(&schema, id)).unwrap();
    }
    w.commit().unwrap();
    for id in 20..30 {
        w.add_document(doc(&schema, id)).unwrap();
    }
    w.delete_term(schema.field("body").unwrap(), "5").unwrap();
    drop(w); // no commit: the log holds the rest
}

/// The files the old index needs: its newest commit's and its logs.
fn needed_files(dir: &FaultyDirectory<RamDirectory>) -> BTreeSet<String> {
    let commit = Index::open(dir.clone()).unwrap().latest_commit().unwrap();
    let mut files: BTreeSet<String> = commit.referenced_files().into_iter().collect();
    files.extend(
        lucerna::internals::wal::list_logs(dir)
            .unwrap()
            .into_iter()
            .map(|(_, n)| n),
    );
    files
}

fn old_ids() -> BTreeSet<u64> {
    (0..30).filter(|&i| i != 5).collect()
}

fn new_ids() -> BTreeSet<u64> {
    (100..125).collect()
}

/// Builds the replacement: ids 100..125 in several segments, one commit.
fn replace(dir: &FaultyDirectory<RamDirectory>) -> lucerna::Result<()> {
    let index = Index::create_replacing(dir.clone(), new_schema())?;
    let schema = index.schema().clone();
    let w = index.writer(
        WriterConfig::default()
            .durability(Durability::None)
            .max_buffered_docs(7),
    )?;
    for id in new_ids() {
        w.add_document(doc(&schema, id))?;
    }
    w.commit()?;
    Ok(())
}

/// The schema and live ids of the index in `dir`, as a writer opening it
/// sees them (its log replayed).
fn state(dir: &Arc<dyn Directory>, what: &str) -> (Schema, BTreeSet<u64>) {
    let index = Index::open(dir.clone()).unwrap_or_else(|e| panic!("{what}: open: {e}"));
    let w = index
        .writer(WriterConfig::default().durability(Durability::None))
        .unwrap_or_else(|e| panic!("{what}: writer: {e}"));
    let id = index.schema().field("id").unwrap();
    let s = w.searcher().unwrap();
    let mut ids = BTreeSet::new();
    for seg in s.segments() {
        for d in 0..seg.max_doc() {
            if seg.is_live(d) {
                assert!(ids.insert(seg.column_value(id, d).unwrap()), "{what}");
            }
        }
    }
    (index.schema().clone(), ids)
}

#[test]
fn the_switch_is_one_commit_and_the_old_index_is_gone_after_it() {
    let fd = FaultyDirectory::new(RamDirectory::new(), 1);
    old_index(&fd);
    let before = needed_files(&fd);
    let index = Index::create_replacing(fd.clone(), new_schema()).unwrap();
    let schema = index.schema().clone();
    // A logged replacement is refused: its records would be replayed into
    // the old index after a crash before the switch.
    assert!(matches!(
        index.writer(WriterConfig::default().durability(Durability::Sync)),
        Err(lucerna::Error::InvalidArgument(_))
    ));
    let w = index
        .writer(
            WriterConfig::default()
                .durability(Durability::None)
                .max_buffered_docs(7),
        )
        .unwrap();
    assert_eq!(w.replay_report().replayed, 0, "nothing old is replayed");
    for id in new_ids() {
        w.add_document(doc(&schema, id)).unwrap();
    }
    w.flush().unwrap();
    // Built, not committed: the old index is what a reader sees, whole.
    let dir: Arc<dyn Directory> = Arc::new(fd.clone());
    let old = Index::open(dir.clone()).unwrap();
    assert_eq!(old.schema(), &Schema::logs());
    assert_eq!(old.reader().unwrap().searcher().num_docs(), 20);
    for f in &before {
        assert!(fd.exists(f).unwrap(), "{f} of the old index is still there");
    }
    // Readers through the replacing handle refuse the old schema.
    assert!(index.reader().is_err());
    w.commit().unwrap();
    for f in &before {
        {
            assert!(
                !fd.exists(f).unwrap(),
                "{f} of the old index was deleted: {before:?} -> {:?}",
                fd.list().unwrap()
            );
        }
    }
    drop(w);
    let (s, ids) = state(&dir, "after the switch");
    assert_eq!(s, new_schema());
    assert_eq!(
        ids,
        new_ids(),
        "the old log is not replayed into the new index"
    );
    // Later writers of the same handle open the new index as usual.
    let w = index.writer(WriterConfig::default()).unwrap();
    assert_eq!(w.searcher().unwrap().num_docs(), 25);
}

#[test]
fn a_replacement_of_nothing_creates_the_index() {
    let fd = FaultyDirectory::new(RamDirectory::new(), 2);
    replace(&fd).unwrap();
    let dir: Arc<dyn Directory> = Arc::new(fd);
    assert_eq!(state(&dir, "fresh").1, new_ids());
}

#[test]
fn a_failed_or_abandoned_build_leaves_the_old_index_untouched() {
    // Abandoned before its commit (a kill): the old index, and the next
    // writer removes the new segment files.
    let fd = FaultyDirectory::new(RamDirectory::new(), 3);
    old_index(&fd);
    let before = needed_files(&fd);
    {
        let index = Index::create_replacing(fd.clone(), new_schema()).unwrap();
        let w = index
            .writer(
                WriterConfig::default()
                    .durability(Durability::None)
                    .max_buffered_docs(4),
            )
            .unwrap();
        for id in new_ids() {
            w.add_document(doc(index.schema(), id)).unwrap();
        }
        w.flush().unwrap();
    }
    let built: BTreeSet<String> = fd
        .list()
        .unwrap()
        .into_iter()
        .filter(|f| f.starts_with("seg_") && !before.contains(f))
        .collect();
    assert!(!built.is_empty());
    let dir: Arc<dyn Directory> = Arc::new(fd.clone());
    let (s, ids) = state(&dir, "abandoned");
    assert_eq!((s, ids), (Schema::logs(), old_ids()));
    let after: BTreeSet<String> = fd.list().unwrap().into_iter().collect();
    assert!(before.is_subset(&after), "{before:?} -> {after:?}");
    assert!(
        built.is_disjoint(&after),
        "the new segment files were removed: {after:?}"
    );
}

#[test]
fn power_loss_or_an_io_error_at_any_point_leaves_the_old_or_the_new_index() {
    // The operations of a clean replacement, counted per kind.
    let fd = FaultyDirectory::new(RamDirectory::new(), 4);
    old_index(&fd);
    fd.reset_counts();
    replace(&fd).unwrap();
    let kinds = [
        OpKind::Create,
        OpKind::Write,
        OpKind::Finish,
        OpKind::Sync,
        OpKind::SyncDir,
        OpKind::Rename,
        OpKind::Delete,
    ];
    let counts: Vec<(OpKind, u64)> = kinds.iter().map(|&k| (k, fd.op_count(k))).collect();
    let (mut old_seen, mut new_seen) = (0, 0);
    for (kind, n) in counts {
        for at in 0..n {
            for fault in [Fault::Eio, Fault::Enospc] {
                let what = format!("{fault:?} from {kind:?} #{at}, then power loss");
                let fd = FaultyDirectory::new(RamDirectory::new(), 4);
                old_index(&fd);
                fd.reset_counts();
                fd.fail_from(kind, at, fault);
                let result = replace(&fd);
                fd.crash().unwrap();
                fd.clear_faults();
                let dir: Arc<dyn Directory> = Arc::new(fd.clone());
                let (schema, ids) = state(&dir, &what);
                if schema == new_schema() {
                    assert_eq!(ids, new_ids(), "{what}");
                    new_seen += 1;
                } else {
                    assert!(result.is_err(), "{what}: the commit succeeded");
                    assert_eq!((schema, ids), (Schema::logs(), old_ids()), "{what}");
                    old_seen += 1;
                }
            }
        }
    }
    assert!(
        old_seen > 0 && new_seen > 0,
        "{old_seen} old, {new_seen} new"
    );
}
