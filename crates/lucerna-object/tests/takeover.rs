//! Acceptance 3: a fenced old writer cannot publish (or acknowledge)
//! after a takeover; the new writer, on another directory, replays the
//! shipped log and holds every acknowledged document in the
//! bucket-durable mode, and in the other modes exactly what the mode
//! promises, the unshipped tail reported by id.

mod common;

use lucerna::internals::SearcherInternals;
use lucerna::schema::Schema;
use lucerna::{Searcher, WriterConfig};
use lucerna_object::{BucketDurability, BucketWriter, ObjectDirectory, ObjectError};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

fn ids(s: &Searcher) -> BTreeSet<u64> {
    let id = s.schema().field("id").unwrap();
    let mut out = BTreeSet::new();
    for seg in s.segments() {
        for d in 0..seg.max_doc() {
            if seg.is_live(d) {
                assert!(out.insert(seg.column_value(id, d).unwrap()), "duplicate id");
            }
        }
    }
    out
}

fn create(name: &str, root: &Path, mode: BucketDurability) -> BucketWriter {
    BucketWriter::create(
        common::client(name, "idx"),
        &root.join("a"),
        &root.join("ca"),
        Schema::logs(),
        WriterConfig::default(),
        mode,
    )
    .unwrap()
}

fn take_over(name: &str, root: &Path, tag: &str, mode: BucketDurability) -> BucketWriter {
    let (w, r) = BucketWriter::take_over(
        common::client(name, "idx"),
        &root.join(tag),
        &root.join(format!("c{tag}")),
        WriterConfig::default(),
        mode,
    )
    .unwrap();
    assert_eq!(r.generation, w.writer().last_commit_generation());
    assert_eq!(r.fence_generation, r.base_generation + 1);
    w
}

#[test]
fn bucket_durable_takeover_holds_every_acknowledged_document_and_fences_the_old_writer() {
    let name = common::fresh_bucket_name();
    let tmp = tempfile::tempdir().unwrap();
    let a = create(&name, tmp.path(), BucketDurability::Bucket);
    let schema = a.index().schema().clone();
    let id = schema.field("id").unwrap();
    let mut acked = BTreeSet::new();
    for i in 0..100 {
        a.add_document(common::doc(&schema, i)).unwrap();
        acked.insert(i);
    }
    a.commit().unwrap();
    // Acknowledged after the commit: only in the shipped log. Concurrent
    // adders share batches (group commit).
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let (a, schema) = (&a, &schema);
            s.spawn(move || {
                for i in 0..25 {
                    a.add_document(common::doc(schema, 1000 + t * 100 + i))
                        .unwrap();
                }
            });
        }
    });
    acked.extend((0..4u64).flat_map(|t| (0..25).map(move |i| 1000 + t * 100 + i)));
    a.delete_by_id(id, 5).unwrap();
    acked.remove(&5);
    a.update_by_id(id, 6, common::doc(&schema, 6)).unwrap();
    assert!(
        a.unshipped().is_empty(),
        "bucket-durable: nothing acknowledged is unshipped"
    );
    let stats = a.ship_stats().unwrap();
    assert!(stats.batches < stats.records, "group commit: {stats:?}");

    // The machine is cut off; another one takes over.
    let b = take_over(&name, tmp.path(), "b", BucketDurability::Bucket);
    assert_eq!(ids(&b.writer().searcher().unwrap()), acked);

    // The old writer can neither acknowledge nor publish any more.
    let e = a.add_document(common::doc(&schema, 9999)).unwrap_err();
    assert!(e.to_string().contains("fenced"), "{e}");
    match a.commit() {
        Err(ObjectError::Fenced {
            our_epoch,
            newest_epoch,
        }) => assert!(newest_epoch > our_epoch),
        other => panic!("the old writer published: {other:?}"),
    }
    // Readers elsewhere see the new writer's commit.
    b.add_document(common::doc(&schema, 5000)).unwrap();
    let g = b.commit().unwrap();
    acked.insert(5000);
    let ro =
        ObjectDirectory::read_only(common::client(&name, "idx"), &tmp.path().join("r")).unwrap();
    let s = lucerna::Index::open(ro)
        .unwrap()
        .reader()
        .unwrap()
        .searcher();
    assert_eq!(s.generation(), g);
    assert_eq!(ids(&s), acked);

    // A third writer takes over from the second: still everything.
    b.add_document(common::doc(&schema, 5001)).unwrap();
    acked.insert(5001);
    let c = take_over(&name, tmp.path(), "c", BucketDurability::Bucket);
    assert_eq!(ids(&c.writer().searcher().unwrap()), acked);
    assert!(b.commit().is_err());
}

#[test]
fn shipped_and_commit_only_modes_lose_exactly_the_reported_tail() {
    for mode in [
        BucketDurability::Shipped(Duration::from_secs(3600)),
        BucketDurability::CommitOnly,
    ] {
        let name = common::fresh_bucket_name();
        let tmp = tempfile::tempdir().unwrap();
        let a = create(&name, tmp.path(), mode);
        let schema = a.index().schema().clone();
        let mut acked = BTreeSet::new();
        for i in 0..40 {
            a.add_document(common::doc(&schema, i)).unwrap();
            acked.insert(i);
        }
        a.commit().unwrap();
        for i in 40..70 {
            a.add_document(common::doc(&schema, i)).unwrap();
            acked.insert(i);
        }
        a.ship().unwrap();
        for i in 70..80 {
            a.add_document(common::doc(&schema, i)).unwrap();
            acked.insert(i);
        }
        // What losing the machine now would lose, by id.
        let tail: BTreeSet<u64> = a.unshipped().iter().map(|u| u.id.unwrap()).collect();
        let expected_tail: BTreeSet<u64> = match mode {
            BucketDurability::CommitOnly => (40..80).collect(),
            _ => (70..80).collect(),
        };
        assert_eq!(tail, expected_tail, "{mode:?}");
        // The machine is lost (nothing more is shipped).
        let b = take_over(&name, tmp.path(), "b", BucketDurability::Bucket);
        let held = ids(&b.writer().searcher().unwrap());
        let promised: BTreeSet<u64> = acked.difference(&tail).copied().collect();
        assert_eq!(held, promised, "{mode:?}");
        drop(a);
    }
}
