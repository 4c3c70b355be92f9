//! [`FileKind`]: every kind of file in an index directory, named once.
//!
//! Reports (`check`, `repair`), events and the CLI's output name a file's
//! kind with [`FileKind::as_str`]; those strings are part of the JSON
//! output and do not change.

use std::fmt;

/// The kind of a file of an index directory, told by its name: the commit
/// manifest, each part of a segment, a corruption marker, a write-ahead
/// log file.
///
/// ```
/// use lucerna::index::FileKind;
/// for name in ["commit-1", "seg_0.tdi", "seg_0.doc", "seg_0.pos", "seg_0.nrm",
///              "seg_0.sto", "seg_0.col", "seg_0.fls", "seg_0_1.liv"] {
///     assert!(FileKind::COMMIT.contains(&FileKind::of(name)), "{name}");
/// }
/// assert_eq!(FileKind::of("seg_3.doc").as_str(), "postings");
/// assert_eq!(FileKind::of("seg_3.doc").to_string(), "postings");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum FileKind {
    /// `commit-<generation>`: the manifest of one commit (segments, their
    /// files' lengths and checksums, the log position, the schema).
    CommitManifest,
    /// `<segment>.tdi`: the term dictionary.
    TermDictionary,
    /// `<segment>.doc`: postings (document ids, frequencies, block-max
    /// impacts).
    Postings,
    /// `<segment>.pos`: positions.
    Positions,
    /// `<segment>.nrm`: field-length norms.
    Norms,
    /// `<segment>.sto`: stored fields (zstd blocks).
    StoredFields,
    /// `<segment>.col`: numeric columns.
    NumericColumns,
    /// `<segment>.fls`: per-field statistics (BM25's inputs).
    FieldStatistics,
    /// `<segment>_<generation>.liv`: live docs (deletes) of one deletion
    /// generation.
    LiveDocs,
    /// `corrupted-<segment>`: a corruption marker.
    CorruptionMarker,
    /// `*.log`: a write-ahead log file.
    WriteAheadLog,
    /// Not a file of its own: acknowledged operations that only the
    /// write-ahead log holds while no writer is running (the kind of the
    /// `check` problem that reports them, whose file is the log).
    PendingOperations,
    /// Any other name.
    Unknown,
}

impl FileKind {
    /// Every kind of file a commit references when its segments have text
    /// and numeric fields and deletes: the manifest, then each kind of
    /// segment file.
    pub const COMMIT: [FileKind; 9] = [
        FileKind::CommitManifest,
        FileKind::TermDictionary,
        FileKind::Postings,
        FileKind::Positions,
        FileKind::Norms,
        FileKind::StoredFields,
        FileKind::NumericColumns,
        FileKind::FieldStatistics,
        FileKind::LiveDocs,
    ];

    /// The kind of the file called `name`.
    pub fn of(name: &str) -> FileKind {
        if name.starts_with("commit-") {
            return FileKind::CommitManifest;
        }
        if name.starts_with(super::corrupt_marker::MARKER_PREFIX) {
            return FileKind::CorruptionMarker;
        }
        match name.rsplit('.').next().unwrap_or("") {
            "tdi" => FileKind::TermDictionary,
            "doc" => FileKind::Postings,
            "pos" => FileKind::Positions,
            "nrm" => FileKind::Norms,
            "sto" => FileKind::StoredFields,
            "col" => FileKind::NumericColumns,
            "fls" => FileKind::FieldStatistics,
            "liv" => FileKind::LiveDocs,
            "log" => FileKind::WriteAheadLog,
            _ => FileKind::Unknown,
        }
    }

    /// Its name in reports and JSON output: `"term dictionary"`,
    /// `"postings"`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::CommitManifest => "commit manifest",
            FileKind::TermDictionary => "term dictionary",
            FileKind::Postings => "postings",
            FileKind::Positions => "positions",
            FileKind::Norms => "norms",
            FileKind::StoredFields => "stored fields",
            FileKind::NumericColumns => "numeric columns",
            FileKind::FieldStatistics => "field statistics",
            FileKind::LiveDocs => "live docs",
            FileKind::CorruptionMarker => "corruption marker",
            FileKind::WriteAheadLog => "write-ahead log",
            FileKind::PendingOperations => "uncommitted operations",
            FileKind::Unknown => "unknown",
        }
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Serialized as [`as_str`](FileKind::as_str).
impl serde::Serialize for FileKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_commit_kind_has_its_own_name() {
        let names: std::collections::BTreeSet<_> =
            FileKind::COMMIT.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), FileKind::COMMIT.len());
    }
}
