//! [`FileCache`]: segment files fetched from a bucket, kept on local disk
//! and verified against the manifest before use.

use crate::error::{ObjectError, Result};
use crate::keys::hex;
use lucerna::store::{Directory, EnvelopeReader, FileSlice, FsDirectory, StoreError};
use parking_lot::Mutex;
use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Where a segment file lives and what it must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileLoc {
    /// The segment id (in the file's header and in its key).
    pub id: [u8; 16],
    /// Its length.
    pub len: u64,
    /// Its footer CRC32.
    pub crc: u32,
}

/// Checks that `bytes` are file `name` as `loc` records: length, the
/// envelope's full CRC, the recorded CRC and the segment id. `key` names
/// the object (or cache file) in errors.
pub fn verify(key: &str, name: &str, bytes: &FileSlice, loc: &FileLoc) -> Result<()> {
    if bytes.len() as u64 != loc.len {
        return Err(ObjectError::corrupt(
            key,
            bytes.len() as u64,
            loc.len,
            bytes.len() as u64,
            "length differs from the manifest's",
        ));
    }
    let as_obj = |e: StoreError| match e {
        StoreError::Corrupt {
            offset,
            expected,
            actual,
            reason,
            ..
        } => ObjectError::corrupt(key, offset, expected, actual, reason),
        e => ObjectError::from(e),
    };
    let env = EnvelopeReader::open_checked(name, bytes.clone()).map_err(as_obj)?;
    env.verify_full().map_err(as_obj)?;
    if env.checksum() != loc.crc {
        return Err(ObjectError::corrupt(
            key,
            loc.len.saturating_sub(4),
            loc.crc as u64,
            env.checksum() as u64,
            "CRC32 differs from the manifest's",
        ));
    }
    if env.header().id != loc.id {
        return Err(ObjectError::corrupt(
            key,
            0,
            0,
            0,
            "segment id in the header differs from the manifest's",
        ));
    }
    Ok(())
}

/// Verified copies of segment files on local disk, named
/// `<segment id hex>.<file name>` (files of two segments that share a name
/// never collide).
#[derive(Debug)]
pub struct FileCache {
    dir: FsDirectory,
    /// Cache files verified whole since this process opened them.
    verified: Mutex<HashSet<String>>,
}

impl FileCache {
    /// The cache in local directory `path` (created if needed).
    pub fn open(path: &Path) -> Result<FileCache> {
        Ok(FileCache {
            dir: FsDirectory::open(path)?,
            verified: Mutex::new(HashSet::new()),
        })
    }

    /// The local directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    fn name(name: &str, loc: &FileLoc) -> String {
        format!("{}.{name}", hex(&loc.id))
    }

    /// The cached file `name` of `loc`, verified (whole, once per process);
    /// `None` when it is not cached or its copy is damaged (then it is
    /// deleted, to be fetched again).
    pub fn get(&self, name: &str, loc: &FileLoc) -> Result<Option<FileSlice>> {
        let cname = Self::name(name, loc);
        let bytes = match self.dir.open(&cname) {
            Ok(b) => b,
            Err(StoreError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if self.verified.lock().contains(&cname) && bytes.len() as u64 == loc.len {
            return Ok(Some(bytes));
        }
        match verify(&cname, name, &bytes, loc) {
            Ok(()) => {
                self.verified.lock().insert(cname);
                Ok(Some(bytes))
            }
            Err(_) => {
                drop(bytes);
                let _ = self.dir.delete(&cname);
                Ok(None)
            }
        }
    }

    /// Stores verified `bytes` of file `name` of `loc` (temporary name,
    /// fsync, rename) and returns the cached file.
    pub fn put(&self, name: &str, loc: &FileLoc, bytes: &[u8]) -> Result<FileSlice> {
        static TMP: AtomicU64 = AtomicU64::new(0);
        let cname = Self::name(name, loc);
        // Fetches of one file may run concurrently: each writes its own
        // temporary file, and the atomic renames leave one verified copy.
        let tmp = format!(
            "{cname}.{}-{}.tmp",
            std::process::id(),
            TMP.fetch_add(1, Ordering::Relaxed)
        );
        lucerna::store::write_file(&self.dir, &tmp, bytes)?;
        self.dir.sync(&[&tmp])?;
        self.dir.rename(&tmp, &cname)?;
        self.verified.lock().insert(cname.clone());
        Ok(self.dir.open(&cname)?)
    }

    /// Removes the cached copy of `name` of `loc` (if any).
    pub fn evict(&self, name: &str, loc: &FileLoc) {
        let cname = Self::name(name, loc);
        self.verified.lock().remove(&cname);
        let _ = self.dir.delete(&cname);
    }
}
