//! `lucerna index`: JSONL in, committed index out (the benchmark contract).

use crate::util::{dir_bytes, prepare_index_dir, progress_bar};
use lucerna::schema::{NumericKind, Schema};
use lucerna::store::FsDirectory;
use lucerna::{Document, Index, WriterConfig};
use parking_lot::Mutex;
use serde::Deserialize;
use std::borrow::Cow;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// The schema of the command contract: `id` (stored, column), `timestamp`
/// (column), `body` (text, not stored: the contract returns ids).
pub fn contract_schema(store_body: bool) -> Schema {
    let mut b = Schema::builder();
    b.add_numeric("id", NumericKind::U64, true);
    b.required();
    b.add_numeric("timestamp", NumericKind::Timestamp, false);
    b.add_text("body", store_body);
    b.build().expect("the contract schema is valid")
}

#[derive(Deserialize)]
struct Line<'a> {
    id: u64,
    #[serde(default)]
    timestamp: Option<i64>,
    #[serde(borrow)]
    body: Option<Cow<'a, str>>,
}

/// Options of `lucerna index`.
pub struct IndexArgs<'a> {
    pub input: &'a Path,
    pub index: &'a Path,
    pub threads: usize,
    pub mem_mb: usize,
    pub store_body: bool,
    pub durability: lucerna::Durability,
    pub quiet: bool,
}

/// Outcome of an ingest.
pub struct IndexOutcome {
    pub docs: u64,
    pub rejected: u64,
    pub seconds: f64,
    pub input_bytes: u64,
    pub index_bytes: u64,
    pub segments: usize,
}

/// Indexes a JSONL file into a fresh index directory.
pub fn run_index(a: &IndexArgs<'_>) -> Result<IndexOutcome, Box<dyn std::error::Error>> {
    let input_bytes = std::fs::metadata(a.input)?.len();
    prepare_index_dir(a.index)?;
    let dir = FsDirectory::open(a.index)?;
    let schema = contract_schema(a.store_body);
    let index = Index::create(dir, schema.clone())?;
    let threads = a.threads.max(1);
    let start = Instant::now();
    let writer = index.writer(
        WriterConfig::default()
            .mem_budget(a.mem_mb.max(1) << 20)
            .threads(threads)
            .durability(a.durability),
    )?;
    let (id_f, ts_f, body_f) = (
        schema.field("id").expect("id"),
        schema.field("timestamp").expect("timestamp"),
        schema.field("body").expect("body"),
    );
    let bar = progress_bar(input_bytes, a.quiet, "indexing");
    let docs = AtomicU64::new(0);
    let rejected = AtomicU64::new(0);
    let (tx, rx) = crossbeam_channel::bounded::<(u64, Vec<String>)>(threads * 4);
    let file = std::fs::File::open(a.input)?;
    let first_error = Slot::default();
    std::thread::scope(|s| -> Result<(), Box<dyn std::error::Error>> {
        for _ in 0..threads {
            let rx = rx.clone();
            let writer = writer.clone();
            let (docs, rejected, first_error) = (&docs, &rejected, &first_error);
            s.spawn(move || {
                for (first_line, batch) in rx {
                    for (i, line) in batch.iter().enumerate() {
                        let lineno = first_line + i as u64;
                        let parsed: Result<Line<'_>, _> = serde_json::from_str(line);
                        let doc = match parsed {
                            Ok(l) => {
                                let mut d = Document::new();
                                d.add_u64(id_f, l.id);
                                if let Some(ts) = l.timestamp {
                                    d.add_i64(ts_f, ts);
                                }
                                if let Some(b) = l.body {
                                    d.add_text(body_f, b.into_owned());
                                }
                                d
                            }
                            Err(e) => {
                                rejected.fetch_add(1, Ordering::Relaxed);
                                eprintln!("line {lineno}: rejected: {e}");
                                continue;
                            }
                        };
                        match writer.add_document(doc) {
                            Ok(_) => {
                                docs.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(lucerna::Error::Document(m)) => {
                                rejected.fetch_add(1, Ordering::Relaxed);
                                eprintln!("line {lineno}: rejected: {m}");
                            }
                            Err(e) => {
                                first_error.set(e.to_string());
                                return;
                            }
                        }
                    }
                }
            });
        }
        drop(rx);
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut batch = Vec::with_capacity(256);
        let mut lineno = 0u64;
        let mut batch_start = 1u64;
        let mut read = 0u64;
        loop {
            let mut line = String::new();
            let n = reader.read_line(&mut line)?;
            if n == 0 {
                break;
            }
            lineno += 1;
            read += n as u64;
            if line.trim().is_empty() {
                continue;
            }
            batch.push(line);
            if batch.len() == 256 {
                bar.set_position(read);
                let full = std::mem::replace(&mut batch, Vec::with_capacity(256));
                if tx.send((batch_start, full)).is_err() {
                    break;
                }
                batch_start = lineno + 1;
            }
            if first_error.get().is_some() {
                break;
            }
        }
        if !batch.is_empty() {
            let _ = tx.send((batch_start, batch));
        }
        drop(tx);
        Ok(())
    })?;
    if let Some(e) = first_error.get() {
        return Err(format!("indexing failed: {e}").into());
    }
    // The contract: commit and wait for merges, so the segment count
    // printed is that of the merged index. Flushing first lets the last
    // buffers' segments take part in merging.
    bar.set_message("merging");
    writer.flush()?;
    writer.wait_for_merges()?;
    bar.set_message("committing");
    writer.commit()?;
    let seconds = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let segments = writer.num_segments();
    drop(writer);
    Ok(IndexOutcome {
        docs: docs.load(Ordering::Relaxed),
        rejected: rejected.load(Ordering::Relaxed),
        seconds,
        input_bytes,
        index_bytes: dir_bytes(a.index)?,
        segments,
    })
}

/// A write-once slot for the first fatal error seen by any worker.
#[derive(Default)]
struct Slot(Mutex<Option<String>>);

impl Slot {
    fn set(&self, e: String) {
        self.0.lock().get_or_insert(e);
    }
    fn get(&self) -> Option<String> {
        self.0.lock().clone()
    }
}
