//! The write-ahead log: every acknowledged operation survives a crash.
//!
//! With a [`Durability`] other than `None`, the [`IndexWriter`](crate::IndexWriter)
//! logs every add, delete, update and rollback before acknowledging it
//! (`Sync`: after the log's fsync, shared by concurrent callers — group
//! commit; `Interval`: at once, synced in the background every period).
//! A commit records the log position it covers; on open the writer replays
//! every logged operation after the newest commit's position, so nothing
//! acknowledged is lost to a crash or a power cut.
//!
//! Log files are deleted only when every record in them is covered by
//! every commit the writer keeps (see
//! [`WriterConfig::keep_commits`](crate::WriterConfig::keep_commits)): an
//! older kept commit plus the log rebuilds the index when the newest
//! commit's files are damaged (see [`repair`](crate::index)). Never by age
//! or size: a full disk stops writers with an error; it never drops data.
//!
//! The file layout is described in [`record`].

mod log;
pub mod record;
mod replay;

pub use log::{WalStats, WalWriter};
pub use record::{LogHeader, Record, RecordRef};
pub use replay::{
    list_logs, newest_commit_in_logs, read_log_headers, read_logs, ForeignLog, ReplayMode,
    ReplayReport, SkippedSpan,
};

use lucerna_store::{Directory, Result as StoreResult};
use std::time::Duration;

/// When an acknowledged operation is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Logged and fsync'd before the call returns (default). Concurrent
    /// callers share fsyncs (group commit).
    #[default]
    Sync,
    /// Logged before the call returns, fsync'd by a background thread at
    /// this period: a crash loses at most the last period's operations.
    Interval(Duration),
    /// No log: only [`commit`](crate::IndexWriter::commit) makes
    /// operations durable (Lucene's and tantivy's model; fastest for bulk
    /// loads that commit at the end).
    None,
}

/// A [`Durability`] that could not be parsed (see its `FromStr`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}`: expected sync, none or interval:<milliseconds> (milliseconds > 0)")]
pub struct ParseDurabilityError {
    /// The text given.
    pub input: String,
}

/// `sync`, `none` or `interval:<ms>` (ms > 0), as on the command lines of
/// `lucerna add` and `lucerna-server`; [`Display`](std::fmt::Display)
/// writes the same form.
///
/// ```
/// use lucerna::Durability;
/// use std::time::Duration;
/// assert_eq!("interval:250".parse(), Ok(Durability::Interval(Duration::from_millis(250))));
/// assert_eq!(Durability::Sync.to_string(), "sync");
/// assert!("interval:0".parse::<Durability>().is_err());
/// ```
impl std::str::FromStr for Durability {
    type Err = ParseDurabilityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sync" => Ok(Durability::Sync),
            "none" => Ok(Durability::None),
            _ => match s.strip_prefix("interval:").map(str::parse::<u64>) {
                Some(Ok(ms)) if ms > 0 => Ok(Durability::Interval(Duration::from_millis(ms))),
                _ => Err(ParseDurabilityError {
                    input: s.to_string(),
                }),
            },
        }
    }
}

impl std::fmt::Display for Durability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Durability::Sync => f.write_str("sync"),
            Durability::None => f.write_str("none"),
            Durability::Interval(d) => write!(f, "interval:{}", d.as_millis()),
        }
    }
}

/// Deletes the log files whose every record has an lsn ≤ `covered` (the
/// smallest position among the commits kept on disk), except `current`.
/// A file's records lie between its first lsn and the next file's first
/// lsn, so the newest file is never deleted here. Returns the files deleted.
pub fn delete_covered_logs(
    dir: &dyn Directory,
    covered: u64,
    current: Option<&str>,
) -> StoreResult<Vec<String>> {
    let logs = list_logs(dir)?;
    let mut deleted = Vec::new();
    for pair in logs.windows(2) {
        let ((_, name), (next_first, _)) = (&pair[0], &pair[1]);
        if next_first.saturating_sub(1) <= covered && Some(name.as_str()) != current {
            dir.delete(name)?;
            deleted.push(name.clone());
        }
    }
    // No directory sync: a deleted log that comes back after a crash is
    // covered by the commits, and replay skips its records by position.
    Ok(deleted)
}
