//! Input lines rejected by `lucerna index` and `lucerna add`: counted,
//! echoed on stderr (up to a limit) and summarized.

use parking_lot::Mutex;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};

/// Rejections echoed on stderr as they happen; the rest are only counted.
pub const ECHOED: u64 = 100;
/// Rejections kept for the summary (those of the lowest line numbers).
pub const SHOWN: usize = 5;

/// The rejected lines of one run (shared by the indexing threads).
#[derive(Default)]
pub struct Rejections {
    count: AtomicU64,
    first: Mutex<Vec<(u64, String)>>,
}

impl Rejections {
    /// Records that input line `line` (1-based) was rejected because of
    /// `reason`, and echoes it on stderr as `line N: rejected: reason`.
    pub fn reject(&self, line: u64, reason: &str) {
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        if n <= ECHOED {
            eprintln!("line {line}: rejected: {reason}");
        } else if n == ECHOED + 1 {
            eprintln!("(further rejected lines are counted, not shown)");
        }
        let mut first = self.first.lock();
        first.push((line, reason.to_string()));
        first.sort_by_key(|(l, _)| *l);
        first.truncate(SHOWN);
    }

    /// Lines rejected so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The rejections of the lowest line numbers (at most [`SHOWN`]).
    pub fn first(&self) -> Vec<(u64, String)> {
        self.first.lock().clone()
    }

    /// The first rejections as JSON: `[{"line": N, "error": "…"}, …]`.
    pub fn first_json(&self) -> serde_json::Value {
        self.first()
            .into_iter()
            .map(|(line, error)| json!({"line": line, "error": error}))
            .collect()
    }
}
