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
//!   writer epochs, lost responses recognised).

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
