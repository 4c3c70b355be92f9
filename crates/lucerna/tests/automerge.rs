//! Automatic merging and backpressure of [`IndexWriter`]: many small
//! flushes stay a bounded number of segments with exact answers; deletes
//! that arrive while a merge is held open are carried over; a corrupt input
//! fails its merge, is recorded and not retried, and the index stays whole;
//! writers of an index whose merges are held back get `Backpressure` or
//! block until the merges drain; a shared scheduler keeps another index's
//! writers unaffected.
//!
//! Merges are held open by [`GatedDir`]: file creations on the scheduler's
//! threads (named `gated-merge-N`) wait until the test opens the gate.
//! Nothing here sleeps or asserts on timing.

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use lucerna::index::check::check_index;
use lucerna::index::recovery::{repair, RepairOptions, RepairOutcome};
use lucerna::internals::SearcherInternals;
use lucerna::merge::{
    BackpressureConfig, MergePolicy, MergeScheduler, NoMergePolicy, OneMerge, RateLimiter,
    SchedulerConfig, SegmentDescriptor, StallReason, TieredMergePolicy,
};
use lucerna::schema::Schema;
use lucerna::store::rng::SplitMix64;
use lucerna::store::{
    Directory, FaultyDirectory, FileSlice, FileWrite, LockGuard, RamDirectory, ReadCorruption,
};
use lucerna::{Document, Error, Index, IndexWriter, Query, WriterConfig};
use std::collections::HashSet;
use std::sync::Arc;

const GATED: &str = "gated-merge";

/// A directory whose file creations on merge threads named `gated-merge*`
/// announce themselves on `started` and then wait until the gate opens
/// (every sender of `gate` dropped).
#[derive(Debug, Clone)]
struct GatedDir {
    inner: RamDirectory,
    gate: Receiver<()>,
    started: Sender<String>,
}

/// A gated directory, the gate (drop it to open) and the announcements.
fn gated() -> (GatedDir, Sender<()>, Receiver<String>) {
    let (gate_tx, gate_rx) = crossbeam_channel::bounded(0);
    let (started_tx, started_rx) = crossbeam_channel::unbounded();
    let dir = GatedDir {
        inner: RamDirectory::new(),
        gate: gate_rx,
        started: started_tx,
    };
    (dir, gate_tx, started_rx)
}

impl Directory for GatedDir {
    fn create(&self, name: &str) -> lucerna::store::Result<Box<dyn FileWrite>> {
        let on_merge_thread = std::thread::current()
            .name()
            .is_some_and(|n| n.starts_with(GATED));
        if on_merge_thread {
            let _ = self.started.send(name.to_string());
            // Returns once the gate's sender is dropped.
            let _ = self.gate.recv();
        }
        self.inner.create(name)
    }
    fn open(&self, name: &str) -> lucerna::store::Result<FileSlice> {
        self.inner.open(name)
    }
    fn list(&self) -> lucerna::store::Result<Vec<String>> {
        self.inner.list()
    }
    fn exists(&self, name: &str) -> lucerna::store::Result<bool> {
        self.inner.exists(name)
    }
    fn delete(&self, name: &str) -> lucerna::store::Result<()> {
        self.inner.delete(name)
    }
    fn rename(&self, from: &str, to: &str) -> lucerna::store::Result<()> {
        self.inner.rename(from, to)
    }
    fn sync(&self, names: &[&str]) -> lucerna::store::Result<()> {
        self.inner.sync(names)
    }
    fn sync_dir(&self) -> lucerna::store::Result<()> {
        self.inner.sync_dir()
    }
    fn file_len(&self, name: &str) -> lucerna::store::Result<u64> {
        self.inner.file_len(name)
    }
    fn try_lock(&self, name: &str) -> lucerna::store::Result<Box<dyn LockGuard>> {
        self.inner.try_lock(name)
    }
}

