//! [`FaultyDirectory`]: seeded, reproducible storage faults for tests.
//!
//! It wraps any [`Directory`] and can:
//!
//! * fail the Nth operation of a kind ([`OpKind`]) with EIO or ENOSPC, once
//!   or from then on ("sticky", until [`FaultyDirectory::clear_faults`]);
//! * fail operations of a kind at random with a probability (seeded);
//! * [`crash`](FaultyDirectory::crash): forget every byte not made durable by
//!   [`Directory::sync`] and every creation, rename or deletion not made
//!   durable by [`Directory::sync_dir`], tearing the last unsynced write at a
//!   seeded random point;
//! * corrupt reads: flip chosen bits or truncate a file when it is opened.
//!
//! Every random choice comes from the seed given to
//! [`FaultyDirectory::new`]; tests print it on failure
//! ([`FaultyDirectory::seed`]) so any failure can be replayed.
//!
//! ```
//! use lucerna_store::{Directory, RamDirectory, FaultyDirectory, OpKind, Fault};
//! let dir = FaultyDirectory::new(RamDirectory::new(), 42);
//! dir.fail_at(OpKind::Rename, 1, Fault::Eio);
//! lucerna_store::write_file(&dir, "a", b"x").unwrap();
//! lucerna_store::write_file(&dir, "b", b"y").unwrap();
//! dir.rename("a", "a2").unwrap();          // rename #0 succeeds
//! assert!(dir.rename("b", "b2").is_err()); // rename #1 fails
//! ```

use crate::directory::{Directory, FileWrite, LockGuard};
use crate::error::{Result, StoreError};
use crate::rng::SplitMix64;
use crate::slice::FileSlice;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::Arc;

/// Kinds of directory operations that faults can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpKind {
    /// [`Directory::create`].
    Create,
    /// [`FileWrite::write_all`].
    Write,
    /// [`FileWrite::finish`].
    Finish,
    /// [`Directory::sync`] (one operation per call).
    Sync,
    /// [`Directory::sync_dir`].
    SyncDir,
    /// [`Directory::rename`].
    Rename,
    /// [`Directory::delete`].
    Delete,
    /// [`Directory::open`].
    Open,
}

impl OpKind {
    /// Every kind.
    pub const ALL: [OpKind; 8] = [
        OpKind::Create,
        OpKind::Write,
        OpKind::Finish,
        OpKind::Sync,
        OpKind::SyncDir,
        OpKind::Rename,
        OpKind::Delete,
        OpKind::Open,
    ];

    fn index(self) -> usize {
        self as usize
    }

    fn label(self) -> &'static str {
        match self {
            OpKind::Create => "create",
            OpKind::Write => "write",
            OpKind::Finish => "finish",
            OpKind::Sync => "sync",
            OpKind::SyncDir => "sync directory",
            OpKind::Rename => "rename",
            OpKind::Delete => "delete",
            OpKind::Open => "open",
        }
    }
}

/// The error an injected fault produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// EIO: an input/output error.
    Eio,
    /// ENOSPC: no space left on the device.
    Enospc,
}

impl Fault {
    fn to_io(self) -> io::Error {
        match self {
            Fault::Eio => io::Error::from_raw_os_error(5),
            Fault::Enospc => io::Error::from_raw_os_error(28),
        }
    }
}

/// A corruption applied to a file's bytes when it is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadCorruption {
    /// Flip bit `bit` (0..8) of the byte at `offset` (ignored past the end).
    FlipBit {
        /// Byte offset.
        offset: u64,
        /// Bit within the byte.
        bit: u8,
    },
    /// Present only the first `len` bytes.
    Truncate {
        /// New length.
        len: u64,
    },
}

#[derive(Debug, Clone)]
struct Rule {
    kind: OpKind,
    at: u64,
    fault: Fault,
    sticky: bool,
}

#[derive(Debug)]
struct State {
    seed: u64,
    rng: SplitMix64,
    epoch: u64,
    counts: [u64; 8],
    rules: Vec<Rule>,
    random: Vec<(OpKind, f64, Fault)>,
    read_faults: HashMap<String, Vec<ReadCorruption>>,
    next_inode: u64,
    names: BTreeMap<String, u64>,
    durable_names: BTreeMap<String, u64>,
    content: HashMap<u64, Vec<u8>>,
    synced_len: HashMap<u64, usize>,
    last_write: Option<u64>,
    fired: Vec<String>,
}

