//! Replacing an index in place: a new index is built in the same directory
//! as the old one and published by a single commit.
//!
//! # Why in place, and not in a sibling directory
//!
//! Building aside and swapping directories takes two renames (old away, new
//! in), and a crash between them leaves no index at the path; every command
//! would then have to know how to finish or undo a half-done swap. Built in
//! place, the switch is the one step Lucerna already makes atomic: writing
//! a commit manifest. The replacement writer
//!
//! * starts from an empty *base* that exists only in memory: the new
//!   schema, no segments, the generation of the newest commit on disk, a
//!   segment counter past every segment file on disk (so no new file can
//!   collide with an old one), and a write-ahead-log position at or above
//!   every sequence number in the old logs and the old commits (so no old
//!   log record is ever replayed into the new index);
//! * writes its segments under those fresh names, beside the old files,
//!   which it does not touch;
//! * publishes the new index with its first commit, one generation above
//!   every old one: the commit of an index, as always (files fsync'd,
//!   manifest written to a temporary name, fsync'd, renamed, directory
//!   fsync'd);
//! * and only after that commit is durable deletes the old index: its
//!   commits, the segment files only they referenced, and its log files.
//!
//! So at every instant the newest readable commit in the directory is
//! either the old index's (until the new commit is durable) or the new
//! one's: a failed or interrupted build (an IO error, a full disk, a kill)
//! leaves the old index as it was, searchable, plus at worst unreferenced
//! new segment files, which the next writer to open the index deletes. A
//! crash after the new commit but before the clean-up leaves old files that
//! the next writer removes as it would any commit past `keep_commits`.
//!
//! The replacement writer holds the index's write lock from the moment it
//! opens, so no other writer can add to the old index meanwhile (its
//! operations would otherwise have to be replayed into one index or the
//! other).

use crate::error::{Error, Result};
use crate::index::integrity::commit::{next_segment_number, Commit};
use crate::index::integrity::identity::IndexId;
use crate::schema::Schema;
use crate::wal::{self, ReplayMode};
use lucerna_store::Directory;

/// What a replacement writer starts from and what it replaces.
#[derive(Debug, Clone)]
pub(crate) struct Replacement {
    /// The empty in-memory commit the writer starts from.
    pub base: Commit,
    /// Newest generation of the replaced index (0: there was none).
    pub replaced_generation: u64,
}

/// The base of a writer replacing the index in `dir` (the caller holds the
/// write lock). An unreadable old commit or a damaged old log does not stop
/// a replacement: the old index is not read, only its names and positions.
pub(crate) fn replacement_base(
    dir: &dyn Directory,
    schema: &Schema,
    index_id: IndexId,
) -> Result<Replacement> {
    let gens = Commit::list_generations(dir)?;
    let newest = gens.last().copied().unwrap_or(0);
    // The newest readable commit's counters, if any.
    let latest = gens.iter().rev().find_map(|&g| Commit::read(dir, g).ok());
    let (next_segment, commit_position) = latest
        .as_ref()
        .map_or((0, 0), |c| (c.next_segment, c.wal_position));
    // Every sequence number ever logged here (a lenient read: damage in
    // the old log must not stop the rebuild that will retire it).
    // (Every file, of any index: a position above them all is safe.)
    let (_, logged) = wal::read_logs(dir, IndexId::UNKNOWN, u64::MAX, ReplayMode::Lenient)?;
    let wal_position = commit_position.max(logged.max_lsn);
    if wal_position == u64::MAX {
        return Err(Error::InvalidArgument(
            "the old index's log positions are exhausted".into(),
        ));
    }
    Ok(Replacement {
        base: Commit {
            generation: newest,
            // The same index at the same path, with new contents.
            index_id,
            schema: schema.clone(),
            segments: Vec::new(),
            next_segment: next_segment_number(dir, next_segment)?,
            wal_position,
            user_data: Vec::new(),
        },
        replaced_generation: newest,
    })
}
