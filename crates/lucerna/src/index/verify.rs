//! Whole-file verification of a segment's files against the commit's record
//! of them, and the [`Verify`] mode that says when segments get it.

use crate::error::Result;
use crate::index::commit::{FileEntry, SegmentMeta};
use lucerna_store::{Directory, EnvelopeReader, StoreError};

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
/// about to be copied, so what is checked is what is copied).
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

/// Verifies the live-docs file of `meta`'s current deletion generation.
pub(crate) fn verify_live_docs(dir: &dyn Directory, meta: &SegmentMeta) -> Result<()> {
    if meta.del_gen == 0 {
        return Ok(());
    }
    let name = meta.livedocs_file(meta.del_gen);
    match meta.files.iter().find(|f| f.name == name) {
        Some(entry) => verify_file(dir, meta, entry, |_| {}),
        None => Err(StoreError::corrupt(
            name,
            0,
            0,
            0,
            "live-docs file not recorded in the segment's commit entry",
        )
        .into()),
    }
}
