//! `spike`: the ingest-spike scenario benchmark (issue 4, acceptance 6 and 7).
//!
//! Several indexes ("tenants") share one [`MergeScheduler`]. Each tenant has
//! a writer thread that adds real log lines (`logs.jsonl` of the shared
//! corpus) at a steady target rate, and a searcher thread that reopens a
//! near-real-time searcher every second and runs a few term queries every
//! 100 ms. The run has two phases:
//!
//! 1. **baseline**: every tenant at the base rate;
//! 2. **spike**: tenant 0 at `--spike` times the base rate, the others
//!    unchanged.
//!
//! Per tenant it reports throughput and add latency in both phases, the time
//! its writers were delayed and stalled by backpressure, its peak merge
//! backlog against the hard limit, write amplification, search latency
//! while merges run, and the documents lost: acknowledged adds that a fresh
//! reader of the final commit does not find (every document id is checked).
//! It also reports the process's peak RSS against the writers' memory
//! budgets plus the RSS measured before the writers start.
//!
//! ```sh
//! cargo run --release -p lucerna-benches --bin spike -- \
//!     --tenants 4 --spike 10 --seconds 60 [--json] [--plot spike.svg]
//! ```
//!
//! With `--json` the last line of stdout is one JSON object. With `--plot`
//! a per-second timeline (throughput, merge backlog and segments per
//! tenant, the merge throttle rate and RSS) is written as an SVG file.

use clap::Parser;
use crossbeam_channel::{select, Receiver};
use lucerna::index::PageBudget;
use lucerna::merge::{
    AutoThrottle, BackpressureConfig, MergeScheduler, RateLimiter, SchedulerConfig, ShutdownMode,
    MIB,
};
use lucerna::schema::{Field, Schema};
use lucerna::store::FsDirectory;
use lucerna::{
    Document, Durability, Index, IndexWriter, Query, Searcher, WriterConfig, WriterMetrics,
};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where `prepare.sh` writes the logs corpus, relative to the repository
/// root.
const DEFAULT_CORPUS: &str = "../shared/peers/corpus/out/logs.jsonl";
/// Environment variable naming the corpus directory (as the criterion
/// benchmarks use it).
const CORPUS_ENV: &str = "LUCERNA_BENCH_CORPUS";
/// How often the sampler looks at the writers.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// Longest single sleep of a writer thread (so it notices the end of the
/// run promptly).
const MAX_SLEEP: Duration = Duration::from_millis(50);
/// Terms every searcher queries (chosen from the corpus at these frequency
/// ranks).
const QUERY_RANKS: [usize; 5] = [0, 5, 30, 150, 800];

/// Command-line arguments.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "spike",
    about = "Ingest-spike scenario: tenants on one merge scheduler, one spikes"
)]
struct Args {
    /// Number of indexes (tenants) sharing the merge scheduler.
    #[arg(long, default_value_t = 4)]
    tenants: usize,
    /// Tenant 0's rate during the spike, as a multiple of the base rate.
    #[arg(long, default_value_t = 10.0)]
    spike: f64,
    /// Length of the whole run (baseline + spike), in seconds.
    #[arg(long, default_value_t = 60.0)]
    seconds: f64,
    /// Length of the baseline phase (default: half of --seconds).
    #[arg(long)]
    baseline_seconds: Option<f64>,
    /// Start of the baseline phase excluded from its figures (empty indexes
    /// warming up); default: a tenth of the baseline, at most 3 s.
    #[arg(long)]
    warmup_seconds: Option<f64>,
    /// Base ingest rate of every tenant, documents per second.
    #[arg(long, default_value_t = 2000.0)]
    rate: f64,
    /// The corpus file (JSON lines with a `body`), default
    /// `../shared/peers/corpus/out/logs.jsonl`.
    #[arg(long)]
    corpus: Option<PathBuf>,
    /// Memory budget of each writer, MiB.
    #[arg(long, default_value_t = 8)]
    mem_mb: usize,
    /// Merge threads of the shared scheduler (default: the scheduler's
    /// default, max(1, min(4, cores / 2))).
    #[arg(long)]
    merge_threads: Option<usize>,
    /// Fixed merge IO limit, MiB/s (default: the automatic throttle).
    #[arg(long)]
    throttle_mb: Option<f64>,
    /// Merges smaller than this many MiB are not throttled.
    #[arg(long, default_value_t = 1.0)]
    min_throttled_mb: f64,
    /// Deficit-round-robin quantum of the scheduler, MiB.
    #[arg(long, default_value_t = 4.0)]
    quantum_mb: f64,
    /// Merge debt (MiB) above which a tenant's writers are delayed.
    #[arg(long, default_value_t = 32)]
    soft_backlog_mb: u64,
    /// Merge debt (MiB) at which a tenant's writers stall.
    #[arg(long, default_value_t = 128)]
    hard_backlog_mb: u64,
    /// How often each searcher reopens its near-real-time searcher, ms.
    #[arg(long, default_value_t = 1000)]
    reopen_ms: u64,
    /// How often each searcher runs its queries, ms.
    #[arg(long, default_value_t = 100)]
    query_ms: u64,
    /// Directory for the indexes (default: a temporary directory, removed
    /// at the end).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Print one JSON object as the last line of stdout.
    #[arg(long)]
    json: bool,
    /// Write the timeline as an SVG file.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Exit with status 1 when a goal is missed.
    #[arg(long)]
    check: bool,
    /// When adds are durable: `none` (only commits: the write-ahead log is
    /// off, so the run measures indexing and merging alone), `sync`
    /// (logged and fsync'd before each add returns) or `interval:MS`
    /// (logged, fsync'd every MS milliseconds).
    #[arg(long, default_value = "none")]
    durability: String,
    /// Resident memory-mapped pages allowed to the whole process, MiB
    /// (a `PageBudget` shared by every tenant's searchers); 0: no budget.
    /// It counts every file-backed page, the program's code included.
    #[arg(long, default_value_t = 16)]
    page_budget_mb: u64,
    /// Keep glibc's default malloc settings (see `tune_malloc`).
    #[arg(long)]
    no_malloc_tuning: bool,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

// ---------------------------------------------------------------------------
// Latency histogram

/// A log-linear histogram of durations in nanoseconds: 32 buckets per power
/// of two (about 3 % resolution), fixed size, no allocation while
/// recording.
#[derive(Clone)]
struct Hist {
    counts: Vec<u64>,
    n: u64,
    max: u64,
}

const SUB: u32 = 32;

impl Hist {
    fn new() -> Self {
        Hist {
            counts: vec![0; (SUB as usize) * 64],
            n: 0,
            max: 0,
        }
    }

