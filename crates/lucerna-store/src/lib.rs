//! # lucerna-store
//!
//! The storage layer of Lucerna. Every byte the engine writes goes through a
//! [`Directory`] and, except lock files, inside a checksummed
//! [envelope]: a header naming the format, version and
//! segment id, and a footer holding the file length and a CRC32 of
//! everything before it.
//!
//! * [`FsDirectory`]: the local file system (mmap reads, buffered writes,
//!   fsync of files and of the directory, atomic rename, a writer lock).
//! * [`RamDirectory`]: in memory, for tests and small indexes.
//! * [`FaultyDirectory`]: wraps either and injects seeded, reproducible
//!   faults: EIO/ENOSPC at the Nth operation, crash (lose what is not
//!   durable, tear the last write), bit flips and truncation on read.
//!
//! Errors are [`StoreError`]s; a corruption is [`StoreError::Corrupt`] and
//! names the file, the offset, the expected and actual values.

mod directory;
pub mod envelope;
mod error;
mod faulty;
mod fs;
pub mod hint;
mod ram;
pub mod rng;
mod slice;

pub use directory::{write_file, Directory, FileWrite, LockGuard};
pub use envelope::{EnvelopeHeader, EnvelopeReader, EnvelopeWriter, FileMeta};
pub use error::{Result, StoreError};
pub use faulty::{Fault, FaultyDirectory, OpKind, ReadCorruption};
pub use fs::{FsDirectory, ReadMode};
pub use ram::RamDirectory;
pub use slice::{released_bytes, FileBytes, FileSlice};
