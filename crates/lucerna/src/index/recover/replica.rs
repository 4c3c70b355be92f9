//! Replicas: copies of an index, kept current commit by commit.
//!
//! [`replicate`] brings a replica directory to a commit of the source
//! index: it copies every file of the commit the replica lacks (or holds
//! with another length or CRC), verifies each copied file whole (envelope,
//! full CRC, segment id, and length and CRC against the commit's record,
//! both as read from the source and as written to the replica), fsyncs
//! them, then switches the replica's manifest atomically
//! ([`Commit::write`]: temporary name, fsync, rename, fsync of the
//! directory), and finally deletes replica files no kept commit of the
//! replica references. A replica is therefore always a consistent index at
//! some commit: a crash or an error leaves it at its previous commit. It
//! opens with [`Index::open`](crate::Index::open) like any index and serves
//! searches (no writer needed).
//!
//! A replica is also what [`repair`](crate::index::recovery::repair) fetches
//! intact copies of damaged files from.

use crate::error::{Error, Result};
use crate::index::integrity::commit::{Commit, FileEntry, SegmentMeta};
use crate::index::integrity::corrupt_marker::mark_corrupt;
use crate::index::integrity::verify::verify_envelope;
use crate::index::write::writer::{Replicated, Replicator};
use lucerna_store::{Directory, EnvelopeReader};
use std::collections::HashSet;

/// Commits a replica keeps by default (as the writer's
/// [`keep_commits`](crate::WriterConfig::keep_commits)).
pub const DEFAULT_REPLICA_KEEP_COMMITS: usize = 2;

/// Bytes copied per write call (and per progress report).
const COPY_CHUNK: usize = 1 << 20;

/// What [`replicate`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplicaReport {
    /// The generation the replica is now at.
    pub generation: u64,
    /// Files copied.
    pub files_copied: usize,
    /// Bytes copied.
    pub bytes_copied: u64,
    /// Files of the commit the replica already held (same length and CRC).
    pub files_present: usize,
    /// Files deleted from the replica (no longer referenced by its kept
    /// commits).
    pub files_deleted: Vec<String>,
}

/// Brings `replica` to `commit` of the index in `src` (see the [module
/// docs](self)), keeping the replica's newest
/// [`DEFAULT_REPLICA_KEEP_COMMITS`] commits.
///
/// Fails, leaving the replica at its previous commit, when a source file
/// is damaged (a corruption error naming it; the segment is then marked
/// corrupt in `src`, see [corruption marker](crate::index::FileKind::CorruptionMarker))
/// or on an IO error.
///
/// ```
/// use lucerna::{index::replica, Document, Index, WriterConfig, schema::Schema, store::RamDirectory};
/// # fn main() -> lucerna::Result<()> {
/// let (src, rep) = (RamDirectory::new(), RamDirectory::new());
/// let index = Index::create(src.clone(), Schema::logs())?;
/// let w = index.writer(WriterConfig::default())?;
/// let mut d = Document::new();
/// d.add_u64(index.schema().field("id").unwrap(), 1);
/// w.add_document(d)?;
/// w.commit()?;
/// let r = replica::replicate(&src, &rep, &index.latest_commit()?)?;
/// assert_eq!(replica::replication_lag(r.generation, &rep)?, 0);
/// assert_eq!(Index::open(rep)?.reader()?.searcher().num_docs(), 1);
/// # Ok(()) }
/// ```
pub fn replicate(
    src: &dyn Directory,
    replica: &dyn Directory,
    commit: &Commit,
) -> Result<ReplicaReport> {
    replicate_with(src, replica, commit, DEFAULT_REPLICA_KEEP_COMMITS)
}

/// [`replicate`], keeping the replica's newest `keep_commits` commits (at
/// least 1) and their files.
pub fn replicate_with(
    src: &dyn Directory,
    replica: &dyn Directory,
    commit: &Commit,
    keep_commits: usize,
) -> Result<ReplicaReport> {
    // Never overwrite another index's copy (a misconfigured path).
    if let Some(g) = replica_generation(replica)? {
        if let Ok(theirs) = Commit::read(replica, g) {
            if !commit.index_id.accepts(theirs.index_id) {
                return Err(Error::InvalidArgument(format!(
                    "the replica holds another index (id {}; this index is {})",
                    theirs.index_id, commit.index_id
                )));
            }
        }
    }
    let mut report = ReplicaReport {
        generation: commit.generation,
        ..ReplicaReport::default()
    };
    let mut copied: Vec<String> = Vec::new();
    for seg in &commit.segments {
        for entry in &seg.files {
            if holds(replica, seg, entry) {
                report.files_present += 1;
                continue;
            }
            match copy_verified(src, replica, seg, entry, &mut |_| {}) {
                Ok(n) => {
                    report.files_copied += 1;
                    report.bytes_copied += n;
                    copied.push(entry.name.clone());
                }
                Err(CopyError::Source(e)) => {
                    // Damage in the source index: remember it there.
                    mark_corrupt(src, seg, &e);
                    return Err(e);
                }
                Err(CopyError::Target(e)) => return Err(e),
            }
        }
    }
    if !copied.is_empty() {
        replica.sync_dir()?;
    }
    commit.write(replica)?;
    report.files_deleted = delete_unreferenced(replica, keep_commits.max(1))?;
    Ok(report)
}

/// The writer's [`Replicator`]: [`replicate_with`] and
/// [`replication_lag`], handed to writers by `Index` (the writer, a layer
/// below, knows replication only by that trait).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Replication;