    fn bucket(v: u64) -> usize {
        if v < u64::from(SUB) {
            return v as usize;
        }
        let e = 63 - v.leading_zeros(); // >= 5
        let sub = (v >> (e - 5)) & u64::from(SUB - 1);
        ((e - 4) * SUB) as usize + sub as usize
    }

    /// Upper bound of bucket `b`.
    fn bucket_top(b: usize) -> u64 {
        let b = b as u64;
        if b < u64::from(SUB) {
            return b;
        }
        let e = b / u64::from(SUB) + 4;
        let sub = b % u64::from(SUB);
        ((u64::from(SUB) + sub + 1) << (e - 5)) - 1
    }

    fn record(&mut self, d: Duration) {
        let v = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let b = Self::bucket(v).min(self.counts.len() - 1);
        self.counts[b] += 1;
        self.n += 1;
        self.max = self.max.max(v);
    }

    /// The `q` quantile (0..=1) in microseconds; 0 when empty.
    fn quantile_us(&self, q: f64) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        let rank = ((q * self.n as f64).ceil() as u64).clamp(1, self.n);
        let mut seen = 0;
        for (b, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::bucket_top(b).min(self.max) as f64 / 1000.0;
            }
        }
        self.max as f64 / 1000.0
    }

    fn max_us(&self) -> f64 {
        self.max as f64 / 1000.0
    }
}

// ---------------------------------------------------------------------------
// Corpus

/// One corpus line.
struct Line {
    body: String,
    timestamp: u64,
}

fn corpus_path(args: &Args) -> PathBuf {
    if let Some(p) = &args.corpus {
        return p.clone();
    }
    if let Some(dir) = std::env::var_os(CORPUS_ENV) {
        return PathBuf::from(dir).join("logs.jsonl");
    }
    let relative = PathBuf::from(DEFAULT_CORPUS);
    if relative.exists() {
        return relative;
    }
    // `cargo run` from elsewhere: relative to this crate's repository.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(DEFAULT_CORPUS)
}

fn load_corpus(path: &Path) -> Result<Vec<Line>, BoxError> {
    let file = std::fs::File::open(path).map_err(|e| {
        format!(
            "cannot read the corpus {}: {e}\n\
             Build it first: run ../shared/peers/corpus/prepare.sh (from the repository \
             root), or pass --corpus PATH to a logs.jsonl file",
            path.display()
        )
    })?;
    let mut lines = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&line)
            .map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))?;
        let Some(body) = v.get("body").and_then(Value::as_str) else {
            continue;
        };
        lines.push(Line {
            body: body.to_string(),
            timestamp: v.get("timestamp").and_then(Value::as_u64).unwrap_or(0),
        });
    }
    if lines.is_empty() {
        return Err(format!("the corpus {} has no document with a body", path.display()).into());
    }
    Ok(lines)
}

/// Terms at a few frequency ranks of the corpus (lowercased alphanumeric
/// runs, as the default analyzer produces, of at least three letters).
fn query_terms(corpus: &[Line]) -> Vec<String> {
    let mut freq: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    for l in corpus {
        for t in l
            .body
            .split(|c: char| !c.is_alphanumeric())
            .filter(|t| t.len() >= 3 && t.chars().all(char::is_alphabetic))
        {
            *freq.entry(t.to_lowercase()).or_default() += 1;
        }
    }
    let mut v: Vec<(String, u64)> = freq.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    QUERY_RANKS
        .iter()
        .filter_map(|&r| v.get(r).map(|(t, _)| t.clone()))
        .collect()
}

// ---------------------------------------------------------------------------
// Process memory

/// A `Vm*` line of /proc/self/status in bytes (Linux only).
fn proc_status_bytes(key: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line
        .trim_start_matches(key)
        .trim_start_matches(':')
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Caps glibc's malloc arenas at 2 and fixes its mmap threshold at
/// 256 KiB (which also fixes the trim threshold), before any thread starts.
/// By default glibc gives each thread its own arena and raises both
/// thresholds to the size of the largest freed buffer (up to 32 MiB), so
/// memory freed after each flush and merge (buffers of several MiB) stays in
/// the process: with 10 threads it held about twice the live heap. This is
/// the usual setting of memory-bounded services (`MALLOC_ARENA_MAX`,
/// `MALLOC_MMAP_THRESHOLD_`); returns whether it was applied.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_malloc() -> bool {
    // SAFETY: mallopt only changes allocator parameters; it is called from
    // main before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2) == 1
            && libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 10) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 10) == 1
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_malloc() -> bool {
    false
}

fn rss_bytes() -> Option<u64> {
    proc_status_bytes("VmRSS")
}

fn peak_rss_bytes() -> Option<u64> {
    proc_status_bytes("VmHWM")
}

// ---------------------------------------------------------------------------
// The run

/// Timing of the run, seconds from its start.
#[derive(Debug, Clone, Copy)]
struct Phases {
    warmup: f64,
    baseline_end: f64,
    end: f64,
}

impl Phases {
    fn is_baseline(&self, t: f64) -> bool {
        t >= self.warmup && t < self.baseline_end
    }
    fn is_spike(&self, t: f64) -> bool {
        t >= self.baseline_end && t < self.end
    }
    fn baseline_len(&self) -> f64 {
        self.baseline_end - self.warmup
    }
    fn spike_len(&self) -> f64 {
        self.end - self.baseline_end
    }
}

/// The schedule of one tenant's writer: documents due by time `t`.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    base: f64,
    spike: f64,
    switch: f64,
}

impl Schedule {
    fn due(&self, t: f64) -> f64 {
        if t <= self.switch {
            self.base * t
        } else {
            self.base * self.switch + self.spike * (t - self.switch)
        }
    }

