//! Acceptance 7 (and the lost-response half of 2): a bucket that answers
//! 5xx, hangs past the timeout, truncates or corrupts bodies, or drops
//! the answer to a successful create is a clear, retried error or the
//! exact bytes, never a wrong answer; multipart-sized files round-trip
//! and ranged reads return exact bytes.

mod common;

use lucerna::index::IndexId;
use lucerna::index::{Commit, FileEntry, SegmentMeta};
use lucerna::schema::Schema;
use lucerna::store::{Directory, EnvelopeHeader, EnvelopeWriter, StoreError};
use lucerna::{Index, WriterConfig};
use lucerna_object::{Bucket, ObjectDirectory, ObjectError, RetryPolicy, MULTIPART_THRESHOLD};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

fn quick(b: Bucket) -> Bucket {
    b.with_retry(RetryPolicy {
        attempts: 4,
        base_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        op_timeout: Duration::from_millis(2000),
    })
}

#[test]
fn transient_failures_are_retried_and_persistent_ones_are_clear_errors() {
    let name = common::fresh_bucket_name();
    let (b, f) = common::faulty_client(&name, "x");
    let b = quick(b);
    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    b.put_create("obj", &data).unwrap();

    // 5xx twice, then the right bytes.
    f.server_errors.store(2, Ordering::SeqCst);
    let before = b.stats().retries;
    assert_eq!(b.get("obj").unwrap(), data);
    assert_eq!(b.stats().retries - before, 2);
    // Truncated twice, then the exact range.
    f.truncations.store(2, Ordering::SeqCst);
    assert_eq!(
        b.get_range("obj", 1000..51_000).unwrap(),
        &data[1000..51_000]
    );
    // A hang past the per-attempt timeout, then the answer.
    *f.hang_for.lock().unwrap() = Duration::from_secs(30);
    f.hangs.store(1, Ordering::SeqCst);
    assert_eq!(b.get("obj").unwrap(), data);

    // Persistent: a clear error naming the key and the attempts.
    f.server_errors.store(100, Ordering::SeqCst);
    match b.get("obj") {
        Err(ObjectError::Bucket {
            op,
            key,
            attempts,
            message,
        }) => {
            assert_eq!((op, attempts), ("get", 4));
            assert_eq!(key, "obj");
            assert!(message.contains("503"), "{message}");
        }
        other => panic!("expected a bucket error, got {other:?}"),
    }
    f.server_errors.store(0, Ordering::SeqCst);
    f.truncations.store(100, Ordering::SeqCst);
    let e = b.get("obj").unwrap_err().to_string();
    assert!(e.contains("truncated"), "{e}");
    f.truncations.store(0, Ordering::SeqCst);
    *f.hang_for.lock().unwrap() = Duration::from_secs(3);
    f.hangs.store(100, Ordering::SeqCst);
    let e = b.get("obj").unwrap_err().to_string();
    assert!(e.contains("timed out"), "{e}");
    f.hangs.store(0, Ordering::SeqCst);
}

/// A segment-like envelope file of `len` bytes.
fn envelope_file(dir: &dyn Directory, name: &str, id: [u8; 16], len: usize) -> FileEntry {
    let mut w =
        EnvelopeWriter::create(dir, name, &EnvelopeHeader::new("test-blob", 1, id, "bin")).unwrap();
    let mut x = 0x1234_5678u32;
    let mut buf = Vec::with_capacity(len);
    while buf.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf.extend_from_slice(&x.to_le_bytes());
    }
    w.write_all(&buf[..len]).unwrap();
    let meta = w.finish().unwrap();
    FileEntry {
        name: name.to_string(),
        meta,
    }
}

