//! The error type of the storage layer.

use std::io;

/// Everything that can go wrong below the codec: IO on a named file, or a file
/// whose bytes are not what was written.
///
/// IO errors keep the operation and the file name, so a message always says
/// which file failed and while doing what. A [`StoreError::Corrupt`] names the
/// file, the byte offset where the problem was found, the expected and actual
/// values (a checksum, a magic number, a length: `reason` says which) and a
/// human-readable reason.
///
/// New variants may come in any release: match with a wildcard arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// An operating-system level IO error. Its message is this layer's
    /// context only (`write `wal-….log``); the operating system's message
    /// is its [`source`](std::error::Error::source), which the CLI prints
    /// as the cause (printed once, as ripgrep and cargo do).
    #[error("{op} `{file}`")]
    Io {
        /// The operation that failed (`create`, `write`, `sync`, ...).
        op: &'static str,
        /// The file (or directory) the operation was applied to.
        file: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The file's bytes are not what was written.
    #[error(
        "corrupt file `{file}` at offset {offset}: {reason}{}",
        mismatch(*expected, *actual)
    )]
    Corrupt {
        /// The file.
        file: String,
        /// Byte offset (within the file) where the problem was detected.
        offset: u64,
        /// The expected value (checksum, magic, length; see `reason`).
        expected: u64,
        /// The value actually found.
        actual: u64,
        /// What was checked.
        reason: String,
    },
    /// The file is intact but written in a format version this build does
    /// not read: an upgrade or a downgrade, never damage (no corruption
    /// marker is written for it; `repair` does not touch it).
    #[error(
        "`{file}` is `{format}` format version {found}; this build reads versions \
         {min}..={max}: {}",
        version_remedy(*found, *max)
    )]
    UnsupportedVersion {
        /// The file.
        file: String,
        /// Its format name.
        format: String,
        /// The version it was written in.
        found: u32,
        /// The oldest version this build reads.
        min: u32,
        /// The newest version this build reads (and writes).
        max: u32,
    },
    /// The file is intact but holds another format than the one expected
    /// under its name (a file renamed or copied to the wrong name).
    #[error("`{file}` holds `{found}` data, expected `{expected}`")]
    WrongFormat {
        /// The file.
        file: String,
        /// The format expected.
        expected: String,
        /// The format found.
        found: String,
    },
    /// The file does not exist.
    #[error("file `{file}` not found")]
    NotFound {
        /// The missing file.
        file: String,
    },
    /// The file already exists and may not be overwritten.
    #[error("file `{file}` already exists")]
    AlreadyExists {
        /// The existing file.
        file: String,
    },
    /// The file is still being written and cannot be opened for reading.
    #[error("file `{file}` is still being written")]
    StillWriting {
        /// The file.
        file: String,
    },
    /// Another writer holds the lock.
    #[error("lock `{file}` is held by another writer")]
    Locked {
        /// The lock file.
        file: String,
    },
    /// A file name that is not allowed (empty, a path separator, `.` or `..`).
    #[error("invalid file name `{file}`")]
    InvalidName {
        /// The rejected name.
        file: String,
    },
    /// A checked write was given arguments that do not fit the format
    /// (for example an envelope format name longer than 64 bytes).
    #[error("invalid argument for `{file}`: {reason}")]
    InvalidArgument {
        /// The file being written.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// The directory was "crashed" by fault injection; this handle is stale.
    #[error("`{file}`: handle outlived a simulated crash")]
    Crashed {
        /// The file whose handle is stale.
        file: String,
    },
}

impl StoreError {
    /// Builds an [`StoreError::Io`].
    pub fn io(op: &'static str, file: impl Into<String>, source: io::Error) -> Self {
        StoreError::Io {
            op,
            file: file.into(),
            source,
        }
    }

    /// Builds a [`StoreError::Corrupt`].
    pub fn corrupt(
        file: impl Into<String>,
        offset: u64,
        expected: u64,
        actual: u64,
        reason: impl Into<String>,
    ) -> Self {
        StoreError::Corrupt {
            file: file.into(),
            offset,
            expected,
            actual,
            reason: reason.into(),
        }
    }

    /// True for [`StoreError::Corrupt`].
    pub fn is_corrupt(&self) -> bool {
        matches!(self, StoreError::Corrupt { .. })
    }

    /// True for an intact file this build cannot read:
    /// [`StoreError::UnsupportedVersion`] or [`StoreError::WrongFormat`].
    pub fn is_incompatible(&self) -> bool {
        matches!(
            self,
            StoreError::UnsupportedVersion { .. } | StoreError::WrongFormat { .. }
        )
    }

    /// True when the error means the disk is full (ENOSPC).
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::Io { source, .. } => {
                source.kind() == io::ErrorKind::StorageFull || source.raw_os_error() == Some(28)
            }
            _ => false,
        }
    }

    /// The file this error is about.
    pub fn file(&self) -> &str {
        match self {
            StoreError::Io { file, .. }
            | StoreError::Corrupt { file, .. }
            | StoreError::UnsupportedVersion { file, .. }
            | StoreError::WrongFormat { file, .. }
            | StoreError::NotFound { file }
            | StoreError::AlreadyExists { file }
            | StoreError::StillWriting { file }
            | StoreError::Locked { file }
            | StoreError::InvalidName { file }
            | StoreError::InvalidArgument { file, .. }
            | StoreError::Crashed { file } => file,
        }
    }
}

/// ` (expected …, actual …)` when the two differ; nothing when a check
/// has no values to compare (both 0) or they agree.
fn mismatch(expected: u64, actual: u64) -> String {
    if expected == actual {
        String::new()
    } else {
        format!(" (expected {expected:#010x}, actual {actual:#010x})")
    }
}

/// What to do about a file of format version `found` when this build reads
/// up to `max`.
fn version_remedy(found: u32, max: u32) -> &'static str {
    if found > max {
        "it was written by a newer Lucerna; open the index with that release or a newer one"
    } else {
        "it was written by an older Lucerna this release no longer reads; reindex from the \
         source, or open it with an older release"
    }
}

/// Result alias of the storage layer.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