/// A one-thread scheduler whose threads are gated by [`GatedDir`], not
/// throttled.
fn gated_scheduler() -> Arc<MergeScheduler> {
    Arc::new(
        MergeScheduler::new(SchedulerConfig {
            threads: 1,
            thread_name: GATED.to_string(),
            rate_limiter: Arc::new(RateLimiter::unlimited()),
            ..SchedulerConfig::default()
        })
        .unwrap(),
    )
}

/// Stalls as soon as any merge is pending; nothing else limits.
fn tiny_limits() -> BackpressureConfig {
    BackpressureConfig::default()
        .soft_pending_merge_bytes(1)
        .hard_pending_merge_bytes(2)
        .soft_excess_segments(1_000)
        .hard_excess_segments(2_000)
        .soft_unflushed_bytes(1 << 40)
        .hard_unflushed_bytes(1 << 41)
}

/// Document `i`: words `d{i}` (unique), `m{i % 7}` and a few seeded ones.
fn doc(schema: &Schema, i: u64, rng: &mut SplitMix64) -> Document {
    let (id, ts, body) = (
        schema.field("id").unwrap(),
        schema.field("timestamp").unwrap(),
        schema.field("body").unwrap(),
    );
    let mut text = format!("d{i} m{}", i % 7);
    for _ in 0..rng.below(6) {
        text.push_str(&format!(" w{}", rng.below(20)));
    }
    let mut d = Document::new();
    d.add_u64(id, i).add_i64(ts, i as i64).add_text(body, text);
    d
}

/// Checks that exactly the documents in `live` are searchable, by count
/// and by their unique word.
fn check_exact(s: &lucerna::Searcher, schema: &Schema, live: &[bool]) {
    let body = schema.field("body").unwrap();
    let n = live.iter().filter(|&&l| l).count() as u64;
    assert_eq!(s.num_docs(), n);
    assert_eq!(s.count(&Query::MatchAll).unwrap(), n);
    for m in 0..7u64 {
        let want = (0..live.len() as u64)
            .filter(|&i| live[i as usize] && i % 7 == m)
            .count() as u64;
        assert_eq!(s.count(&Query::term(body, format!("m{m}"))).unwrap(), want);
    }
    for (i, &l) in live.iter().enumerate() {
        let c = s.count(&Query::term(body, format!("d{i}"))).unwrap();
        assert_eq!(c, l as u64, "document {i}");
    }
}

#[test]
fn many_small_flushes_stay_bounded_and_exact() {
    let schema = Schema::logs();
    let body = schema.field("body").unwrap();
    let dir = RamDirectory::new();
    let index = Index::create(dir.clone(), schema.clone()).unwrap();
    let w = index
        .writer(
            WriterConfig::default()
                .indexing_threads(1)
                .max_buffered_docs(4),
        )
        .unwrap();
    let mut rng = SplitMix64::new(0xA11_0E4E);
    let n = 1200u64;
    let mut live = vec![true; n as usize];
    for i in 0..n {
        w.add_document(doc(&schema, i, &mut rng)).unwrap();
        if i % 97 == 50 {
            w.commit().unwrap();
        }
        // Deletes of flushed, merging and buffered documents.
        if i % 13 == 12 {
            let victim = rng.below(i + 1);
            w.delete_term(body, &format!("d{victim}")).unwrap();
            live[victim as usize] = false;
        }
    }
    w.wait_for_merges().unwrap();
    w.commit().unwrap();
    let m = w.metrics();
    // 300 flushes; the tiered policy keeps about 10 segments per tier.
    assert!(m.segments <= 20, "{m:?}");
    assert_eq!(m.segments, w.num_segments());
    assert!(m.merges_completed > 0, "{m:?}");
    assert_eq!(m.merges_failed, 0, "{m:?}");
    assert_eq!(m.pending_merges, 0);
    assert_eq!(m.running_merges, 0);
    assert_eq!(m.pending_merge_bytes, 0);
    assert!(m.bytes_merged > 0 && m.bytes_flushed > 0);
    assert!(m.write_amplification > 1.0, "{m:?}");
    assert_eq!((m.stalls, m.rejections), (0, 0));
    check_exact(&w.searcher().unwrap(), &schema, &live);
    let s = index.reader().unwrap().searcher();
    assert_eq!(s.segments().len(), m.segments);
    check_exact(&s, &schema, &live);
    drop(w);
    let dir: Arc<dyn Directory> = Arc::new(dir);
    let report = check_index(&dir, true).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    check_exact(
        &Index::open(dir).unwrap().reader().unwrap().searcher(),
        &schema,
        &live,
    );
}

