//! A merge that fails part-way (its files cannot be written) returns the
//! error, whichever of its threads met it, and changes nothing: the
//! segments it read stay as they were, every document answers, and the
//! same merge succeeds once the fault is gone.
//!
//! These segments hold more than a megabyte of postings, so the merge
//! reads its terms on one thread while it writes them on another and
//! copies the stored fields and columns on a third; they make many more
//! batches than go round, so the reading thread is waiting for an empty
//! batch when the writing one fails, and must be released.

use lucerna::schema::Schema;
use lucerna::store::{Directory, Fault, FaultyDirectory, OpKind, RamDirectory};
use lucerna::{Document, Index, Query, WriterConfig};
use std::time::Duration;

/// Documents: 152 tokens each, 1.5 M positions in four segments.
const DOCS: u64 = 10_000;

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

/// Runs `f` on a thread of its own and waits for it: a merge that never
/// returns fails the test (after far longer than any merge here takes)
/// instead of hanging it.
fn returns<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(300))
        .expect("the merge returned (a deadlock keeps it from returning)")
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