impl State {
    /// Counts one operation of `kind` and returns the fault to inject, if any.
    fn tick(&mut self, kind: OpKind, file: &str) -> Option<Fault> {
        let n = self.counts[kind.index()];
        self.counts[kind.index()] += 1;
        let mut hit = None;
        for r in &self.rules {
            if r.kind == kind && (n == r.at || (r.sticky && n > r.at)) {
                hit = Some(r.fault);
                break;
            }
        }
        if hit.is_none() {
            for i in 0..self.random.len() {
                let (k, p, f) = self.random[i];
                if k == kind && self.rng.chance(p) {
                    hit = Some(f);
                    break;
                }
            }
        }
        if let Some(f) = hit {
            self.fired
                .push(format!("{} #{n} `{file}`: {f:?}", kind.label()));
        }
        hit
    }
}

/// A [`Directory`] wrapper that injects seeded faults (see the module docs).
#[derive(Debug, Clone)]
pub struct FaultyDirectory<D: Directory> {
    inner: Arc<D>,
    state: Arc<Mutex<State>>,
}

fn injected(kind: OpKind, file: &str, fault: Fault) -> StoreError {
    StoreError::io(kind.label(), file, fault.to_io())
}

impl<D: Directory> FaultyDirectory<D> {
    /// Wraps `inner`. Files already in it count as durable. `seed` drives
    /// every random choice.
    pub fn new(inner: D, seed: u64) -> Self {
        let mut state = State {
            seed,
            rng: SplitMix64::new(seed),
            epoch: 0,
            counts: [0; 8],
            rules: Vec::new(),
            random: Vec::new(),
            read_faults: HashMap::new(),
            next_inode: 0,
            names: BTreeMap::new(),
            durable_names: BTreeMap::new(),
            content: HashMap::new(),
            synced_len: HashMap::new(),
            last_write: None,
            fired: Vec::new(),
        };
        for name in inner.list().unwrap_or_default() {
            if let Ok(bytes) = inner.open(&name) {
                let ino = state.next_inode;
                state.next_inode += 1;
                state.synced_len.insert(ino, bytes.len());
                state.content.insert(ino, bytes.to_vec());
                state.names.insert(name.clone(), ino);
                state.durable_names.insert(name, ino);
            }
        }
        FaultyDirectory {
            inner: Arc::new(inner),
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// The seed; print it when a test fails.
    pub fn seed(&self) -> u64 {
        self.state.lock().seed
    }

    /// The wrapped directory.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    /// Fails operation number `at` (0-based) of `kind` with `fault`, once.
    pub fn fail_at(&self, kind: OpKind, at: u64, fault: Fault) {
        self.state.lock().rules.push(Rule {
            kind,
            at,
            fault,
            sticky: false,
        });
    }

    /// Fails operation `at` of `kind` and every later one of that kind until
    /// [`clear_faults`](Self::clear_faults) (a full disk stays full).
    pub fn fail_from(&self, kind: OpKind, at: u64, fault: Fault) {
        self.state.lock().rules.push(Rule {
            kind,
            at,
            fault,
            sticky: true,
        });
    }

    /// Fails each operation of `kind` with probability `p` (seeded).
    pub fn fail_randomly(&self, kind: OpKind, p: f64, fault: Fault) {
        self.state.lock().random.push((kind, p, fault));
    }

    /// Removes every operation fault (read corruptions stay).
    pub fn clear_faults(&self) {
        let mut s = self.state.lock();
        s.rules.clear();
        s.random.clear();
    }

    /// Corrupts the bytes of `name` every time it is opened from now on.
    pub fn corrupt_on_read(&self, name: &str, c: ReadCorruption) {
        self.state
            .lock()
            .read_faults
            .entry(name.to_string())
            .or_default()
            .push(c);
    }

    /// Removes every read corruption.
    pub fn clear_read_corruptions(&self) {
        self.state.lock().read_faults.clear();
    }

    /// How many operations of `kind` were attempted so far.
    pub fn op_count(&self, kind: OpKind) -> u64 {
        self.state.lock().counts[kind.index()]
    }

    /// Total operations of every kind attempted so far.
    pub fn total_ops(&self) -> u64 {
        self.state.lock().counts.iter().sum()
    }

    /// Resets operation counters to zero (rules keep their numbers).
    pub fn reset_counts(&self) {
        self.state.lock().counts = [0; 8];
    }

    /// Descriptions of every fault that fired, in order.
    pub fn fired(&self) -> Vec<String> {
        self.state.lock().fired.clone()
    }

    /// Simulates power loss and restart.
    ///
    /// Afterwards the directory holds exactly the durable state: the names
    /// as of the last [`Directory::sync_dir`], each with the bytes as of its
    /// last [`Directory::sync`]; the file that took the most recent unsynced
    /// write keeps a seeded-random prefix of its unsynced bytes (a torn
    /// write). Writers opened before the crash fail with
    /// [`StoreError::Crashed`].
    pub fn crash(&self) -> Result<()> {
        let mut s = self.state.lock();
        s.epoch += 1;
        let mut survivors: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let durable: Vec<(String, u64)> = s
            .durable_names
            .iter()
            .map(|(n, i)| (n.clone(), *i))
            .collect();
        let torn_ino = s.last_write;
        for (name, ino) in &durable {
            let content = s.content.get(ino).cloned().unwrap_or_default();
            let synced = s
                .synced_len
                .get(ino)
                .copied()
                .unwrap_or(0)
                .min(content.len());
            let mut keep = synced;
            if Some(*ino) == torn_ino && content.len() > synced {
                keep += s.rng.below((content.len() - synced) as u64 + 1) as usize;
            }
            survivors.insert(name.clone(), content[..keep].to_vec());
        }
        for name in self.inner.list()? {
            if s.names.contains_key(&name) || s.durable_names.contains_key(&name) {
                self.inner.delete(&name)?;
            }
        }
        s.names.clear();
        s.durable_names.clear();
        s.content.clear();
        s.synced_len.clear();
        s.last_write = None;
        for (name, bytes) in survivors {
            let mut w = self.inner.create(&name)?;
            w.write_all(&bytes)?;
            w.finish()?;
            self.inner.sync(&[&name])?;
            let ino = s.next_inode;
            s.next_inode += 1;
            s.synced_len.insert(ino, bytes.len());
            s.content.insert(ino, bytes);
            s.names.insert(name.clone(), ino);
            s.durable_names.insert(name, ino);
        }
        self.inner.sync_dir()?;
        Ok(())
    }
}

struct FaultyWriter {
    name: String,
    ino: u64,
    epoch: u64,
    out: Box<dyn FileWrite>,
    state: Arc<Mutex<State>>,
}

impl FileWrite for FaultyWriter {
    fn write_all(&mut self, buf: &[u8]) -> Result<()> {
        let mut s = self.state.lock();
        if s.epoch != self.epoch {
            return Err(StoreError::Crashed {
                file: self.name.clone(),
            });
        }
        if let Some(f) = s.tick(OpKind::Write, &self.name) {
            return Err(injected(OpKind::Write, &self.name, f));
        }
        self.out.write_all(buf)?;
        s.content
            .entry(self.ino)
            .or_default()
            .extend_from_slice(buf);
        s.last_write = Some(self.ino);
        Ok(())
    }
    fn bytes_written(&self) -> u64 {
        self.out.bytes_written()
    }
    /// Counts as an [`OpKind::Sync`]; afterwards the bytes written so far
    /// survive [`FaultyDirectory::crash`].
    fn sync(&mut self) -> Result<()> {
        let mut s = self.state.lock();
        if s.epoch != self.epoch {
            return Err(StoreError::Crashed {
                file: self.name.clone(),
            });
        }
        if let Some(f) = s.tick(OpKind::Sync, &self.name) {
            return Err(injected(OpKind::Sync, &self.name, f));
        }
        self.out.sync()?;
        let len = s.content.get(&self.ino).map_or(0, |c| c.len());
        s.synced_len.insert(self.ino, len);
        if s.last_write == Some(self.ino) {
            s.last_write = None;
        }
        Ok(())
    }
    fn finish(self: Box<Self>) -> Result<u64> {
        {
            let mut s = self.state.lock();
            if s.epoch != self.epoch {
                return Err(StoreError::Crashed { file: self.name });
            }
            if let Some(f) = s.tick(OpKind::Finish, &self.name) {
                return Err(injected(OpKind::Finish, &self.name, f));
            }
        }
        self.out.finish()
    }
}

#[derive(Debug)]
struct FaultyLock(#[allow(dead_code)] Box<dyn LockGuard>);
impl LockGuard for FaultyLock {}

impl<D: Directory> Directory for FaultyDirectory<D> {
    fn create(&self, name: &str) -> Result<Box<dyn FileWrite>> {
        let mut s = self.state.lock();
        if let Some(f) = s.tick(OpKind::Create, name) {
            return Err(injected(OpKind::Create, name, f));
        }
        let out = self.inner.create(name)?;
        let ino = s.next_inode;
        s.next_inode += 1;
        s.names.insert(name.to_string(), ino);
        s.content.insert(ino, Vec::new());
        s.synced_len.insert(ino, 0);
        Ok(Box::new(FaultyWriter {
            name: name.to_string(),
            ino,
            epoch: s.epoch,
            out,
            state: self.state.clone(),
        }))
    }

    fn open(&self, name: &str) -> Result<FileSlice> {
        let corruptions = {
            let mut s = self.state.lock();
            if let Some(f) = s.tick(OpKind::Open, name) {
                return Err(injected(OpKind::Open, name, f));
            }
            s.read_faults.get(name).cloned()
        };
        let data = self.inner.open(name)?;
        match corruptions {
            None => Ok(data),
            Some(cs) => {
                let mut bytes = data.to_vec();
                for c in cs {
                    match c {
                        ReadCorruption::FlipBit { offset, bit } => {
                            if let Some(b) = bytes.get_mut(offset as usize) {
                                *b ^= 1 << (bit & 7);
                            }
                        }
                        ReadCorruption::Truncate { len } => {
                            bytes.truncate(len.min(bytes.len() as u64) as usize)
                        }
                    }
                }
                Ok(FileSlice::from_vec(bytes))
            }
        }
    }

    fn list(&self) -> Result<Vec<String>> {
        self.inner.list()
    }

    fn exists(&self, name: &str) -> Result<bool> {
        self.inner.exists(name)
    }

    fn delete(&self, name: &str) -> Result<()> {
        let mut s = self.state.lock();
        if let Some(f) = s.tick(OpKind::Delete, name) {
            return Err(injected(OpKind::Delete, name, f));
        }
        self.inner.delete(name)?;
        s.names.remove(name);
        Ok(())
    }

    fn rename(&self, from: &str, to: &str) -> Result<()> {
        let mut s = self.state.lock();
        if let Some(f) = s.tick(OpKind::Rename, from) {
            return Err(injected(OpKind::Rename, from, f));
        }
        self.inner.rename(from, to)?;
        if let Some(ino) = s.names.remove(from) {
            s.names.insert(to.to_string(), ino);
        }
        Ok(())
    }

    fn sync(&self, names: &[&str]) -> Result<()> {
        let mut s = self.state.lock();
        let label = names.first().copied().unwrap_or("");
        if let Some(f) = s.tick(OpKind::Sync, label) {
            return Err(injected(OpKind::Sync, label, f));
        }
        self.inner.sync(names)?;
        for name in names {
            if let Some(&ino) = s.names.get(*name) {
                let len = s.content.get(&ino).map_or(0, |c| c.len());
                s.synced_len.insert(ino, len);
                if s.last_write == Some(ino) {
                    s.last_write = None;
                }
            }
        }
        Ok(())
    }

    fn sync_dir(&self) -> Result<()> {
        let mut s = self.state.lock();
        if let Some(f) = s.tick(OpKind::SyncDir, "") {
            return Err(injected(OpKind::SyncDir, "<directory>", f));
        }
        self.inner.sync_dir()?;
        s.durable_names = s.names.clone();
        // Inodes no longer reachable from any name are gone for good.
        let live: std::collections::HashSet<u64> = s.names.values().copied().collect();
        s.content.retain(|k, _| live.contains(k));
        s.synced_len.retain(|k, _| live.contains(k));
        Ok(())
    }

    fn file_len(&self, name: &str) -> Result<u64> {
        self.inner.file_len(name)
    }

    fn try_lock(&self, name: &str) -> Result<Box<dyn LockGuard>> {
        Ok(Box::new(FaultyLock(self.inner.try_lock(name)?)))
    }
}