#[test]
fn deletes_during_a_held_merge_are_carried_over() {
    let schema = Schema::logs();
    let body = schema.field("body").unwrap();
    let (dir, gate, started) = gated();
    let index = Index::create(dir.clone(), schema.clone()).unwrap();
    let w = index
        .writer(
            WriterConfig::default()
                .indexing_threads(1)
                .max_buffered_docs(10)
                .merge_scheduler(gated_scheduler()),
        )
        .unwrap();
    let mut rng = SplitMix64::new(0xDE1_E7E5);
    let mut live = Vec::new();
    // 11 segments: over the tiered budget of 10, a merge starts (and waits
    // at its first file).
    for i in 0..110u64 {
        w.add_document(doc(&schema, i, &mut rng)).unwrap();
        live.push(true);
    }
    w.flush().unwrap();
    let first = started.recv().unwrap();
    assert!(first.starts_with("seg_"), "{first}");
    let m = w.metrics();
    assert_eq!(m.running_merges, 1, "{m:?}");
    assert!(m.pending_merge_bytes > 0);
    // The running merge's working memory is reserved from the budget: its
    // fixed buffers, and 5 bytes (a length, a norm) for each of the 100 or
    // more documents of the 10 or 11 segments it merges.
    assert!(m.merge_reserved_bytes >= 100 * 5 + (1 << 20), "{m:?}");
    // Meanwhile: deletes of documents in every segment, a commit (which
    // does not wait for the merge), more documents.
    w.delete_term(body, "m3").unwrap();
    w.delete_term(body, "d0").unwrap();
    w.delete_term(body, "d55").unwrap();
    for (i, l) in live.iter_mut().enumerate() {
        if i % 7 == 3 || i == 0 || i == 55 {
            *l = false;
        }
    }
    let committed = w.commit().unwrap();
    assert_eq!(index.reader().unwrap().searcher().segments().len(), 11);
    for i in 110..115u64 {
        w.add_document(doc(&schema, i, &mut rng)).unwrap();
        live.push(true);
    }
    check_exact(&w.searcher().unwrap(), &schema, &live);
    drop(gate);
    w.wait_for_merges().unwrap();
    let m = w.metrics();
    assert!(m.merges_completed >= 1, "{m:?}");
    assert_eq!(m.merges_failed, 0, "{m:?}");
    assert_eq!(m.merge_reserved_bytes, 0, "released when merges end: {m:?}");
    assert!(w.num_segments() < 11, "{m:?}");
    check_exact(&w.searcher().unwrap(), &schema, &live);
    assert!(w.commit().unwrap() > committed);
    check_exact(&index.reader().unwrap().searcher(), &schema, &live);
    w.close().unwrap();
    drop(w);
    check_exact(
        &Index::open(dir).unwrap().reader().unwrap().searcher(),
        &schema,
        &live,
    );
}

