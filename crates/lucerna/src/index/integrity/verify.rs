//! Whole-file verification of a segment's files against the commit's record
//! of them, and the [`Verify`] mode that says when segments get it.
//!
//! The rule: bytes are verified *as they are used*. A reader that opens a
//! segment with [`Verify::Full`] verifies the very bytes its decoders then
//! read ([`OpeningDirectory`] verifies each file as it hands it out), not
//! an earlier copy, and the segment reader keeps those bytes (the read
//! layer hands them back as `(name, bytes)` pairs: this module, below
//! it, never names the reader) so that whoever rewrites them later (a
//! merge) can verify them again after reading them ([`verify_held`]).

use crate::error::Result;
use crate::index::integrity::commit::{FileEntry, SegmentMeta};
use lucerna_store::{Directory, EnvelopeReader, FileSlice, FileWrite, LockGuard, StoreError};
use parking_lot::Mutex;

/// How much is checked when a segment is opened from a commit.
///
/// Segment files are immutable and a segment's decoded parts are shared by
/// every later reader of it, so full verification costs one pass over each
/// segment file, once per segment per process (at the CRC speed recorded in
/// docs/benchmarks.md, about 2 ms for a 27 MB index). Segments the writer
/// has just written itself (flushes, merges) are not re-read: their CRCs
/// were computed while writing.
///
/// ```
/// use lucerna::{index::Verify, schema::Schema, store::RamDirectory, Index};
/// # fn main() -> lucerna::Result<()> {
/// let index = Index::create(RamDirectory::new(), Schema::logs())?.with_verify(Verify::Structure);
/// assert_eq!(index.verify(), Verify::Structure);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verify {
    /// Every file's full CRC32, segment id, and length and CRC against the
    /// commit, before the segment is used (the default): a damaged file is
    /// an error naming it, never a wrong answer.
    #[default]
    Full,
    /// Header and footer structure only (O(1) per file), as Lucene does;
    /// damage inside a file is then found by `check`, by merges, or when a
    /// decoder trips over it — and a structurally valid change can go
    /// unnoticed. For very large indexes opened often.
    Structure,
}

/// Verifies file `entry` of segment `meta` whole: envelope structure, full
/// CRC32, segment id, and length and CRC against the commit's record of it.
/// `observed` sees the envelope as soon as it opens (before the CRC pass),
/// so a caller can report the actual length and CRC even of a bad file.
pub(crate) fn verify_file(
    dir: &dyn Directory,
    meta: &SegmentMeta,
    entry: &FileEntry,
    observed: impl FnOnce(&EnvelopeReader),
) -> Result<()> {
    let env = EnvelopeReader::open(dir, &entry.name)?;
    observed(&env);
    verify_envelope(&env, meta, entry)
}

/// Verifies an opened file of segment `meta` whole: full CRC32, segment id,
/// and length and CRC against the commit's record `entry` (used on bytes
/// about to be copied or decoded, so what is checked is what is used).
pub(crate) fn verify_envelope(
    env: &EnvelopeReader,
    meta: &SegmentMeta,
    entry: &FileEntry,
) -> Result<()> {
    let name = entry.name.as_str();
    env.verify_full()?;
    env.expect_id(&meta.id)?;
    if env.len() != entry.meta.len {
        return Err(StoreError::corrupt(
            name,
            0,
            entry.meta.len,
            env.len(),
            "length differs from the commit's record",
        )
        .into());
    }
    if env.checksum() != entry.meta.checksum {
        return Err(StoreError::corrupt(
            name,
            env.len().saturating_sub(4),
            entry.meta.checksum as u64,
            env.checksum() as u64,
            "checksum differs from the commit's record (a file from another write?)",
        )
        .into());
    }
    Ok(())
}

/// Verifies every file of `meta` (see [`verify_file`]); with
/// `include_live_docs == false` the live-docs files are skipped (they are
/// verified when loaded). Fails with [`StoreError::Corrupt`] or `NotFound`
/// naming the file.
pub(crate) fn verify_segment_files(
    dir: &dyn Directory,
    meta: &SegmentMeta,
    include_live_docs: bool,
) -> Result<()> {
    for f in &meta.files {
        if include_live_docs || !f.name.ends_with(".liv") {
            verify_file(dir, meta, f, |_| {})?;
        }
    }
    Ok(())
}

/// Verifies again, against `meta`'s record, the bytes a segment's decoders
/// read: `held` as a segment reader returns them (its `held_files`).
/// These are the very mappings (or buffers) the decoders use: for a
/// memory-mapped file a page released since is read back from the page
/// cache, so this sees the bytes as they are now, not a copy taken when
/// the segment opened.
pub(crate) fn verify_held(meta: &SegmentMeta, held: &[(String, FileSlice)]) -> Result<()> {
    verify_held_where(meta, held, |_| true)
}