    /// The time at which `n` documents are due.
    fn time_of(&self, n: f64) -> f64 {
        let at_switch = self.base * self.switch;
        if n <= at_switch {
            n / self.base
        } else {
            self.switch + (n - at_switch) / self.spike
        }
    }
}

/// What a writer thread measured.
struct WriterOutcome {
    acked: u64,
    /// Bit per document id: acknowledged.
    acked_ids: Vec<u64>,
    errors: u64,
    last_error: Option<String>,
    skipped: u64,
    baseline_docs: u64,
    spike_docs: u64,
    baseline_lat: Hist,
    spike_lat: Hist,
}

/// What a searcher thread measured.
struct SearchOutcome {
    baseline_merging: Hist,
    spike_merging: Hist,
    spike_all: Hist,
    reopen: Hist,
    errors: u64,
    last_error: Option<String>,
}

/// One tenant.
struct Tenant {
    index: Index,
    writer: IndexWriter,
    path: PathBuf,
    acked: AtomicU64,
    spiking: bool,
}

/// A per-second sample of the timeline.
#[derive(Clone)]
struct Sample {
    t: f64,
    docs_per_s: Vec<f64>,
    backlog_bytes: Vec<u64>,
    segments: Vec<usize>,
    throttle_mb_per_s: f64,
    rss_bytes: u64,
    /// Anonymous memory (heap, stacks) of the RSS.
    rss_anon_bytes: u64,
    /// File-backed pages of the RSS (mapped index files).
    rss_file_bytes: u64,
}

struct Fields {
    id: Field,
    timestamp: Field,
    body: Field,
}

fn fields(schema: &Schema) -> Result<Fields, BoxError> {
    let get = |n: &str| {
        schema
            .field(n)
            .ok_or_else(|| BoxError::from(format!("the logs schema has no field `{n}`")))
    };
    Ok(Fields {
        id: get("id")?,
        timestamp: get("timestamp")?,
        body: get("body")?,
    })
}

/// What every writer and searcher thread shares.
struct Shared<'a> {
    phases: Phases,
    start: Instant,
    corpus: &'a [Line],
    fields: &'a Fields,
    stop: &'a AtomicBool,
}

fn writer_loop(
    tenant: &Tenant,
    tenant_no: usize,
    schedule: Schedule,
    sh: &Shared<'_>,
) -> WriterOutcome {
    let (phases, corpus, f, start, stop) = (sh.phases, sh.corpus, sh.fields, sh.start, sh.stop);
    let mut out = WriterOutcome {
        acked: 0,
        acked_ids: Vec::new(),
        errors: 0,
        last_error: None,
        skipped: 0,
        baseline_docs: 0,
        spike_docs: 0,
        baseline_lat: Hist::new(),
        spike_lat: Hist::new(),
    };
    // Never more than half a second of documents owed: a writer held back
    // by backpressure catches up at most that much.
    let max_lag = 0.5 * schedule.base.max(schedule.spike);
    let offset = (tenant_no * 7919) % corpus.len();
    let mut sent: f64 = 0.0;
    let mut next_id: u64 = 0;
    while !stop.load(Ordering::Acquire) {
        let now = start.elapsed().as_secs_f64();
        if now >= phases.end {
            break;
        }
        let due = schedule.due(now);
        if sent + 1.0 > due {
            let wait = (schedule.time_of(sent + 1.0) - now).max(0.0);
            std::thread::sleep(Duration::from_secs_f64(wait).min(MAX_SLEEP));
            continue;
        }
        if due - sent > max_lag {
            let skip = (due - sent - max_lag).floor();
            out.skipped += skip as u64;
            sent += skip;
        }
        let line = &corpus[(offset + next_id as usize) % corpus.len()];
        let mut doc = Document::new();
        doc.add_u64(f.id, next_id)
            .add_u64(f.timestamp, line.timestamp + next_id)
            .add_text(f.body, line.body.as_str());
        let t0 = Instant::now();
        let at = t0.duration_since(start).as_secs_f64();
        let r = tenant.writer.add_document(doc);
        let took = t0.elapsed();
        sent += 1.0;
        match r {
            Ok(_) => {
                let word = (next_id / 64) as usize;
                if out.acked_ids.len() <= word {
                    out.acked_ids.resize(word + 1, 0);
                }
                out.acked_ids[word] |= 1 << (next_id % 64);
                out.acked += 1;
                tenant.acked.fetch_add(1, Ordering::Relaxed);
                if phases.is_baseline(at) {
                    out.baseline_docs += 1;
                    out.baseline_lat.record(took);
                } else if phases.is_spike(at) {
                    out.spike_docs += 1;
                    out.spike_lat.record(took);
                }
            }
            Err(e) => {
                out.errors += 1;
                out.last_error = Some(e.to_string());
            }
        }
        next_id += 1;
    }
    out
}

fn searcher_loop(
    tenant: &Tenant,
    scheduler: &MergeScheduler,
    queries: &[Query],
    phases: Phases,
    args: &Args,
    start: Instant,
    stop: &Receiver<()>,
) -> SearchOutcome {
    let mut out = SearchOutcome {
        baseline_merging: Hist::new(),
        spike_merging: Hist::new(),
        spike_all: Hist::new(),
        reopen: Hist::new(),
        errors: 0,
        last_error: None,
    };
    let tick = crossbeam_channel::tick(Duration::from_millis(args.query_ms.max(1)));
    let reopen_every = Duration::from_millis(args.reopen_ms.max(1));
    let mut searcher: Option<Searcher> = None;
    let mut reopened = Instant::now();
    loop {
        select! {
            recv(stop) -> _ => break,
            recv(tick) -> _ => {}
        }
        if searcher.is_none() || reopened.elapsed() >= reopen_every {
            let t0 = Instant::now();
            match tenant.writer.searcher() {
                Ok(s) => {
                    out.reopen.record(t0.elapsed());
                    searcher = Some(s);
                }
                Err(e) => {
                    out.errors += 1;
                    out.last_error = Some(e.to_string());
                }
            }
            reopened = Instant::now();
        }
        let Some(s) = &searcher else { continue };
        for q in queries {
            let merging = scheduler.stats().running > 0;
            let t0 = Instant::now();
            let at = t0.duration_since(start).as_secs_f64();
            let r = s.top_k(q, 10);
            let took = t0.elapsed();
            if let Err(e) = r {
                out.errors += 1;
                out.last_error = Some(e.to_string());
                continue;
            }
            if phases.is_spike(at) {
                out.spike_all.record(took);
                if merging {
                    out.spike_merging.record(took);
                }
            } else if phases.is_baseline(at) && merging {
                out.baseline_merging.record(took);
            }
        }
    }
    out
}