#[test]
fn a_corrupt_input_fails_its_merge_which_is_recorded_and_not_retried() {
    let schema = Schema::logs();
    let body = schema.field("body").unwrap();
    let faulty = FaultyDirectory::new(RamDirectory::new(), 0xC0_22_07);
    let index = Index::create(faulty.clone(), schema.clone()).unwrap();
    let w = index
        .writer(
            WriterConfig::default()
                .indexing_threads(1)
                .max_buffered_docs(10),
        )
        .unwrap();
    let mut rng = SplitMix64::new(0xBAD_5E6);
    let mut live = Vec::new();
    // Ten segments: exactly the budget, no merge yet.
    for i in 0..100u64 {
        w.add_document(doc(&schema, i, &mut rng)).unwrap();
        live.push(true);
    }
    w.commit().unwrap();
    assert_eq!(w.num_segments(), 10);
    assert_eq!(w.metrics().merges_completed, 0);
    // The stored fields of one committed segment now read back damaged.
    let victim = faulty
        .list()
        .unwrap()
        .into_iter()
        .find(|f| f.starts_with("seg_4.") && f.ends_with(".sto"))
        .or_else(|| {
            faulty
                .list()
                .unwrap()
                .into_iter()
                .find(|f| f.starts_with("seg_4."))
        })
        .unwrap();
    let len = faulty.file_len(&victim).unwrap();
    faulty.corrupt_on_read(
        &victim,
        ReadCorruption::FlipBit {
            offset: len / 2,
            bit: 3,
        },
    );
    // An eleventh segment: the merge reads the damaged file and fails.
    for i in 100..110u64 {
        w.add_document(doc(&schema, i, &mut rng)).unwrap();
        live.push(true);
    }
    w.flush().unwrap();
    w.wait_for_merges().unwrap();
    let m = w.metrics();
    assert_eq!(m.merges_failed, 1, "{m:?}");
    let err = m.last_merge_error.clone().unwrap();
    assert!(err.contains("corrupt") && err.contains(&victim), "{err}");
    // Nothing changed; more flushes do not retry the damaged segment.
    for i in 110..150u64 {
        w.add_document(doc(&schema, i, &mut rng)).unwrap();
        live.push(true);
    }
    w.flush().unwrap();
    w.wait_for_merges().unwrap();
    w.commit().unwrap();
    let m = w.metrics();
    assert_eq!(m.merges_failed, 1, "{m:?}");
    // Postings are intact: every document is found.
    check_exact(&w.searcher().unwrap(), &schema, &live);
    drop(w);
    // Reopened with full verification (the default), the damaged file is
    // named at open instead of being served.
    let again = Index::open(faulty.clone()).unwrap();
    match again.reader() {
        Err(lucerna::Error::Store(e)) => assert!(e.to_string().contains(&victim), "{e}"),
        other => panic!("expected a corruption error naming {victim}, got {other:?}"),
    }
    // The failed merge marked the segment corrupt: with structure checks
    // only, it is refused too (a restart does not forget the damage).
    let again = again.with_verify(lucerna::index::Verify::Structure);
    match again.reader() {
        Err(e) => assert!(e.is_corrupt() && e.to_string().contains(&victim), "{e}"),
        Ok(_) => panic!("a segment marked corrupt was opened"),
    }
    // The damage was only in reading: without it, a deep check finds every
    // file intact (only the marker), repair clears the marker, and the
    // index opens at its last commit with every document.
    faulty.clear_read_corruptions();
    let dir: Arc<dyn Directory> = Arc::new(faulty);
    let report = check_index(&dir, true).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.markers.len(), 1);
    let r = repair(&dir, &[], RepairOptions::default()).unwrap();
    assert_eq!(r.outcome, RepairOutcome::Repaired, "{r:?}");
    assert!(r.healthy());
    let s = again.reader().unwrap().searcher();
    assert_eq!(s.num_docs(), 150);
    assert_eq!(s.count(&Query::term(body, "d42")).unwrap(), 1);
}

/// Adds documents with `try_add_document` until backpressure refuses one;
/// returns the number of documents added and the refused one's number.
fn flood(w: &IndexWriter, schema: &Schema, rng: &mut SplitMix64, live: &mut Vec<bool>) -> u64 {
    for _ in 0..1000 {
        let i = live.len() as u64;
        match w.try_add_document(doc(schema, i, rng)) {
            Ok(_) => live.push(true),
            Err(Error::Backpressure { backlog }) => {
                assert_eq!(backlog.reason, StallReason::PendingMergeBytes);
                assert!(backlog.pending_merge_bytes >= backlog.hard_limit_bytes);
                return i;
            }
            Err(e) => panic!("{e}"),
        }
    }
    panic!("backpressure never pushed back");
}

