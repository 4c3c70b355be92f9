//! [`RamDirectory`]: an in-memory directory for tests and small indexes.

use crate::directory::{check_name, Directory, FileWrite, LockGuard};
use crate::error::{Result, StoreError};
use crate::slice::FileSlice;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

#[derive(Debug, Clone)]
enum Entry {
    Writing,
    Done(Arc<Vec<u8>>),
}

#[derive(Debug, Default)]
struct Inner {
    files: BTreeMap<String, Entry>,
    locks: HashSet<String>,
}

/// A [`Directory`] held in memory. Cloning shares the same files.
///
/// Sync operations are no-ops: everything is "durable" until the process
/// exits. Wrap it in a [`FaultyDirectory`](crate::FaultyDirectory) to
/// simulate crashes.
#[derive(Debug, Clone, Default)]
pub struct RamDirectory {
    inner: Arc<Mutex<Inner>>,
}

impl RamDirectory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Total bytes of all finished files.
    pub fn total_bytes(&self) -> u64 {
        self.inner
            .lock()
            .files
            .values()
            .map(|e| match e {
                Entry::Done(b) => b.len() as u64,
                Entry::Writing => 0,
            })
            .sum()
    }
}

struct RamWriter {
    name: String,
    buf: Vec<u8>,
    finished: bool,
    dir: Arc<Mutex<Inner>>,
}

impl FileWrite for RamWriter {
    fn write_all(&mut self, buf: &[u8]) -> Result<()> {
        self.buf.extend_from_slice(buf);
        Ok(())
    }
    fn bytes_written(&self) -> u64 {
        self.buf.len() as u64
    }
    /// Nothing to make durable in memory.
    fn sync(&mut self) -> Result<()> {
        Ok(())
    }
    fn finish(mut self: Box<Self>) -> Result<u64> {
        let buf = std::mem::take(&mut self.buf);
        let len = buf.len() as u64;
        self.finished = true;
        let mut inner = self.dir.lock();
        match inner.files.get(&self.name) {
            Some(Entry::Writing) => {
                inner
                    .files
                    .insert(self.name.clone(), Entry::Done(Arc::new(buf)));
                Ok(len)
            }
            // Deleted (or replaced by a rename) while being written.
            _ => Err(StoreError::NotFound {
                file: self.name.clone(),
            }),
        }
    }
}

/// A writer dropped without `finish` leaves its partial file behind, as a
/// file system does (an append-only log is read back that way).
impl Drop for RamWriter {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let mut inner = self.dir.lock();
        if let Some(Entry::Writing) = inner.files.get(&self.name) {
            let buf = std::mem::take(&mut self.buf);
            inner
                .files
                .insert(self.name.clone(), Entry::Done(Arc::new(buf)));
        }
    }
}

#[derive(Debug)]
struct RamLock {
    name: String,
    dir: Arc<Mutex<Inner>>,
}

impl LockGuard for RamLock {}

impl Drop for RamLock {
    fn drop(&mut self) {
        self.dir.lock().locks.remove(&self.name);
    }
}

impl Directory for RamDirectory {
    fn create(&self, name: &str) -> Result<Box<dyn FileWrite>> {
        check_name(name)?;
        let mut inner = self.inner.lock();
        if inner.files.contains_key(name) {
            return Err(StoreError::AlreadyExists {
                file: name.to_string(),
            });
        }
        inner.files.insert(name.to_string(), Entry::Writing);
        Ok(Box::new(RamWriter {
            name: name.to_string(),
            buf: Vec::new(),
            finished: false,
            dir: self.inner.clone(),
        }))
    }

    fn open(&self, name: &str) -> Result<FileSlice> {
        check_name(name)?;
        match self.inner.lock().files.get(name) {
            Some(Entry::Done(b)) => Ok(FileSlice::new(b.clone())),
            Some(Entry::Writing) => Err(StoreError::StillWriting {
                file: name.to_string(),
            }),
            None => Err(StoreError::NotFound {
                file: name.to_string(),
            }),
        }
    }

    fn list(&self) -> Result<Vec<String>> {
        Ok(self.inner.lock().files.keys().cloned().collect())
    }

    fn exists(&self, name: &str) -> Result<bool> {
        check_name(name)?;
        Ok(self.inner.lock().files.contains_key(name))
    }

    fn delete(&self, name: &str) -> Result<()> {
        check_name(name)?;
        match self.inner.lock().files.remove(name) {
            Some(_) => Ok(()),
            None => Err(StoreError::NotFound {
                file: name.to_string(),
            }),
        }
    }

    fn rename(&self, from: &str, to: &str) -> Result<()> {
        check_name(from)?;
        check_name(to)?;
        let mut inner = self.inner.lock();
        match inner.files.get(from) {
            Some(Entry::Done(_)) => {}
            Some(Entry::Writing) => {
                return Err(StoreError::StillWriting {
                    file: from.to_string(),
                })
            }
            None => {
                return Err(StoreError::NotFound {
                    file: from.to_string(),
                })
            }
        }
        if let Some(e) = inner.files.remove(from) {
            inner.files.insert(to.to_string(), e);
        }
        Ok(())
    }

    fn sync(&self, names: &[&str]) -> Result<()> {
        let inner = self.inner.lock();
        for name in names {
            if !inner.files.contains_key(*name) {
                return Err(StoreError::NotFound {
                    file: name.to_string(),
                });
            }
        }
        Ok(())
    }

    fn sync_dir(&self) -> Result<()> {
        Ok(())
    }

    fn file_len(&self, name: &str) -> Result<u64> {
        check_name(name)?;
        match self.inner.lock().files.get(name) {
            Some(Entry::Done(b)) => Ok(b.len() as u64),
            Some(Entry::Writing) => Err(StoreError::StillWriting {
                file: name.to_string(),
            }),
            None => Err(StoreError::NotFound {
                file: name.to_string(),
            }),
        }
    }

    fn try_lock(&self, name: &str) -> Result<Box<dyn LockGuard>> {
        check_name(name)?;
        let mut inner = self.inner.lock();
        if !inner.locks.insert(name.to_string()) {
            return Err(StoreError::Locked {
                file: name.to_string(),
            });
        }
        Ok(Box::new(RamLock {
            name: name.to_string(),
            dir: self.inner.clone(),
        }))
    }
}
