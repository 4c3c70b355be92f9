//! [`ObjectDirectory`]: a bucket prefix as a Lucerna
//! [`Directory`], so that [`Index::open`](lucerna::Index::open),
//! [`replicate_with`](lucerna::index::replica::replicate_with) (a writer's
//! replicas), [`repair`](lucerna::index::recovery::repair) and `check` work
//! on a bucket unchanged.
//!
//! The flat namespace maps onto keys (see [`crate::keys`]):
//!
//! * `commit-<g>` is manifest `<g>` (only manifests that count, see
//!   [`Chain`]); opening it returns the commit file's bytes;
//! * `seg_*` files are `segments/<segment id>/<name>`, the id taken from
//!   the file's header when it is written and from the manifests when it
//!   is read;
//! * every other name (corruption markers) lives in a local directory
//!   beside the cache: what a reader learns about damage stays with it.
//!
//! Writing: a file is buffered until it is finished and renamed to its
//! final name (`<name>.tmp` → `<name>`, how Lucerna writes every file).
//! The rename of a segment file uploads it once (create if absent; an
//! existing object with the same length and footer CRC is ours). The
//! rename of `commit-<g>.tmp` to `commit-<g>` *publishes* generation `g`
//! by the commit protocol of [`Catalog::publish`]: an error there means
//! nothing was published (lost race, fenced, or the bucket failing).
//! `sync` and `sync_dir` have nothing to do: a put that returned is
//! durable in the bucket.
//!
//! Deleting a commit or segment file only hides it from this handle:
//! other processes may still read it, so objects are removed by the
//! [garbage collector](mod@crate::gc) only, which honours retained commits,
//! snapshots and reader leases.
//!
//! Reading: a segment file is fetched whole on first open with ranged
//! reads, verified (length, full CRC, the manifest's CRC, the segment id)
//! and kept in the local [`FileCache`]; a damaged or truncated answer is
//! fetched again, and what still fails is a corruption error naming the
//! object. Nothing unverified is ever served.

use crate::bucket::{Bucket, MULTIPART_THRESHOLD};
use crate::cache::{verify, FileCache, FileLoc};
use crate::catalog::{Catalog, Publish};
use crate::chain::Chain;
use crate::error::{ObjectError, Result};
use crate::keys::segment_key;
use crate::lease::ReaderLease;
use crate::manifest::{decode_commit, Manifest};
use lucerna::index::Commit;
use lucerna::store::envelope::FOOTER_LEN;
use lucerna::store::{
    Directory, EnvelopeReader, FileSlice, FileWrite, FsDirectory, LockGuard, StoreError,
};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

type SResult<T> = std::result::Result<T, StoreError>;

/// What a name stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Commit(u64),
    Segment,
    /// `<commit or segment name>.tmp`: buffered until renamed.
    Pending,
    Local,
}

fn kind(name: &str) -> Kind {
    if let Some(g) = Commit::parse_file_name(name) {
        return Kind::Commit(g);
    }
    if let Some(base) = name.strip_suffix(".tmp") {
        if Commit::parse_file_name(base).is_some() || base.starts_with("seg_") {
            return Kind::Pending;
        }
    }
    if name.starts_with("seg_") {
        return Kind::Segment;
    }
    Kind::Local
}

/// The writer side of a handle: its epoch and what it built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterEpoch {
    /// This writer's epoch (recorded in every manifest it publishes).
    pub epoch: u64,
    /// The epoch whose log the published commits' log positions count in.
    pub log_epoch: u64,
    /// The newest valid generation this writer built on (`None`: an empty
    /// prefix).
    pub parent: Option<u64>,
}