#[test]
fn multipart_files_round_trip_and_damaged_answers_are_refetched_or_refused() {
    let name = common::fresh_bucket_name();
    let tmp = tempfile::tempdir().unwrap();
    let writer =
        ObjectDirectory::replica(common::client(&name, "big"), &tmp.path().join("w")).unwrap();
    let id = [7u8; 16];
    let big = MULTIPART_THRESHOLD + 3 * (1 << 20) + 12_345;
    let entry = envelope_file(&writer, "seg_0.blob", id, big);
    let local = writer.open("seg_0.blob").unwrap().to_vec();
    assert_eq!(local.len() as u64, entry.meta.len);
    let mut seg = SegmentMeta::new("seg_0", id, 0, vec![entry.clone()]);
    seg.files = vec![entry.clone()];
    Commit {
        generation: 1,
        index_id: IndexId::fresh(),
        schema: Schema::logs(),
        segments: vec![seg],
        next_segment: 1,
        wal_position: 0,
        user_data: Vec::new(),
    }
    .write(&writer)
    .unwrap();

    // Another client reads it back through a fault injector.
    let (b, f) = common::faulty_client(&name, "big");
    let ro = ObjectDirectory::read_only(quick(b), &tmp.path().join("r")).unwrap();
    for (from, to) in [
        (0u64, 10u64),
        (5 << 20, (5 << 20) + 777),
        (big as u64 - 20, big as u64),
    ] {
        assert_eq!(
            ro.read_range("seg_0.blob", from..to).unwrap(),
            &local[from as usize..to as usize]
        );
    }
    // One corrupted and one truncated part: fetched again, verified.
    f.corruptions.store(1, Ordering::SeqCst);
    f.truncations.store(1, Ordering::SeqCst);
    assert_eq!(&*ro.open("seg_0.blob").unwrap(), &local[..]);

    // Always corrupted: a corruption error naming the object, never bytes.
    let (b, f) = common::faulty_client(&name, "big");
    let ro = ObjectDirectory::read_only(quick(b), &tmp.path().join("r2")).unwrap();
    f.corruptions.store(1000, Ordering::SeqCst);
    match ro.open("seg_0.blob") {
        Err(StoreError::Corrupt {
            file,
            reason,
            expected,
            actual,
            ..
        }) => {
            assert_eq!(file, "seg_0.blob");
            assert!(
                reason.contains("segments/07070707070707070707070707070707/seg_0.blob"),
                "{reason}"
            );
            assert_ne!(expected, actual);
        }
        other => panic!("expected a corruption error, got {other:?}"),
    }
}

#[test]
fn a_lost_answer_to_our_manifest_create_is_recognised_as_ours() {
    let name = common::fresh_bucket_name();
    let tmp = tempfile::tempdir().unwrap();
    let (b, f) = common::faulty_client(&name, "idx");
    let replica = ObjectDirectory::replica(quick(b), &tmp.path().join("c")).unwrap();
    let index = Index::create(
        lucerna::store::FsDirectory::open(tmp.path().join("l")).unwrap(),
        Schema::logs(),
    )
    .unwrap();
    let w = index
        .writer(WriterConfig::default().replica(Arc::new(replica.clone())))
        .unwrap();
    for i in 0..50 {
        w.add_document(common::doc(index.schema(), i)).unwrap();
    }
    *f.lost_response_key.lock().unwrap() = "manifests/".into();
    f.lost_responses.store(1, Ordering::SeqCst);
    let g = w.commit().unwrap();
    assert_eq!(
        f.lost_responses.load(Ordering::SeqCst),
        0,
        "the fault fired"
    );
    assert_eq!(w.replication()[0].last_error, None);
    assert_eq!(replica.fenced(), None, "our own commit is not a lost race");
    assert_eq!(replica.published_count(), 1);
    let ro =
        ObjectDirectory::read_only(common::client(&name, "idx"), &tmp.path().join("r")).unwrap();
    let s = Index::open(ro).unwrap().reader().unwrap().searcher();
    assert_eq!((s.generation(), s.num_docs()), (g, 50));
    // And the writer goes on publishing.
    w.add_document(common::doc(index.schema(), 50)).unwrap();
    w.commit().unwrap();
    assert_eq!(w.replication()[0].last_error, None);
}