#[test]
fn backpressure_refuses_or_blocks_until_merges_drain() {
    let schema = Schema::logs();
    let (dir, gate, started) = gated();
    let index = Index::create(dir.clone(), schema.clone()).unwrap();
    let w = index
        .writer(
            WriterConfig::default()
                .indexing_threads(1)
                .max_buffered_docs(5)
                .merge_scheduler(gated_scheduler())
                .backpressure(tiny_limits()),
        )
        .unwrap();
    let mut rng = SplitMix64::new(0xB4C_9E55);
    let mut live = Vec::new();
    let refused = flood(&w, &schema, &mut rng, &mut live);
    assert!(
        live.len() >= 50,
        "{} documents before the first merge",
        live.len()
    );
    started.recv().unwrap();
    let m = w.metrics();
    assert_eq!(m.rejections, 1, "{m:?}");
    assert!(m.pending_merge_bytes > 0);
    // A blocking add waits for the held merge.
    let (done_tx, done_rx) = crossbeam_channel::bounded(1);
    let blocked = {
        let w = w.clone();
        let d = doc(&schema, refused, &mut rng);
        std::thread::spawn(move || {
            let r = w.add_document(d);
            let _ = done_tx.send(r.is_ok());
        })
    };
    live.push(true);
    // Until the writer is parked in its stall (observed, not timed).
    while w.metrics().stalls == 0 {
        std::thread::yield_now();
    }
    assert_eq!(done_rx.try_recv(), Err(TryRecvError::Empty));
    drop(gate);
    assert_eq!(done_rx.recv(), Ok(true));
    blocked.join().unwrap();
    w.wait_for_merges().unwrap();
    w.commit().unwrap();
    let m = w.metrics();
    assert!(m.merges_completed >= 1 && m.stalls >= 1, "{m:?}");
    assert_eq!(m.pending_merge_bytes, 0);
    // Every acknowledged document is searchable, the refused one once.
    check_exact(&index.reader().unwrap().searcher(), &schema, &live);
    // With the backlog drained, writes are admitted again (at a rate until
    // the backlog has stayed clear a while: a blocking add).
    w.add_document(doc(&schema, live.len() as u64, &mut rng))
        .unwrap();
}

#[test]
fn a_shared_scheduler_slows_only_the_index_that_is_behind() {
    let schema = Schema::logs();
    let scheduler = gated_scheduler();
    let config = || {
        WriterConfig::default()
            .indexing_threads(1)
            .max_buffered_docs(5)
            .merge_scheduler(scheduler.clone())
            .backpressure(tiny_limits())
    };
    // A's merges are held open; B's directory is not gated.
    let (dir_a, gate, started) = gated();
    let index_a = Index::create(dir_a, schema.clone()).unwrap();
    let a = index_a.writer(config()).unwrap();
    let index_b = Index::create(RamDirectory::new(), schema.clone()).unwrap();
    let b = index_b
        .writer(config().merge_policy(Arc::new(TieredMergePolicy::default())))
        .unwrap();
    let mut rng = SplitMix64::new(0x5_4A2ED);
    let mut live_a = Vec::new();
    flood(&a, &schema, &mut rng, &mut live_a);
    started.recv().unwrap();
    assert!(a.metrics().pending_merge_bytes > 0);
    // B, on the same scheduler with the same limits, is never held back:
    // ten segments, within its budget, so it owes no merge.
    let mut live_b = Vec::new();
    for i in 0..50u64 {
        b.try_add_document(doc(&schema, i, &mut rng)).unwrap();
        live_b.push(true);
    }
    b.commit().unwrap();
    let mb = b.metrics();
    assert_eq!((mb.delays, mb.stalls, mb.rejections), (0, 0, 0), "{mb:?}");
    assert_eq!(mb.pending_merge_bytes, 0);
    assert_eq!(a.metrics().rejections, 1);
    // A goes away (its held merge finishes once the gate opens); the shared
    // scheduler keeps serving B.
    drop(gate);
    a.wait_for_merges().unwrap();
    a.commit().unwrap();
    a.close().unwrap();
    assert!(matches!(
        a.add_document(doc(&schema, 0, &mut rng)),
        Err(Error::Closed(_))
    ));
    check_exact(&index_a.reader().unwrap().searcher(), &schema, &live_a);
    for i in 50..100u64 {
        b.add_document(doc(&schema, i, &mut rng)).unwrap();
        live_b.push(true);
    }
    b.wait_for_merges().unwrap();
    b.commit().unwrap();
    assert!(b.metrics().merges_completed >= 1);
    assert!(b.num_segments() < 20);
    check_exact(&index_b.reader().unwrap().searcher(), &schema, &live_b);
    drop(b);
    // Closing both writers left the shared scheduler running.
    assert!(!scheduler.stats().shut_down);
    assert_eq!(scheduler.stats().indexes, 0);
}