#[derive(Debug, Default)]
struct State {
    /// Finished files not yet renamed to their final name.
    pending: HashMap<String, Arc<Vec<u8>>>,
    /// Segment files uploaded through this handle.
    uploaded: HashMap<String, FileLoc>,
    /// Segment files of the valid manifests (newest wins).
    published: HashMap<String, FileLoc>,
    /// Names deleted through this handle (left to the garbage collector).
    hidden: HashSet<String>,
    /// The chain as last listed.
    chain: Chain,
    /// Writer side (`None`: read-only).
    writer: Option<WriterEpoch>,
    /// Set once this handle lost a race or was fenced: it never publishes
    /// again.
    fenced: Option<String>,
    /// The last publish error (cleared by a success).
    last_error: Option<String>,
    /// Manifests published (or recognised as ours) through this handle.
    published_count: u64,
    /// Reader leases: `(this reader's id, term)` when leasing is on.
    lease: Option<(u64, Duration)>,
    /// Leases held, by generation.
    leases: BTreeMap<u64, ReaderLease>,
}

struct Inner {
    catalog: Catalog,
    cache: FileCache,
    local: FsDirectory,
    state: Mutex<State>,
    locks: Arc<Mutex<HashSet<String>>>,
}

/// A bucket prefix as a [`Directory`] (see the module docs). Cheap to
/// clone; clones share state.
#[derive(Clone)]
pub struct ObjectDirectory {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ObjectDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ObjectDirectory({})", self.inner.catalog.bucket())
    }
}

impl ObjectDirectory {
    fn build(bucket: Bucket, cache_dir: &Path, writer: Option<WriterEpoch>) -> Result<Self> {
        let cache = FileCache::open(&cache_dir.join("files"))?;
        let local = FsDirectory::open(cache_dir.join("local"))?;
        let dir = ObjectDirectory {
            inner: Arc::new(Inner {
                catalog: Catalog::new(bucket),
                cache,
                local,
                state: Mutex::new(State {
                    writer,
                    ..State::default()
                }),
                locks: Arc::default(),
            }),
        };
        dir.refresh()?;
        Ok(dir)
    }

    /// A read-only view of the index under `bucket`'s prefix, caching
    /// fetched files in local directory `cache_dir`. Open it with
    /// [`Index::open`](lucerna::Index::open); readers follow new commits
    /// with [`IndexReader::reload`](lucerna::IndexReader::reload).
    pub fn read_only(bucket: Bucket, cache_dir: &Path) -> Result<Self> {
        Self::build(bucket, cache_dir, None)
    }

    /// A read-only view (as [`read_only`](Self::read_only)) that holds a
    /// [`ReaderLease`] of term `ttl` on the commit it opens, so that the
    /// garbage collector keeps that commit's objects while it is in use:
    /// opening a newer commit (a reader's reload) releases the leases of
    /// older ones, and dropping the handle releases all. A reader that
    /// dies leaves a lease that expires after `ttl`.
    pub fn read_only_leased(bucket: Bucket, cache_dir: &Path, ttl: Duration) -> Result<Self> {
        let dir = Self::build(bucket, cache_dir, None)?;
        let id = u64::from_le_bytes(
            lucerna::index::IndexId::fresh().0[..8]
                .try_into()
                .unwrap_or_default(),
        );
        dir.inner.state.lock().lease = Some((id, ttl));
        Ok(dir)
    }

    /// Generations this handle holds reader leases on.
    pub fn leased(&self) -> Vec<u64> {
        self.inner.state.lock().leases.keys().copied().collect()
    }

    /// Takes the lease on commit `g` (when leasing) and releases the
    /// leases of older commits.
    fn lease(&self, g: u64) -> Result<()> {
        let (id, ttl) = {
            let st = self.inner.state.lock();
            // Reading an older commit than one already held (the evidence
            // a reload gathers reads every commit) takes no lease.
            let past = st.leases.keys().next_back().is_some_and(|&n| n >= g);
            match st.lease {
                Some(l) if !past => l,
                _ => return Ok(()),
            }
        };
        let lease = ReaderLease::acquire(self.bucket(), id, g, ttl)?;
        let mut st = self.inner.state.lock();
        st.leases.insert(g, lease);
        let older: Vec<u64> = st.leases.keys().copied().filter(|&x| x < g).collect();
        let dropped: Vec<ReaderLease> = older.iter().filter_map(|x| st.leases.remove(x)).collect();
        drop(st);
        // Released outside the lock (each is a delete in the bucket).
        drop(dropped);
        Ok(())
    }

