//! The [`Directory`] abstraction: a flat namespace of immutable files.

use crate::error::{Result, StoreError};
use crate::slice::FileSlice;
use std::fmt;
use std::sync::Arc;

/// A file being written sequentially. Obtained from [`Directory::create`].
///
/// Bytes become readable once [`FileWrite::finish`] returns, and durable once
/// [`Directory::sync`] has been called on the finished file (and, for its
/// name, once [`Directory::sync_dir`] has been called after it was created or
/// renamed). Dropping a writer without `finish` leaves a partial file behind;
/// callers delete it.
pub trait FileWrite: Send {
    /// Appends `buf`.
    fn write_all(&mut self, buf: &[u8]) -> Result<()>;
    /// Bytes written so far.
    fn bytes_written(&self) -> u64;
    /// Makes every byte written so far durable while the file stays open for
    /// appending (an fsync of the data; the file's *name* is durable once
    /// [`Directory::sync_dir`] ran after its creation). Append-only logs use
    /// it; immutable files are synced with [`Directory::sync`] after
    /// [`finish`](FileWrite::finish). Until `finish`, the bytes are
    /// readable only after a crash and restart (a log is replayed then).
    ///
    /// The default refuses: a writer that cannot sync in place (a throttled
    /// merge output, say) is never used for a log.
    fn sync(&mut self) -> Result<()> {
        Err(StoreError::InvalidArgument {
            file: String::new(),
            reason: "this writer cannot sync a file still being written".into(),
        })
    }
    /// Flushes buffers and closes the file. Does not fsync.
    fn finish(self: Box<Self>) -> Result<u64>;
}

/// A held lock; dropping it releases the lock.
pub trait LockGuard: Send + Sync + fmt::Debug {}

/// A flat namespace of write-once files.
///
/// Files are created, written sequentially, finished and from then on only
/// read, renamed or deleted: the whole engine is built on immutable files.
/// Names are plain (no `/`).
///
/// Durability follows POSIX: a file's bytes are durable after
/// [`sync`](Directory::sync); a creation, rename or deletion is durable after
/// [`sync_dir`](Directory::sync_dir). [`FaultyDirectory`](crate::FaultyDirectory)
/// simulates exactly these rules on [`crash`](crate::FaultyDirectory::crash).
///
/// ```
/// use lucerna_store::{Directory, RamDirectory};
/// # fn main() -> Result<(), lucerna_store::StoreError> {
/// let dir = RamDirectory::new();
/// let mut w = dir.create("a.tmp")?;
/// w.write_all(b"bytes")?;
/// w.finish()?;
/// dir.sync(&["a.tmp"])?;
/// dir.rename("a.tmp", "a")?;
/// dir.sync_dir()?;
/// assert_eq!(&*dir.open("a")?, b"bytes");
/// assert_eq!(dir.list()?, vec!["a".to_string()]);
/// # Ok(()) }
/// ```
pub trait Directory: Send + Sync + fmt::Debug {
    /// Creates `name` for sequential writing; fails with
    /// [`StoreError::AlreadyExists`] when it exists.
    fn create(&self, name: &str) -> Result<Box<dyn FileWrite>>;
    /// Opens a finished file for random reads (zero-copy).
    fn open(&self, name: &str) -> Result<FileSlice>;
    /// All file names, sorted.
    fn list(&self) -> Result<Vec<String>>;
    /// True when `name` exists.
    fn exists(&self, name: &str) -> Result<bool>;
    /// Deletes `name`.
    fn delete(&self, name: &str) -> Result<()>;
    /// Atomically renames `from` to `to`, replacing `to` if it exists.
    fn rename(&self, from: &str, to: &str) -> Result<()>;
    /// Makes the bytes of the named (finished) files durable.
    fn sync(&self, names: &[&str]) -> Result<()>;
    /// Makes creations, renames and deletions durable.
    fn sync_dir(&self) -> Result<()>;
    /// Length of `name` in bytes.
    fn file_len(&self, name: &str) -> Result<u64>;
    /// Takes the exclusive lock `name`, or fails with [`StoreError::Locked`].
    fn try_lock(&self, name: &str) -> Result<Box<dyn LockGuard>>;
}

/// Checks that `name` is a plain file name.
pub(crate) fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.contains('/')
        || name.contains('\\')
        || name.contains('\0')
    {
        return Err(StoreError::InvalidName {
            file: name.to_string(),
        });
    }
    Ok(())
}

macro_rules! forward_directory {
    ($t:ty) => {
        impl<D: Directory + ?Sized> Directory for $t {
            fn create(&self, name: &str) -> Result<Box<dyn FileWrite>> {
                (**self).create(name)
            }
            fn open(&self, name: &str) -> Result<FileSlice> {
                (**self).open(name)
            }
            fn list(&self) -> Result<Vec<String>> {
                (**self).list()
            }
            fn exists(&self, name: &str) -> Result<bool> {
                (**self).exists(name)
            }
            fn delete(&self, name: &str) -> Result<()> {
                (**self).delete(name)
            }
            fn rename(&self, from: &str, to: &str) -> Result<()> {
                (**self).rename(from, to)
            }
            fn sync(&self, names: &[&str]) -> Result<()> {
                (**self).sync(names)
            }
            fn sync_dir(&self) -> Result<()> {
                (**self).sync_dir()
            }
            fn file_len(&self, name: &str) -> Result<u64> {
                (**self).file_len(name)
            }
            fn try_lock(&self, name: &str) -> Result<Box<dyn LockGuard>> {
                (**self).try_lock(name)
            }
        }
    };
}

forward_directory!(Arc<D>);
forward_directory!(Box<D>);
forward_directory!(&D);

/// Writes a whole file in one call: create, write, finish.
pub fn write_file(dir: &dyn Directory, name: &str, bytes: &[u8]) -> Result<u64> {
    let mut w = dir.create(name)?;
    w.write_all(bytes)?;
    w.finish()
}