/// Counts the documents of the final commit of `index` (a fresh reader
/// from disk) and the acknowledged ids it lacks.
fn verify(
    index: &Index,
    f: &Fields,
    acked_ids: &[u64],
    acked: u64,
) -> Result<(u64, u64), BoxError> {
    let searcher = index.reader()?.searcher();
    let found = searcher.count(&Query::MatchAll)?;
    let mut seen = vec![0u64; acked_ids.len()];
    for seg in searcher.segments() {
        for doc in 0..seg.max_doc() {
            if !seg.is_live(doc) {
                continue;
            }
            if let Some(id) = seg.column_value(f.id, doc) {
                let word = (id / 64) as usize;
                if word < seen.len() {
                    seen[word] |= 1 << (id % 64);
                }
            }
        }
    }
    let present: u64 = acked_ids
        .iter()
        .zip(&seen)
        .map(|(a, s)| u64::from((a & s).count_ones()))
        .sum();
    let missing = acked - present;
    Ok((found, missing))
}

/// Bytes of the files directly in `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn parse_durability(s: &str) -> Result<Durability, BoxError> {
    match s {
        "none" => Ok(Durability::None),
        "sync" => Ok(Durability::Sync),
        _ => {
            let ms: u64 = s
                .strip_prefix("interval:")
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| {
                    format!("--durability: expected none, sync or interval:MS, got `{s}`")
                })?;
            Ok(Durability::Interval(Duration::from_millis(ms.max(1))))
        }
    }
}

fn delta_secs(a: Duration, b: Duration) -> f64 {
    a.saturating_sub(b).as_secs_f64()
}

