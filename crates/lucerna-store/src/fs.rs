//! [`FsDirectory`]: files in a directory of the local file system.
//!
//! # Memory-map lifetime rules
//!
//! Reads go through `memmap2` maps. A [`FileSlice`] returned by
//! [`FsDirectory::open`] keeps its map alive (reference counted), and:
//!
//! * A mapping outlives the deletion of its file name: on Linux and other
//!   POSIX systems the inode stays alive while mapped, so readers holding a
//!   slice of a deleted file keep reading the old, correct bytes. The engine
//!   relies on this only as a safety net; it deletes files only when no
//!   reader references them.
//! * A file is never mapped while it is being written: `open` of a file that
//!   has an unfinished writer in this directory returns
//!   [`StoreError::StillWriting`]. Files are write-once, so a finished file's
//!   bytes never change under a map.
//! * If another process truncates a mapped file, reads past the new end
//!   raise SIGBUS: that is outside what any mmap-based engine can turn into
//!   an error. Use [`ReadMode::Read`] for directories that other programs may
//!   modify.

use crate::directory::{check_name, Directory, FileWrite, LockGuard};
use crate::error::{Result, StoreError};
use crate::slice::{FileSlice, SharedReadOnlyMap};
use parking_lot::Mutex;
use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How [`FsDirectory`] reads files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadMode {
    /// Memory-map files (zero copy; the default).
    #[default]
    Mmap,
    /// Read files into heap buffers (immune to external truncation).
    Read,
}

/// A [`Directory`] on the local file system.
///
/// Reads are memory maps (see the module docs for lifetime rules), writes are
/// buffered, `sync` is `fsync` of each file and `sync_dir` is `fsync` of the
/// directory itself, which makes creations and renames durable.
///
/// ```
/// use lucerna_store::{Directory, FsDirectory};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let tmp = tempfile::tempdir()?;
/// let dir = FsDirectory::open(tmp.path())?;
/// let lock = dir.try_lock("write.lock")?;
/// assert!(dir.try_lock("write.lock").is_err()); // one writer at a time
/// let mut w = dir.create("f")?;
/// w.write_all(b"data")?;
/// w.finish()?;
/// dir.sync(&["f"])?;
/// dir.sync_dir()?;
/// assert_eq!(&*dir.open("f")?, b"data");
/// drop(lock);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct FsDirectory {
    path: PathBuf,
    read_mode: ReadMode,
    writing: Arc<Mutex<HashSet<String>>>,
}

impl FsDirectory {
    /// Opens (creating if needed) the directory at `path`, reading via mmap.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, ReadMode::Mmap)
    }

    /// Opens (creating if needed) the directory at `path` with a read mode.
    pub fn open_with(path: impl AsRef<Path>, read_mode: ReadMode) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        fs::create_dir_all(&path)
            .map_err(|e| StoreError::io("create directory", path.display().to_string(), e))?;
        Ok(FsDirectory {
            path,
            read_mode,
            writing: Arc::default(),
        })
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn file_path(&self, name: &str) -> Result<PathBuf> {
        check_name(name)?;
        Ok(self.path.join(name))
    }
}

fn map_io(op: &'static str, name: &str, e: io::Error) -> StoreError {
    match e.kind() {
        io::ErrorKind::NotFound => StoreError::NotFound {
            file: name.to_string(),
        },
        io::ErrorKind::AlreadyExists => StoreError::AlreadyExists {
            file: name.to_string(),
        },
        _ => StoreError::io(op, name, e),
    }
}

struct FsWriter {
    name: String,
    out: Option<BufWriter<File>>,
    written: u64,
    writing: Arc<Mutex<HashSet<String>>>,
}

impl FileWrite for FsWriter {
    fn write_all(&mut self, buf: &[u8]) -> Result<()> {
        let out = self.out.as_mut().ok_or_else(|| StoreError::Crashed {
            file: self.name.clone(),
        })?;
        out.write_all(buf)
            .map_err(|e| StoreError::io("write", &self.name, e))?;
        self.written += buf.len() as u64;
        Ok(())
    }
    fn bytes_written(&self) -> u64 {
        self.written
    }
    fn sync(&mut self) -> Result<()> {
        let out = self.out.as_mut().ok_or_else(|| StoreError::Crashed {
            file: self.name.clone(),
        })?;
        out.flush()
            .map_err(|e| StoreError::io("write", &self.name, e))?;
        out.get_ref()
            .sync_data()
            .map_err(|e| StoreError::io("sync", &self.name, e))
    }
    fn finish(mut self: Box<Self>) -> Result<u64> {
        if let Some(mut out) = self.out.take() {
            out.flush()
                .map_err(|e| StoreError::io("write", &self.name, e))?;
        }
        Ok(self.written)
    }
}

impl Drop for FsWriter {
    fn drop(&mut self) {
        self.writing.lock().remove(&self.name);
    }
}

#[derive(Debug)]
struct FsLock {
    _file: File,
}

impl LockGuard for FsLock {}

