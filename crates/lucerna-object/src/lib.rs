//! # lucerna-object
//!
//! Replicas, shipped write-ahead logs and read-only searchers of a Lucerna
//! index on S3-compatible object storage (through the `object_store`
//! crate). See `docs/object-storage.md` for the key layout and the commit
//! protocol.
//!
//! * [`Bucket`]: a synchronous, retrying, verifying face of an object
//!   store under a prefix (the async runtime stays inside this crate);
//! * [`ObjectDirectory`]: a bucket prefix as a Lucerna `Directory`: a
//!   writer's replica, or a read-only index for searchers elsewhere;
//! * [`Catalog`]: the manifests and the commit protocol (create if absent,
//!   writer epochs, lost responses recognised);
//! * [`BucketWriter`]: a writer whose log is shipped to the bucket
//!   ([`BucketDurability`]) and which another machine can take over;
//! * [`gc`](mod@gc): garbage collection honouring retained commits, snapshots and
//!   reader leases.
//!
//! A writer with a bucket replica, and a searcher that shares only the
//! bucket (here an in-memory one; [`Bucket::from_url`] opens
//! `s3://bucket/prefix`):
//!
//! ```
//! use lucerna::{Document, Index, WriterConfig, schema::Schema, store::RamDirectory};
//! use lucerna_object::{Bucket, ObjectDirectory};
//! use std::sync::Arc;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let tmp = tempfile::tempdir()?;
//! let bucket = Bucket::in_memory()?;
//! let replica = ObjectDirectory::replica(bucket.clone(), &tmp.path().join("w"))?;
//! let index = Index::create(RamDirectory::new(), Schema::logs())?;
//! let writer = index.writer(WriterConfig::default().replica(Arc::new(replica)))?;
//! let (id, body) = (index.schema().field("id").unwrap(), index.schema().field("body").unwrap());
//! writer.add_document(Document::new().add_u64(id, 1).add_text(body, "disk full").clone())?;
//! let generation = writer.commit()?; // published: manifests/<generation>
//!
//! let remote = Index::open(ObjectDirectory::read_only(bucket, &tmp.path().join("r"))?)?;
//! let searcher = remote.reader()?.searcher();
//! assert_eq!(searcher.generation(), generation);
//! assert_eq!(searcher.count(&searcher.parse_query("disk")?)?, 1);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod bucket;
pub mod cache;
pub mod catalog;
pub mod chain;
pub mod directory;
mod error;
pub mod gc;
pub mod keys;
pub mod lease;
pub mod manifest;
mod retry;
pub mod shiplog;
pub mod shipper;
mod url;
pub mod writer;

pub use bucket::{Bucket, BucketStats, Created, Listed, MULTIPART_THRESHOLD, PART_SIZE};
pub use catalog::{Catalog, Publish};
pub use directory::{ObjectDirectory, WriterEpoch};
pub use error::{ObjectError, Result};
pub use gc::{gc, GcOptions, GcReport};
pub use lease::{create_snapshot, delete_snapshot, ReaderLease};
pub use retry::RetryPolicy;
pub use url::{s3_store, BucketUrl, S3Options};
pub use writer::{BucketDurability, BucketWriter, TakeoverReport, Unshipped};
