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
//! It also reports the process's peak RSS against the configured budgets
//! (the writers' memory budgets and the searchers' shared page budget) plus
//! the memory measured before the writers start.
//!
//! ```sh
//! cargo run --release -p lucerna-benches --bin spike -- \
//!     --tenants 4 --spike 10 --seconds 60 [--json] [--plot spike.svg]
//! ```
//!
//! The overload case: a spike far beyond what the spiking tenant's merges
//! absorb, with two writer threads on it, judged also on its admitted rate
//! (steady from second to second, close to what its merges sustain, add
//! p99 within 10 ms):
//!
//! ```sh
//! cargo run --release -p lucerna-benches --bin spike -- \
//!     --tenants 4 --spike 100 --seconds 40 --spike-writers 2 --overload
//! ```
//!
//! With `--json` the last line of stdout is one JSON object. With `--plot`
//! a per-second timeline (throughput, merge backlog and segments per
//! tenant, the merge throttle rate and RSS) is written as an SVG file.
// Denied, not forbidden: `memory::tune_malloc` calls `mallopt` (allowed there).
#![deny(unsafe_code)]

mod args;
mod corpus;
mod hist;
mod memory;
mod overload;
mod plot;
mod quiet;
mod report;
mod timeline;
mod workload;

use args::{parse_durability, Args};
use clap::Parser;
use corpus::{corpus_source, load, query_terms};
use lucerna::index::PageBudget;
use lucerna::merge::{
    AutoThrottle, BackpressureConfig, MergeScheduler, RateLimiter, SchedulerConfig, ShutdownMode,
    MIB,
};
use lucerna::schema::Schema;
use lucerna::store::FsDirectory;
use lucerna::{Index, Query, WriterConfig, WriterMetrics};
use memory::{peak_rss_bytes, proc_status_bytes, rss_bytes, tune_malloc};
use report::{MemoryFigures, Setup, TenantFigures};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use timeline::Sample;
use workload::{
    dir_bytes, fields, searcher_loop, verify, writer_loop, Phases, Schedule, SearchOutcome, Shared,
    Tenant, WriterOutcome, WriterThread,
};

