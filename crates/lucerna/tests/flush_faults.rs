//! A flush that fails part-way (its files cannot be written) returns the
//! error, whichever of its threads met it, and keeps every document: the
//! buffers it hands back take more documents, and the next flush writes
//! them all.
//!
//! The flush decodes on one thread and encodes on another, with batches
//! going round between them; these documents make many more batches than
//! go round, so the decoding thread is waiting for an empty batch when
//! the encoding one fails, and must be released.

use lucerna::schema::Schema;
use lucerna::store::{Fault, FaultyDirectory, OpKind, RamDirectory};
use lucerna::{Document, Index, IndexWriter, Query, WriterConfig};
use std::time::Duration;

/// Documents in the failing flush: 152 tokens each, 1.5 M positions, so
/// the postings files are written part by part (a megabyte at a time)
/// while terms are still being decoded.
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

/// Runs `f` on a thread of its own and waits for it: a flush that never
/// returns fails the test (after far longer than any flush here takes)
/// instead of hanging it.
fn returns<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(300))
        .expect("the flush returned (a deadlock keeps it from returning)")
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
