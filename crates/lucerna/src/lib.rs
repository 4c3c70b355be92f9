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

pub use lucerna_codec as codec;
/// Merge policies, the merge scheduler, IO rate limiting and backpressure
/// (see [`WriterConfig`]).
pub use lucerna_merge as merge;
pub use lucerna_store as store;

pub mod analysis;
pub mod document;
mod error;
mod fxhash;
pub mod index;
pub mod jsonl;
pub mod query_parser;
pub mod schema;
pub mod search;
pub mod wal;

/// Order-preserving encodings of numeric values as `u64` (how columns and
/// range bounds store them).
pub mod numeric {
    pub use lucerna_codec::columns::{f64_to_u64, i64_to_u64, u64_to_f64, u64_to_i64};
}

pub use document::{Document, Value};
pub use error::{Error, Result};
pub use index::reader::IndexReader;
pub use index::refresh::{RefreshingReader, ReloadPolicy};
pub use index::writer::{IndexWriter, WriterConfig, WriterMetrics};
pub use index::Index;
pub use search::collector::{DocAddress, ScoredDoc};
pub use search::query::Query;
pub use search::searcher::{Collect, Searcher, TopDocs};
pub use wal::Durability;
