//! `lucerna index`: JSONL in, committed index out (the benchmark contract).
//!
//! Into a directory that already holds an index, the new index is built
//! beside the old one and replaces it with one commit
//! ([`Index::create_replacing`], whose doc says why in place): until that
//! commit is durable the old index stays whole and searchable, and a build
//! that fails (bad input is only rejected lines; an IO error, a full disk,
//! a kill) leaves it as it was.

use crate::rejections::Rejections;
use crate::reliability::{print_skipped, ReliabilityArgs};
use crate::util::{dir_bytes, prepare_index_dir, progress_bar, IndexDir};
use lucerna::jsonl::{parse_document, LineReader};
use lucerna::merge::{MergeScheduler, RateLimiter, SchedulerConfig};
use lucerna::schema::Schema;
use lucerna::store::FsDirectory;
use lucerna::{Durability, Index, IndexWriter, WriterConfig};
use parking_lot::Mutex;
use std::io::BufReader;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// The schema of the command contract: `id` (stored, column), `timestamp`
/// (column), `body` (text, stored only with `store_body`: the contract
/// returns ids). See [`Schema::log_lines`].
pub fn contract_schema(store_body: bool) -> Schema {
    Schema::log_lines(store_body)
}

/// Options of `lucerna index`.
pub struct IndexArgs<'a> {
    pub input: &'a Path,
    pub index: &'a Path,
    pub threads: usize,
    pub mem_mib: usize,
    pub store_body: bool,
    pub durability: lucerna::Durability,
    pub quiet: bool,
    pub reliability: &'a ReliabilityArgs,
    pub merge_throttle: MergeThrottle,
}

/// How the merges of a bulk build are throttled (`--merge-throttle`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MergeThrottle {
    /// Not at all: nothing searches a build before its final commit.
    Off,
    /// The library's automatic IO throttle (as a live index's writer).
    Auto,
    /// A fixed rate of merge writes, in MiB per second.
    Fixed(f64),
}

/// Parses `off`, `auto` or a rate in MiB per second.
pub fn parse_merge_throttle(s: &str) -> Result<MergeThrottle, String> {
    match s {
        "off" => Ok(MergeThrottle::Off),
        "auto" => Ok(MergeThrottle::Auto),
        _ => match s.parse::<f64>() {
            Ok(m) if m.is_finite() && m > 0.0 => Ok(MergeThrottle::Fixed(m)),
            _ => Err(format!(
                "expected `off`, `auto` or a rate in MiB/s above 0, not `{s}`"
            )),
        },
    }
}

impl MergeThrottle {
    /// The merge scheduler of a build throttled this way: `None` for the
    /// writer's own (automatic throttle).
    fn scheduler(self) -> Result<Option<Arc<MergeScheduler>>, Box<dyn std::error::Error>> {
        let limiter = match self {
            MergeThrottle::Auto => return Ok(None),
            MergeThrottle::Off => RateLimiter::unlimited(),
            MergeThrottle::Fixed(m) => RateLimiter::fixed(m)?,
        };
        let config = SchedulerConfig::default().rate_limiter(Arc::new(limiter));
        Ok(Some(Arc::new(MergeScheduler::new(config)?)))
    }
}

/// Outcome of an ingest.
pub struct IndexOutcome {
    pub docs: u64,
    pub rejected: u64,
    pub seconds: f64,
    pub input_bytes: u64,
    pub index_bytes: u64,
    pub segments: usize,
    /// Bytes of segments written by flushes.
    pub bytes_flushed: u64,
    /// Bytes of segments written by merges.
    pub bytes_merged: u64,
    /// Seconds indexing threads waited for backpressure's admitted rate
    /// (summed over threads).
    pub delayed_s: f64,
    /// Seconds indexing threads stalled at a backpressure hard limit
    /// (summed over threads).
    pub stalled_s: f64,
    /// Seconds spent after the input was read: the last flush, waiting
    /// for merges, the commit.
    pub finish_s: f64,
}

