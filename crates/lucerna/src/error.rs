//! The library's error type.

use lucerna_store::StoreError;

/// Everything that can go wrong in Lucerna.
///
/// Storage errors (IO with the file name, corruption with file, offset and
/// checksums) arrive as [`Error::Store`]; problems with one document are
/// [`Error::Document`] and leave the writer usable. New variants may come
/// in any release: match with a wildcard arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A storage error: IO on a named file, or a corrupt file.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The document was rejected; the writer and every other document carry on.
    #[error("document rejected: {0}")]
    Document(String),
    /// The schema is invalid or does not match.
    #[error("schema error: {0}")]
    Schema(String),
    /// A query names an unknown field or a bound of the wrong kind.
    #[error("query error: {0}")]
    Query(String),
    /// A query string could not be parsed: the position (a byte offset)
    /// and what is wrong, typed.
    #[error(transparent)]
    QueryParse(#[from] crate::query_parser::QueryParseError),
    /// The index directory holds no commit.
    #[error("no commit found in the index directory")]
    NoCommit,
    /// A newer commit than the newest in the directory existed (a log
    /// file of the index names it) and is missing: serving the older one
    /// would miss what it held. `repair` restores or rebuilds it; a reader
    /// asked to ([`Index::allow_older_commit`](crate::Index::allow_older_commit))
    /// serves the older one and says so.
    #[error(
        "commit-{missing} is missing (log file `{evidence}` was started after it); the newest \
         commit here is {newest}: run `lucerna repair`"
    )]
    MissingCommit {
        /// The missing generation.
        missing: u64,
        /// The newest commit in the directory (`none` if there is none).
        newest: String,
        /// The file that proves the missing commit existed.
        evidence: String,
    },
    /// The writer was closed or failed and must be reopened.
    #[error("index writer is closed: {0}")]
    Closed(String),
    /// The write-ahead log failed (an IO error writing or syncing it, a
    /// full disk): final for this writer. Reopen the index writer: it
    /// replays every record that reached the disk. The cause is kept.
    #[error(
        "the write-ahead log failed; reopen the index writer: it replays every record that \
         reached the disk"
    )]
    WalFailed {
        /// What failed.
        #[source]
        cause: std::sync::Arc<Error>,
    },
    /// Writers are behind (flushes or merges) past a hard limit of
    /// [`WriterConfig::backpressure`](crate::WriterConfig::backpressure):
    /// returned by [`IndexWriter::try_add_document`](crate::IndexWriter::try_add_document)
    /// instead of blocking. The document was not added; try again later.
    #[error("backpressure: {backlog}")]
    Backpressure {
        /// The index's backlog (merge debt, segments over budget, unflushed
        /// bytes) and the hard limit that was reached.
        #[source]
        backlog: lucerna_merge::BackpressureError,
    },
    /// An invalid argument.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The merge scheduler refused (its configuration, a full queue, too
    /// many indexes): the cause, typed.
    #[error(transparent)]
    Merge(lucerna_merge::MergeError),
    /// An internal limit the engine guards was broken (a bug): the
    /// operation was refused rather than its data written wrong.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// True when the error is a corruption of a file.
    pub fn is_corrupt(&self) -> bool {
        matches!(self, Error::Store(e) if e.is_corrupt())
    }

    /// True when the error, or the failure it reports, is a full disk
    /// (ENOSPC).
    pub fn is_disk_full(&self) -> bool {
        match self {
            Error::Store(e) => e.is_disk_full(),
            Error::WalFailed { cause } => cause.is_disk_full(),
            _ => false,
        }
    }

    /// True for an intact file of another format version or format (see
    /// [`StoreError::UnsupportedVersion`]): an upgrade or a downgrade,
    /// never damage.
    pub fn is_incompatible(&self) -> bool {
        matches!(self, Error::Store(e) if e.is_incompatible())
    }

    /// A copy of an incompatibility error (`None` for any other error).
    pub(crate) fn clone_incompatible(&self) -> Option<Error> {
        match self {
            Error::Store(StoreError::UnsupportedVersion {
                file,
                format,
                found,
                min,
                max,
            }) => Some(Error::Store(StoreError::UnsupportedVersion {
                file: file.clone(),
                format: format.clone(),
                found: *found,
                min: *min,
                max: *max,
            })),
            Error::Store(StoreError::WrongFormat {
                file,
                expected,
                found,
            }) => Some(Error::Store(StoreError::WrongFormat {
                file: file.clone(),
                expected: expected.clone(),
                found: found.clone(),
            })),
            _ => None,
        }
    }
}

/// Result alias of the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;
