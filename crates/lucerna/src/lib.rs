//! # Lucerna
//!
//! An embedded, Lucene-style full-text search engine: immutable segments,
//! atomic generation-numbered commits, near-real-time search, deletes and
//! updates, BM25, and every file checksummed.
//!
//! ```
//! use lucerna::{Index, Document, Query, WriterConfig, schema::Schema, store::RamDirectory};
//! # fn main() -> lucerna::Result<()> {
//! let index = Index::create(RamDirectory::new(), Schema::logs())?;
//! let body = index.schema().field("body").unwrap();
//! let id = index.schema().field("id").unwrap();
//! let writer = index.writer(WriterConfig::default())?;
//! let mut doc = Document::new();
//! doc.add_u64(id, 42).add_text(body, "Failed password for root from 10.0.0.1");
//! writer.add_document(doc)?;
//! writer.commit()?;
//!
//! let searcher = index.reader()?.searcher();
//! let query = searcher.parse_query("failed AND root")?;
//! let top = searcher.top_k(&query, 10)?;
//! assert_eq!(top.count, Some(1));
//! # Ok(()) }
//! ```

//!
//! # Events
//!
//! The engine reports what it does as [`tracing`](https://docs.rs/tracing)
//! events. Nothing is printed unless the application installs a
//! subscriber (the `lucerna` and `lucerna-server` binaries install one:
//! `--log-format text|json`, filtered by `RUST_LOG`). A writer's events are
//! emitted inside the span that was current when it opened (merge threads'
//! too), so a service that opens each index inside a span (a tenant, an
//! index name) finds that name on every event.
//!
//! | target | level | when | fields |
//! |---|---|---|---|
//! | `lucerna::flush` | debug | a buffer became a segment | `segment`, `docs`, `bytes`, `ram_bytes`, `deleted`, `duration_ms` |
//! | `lucerna::merge` | debug | a merge started / finished (automatic, or `forced`) | `segments`, `into`, `bytes`, `throttled`, `throttle_mib_per_s`; at the end `installed`, `duration_ms`, `mib_per_s`, `throttled_ms` |
//! | `lucerna::merge` | warn | a merge failed (nothing installed) | `segments`, `into`, `error` |
//! | `lucerna::backpressure` | info | writes rate limited (delay started) / unlimited again (delay ended) | `reason` (the input), `pressure`, `rate_bytes_per_s`, the backlog; at the end `duration_ms`, `delays`, `delayed_ms` |
//! | `lucerna::backpressure` | warn / info | a hard limit reached (stall started) / left (stall ended) | `reason`, the backlog and its hard limits; at the end `duration_ms` |
//! | `lucerna::corruption` | error | a damaged segment file found and the segment marked | `segment`, `file`, `offset`, `marker_written`, `error` |
//! | `lucerna::heal` | warn / error | a file restored from a replica or by a repair / a segment quarantined | `file`, `segment`, `replica` or `source`, `bytes`, `duration_ms` / `error` |
//! | `lucerna::repair` | warn | a repair started / finished (or failed) | `dry_run`, `allow_loss`, `healthy`, `markers`, `unapplied_log_ops`, `replicas`; at the end `outcome`, `actions`, `bytes_copied`, `lost_segments`, `lost_docs`, `duration_ms` |
//! | `lucerna::replication` | debug / warn | a commit copied to a replica / a copy failed | `replica`, `generation`, `bytes`, `files`, `lag`, `duration_ms` / `error` |
//! | `lucerna::wal` | debug / info / warn | the log replayed when a writer opened (warn: damaged records dropped) | `files`, `replayed`, `rolled_back`, `rejected`, `torn`, `torn_bytes`, `skipped`, `skipped_bytes`, `max_lsn` |
//! | `lucerna::commit` | info | a checkpoint: a commit written | `generation`, `wal_position`, `segments`, `docs`, `new_files`, `duration_ms` |
#![forbid(unsafe_code)]

/// Merge policies, the merge scheduler, IO rate limiting and backpressure
/// (see [`WriterConfig`]).
pub use lucerna_merge as merge;
/// Directories (`Directory`, `FsDirectory`, `RamDirectory`) and the
/// checksummed file envelope.
pub use lucerna_store as store;

pub mod analysis;
mod document;
mod error;
mod fxhash;
pub mod index;
pub mod jsonl;
pub mod query_parser;
pub mod schema;
mod search;
mod wal;

/// Not API: the engine's internals, for this workspace's own crates
/// (`lucerna-cli`, `lucerna-server`, `lucerna-object`), its fuzz targets,
/// benchmarks and tests.
///
/// Nothing here is documented for users or covered by semantic
/// versioning: any item may change or go in any release. Applications use
/// the items at the crate root and in its documented modules.
#[doc(hidden)]
pub mod internals {
    pub use crate::index::integrity::{commit, corrupt_marker, evidence, identity};
    pub use crate::index::read::{page_budget, reader, refresh, segment_reader, snapshot};
    pub use crate::index::write::{replace, writer};
    /// Queries, weights, scorers and collectors.
    pub mod search {
        pub use crate::search::*;
    }
    /// The write-ahead log.
    pub mod wal {
        pub use crate::wal::*;
    }
    pub use lucerna_codec as codec;

    /// What the workspace's tools read of a [`Searcher`](crate::Searcher)
    /// beyond its API: its segment readers (per-segment statistics in
    /// `lucerna stats`, column scans, fuzz and bench checks).
    pub trait SearcherInternals {
        /// The searcher's segments, in search order.
        fn segments(&self) -> &[segment_reader::SegmentReader];
    }

    impl SearcherInternals for crate::Searcher {
        fn segments(&self) -> &[segment_reader::SegmentReader] {
            self.segment_readers()
        }
    }
}

/// Order-preserving encodings of numeric values as `u64` (how columns and
/// range bounds store them).
pub mod numeric {
    pub use lucerna_codec::columns::{f64_to_u64, i64_to_u64, u64_to_f64, u64_to_i64};
}

pub use document::{Document, Value};
pub use error::{Error, Result};
pub use index::check::{check_index, check_index_with, CheckOptions, CheckReport};
pub use index::reader::IndexReader;
pub use index::recovery::{repair_with, RepairOutcome};
pub use index::refresh::{RefreshingReader, ReloadPolicy};
pub use index::writer::{IndexWriter, WriterConfig, WriterMetrics};
pub use index::Index;
pub use index::{
    repair, replicate, replication_lag, HealPolicy, HealStats, RepairOptions, RepairReport,
};
pub use search::collector::{DocAddress, ScoredDoc};
pub use search::query::Query;
pub use search::searcher::{Collect, Searcher, TopDocs, Unavailable};
pub use wal::{
    Durability, ForeignLog, ParseDurabilityError, Record, ReplayMode, ReplayReport, SkippedSpan,
    WalStats,
};

/// The README's examples, compiled and run by `cargo test` (so they
/// cannot rot).
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
