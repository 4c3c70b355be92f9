//! The `lucerna` command-line tool.

// One `unsafe` call, `mallopt` in `malloc.rs`, allowed where it is.
#![deny(unsafe_code)]

#[macro_use]
mod util;
mod add_cmd;
mod bench_query;
mod check_cmd;
mod delete_cmd;
mod demo;
mod gc_cmd;
mod ingest;
mod location;
mod logging;
mod malloc;
mod rejections;
mod reliability;
mod repair_cmd;
mod search_cmd;

use reliability::ReliabilityArgs;

use clap::{Parser, Subcommand};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

/// Lucerna: an embedded full-text search engine.
#[derive(Parser, Debug)]
#[command(
    name = "lucerna",
    version,
    about,
    after_help = "Exit codes: 0 done (check, repair: healthy); 1 check or repair: the index is \
                  not healthy (or a fallback commit is damaged), add: lines were rejected; \
                  2 the command could not run (bad arguments, missing index, I/O error)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Format of the engine's log events on standard error (filtered by
    /// RUST_LOG, default `warn`).
    #[arg(long, global = true, value_enum, default_value_t = logging::LogFormat::Text)]
    log_format: logging::LogFormat,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Index a JSONL file ({"id", "timestamp", "body"} per line) into a new
    /// index; prints one JSON line with throughput and size.
    ///
    /// Bad lines (invalid JSON or UTF-8, wrong values) are rejected one by
    /// one on stderr with their line numbers and counted. Into a directory
    /// that holds an index, the new index is built beside the old one and
    /// replaces it at its final commit: if the build fails, the old index
    /// is left as it was.
    Index {
        /// The JSONL input.
        #[arg(long)]
        input: PathBuf,
        /// The index directory (an index there is replaced once the new one
        /// is committed).
        #[arg(long)]
        index: PathBuf,
        /// Indexing threads.
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Memory budget in MiB (units of 2^20 bytes). The flag says `mb`
        /// because the peers' benchmark contract names it `--mem-mb`.
        #[arg(long = "mem-mb", value_name = "MIB", default_value_t = 512)]
        mem_mib: usize,
        /// Also store the body text, so `search` prints the matching lines.
        /// Off by default here: `index` is the benchmark command of the
        /// peers' contract, which stores only `id` in every engine so that
        /// index sizes compare. Operators building an index to search
        /// pass it (or build with `add --create`, which stores the body by
        /// default).
        #[arg(long)]
        store_body: bool,
        /// When documents are durable: `none` (default: a bulk build that
        /// commits at the end), `sync` or `interval:<ms>` (write-ahead log).
        #[arg(long, default_value = "none", value_parser = add_cmd::parse_durability)]
        durability: lucerna::Durability,
        /// How merges are throttled: `off` (default), `auto` (the automatic
        /// IO throttle a live index's writer uses) or a rate in MiB/s. The
        /// throttle keeps merges from slowing searches; a build is not
        /// searched before its final commit, and held-back merges only
        /// pile up until that commit waits for them (docs/benchmarks.md).
        #[arg(long, default_value = "off", value_parser = ingest::parse_merge_throttle)]
        merge_throttle: ingest::MergeThrottle,
        #[command(flatten)]
        reliability: ReliabilityArgs,
    },
    /// Add JSONL documents to an existing index through the write-ahead
    /// log; each is acknowledged once durable. Commits at the end.
    ///
    /// Bad lines are rejected one by one with their line numbers (1-based)
    /// and the rest added. Exit status: 0 when every line was added, 1 when
    /// some were rejected (the rest are added and committed), 2 when the
    /// command could not run (e.g. no index) or stopped on an error.
    ///
    /// Ids: without --upsert a line is added even if its `id` is already in
    /// the index; the summary then warns with the number of ids that have
    /// several live documents. Recovery reports lost documents by id, per
    /// document: keep ids unique (--upsert) for that list to be the exact
    /// set of ids gone.
    Add {
        /// The index directory.
        #[arg(long)]
        index: PathBuf,
        /// The JSONL input (fields of the index's schema).
        #[arg(long)]
        input: PathBuf,
        /// `sync` (default: fsync before acknowledging, shared by
        /// concurrent adds), `interval:<ms>` or `none` (commit only).
        #[arg(long, default_value = "sync", value_parser = add_cmd::parse_durability)]
        durability: lucerna::Durability,
        /// Indexing threads.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Commit after every N documents.
        #[arg(long)]
        commit_every: Option<u64>,
        /// Print `ack <id>` as each document is acknowledged.
        #[arg(long)]
        ack: bool,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
        /// Each line replaces every document with the same `id` (an
        /// update by id) instead of adding beside it.
        #[arg(long)]
        upsert: bool,
        /// Create the index (with the command contract's schema: `id`,
        /// `timestamp`, `body`) when the directory holds none.
        #[arg(long)]
        create: bool,
        /// With --create: store the body text, so `search` prints the
        /// matching lines (`--store-body false` stores only the id).
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set, requires = "create")]
        store_body: bool,
        #[command(flatten)]
        reliability: ReliabilityArgs,
    },
    /// Delete documents by `id` (every live document with that id) and
    /// commit; prints how many were deleted and which ids were not found.
    ///
    /// Exit status: 0 on success, 1 when lines of the ids file were
    /// rejected (the other ids are deleted), 2 when it could not run.
    Delete {
        /// The index directory.
        #[arg(long)]
        index: PathBuf,
        /// An id to delete (repeatable).
        #[arg(long = "id", value_name = "N")]
        ids: Vec<u64>,
        /// A file of ids, one per line (blank lines and `#` comments skipped).
        #[arg(long, value_name = "FILE")]
        ids_file: Option<PathBuf>,
        /// `sync` (default), `interval:<ms>` or `none`, as for `add`.
        #[arg(long, default_value = "sync", value_parser = add_cmd::parse_durability)]
        durability: lucerna::Durability,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        reliability: ReliabilityArgs,
    },
    /// Run a TSV query set (`kind<TAB>text`) and print per-query JSON lines
    /// and a latency summary.
    Query {
        /// The index directory, or a bucket `s3://bucket/prefix` (read-only).
        #[arg(long)]
        index: PathBuf,
        /// The TSV query file.
        #[arg(long)]
        queries: PathBuf,
        /// Timed passes.
        #[arg(long, default_value_t = 5)]
        repeat: usize,
        /// Hits to collect per query.
        #[arg(long, default_value_t = 10)]
        top: usize,
        /// `count` (default): count every hit and collect the top K;
        /// `topk`: the top K only (`"count": null`).
        #[arg(long, value_enum, default_value_t = bench_query::QueryMode::Count)]
        mode: bench_query::QueryMode,
        /// A replica to restore a damaged or missing segment file from
        /// (repeatable; a directory or `s3://bucket/prefix`), as the
        /// library heals.
        #[arg(long = "replica")]
        replicas: Vec<PathBuf>,
    },
    /// Search with a query string: +must -not "a phrase"~2 field:x ts:[1 TO 5] pre*
    Search {
        /// The index directory, or a bucket `s3://bucket/prefix` (read-only).
        #[arg(long)]
        index: PathBuf,
        /// The query string.
        query: String,
        /// Hits to show.
        #[arg(long, default_value_t = 10)]
        top: usize,
        /// Sort by a numeric field (largest first) instead of score.
        #[arg(long)]
        sort: Option<String>,
        /// With --sort: smallest first.
        #[arg(long)]
        asc: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// A replica to restore a damaged or missing segment file from
        /// (repeatable; a directory or `s3://bucket/prefix`), as the
        /// library heals.
        #[arg(long = "replica")]
        replicas: Vec<PathBuf>,
        /// When no replica holds a damaged file, rebuild from an older
        /// commit plus the write-ahead log (needs no writer running).
        #[arg(long)]
        heal_from_log: bool,
        /// Serve the intact segments when one cannot be restored; the
        /// output says which documents are missing.
        #[arg(long)]
        allow_partial: bool,
    },
    /// Show what an index holds: commit, segments, documents, fields.
    Stats {
        /// The index directory, or a bucket `s3://bucket/prefix` (read-only).
        #[arg(long)]
        index: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Verify every file of the newest commit (length, full CRC), the
    /// write-ahead log after it, every older kept commit, files of another
    /// index and a missing newest commit; with --full also decode every
    /// structure. Exit status 0 healthy, 1 not healthy (or a fallback
    /// commit damaged), 2 could not run.
    Check {
        /// The index directory, or a bucket `s3://bucket/prefix` (read-only).
        #[arg(long)]
        index: PathBuf,
        /// A replica to compare with (repeatable; a directory or
        /// `s3://bucket/prefix`): one holding a newer commit of this index
        /// means the index lost commits.
        #[arg(long = "replica")]
        replicas: Vec<PathBuf>,
        /// Also decode every term, posting, position, stored document and
        /// column value.
        #[arg(long)]
        full: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Repair a damaged index: fetch intact files from replicas, else fall
    /// back to an intact older commit and replay the write-ahead log, else
    /// (only with --allow-loss) drop what cannot be restored and list the
    /// lost documents' ids. Exit status 0 only when the index is healthy
    /// afterwards (with --dry-run: only when it already is).
    Repair {
        /// The index directory.
        #[arg(long)]
        index: PathBuf,
        /// A replica (repeatable): a directory or `s3://bucket/prefix` kept
        /// by the writer, or a plain copy of the index directory taken
        /// earlier.
        #[arg(long = "replica")]
        replicas: Vec<PathBuf>,
        /// Allow dropping segments that cannot be restored.
        #[arg(long)]
        allow_loss: bool,
        /// Change nothing; print the plan.
        #[arg(long)]
        dry_run: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Collect the garbage of an index in a bucket: manifests older than
    /// the newest kept ones (unless a snapshot or a live reader lease holds
    /// them), segment objects only those referenced, crash orphans older
    /// than the grace period, covered log batches, expired leases.
    Gc {
        /// The bucket: `s3://bucket/prefix`.
        #[arg(long)]
        bucket: String,
        /// Newest commits kept.
        #[arg(long, default_value_t = 2)]
        keep_commits: usize,
        /// Orphans (segment objects no manifest references) younger than
        /// this many seconds are kept: a writer may be about to publish.
        #[arg(long, default_value_t = 3600)]
        grace_secs: u64,
        /// Change nothing; print what would be deleted.
        #[arg(long)]
        dry_run: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Index real text found on this machine and search it.
    Demo {
        /// Directory for the demo index (default: a fresh temporary one).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

// Long on purpose: one arm per subcommand, each handing its parsed
// arguments to the command's module (`index` also prints the peers'
// contract line here, where its fields are fixed), like a table of
// commands; a function per arm would only move each arm elsewhere.
fn main() -> ExitCode {
    let cli = Cli::parse();
    // Parsing starts no thread, so the allocator can still be tuned here,
    // and only for the commands that fill indexing buffers: a search's
    // short-lived buffers (a 250 KiB bit set per segment for a counted
    // disjunction of 2 M documents) would each cost an mmap and its page
    // faults, doubling `count` OR p50 on logs-big (docs/benchmarks.md).
    if matches!(
        cli.command,
        Command::Index { .. } | Command::Add { .. } | Command::Repair { .. } | Command::Demo { .. }
    ) {
        malloc::tune();
    }
    logging::install(cli.log_format);
    let result = match cli.command {
        Command::Index {
            input,
            index,
            threads,
            mem_mib,
            store_body,
            durability,
            merge_throttle,
            reliability,
        } => ingest::run_index(&ingest::IndexArgs {
            input: &input,
            index: &index,
            threads,
            mem_mib,
            store_body,
            durability,
            quiet: false,
            reliability: &reliability,
            merge_throttle,
        })
        .map(|o| {
            outln!(
                "{}",
                json!({
                    "engine": "lucerna", "engine_version": env!("CARGO_PKG_VERSION"),
                    "docs": o.docs, "seconds": o.seconds,
                    "docs_per_s": o.docs as f64 / o.seconds.max(1e-9),
                    // MB (10^6 bytes) per second of input, as the peers'
                    // contract defines it.
                    "mb_per_s": o.input_bytes as f64 / 1e6 / o.seconds.max(1e-9),
                    "input_bytes": o.input_bytes, "index_bytes": o.index_bytes,
                    "segments": o.segments, "threads": threads, "rejected": o.rejected,
                    // Segment bytes written by flushes and by merges: the
                    // merges' write amplification is their ratio.
                    "bytes_flushed": o.bytes_flushed, "bytes_merged": o.bytes_merged,
                    // Where the time went besides indexing.
                    "delayed_s": o.delayed_s, "stalled_s": o.stalled_s, "finish_s": o.finish_s,
                })
            );
        }),
        Command::Add {
            index,
            input,
            durability,
            threads,
            commit_every,
            ack,
            json,
            upsert,
            create,
            store_body,
            reliability,
        } => match add_cmd::run_add(&add_cmd::AddArgs {
            index: &index,
            input: &input,
            durability,
            threads,
            commit_every,
            ack,
            json,
            upsert,
            create: create.then_some(store_body),
            reliability: &reliability,
        }) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::from(1),
            Err(e) => Err(e),
        },
        Command::Delete {
            index,
            ids,
            ids_file,
            durability,
            json,
            reliability,
        } => match delete_cmd::run_delete(&delete_cmd::DeleteArgs {
            index: &index,
            ids: &ids,
            ids_file: ids_file.as_deref(),
            durability,
            json,
            reliability: &reliability,
        }) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::from(1),
            Err(e) => Err(e),
        },
        Command::Query {
            index,
            queries,
            repeat,
            top,
            mode,
            replicas,
        } => bench_query::run_query(
            &index,
            &queries,
            repeat,
            top,
            mode,
            &search_cmd::HealArgs {
                replicas,
                ..Default::default()
            },
        ),
        Command::Search {
            index,
            query,
            top,
            sort,
            asc,
            json,
            replicas,
            heal_from_log,
            allow_partial,
        } => search_cmd::run_search(
            &index,
            &query,
            top,
            sort.as_deref(),
            asc,
            json,
            &search_cmd::HealArgs {
                replicas,
                from_log: heal_from_log,
                allow_partial,
            },
        ),
        Command::Stats { index, json } => search_cmd::run_stats(&index, json),
        Command::Check {
            index,
            replicas,
            full,
            json,
        } => match check_cmd::run_check(&index, &replicas, full, json) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::from(1),
            Err(e) => Err(e),
        },
        Command::Repair {
            index,
            replicas,
            allow_loss,
            dry_run,
            json,
        } => match repair_cmd::run_repair(&repair_cmd::RepairArgs {
            index: &index,
            replicas: &replicas,
            allow_loss,
            dry_run,
            json,
        }) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::from(1),
            Err(e) => Err(e),
        },
        Command::Gc {
            bucket,
            keep_commits,
            grace_secs,
            dry_run,
            json,
        } => gc_cmd::run_gc(&gc_cmd::GcArgs {
            bucket: &bucket,
            keep_commits,
            grace_secs,
            dry_run,
            json,
        }),
        Command::Demo { dir, json } => demo::run(dir, json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = e.source();
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            // 1 is "ran, and found something wrong" (rejected lines, an
            // unhealthy index); 2 is "could not do the job".
            ExitCode::from(2)
        }
    }
}
