//! Corruption markers: `corrupted-<segment>` files, so that a restart does
//! not forget a damaged segment.
//!
//! When a segment fails full verification (a reader or writer opening it
//! with [`Verify::Full`](crate::index::Verify::Full), a merge verifying its
//! inputs, [`check_index`](crate::index::check::check_index), replication
//! reading it), a marker naming the segment, its id, the damaged file and
//! the problem is written next to it (as Elasticsearch's `corrupted_*`
//! files). From then on, opening that segment fails at once with a
//! corruption error naming the segment and the original problem, even if
//! the damage came from a device that later reads right again:
//! [`repair`](crate::index::recovery::repair) removes the marker once the
//! segment verifies again or is no longer part of the index, and
//! `lucerna check` lists markers.
//!
//! Writing a marker is best effort: an IO error while writing it never
//! hides the corruption error being reported. Only corruption marks a
//! segment; a missing file or an IO error does not (a reader racing a
//! writer's file deletion must not mark a healthy segment).
//!
//! A marker is an envelope (format `corrupt-marker`, version 1, id = the
//! segment's id, empty suffix) written durably (temporary name, fsync,
//! rename, fsync of the directory). Its name does not start with `seg_` or
//! `commit-`, so the writer's clean-up of unused files leaves it alone. A
//! marker whose id differs from the segment's is stale and ignored.

use crate::error::{Error, Result};
use crate::index::integrity::commit::SegmentMeta;
use lucerna_codec::{ByteReader, ByteWriter};
use lucerna_store::{Directory, EnvelopeHeader, EnvelopeReader, EnvelopeWriter, StoreError};

/// Prefix of marker file names: `corrupted-<segment>`.
pub const MARKER_PREFIX: &str = "corrupted-";
/// Envelope format name of markers.
pub const MARKER_FORMAT: &str = "corrupt-marker";
/// Marker format version.
pub const MARKER_VERSION: u32 = 1;
const TMP_SUFFIX: &str = ".tmp";

/// The contents of a corruption marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptMarker {
    /// The damaged segment (`seg_<n>`).
    pub segment: String,
    /// Its id (a marker applies only to the segment with this id).
    pub segment_id: [u8; 16],
    /// The file the problem was found in.
    pub file: String,
    /// Byte offset of the problem in that file, when known.
    pub offset: Option<u64>,
    /// The original error, as text.
    pub message: String,
}

/// The marker file name of `segment`.
pub fn marker_file_name(segment: &str) -> String {
    format!("{MARKER_PREFIX}{segment}")
}

/// The segment a marker file name is about (`None`: not a marker).
pub fn parse_marker_file_name(name: &str) -> Option<&str> {
    let seg = name.strip_prefix(MARKER_PREFIX)?;
    if seg.is_empty() || seg.ends_with(TMP_SUFFIX) {
        return None;
    }
    Some(seg)
}

/// Names of every marker file in `dir`, sorted.
pub fn list_markers(dir: &dyn Directory) -> Result<Vec<String>> {
    Ok(dir
        .list()?
        .into_iter()
        .filter(|n| parse_marker_file_name(n).is_some())
        .collect())
}

/// Reads marker file `name` (full CRC verified).
pub fn read_marker(dir: &dyn Directory, name: &str) -> Result<CorruptMarker> {
    let env = EnvelopeReader::open(dir, name)?;
    env.verify_full()?;
    env.expect_format(MARKER_FORMAT, 1..=MARKER_VERSION)?;
    let payload = env.payload();
    let mut r = ByteReader::new(name, env.payload_offset(), &payload);
    let segment = text(&mut r)?;
    let file = text(&mut r)?;
    let offset = match r.u8()? {
        0 => None,
        1 => Some(r.vint()?),
        t => return Err(r.err(format!("bad offset tag {t}")).into()),
    };
    let message = text(&mut r)?;
    Ok(CorruptMarker {
        segment,
        segment_id: env.header().id,
        file,
        offset,
        message,
    })
}

fn text(r: &mut ByteReader<'_>) -> Result<String> {
    let b = r.len_bytes()?;
    std::str::from_utf8(b)
        .map(str::to_string)
        .map_err(|_| Error::Store(r.err("string is not UTF-8")))
}

