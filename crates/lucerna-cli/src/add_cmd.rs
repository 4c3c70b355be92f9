//! `lucerna add`: appends JSON-lines documents to an index (created with
//! `--create` when there is none, storing the body by default)
//! through the write-ahead log, acknowledging each one as it becomes
//! durable, rejecting bad lines one by one (with their line numbers) and
//! committing the rest at the end.
//!
//! Ids: with `--upsert`, each line replaces every document with the same
//! `id` ([`IndexWriter::update_by_id`]); without it a line is added even if
//! its id is already in the index, and the summary counts (and warns
//! about) the ids added that way, so duplicates never go unnoticed.

use crate::rejections::Rejections;
use crate::reliability::{
    print_skipped, replay_json, replay_line, replication_lines, ReliabilityArgs,
};
use crate::util::{count_live_ids, id_field, require_index_dir};
use lucerna::jsonl::{parse_document, InputLine, LineReader};
use lucerna::store::FsDirectory;
use lucerna::{Document, Durability, Index, IndexWriter, WriterConfig};
use parking_lot::Mutex;
use serde_json::json;
use std::collections::HashSet;
use std::io::{BufReader, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Parses `sync`, `none` or `interval:<ms>`.
pub fn parse_durability(s: &str) -> Result<Durability, String> {
    s.parse()
        .map_err(|e: lucerna::ParseDurabilityError| e.to_string())
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
    pub upsert: bool,
    /// Create the index when the directory holds none; the flag says
    /// whether it stores the body.
    pub create: Option<bool>,
    pub reliability: &'a ReliabilityArgs,
}

/// What the workers share.
struct Shared<'a> {
    writer: &'a IndexWriter,
    schema: &'a lucerna::schema::Schema,
    id_field: Option<lucerna::schema::Field>,
    args: &'a AddArgs<'a>,
    added: AtomicU64,
    rejections: Rejections,
    /// Ids added (without `--upsert`), to count those already present.
    ids: Mutex<HashSet<u64>>,
    /// The first error that is not a line's fault (IO, a closed writer).
    fatal: Mutex<Option<String>>,
}

impl Shared<'_> {
    fn line(&self, lineno: u64, text: &str) {
        let doc = match parse_document(self.schema, text) {
            Ok(d) => d,
            Err(e) => return self.rejections.reject(lineno, &e),
        };
        let id = self
            .id_field
            .and_then(|f| doc.get_first(f))
            .and_then(|v| v.as_u64());
        let result = match (self.args.upsert, self.id_field, id) {
            (true, Some(f), Some(id)) => self.writer.update_by_id(f, id, doc),
            (true, _, None) => {
                return self
                    .rejections
                    .reject(lineno, "--upsert needs a u64 `id` in every line")
            }
            _ => self.add(doc, id),
        };
        match result {
            Ok(_) => {}
            Err(lucerna::Error::Document(m)) => return self.rejections.reject(lineno, &m),
            Err(e) => {
                self.fatal.lock().get_or_insert(e.to_string());
                return;
            }
        }
        let n = self.added.fetch_add(1, Ordering::SeqCst) + 1;
        if self.args.ack {
            let mut out = std::io::stdout().lock();
            let _ = match id {
                Some(id) => writeln!(out, "ack {id}"),
                None => writeln!(out, "ack #{n}"),
            };
            let _ = out.flush();
        }
        if self
            .args
            .commit_every
            .is_some_and(|c| n.is_multiple_of(c.max(1)))
        {
            if let Err(e) = self.writer.commit() {
                self.fatal.lock().get_or_insert(e.to_string());
            }
        }
    }

    fn add(&self, doc: Document, id: Option<u64>) -> lucerna::Result<u64> {
        let seq = self.writer.add_document(doc)?;
        if let Some(id) = id {
            self.ids.lock().insert(id);
        }
        Ok(seq)
    }
}

