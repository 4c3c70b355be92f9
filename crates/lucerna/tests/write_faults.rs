//! A flush or a merge that fails part-way (its files cannot be written)
//! returns the error, whichever of its threads met it, and loses
//! nothing.
//!
//! A flush keeps every document: the buffers it hands back take more
//! documents, and the next flush writes them all. It decodes on one
//! thread and encodes on another, with batches going round between them;
//! these documents make many more batches than go round, so the decoding
//! thread is waiting for an empty batch when the encoding one fails, and
//! must be released.
//!
//! A merge changes nothing: the segments it read stay as they were, every
//! document answers, and the same merge succeeds once the fault is gone.
//! Its segments hold more than a megabyte of postings, so it reads its
//! terms on one thread while it writes them on another and copies the
//! stored fields and columns on a third, and the reading thread is
//! likewise waiting when the writing one fails.

use lucerna::schema::Schema;
use lucerna::store::{Directory, Fault, FaultyDirectory, OpKind, RamDirectory};
use lucerna::{Document, Index, IndexWriter, Query, WriterConfig};
use std::time::Duration;

/// Documents in the failing flush, and in the merge's four segments: 152
/// tokens each, 1.5 M positions, so the postings files are written part
/// by part (a megabyte at a time) while terms are still being read.
const DOCS: u64 = 10_000;

/// Documents added after the failed flush.
const MORE: u64 = 1_000;

/// Adds the documents of `ids` from two threads at once, half each.
fn add_from_two_threads(w: &IndexWriter, schema: &Schema, ids: std::ops::Range<u64>) {
    std::thread::scope(|s| {
        for half in 0..2 {
            let ids = ids.clone();
            s.spawn(move || {
                for i in ids.filter(|i| i % 2 == half) {
                    w.add_document(doc(schema, i)).unwrap();
                }
            });
        }
    });
}

fn doc(schema: &Schema, i: u64) -> Document {
    let (id, body) = (schema.field("id").unwrap(), schema.field("body").unwrap());
    let mut text = format!("d{i} m{}", i % 7);
    for k in 0..150 {
        text.push_str(&format!(" w{}", (i * 31 + k * 17) % 997));
    }
    let mut d = Document::new();
    d.add_u64(id, i).add_text(body, text);
    d
}

/// Runs `f` on a thread of its own and waits for it: a flush or merge
/// that never returns fails the test (after far longer than any here
/// takes) instead of hanging it.
fn returns<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(300))
        .expect("it returned (a deadlock keeps it from returning)")
}

#[test]
fn a_flush_failing_part_way_returns_and_keeps_its_documents() {
    // Writes fail from the first, from the tenth, or from the hundredth
    // of the flush on: the error reaches the caller from either thread.
    for (seed, after) in [(0x_F1u64, 0u64), (0x_F2, 9), (0x_F3, 99)] {
        let schema = Schema::logs();
        let faulty = FaultyDirectory::new(RamDirectory::new(), seed);
        let index = Index::create(faulty.clone(), schema.clone()).unwrap();
        let w = index
            .writer(WriterConfig::default().indexing_threads(2).no_merges())
            .unwrap();
        // Two threads, so that the flush appends one thread's buffer to
        // the other's.
        add_from_two_threads(&w, &schema, 0..DOCS);
        let at = faulty.op_count(OpKind::Write) + after;
        faulty.fail_from(OpKind::Write, at, Fault::Eio);
        let failed = {
            let w = w.clone();
            returns(move || w.flush())
        };
        assert!(
            failed.is_err(),
            "seed {seed:#x}: the flush met no fault ({:?})",
            faulty.fired()
        );
        faulty.clear_faults();
        // The buffers the failed flush handed back take more documents.
        add_from_two_threads(&w, &schema, DOCS..DOCS + MORE);
        let w2 = w.clone();
        returns(move || w2.commit()).unwrap_or_else(|e| panic!("seed {seed:#x}: {e}"));
        let s = w.searcher().unwrap();
        let body = schema.field("body").unwrap();
        let all = DOCS + MORE;
        assert_eq!(s.count(&Query::MatchAll).unwrap(), all, "seed {seed:#x}");
        assert_eq!(
            s.count(&Query::term(body, "m3")).unwrap(),
            (0..all).filter(|i| i % 7 == 3).count() as u64
        );
        for i in (0..all).step_by(97).chain([DOCS - 1, all - 1]) {
            assert_eq!(s.count(&Query::term(body, format!("d{i}"))).unwrap(), 1);
        }
    }
}