fn run(args: &Args, malloc_tuned: bool) -> Result<Value, BoxError> {
    if args.tenants == 0 {
        return Err("--tenants must be at least 1".into());
    }
    if !(args.rate > 0.0 && args.spike > 0.0 && args.seconds > 0.0) {
        return Err("--rate, --spike and --seconds must be positive".into());
    }
    let baseline_end = args.baseline_seconds.unwrap_or(args.seconds / 2.0);
    if !(baseline_end > 0.0 && baseline_end < args.seconds) {
        return Err("--baseline-seconds must be within (0, --seconds)".into());
    }
    let phases = Phases {
        warmup: args
            .warmup_seconds
            .unwrap_or((baseline_end / 10.0).min(3.0))
            .clamp(0.0, baseline_end / 2.0),
        baseline_end,
        end: args.seconds,
    };

    let durability = parse_durability(&args.durability)?;
    let path = corpus_path(args);
    let corpus = load_corpus(&path)?;
    let terms = query_terms(&corpus);
    let schema = Schema::logs();
    let f = fields(&schema)?;
    let queries: Vec<Query> = terms
        .iter()
        .map(|t| Query::term(f.body, t.as_str()))
        .collect();
    eprintln!(
        "corpus {}: {} documents; queries: {}",
        path.display(),
        corpus.len(),
        terms.join(", ")
    );
    // The fixed part of the memory: the program, the corpus sample, the
    // allocator; measured before any writer exists.
    let rss_baseline = rss_bytes().unwrap_or(0);
    let anon_baseline = proc_status_bytes("RssAnon").unwrap_or(0);

    let tmp;
    let root = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => {
            tmp = tempfile::Builder::new()
                .prefix("lucerna-spike-")
                .tempdir()?;
            tmp.path().to_path_buf()
        }
    };

    let limiter = match args.throttle_mb {
        Some(mb) => RateLimiter::fixed(mb)?,
        None => RateLimiter::auto(AutoThrottle::default())?,
    };
    let mut sched_config = SchedulerConfig {
        rate_limiter: Arc::new(limiter),
        min_throttled_merge_bytes: (args.min_throttled_mb * MIB as f64) as u64,
        quantum_bytes: ((args.quantum_mb * MIB as f64) as u64).max(1),
        ..SchedulerConfig::default()
    };
    if let Some(t) = args.merge_threads {
        sched_config.threads = t;
    }
    let merge_threads = sched_config.threads;
    let scheduler = Arc::new(MergeScheduler::new(sched_config)?);
    let bp = BackpressureConfig {
        soft_pending_merge_bytes: args.soft_backlog_mb * MIB,
        hard_pending_merge_bytes: args.hard_backlog_mb * MIB,
        ..BackpressureConfig::default()
    };
    let mem_budget = args.mem_mb.max(1) << 20;
    let page_budget = (args.page_budget_mb > 0).then(|| PageBudget::new(args.page_budget_mb * MIB));
    let mut tenants = Vec::with_capacity(args.tenants);
    for i in 0..args.tenants {
        let p = root.join(format!("tenant-{i}"));
        if p.exists() {
            std::fs::remove_dir_all(&p)?;
        }
        let mut index = Index::create(FsDirectory::open(&p)?, schema.clone())?;
        if let Some(b) = &page_budget {
            index = index.with_page_budget(b.clone());
        }
        let writer = index.writer(
            WriterConfig::default()
                .mem_budget(mem_budget)
                .threads(1)
                .merge_scheduler(scheduler.clone())
                .backpressure(bp)
                .durability(durability),
        )?;
        tenants.push(Tenant {
            index,
            writer,
            path: p,
            acked: AtomicU64::new(0),
            spiking: i == 0,
        });
    }
    let writer_budget_bytes = (mem_budget * args.tenants) as u64;
    let page_budget_bytes = page_budget.as_ref().map_or(0, |b| b.limit_bytes());
    let budget_bytes = writer_budget_bytes + page_budget_bytes;
    eprintln!(
        "{} tenants, base rate {} docs/s, tenant 0 x{} from {:.0} s to {:.0} s; budget {} MiB per \
         writer, {} merge thread(s), throttle {}, durability {}",
        args.tenants,
        args.rate,
        args.spike,
        phases.baseline_end,
        phases.end,
        args.mem_mb,
        merge_threads,
        args.throttle_mb
            .map_or("auto".to_string(), |mb| format!("{mb} MiB/s")),
        args.durability,
    );

    let stop = AtomicBool::new(false);
    let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
    let start = Instant::now();
    let mut samples: Vec<Sample> = Vec::new();
    let mut at_switch: Option<Vec<WriterMetrics>> = None;
    let mut peak_rss_seen = 0u64;
    let n = tenants.len();
    let (peak_anon, peak_file) = (AtomicU64::new(0), AtomicU64::new(0));

    let shared = Shared {
        phases,
        start,
        corpus: &corpus,
        fields: &f,
        stop: &stop,
    };
    let (writer_out, search_out) = std::thread::scope(|s| {
        let mut wh = Vec::with_capacity(n);
        let mut sh = Vec::with_capacity(n);
        for (i, t) in tenants.iter().enumerate() {
            let schedule = Schedule {
                base: args.rate,
                spike: if t.spiking {
                    args.rate * args.spike
                } else {
                    args.rate
                },
                switch: phases.baseline_end,
            };
            let shared = &shared;
            wh.push(s.spawn(move || writer_loop(t, i, schedule, shared)));
            let (scheduler, queries, stop_rx) = (&scheduler, &queries, stop_rx.clone());
            sh.push(s.spawn(move || {
                searcher_loop(t, scheduler, queries, phases, args, start, &stop_rx)
            }));
        }
        // Peaks of the anonymous and file-backed parts of the RSS, every 10 ms
        // (the kernel keeps a high-water mark of the total only).
        let mem = {
            let (stop_rx, peak_anon, peak_file) = (stop_rx.clone(), &peak_anon, &peak_file);
            s.spawn(move || {
                let tick = crossbeam_channel::tick(Duration::from_millis(10));
                loop {
                    select! {
                        recv(stop_rx) -> _ => break,
                        recv(tick) -> _ => {}
                    }
                    if let Some(a) = proc_status_bytes("RssAnon") {
                        peak_anon.fetch_max(a, Ordering::Relaxed);
                    }
                    if let Some(f) = proc_status_bytes("RssFile") {
                        peak_file.fetch_max(f, Ordering::Relaxed);
                    }
                }
            })
        };
        // The sampler: every 100 ms, a timeline point every second.
        let tick = crossbeam_channel::tick(SAMPLE_EVERY);
        let mut last_acked = vec![0u64; n];
        let mut last_t = 0.0f64;
        let mut next_sample = 1.0f64;
        loop {
            let _ = tick.recv();
            let t = start.elapsed().as_secs_f64();
            if let Some(r) = rss_bytes() {
                peak_rss_seen = peak_rss_seen.max(r);
            }
            if at_switch.is_none() && t >= phases.baseline_end {
                at_switch = Some(tenants.iter().map(|t| t.writer.metrics()).collect());
            }
            if t >= next_sample || t >= phases.end {
                let metrics: Vec<WriterMetrics> =
                    tenants.iter().map(|t| t.writer.metrics()).collect();
                let dt = (t - last_t).max(1e-9);
                let acked: Vec<u64> = tenants
                    .iter()
                    .map(|t| t.acked.load(Ordering::Relaxed))
                    .collect();
                samples.push(Sample {
                    t,
                    docs_per_s: acked
                        .iter()
                        .zip(&last_acked)
                        .map(|(a, b)| (a - b) as f64 / dt)
                        .collect(),
                    backlog_bytes: metrics.iter().map(|m| m.pending_merge_bytes).collect(),
                    segments: metrics.iter().map(|m| m.segments).collect(),
                    throttle_mb_per_s: metrics.first().map_or(0.0, |m| m.throttle_mb_per_s),
                    rss_bytes: rss_bytes().unwrap_or(0),
                    rss_anon_bytes: proc_status_bytes("RssAnon").unwrap_or(0),
                    rss_file_bytes: proc_status_bytes("RssFile").unwrap_or(0),
                });
                last_acked = acked;
                last_t = t;
                next_sample += 1.0;
                if !args.json {
                    let row: Vec<String> = samples
                        .last()
                        .map(|s| {
                            s.docs_per_s
                                .iter()
                                .zip(&s.backlog_bytes)
                                .map(|(d, b)| {
                                    format!("{:>7.0}/s {:>5.1}M", d, *b as f64 / MIB as f64)
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    let (anon, file) = samples
                        .last()
                        .map_or((0, 0), |s| (s.rss_anon_bytes, s.rss_file_bytes));
                    eprintln!(
                        "t={t:>5.1}s  {}  rss anon {:.1}M file {:.1}M",
                        row.join("  "),
                        anon as f64 / MIB as f64,
                        file as f64 / MIB as f64
                    );
                }
            }
            if t >= phases.end {
                break;
            }
        }
        stop.store(true, Ordering::Release);
        drop(stop_tx);
        let writer_out: Vec<WriterOutcome> = wh
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect();
        let search_out: Vec<SearchOutcome> = sh
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect();
        mem.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        (writer_out, search_out)
    });
    let at_switch =
        at_switch.unwrap_or_else(|| tenants.iter().map(|t| t.writer.metrics()).collect());

    // Final commit of every tenant (merges are not waited for), then close.
    let mut end_metrics = Vec::with_capacity(n);
    for t in &tenants {
        t.writer.commit()?;
        end_metrics.push(t.writer.metrics());
        t.writer.close()?;
    }
    scheduler.shutdown(ShutdownMode::Abort);
    let peak_rss = peak_rss_bytes().unwrap_or(peak_rss_seen).max(peak_rss_seen);

    let mut rows = Vec::with_capacity(n);
    for (i, t) in tenants.iter().enumerate() {
        let w = &writer_out[i];
        let so = &search_out[i];
        let m = &end_metrics[i];
        let m0 = &at_switch[i];
        // A fresh index handle: reads the final commit from disk.
        let reopened = Index::open(FsDirectory::open(&t.path)?)?;
        let (found, missing) = verify(&reopened, &f, &w.acked_ids, w.acked)?;
        let _ = &t.index;
        let search = if so.spike_merging.n > 0 {
            &so.spike_merging
        } else {
            &so.spike_all
        };
        rows.push(json!({
            "tenant": i,
            "spiking": t.spiking,
            "docs_per_s": w.spike_docs as f64 / phases.spike_len(),
            "baseline_docs_per_s": w.baseline_docs as f64 / phases.baseline_len(),
            "target_docs_per_s": if t.spiking { args.rate * args.spike } else { args.rate },
            "add_p50_us": w.spike_lat.quantile_us(0.5),
            "add_p99_us": w.spike_lat.quantile_us(0.99),
            "add_max_us": w.spike_lat.max_us(),
            "baseline_add_p50_us": w.baseline_lat.quantile_us(0.5),
            "baseline_add_p99_us": w.baseline_lat.quantile_us(0.99),
            "baseline_add_max_us": w.baseline_lat.max_us(),
            "delayed_s": delta_secs(m.delayed_time, m0.delayed_time),
            "stalled_s": delta_secs(m.stalled_time, m0.stalled_time),
            "baseline_delayed_s": m0.delayed_time.as_secs_f64(),
            "baseline_stalled_s": m0.stalled_time.as_secs_f64(),
            "delays": m.delays,
            "stalls": m.stalls,
            "peak_backlog_bytes": m.peak_pending_merge_bytes,
            "hard_limit_bytes": bp.hard_pending_merge_bytes,
            "soft_limit_bytes": bp.soft_pending_merge_bytes,
            "write_amplification": m.write_amplification,
            "merges_completed": m.merges_completed,
            "merges_failed": m.merges_failed,
            "segments_at_end": m.segments,
            "bytes_flushed": m.bytes_flushed,
            "bytes_merged": m.bytes_merged,
            "merge_mb_per_s": m.merge_mb_per_s,
            "search_p99_us": search.quantile_us(0.99),
            "search_p50_us": search.quantile_us(0.5),
            "search_samples": search.n,
            "baseline_search_p99_us": so.baseline_merging.quantile_us(0.99),
            "nrt_reopen_p99_us": so.reopen.quantile_us(0.99),
            "search_errors": so.errors,
            "acked_docs": w.acked,
            "found_docs": found,
            "lost_docs": missing,
            "add_errors": w.errors,
            "last_add_error": w.last_error,
            "last_search_error": so.last_error,
            "skipped_docs": w.skipped,
        }));
    }

    let index_bytes: u64 = tenants.iter().map(|t| dir_bytes(&t.path)).sum();
    // With a page budget, file-backed pages (the program's code among
    // them) are inside the budgets, so the baseline is the anonymous one;
    // without, the whole starting RSS.
    let rss_limit = (1.1 * budget_bytes as f64) as u64
        + if page_budget.is_some() {
            anon_baseline
        } else {
            rss_baseline
        };
    let anon_limit = (1.1 * writer_budget_bytes as f64) as u64 + anon_baseline;
    let peak_anon = peak_anon.load(Ordering::Relaxed);
    let peak_file = peak_file.load(Ordering::Relaxed);
    let mut goals = Vec::new();
    let mut all_ok = true;
    for r in &rows {
        let tenant = r["tenant"].as_u64().unwrap_or(0);
        let num = |k: &str| r[k].as_f64().unwrap_or(0.0);
        if r["spiking"].as_bool() == Some(true) {
            let ok = r["peak_backlog_bytes"].as_u64() < r["hard_limit_bytes"].as_u64();
            all_ok &= ok;
            goals.push(json!({"tenant": tenant, "goal": "peak backlog < hard limit", "ok": ok}));
        } else {
            let ok = num("docs_per_s") >= 0.9 * num("baseline_docs_per_s");
            all_ok &= ok;
            goals.push(json!({"tenant": tenant, "goal": "docs/s >= 90% of baseline", "ok": ok}));
            let ok = num("add_p99_us") <= 2.0 * num("baseline_add_p99_us");
            all_ok &= ok;
            goals.push(json!({"tenant": tenant, "goal": "add p99 <= 2x baseline", "ok": ok}));
        }
        let ok = r["lost_docs"].as_u64() == Some(0) && r["add_errors"].as_u64() == Some(0);
        all_ok &= ok;
        goals.push(json!({"tenant": tenant, "goal": "0 documents lost, 0 add errors", "ok": ok}));
    }
    let rss_ok = peak_rss <= rss_limit;
    all_ok &= rss_ok;
    goals.push(json!({"goal": "peak RSS (VmHWM) <= 1.1 x budgets + baseline", "ok": rss_ok}));
    let anon_ok = peak_anon <= anon_limit;
    all_ok &= anon_ok;
    goals.push(
        json!({"goal": "peak anonymous RSS <= 1.1 x budgets + anonymous baseline", "ok": anon_ok}),
    );

    if let Some(p) = &args.plot {
        std::fs::write(p, plot_svg(&samples, phases, args))?;
        eprintln!("timeline written to {}", p.display());
    }

    Ok(json!({
        "tenants": rows,
        "peak_rss_bytes": peak_rss,
        "budget_bytes": budget_bytes,
        "writer_budget_bytes": writer_budget_bytes,
        "page_budget_bytes": page_budget_bytes,
        "page_budget_checks": page_budget.as_ref().map_or(0, |b| b.checks()),
        "page_budget_releases": page_budget.as_ref().map_or(0, |b| b.releases()),
        "rss_baseline_bytes": rss_baseline,
        "rss_limit_baseline_bytes": if page_budget.is_some() { anon_baseline } else { rss_baseline },
        "rss_limit_bytes": rss_limit,
        "rss_ok": rss_ok,
        "peak_anon_rss_bytes": peak_anon,
        "rss_anon_baseline_bytes": anon_baseline,
        "anon_limit_bytes": anon_limit,
        "anon_ok": anon_ok,
        "peak_file_rss_bytes": peak_file,
        "index_bytes_at_end": index_bytes,
        "malloc_tuned": malloc_tuned,
        "goals": goals,
        "goals_met": all_ok,
        "config": {
            "tenants": args.tenants,
            "spike": args.spike,
            "seconds": args.seconds,
            "baseline_seconds": phases.baseline_end,
            "warmup_seconds": phases.warmup,
            "rate": args.rate,
            "mem_mb_per_writer": args.mem_mb,
            "merge_threads": merge_threads,
            "throttle_mb": args.throttle_mb,
            "min_throttled_mb": args.min_throttled_mb,
            "quantum_mb": args.quantum_mb,
            "soft_backlog_mb": args.soft_backlog_mb,
            "hard_backlog_mb": args.hard_backlog_mb,
            "reopen_ms": args.reopen_ms,
            "query_ms": args.query_ms,
            "durability": args.durability,
            "corpus_docs": corpus.len(),
            "queries": terms,
        },
        "timeline": samples.iter().map(|s| json!({
            "t": s.t,
            "docs_per_s": s.docs_per_s,
            "backlog_bytes": s.backlog_bytes,
            "segments": s.segments,
            "throttle_mb_per_s": if s.throttle_mb_per_s.is_finite() { s.throttle_mb_per_s } else { -1.0 },
            "rss_bytes": s.rss_bytes,
            "rss_anon_bytes": s.rss_anon_bytes,
            "rss_file_bytes": s.rss_file_bytes,
        })).collect::<Vec<_>>(),
    }))
}

// ---------------------------------------------------------------------------
// Output

fn print_table(out: &Value) {
    let mib = |v: &Value| v.as_u64().unwrap_or(0) as f64 / MIB as f64;
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    println!(
        "{:>6} {:>5} | {:>9} {:>9} | {:>8} {:>8} {:>9} {:>9} | {:>7} {:>7} | {:>8} {:>8} | {:>5} | {:>9} | {:>5}",
        "tenant", "spike", "docs/s", "base/s", "p50 µs", "p99 µs", "max µs", "base p99", "delay s",
        "stall s", "peak MiB", "hard MiB", "WA", "srch p99", "lost"
    );
    for r in out["tenants"].as_array().into_iter().flatten() {
        println!(
            "{:>6} {:>5} | {:>9.0} {:>9.0} | {:>8.1} {:>8.1} {:>9.0} {:>9.1} | {:>7.2} {:>7.2} | {:>8.1} {:>8.1} | {:>5.2} | {:>9.0} | {:>5}",
            r["tenant"],
            if r["spiking"].as_bool() == Some(true) { "yes" } else { "no" },
            f(&r["docs_per_s"]),
            f(&r["baseline_docs_per_s"]),
            f(&r["add_p50_us"]),
            f(&r["add_p99_us"]),
            f(&r["add_max_us"]),
            f(&r["baseline_add_p99_us"]),
            f(&r["delayed_s"]),
            f(&r["stalled_s"]),
            mib(&r["peak_backlog_bytes"]),
            mib(&r["hard_limit_bytes"]),
            f(&r["write_amplification"]),
            f(&r["search_p99_us"]),
            r["lost_docs"],
        );
    }
    println!(
        "peak RSS {:.1} MiB; limit 1.1 x ({:.1} MiB writer budgets + {:.1} MiB page budget) + \
         {:.1} MiB baseline = {:.1} MiB: {}",
        mib(&out["peak_rss_bytes"]),
        mib(&out["writer_budget_bytes"]),
        mib(&out["page_budget_bytes"]),
        mib(&out["rss_limit_baseline_bytes"]),
        mib(&out["rss_limit_bytes"]),
        if out["rss_ok"].as_bool() == Some(true) {
            "ok"
        } else {
            "EXCEEDED"
        }
    );
    println!(
        "  of which anonymous (heap, stacks) peak {:.1} MiB, limit 1.1 x budgets + {:.1} MiB \
         anonymous baseline = {:.1} MiB: {}; file-backed (mapped index files, binary) peak {:.1} \
         MiB, index on disk at the end {:.1} MiB; page budget: {} of {} queries released \
         pages; malloc tuned: {}",
        mib(&out["peak_anon_rss_bytes"]),
        mib(&out["rss_anon_baseline_bytes"]),
        mib(&out["anon_limit_bytes"]),
        if out["anon_ok"].as_bool() == Some(true) {
            "ok"
        } else {
            "EXCEEDED"
        },
        mib(&out["peak_file_rss_bytes"]),
        mib(&out["index_bytes_at_end"]),
        out["page_budget_releases"],
        out["page_budget_checks"],
        out["malloc_tuned"],
    );
    for g in out["goals"].as_array().into_iter().flatten() {
        let who = g["tenant"]
            .as_u64()
            .map_or(String::new(), |t| format!("tenant {t}: "));
        println!(
            "goal {}{}: {}",
            who,
            g["goal"].as_str().unwrap_or(""),
            if g["ok"].as_bool() == Some(true) {
                "met"
            } else {
                "MISSED"
            }
        );
    }
}

const COLORS: [&str; 8] = [
    "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
];

/// A named, coloured series of (time, value) points.
type Series<'a> = (String, &'a str, Vec<(f64, f64)>);

/// One panel of the timeline: a polyline per series.
fn panel(
    svg: &mut String,
    top: f64,
    title: &str,
    unit: &str,
    series: &[Series<'_>],
    t_end: f64,
    spike: (f64, f64),
) {
    const LEFT: f64 = 70.0;
    const WIDTH: f64 = 860.0;
    const HEIGHT: f64 = 150.0;
    let ymax = series
        .iter()
        .flat_map(|s| s.2.iter().map(|p| p.1))
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max)
        .max(1e-9)
        * 1.1;
    let x = |t: f64| LEFT + WIDTH * (t / t_end.max(1e-9)).clamp(0.0, 1.0);
    let y = |v: f64| top + HEIGHT - HEIGHT * (v / ymax).clamp(0.0, 1.0);
    let _ = writeln!(
        svg,
        r##"<rect x="{:.1}" y="{top:.1}" width="{:.1}" height="{HEIGHT}" fill="#fff4e5"/>"##,
        x(spike.0),
        x(spike.1) - x(spike.0)
    );
    let _ = writeln!(
        svg,
        r##"<rect x="{LEFT}" y="{top:.1}" width="{WIDTH}" height="{HEIGHT}" fill="none" stroke="#888"/>"##
    );
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="{:.1}" font-size="13" font-weight="bold">{title}</text>"#,
        top - 6.0
    );
    for k in 0..=4 {
        let v = ymax * k as f64 / 4.0;
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">{:.1}{unit}</text><line x1="{LEFT}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#ddd"/>"##,
            LEFT - 4.0,
            y(v) + 3.0,
            v,
            LEFT + WIDTH,
            y(v),
            y(v)
        );
    }
    for (name, color, pts) in series {
        let pts: String = pts
            .iter()
            .filter(|p| p.1.is_finite())
            .map(|&(t, v)| format!("{:.1},{:.1}", x(t), y(v)))
            .collect::<Vec<_>>()
            .join(" ");
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{pts}"><title>{name}</title></polyline>"#
        );
    }
}