/// The error of the run (printed, then exit status 2).
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How often the sampler looks at the writers.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// Runs the scenario; returns the report as one JSON object.
fn run(args: &Args, malloc_tuned: bool) -> Result<Value, BoxError> {
    let phases = check_args(args)?;
    let durability = parse_durability(&args.durability)?;
    let w = Workload::load(args)?;
    // The fixed part of the memory: the program, the w.corpus sample, the
    // allocator; measured before any writer exists.
    let rss_baseline = rss_bytes().unwrap_or(0);
    let anon_baseline = proc_status_bytes("RssAnon").unwrap_or(0);

    // The temporary directory (if any) is removed when `_tmp` drops.
    let (root, _tmp) = run_dir(args)?;

    let (scheduler, merge_threads, bp) = shared_scheduler(args)?;
    let mem_budget = args.mem_mib.max(1) << 20;
    let page_budget =
        (args.page_budget_mib > 0).then(|| PageBudget::new(args.page_budget_mib * MIB));
    let tenants = create_tenants(
        args,
        &root,
        &w.schema,
        &scheduler,
        bp,
        durability,
        &page_budget,
    )?;
    print_setup(args, phases, merge_threads);

    let stop = AtomicBool::new(false);
    let start = Instant::now();
    let (peak_anon, peak_file) = (AtomicU64::new(0), AtomicU64::new(0));

    let shared = Shared {
        phases,
        start,
        corpus: &w.corpus,
        fields: &w.f,
        stop: &stop,
    };
    let peaks = (&peak_anon, &peak_file);
    let (writer_out, search_out, sampled) =
        drive(args, &tenants, &shared, &scheduler, &w.queries, peaks);
    let Sampled {
        samples,
        at_switch,
        peak_rss_seen,
    } = sampled;
    let at_switch =
        at_switch.unwrap_or_else(|| tenants.iter().map(|t| t.writer.metrics()).collect());

    // Final commit of every tenant (merges are not waited for), then close.
    let end_metrics = close_tenants(&tenants)?;
    scheduler.shutdown(ShutdownMode::Abort);
    let peak_rss = peak_rss_bytes().unwrap_or(peak_rss_seen).max(peak_rss_seen);

    let setup = Setup {
        args,
        phases,
        backpressure: bp,
        merge_threads,
        corpus: w.source.name(),
        corpus_docs: w.corpus.len(),
        queries: &w.terms,
    };
    let rows = tenant_rows(
        &tenants,
        &writer_out,
        &search_out,
        &at_switch,
        &end_metrics,
        &w.f,
        &setup,
    )?;

    let index_bytes: u64 = tenants.iter().map(|t| dir_bytes(&t.path)).sum();
    let memory = MemoryFigures {
        peak_rss,
        writer_budget_bytes: (mem_budget * args.tenants) as u64,
        page_budget_bytes: page_budget.as_ref().map_or(0, |b| b.limit_bytes()),
        page_budget: page_budget.is_some(),
        page_budget_checks: page_budget.as_ref().map_or(0, |b| b.checks()),
        page_budget_releases: page_budget.as_ref().map_or(0, |b| b.releases()),
        rss_baseline,
        anon_baseline,
        peak_anon: peak_anon.load(Ordering::Relaxed),
        peak_file: peak_file.load(Ordering::Relaxed),
        index_bytes,
        malloc_tuned,
    };

    let spiking: Vec<bool> = tenants.iter().map(|t| t.spiking).collect();
    let quiet = quiet::QuietLatency::measure(&writer_out, &search_out, &spiking, phases);
    if let Some(p) = &args.plot {
        std::fs::write(p, plot::plot_svg(&samples, &quiet, phases, args))?;
        eprintln!("timeline written to {}", p.display());
    }

    let mut out = report::summary(&setup, rows, &memory, &samples);
    out["quiet_latency"] = quiet.to_json();
    Ok(out)
}

/// The documents the writers add and the queries the searchers run.
struct Workload {
    source: corpus::Source,
    corpus: Vec<corpus::Line>,
    /// The query terms.
    terms: Vec<String>,
    schema: Schema,
    f: workload::Fields,
    queries: Vec<Query>,
}

impl Workload {
    fn load(args: &Args) -> Result<Workload, BoxError> {
        let source = corpus_source(args);
        let corpus = load(&source)?;
        let terms = query_terms(&corpus);
        let schema = Schema::logs();
        let f = fields(&schema)?;
        let queries: Vec<Query> = terms
            .iter()
            .map(|t| Query::term(f.body, t.as_str()))
            .collect();
        eprintln!(
            "corpus {}: {} documents; queries: {}",
            source.name(),
            corpus.len(),
            terms.join(", ")
        );
        Ok(Workload {
            source,
            corpus,
            terms,
            schema,
            f,
            queries,
        })
    }
}

/// Where the tenants' indexes go: `--dir`, or a new temporary directory
/// (returned too: it is removed when dropped).
fn run_dir(args: &Args) -> Result<(std::path::PathBuf, Option<tempfile::TempDir>), BoxError> {
    Ok(match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            (d.clone(), None)
        }
        None => {
            let tmp = tempfile::Builder::new()
                .prefix("lucerna-spike-")
                .tempdir()?;
            (tmp.path().to_path_buf(), Some(tmp))
        }
    })
}

/// The scenario's set-up, on standard error.
fn print_setup(args: &Args, phases: Phases, merge_threads: usize) {
    eprintln!(
        "{} tenants, base rate {} docs/s, tenant 0 x{} ({} writer thread(s)) from {:.0} s to {:.0} \
         s; budget {} MiB per writer, {} merge thread(s), throttle {}, durability {}",
        args.tenants,
        args.rate,
        args.spike,
        args.spike_writers.max(1),
        phases.baseline_end,
        phases.end,
        args.mem_mib,
        merge_threads,
        args.throttle_mib_per_s
            .map_or("auto".to_string(), |mb| format!("{mb} MiB/s")),
        args.durability,
    );
}