    /// A handle that publishes: a writer's replica in the bucket (add it
    /// to [`WriterConfig::replicas`](lucerna::WriterConfig::replicas)). It
    /// takes the epoch after every epoch in the bucket and builds on the
    /// newest valid manifest: its first publish fences every older writer.
    pub fn replica(bucket: Bucket, cache_dir: &Path) -> Result<Self> {
        let chain = Catalog::new(bucket.clone()).chain()?;
        let epoch = chain.max_epoch() + 1;
        Self::build(
            bucket,
            cache_dir,
            Some(WriterEpoch {
                epoch,
                log_epoch: epoch,
                parent: chain.newest_generation(),
            }),
        )
    }

    /// A publishing handle with an explicit writer side (see
    /// [`BucketWriter`](crate::BucketWriter), which manages epochs).
    pub fn with_writer(bucket: Bucket, cache_dir: &Path, writer: WriterEpoch) -> Result<Self> {
        Self::build(bucket, cache_dir, Some(writer))
    }

    /// The catalog of manifests.
    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    /// The bucket.
    pub fn bucket(&self) -> &Bucket {
        self.inner.catalog.bucket()
    }

    /// The writer side (`None`: read-only).
    pub fn writer_epoch(&self) -> Option<WriterEpoch> {
        self.inner.state.lock().writer
    }

    /// Why this handle may not publish any more (it lost a race or was
    /// fenced), if so.
    pub fn fenced(&self) -> Option<String> {
        self.inner.state.lock().fenced.clone()
    }

    /// Sets the epoch whose log the next published commits' log positions
    /// count in (a writer that took over switches to its own epoch once it
    /// replayed every older epoch's log).
    pub fn set_log_epoch(&self, log_epoch: u64) {
        if let Some(w) = self.inner.state.lock().writer.as_mut() {
            w.log_epoch = log_epoch;
        }
    }

    /// The last publish or upload error (cleared by the next success).
    pub fn last_error(&self) -> Option<String> {
        self.inner.state.lock().last_error.clone()
    }

    /// Manifests this handle published (or recognised as its own).
    pub fn published_count(&self) -> u64 {
        self.inner.state.lock().published_count
    }

    /// The local cache directory of fetched files.
    pub fn cache_path(&self) -> &Path {
        self.inner.cache.path()
    }

    /// Lists the manifests again and returns the chain.
    pub fn refresh(&self) -> Result<Chain> {
        let chain = self.inner.catalog.chain()?;
        let mut published = HashMap::new();
        for g in chain.valid() {
            for seg in &chain.manifests[g].commit.segments {
                for f in &seg.files {
                    published.insert(
                        f.name.clone(),
                        FileLoc {
                            id: seg.id,
                            len: f.meta.len,
                            crc: f.meta.checksum,
                        },
                    );
                }
            }
        }
        let mut st = self.inner.state.lock();
        st.published = published;
        st.chain = chain.clone();
        Ok(chain)
    }

    fn lookup(&self, name: &str) -> Result<Option<FileLoc>> {
        {
            let st = self.inner.state.lock();
            if st.hidden.contains(name) {
                return Ok(None);
            }
            if let Some(l) = st.uploaded.get(name).or(st.published.get(name)) {
                return Ok(Some(*l));
            }
        }
        self.refresh()?;
        let st = self.inner.state.lock();
        Ok(st.uploaded.get(name).or(st.published.get(name)).copied())
    }

