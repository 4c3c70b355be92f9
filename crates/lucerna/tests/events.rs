//! The engine's `tracing` events, captured from a run with flushes, a
//! commit, a forced merge, a stall, a replication, a log replay, a
//! corruption, a heal and a repair (every thread's events: the subscriber
//! is the process's global one), carry the fields an operator needs.

use lucerna::index::replica::replicate;
use lucerna::index::Commit;
use lucerna::index::RepairOptions;
use lucerna::merge::{
    BackpressureConfig, MergeScheduler, RateLimiter, SchedulerConfig, TieredMergePolicy,
};
use lucerna::schema::Schema;
use lucerna::store::{write_file, Directory, RamDirectory};
use lucerna::{Document, Durability, Error, Index, WriterConfig};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// One captured event: target, level, message and fields (as text).
#[derive(Debug, Clone)]
struct Event {
    target: String,
    level: tracing::Level,
    message: String,
    fields: BTreeMap<String, String>,
}

/// The process's subscriber: records every event of every thread.
struct Capture(Mutex<Vec<Event>>);

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Fields(BTreeMap<String, String>);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                self.0.insert(f.name().to_string(), format!("{v:?}"));
            }
            fn record_str(&mut self, f: &tracing::field::Field, v: &str) {
                self.0.insert(f.name().to_string(), v.to_string());
            }
        }
        let mut fields = Fields(BTreeMap::new());
        event.record(&mut fields);
        let mut fields = fields.0;
        let message = fields.remove("message").unwrap_or_default();
        let m = event.metadata();
        self.0.lock().unwrap().push(Event {
            target: m.target().to_string(),
            level: *m.level(),
            message,
            fields,
        });
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

fn capture() -> &'static Arc<Capture> {
    static CAPTURE: OnceLock<Arc<Capture>> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let c = Arc::new(Capture(Mutex::new(Vec::new())));
        tracing::subscriber::set_global_default(c.clone()).expect("the only subscriber");
        c
    })
}

/// The events with `target` whose message contains `text`.
fn find(events: &[Event], target: &str, text: &str) -> Vec<Event> {
    events
        .iter()
        .filter(|e| e.target == target && e.message.contains(text))
        .cloned()
        .collect()
}