#[test]
fn closed_writers_refuse_work_and_release_the_index() {
    let schema = Schema::logs();
    let dir = RamDirectory::new();
    let index = Index::create(dir.clone(), schema.clone()).unwrap();
    let mut rng = SplitMix64::new(7);
    let w = index
        .writer(WriterConfig::default().max_buffered_docs(2))
        .unwrap();
    for i in 0..30u64 {
        w.add_document(doc(&schema, i, &mut rng)).unwrap();
    }
    w.commit().unwrap();
    let clone = w.clone();
    w.close().unwrap();
    w.close().unwrap();
    assert!(matches!(clone.commit(), Err(Error::Closed(_))));
    assert!(matches!(clone.wait_for_merges(), Err(Error::Closed(_))));
    assert!(matches!(
        clone.try_add_document(doc(&schema, 99, &mut rng)),
        Err(Error::Closed(_))
    ));
    drop((w, clone));
    // The lock is free again and every committed document is there.
    let w = index.writer(WriterConfig::default()).unwrap();
    assert_eq!(w.searcher().unwrap().num_docs(), 30);
}

/// Buffers filling up to the writer's RAM budget are not a backlog: even
/// with unflushed-bytes limits configured far below the budget, writers are
/// never delayed while the writer flushes at its budget (a regression: a
/// 512 MiB budget above the 256 MiB default soft limit used to delay every
/// document once the buffers filled).
#[test]
fn buffers_within_the_ram_budget_are_never_delayed() {
    let schema = Schema::logs();
    let index = Index::create(RamDirectory::new(), schema.clone()).unwrap();
    let bp = BackpressureConfig {
        soft_unflushed_bytes: 1 << 10,
        hard_unflushed_bytes: 2 << 10,
        ..BackpressureConfig::default()
    };
    let w = index
        .writer(
            WriterConfig::default()
                .no_merges()
                .indexing_threads(2)
                .mem_budget_bytes(4 << 20)
                .backpressure(bp),
        )
        .unwrap();
    let mut rng = SplitMix64::new(11);
    for i in 0..3000u64 {
        w.add_document(doc(&schema, i, &mut rng)).unwrap();
    }
    let m = w.metrics();
    assert!(
        w.buffered_docs() > 0,
        "the budget was not reached: nothing flushed yet"
    );
    assert_eq!((m.delays, m.stalls, m.rejections), (0, 0, 0), "{m:?}");
    w.commit().unwrap();
    assert_eq!(index.reader().unwrap().searcher().num_docs(), 3000);
}

/// Raising the unflushed limits to the RAM budget never hides an
/// inconsistent configuration: a soft limit above its hard limit is refused.
#[test]
fn an_inconsistent_backpressure_config_is_refused() {
    let index = Index::create(RamDirectory::new(), Schema::logs()).unwrap();
    let bp = BackpressureConfig {
        soft_unflushed_bytes: 2 << 20,
        hard_unflushed_bytes: 1 << 20,
        ..BackpressureConfig::default()
    };
    let r = index.writer(
        WriterConfig::default()
            .mem_budget_bytes(64 << 20)
            .backpressure(bp),
    );
    assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
}

