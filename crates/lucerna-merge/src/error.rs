//! Errors of this crate.

/// Errors returned by configuration setters, builders and the scheduler.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MergeError {
    /// A configuration value is out of its allowed range.
    #[error("invalid configuration: {parameter}: {reason}")]
    InvalidConfig {
        /// The name of the knob that was rejected.
        parameter: &'static str,
        /// Why the value was rejected (includes the value).
        reason: String,
    },
    /// The index's queue of pending merges is full; the caller should apply
    /// backpressure (delay or stall its writers) and retry later.
    #[error(
        "merge queue of index {index} is full ({pending} pending merges, {pending_bytes} bytes; capacity {capacity})"
    )]
    QueueFull {
        /// The index (tenant) id.
        index: u64,
        /// Merges waiting in that index's queue.
        pending: usize,
        /// Bytes of the merges waiting in that index's queue.
        pending_bytes: u64,
        /// The queue capacity (in merges).
        capacity: usize,
    },
    /// The index handle is unknown or was unregistered.
    #[error("unknown or unregistered index {0}")]
    UnknownIndex(u64),
    /// The scheduler was shut down; no more merges are accepted.
    #[error("the merge scheduler is shut down")]
    ShutDown,
    /// The merge was aborted (scheduler shutdown with [`crate::ShutdownMode::Abort`]
    /// or the index was unregistered).
    #[error("merge aborted")]
    Aborted,
    /// The operating system refused to start a merge thread.
    #[error("failed to start a merge thread: {0}")]
    ThreadSpawn(String),
}

impl MergeError {
    pub(crate) fn invalid(parameter: &'static str, reason: impl Into<String>) -> Self {
        MergeError::InvalidConfig {
            parameter,
            reason: reason.into(),
        }
    }
}
