//! Acceptance 4: a crash between uploading a commit's segment files and
//! creating its manifest leaves only orphans, never a visible partial
//! commit; the garbage collector removes them later, and never a file a
//! retained commit or a reader's lease still uses.

mod common;

use lucerna::store::FsDirectory;
use lucerna::{Index, WriterConfig};
use lucerna_object::keys::{parse_segment_key, segment_key};
use lucerna_object::{gc, Catalog, GcOptions, ObjectDirectory, ReaderLease, RetryPolicy};
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

fn segment_keys(b: &lucerna_object::Bucket) -> HashSet<String> {
    b.list("segments")
        .unwrap()
        .into_iter()
        .map(|l| l.key)
        .collect()
}

#[test]
fn a_crash_before_the_manifest_leaves_only_orphans_and_gc_keeps_what_is_used() {
    let name = common::fresh_bucket_name();
    let tmp = tempfile::tempdir().unwrap();
    let bucket = common::client(&name, "i");
    let local = tmp.path().join("local");

    // Generation 2 published; then a commit whose manifest never lands.
    let (committed, crashed_gen) = {
        let (b, f) = common::faulty_client(&name, "i");
        let b = b.with_retry(RetryPolicy {
            attempts: 2,
            base_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(1),
            op_timeout: Duration::from_secs(10),
        });
        let replica = ObjectDirectory::replica(b, &tmp.path().join("c1")).unwrap();
        let handle = replica.clone();
        let index = Index::create(
            FsDirectory::open(&local).unwrap(),
            lucerna::schema::Schema::logs(),
        )
        .unwrap();
        let w = index
            .writer(
                WriterConfig::default()
                    .no_merges()
                    .replica(Arc::new(replica)),
            )
            .unwrap();
        for i in 0..200 {
            w.add_document(common::doc(index.schema(), i)).unwrap();
        }
        let g = w.commit().unwrap();
        assert_eq!(w.replication()[0].last_error, None);
        let committed = segment_keys(&bucket);
        for i in 200..400 {
            w.add_document(common::doc(index.schema(), i)).unwrap();
        }
        *f.fail_key.lock().unwrap() = "manifests/".into();
        f.key_failures.store(1000, Ordering::SeqCst);
        let g2 = w.commit().unwrap();
        let err = w.replication()[0].last_error.clone().unwrap();
        assert!(err.contains("commit-"), "{err}");
        let cause = handle.last_error().unwrap();
        assert!(cause.contains("503"), "{cause}");
        assert_eq!(g2, g + 1);
        (committed, g2)
        // The writer "crashes" here: dropped with its replica handle.
    };
    let after = segment_keys(&bucket);
    let orphans: HashSet<String> = after.difference(&committed).cloned().collect();
    assert!(!orphans.is_empty(), "the new segment's files were uploaded");

    // No partial commit is visible: readers see generation 2, whole.
    let ro =
        ObjectDirectory::read_only(common::client(&name, "i"), &tmp.path().join("r1")).unwrap();
    let idx = Index::open(ro).unwrap();
    let reader = idx.reader().unwrap();
    assert_eq!(reader.searcher().generation(), crashed_gen - 1);
    assert_eq!(reader.searcher().num_docs(), 200);

    // GC with a grace period keeps young orphans; with none, removes them.
    let r = gc(
        &bucket,
        &GcOptions {
            keep_commits: 1,
            grace: Duration::from_secs(3600),
            dry_run: false,
        },
    )
    .unwrap();
    assert!(r.orphans.is_empty());
    assert_eq!(
        r.young_orphans.iter().cloned().collect::<HashSet<_>>(),
        orphans
    );
    let r = gc(
        &bucket,
        &GcOptions {
            keep_commits: 1,
            grace: Duration::ZERO,
            dry_run: false,
        },
    )
    .unwrap();
    assert_eq!(r.orphans.iter().cloned().collect::<HashSet<_>>(), orphans);
    assert_eq!(segment_keys(&bucket), committed, "only the orphans went");

    // A restarted writer publishes the commit again (re-uploading).
    let catalog = Catalog::new(bucket.clone());
    let mut open_readers = Vec::new();
    let reader_gen;
    let lease;
    {
        let replica =
            ObjectDirectory::replica(common::client(&name, "i"), &tmp.path().join("c2")).unwrap();
        let index = Index::open(FsDirectory::open(&local).unwrap()).unwrap();
        let w = index
            .writer(
                WriterConfig::default()
                    .keep_commits(1)
                    .replica(Arc::new(replica)),
            )
            .unwrap();
        w.commit().unwrap();
        assert_eq!(w.replication()[0].last_error, None);
        // A reader elsewhere has the current commit open (its handle
        // leases it), and another holds an explicit lease; the writer
        // merges everything away and commits again.
        reader_gen = catalog.chain().unwrap().newest_generation().unwrap();
        lease = ReaderLease::acquire(&bucket, 0xabc, reader_gen, Duration::from_secs(600)).unwrap();
        let leased = ObjectDirectory::read_only_leased(
            common::client(&name, "i"),
            &tmp.path().join("r3"),
            Duration::from_secs(600),
        )
        .unwrap();
        let idx = Index::open(leased.clone()).unwrap();
        let open_reader = idx.reader().unwrap();
        assert_eq!(open_reader.searcher().generation(), reader_gen);
        assert_eq!(leased.leased(), vec![reader_gen]);
        open_readers.push((idx, open_reader, leased));
        for i in 400..500 {
            w.add_document(common::doc(index.schema(), i)).unwrap();
        }
        w.force_merge(1).unwrap();
        w.commit().unwrap();
        assert_eq!(w.replication()[0].last_error, None);
    }
    let leased_files: HashSet<String> = catalog
        .manifest(reader_gen)
        .unwrap()
        .commit
        .segments
        .iter()
        .flat_map(|s| s.files.iter().map(move |f| segment_key(&s.id, &f.name)))
        .collect();
    let r = gc(
        &bucket,
        &GcOptions {
            keep_commits: 1,
            grace: Duration::ZERO,
            dry_run: false,
        },
    )
    .unwrap();
    assert!(r.retained.contains(&reader_gen), "{r:?}");
    let now = segment_keys(&bucket);
    assert!(
        leased_files.is_subset(&now),
        "GC removed a leased file: {r:?}"
    );
    // The leased commit still opens whole from the bucket.
    let newest = catalog.chain().unwrap().newest_generation().unwrap();
    assert!(newest > reader_gen);
    for key in &leased_files {
        let (_, fname) = parse_segment_key(key).unwrap();
        assert!(bucket.head(key).unwrap().is_some(), "{fname}");
    }
    // The explicit lease goes: the open reader's lease still holds it.
    lease.release().unwrap();
    let r = gc(
        &bucket,
        &GcOptions {
            keep_commits: 1,
            grace: Duration::ZERO,
            dry_run: false,
        },
    )
    .unwrap();
    assert!(r.retained.contains(&reader_gen), "{r:?}");
    assert!(leased_files.is_subset(&segment_keys(&bucket)));
    // The reader moves on to the newest commit: its lease follows.
    let (idx, open_reader, leased) = open_readers.pop().unwrap();
    assert!(open_reader.reload().unwrap());
    assert_eq!(leased.leased(), vec![newest]);
    assert_eq!(open_reader.searcher().num_docs(), 500);
    drop((idx, open_reader, leased));
    // Released: its files go, the newest commit's stay.
    let r = gc(
        &bucket,
        &GcOptions {
            keep_commits: 1,
            grace: Duration::ZERO,
            dry_run: false,
        },
    )
    .unwrap();
    assert_eq!(r.retained, vec![newest]);
    assert!(!r.segments.is_empty());
    let ro =
        ObjectDirectory::read_only(common::client(&name, "i"), &tmp.path().join("r2")).unwrap();
    let s = Index::open(ro).unwrap().reader().unwrap().searcher();
    assert_eq!((s.generation(), s.num_docs()), (newest, 500));
}
