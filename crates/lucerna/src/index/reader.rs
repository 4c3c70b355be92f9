//! [`IndexReader`]: searchers over committed states of an index.

use crate::analysis::Analyzer;
use crate::error::Result;
use crate::index::commit::Commit;
use crate::index::evidence::newest_trusted;
use crate::index::file_refs::FileRefs;
use crate::index::page_budget::PageBudget;
use crate::index::segment_reader::SegmentReader;
use crate::index::verify::Verify;
use crate::schema::Schema;
use crate::search::searcher::Searcher;
use lucerna_store::Directory;
use parking_lot::RwLock;
use std::sync::Arc;

/// Opens commits and hands out [`Searcher`]s; [`reload`](Self::reload)
/// picks up newer commits, reusing unchanged segments.
pub struct IndexReader {
    dir: Arc<dyn Directory>,
    schema: Arc<Schema>,
    analyzer: Arc<dyn Analyzer>,
    refs: FileRefs,
    verify: Verify,
    page_budget: Option<Arc<PageBudget>>,
    /// Serve an older commit when the newest is missing.
    allow_older: bool,
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
    pub(crate) fn open(
        dir: Arc<dyn Directory>,
        schema: Arc<Schema>,
        analyzer: Arc<dyn Analyzer>,
        refs: FileRefs,
        verify: Verify,
        allow_older: bool,
    ) -> Result<IndexReader> {
        let (commit, missing) = newest_trusted(dir.as_ref(), allow_older)?;
        let searcher = Self::open_commit(&dir, &schema, &analyzer, &refs, verify, &commit, None)?;
        Ok(IndexReader {
            dir,
            schema,
            analyzer,
            refs,
            verify,
            page_budget: None,
            allow_older,
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

    fn open_commit(
        dir: &Arc<dyn Directory>,
        schema: &Arc<Schema>,
        analyzer: &Arc<dyn Analyzer>,
        refs: &FileRefs,
        verify: Verify,
        commit: &Commit,
        previous: Option<&Searcher>,
    ) -> Result<Searcher> {
        if commit.schema != **schema {
            return Err(crate::error::Error::Schema(format!(
                "commit {} has a different schema than this reader's (the index was replaced?); open the index again",
                commit.generation
            )));
        }
        let mut segs = Vec::with_capacity(commit.segments.len());
        for meta in &commit.segments {
            let old = previous.and_then(|p| {
                p.segments()
                    .iter()
                    .find(|s| s.meta().name == meta.name && s.meta().id == meta.id)
            });
            let r = match old {
                Some(o) if o.meta().del_gen == meta.del_gen => o.clone(),
                Some(o) => o.with_deletes(dir.as_ref(), meta, refs, verify)?,
                None => SegmentReader::open(dir.as_ref(), meta, schema.clone(), refs, verify)?,
            };
            segs.push(r);
        }
        Ok(Searcher::new(
            schema.clone(),
            analyzer.clone(),
            segs,
            commit.generation,
        ))
    }

    /// A searcher over the current commit.
    pub fn searcher(&self) -> Searcher {
        self.current.read().clone()
    }

    /// Moves to the newest commit if there is a newer one; returns true
    /// when it moved. Fails as [`Index::reader`](crate::Index::reader)
    /// does when the newest commit is missing or unreadable.
    pub fn reload(&self) -> Result<bool> {
        let gens = Commit::list_generations(self.dir.as_ref())?;
        let cur = self.current.read().clone();
        match gens.last() {
            Some(&g) if g > cur.generation() => {
                let (commit, missing) = newest_trusted(self.dir.as_ref(), self.allow_older)?;
                if commit.generation <= cur.generation() {
                    return Ok(false);
                }
                *self.missing.write() = missing;
                let s = Self::open_commit(
                    &self.dir,
                    &self.schema,
                    &self.analyzer,
                    &self.refs,
                    self.verify,
                    &commit,
                    Some(&cur),
                )?
                .with_page_budget(self.page_budget.clone());
                *self.current.write() = s;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