    /// Bytes `range` of segment file `name` read straight from the bucket
    /// (one ranged read, exact length checked; not cached). Only whole
    /// files can be checked against their CRC: use it for sampling.
    pub fn read_range(&self, name: &str, range: Range<u64>) -> Result<Vec<u8>> {
        let loc = self.lookup(name)?.ok_or_else(|| ObjectError::NotFound {
            key: name.to_string(),
        })?;
        if range.end > loc.len || range.start > range.end {
            return Err(ObjectError::Config(format!(
                "range {range:?} is outside `{name}` ({} bytes)",
                loc.len
            )));
        }
        self.bucket().get_range(&segment_key(&loc.id, name), range)
    }

    /// File `name` of `loc`: from the cache, else fetched, verified and
    /// cached. A damaged answer is fetched again (the retry policy's
    /// attempts); what stays damaged is a corruption error.
    fn fetch(&self, name: &str, loc: &FileLoc) -> Result<FileSlice> {
        if let Some(b) = self.inner.cache.get(name, loc)? {
            return Ok(b);
        }
        let key = segment_key(&loc.id, name);
        let mut last = None;
        for _ in 0..self.bucket().retry_policy().attempts.max(1) {
            let bytes = self.bucket().get_chunked(&key, loc.len)?;
            let slice = FileSlice::from_vec(bytes);
            match verify(&key, name, &slice, loc) {
                Ok(()) => return self.inner.cache.put(name, loc, &slice),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(ObjectError::NotFound { key }))
    }

    /// Uploads finished segment file `name` once and caches it.
    fn upload_segment(&self, name: &str, bytes: Arc<Vec<u8>>) -> Result<FileLoc> {
        let slice = FileSlice::from_vec(bytes.to_vec());
        // Never upload damage: the file must verify whole.
        let env = EnvelopeReader::open_checked(name, slice.clone())?;
        env.verify_full()?;
        let loc = FileLoc {
            id: env.header().id,
            len: slice.len() as u64,
            crc: env.checksum(),
        };
        let key = segment_key(&loc.id, name);
        let bucket = self.bucket();
        if bytes.len() >= MULTIPART_THRESHOLD {
            match bucket.head(&key)? {
                Some(n) if n == loc.len => {
                    let tail = bucket.get_range(&key, n - FOOTER_LEN as u64..n)?;
                    if tail != bytes[bytes.len() - FOOTER_LEN..] {
                        return Err(ObjectError::Conflict { key });
                    }
                }
                Some(_) => return Err(ObjectError::Conflict { key }),
                None => {
                    bucket.put_multipart(&key, &bytes)?;
                    if bucket.head(&key)? != Some(loc.len) {
                        return Err(ObjectError::corrupt(
                            &key,
                            0,
                            loc.len,
                            0,
                            "uploaded object has another length",
                        ));
                    }
                }
            }
        } else {
            bucket.create(&key, &bytes)?;
        }
        self.inner.cache.put(name, &loc, &bytes)?;
        Ok(loc)
    }

    /// Publishes commit file `commit-<g>` (its bytes): the commit protocol.
    fn publish_commit(&self, g: u64, bytes: Arc<Vec<u8>>) -> Result<Publish> {
        let writer = {
            let st = self.inner.state.lock();
            if let Some(why) = &st.fenced {
                return Err(ObjectError::Config(format!(
                    "this handle may not publish any more: {why}"
                )));
            }
            st.writer.ok_or_else(|| {
                ObjectError::Config("a read-only bucket view cannot publish commits".into())
            })?
        };
        let commit = decode_commit(g, &bytes)?;
        let m = Manifest {
            generation: g,
            epoch: writer.epoch,
            log_epoch: writer.log_epoch,
            commit,
            commit_bytes: bytes.to_vec(),
        };
        let r = self.inner.catalog.publish(&m, writer.parent);
        let mut st = self.inner.state.lock();
        match &r {
            Ok(_) => {
                if let Some(w) = st.writer.as_mut() {
                    w.parent = Some(g);
                }
                st.hidden.remove(&Commit::file_name(g));
                st.last_error = None;
                st.published_count += 1;
            }
            Err(e) => {
                if e.is_fenced() || e.is_lost_race() {
                    st.fenced = Some(e.to_string());
                }
                st.last_error = Some(e.to_string());
            }
        }
        r
    }

    /// A finished file reaches its final name.
    fn finish_file(&self, name: &str, bytes: Arc<Vec<u8>>) -> SResult<()> {
        match kind(name) {
            Kind::Commit(g) => self
                .publish_commit(g, bytes)
                .map(|_| ())
                .map_err(|e| e.into_store("publish", name)),
            Kind::Segment => {
                self.check_writable(name)?;
                match self.upload_segment(name, bytes) {
                    Ok(loc) => {
                        let mut st = self.inner.state.lock();
                        st.uploaded.insert(name.to_string(), loc);
                        st.hidden.remove(name);
                        Ok(())
                    }
                    Err(e) => {
                        self.inner.state.lock().last_error = Some(e.to_string());
                        Err(e.into_store("upload", name))
                    }
                }
            }
            Kind::Pending => {
                self.inner
                    .state
                    .lock()
                    .pending
                    .insert(name.to_string(), bytes);
                Ok(())
            }
            Kind::Local => lucerna::store::write_file(&self.inner.local, name, &bytes).map(|_| ()),
        }
    }

    fn check_writable(&self, name: &str) -> SResult<()> {
        if self.inner.state.lock().writer.is_none() {
            return Err(StoreError::InvalidArgument {
                file: name.to_string(),
                reason: "a read-only bucket view cannot write index files".into(),
            });
        }
        Ok(())
    }

    fn names(&self) -> Result<Vec<String>> {
        let chain = self.refresh()?;
        let st = self.inner.state.lock();
        let mut v: Vec<String> = chain
            .valid()
            .iter()
            .copied()
            .chain(chain.unreadable.iter().map(|u| u.0))
            .map(Commit::file_name)
            .chain(st.published.keys().cloned())
            .chain(st.uploaded.keys().cloned())
            .chain(st.pending.keys().cloned())
            .filter(|n| !st.hidden.contains(n))
            .collect();
        drop(st);
        v.extend(self.inner.local.list()?);
        v.sort();
        v.dedup();
        Ok(v)
    }
}

/// A file being written to an [`ObjectDirectory`]: buffered in memory.
struct BufferedWrite {
    dir: ObjectDirectory,
    name: String,
    buf: Vec<u8>,
}

impl FileWrite for BufferedWrite {
    fn write_all(&mut self, buf: &[u8]) -> SResult<()> {
        self.buf.extend_from_slice(buf);
        Ok(())
    }
    fn bytes_written(&self) -> u64 {
        self.buf.len() as u64
    }
    fn finish(self: Box<Self>) -> SResult<u64> {
        let n = self.buf.len() as u64;
        let BufferedWrite { dir, name, buf } = *self;
        dir.finish_file(&name, Arc::new(buf))?;
        Ok(n)
    }
}

#[derive(Debug)]
struct ProcessLock {
    name: String,
    locks: Arc<Mutex<HashSet<String>>>,
}

impl LockGuard for ProcessLock {}

impl Drop for ProcessLock {
    fn drop(&mut self) {
        self.locks.lock().remove(&self.name);
    }
}

impl Directory for ObjectDirectory {
    fn create(&self, name: &str) -> SResult<Box<dyn FileWrite>> {
        if kind(name) == Kind::Local {
            return self.inner.local.create(name);
        }
        self.check_writable(name)?;
        if self.exists(name)? {
            return Err(StoreError::AlreadyExists {
                file: name.to_string(),
            });
        }
        Ok(Box::new(BufferedWrite {
            dir: self.clone(),
            name: name.to_string(),
            buf: Vec::new(),
        }))
    }