/// The timeline as a self-contained SVG document.
fn plot_svg(samples: &[Sample], phases: Phases, args: &Args) -> String {
    let n = samples.first().map_or(0, |s| s.docs_per_s.len());
    let t_end = phases.end;
    let spike = (phases.baseline_end, phases.end);
    let mut svg = String::new();
    let height = 40.0 + 4.0 * 190.0 + 40.0;
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="960" height="{height}" font-family="sans-serif">"#
    );
    let _ = writeln!(
        svg,
        r##"<rect width="100%" height="100%" fill="white"/><text x="70" y="22" font-size="15">Spike scenario: {} tenants, base {} docs/s, tenant 0 x{} in the shaded window (red = tenant 0)</text>"##,
        args.tenants, args.rate, args.spike
    );
    let per_tenant = |f: &dyn Fn(&Sample, usize) -> f64| -> Vec<Series<'_>> {
        (0..n)
            .map(|i| {
                (
                    format!("tenant {i}"),
                    COLORS[i % COLORS.len()],
                    samples.iter().map(|s| (s.t, f(s, i))).collect(),
                )
            })
            .collect()
    };
    panel(
        &mut svg,
        60.0,
        "throughput per tenant (docs/s)",
        "",
        &per_tenant(&|s, i| s.docs_per_s[i]),
        t_end,
        spike,
    );
    panel(
        &mut svg,
        250.0,
        "merge backlog per tenant (MiB)",
        "",
        &per_tenant(&|s, i| s.backlog_bytes[i] as f64 / MIB as f64),
        t_end,
        spike,
    );
    panel(
        &mut svg,
        440.0,
        "segments per tenant",
        "",
        &per_tenant(&|s, i| s.segments[i] as f64),
        t_end,
        spike,
    );
    let throttle: Vec<(f64, f64)> = samples.iter().map(|s| (s.t, s.throttle_mb_per_s)).collect();
    let rss: Vec<(f64, f64)> = samples
        .iter()
        .map(|s| (s.t, s.rss_bytes as f64 / MIB as f64))
        .collect();
    panel(
        &mut svg,
        630.0,
        "merge throttle (MiB/s, shared by all tenants: black) and process RSS (MiB: grey)",
        "",
        &[
            ("throttle MiB/s".to_string(), "#000000", throttle),
            ("RSS MiB".to_string(), "#999999", rss),
        ],
        t_end,
        spike,
    );
    let _ = writeln!(
        svg,
        r#"<text x="70" y="{:.1}" font-size="11">time (s), 0 to {:.0}; spike window shaded</text>"#,
        630.0 + 150.0 + 20.0,
        t_end
    );
    svg.push_str("</svg>\n");
    svg
}