/// Runs the scenario: the writer threads of every tenant, a searcher
/// thread per tenant, a memory tracker, and the sampler on this thread
/// until the end of the run; then stops and joins them all.
fn drive(
    args: &Args,
    tenants: &[Tenant],
    shared: &Shared<'_>,
    scheduler: &Arc<MergeScheduler>,
    queries: &[Query],
    peaks: (&AtomicU64, &AtomicU64),
) -> (Vec<WriterOutcome>, Vec<SearchOutcome>, Sampled) {
    let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
    let (phases, start) = (shared.phases, shared.start);
    let (peak_anon, peak_file) = peaks;
    let mut sampled = Sampled::default();
    let (writer_out, search_out) = std::thread::scope(|s| {
        let mut wh = Vec::with_capacity(tenants.len());
        let mut sh = Vec::with_capacity(tenants.len());
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
            let count = if t.spiking {
                args.spike_writers.max(1)
            } else {
                1
            };
            let threads: Vec<_> = (0..count)
                .map(|index| {
                    let thread = WriterThread { index, count };
                    s.spawn(move || writer_loop(t, i, thread, schedule, shared))
                })
                .collect();
            wh.push(threads);
            let stop_rx = stop_rx.clone();
            sh.push(s.spawn(move || {
                searcher_loop(t, scheduler, queries, phases, args, start, &stop_rx)
            }));
        }
        // Peaks of the anonymous and file-backed parts of the RSS, every 10 ms
        // (the kernel keeps a high-water mark of the total only).
        let mem = {
            let stop_rx = stop_rx.clone();
            s.spawn(move || memory::track_peaks(&stop_rx, peak_anon, peak_file))
        };
        // The sampler: every 100 ms, a timeline point every second.
        sampled = sample(args, phases, start, tenants);
        shared.stop.store(true, Ordering::Release);
        drop(stop_tx);
        let writer_out: Vec<WriterOutcome> = wh
            .into_iter()
            .map(|threads| {
                threads
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                    .reduce(|mut all, o| {
                        all.merge(o);
                        all
                    })
                    .unwrap_or_else(WriterOutcome::new)
            })
            .collect();
        let search_out: Vec<SearchOutcome> = sh
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect();
        mem.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        (writer_out, search_out)
    });
    (writer_out, search_out, sampled)
}

/// Commits and closes every tenant's writer; their final metrics.
fn close_tenants(tenants: &[Tenant]) -> Result<Vec<WriterMetrics>, BoxError> {
    let mut end_metrics = Vec::with_capacity(tenants.len());
    for t in tenants {
        t.writer.commit()?;
        end_metrics.push(t.writer.metrics());
        t.writer.close()?;
    }
    Ok(end_metrics)
}

/// One report row per tenant, its acknowledged documents checked in a
/// fresh index handle.
fn tenant_rows(
    tenants: &[Tenant],
    writer_out: &[WriterOutcome],
    search_out: &[SearchOutcome],
    at_switch: &[WriterMetrics],
    end_metrics: &[WriterMetrics],
    f: &workload::Fields,
    setup: &Setup<'_>,
) -> Result<Vec<Value>, BoxError> {
    let mut rows = Vec::with_capacity(tenants.len());
    for (i, t) in tenants.iter().enumerate() {
        let w = &writer_out[i];
        // A fresh index handle: reads the final commit from disk.
        let reopened = Index::open(FsDirectory::open(&t.path)?)?;
        let (found, missing) = verify(&reopened, f, &w.acked_ids, w.acked)?;
        let _ = &t.index;
        rows.push(report::tenant_row(
            i,
            &TenantFigures {
                spiking: t.spiking,
                writer: w,
                search: &search_out[i],
                at_switch: &at_switch[i],
                at_end: &end_metrics[i],
                found,
                missing,
            },
            setup,
        ));
    }
    Ok(rows)
}

