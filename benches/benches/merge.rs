//! Merge micro-benchmarks (issue 4, acceptance 8):
//!
//! * **merge throughput**: eight flushed segments of log lines (the shared
//!   corpus's `logs.jsonl` when present — in the directory named by
//!   `LUCERNA_BENCH_CORPUS`, else `../shared/peers/corpus/out` beside the
//!   workspace — otherwise synthetic log lines
//!   ([`lucerna_benches::synthetic`])) merged into one by an automatic
//!   merge on a [`MergeScheduler`], unthrottled and throttled at 20 MiB/s;
//!   throughput in bytes of input segments per second; and the same
//!   merge, unthrottled, of scaled log lines whose numbers are re-drawn
//!   ([`lucerna_benches::scaled_logs`]), where most lines bring new terms;
//! * **rate limiter accuracy**: a [`RateLimiter`] at a fixed rate driven
//!   with 64 KiB writes over a fixed byte count; the achieved rate over the
//!   target is printed for each target and must be within ±10 %.
#![forbid(unsafe_code)]
// criterion's macros generate undocumented public functions.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lucerna::merge::{
    MergeKind, MergePolicy, MergeScheduler, OneMerge, RateLimiter, SchedulerConfig,
    SegmentDescriptor, ShutdownMode, MIB,
};
use lucerna::schema::Schema;
use lucerna::store::FsDirectory;
use lucerna::{Document, Index, WriterConfig};
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Segments merged per iteration.
const SEGMENTS: usize = 8;
/// Documents per segment.
const DOCS_PER_SEGMENT: usize = 16_000;
/// The throttled rate, MiB/s.
const THROTTLE_MB: f64 = 20.0;
/// Bytes written per rate-limiter run.
const LIMITER_BYTES: u64 = 16 * MIB;
/// Chunk of each rate-limiter write.
const LIMITER_CHUNK: u64 = 64 << 10;

fn corpus_file() -> PathBuf {
    lucerna_benches::corpus_dir().join("logs.jsonl")
}

/// Bodies of the corpus's log lines, or generated lines when it is absent.
fn bodies() -> (String, Vec<String>) {
    let path = corpus_file();
    let from_file = std::fs::File::open(&path).ok().map(|f| {
        BufReader::new(f)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| {
                let v: serde_json::Value = serde_json::from_str(&l).ok()?;
                Some(v.get("body")?.as_str()?.to_string())
            })
            .collect::<Vec<_>>()
    });
    match from_file {
        Some(v) if !v.is_empty() => (format!("corpus {}", path.display()), v),
        _ => (
            "synthetic log lines (corpus not found)".to_string(),
            lucerna_benches::synthetic::log_lines(20_000, 4)
                .into_iter()
                .map(|l| l.body)
                .collect(),
        ),
    }
}

/// Merges every segment that is not being merged into one.
#[derive(Debug)]
struct MergeAll;

impl MergePolicy for MergeAll {
    fn find_merges(&self, segments: &[SegmentDescriptor], merging: &HashSet<u64>) -> Vec<OneMerge> {
        let free: Vec<SegmentDescriptor> = segments
            .iter()
            .filter(|s| !merging.contains(&s.id))
            .copied()
            .collect();
        if free.len() < 2 {
            return Vec::new();
        }
        vec![OneMerge::from_segments(&free, MergeKind::Natural, 0.0)]
    }
    fn find_forced_merges(
        &self,
        segments: &[SegmentDescriptor],
        _: usize,
        merging: &HashSet<u64>,
    ) -> Vec<OneMerge> {
        self.find_merges(segments, merging)
    }
    fn find_forced_deletes_merges(
        &self,
        _: &[SegmentDescriptor],
        _: &HashSet<u64>,
    ) -> Vec<OneMerge> {
        Vec::new()
    }
}

/// Builds `SEGMENTS` committed segments in `dir`; returns their total
/// size in bytes.
fn build_segments(dir: &Path, bodies: &[String]) -> u64 {
    let index = Index::create(FsDirectory::open(dir).expect("open dir"), Schema::logs())
        .expect("create index");
    let schema = index.schema().clone();
    let f = |n| schema.field(n).expect("logs field");
    let (id, ts, body) = (f("id"), f("timestamp"), f("body"));
    let writer = index
        .writer(
            WriterConfig::default()
                .indexing_threads(1)
                .no_merges()
                .max_buffered_docs(DOCS_PER_SEGMENT)
                .mem_budget_bytes(1 << 30),
        )
        .expect("writer");
    for i in 0..SEGMENTS * DOCS_PER_SEGMENT {
        let mut d = Document::new();
        d.add_u64(id, i as u64)
            .add_u64(ts, 1_704_067_200_000 + i as u64)
            .add_text(body, bodies[i % bodies.len()].as_str());
        writer.add_document(d).expect("add");
    }
    writer.commit().expect("commit");
    assert_eq!(writer.num_segments(), SEGMENTS);
    drop(writer);
    index
        .latest_commit()
        .expect("commit")
        .segments
        .iter()
        .map(|s| s.size_bytes())
        .sum()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir").flatten() {
        if e.file_name() == "write.lock" {
            continue;
        }
        std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
    }
}

