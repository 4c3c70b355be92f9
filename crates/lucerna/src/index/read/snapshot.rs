//! [`Snapshot`]: pins one commit and its files while they are copied
//! elsewhere (a backup, a new replica).
//!
//! Taken with [`Index::snapshot`](crate::Index::snapshot). While a
//! snapshot lives, the writer of that `Index` keeps the commit's
//! manifest, every file it references, and the write-ahead log from its
//! position on, whatever [`keep_commits`](crate::WriterConfig::keep_commits)
//! says. Pins are per process: take the snapshot from the same `Index` (or a
//! clone of it) the writer was opened from.

use crate::error::{Error, Result};
use crate::index::integrity::commit::Commit;
use crate::index::integrity::file_refs::{FileRefGuard, FileRefs};
use lucerna_store::Directory;

/// A pinned commit. Dropping it releases the pin; the writer deletes the
/// files at its next commit if no kept commit needs them.
///
/// ```
/// use lucerna::{Index, WriterConfig, schema::Schema, store::{Directory, RamDirectory}};
/// # fn main() -> lucerna::Result<()> {
/// let index = Index::create(RamDirectory::new(), Schema::logs())?;
/// let snap = index.snapshot()?;
/// let w = index.writer(WriterConfig::default().durability(lucerna::Durability::None))?;
/// for _ in 0..3 {
///     w.commit()?; // generation 1 would normally go after two more commits
/// }
/// assert!(index.directory().exists(&lucerna::index::Commit::file_name(snap.generation()))?);
/// for f in snap.files() {
///     let _bytes = index.directory().open(&f)?; // copy them anywhere
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Snapshot {
    commit: Commit,
    _pin: FileRefGuard,
}

impl Snapshot {
    /// The pinned commit.
    pub fn commit(&self) -> &Commit {
        &self.commit
    }

    /// Its generation.
    pub fn generation(&self) -> u64 {
        self.commit.generation
    }

    /// Every file to copy for a complete copy of the commit (the manifest
    /// last: copy it last, so a partial copy holds no commit).
    pub fn files(&self) -> Vec<String> {
        self.commit.referenced_files()
    }
}

impl Snapshot {
    /// Pins the commit `latest` returns (the newest of `dir`), in the pins
    /// `refs` of the index's writer (see [`Index::snapshot`](crate::Index::snapshot)).
    pub(crate) fn pin(
        dir: &dyn Directory,
        refs: &FileRefs,
        latest: impl Fn() -> Result<Commit>,
    ) -> Result<Snapshot> {
        // A writer may commit and delete the commit between reading and
        // pinning it: pin, then check the manifest is still there.
        for _ in 0..16 {
            let commit = latest()?;
            let pin = refs.acquire(commit.referenced_files());
            let name = Commit::file_name(commit.generation);
            if dir.exists(&name)? {
                return Ok(Snapshot { commit, _pin: pin });
            }
        }
        Err(Error::Closed(
            "commits are replaced faster than a snapshot can pin one".into(),
        ))
    }
}
