//! Queries per second with one and with several search threads on one
//! index: does the searcher scale with cores?
//!
//! Builds an index of synthetic log lines (or of `--corpus FILE`'s
//! bodies), force-merges it to `--segments` segments, then for each thread
//! count runs the same query mix (term, AND, OR and phrase queries drawn
//! from the corpus's frequent words; count and top 10, as the peers'
//! `count` mode) from every thread for `--seconds`, each thread with its
//! own clone of one searcher. Prints one JSON line per thread count and a
//! summary with the speed-up over one thread.
//!
//! ```sh
//! cargo run --release -p lucerna-benches --bin qps -- --docs 1000000 --threads 1,2
//! ```
#![forbid(unsafe_code)]

use clap::Parser;
use lucerna::internals::SearcherInternals;
use lucerna::schema::Schema;
use lucerna::{Collect, Document, Index, Query, Searcher, WriterConfig};
use serde_json::json;
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Command-line arguments.
#[derive(Parser, Debug)]
#[command(name = "qps", about = "Queries per second against search threads")]
struct Args {
    /// Documents to index.
    #[arg(long, default_value_t = 500_000)]
    docs: usize,
    /// A JSON-lines file with a `body` per line (default: synthetic lines).
    #[arg(long)]
    corpus: Option<PathBuf>,
    /// Segments to merge the index down to.
    #[arg(long, default_value_t = 1)]
    segments: usize,
    /// Search thread counts to measure, comma-separated.
    #[arg(long, default_value = "1,2", value_delimiter = ',')]
    threads: Vec<usize>,
    /// Seconds of querying per thread count.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Directory for the index (default: a temporary directory).
    #[arg(long)]
    dir: Option<PathBuf>,
}

fn bodies(args: &Args) -> Result<(String, Vec<String>), BoxError> {
    match &args.corpus {
        Some(p) => {
            let f = std::io::BufReader::new(std::fs::File::open(p)?);
            let mut v = Vec::new();
            for line in f.lines() {
                let line = line?;
                let doc: serde_json::Value = serde_json::from_str(&line)?;
                if let Some(b) = doc.get("body").and_then(|b| b.as_str()) {
                    v.push(b.to_string());
                }
                if v.len() == args.docs {
                    break;
                }
            }
            Ok((p.display().to_string(), v))
        }
        None => Ok((
            "synthetic".to_string(),
            lucerna_benches::synthetic::log_lines(args.docs, 11)
                .into_iter()
                .map(|l| l.body)
                .collect(),
        )),
    }
}

/// A fixed mix: 10 each of term, AND, OR and phrase queries.
fn queries(schema: &Schema, words: &[String]) -> Result<Vec<Query>, BoxError> {
    let body = schema.field("body").ok_or("no body field")?;
    let w = |i: usize| words[i % words.len()].clone();
    let mut qs = Vec::new();
    for i in 0..10 {
        qs.push(Query::term(body, w(i * 3)));
        qs.push(Query::and([
            Query::term(body, w(i)),
            Query::term(body, w(i + 7)),
        ]));
        qs.push(Query::or([
            Query::term(body, w(i + 2)),
            Query::term(body, w(i + 11)),
        ]));
        // Neighbouring words of a line: a phrase that matches.
        qs.push(Query::phrase(body, [w(i), w(i + 1)]));
    }
    Ok(qs)
}

/// Queries answered by `threads` threads in `seconds`.
fn measure(searcher: &Searcher, queries: &[Query], threads: usize, seconds: f64) -> u64 {
    let done = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        for t in 0..threads {
            let (searcher, done, stop) = (searcher.clone(), &done, &stop);
            s.spawn(move || {
                let mut i = t * 7;
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let q = &queries[i % queries.len()];
                    if searcher.search(q, Collect::CountAndTopK(10)).is_ok() {
                        n += 1;
                    }
                    i += 1;
                }
                done.fetch_add(n, Ordering::Relaxed);
            });
        }
        std::thread::sleep(Duration::from_secs_f64(seconds));
        stop.store(true, Ordering::Relaxed);
    });
    done.load(Ordering::Relaxed)
}

fn run(args: &Args) -> Result<(), BoxError> {
    let (source, bodies) = bodies(args)?;
    let tmp = tempfile::tempdir()?;
    let path = args.dir.clone().unwrap_or_else(|| tmp.path().join("idx"));
    std::fs::create_dir_all(&path)?;
    let index = Index::create_in_dir(&path, Schema::logs())?;
    let schema = index.schema().clone();
    let (id, ts, body) = (
        schema.field("id").ok_or("no id")?,
        schema.field("timestamp").ok_or("no timestamp")?,
        schema.field("body").ok_or("no body")?,
    );
    let writer = index.writer(WriterConfig::default().mem_budget_bytes(256 << 20))?;
    for (i, b) in bodies.iter().enumerate() {
        let mut d = Document::new();
        d.add_u64(id, i as u64)
            .add_u64(ts, i as u64)
            .add_text(body, b.as_str());
        writer.add_document(d)?;
    }
    writer.commit()?;
    writer.force_merge(args.segments.max(1))?;
    writer.close()?;
    let searcher = index.reader()?.searcher();
    // Words of a seventh of the lines, most frequent first.
    let words: Vec<String> =
        lucerna_benches::words_by_frequency(bodies.iter().step_by(7).map(String::as_str))
            .into_iter()
            .take(60)
            .collect();
    let queries = queries(&schema, &words)?;
    // Warm up: every query once.
    for q in &queries {
        searcher.search(q, Collect::CountAndTopK(10))?;
    }
    let mut base = None;
    for &t in &args.threads {
        let t0 = Instant::now();
        let n = measure(&searcher, &queries, t.max(1), args.seconds);
        let qps = n as f64 / t0.elapsed().as_secs_f64();
        let base_qps = *base.get_or_insert(qps);
        println!(
            "{}",
            json!({"threads": t, "queries": n, "qps": qps, "speedup": qps / base_qps})
        );
    }
    println!(
        "{}",
        json!({"summary": {"corpus": source, "docs": bodies.len(),
                "segments": searcher.segments().len(), "queries_in_mix": queries.len(),
                "seconds_per_run": args.seconds, "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)}})
    );
    Ok(())
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("qps: {e}");
        std::process::exit(2);
    }
}
