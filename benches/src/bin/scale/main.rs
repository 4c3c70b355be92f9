//! The scale benchmark: Lucerna and tantivy at 2 M, 6 M and 20 M real log
//! lines.
//!
//! For each size, writes that many lines of
//! [`ScaledLogs`](lucerna_benches::scaled_logs) (the peers' 32,000 real
//! log lines cycled, with distinct ids and timestamps and the numbers in
//! each line re-drawn, so the term dictionary grows as in real logs),
//! then for each engine, through the peers' command contract: indexes them
//! (2 threads, 512 MB by default) under GNU time, runs the logs query set
//! in `count` and `topk` modes, and deletes the index. Prints docs/s and
//! its change from the smallest size, index size, peak RSS, write
//! amplification, hit-count agreement, and query p50/p99 per kind with
//! their growth. At most one corpus file and one index exist at a time
//! (20 M lines: 4.9 GB of JSON lines, the largest index 2.5 GB).
//!
//! ```sh
//! cargo build --release -p lucerna-cli
//! cargo run --release -p lucerna-benches --bin scale -- --json scale.jsonl
//! ```
//!
//! `--write-corpus FILE --lines N` writes N lines to FILE and exits (for
//! the peers' `run.sh`, copied into its `corpus/out/` as
//! `scaled-logs.jsonl` with the logs query set beside it).
//!
//! The tantivy adapter is the peers' (`cd ../shared/peers/tantivy-adapter
//! && cargo build --release`, or `--tantivy PATH`); without it only
//! Lucerna runs.
#![forbid(unsafe_code)]

mod engine;
mod report;

use clap::Parser;
use engine::{Engine, IndexRun, QueryRun};
use lucerna_benches::scaled_logs::{ScaledLogs, SourceLine};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Command-line arguments.
#[derive(Parser, Debug)]
#[command(
    name = "scale",
    about = "Lucerna and tantivy at 2 M, 6 M and 20 M log lines"
)]
struct Args {
    /// Corpus sizes in lines, comma-separated (smallest first is the base).
    #[arg(
        long,
        default_value = "2000000,6000000,20000000",
        value_delimiter = ','
    )]
    lines: Vec<u64>,
    /// The real lines to scale (default: the peers' `logs.jsonl`).
    #[arg(long)]
    source: Option<PathBuf>,
    /// The query set (default: the peers' `queries-logs-public.tsv`).
    #[arg(long)]
    queries: Option<PathBuf>,
    /// Lucerna's contract program (default: `lucerna` beside this binary).
    #[arg(long)]
    lucerna: Option<PathBuf>,
    /// tantivy's contract program (default: the peers' tantivy adapter).
    #[arg(long)]
    tantivy: Option<PathBuf>,
    /// Working directory for the corpus and the indexes (default:
    /// `target/scale`).
    #[arg(long)]
    work: Option<PathBuf>,
    /// Indexing threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Indexing memory budget in MiB (`--mem-mb` of the contract, which
    /// `lucerna index` reads as MiB).
    #[arg(long, default_value_t = 512)]
    mem_mb: usize,
    /// Timed passes per query.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Hits to collect per query.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Seed of the re-drawn numbers.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Also write one JSON line per engine and size to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Only write the corpus of the largest `--lines` size to this file
    /// (for the peers' run.sh, or a profile) and exit.
    #[arg(long)]
    write_corpus: Option<PathBuf>,
}

/// What one engine measured at one size.
pub(crate) struct Measured {
    pub(crate) engine: String,
    pub(crate) lines: u64,
    pub(crate) input_bytes: u64,
    pub(crate) index: IndexRun,
    pub(crate) count: QueryRun,
    pub(crate) topk: QueryRun,
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("scale: {e}");
        std::process::exit(1);
    }
}

