//! `lucerna add`: appends JSONL documents to an existing index through the
//! write-ahead log, acknowledging each one as it becomes durable.

use lucerna::store::FsDirectory;
use lucerna::{Document, Durability, Index, WriterConfig};
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// Parses `sync`, `none` or `interval:<ms>`.
pub fn parse_durability(s: &str) -> Result<Durability, String> {
    match s {
        "sync" => Ok(Durability::Sync),
        "none" => Ok(Durability::None),
        _ => match s.strip_prefix("interval:").map(str::parse::<u64>) {
            Some(Ok(ms)) if ms > 0 => Ok(Durability::Interval(Duration::from_millis(ms))),
            _ => Err(format!(
                "`{s}`: expected sync, none or interval:<milliseconds>"
            )),
        },
    }
}

/// Options of `lucerna add`.
pub struct AddArgs<'a> {
    pub index: &'a Path,
    pub input: &'a Path,
    pub durability: Durability,
    pub threads: usize,
    pub commit_every: Option<u64>,
    pub ack: bool,
    pub json: bool,
}

/// Adds every line of the input; with `ack`, prints `ack <id>` on stdout
/// (flushed) as soon as each document is acknowledged. Commits at the end.
pub fn run_add(a: &AddArgs<'_>) -> Result<(), Box<dyn std::error::Error>> {
    let index = Index::open(FsDirectory::open(a.index)?)?;
    let schema = index.schema().clone();
    let id_field = schema.field("id");
    let start = Instant::now();
    let writer = index.writer(
        WriterConfig::default()
            .durability(a.durability)
            .threads(a.threads.max(1)),
    )?;
    let replay = writer.replay_report();
    let file = BufReader::new(std::fs::File::open(a.input)?);
    let (tx, rx) = crossbeam_channel::bounded::<String>(a.threads.max(1) * 4);
    let added = std::sync::atomic::AtomicU64::new(0);
    let stdout = std::io::stdout();
    std::thread::scope(|s| -> Result<(), Box<dyn std::error::Error>> {
        let mut workers = Vec::new();
        for _ in 0..a.threads.max(1) {
            let rx = rx.clone();
            let (writer, schema, added, stdout) = (&writer, &schema, &added, &stdout);
            workers.push(s.spawn(move || -> Result<(), String> {
                for line in rx {
                    let doc = Document::from_json_str(schema, &line).map_err(|e| e.to_string())?;
                    let id = id_field
                        .and_then(|f| doc.get_first(f))
                        .and_then(|v| v.as_u64());
                    writer.add_document(doc).map_err(|e| e.to_string())?;
                    let n = added.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    if a.ack {
                        let mut out = stdout.lock();
                        let _ = match id {
                            Some(id) => writeln!(out, "ack {id}"),
                            None => writeln!(out, "ack #{n}"),
                        };
                        let _ = out.flush();
                    }
                    if a.commit_every.is_some_and(|c| n % c.max(1) == 0) {
                        writer.commit().map_err(|e| e.to_string())?;
                    }
                }
                Ok(())
            }));
        }
        drop(rx);
        for line in file.lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            if tx.send(line).is_err() {
                break; // a worker failed; its error is reported below
            }
        }
        drop(tx);
        for w in workers {
            w.join().map_err(|_| "an indexing thread panicked")??;
        }
        Ok(())
    })?;
    let generation = writer.commit()?;
    writer.close()?;
    let seconds = start.elapsed().as_secs_f64();
    let docs = added.into_inner();
    let wal = writer.wal_stats().unwrap_or_default();
    if a.json {
        outln!(
            "{}",
            json!({
                "docs": docs, "seconds": seconds, "docs_per_s": docs as f64 / seconds.max(1e-9),
                "generation": generation, "replayed": replay.replayed,
                "torn_tails": replay.torn.len(), "wal_syncs": wal.syncs,
                "wal_bytes": wal.bytes,
            })
        );
    } else {
        outln!(
            "added {docs} documents in {seconds:.2} s ({:.0} docs/s), commit generation {generation}",
            docs as f64 / seconds.max(1e-9)
        );
        outln!(
            "write-ahead log: {} fsyncs for {} records; replayed at open: {} records, {} torn tails dropped",
            wal.syncs,
            wal.records,
            replay.replayed,
            replay.torn.len()
        );
    }
    Ok(())
}
