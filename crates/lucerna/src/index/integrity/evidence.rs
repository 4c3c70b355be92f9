//! What the index directory says about itself beyond its newest commit:
//! which index it is, and whether a newer commit than the newest on disk
//! existed.
//!
//! Every commit manifest and every write-ahead-log file names its index
//! ([`IndexId`]), and every log file names the newest commit when it was
//! started. [`Evidence::gather`] reads them (manifests in full, logs only
//! their headers) so that `check`, readers, writers and `repair` can tell:
//!
//! * the index's identity: the id most of its files name (the newest
//!   commit's on a tie), so one file copied in from another index is the
//!   odd one out, whichever kind it is;
//! * files of another index ([`Evidence::foreign`]), never trusted;
//! * a missing newest commit ([`Evidence::missing_newest`]): a log file of
//!   this index started after commit `g` proves `g` existed; when the
//!   newest commit on disk is older, a reader would serve a stale state
//!   and call it complete.

use crate::error::{Error, Result};
use crate::index::integrity::commit::Commit;
use crate::index::integrity::identity::IndexId;
use crate::wal::read_log_headers;
use lucerna_store::Directory;
use std::collections::HashMap;

/// A file that names another index than the one the directory holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignFile {
    /// The file.
    pub file: String,
    /// The index it names.
    pub index_id: IndexId,
}

/// What the directory's manifests and log headers say (see the module
/// docs).
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    /// The index's identity ([`IndexId::UNKNOWN`] when no file names one).
    pub index_id: IndexId,
    /// The newest readable commit of this index, as read here (so that
    /// serving it needs no second read).
    newest: Option<Commit>,
    /// Generations of the readable commits of this index, ascending.
    pub generations: Vec<u64>,
    /// Commits that could not be read (generation, error), ascending.
    pub unreadable: Vec<(u64, String)>,
    /// Manifests and log files of another index.
    pub foreign: Vec<ForeignFile>,
    /// The newest commit a log file of this index names:
    /// `(generation, log position it covered, log file)`.
    pub newest_in_logs: Option<(u64, u64, String)>,
}

impl Evidence {
    /// Reads every manifest and every log header of `dir`.
    pub fn gather(dir: &dyn Directory) -> Result<Evidence> {
        // Log headers first: a writer starts a log file naming commit `g`
        // only after `g` is durable, so every commit a header read here
        // names is listed below (or superseded by a newer one) even while
        // a writer commits and deletes old commits meanwhile.
        let logs = read_log_headers(dir)?;
        let mut commits = Vec::new();
        let mut unreadable = Vec::new();
        for g in Commit::list_generations(dir)? {
            match Commit::read(dir, g) {
                Ok(c) => commits.push(c),
                // Deleted since it was listed (superseded by a writer).
                Err(Error::Store(lucerna_store::StoreError::NotFound { .. })) => {}
                Err(e) => unreadable.push((g, e.to_string())),
            }
        }
        // The identity most files name; ties go to the newest commit's.
        let mut votes: HashMap<IndexId, usize> = HashMap::new();
        for id in commits
            .iter()
            .map(|c| c.index_id)
            .chain(logs.iter().map(|l| l.1.index_id))
            .filter(IndexId::is_known)
        {
            *votes.entry(id).or_default() += 1;
        }
        let newest_id = commits
            .iter()
            .rev()
            .map(|c| c.index_id)
            .find(IndexId::is_known)
            .unwrap_or(IndexId::UNKNOWN);
        let index_id = votes
            .iter()
            .max_by_key(|(id, n)| (**n, **id == newest_id))
            .map(|(id, _)| *id)
            .unwrap_or(IndexId::UNKNOWN);
        let mut foreign = Vec::new();
        let mut generations = Vec::new();
        let mut newest = None;
        for c in commits {
            if index_id.accepts(c.index_id) {
                generations.push(c.generation);
                newest = Some(c);
            } else {
                foreign.push(ForeignFile {
                    file: Commit::file_name(c.generation),
                    index_id: c.index_id,
                });
            }
        }
        let mut newest_in_logs: Option<(u64, u64, String)> = None;
        for (name, h) in logs {
            if !index_id.accepts(h.index_id) {
                foreign.push(ForeignFile {
                    file: name,
                    index_id: h.index_id,
                });
            } else if let Some(g) = h.base_generation {
                if newest_in_logs.as_ref().is_none_or(|b| b.0 < g) {
                    newest_in_logs = Some((g, h.first_lsn.saturating_sub(1), name));
                }
            }
        }
        Ok(Evidence {
            index_id,
            newest,
            generations,
            unreadable,
            foreign,
            newest_in_logs,
        })
    }

    /// The newest readable commit of this index on disk.
    pub fn newest_on_disk(&self) -> Option<u64> {
        self.generations.last().copied()
    }

    /// The newest generation any file proves existed: a commit on disk
    /// (readable or not, of this index) or one a log file names.
    pub fn newest_known(&self) -> Option<u64> {
        let unreadable = self.unreadable.last().map(|u| u.0);
        self.newest_on_disk()
            .into_iter()
            .chain(unreadable)
            .chain(self.newest_in_logs.as_ref().map(|l| l.0))
            .max()
    }

    /// The newest commit of this index that a reader or writer may serve,
    /// with the missing newer generation when one is missing and
    /// `allow_older` is set (else that is [`Error::MissingCommit`]). A
    /// commit of another index is never returned; an unreadable commit
    /// newer than every readable one is its error (never silently an older
    /// one).
    pub fn newest_commit(
        &self,
        dir: &dyn Directory,
        allow_older: bool,
    ) -> Result<(Commit, Option<u64>)> {
        let missing = self.missing_newest();
        if let (Some((g, _, file)), false) = (&missing, allow_older) {
            return Err(Error::MissingCommit {
                missing: *g,
                newest: self
                    .newest_on_disk()
                    .map(Commit::file_name)
                    .unwrap_or_else(|| "none".into()),
                evidence: file.clone(),
            });
        }
        let newest = self.newest_on_disk();
        if let Some(u) = self.unreadable.last() {
            if newest.is_none_or(|g| u.0 > g) {
                return Commit::read(dir, u.0).map(|c| (c, None));
            }
        }
        let commit = self.newest.clone().ok_or(Error::NoCommit)?;
        Ok((commit, missing.map(|m| m.0)))
    }

    /// A newer commit than every manifest on disk existed (a log file of
    /// this index names it): `(generation, log position it covered, log
    /// file)`.
    pub fn missing_newest(&self) -> Option<(u64, u64, String)> {
        let on_disk = self
            .newest_on_disk()
            .into_iter()
            .chain(self.unreadable.last().map(|u| u.0))
            .max();
        match &self.newest_in_logs {
            Some(l) if on_disk.is_none_or(|g| l.0 > g) => Some(l.clone()),
            _ => None,
        }
    }
}

/// The newest commit of the index in `dir` that a reader or writer may
/// serve (see [`Evidence::newest_commit`]).
pub fn newest_trusted(dir: &dyn Directory, allow_older: bool) -> Result<(Commit, Option<u64>)> {
    Evidence::gather(dir)?.newest_commit(dir, allow_older)
}