/// Bytes of postings files (`.doc`, `.pos`) in `dir`.
fn postings_bytes(dir: &RamDirectory) -> u64 {
    dir.list()
        .unwrap()
        .iter()
        .filter(|n| n.ends_with(".doc") || n.ends_with(".pos"))
        .map(|n| dir.open(n).unwrap().len() as u64)
        .sum()
}

#[test]
fn a_merge_failing_part_way_returns_and_changes_nothing() {
    // Writes fail from the first, the tenth, or the hundredth of the merge
    // on: the error reaches the caller from whichever thread met it.
    for (seed, after) in [(0x_A1u64, 0u64), (0x_A2, 9), (0x_A3, 99)] {
        let schema = Schema::logs();
        let ram = RamDirectory::new();
        let faulty = FaultyDirectory::new(ram.clone(), seed);
        let index = Index::create(faulty.clone(), schema.clone()).unwrap();
        let w = index
            .writer(
                WriterConfig::default()
                    .indexing_threads(1)
                    .max_buffered_docs((DOCS / 4) as usize)
                    .no_merges(),
            )
            .unwrap();
        for i in 0..DOCS {
            w.add_document(doc(&schema, i)).unwrap();
        }
        w.commit().unwrap();
        assert_eq!(w.num_segments(), 4, "seed {seed:#x}");
        assert!(
            postings_bytes(&ram) >= 1 << 20,
            "seed {seed:#x}: the merge must be large enough for its threads"
        );
        let at = faulty.op_count(OpKind::Write) + after;
        faulty.fail_from(OpKind::Write, at, Fault::Eio);
        let failed = {
            let w = w.clone();
            returns(move || w.force_merge(1))
        };
        assert!(
            failed.is_err(),
            "seed {seed:#x}: the merge met no fault ({:?})",
            faulty.fired()
        );
        faulty.clear_faults();
        assert_eq!(w.num_segments(), 4, "seed {seed:#x}: nothing was installed");
        let body = schema.field("body").unwrap();
        let check = |what: &str| {
            let s = w.searcher().unwrap();
            assert_eq!(
                s.count(&Query::MatchAll).unwrap(),
                DOCS,
                "seed {seed:#x}: {what}"
            );
            assert_eq!(
                s.count(&Query::term(body, "m3")).unwrap(),
                (0..DOCS).filter(|i| i % 7 == 3).count() as u64,
                "seed {seed:#x}: {what}"
            );
            for i in (0..DOCS).step_by(97).chain([DOCS - 1]) {
                assert_eq!(
                    s.count(&Query::term(body, format!("d{i}"))).unwrap(),
                    1,
                    "seed {seed:#x}: {what}"
                );
            }
        };
        check("after the failed merge");
        let w2 = w.clone();
        returns(move || w2.force_merge(1)).unwrap_or_else(|e| panic!("seed {seed:#x}: {e}"));
        assert_eq!(w.num_segments(), 1, "seed {seed:#x}");
        check("after the merge");
        w.commit().unwrap();
        let report = lucerna::check_index(&(std::sync::Arc::new(ram.clone()) as _), true).unwrap();
        assert!(report.healthy(), "seed {seed:#x}: {:?}", report.problems);
        assert_eq!(report.docs, DOCS, "seed {seed:#x}");
    }
}
