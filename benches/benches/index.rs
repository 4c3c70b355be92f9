//! Micro-benchmarks of indexing: documents added by one thread into a new
//! in-memory index and committed (the segment buffer, its flush, no
//! merges, no log).
//!
//! Inputs: real log lines scaled with their numbers re-drawn
//! ([`lucerna_benches::scaled_logs`], so most lines bring new terms, as
//! real logs do) and prose paragraphs, from the shared corpus when it is
//! present (see `search.rs`); without it, synthetic log lines only. Those
//! are [`DOCS`] documents each, whose terms fit a processor's caches; one
//! more, `prose_all`, is every paragraph of the prose corpus (300,757),
//! in one buffer as `lucerna index` with 512 MB buffers it: the buffer's
//! term table is then larger than the caches, as in real indexing. Every
//! case buffers in 512 MB, so each flushes once, at its commit.
//!
//! ```sh
//! cargo bench -p lucerna-benches --bench index
//! ```
#![forbid(unsafe_code)]
// criterion's macros generate undocumented public functions.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use lucerna::schema::Schema;
use lucerna::store::RamDirectory;
use lucerna::{Document, Durability, Index, WriterConfig};
use std::io::{BufRead, BufReader};
use std::time::Duration;

/// Documents indexed per iteration.
const DOCS: usize = 30_000;

/// The first `n` non-empty lines of `file` in the corpus directory.
fn corpus_lines(file: &str, n: usize) -> Option<Vec<String>> {
    let f = std::fs::File::open(lucerna_benches::corpus_dir().join(file)).ok()?;
    let lines: Vec<String> = BufReader::new(f)
        .lines()
        .map_while(Result::ok)
        .filter(|l| !l.trim().is_empty())
        .take(n)
        .collect();
    (!lines.is_empty()).then_some(lines)
}

/// Bodies of `DOCS` scaled log lines (real ones when the corpus is
/// there).
fn scaled_log_bodies() -> (&'static str, Vec<String>) {
    match lucerna_benches::scaled_logs::corpus_bodies(DOCS, 42) {
        Some(bodies) => ("scaled_logs", bodies),
        None => {
            let lines = lucerna_benches::synthetic::log_lines(DOCS, 1);
            (
                "synthetic_logs",
                lines.into_iter().map(|l| l.body).collect(),
            )
        }
    }
}

/// Bodies of the first `n` paragraphs of the prose corpus.
fn prose_bodies(n: usize) -> Option<Vec<String>> {
    let lines = corpus_lines("prose.jsonl", n)?;
    Some(
        lines
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["body"].as_str().map(str::to_string))
            .collect(),
    )
}

fn documents(schema: &Schema, bodies: &[String]) -> Vec<Document> {
    let (id, ts, body) = (
        schema.field("id").expect("logs schema"),
        schema.field("timestamp").expect("logs schema"),
        schema.field("body").expect("logs schema"),
    );
    bodies
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let mut d = Document::new();
            d.add_u64(id, i as u64)
                .add_u64(ts, 1_704_067_200_000 + 250 * i as u64)
                .add_text(body, b.clone());
            d
        })
        .collect()
}

fn index(c: &mut Criterion) {
    let schema = Schema::logs();
    let mut inputs = vec![scaled_log_bodies()];
    if let Some(p) = prose_bodies(DOCS) {
        inputs.push(("prose", p));
    }
    if let Some(p) = prose_bodies(usize::MAX) {
        inputs.push(("prose_all", p));
    }
    let mut g = c.benchmark_group("index");
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(8));
    for (name, bodies) in inputs {
        let docs = documents(&schema, &bodies);
        eprintln!("index/{name}: {} documents", docs.len());
        g.throughput(Throughput::Elements(docs.len() as u64));
        g.bench_function(format!("{name}/one_thread"), |b| {
            b.iter_batched(
                || docs.clone(),
                |docs| {
                    let index =
                        Index::create(RamDirectory::new(), schema.clone()).expect("new index");
                    let w = index
                        .writer(
                            WriterConfig::default()
                                .mem_budget_bytes(512 << 20)
                                .no_merges()
                                .indexing_threads(1)
                                .durability(Durability::None),
                        )
                        .expect("writer");
                    for d in docs {
                        w.add_document(d).expect("valid document");
                    }
                    w.commit().expect("commit");
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, index);
criterion_main!(benches);