impl Replicator for Replication {
    fn replicate(
        &self,
        src: &dyn Directory,
        replica: &dyn Directory,
        commit: &Commit,
        keep_commits: usize,
    ) -> Result<Replicated> {
        let r = replicate_with(src, replica, commit, keep_commits)?;
        Ok(Replicated {
            generation: r.generation,
            files_copied: r.files_copied,
            bytes_copied: r.bytes_copied,
        })
    }

    fn lag(&self, generation: u64, replica: &dyn Directory) -> Result<u64> {
        replication_lag(generation, replica)
    }
}

/// The generation of `replica`'s newest commit (`None`: it holds no
/// commit yet).
pub fn replica_generation(replica: &dyn Directory) -> Result<Option<u64>> {
    Ok(Commit::list_generations(replica)?.last().copied())
}

/// Replication lag: how many generations `replica` is behind commit
/// `generation` of its source (0 when current; `generation` when the
/// replica holds no commit).
pub fn replication_lag(generation: u64, replica: &dyn Directory) -> Result<u64> {
    Ok(generation.saturating_sub(replica_generation(replica)?.unwrap_or(0)))
}

/// True when `dir` holds file `entry` of `seg` with the recorded length,
/// footer CRC and segment id (an O(1) check; a copy is verified whole when
/// it is made).
pub(crate) fn holds(dir: &dyn Directory, seg: &SegmentMeta, entry: &FileEntry) -> bool {
    match EnvelopeReader::open(dir, &entry.name) {
        Ok(env) => {
            env.len() == entry.meta.len
                && env.checksum() == entry.meta.checksum
                && env.header().id == seg.id
        }
        Err(_) => false,
    }
}

/// Why [`copy_verified`] failed: reading or verifying the source, or
/// writing the copy.
#[derive(Debug)]
pub(crate) enum CopyError {
    /// The source file is missing, damaged or unreadable.
    Source(Error),
    /// Writing, verifying or syncing the copy failed.
    Target(Error),
}

impl From<CopyError> for Error {
    fn from(e: CopyError) -> Error {
        match e {
            CopyError::Source(e) | CopyError::Target(e) => e,
        }
    }
}

/// Copies file `entry` of segment `seg` from `from` to `to`: reads the
/// source once and verifies those bytes whole against the record, writes
/// them to `<name>.tmp`, verifies what was written the same way, fsyncs it
/// and renames it over `<name>`. The caller fsyncs `to`'s directory.
/// `progress` gets the bytes written so far. Returns the bytes copied.
///
/// Nothing gets a new checksum here: the copy must carry the record's, so
/// a source that changes while it is copied fails the copy's check. A
/// rerun after a crash at any point finds either the old file (the rename
/// was not durable: it copies again, replacing a leftover `<name>.tmp`) or
/// the verified copy.
pub(crate) fn copy_verified(
    from: &dyn Directory,
    to: &dyn Directory,
    seg: &SegmentMeta,
    entry: &FileEntry,
    progress: &mut dyn FnMut(u64),
) -> std::result::Result<u64, CopyError> {
    let name = entry.name.as_str();
    // One read: the bytes verified are the bytes copied (a second read
    // could differ). The copy is verified against the record again below.
    let source = (|| -> Result<_> {
        let bytes = from.open(name)?;
        let env = EnvelopeReader::open_checked(name, bytes.clone())?;
        verify_envelope(&env, seg, entry)?;
        Ok(bytes)
    })();
    let bytes = source.map_err(CopyError::Source)?;
    let tmp = format!("{name}.tmp");
    let result = (|| -> Result<u64> {
        if to.exists(&tmp)? {
            to.delete(&tmp)?;
        }
        let mut w = to.create(&tmp)?;
        let mut done = 0u64;
        for (i, chunk) in bytes.chunks(COPY_CHUNK).enumerate() {
            w.write_all(chunk)?;
            // Copied: its pages need not stay resident.
            let at = i * COPY_CHUNK;
            if let Some(copied) = bytes.slice(at..at + chunk.len()) {
                copied.release_pages();
            }
            done += chunk.len() as u64;
            progress(done);
        }
        w.finish()?;
        // What arrived is what the commit records.
        let copy = EnvelopeReader::open(to, &tmp)?;
        verify_envelope(&copy, seg, entry).map_err(|e| {
            Error::Store(lucerna_store::StoreError::corrupt(
                tmp.clone(),
                0,
                entry.meta.checksum as u64,
                copy.checksum() as u64,
                format!("the copy of `{name}` differs from its source: {e}"),
            ))
        })?;
        to.sync(&[&tmp])?;
        to.rename(&tmp, name)?;
        Ok(done)
    })();
    if result.is_err() {
        let _ = to.delete(&tmp);
    }
    result.map_err(CopyError::Target)
}

/// Deletes the commits of `dir` older than its newest `keep`, and the
/// `seg_*` files none of the kept commits references. Deletes nothing when
/// a kept commit cannot be read (never on uncertainty).
pub(crate) fn delete_unreferenced(dir: &dyn Directory, keep: usize) -> Result<Vec<String>> {
    let gens = Commit::list_generations(dir)?;
    let cut = gens.len().saturating_sub(keep);
    let mut referenced: HashSet<String> = HashSet::new();
    for &g in &gens[cut..] {
        match Commit::read(dir, g) {
            Ok(c) => referenced.extend(c.referenced_files()),
            Err(_) => return Ok(Vec::new()),
        }
    }
    let mut deleted = Vec::new();
    for &g in &gens[..cut] {
        let name = Commit::file_name(g);
        dir.delete(&name)?;
        deleted.push(name);
    }
    for f in dir.list()? {
        if f.starts_with("seg_") && !referenced.contains(&f) {
            dir.delete(&f)?;
            deleted.push(f);
        }
    }
    if !deleted.is_empty() {
        dir.sync_dir()?;
    }
    Ok(deleted)
}