fn run(mut args: Args) -> Result<(), BoxError> {
    args.lines.sort_unstable();
    args.lines.dedup();
    let corpus = lucerna_benches::corpus_dir();
    let peers = corpus.join("../..");
    let source = args.source.clone().unwrap_or(corpus.join("logs.jsonl"));
    let queries = args
        .queries
        .clone()
        .unwrap_or(corpus.join("queries-logs-public.tsv"));
    let work = args
        .work
        .clone()
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/scale"));
    std::fs::create_dir_all(&work)?;
    let lines = read_source(&source)?;
    if let Some(path) = &args.write_corpus {
        let n = args.lines.last().copied().unwrap_or(0);
        let bytes = write_corpus(path, lines, args.seed, n)?;
        eprintln!(
            "scale: wrote {n} lines ({bytes} bytes) to {}",
            path.display()
        );
        return Ok(());
    }
    let engines = engines(&args, &peers)?;
    eprintln!(
        "scale: {} source lines, engines {}, sizes {:?}",
        lines.len(),
        engines
            .iter()
            .map(|e| e.name.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        args.lines
    );
    let mut json = match &args.json {
        Some(p) => Some(std::fs::File::create(p)?),
        None => None,
    };
    let mut all = Vec::new();
    let mut peak_disk = 0u64;
    for &n in &args.lines {
        let input = work.join(format!("scaled-{n}.jsonl"));
        let started = Instant::now();
        let input_bytes = write_corpus(&input, lines.clone(), args.seed, n)?;
        eprintln!(
            "scale: wrote {n} lines ({:.2} GB) in {:.0} s",
            input_bytes as f64 / 1e9,
            started.elapsed().as_secs_f64()
        );
        for e in &engines {
            let index = work.join(format!("index-{}", e.name));
            let _ = std::fs::remove_dir_all(&index);
            eprintln!("scale: {} indexes {n} lines", e.name);
            let ix = e.index(&input, &index, args.threads, args.mem_mb, &work)?;
            peak_disk = peak_disk.max(input_bytes + ix.index_bytes);
            let q = |mode: &str| {
                eprintln!("scale: {} queries ({mode})", e.name);
                let raw = work.join(format!("{}-{n}-{mode}.jsonl", e.name));
                e.query(&index, &queries, args.repeat, args.top, mode, &raw)
            };
            let (count, topk) = (q("count")?, q("topk")?);
            std::fs::remove_dir_all(&index)?;
            let m = Measured {
                engine: e.name.clone(),
                lines: n,
                input_bytes,
                index: ix,
                count,
                topk,
            };
            if let Some(f) = json.as_mut() {
                writeln!(f, "{}", report::json_line(&m, &args_json(&args)))?;
            }
            eprintln!("{}", report::one_line(&m));
            all.push(m);
        }
        std::fs::remove_file(&input)?;
    }
    print!(
        "{}",
        report::tables(&all, args.mem_mb, peak_disk, &args_json(&args))
    );
    Ok(())
}

/// The run's settings, as printed with the results.
fn args_json(a: &Args) -> serde_json::Value {
    serde_json::json!({
        "threads": a.threads, "mem_mb": a.mem_mb, "repeat": a.repeat,
        "top": a.top, "seed": a.seed,
    })
}

/// Lucerna, and tantivy when its adapter is there.
fn engines(args: &Args, peers: &Path) -> Result<Vec<Engine>, BoxError> {
    let lucerna = match &args.lucerna {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("lucerna"),
    };
    if !lucerna.is_file() {
        return Err(format!(
            "no lucerna program at {} (cargo build --release -p lucerna-cli, or --lucerna PATH)",
            lucerna.display()
        )
        .into());
    }
    let mut v = vec![Engine {
        name: "lucerna".into(),
        program: lucerna,
    }];
    let tantivy = args
        .tantivy
        .clone()
        .unwrap_or(peers.join("tantivy-adapter/target/release/tantivy-adapter"));
    if tantivy.is_file() {
        v.push(Engine {
            name: "tantivy".into(),
            program: tantivy,
        });
    } else {
        eprintln!(
            "scale: no tantivy adapter at {} (build it, or --tantivy PATH): Lucerna only",
            tantivy.display()
        );
    }
    Ok(v)
}

/// The source lines of a peers corpus file.
fn read_source(path: &Path) -> Result<Vec<SourceLine>, BoxError> {
    let f = std::fs::File::open(path).map_err(|e| {
        format!(
            "cannot read {}: {e} (run the peers' corpus/prepare.sh)",
            path.display()
        )
    })?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(
            SourceLine::from_json(&line)
                .map_err(|e| format!("{} line {}: {e}", path.display(), i + 1))?,
        );
    }
    if out.is_empty() {
        return Err(format!("{} holds no lines", path.display()).into());
    }
    Ok(out)
}

/// Writes `n` scaled lines to `path`; returns its size in bytes.
fn write_corpus(path: &Path, lines: Vec<SourceLine>, seed: u64, n: u64) -> Result<u64, BoxError> {
    let mut logs = ScaledLogs::new(lines, seed);
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    for id in 0..n {
        logs.write_line(id, &mut out)?;
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(std::fs::metadata(path)?.len())
}