/// Indexes a JSONL file into a new index in `a.index`, replacing the
/// index there (if any) only once the new one is committed.
pub fn run_index(a: &IndexArgs<'_>) -> Result<IndexOutcome, Box<dyn std::error::Error>> {
    let input_bytes = std::fs::metadata(a.input)
        .map_err(|e| format!("cannot read {}: {e}", a.input.display()))?
        .len();
    let file = std::fs::File::open(a.input)
        .map_err(|e| format!("cannot read {}: {e}", a.input.display()))?;
    let schema = contract_schema(a.store_body);
    let threads = a.threads.max(1);
    let mut config = WriterConfig::default()
        .mem_budget_bytes(a.mem_mib.max(1) << 20)
        .indexing_threads(threads)
        .durability(a.durability);
    if let Some(scheduler) = a.merge_throttle.scheduler()? {
        config = config.merge_scheduler(scheduler);
    }
    let found = prepare_index_dir(a.index)?;
    if found == IndexDir::HoldsIndex && a.durability != Durability::None {
        eprintln!(
            "note: {} holds an index: the new one is built beside it and replaces it at the final commit, so nothing is durable before that commit (--durability is ignored)",
            a.index.display()
        );
        config = config.durability(Durability::None);
    }
    // Without a write-ahead log the build always goes through a replacing
    // writer, so a failed build into an empty directory leaves no index
    // (rather than an empty one); with a log, the empty index must exist
    // first for the log to be replayed into.
    let dir = FsDirectory::open(a.index)?;
    let index = if found == IndexDir::HoldsIndex || a.durability == Durability::None {
        Index::create_replacing(dir, schema.clone())?
    } else {
        Index::create(dir, schema.clone())?
    };
    let start = Instant::now();
    let writer = index.writer(a.reliability.apply(config)?)?;
    print_skipped(&writer.replay_report());
    let built = build(a, &schema, &writer, file, input_bytes, threads);
    let (docs, rejected, finish_s) = match built {
        Ok(counts) => counts,
        Err(e) => {
            // Best effort: drop the new segment files now (the old index,
            // if any, is untouched either way).
            let _ = writer.rollback();
            return Err(e);
        }
    };
    let seconds = start.elapsed().as_secs_f64();
    let segments = writer.num_segments();
    let metrics = writer.metrics();
    drop(writer);
    Ok(IndexOutcome {
        docs,
        rejected,
        seconds,
        input_bytes,
        index_bytes: dir_bytes(a.index)?,
        segments,
        bytes_flushed: metrics.bytes_flushed,
        bytes_merged: metrics.bytes_merged,
        delayed_s: metrics.delayed_time.as_secs_f64(),
        stalled_s: metrics.stalled_time.as_secs_f64(),
        finish_s,
    })
}

/// Reads, indexes and commits; returns (documents, rejected lines,
/// seconds from the end of the input to the commit).
fn build(
    a: &IndexArgs<'_>,
    schema: &Schema,
    writer: &IndexWriter,
    file: std::fs::File,
    input_bytes: u64,
    threads: usize,
) -> Result<(u64, u64, f64), Box<dyn std::error::Error>> {
    let bar = progress_bar(input_bytes, a.quiet, "indexing");
    let docs = AtomicU64::new(0);
    let rejections = Rejections::default();
    let (tx, rx) = crossbeam_channel::bounded::<LineBatch>(threads * 4);
    let first_error = Slot::default();
    std::thread::scope(|s| -> Result<(), Box<dyn std::error::Error>> {
        for _ in 0..threads {
            let rx = rx.clone();
            let (docs, rejections, first_error) = (&docs, &rejections, &first_error);
            s.spawn(move || {
                for batch in rx {
                    for (lineno, line) in batch.lines() {
                        let doc = match parse_document(schema, line) {
                            Ok(d) => d,
                            Err(e) => {
                                rejections.reject(lineno, &e);
                                continue;
                            }
                        };
                        match writer.add_document(doc) {
                            Ok(_) => {
                                docs.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(lucerna::Error::Document(m)) => rejections.reject(lineno, &m),
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
        let mut reader = LineReader::new(BufReader::with_capacity(1 << 20, file));
        let mut batch = LineBatch::default();
        let read = loop {
            if first_error.get().is_some() {
                break Ok(());
            }
            match reader.next_line_ref() {
                Ok(None) => break Ok(()),
                Ok(Some((lineno, Err(m)))) => rejections.reject(lineno, &m),
                Ok(Some((lineno, Ok(t)))) => {
                    batch.push(lineno, t);
                    if batch.len() == LineBatch::LINES {
                        bar.set_position(reader.bytes_read());
                        if tx.send(std::mem::take(&mut batch)).is_err() {
                            break Ok(());
                        }
                    }
                }
                Err(e) => break Err(e),
            }
        };
        if batch.len() > 0 && read.is_ok() {
            let _ = tx.send(batch);
        }
        drop(tx);
        read.map_err(|e| format!("reading {}: {e}", a.input.display()).into())
    })?;
    if let Some(e) = first_error.get() {
        return Err(format!("indexing failed: {e}").into());
    }
    // The contract: commit and wait for merges, so the segment count
    // printed is that of the merged index. Flushing first lets the last
    // buffers' segments take part in merging.
    let finishing = Instant::now();
    bar.set_message("merging");
    writer.flush()?;
    writer.wait_for_merges()?;
    bar.set_message("committing");
    writer.commit()?;
    bar.finish_and_clear();
    Ok((
        docs.load(Ordering::Relaxed),
        rejections.count(),
        finishing.elapsed().as_secs_f64(),
    ))
}

/// Input lines handed to an indexing thread together: their text end to
/// end in one string, so a batch costs two allocations, not one per line.
#[derive(Default)]
struct LineBatch {
    text: String,
    /// Each line's number and where its text ends.
    ends: Vec<(u64, usize)>,
}

impl LineBatch {
    /// Lines per batch.
    const LINES: usize = 256;

    fn push(&mut self, lineno: u64, line: &str) {
        self.text.push_str(line);
        self.ends.push((lineno, self.text.len()));
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    /// Each line's number and text.
    fn lines(&self) -> impl Iterator<Item = (u64, &str)> + '_ {
        let mut start = 0;
        self.ends.iter().map(move |&(lineno, end)| {
            let line = self.text.get(start..end).unwrap_or_default();
            start = end;
            (lineno, line)
        })
    }
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
