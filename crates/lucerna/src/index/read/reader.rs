//! [`IndexReader`]: searchers over committed states of an index.

use crate::analysis::Analyzer;
use crate::error::Result;
use crate::index::integrity::commit::{Commit, SegmentMeta};
use crate::index::integrity::evidence::newest_trusted;
use crate::index::integrity::file_refs::FileRefs;
use crate::index::integrity::heal_hook::{healable, HealHook, HealStats};
use crate::index::integrity::verify::Verify;
use crate::index::read::page_budget::PageBudget;
use crate::index::read::segment_reader::SegmentReader;
use crate::schema::Schema;
use crate::search::searcher::{Searcher, Unavailable};
use lucerna_store::Directory;
use parking_lot::RwLock;
use std::sync::Arc;

/// What a reader needs from its [`Index`](crate::Index).
#[derive(Clone)]
pub(crate) struct ReaderContext {
    pub dir: Arc<dyn Directory>,
    pub schema: Arc<Schema>,
    pub analyzer: Arc<dyn Analyzer>,
    pub refs: FileRefs,
    pub verify: Verify,
    /// Serve an older commit when the newest is missing.
    pub allow_older: bool,
    /// Serve the intact segments when one is quarantined.
    pub allow_partial: bool,
    /// Restores damaged segment files and counts heals (the recover
    /// layer's healer, known here only by its hook).
    pub healer: Arc<dyn HealHook>,
}

/// Opens commits and hands out [`Searcher`]s; [`reload`](Self::reload)
/// picks up newer commits, reusing unchanged segments.
///
/// A segment that fails to open because a file is damaged, truncated or
/// missing is restored from the index's replicas first (see
/// [`heal`](crate::index::heal)); only if that fails is it an error naming
/// the file, or, with [`Index::allow_partial`](crate::Index::allow_partial),
/// left out of the searcher, which then says it is partial.
pub struct IndexReader {
    cx: ReaderContext,
    page_budget: Option<Arc<PageBudget>>,
    /// The missing newer generation, when serving an older commit.
    missing: RwLock<Option<u64>>,
    current: RwLock<Searcher>,
}

impl std::fmt::Debug for IndexReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexReader")
            .field("generation", &self.current.read().generation())
            .finish()
    }
}

impl IndexReader {
    pub(crate) fn open(cx: ReaderContext) -> Result<IndexReader> {
        let (commit, missing) = newest_trusted(cx.dir.as_ref(), cx.allow_older)?;
        let searcher = Self::open_commit(&cx, &commit, None)?;
        Ok(IndexReader {
            cx,
            page_budget: None,
            missing: RwLock::new(missing),
            current: RwLock::new(searcher),
        })
    }

    /// When the reader serves an older commit because a newer one is
    /// missing (only with [`Index::allow_older_commit`](crate::Index::allow_older_commit)):
    /// the missing generation. Its searches lack what that commit held.
    pub fn missing_newest(&self) -> Option<u64> {
        *self.missing.read()
    }

    /// Gives this reader's searchers `budget` (see [`PageBudget`]).
    pub(crate) fn with_page_budget(mut self, budget: Option<Arc<PageBudget>>) -> Self {
        let current = self.current.get_mut();
        *current = current.clone().with_page_budget(budget.clone());
        self.page_budget = budget;
        self
    }

    /// Opens segment `meta`, healing it from the replicas when a file is
    /// damaged or missing.
    fn open_segment(cx: &ReaderContext, meta: &SegmentMeta) -> Result<SegmentReader> {
        let dir = cx.dir.as_ref();
        match SegmentReader::open(dir, meta, cx.schema.clone(), &cx.refs, cx.verify) {
            Err(e) if healable(&e) => {
                if cx.healer.heal_segment(dir, meta)? {
                    SegmentReader::open(dir, meta, cx.schema.clone(), &cx.refs, cx.verify)
                } else {
                    cx.healer.failed(meta, &e);
                    Err(e)
                }
            }
            r => r,
        }
    }

    fn open_commit(
        cx: &ReaderContext,
        commit: &Commit,
        previous: Option<&Searcher>,
    ) -> Result<Searcher> {
        if commit.schema != *cx.schema {
            return Err(crate::error::Error::Schema(format!(
                "commit {} has a different schema than this reader's (the index was replaced?); open the index again",
                commit.generation
            )));
        }
        let dir = cx.dir.as_ref();
        let mut segs = Vec::with_capacity(commit.segments.len());
        let mut unavailable = Vec::new();
        for meta in &commit.segments {
            let old = previous.and_then(|p| {
                p.segment_readers()
                    .iter()
                    .find(|s| s.meta().name == meta.name && s.meta().id == meta.id)
            });
            let r = match old {
                Some(o) if o.meta().del_gen == meta.del_gen => Ok(o.clone()),
                Some(o) => o.with_deletes(dir, meta, &cx.refs, cx.verify),
                None => Self::open_segment(cx, meta),
            };
            match r {
                Ok(r) => segs.push(r),
                Err(e) if cx.allow_partial && healable(&e) => {
                    unavailable.push(Unavailable::of(meta, &e));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Searcher::new(
            cx.schema.clone(),
            cx.analyzer.clone(),
            segs,
            commit.generation,
        )
        .with_unavailable(unavailable))
    }

    /// A searcher over the current commit.
    pub fn searcher(&self) -> Searcher {
        self.current.read().clone()
    }

    /// Heal counters of the index (see [`heal`](crate::index::heal)).
    pub fn heal_stats(&self) -> HealStats {
        self.cx.healer.stats()
    }

    /// Moves to the newest commit if there is a newer one; returns true
    /// when it moved. Fails as [`Index::reader`](crate::Index::reader)
    /// does when the newest commit is missing or unreadable.
    pub fn reload(&self) -> Result<bool> {
        let gens = Commit::list_generations(self.cx.dir.as_ref())?;
        let cur = self.current.read().clone();
        match gens.last() {
            Some(&g) if g > cur.generation() => {
                let (commit, missing) = newest_trusted(self.cx.dir.as_ref(), self.cx.allow_older)?;
                if commit.generation <= cur.generation() {
                    return Ok(false);
                }
                *self.missing.write() = missing;
                let s = Self::open_commit(&self.cx, &commit, Some(&cur))?
                    .with_page_budget(self.page_budget.clone());
                *self.current.write() = s;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Opens the current commit again, healing what can be healed: after
    /// a search failed with a damaged file, or to bring back segments a
    /// partial searcher left out once their replicas have them. Returns
    /// whether the new searcher lacks nothing.
    pub fn heal(&self) -> Result<bool> {
        let (commit, missing) = newest_trusted(self.cx.dir.as_ref(), self.cx.allow_older)?;
        *self.missing.write() = missing;
        let s =
            Self::open_commit(&self.cx, &commit, None)?.with_page_budget(self.page_budget.clone());
        let complete = s.unavailable().is_empty();
        *self.current.write() = s;
        Ok(complete)
    }
}