impl Directory for FsDirectory {
    fn create(&self, name: &str) -> Result<Box<dyn FileWrite>> {
        let path = self.file_path(name)?;
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| map_io("create", name, e))?;
        self.writing.lock().insert(name.to_string());
        Ok(Box::new(FsWriter {
            name: name.to_string(),
            out: Some(BufWriter::with_capacity(64 * 1024, file)),
            written: 0,
            writing: self.writing.clone(),
        }))
    }

    fn open(&self, name: &str) -> Result<FileSlice> {
        let path = self.file_path(name)?;
        if self.writing.lock().contains(name) {
            return Err(StoreError::StillWriting {
                file: name.to_string(),
            });
        }
        let file = File::open(&path).map_err(|e| map_io("open", name, e))?;
        let len = file
            .metadata()
            .map_err(|e| StoreError::io("stat", name, e))?
            .len();
        if len == 0 {
            return Ok(FileSlice::empty());
        }
        match self.read_mode {
            ReadMode::Mmap => {
                // SAFETY: the map is read-only and the file is write-once:
                // this directory never maps a file with an unfinished writer
                // (checked above) and never writes to a finished file. The
                // map is owned by the returned slice's Arc, so no reference
                // into it outlives the map. External truncation is documented
                // in the module docs as outside this guarantee.
                let map = unsafe { SharedReadOnlyMap::map(&file) }
                    .map_err(|e| StoreError::io("mmap", name, e))?;
                Ok(FileSlice::new(Arc::new(map)))
            }
            ReadMode::Read => {
                let bytes = fs::read(&path).map_err(|e| map_io("read", name, e))?;
                Ok(FileSlice::from_vec(bytes))
            }
        }
    }

    fn list(&self) -> Result<Vec<String>> {
        let rd = fs::read_dir(&self.path)
            .map_err(|e| StoreError::io("list", self.path.display().to_string(), e))?;
        let mut names = Vec::new();
        for entry in rd {
            let entry =
                entry.map_err(|e| StoreError::io("list", self.path.display().to_string(), e))?;
            if entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
                if let Some(n) = entry.file_name().to_str() {
                    names.push(n.to_string());
                }
            }
        }
        names.sort();
        Ok(names)
    }

    fn exists(&self, name: &str) -> Result<bool> {
        Ok(self.file_path(name)?.is_file())
    }

    fn delete(&self, name: &str) -> Result<()> {
        let path = self.file_path(name)?;
        fs::remove_file(path).map_err(|e| map_io("delete", name, e))
    }

    fn rename(&self, from: &str, to: &str) -> Result<()> {
        let src = self.file_path(from)?;
        let dst = self.file_path(to)?;
        if self.writing.lock().contains(from) {
            return Err(StoreError::StillWriting {
                file: from.to_string(),
            });
        }
        fs::rename(src, dst).map_err(|e| map_io("rename", from, e))
    }

    fn sync(&self, names: &[&str]) -> Result<()> {
        for name in names {
            let path = self.file_path(name)?;
            let f = File::open(&path).map_err(|e| map_io("sync", name, e))?;
            f.sync_all().map_err(|e| StoreError::io("sync", *name, e))?;
        }
        Ok(())
    }

    fn sync_dir(&self) -> Result<()> {
        let d = File::open(&self.path)
            .map_err(|e| StoreError::io("sync directory", self.path.display().to_string(), e))?;
        d.sync_all()
            .map_err(|e| StoreError::io("sync directory", self.path.display().to_string(), e))
    }

    fn file_len(&self, name: &str) -> Result<u64> {
        let path = self.file_path(name)?;
        Ok(fs::metadata(path)
            .map_err(|e| map_io("stat", name, e))?
            .len())
    }

    fn try_lock(&self, name: &str) -> Result<Box<dyn LockGuard>> {
        let path = self.file_path(name)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| map_io("lock", name, e))?;
        match file.try_lock() {
            Ok(()) => Ok(Box::new(FsLock { _file: file })),
            Err(fs::TryLockError::WouldBlock) => Err(StoreError::Locked {
                file: name.to_string(),
            }),
            Err(fs::TryLockError::Error(e)) => Err(StoreError::io("lock", name, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Resident KiB of the mappings of `path` (Linux), from smaps.
    fn resident_kib(path: &Path) -> Option<u64> {
        let smaps = fs::read_to_string("/proc/self/smaps").ok()?;
        let want = path.to_str()?;
        let mut inside = false;
        let mut total = 0;
        for line in smaps.lines() {
            let first = line.split_whitespace().next().unwrap_or("");
            if first.contains('-') && !first.ends_with(':') {
                inside = line.split_whitespace().nth(5) == Some(want);
            } else if inside && line.starts_with("Rss:") {
                total += line.split_whitespace().nth(1)?.parse::<u64>().ok()?;
            }
        }
        Some(total)
    }

    #[test]
    fn released_pages_leave_the_bytes_readable() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = FsDirectory::open(tmp.path()).unwrap();
        let bytes: Vec<u8> = (0..4u32 << 20).map(|i| (i * 31 % 251) as u8).collect();
        crate::write_file(&dir, "f", &bytes).unwrap();
        let f = dir.open("f").unwrap();
        assert!(*f == bytes[..]);
        let path = tmp.path().join("f");
        let touched = resident_kib(&path);
        f.slice(1000..3 << 20).unwrap().release_pages();
        f.release_pages();
        if let (Some(before), Some(after)) = (touched, resident_kib(&path)) {
            // Where the system reports it: the whole file was resident
            // after the read, nothing is after the release.
            assert!(before >= 4 << 10, "{before} KiB resident after a full read");
            assert_eq!(after, 0, "pages still resident after release");
        }
        assert!(*f == bytes[..], "bytes changed by a release");
        assert_eq!(
            resident_kib(&path).map(|k| k >= 4 << 10),
            touched.map(|_| true)
        );
        // Out-of-range and empty releases do nothing.
        f.slice(0..0).unwrap().release_pages();
        FileSlice::empty().release_pages();
    }
}