fn main() {
    let args = Args::parse();
    let malloc_tuned = !args.no_malloc_tuning && tune_malloc();
    match run(&args, malloc_tuned) {
        Ok(out) => {
            print_table(&out);
            if args.json {
                println!("{out}");
            }
            if args.check && out["goals_met"].as_bool() != Some(true) {
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("spike: {e}");
            std::process::exit(2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_are_upper_bounds_within_a_bucket() {
        let mut h = Hist::new();
        assert_eq!(h.quantile_us(0.99), 0.0);
        for us in 1..=1000u64 {
            h.record(Duration::from_micros(us));
        }
        let p50 = h.quantile_us(0.5);
        let p99 = h.quantile_us(0.99);
        assert!((500.0..=500.0 * 1.04).contains(&p50), "{p50}");
        assert!((990.0..=1000.0).contains(&p99), "{p99}");
        assert_eq!(h.max_us(), 1000.0);
        assert_eq!(h.n, 1000);
        // Every value lies in a bucket whose top is at least the value.
        for v in [0u64, 1, 31, 32, 33, 1000, 123_456_789, u64::MAX >> 1] {
            assert!(Hist::bucket_top(Hist::bucket(v)) >= v, "{v}");
        }
    }

    #[test]
    fn schedule_inverts() {
        let s = Schedule {
            base: 100.0,
            spike: 1000.0,
            switch: 10.0,
        };
        assert_eq!(s.due(5.0), 500.0);
        assert_eq!(s.due(11.0), 2000.0);
        for n in [1.0, 999.0, 1000.0, 1500.0, 20_000.0] {
            assert!((s.due(s.time_of(n)) - n).abs() < 1e-6, "{n}");
        }
    }

    #[test]
    fn durability_flag() {
        assert_eq!(parse_durability("none").ok(), Some(Durability::None));
        assert_eq!(parse_durability("sync").ok(), Some(Durability::Sync));
        assert_eq!(
            parse_durability("interval:250").ok(),
            Some(Durability::Interval(Duration::from_millis(250)))
        );
        assert!(parse_durability("sometimes").is_err());
    }

    #[test]
    fn a_missing_corpus_says_how_to_build_it() {
        let e = load_corpus(Path::new("no/such/logs.jsonl"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("prepare.sh"), "{e}");
    }
}