/// [`verify_held`] of the held files whose name `which` accepts. The pass
/// gives the pages it read back behind it, as every verification does
/// (a search faults back the ones it needs, from the page cache).
pub(crate) fn verify_held_where(
    meta: &SegmentMeta,
    held: &[(String, FileSlice)],
    which: impl Fn(&str) -> bool,
) -> Result<()> {
    for (name, bytes) in held.iter().filter(|(n, _)| which(n)) {
        let Some(entry) = meta.files.iter().find(|f| &f.name == name) else {
            return Err(StoreError::corrupt(
                name.clone(),
                0,
                0,
                0,
                "file not recorded in the segment's commit entry",
            )
            .into());
        };
        let env = EnvelopeReader::open_checked(name, bytes.clone())?;
        verify_envelope(&env, meta, entry)?;
    }
    Ok(())
}

/// The view of a directory a segment is opened through: every file of the
/// segment it hands out is recorded (see [`take_opened`](Self::take_opened))
/// and, when `verify` is set, first verified whole against the segment's
/// record ([`verify_envelope`]). The bytes a decoder gets are therefore the
/// bytes that were verified: never a second read of the file, which could
/// differ from the first (a storage fault, or a file replaced meanwhile).
/// Files the segment's record does not list pass through unchecked and
/// unrecorded. Writes are refused: opening a segment never writes.
pub(crate) struct OpeningDirectory<'a> {
    dir: &'a dyn Directory,
    meta: &'a SegmentMeta,
    verify: bool,
    opened: Mutex<Vec<(String, FileSlice)>>,
}

impl<'a> OpeningDirectory<'a> {
    /// A view of `dir` for segment `meta`, verifying each file of it when
    /// `verify` is set.
    pub(crate) fn new(dir: &'a dyn Directory, meta: &'a SegmentMeta, verify: bool) -> Self {
        OpeningDirectory {
            dir,
            meta,
            verify,
            opened: Mutex::new(Vec::new()),
        }
    }

    /// The segment files handed out so far, with their bytes.
    pub(crate) fn take_opened(&self) -> Vec<(String, FileSlice)> {
        std::mem::take(&mut *self.opened.lock())
    }

    /// Verifies, by a fresh read, every file of the segment's record that
    /// was not handed out (and verified) yet, except live-docs files unless
    /// `include_live_docs`.
    pub(crate) fn verify_rest(&self, include_live_docs: bool) -> Result<()> {
        if !self.verify {
            return Ok(());
        }
        let opened: Vec<String> = self.opened.lock().iter().map(|o| o.0.clone()).collect();
        for f in &self.meta.files {
            if opened.contains(&f.name) || (!include_live_docs && f.name.ends_with(".liv")) {
                continue;
            }
            verify_file(self.dir, self.meta, f, |_| {})?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for OpeningDirectory<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpeningDirectory")
            .field("segment", &self.meta.name)
            .field("verify", &self.verify)
            .finish()
    }
}

fn read_only(name: &str) -> StoreError {
    StoreError::InvalidArgument {
        file: name.to_string(),
        reason: "a segment is opened read-only".into(),
    }
}

impl Directory for OpeningDirectory<'_> {
    fn create(&self, name: &str) -> lucerna_store::Result<Box<dyn FileWrite>> {
        Err(read_only(name))
    }
    fn open(&self, name: &str) -> lucerna_store::Result<FileSlice> {
        let bytes = self.dir.open(name)?;
        if let Some(entry) = self.meta.files.iter().find(|f| f.name == name) {
            if self.verify {
                let env = EnvelopeReader::open_checked(name, bytes.clone())?;
                verify_envelope(&env, self.meta, entry).map_err(|e| match e {
                    crate::error::Error::Store(se) => se,
                    other => StoreError::corrupt(name, 0, 0, 0, other.to_string()),
                })?;
            }
            self.opened.lock().push((name.to_string(), bytes.clone()));
        }
        Ok(bytes)
    }
    fn list(&self) -> lucerna_store::Result<Vec<String>> {
        self.dir.list()
    }
    fn exists(&self, name: &str) -> lucerna_store::Result<bool> {
        self.dir.exists(name)
    }
    fn delete(&self, name: &str) -> lucerna_store::Result<()> {
        Err(read_only(name))
    }
    fn rename(&self, from: &str, _to: &str) -> lucerna_store::Result<()> {
        Err(read_only(from))
    }
    fn sync(&self, names: &[&str]) -> lucerna_store::Result<()> {
        Err(read_only(names.first().copied().unwrap_or("")))
    }
    fn sync_dir(&self) -> lucerna_store::Result<()> {
        Err(read_only(""))
    }
    fn file_len(&self, name: &str) -> lucerna_store::Result<u64> {
        self.dir.file_len(name)
    }
    fn try_lock(&self, name: &str) -> lucerna_store::Result<Box<dyn LockGuard>> {
        Err(read_only(name))
    }
}