/// What the sampler of [`run`] gathers.
#[derive(Default)]
struct Sampled {
    /// The timeline, a point a second.
    samples: Vec<Sample>,
    /// Every writer's metrics when the spike started.
    at_switch: Option<Vec<WriterMetrics>>,
    /// The largest RSS seen.
    peak_rss_seen: u64,
}

/// Samples the run every 100 ms until its end: the RSS peak, the writers'
/// metrics at the switch to the spike, a timeline point every second.
fn sample(args: &Args, phases: Phases, start: Instant, tenants: &[Tenant]) -> Sampled {
    let mut samples: Vec<Sample> = Vec::new();
    let mut at_switch: Option<Vec<WriterMetrics>> = None;
    let mut peak_rss_seen = 0u64;
    let tick = crossbeam_channel::tick(SAMPLE_EVERY);
    let mut last_acked = vec![0u64; tenants.len()];
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
            let dt = (t - last_t).max(1e-9);
            let (sample, acked) = Sample::measure(t, dt, tenants, &last_acked);
            if !args.json {
                eprintln!("{}", sample.progress_line());
            }
            samples.push(sample);
            last_acked = acked;
            last_t = t;
            next_sample += 1.0;
        }
        if t >= phases.end {
            break;
        }
    }
    Sampled {
        samples,
        at_switch,
        peak_rss_seen,
    }
}

/// Checks the arguments and returns the run's phases.
fn check_args(args: &Args) -> Result<Phases, BoxError> {
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
    Ok(Phases {
        warmup: args
            .warmup_seconds
            .unwrap_or((baseline_end / 10.0).min(3.0))
            .clamp(0.0, baseline_end / 2.0),
        baseline_end,
        end: args.seconds,
    })
}

/// The merge scheduler every tenant shares, its thread count, and the
/// tenants' backpressure limits.
fn shared_scheduler(
    args: &Args,
) -> Result<(Arc<MergeScheduler>, usize, BackpressureConfig), BoxError> {
    let limiter = match args.throttle_mib_per_s {
        Some(mb) => RateLimiter::fixed(mb)?,
        None => RateLimiter::auto(AutoThrottle::default())?,
    };
    let mut sched_config = SchedulerConfig {
        rate_limiter: Arc::new(limiter),
        min_throttled_merge_bytes: (args.min_throttled_mib * MIB as f64) as u64,
        quantum_bytes: ((args.quantum_mib * MIB as f64) as u64).max(1),
        ..SchedulerConfig::default()
    };
    if let Some(t) = args.merge_threads {
        sched_config.threads = t;
    }
    let merge_threads = sched_config.threads;
    let scheduler = Arc::new(MergeScheduler::new(sched_config)?);
    let bp = BackpressureConfig {
        soft_pending_merge_bytes: args.soft_backlog_mib * MIB,
        hard_pending_merge_bytes: args.hard_backlog_mib * MIB,
        ..BackpressureConfig::default()
    };
    Ok((scheduler, merge_threads, bp))
}

/// One index and writer per tenant under `root` (tenant 0 spikes, with
/// `--spike-writers` writer threads).
fn create_tenants(
    args: &Args,
    root: &std::path::Path,
    schema: &Schema,
    scheduler: &Arc<MergeScheduler>,
    bp: BackpressureConfig,
    durability: lucerna::Durability,
    page_budget: &Option<Arc<PageBudget>>,
) -> Result<Vec<Tenant>, BoxError> {
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
        let writer_threads = if i == 0 { args.spike_writers.max(1) } else { 1 };
        let writer = index.writer(
            WriterConfig::default()
                .mem_budget_bytes(args.mem_mib.max(1) << 20)
                .indexing_threads(writer_threads)
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
    Ok(tenants)
}

fn main() {
    let args = Args::parse();
    let malloc_tuned = !args.no_malloc_tuning && tune_malloc();
    match run(&args, malloc_tuned) {
        Ok(out) => {
            report::print_table(&out);
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