/// One merge of the prepared segments, on a fresh copy, with `limiter`:
/// returns the time from opening the writer (which submits the merge) to
/// the scheduler having finished it.
fn one_merge(prepared: &Path, scratch: &Path, limiter: RateLimiter) -> Duration {
    let _ = std::fs::remove_dir_all(scratch);
    copy_dir(prepared, scratch);
    let scheduler = Arc::new(
        MergeScheduler::new(SchedulerConfig {
            threads: 1,
            rate_limiter: Arc::new(limiter),
            min_throttled_merge_bytes: 0,
            ..SchedulerConfig::default()
        })
        .expect("scheduler"),
    );
    let index = Index::open(FsDirectory::open(scratch).expect("open")).expect("open index");
    let start = Instant::now();
    let writer = index
        .writer(
            WriterConfig::default()
                .indexing_threads(1)
                .merge_policy(Arc::new(MergeAll))
                .merge_scheduler(scheduler.clone()),
        )
        .expect("writer");
    // Runs the queued merge to its end and joins the merge thread: a
    // blocking wait, no polling.
    scheduler.shutdown(ShutdownMode::Finish);
    let took = start.elapsed();
    let m = writer.metrics();
    assert_eq!(m.merges_completed, 1, "{:?}", m.last_merge_error);
    assert_eq!(writer.num_segments(), 1);
    took
}

fn merge_throughput(c: &mut Criterion) {
    let (source, bodies) = bodies();
    let tmp = tempfile::tempdir().expect("tempdir");
    let prepared = tmp.path().join("prepared");
    let input_bytes = build_segments(&prepared, &bodies);
    eprintln!(
        "merge: {SEGMENTS} segments of {DOCS_PER_SEGMENT} documents from {source}, {:.1} MiB in total",
        input_bytes as f64 / MIB as f64
    );
    let scratch = tmp.path().join("scratch");
    let mut g = c.benchmark_group("merge");
    g.throughput(Throughput::Bytes(input_bytes));
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(10));
    g.bench_function(format!("{SEGMENTS}_segments_unthrottled"), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| one_merge(&prepared, &scratch, RateLimiter::unlimited()))
                .sum()
        })
    });
    g.measurement_time(Duration::from_secs(20));
    g.bench_function(
        format!("{SEGMENTS}_segments_throttled_{THROTTLE_MB}MiBps"),
        |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        let limiter = RateLimiter::fixed(THROTTLE_MB).expect("rate");
                        one_merge(&prepared, &scratch, limiter)
                    })
                    .sum()
            })
        },
    );
    g.finish();

    // The same merge of scaled log lines, whose numbers are re-drawn: most
    // lines bring new terms, so the per-term work of a merge shows, as in
    // the scale benchmark's large merges.
    let Some(scaled) = lucerna_benches::scaled_logs::corpus_bodies(SEGMENTS * DOCS_PER_SEGMENT, 42)
    else {
        eprintln!("merge: no corpus, no scaled-log merge");
        return;
    };
    let prepared = tmp.path().join("prepared-scaled");
    let input_bytes = build_segments(&prepared, &scaled);
    eprintln!(
        "merge: {SEGMENTS} segments of {DOCS_PER_SEGMENT} scaled log lines, {:.1} MiB in total",
        input_bytes as f64 / MIB as f64
    );
    let mut g = c.benchmark_group("merge");
    g.throughput(Throughput::Bytes(input_bytes));
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(10));
    g.bench_function(
        format!("{SEGMENTS}_segments_scaled_logs_unthrottled"),
        |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| one_merge(&prepared, &scratch, RateLimiter::unlimited()))
                    .sum()
            })
        },
    );
    g.finish();
}

/// Writes `LIMITER_BYTES` through `limiter` in `LIMITER_CHUNK` pieces;
/// returns the elapsed time.
fn drive(limiter: &RateLimiter) -> Duration {
    let start = Instant::now();
    let mut left = LIMITER_BYTES;
    while left > 0 {
        let n = left.min(LIMITER_CHUNK);
        limiter.acquire(n);
        left -= n;
    }
    start.elapsed()
}

fn rate_limiter_accuracy(c: &mut Criterion) {
    let mut g = c.benchmark_group("rate_limiter");
    g.throughput(Throughput::Bytes(LIMITER_BYTES));
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(100));
    let mut report = Vec::new();
    for target in [16.0f64, 64.0, 256.0] {
        let mut runs = Vec::new();
        g.measurement_time(Duration::from_secs_f64(
            12.0 * LIMITER_BYTES as f64 / MIB as f64 / target,
        ));
        g.bench_function(format!("fixed_{target}MiBps_64KiB_writes"), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        let limiter = RateLimiter::fixed(target).expect("rate");
                        let took = drive(&limiter);
                        runs.push(took);
                        took
                    })
                    .sum()
            })
        });
        let total: Duration = runs.iter().sum();
        let achieved = runs.len() as f64 * LIMITER_BYTES as f64 / MIB as f64 / total.as_secs_f64();
        let worst = runs
            .iter()
            .map(|d| LIMITER_BYTES as f64 / MIB as f64 / d.as_secs_f64() / target)
            .fold(1.0f64, |w, r| {
                if (r - 1.0).abs() > (w - 1.0).abs() {
                    r
                } else {
                    w
                }
            });
        report.push((target, achieved, worst, runs.len()));
    }
    g.finish();
    for (target, achieved, worst, n) in report {
        let ratio = achieved / target;
        eprintln!(
            "rate limiter accuracy: target {target} MiB/s, achieved {achieved:.2} MiB/s over {n} runs of \
             {} MiB = {:.1} % of target (worst run {:.1} %): {}",
            LIMITER_BYTES / MIB,
            100.0 * ratio,
            100.0 * worst,
            if (ratio - 1.0).abs() <= 0.10 { "within ±10 %" } else { "OUTSIDE ±10 %" }
        );
    }
}

criterion_group!(benches, merge_throughput, rate_limiter_accuracy);
criterion_main!(benches);