/// Writes `marker` durably as `corrupted-<segment>` (replacing one there).
pub fn write_marker(dir: &dyn Directory, marker: &CorruptMarker) -> Result<()> {
    let name = marker_file_name(&marker.segment);
    let tmp = format!("{name}{TMP_SUFFIX}");
    if dir.exists(&tmp)? {
        dir.delete(&tmp)?;
    }
    let mut w = ByteWriter::new();
    w.len_bytes(marker.segment.as_bytes());
    w.len_bytes(marker.file.as_bytes());
    match marker.offset {
        Some(o) => {
            w.u8(1);
            w.vint(o);
        }
        None => w.u8(0),
    }
    w.len_bytes(marker.message.as_bytes());
    let mut env = EnvelopeWriter::create(
        dir,
        &tmp,
        &EnvelopeHeader::new(MARKER_FORMAT, MARKER_VERSION, marker.segment_id, ""),
    )?;
    env.write_all(&w.buf)?;
    env.finish()?;
    dir.sync(&[&tmp])?;
    dir.rename(&tmp, &name)?;
    dir.sync_dir()?;
    Ok(())
}

/// Removes the marker of `segment`, durably; returns whether there was one.
pub fn remove_marker(dir: &dyn Directory, segment: &str) -> Result<bool> {
    let name = marker_file_name(segment);
    if !dir.exists(&name)? {
        return Ok(false);
    }
    dir.delete(&name)?;
    dir.sync_dir()?;
    Ok(true)
}

/// The marker `err` calls for on segment `meta`: only a corruption of a
/// file does.
pub(crate) fn marker_for(meta: &SegmentMeta, err: &Error) -> Option<CorruptMarker> {
    match err {
        Error::Store(StoreError::Corrupt { file, offset, .. }) => Some(CorruptMarker {
            segment: meta.name.clone(),
            segment_id: meta.id,
            file: file.clone(),
            offset: Some(*offset),
            message: err.to_string(),
        }),
        _ => None,
    }
}

/// Best effort: marks `meta` corrupt after `err` (a corruption; other
/// errors mark nothing). A segment already marked keeps its first marker.
/// Never fails: the caller reports `err` itself.
pub(crate) fn mark_corrupt(dir: &dyn Directory, meta: &SegmentMeta, err: &Error) {
    if let Some(m) = marker_for(meta, err) {
        if let Ok(false) = dir.exists(&marker_file_name(&meta.name)) {
            let written = write_marker(dir, &m).is_ok();
            tracing::error!(
                target: "lucerna::corruption",
                segment = %meta.name,
                file = %m.file,
                offset = m.offset.unwrap_or(0),
                marker_written = written,
                error = %err,
                "corruption detected: segment marked corrupt"
            );
        }
    }
}

/// Fails when `meta` carries a corruption marker: a corruption error naming
/// the segment, the damaged file and the original problem. A marker of
/// another segment id (stale) is ignored; an unreadable marker still marks.
pub(crate) fn check_not_marked(dir: &dyn Directory, meta: &SegmentMeta) -> Result<()> {
    let name = marker_file_name(&meta.name);
    if !dir.exists(&name)? {
        return Ok(());
    }
    match read_marker(dir, &name) {
        Ok(m) if m.segment_id != meta.id || m.segment != meta.name => Ok(()),
        Ok(m) => Err(StoreError::corrupt(
            m.file,
            m.offset.unwrap_or(0),
            0,
            0,
            format!(
                "segment `{}` is marked corrupt by `{name}` (run `lucerna repair`); \
                 the problem found: {}",
                meta.name, m.message
            ),
        )
        .into()),
        Err(e) => Err(StoreError::corrupt(
            name.clone(),
            0,
            0,
            0,
            format!(
                "segment `{}` is marked corrupt by `{name}` (run `lucerna repair`), \
                 and the marker is unreadable: {e}",
                meta.name
            ),
        )
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lucerna_store::RamDirectory;

    #[test]
    fn markers_round_trip_and_list() {
        let dir = RamDirectory::new();
        let m = CorruptMarker {
            segment: "seg_4".into(),
            segment_id: [9; 16],
            file: "seg_4.doc".into(),
            offset: Some(77),
            message: "corrupt file `seg_4.doc` at offset 77".into(),
        };
        write_marker(&dir, &m).unwrap();
        assert_eq!(list_markers(&dir).unwrap(), vec!["corrupted-seg_4"]);
        assert_eq!(read_marker(&dir, "corrupted-seg_4").unwrap(), m);
        assert_eq!(parse_marker_file_name("corrupted-seg_4.tmp"), None);
        assert_eq!(parse_marker_file_name("seg_4.doc"), None);
        assert!(remove_marker(&dir, "seg_4").unwrap());
        assert!(!remove_marker(&dir, "seg_4").unwrap());
        assert!(dir.list().unwrap().is_empty());
    }
}