    fn open(&self, name: &str) -> SResult<FileSlice> {
        let not_found = || StoreError::NotFound {
            file: name.to_string(),
        };
        {
            let st = self.inner.state.lock();
            if st.hidden.contains(name) {
                return Err(not_found());
            }
            if let Some(b) = st.pending.get(name) {
                return Ok(FileSlice::from_vec(b.to_vec()));
            }
        }
        match kind(name) {
            Kind::Commit(g) => match self.inner.catalog.manifest(g) {
                Ok(m) => {
                    self.lease(g).map_err(|e| e.into_store("lease", name))?;
                    Ok(FileSlice::from_vec(m.commit_bytes.clone()))
                }
                Err(e) => Err(e.into_store("open", name)),
            },
            Kind::Segment => {
                let loc = self
                    .lookup(name)
                    .map_err(|e| e.into_store("open", name))?
                    .ok_or_else(not_found)?;
                self.fetch(name, &loc)
                    .map_err(|e| e.into_store("open", name))
            }
            Kind::Pending => Err(not_found()),
            Kind::Local => self.inner.local.open(name),
        }
    }

    fn list(&self) -> SResult<Vec<String>> {
        self.names().map_err(|e| e.into_store("list", ""))
    }

    fn exists(&self, name: &str) -> SResult<bool> {
        {
            let st = self.inner.state.lock();
            if st.hidden.contains(name) {
                return Ok(false);
            }
            if st.pending.contains_key(name) {
                return Ok(true);
            }
        }
        match kind(name) {
            Kind::Commit(g) => {
                let chain = self.refresh().map_err(|e| e.into_store("list", name))?;
                Ok(chain.is_valid(g) || chain.unreadable.iter().any(|u| u.0 == g))
            }
            Kind::Segment => Ok(self
                .lookup(name)
                .map_err(|e| e.into_store("list", name))?
                .is_some()),
            Kind::Pending => Ok(false),
            Kind::Local => self.inner.local.exists(name),
        }
    }

