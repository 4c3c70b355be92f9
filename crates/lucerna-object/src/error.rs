//! [`ObjectError`]: everything that can go wrong between Lucerna and a
//! bucket.

use std::io;

/// An error of the object-storage layer.
///
/// Transient bucket failures (5xx answers, timeouts, truncated bodies)
/// are retried with backoff before they surface as [`ObjectError::Bucket`]
/// with the number of attempts; what is read back is verified (lengths,
/// CRCs), so damage is [`ObjectError::Corrupt`] naming the object, never
/// a wrong answer.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The bucket failed (after `attempts` tries for retryable failures).
    #[error("bucket {op} `{key}` failed after {attempts} attempt(s): {message}")]
    Bucket {
        /// The operation (`get`, `put`, `list`, ...).
        op: &'static str,
        /// The object key (or prefix).
        key: String,
        /// Attempts made.
        attempts: u32,
        /// What the last attempt reported.
        message: String,
    },
    /// The object does not exist.
    #[error("object `{key}` not found")]
    NotFound {
        /// The object key.
        key: String,
    },
    /// An object's bytes are not what was written (or what its manifest
    /// records).
    #[error(
        "corrupt object `{key}` at offset {offset}: {reason} \
         (expected {expected:#010x}, actual {actual:#010x})"
    )]
    Corrupt {
        /// The object key.
        key: String,
        /// Byte offset of the problem within the object.
        offset: u64,
        /// Expected value (checksum or length; see `reason`).
        expected: u64,
        /// Actual value.
        actual: u64,
        /// What was checked.
        reason: String,
    },
    /// A write-once object exists with other bytes than ours.
    #[error("object `{key}` already exists with other contents")]
    Conflict {
        /// The object key.
        key: String,
    },
    /// Another writer published this generation first: nothing of ours
    /// was published there.
    #[error(
        "lost the race for generation {generation}: writer epoch {winner_epoch} published it \
         (ours is {our_epoch})"
    )]
    LostRace {
        /// The generation.
        generation: u64,
        /// Epoch of the manifest that won it.
        winner_epoch: u64,
        /// Our epoch.
        our_epoch: u64,
    },
    /// A writer with a higher epoch took over: this writer may never
    /// publish again.
    #[error("fenced: a writer with epoch {newest_epoch} took over (ours is {our_epoch})")]
    Fenced {
        /// Our epoch.
        our_epoch: u64,
        /// The newest epoch in the bucket.
        newest_epoch: u64,
    },
    /// A URL or configuration that cannot be used.
    #[error("invalid bucket configuration: {0}")]
    Config(String),
    /// The async runtime could not be started.
    #[error("cannot start the object-store runtime: {0}")]
    Runtime(String),
    /// An error of the index library.
    #[error(transparent)]
    Lucerna(#[from] lucerna::Error),
    /// A local IO error (the file cache).
    #[error("{op} `{path}`: {source}")]
    Io {
        /// The operation.
        op: &'static str,
        /// The local path.
        path: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl From<lucerna::store::StoreError> for ObjectError {
    fn from(e: lucerna::store::StoreError) -> Self {
        ObjectError::Lucerna(lucerna::Error::Store(e))
    }
}

impl ObjectError {
    /// Builds an [`ObjectError::Corrupt`].
    pub fn corrupt(
        key: impl Into<String>,
        offset: u64,
        expected: u64,
        actual: u64,
        reason: impl Into<String>,
    ) -> Self {
        ObjectError::Corrupt {
            key: key.into(),
            offset,
            expected,
            actual,
            reason: reason.into(),
        }
    }

    /// True for [`ObjectError::Fenced`].
    pub fn is_fenced(&self) -> bool {
        matches!(self, ObjectError::Fenced { .. })
    }

    /// True for [`ObjectError::LostRace`].
    pub fn is_lost_race(&self) -> bool {
        matches!(self, ObjectError::LostRace { .. })
    }

    /// This error as a storage error of file `file` (what a
    /// [`Directory`](lucerna::store::Directory) method returns): a
    /// corruption stays a corruption, a missing object is
    /// [`NotFound`](lucerna::store::StoreError::NotFound), anything else an
    /// IO error carrying this error as its source.
    pub fn into_store(self, op: &'static str, file: &str) -> lucerna::store::StoreError {
        use lucerna::store::StoreError;
        match self {
            ObjectError::Corrupt {
                key,
                offset,
                expected,
                actual,
                reason,
            } => StoreError::corrupt(
                file,
                offset,
                expected,
                actual,
                format!("{reason} (object `{key}`)"),
            ),
            ObjectError::NotFound { .. } => StoreError::NotFound { file: file.into() },
            ObjectError::Lucerna(lucerna::Error::Store(e)) => e,
            e => {
                let kind = match &e {
                    ObjectError::Conflict { .. }
                    | ObjectError::LostRace { .. }
                    | ObjectError::Fenced { .. } => io::ErrorKind::AlreadyExists,
                    _ => io::ErrorKind::Other,
                };
                StoreError::io(op, file, io::Error::new(kind, e))
            }
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = ObjectError> = std::result::Result<T, E>;