fn is_missing_or_empty(path: &Path) -> bool {
    match std::fs::read_dir(path) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

/// Adds every line of the input and commits. Returns `Ok(true)` when every
/// line was added, `Ok(false)` when some were rejected (the rest were
/// added and committed), `Err` when the command could not run or a
/// failure that is not a line's stopped it.
pub fn run_add(a: &AddArgs<'_>) -> Result<bool, Box<dyn std::error::Error>> {
    let index = open_or_create(a)?;
    let schema = index.schema().clone();
    let id_field = id_field(&schema);
    if a.upsert && id_field.is_none() {
        return Err("--upsert needs a u64 field named `id` in the index's schema".into());
    }
    let start = Instant::now();
    let threads = a.threads.max(1);
    let writer = index.writer(
        a.reliability.apply(
            WriterConfig::default()
                .durability(a.durability)
                .indexing_threads(threads),
        )?,
    )?;
    let replay = writer.replay_report();
    print_skipped(&replay);
    let docs_before = writer.searcher()?.num_docs();
    let file = std::fs::File::open(a.input)
        .map_err(|e| format!("cannot read {}: {e}", a.input.display()))?;
    let shared = Shared {
        writer: &writer,
        schema: &schema,
        id_field,
        args: a,
        added: AtomicU64::new(0),
        rejections: Rejections::default(),
        ids: Mutex::new(HashSet::new()),
        fatal: Mutex::new(None),
    };
    let read_result = feed_lines(file, &shared, threads);
    // Whatever was added is committed, even when the run stops early.
    let commit = writer.commit();
    if let Some(why) = stopped_early(a, &shared, &commit, read_result) {
        return Err(why.into());
    }
    let generation = commit?;
    let seconds = start.elapsed().as_secs_f64();
    let searcher = index.reader()?.searcher();
    let docs_after = searcher.num_docs();
    let added = shared.added.load(Ordering::SeqCst);
    let ids = std::mem::take(&mut *shared.ids.lock());
    let duplicate_ids = match id_field {
        Some(f) if !a.upsert => duplicates(&searcher, f, &ids),
        _ => 0,
    };
    // Documents an upsert replaced (the index changed only through this
    // run since the count before it).
    let replaced = (docs_before + added).saturating_sub(docs_after);
    writer.close()?;
    let rejected = shared.rejections.count();
    let wal = writer.wal_stats().unwrap_or_default();
    if a.json {
        outln!(
            "{}",
            json!({
                "docs": added, "added": added, "rejected": rejected,
                "rejections": shared.rejections.first_json(),
                "upsert": a.upsert, "replaced": replaced, "duplicate_ids": duplicate_ids,
                "seconds": seconds, "docs_per_s": added as f64 / seconds.max(1e-9),
                "generation": generation, "live_docs": docs_after,
                "replayed": replay.replayed, "torn_tails": replay.torn.len(),
                "skipped": replay.skipped.len(), "replay": replay_json(&replay),
                "wal_syncs": wal.syncs, "wal_bytes": wal.bytes,
                "replicas": replication_lines(&writer),
            })
        );
    } else {
        let summary = Summary {
            added,
            rejected,
            seconds,
            generation,
            docs_after,
            replaced,
            duplicate_ids,
        };
        print_text(a, &shared, &writer, &replay, &wal, &summary);
    }
    if duplicate_ids > 0 && a.json {
        eprintln!(
            "warning: {duplicate_ids} ids added now have several live documents (see --upsert)"
        );
    }
    Ok(rejected == 0)
}

/// The index of `lucerna add`: opened, or created with `--create` when
/// the directory is missing or empty (one that holds files but no commit
/// may be a damaged index: `check` it).
fn open_or_create(a: &AddArgs<'_>) -> Result<Index, Box<dyn std::error::Error>> {
    Ok(match a.create {
        Some(store_body) if is_missing_or_empty(a.index) => {
            std::fs::create_dir_all(a.index)
                .map_err(|e| format!("cannot create {}: {e}", a.index.display()))?;
            Index::create(
                FsDirectory::open(a.index)?,
                crate::ingest::contract_schema(store_body),
            )?
        }
        _ => {
            require_index_dir(a.index)?;
            Index::open(FsDirectory::open(a.index)?)?
        }
    })
}

/// Reads the input's lines on this thread and hands them to `threads`
/// indexing threads through a bounded channel; stops at the first fatal
/// error a thread records. Only a failure to read the input is an error.
fn feed_lines(file: std::fs::File, shared: &Shared<'_>, threads: usize) -> std::io::Result<()> {
    let (tx, rx) = crossbeam_channel::bounded::<(u64, String)>(threads * 64);
    std::thread::scope(|s| -> std::io::Result<()> {
        for _ in 0..threads {
            let rx = rx.clone();
            s.spawn(move || {
                for (lineno, line) in rx {
                    if shared.fatal.lock().is_some() {
                        break;
                    }
                    shared.line(lineno, &line);
                }
            });
        }
        drop(rx);
        let mut reader = LineReader::new(BufReader::with_capacity(1 << 20, file));
        let r = loop {
            match reader.next_line() {
                Ok(None) => break Ok(()),
                Ok(Some((lineno, InputLine::Rejected(m)))) => shared.rejections.reject(lineno, &m),
                Ok(Some((lineno, InputLine::Text(t)))) => {
                    if shared.fatal.lock().is_some() || tx.send((lineno, t)).is_err() {
                        break Ok(());
                    }
                }
                Err(e) => break Err(e),
            }
        };
        drop(tx);
        r
    })
}

/// How many of `ids` have several live documents in `field`.
fn duplicates(
    searcher: &lucerna::Searcher,
    field: lucerna::schema::Field,
    ids: &HashSet<u64>,
) -> u64 {
    count_live_ids(searcher, field, ids)
        .values()
        .filter(|&&n| n > 1)
        .count() as u64
}

/// The numbers `lucerna add` reports.
struct Summary {
    added: u64,
    rejected: u64,
    seconds: f64,
    generation: u64,
    docs_after: u64,
    replaced: u64,
    duplicate_ids: u64,
}

/// The text report of `lucerna add`.
fn print_text(
    a: &AddArgs<'_>,
    shared: &Shared<'_>,
    writer: &IndexWriter,
    replay: &lucerna::ReplayReport,
    wal: &lucerna::WalStats,
    summary: &Summary,
) {
    let Summary {
        added,
        rejected,
        seconds,
        generation,
        docs_after,
        replaced,
        duplicate_ids,
    } = *summary;
    outln!(
        "added {added} documents, rejected {rejected} lines, in {seconds:.2} s ({:.0} docs/s), commit generation {generation}, {docs_after} live documents",
        added as f64 / seconds.max(1e-9)
    );
    for (line, e) in shared.rejections.first() {
        outln!("  line {line}: {e}");
    }
    if rejected > shared.rejections.first().len() as u64 {
        outln!("  … (all rejected lines are listed on stderr, up to 100)");
    }
    if a.upsert {
        outln!("upsert: {replaced} documents with the same id replaced");
    }
    if duplicate_ids > 0 {
        outln!(
            "warning: {duplicate_ids} ids added now have several live documents (already in the index, or repeated in the input); --upsert replaces instead"
        );
    }
    outln!(
        "write-ahead log: {} fsyncs for {} records; {}",
        wal.syncs,
        wal.records,
        replay_line(replay)
    );
    for l in replication_lines(writer) {
        outln!("{l}");
    }
}

/// Why the run stopped before the end of its input, if it did: a fatal
/// error of an indexing thread, or a failure to read the input.
fn stopped_early(
    a: &AddArgs<'_>,
    shared: &Shared<'_>,
    commit: &lucerna::Result<u64>,
    read_result: std::io::Result<()>,
) -> Option<String> {
    let fatal = shared.fatal.lock().clone();
    if let Some(e) = fatal {
        return Some(format!(
            "stopped after {} added documents: {e}{}",
            shared.added.load(Ordering::SeqCst),
            commit_note(commit)
        ));
    }
    if let Err(e) = read_result {
        return Some(format!(
            "reading {}: {e} (stopped after {} added documents{})",
            a.input.display(),
            shared.added.load(Ordering::SeqCst),
            commit_note(commit)
        ));
    }
    None
}

/// What became of the final commit, for an error message.
fn commit_note(commit: &lucerna::Result<u64>) -> String {
    match commit {
        Ok(g) => format!("; those were committed as generation {g}"),
        Err(e) => format!("; the final commit failed too: {e}"),
    }
}