    fn delete(&self, name: &str) -> SResult<()> {
        match kind(name) {
            Kind::Local => self.inner.local.delete(name),
            Kind::Pending => {
                self.inner.state.lock().pending.remove(name);
                Ok(())
            }
            Kind::Commit(_) | Kind::Segment => {
                // Left to the garbage collector: other processes may read it.
                self.inner.state.lock().hidden.insert(name.to_string());
                Ok(())
            }
        }
    }

    fn rename(&self, from: &str, to: &str) -> SResult<()> {
        if kind(from) == Kind::Local && kind(to) == Kind::Local {
            return self.inner.local.rename(from, to);
        }
        let bytes = self.inner.state.lock().pending.get(from).cloned();
        let Some(bytes) = bytes else {
            return Err(StoreError::NotFound {
                file: from.to_string(),
            });
        };
        self.finish_file(to, bytes)?;
        self.inner.state.lock().pending.remove(from);
        Ok(())
    }

    fn sync(&self, names: &[&str]) -> SResult<()> {
        let local: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| kind(n) == Kind::Local)
            .collect();
        if local.is_empty() {
            Ok(())
        } else {
            self.inner.local.sync(&local)
        }
    }

    fn sync_dir(&self) -> SResult<()> {
        self.inner.local.sync_dir()
    }

    fn file_len(&self, name: &str) -> SResult<u64> {
        if let Some(b) = self.inner.state.lock().pending.get(name) {
            return Ok(b.len() as u64);
        }
        match kind(name) {
            Kind::Commit(_) => Ok(self.open(name)?.len() as u64),
            Kind::Segment => self
                .lookup(name)
                .map_err(|e| e.into_store("open", name))?
                .map(|l| l.len)
                .ok_or_else(|| StoreError::NotFound {
                    file: name.to_string(),
                }),
            Kind::Pending => Err(StoreError::NotFound {
                file: name.to_string(),
            }),
            Kind::Local => self.inner.local.file_len(name),
        }
    }

    fn try_lock(&self, name: &str) -> SResult<Box<dyn LockGuard>> {
        let mut locks = self.inner.locks.lock();
        if !locks.insert(name.to_string()) {
            return Err(StoreError::Locked {
                file: name.to_string(),
            });
        }
        Ok(Box::new(ProcessLock {
            name: name.to_string(),
            locks: self.inner.locks.clone(),
        }))
    }
}