/// Under backpressure, automatic merges take only fresh segments (written
/// by a flush, never merged), so each flushed byte is merged once; with
/// fresh-first merging off, the tiered policy merges its own outputs again
/// within the same run. Either way every document stays searchable.
#[test]
fn under_pressure_each_flushed_byte_is_merged_once() {
    let run = |fan_in: usize, declines: bool| {
        let schema = Schema::logs();
        let dir = RamDirectory::new();
        let index = Index::create(dir, schema.clone()).unwrap();
        // Limited whenever a merge is pending; the rate's floor is so high
        // that no document waits; fresh-first for the whole test.
        let bp = BackpressureConfig::default()
            .soft_pending_merge_bytes(1)
            .hard_pending_merge_bytes(1 << 40)
            .soft_excess_segments(1_000)
            .hard_excess_segments(2_000)
            .min_rate_bytes_per_s(1 << 40)
            .fresh_merge_fan_in(fan_in)
            .fresh_merge_min_bytes(0)
            .fresh_merge_hold(std::time::Duration::from_secs(3600));
        let config = WriterConfig::default()
            .indexing_threads(1)
            .max_buffered_docs(4)
            .backpressure(bp);
        let config = if declines {
            config.merge_policy(Arc::new(DeclinesFreshMerges(TieredMergePolicy::default())))
        } else {
            config
        };
        let w = index.writer(config).unwrap();
        let mut rng = SplitMix64::new(0xF2E5_4F12);
        let n = 800u64;
        for i in 0..n {
            w.add_document(doc(&schema, i, &mut rng)).unwrap();
        }
        w.wait_for_merges().unwrap();
        w.commit().unwrap();
        check_exact(&w.searcher().unwrap(), &schema, &vec![true; n as usize]);
        w.metrics()
    };
    let fresh = run(100, false);
    let tiered = run(0, false);
    // A policy that does not allow fresh merges is asked as usual.
    let declined = run(100, true);
    // 200 flushes: about 20 merges of 10, none of a merged segment.
    assert!(fresh.merges_completed >= 18, "{fresh:?}");
    assert!(fresh.bytes_merged <= fresh.bytes_flushed, "{fresh:?}");
    assert!(fresh.segments >= 18, "{fresh:?}");
    // The policy merged its own outputs again: more bytes, fewer segments.
    assert!(tiered.bytes_merged > fresh.bytes_merged, "{tiered:?}");
    assert!(tiered.segments < fresh.segments, "{tiered:?}");
    assert!(declined.bytes_merged > fresh.bytes_merged, "{declined:?}");
    assert!(declined.segments < fresh.segments, "{declined:?}");
    assert!(!NoMergePolicy.allows_fresh_merges());
}

/// The tiered policy, declining fresh-first merges.
#[derive(Debug)]
struct DeclinesFreshMerges(TieredMergePolicy);

impl MergePolicy for DeclinesFreshMerges {
    fn find_merges(&self, segments: &[SegmentDescriptor], merging: &HashSet<u64>) -> Vec<OneMerge> {
        self.0.find_merges(segments, merging)
    }
    fn find_forced_merges(
        &self,
        segments: &[SegmentDescriptor],
        max_segments: usize,
        merging: &HashSet<u64>,
    ) -> Vec<OneMerge> {
        self.0.find_forced_merges(segments, max_segments, merging)
    }
    fn find_forced_deletes_merges(
        &self,
        segments: &[SegmentDescriptor],
        merging: &HashSet<u64>,
    ) -> Vec<OneMerge> {
        self.0.find_forced_deletes_merges(segments, merging)
    }
    fn segment_budget(&self, segments: &[SegmentDescriptor], merging: &HashSet<u64>) -> usize {
        self.0.segment_budget(segments, merging)
    }
    fn allows_fresh_merges(&self) -> bool {
        false
    }
}