/// Arms `n` faults of `kind` (`5xx`, `timeout`, `truncated`) on `f`.
fn arm(f: &common::faulty::Faults, kind: &str, n: u64) {
    match kind {
        "5xx" => f.server_errors.store(n, Ordering::SeqCst),
        "timeout" => {
            *f.hang_for.lock().unwrap() = Duration::from_secs(3);
            f.hangs.store(n, Ordering::SeqCst);
        }
        _ => f.truncations.store(n, Ordering::SeqCst),
    }
}

/// `e` and its sources, as one line.
fn chain_of(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// The three faults of acceptance 7 under a searcher, where a wrong
/// answer would matter: every manifest and segment read of a read-only
/// index goes through them. A transient fault is retried and the searcher
/// serves exactly the newest commit; a persistent one is an error that
/// names the failure and the attempts — never an older commit, fewer
/// documents or different hits.
#[test]
fn a_searcher_over_a_failing_bucket_answers_exactly_or_fails_clearly() {
    let name = common::fresh_bucket_name();
    let tmp = tempfile::tempdir().unwrap();
    let replica =
        ObjectDirectory::replica(common::client(&name, "idx"), &tmp.path().join("c")).unwrap();
    let index = Index::create(
        lucerna::store::FsDirectory::open(tmp.path().join("l")).unwrap(),
        Schema::logs(),
    )
    .unwrap();
    let w = index
        .writer(WriterConfig::default().replica(Arc::new(replica)))
        .unwrap();
    for i in 0..30 {
        w.add_document(common::doc(index.schema(), i)).unwrap();
    }
    w.commit().unwrap();
    for i in 30..50 {
        w.add_document(common::doc(index.schema(), i)).unwrap();
    }
    let g = w.commit().unwrap();
    drop(w);
    let clean =
        ObjectDirectory::read_only(common::client(&name, "idx"), &tmp.path().join("r")).unwrap();
    let expected = common::answers(&Index::open(clean).unwrap().reader().unwrap().searcher());

    for (kind, says) in [
        ("5xx", "503"),
        ("timeout", "timed out"),
        ("truncated", "truncated"),
    ] {
        // Transient: retried, then the exact answer.
        let (b, f) = common::faulty_client(&name, "idx");
        let b = quick(b);
        arm(&f, kind, 2);
        let ro = ObjectDirectory::read_only(b.clone(), &tmp.path().join(format!("t-{kind}")))
            .and_then(|d| Ok(Index::open(d)?.reader()?.searcher()));
        let s = ro.unwrap_or_else(|e| panic!("{kind}, transient: {e}"));
        assert_eq!((s.generation(), s.num_docs()), (g, 50), "{kind}");
        assert_eq!(common::answers(&s), expected, "{kind}");
        assert!(b.stats().retries >= 2, "{kind}: {:?}", b.stats());

        // Persistent: a clear error after every attempt.
        let (b, f) = common::faulty_client(&name, "idx");
        let b = quick(b);
        arm(&f, kind, 1000);
        let r = ObjectDirectory::read_only(b.clone(), &tmp.path().join(format!("p-{kind}")))
            .map_err(|e| chain_of(&e))
            .and_then(|d| {
                Index::open(d)
                    .and_then(|i| i.reader())
                    .map_err(|e| chain_of(&e))
            });
        match r {
            Ok(reader) => {
                let s = reader.searcher();
                panic!(
                    "{kind}, persistent: served generation {} with {} documents",
                    s.generation(),
                    s.num_docs()
                );
            }
            Err(e) => {
                assert!(e.contains(says), "{kind}: {e}");
                assert!(e.contains("after 4 attempt(s)"), "{kind}: {e}");
            }
        }
        assert!(b.stats().retries >= 3, "{kind}: {:?}", b.stats());
        arm(&f, kind, 0);
    }
}