/// The first such event, which must have every field of `fields`.
fn expect(events: &[Event], target: &str, text: &str, fields: &[&str]) -> Event {
    let found = find(events, target, text);
    let e = found.first().cloned().unwrap_or_else(|| {
        panic!(
            "no `{target}` event \"{text}\" among:\n{}",
            events
                .iter()
                .map(|e| format!("{} {}: {}", e.target, e.level, e.message))
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    for f in fields {
        assert!(
            e.fields.contains_key(*f),
            "{target} \"{text}\": no field `{f}` in {e:?}"
        );
    }
    e
}

fn number(e: &Event, field: &str) -> f64 {
    e.fields[field]
        .parse()
        .unwrap_or_else(|_| panic!("{field} is not a number in {e:?}"))
}

fn doc(index: &Index, id: u64) -> Document {
    let s = index.schema();
    let mut d = Document::new();
    d.add_u64(s.field("id").unwrap(), id).add_text(
        s.field("body").unwrap(),
        format!("event n{id} disk full on node {}", id % 7),
    );
    d
}

/// Flushes, a commit, a forced merge, a replication and a log replay.
fn flush_commit_merge_replicate_replay() -> Vec<Event> {
    let dir = RamDirectory::new();
    let replica = RamDirectory::new();
    let index = Index::create(dir.clone(), Schema::logs()).unwrap();
    let w = index
        .writer(
            WriterConfig::default()
                .no_merges()
                .max_buffered_docs(10)
                .durability(Durability::Sync)
                .replica(Arc::new(replica.clone())),
        )
        .unwrap();
    for id in 0..40 {
        w.add_document(doc(&index, id)).unwrap();
    }
    w.commit().unwrap();
    w.force_merge(1).unwrap();
    w.commit().unwrap();
    // Acknowledged, not committed: replayed by the next writer.
    for id in 40..45 {
        w.add_document(doc(&index, id)).unwrap();
    }
    drop(w);
    let w = index.writer(WriterConfig::default()).unwrap();
    assert_eq!(w.replay_report().replayed, 5);
    drop(w);
    capture().0.lock().unwrap().clone()
}

#[test]
fn a_run_with_a_forced_merge_a_stall_a_heal_and_a_repair_emits_events_with_their_fields() {
    let c = capture();
    let events = flush_commit_merge_replicate_replay();

    let flush = expect(
        &events,
        "lucerna::flush",
        "flushed",
        &["segment", "docs", "bytes", "duration_ms"],
    );
    assert_eq!(number(&flush, "docs"), 10.0);
    assert!(number(&flush, "bytes") > 0.0);
    assert!(flush.fields["segment"].starts_with("seg_"));

    let commit = expect(
        &events,
        "lucerna::commit",
        "checkpoint",
        &[
            "generation",
            "wal_position",
            "segments",
            "docs",
            "duration_ms",
        ],
    );
    assert_eq!(number(&commit, "generation"), 2.0);
    assert_eq!(number(&commit, "wal_position"), 40.0);
    assert_eq!(number(&commit, "segments"), 4.0);

    let started = expect(
        &events,
        "lucerna::merge",
        "merge started",
        &["forced", "max_segments", "segments_before"],
    );
    assert_eq!(number(&started, "segments_before"), 4.0);
    let merged = expect(
        &events,
        "lucerna::merge",
        "merge finished",
        &["bytes", "duration_ms", "mib_per_s"],
    );
    assert!(number(&merged, "bytes") > 0.0);

    let rep = expect(
        &events,
        "lucerna::replication",
        "replicated",
        &[
            "replica",
            "generation",
            "bytes",
            "files",
            "lag",
            "duration_ms",
        ],
    );
    assert_eq!(number(&rep, "lag"), 0.0);
    assert!(number(&rep, "bytes") > 0.0);

    let replay = expect(
        &events,
        "lucerna::wal",
        "log replayed",
        &["replayed", "torn", "skipped", "files"],
    );
    let replayed: Vec<f64> = find(&events, "lucerna::wal", "log replayed")
        .iter()
        .map(|e| number(e, "replayed"))
        .collect();
    assert!(replayed.contains(&5.0), "{replayed:?} ({replay:?})");

    // A stall: a merge debt over a one-byte hard limit, merges crawling.
    let from = c.0.lock().unwrap().len();
    stall();
    let events = c.0.lock().unwrap()[from..].to_vec();
    let stalled = expect(
        &events,
        "lucerna::backpressure",
        "stalled",
        &["reason", "pending_merge_bytes", "hard_pending_merge_bytes"],
    );
    assert_eq!(stalled.level, tracing::Level::WARN);
    assert_eq!(stalled.fields["reason"], "PendingMergeBytes");
    assert!(number(&stalled, "pending_merge_bytes") >= 1.0);
    let ended = expect(
        &events,
        "lucerna::backpressure",
        "stall ended",
        &["reason", "duration_ms"],
    );
    assert!(number(&ended, "duration_ms") >= 0.0);
    expect(
        &events,
        "lucerna::backpressure",
        "delay started",
        &["reason", "pressure", "rate_bytes_per_s"],
    );

    // Corruption detected, then healed from a replica.
    let from = c.0.lock().unwrap().len();
    heal();
    let events = c.0.lock().unwrap()[from..].to_vec();
    let healed = expect(
        &events,
        "lucerna::heal",
        "healed from a replica",
        &["file", "segment", "replica", "bytes", "duration_ms"],
    );
    assert_eq!(healed.fields["file"], "seg_0.col");
    assert_eq!(healed.fields["segment"], "seg_0");
    let corrupt = expect(
        &events,
        "lucerna::corruption",
        "corruption detected",
        &["segment", "file", "offset", "marker_written", "error"],
    );
    assert_eq!(corrupt.level, tracing::Level::ERROR);
    assert_eq!(corrupt.fields["file"], "seg_0.col");
    assert_eq!(corrupt.fields["marker_written"], "true");

    // A repair: started and finished, with its outcome.
    let from = c.0.lock().unwrap().len();
    repair();
    let events = c.0.lock().unwrap()[from..].to_vec();
    expect(
        &events,
        "lucerna::repair",
        "repair started",
        &[
            "dry_run",
            "healthy",
            "markers",
            "unapplied_log_ops",
            "replicas",
        ],
    );
    let done = expect(
        &events,
        "lucerna::repair",
        "repair finished",
        &[
            "outcome",
            "healthy",
            "actions",
            "bytes_copied",
            "lost_docs",
            "duration_ms",
        ],
    );
    assert_eq!(done.fields["outcome"], "repaired");
    assert_eq!(number(&done, "lost_docs"), 0.0);
    assert!(number(&done, "bytes_copied") > 0.0);
}

/// Fills an index whose merges crawl (1 KiB/s) past a one-byte merge-debt
/// limit, checks that a write is refused, then closes the writer (which
/// drops the merges: the stall ends).
fn stall() {
    let limiter = RateLimiter::fixed(1.0 / 1024.0).unwrap();
    let scheduler = Arc::new(
        MergeScheduler::new(SchedulerConfig {
            threads: 1,
            min_throttled_merge_bytes: 0,
            rate_limiter: Arc::new(limiter),
            ..SchedulerConfig::default()
        })
        .unwrap(),
    );
    let index = Index::create(RamDirectory::new(), Schema::logs()).unwrap();
    let w = index
        .writer(
            WriterConfig::default()
                .merge_policy(Arc::new(TieredMergePolicy::default()))
                .merge_scheduler(scheduler.clone())
                .max_buffered_docs(1)
                .durability(Durability::None)
                .backpressure(
                    BackpressureConfig::default()
                        .soft_pending_merge_bytes(1)
                        .hard_pending_merge_bytes(1),
                ),
        )
        .unwrap();
    let mut refused = false;
    for id in 0..200 {
        match w.add_document_with_stall_timeout(doc(&index, id), Duration::ZERO) {
            Ok(_) => {}
            Err(Error::Backpressure { backlog }) => {
                assert!(backlog.stalled, "{backlog}");
                refused = true;
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(refused, "never stalled");
    w.close().unwrap();
    scheduler.shutdown(lucerna::merge::ShutdownMode::Abort);
}

/// A reader opening an index with a flipped byte finds the damage (and
/// marks the segment), then heals it from a replica.
fn heal() {
    let (dir, replica) = damaged();
    let index = Index::open(dir.clone())
        .unwrap()
        .with_replicas(vec![Arc::new(replica.clone())]);
    assert_eq!(index.reader().unwrap().searcher().num_docs(), 50);
}

/// `repair` restores the same damage from the replica.
fn repair() {
    let (dir, replica) = damaged();
    let dir: Arc<dyn Directory> = Arc::new(dir);
    let replica: Arc<dyn Directory> = Arc::new(replica);
    let report = lucerna::index::repair(&dir, &[replica], RepairOptions::default()).unwrap();
    assert!(report.healthy());
}

/// An index of 50 documents with a replica, and a flipped byte in the
/// middle of `seg_0.col`.
fn damaged() -> (RamDirectory, RamDirectory) {
    let dir = RamDirectory::new();
    let replica = RamDirectory::new();
    let index = Index::create(dir.clone(), Schema::logs()).unwrap();
    let w = index
        .writer(
            WriterConfig::default()
                .no_merges()
                .durability(Durability::None),
        )
        .unwrap();
    for id in 0..50 {
        w.add_document(doc(&index, id)).unwrap();
    }
    w.commit().unwrap();
    drop(w);
    let c = Commit::read_latest(&dir).unwrap();
    replicate(&dir, &replica, &c).unwrap();
    let name = "seg_0.col";
    let mut b = dir.open(name).unwrap().to_vec();
    let at = b.len() / 2;
    b[at] ^= 0x08;
    dir.delete(name).unwrap();
    write_file(&dir, name, &b).unwrap();
    (dir, replica)
}
