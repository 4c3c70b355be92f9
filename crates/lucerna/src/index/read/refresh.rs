//! [`RefreshingReader`]: searchers that follow an index on a reload policy,
//! opening a new view at most once per interval however many threads ask.
//!
//! A near-real-time view is not free: [`IndexWriter::searcher`] flushes
//! every indexing buffer to a new segment (and takes the writer's
//! exclusive lock while it does). Called on every search, polling from
//! two threads at 20 Hz made about 40 segments a second and capped
//! ingest; with a refresh interval of 1 s the same polling makes at most
//! one segment a second (see docs/benchmarks.md, "Near-real-time refresh").
//!
//! # Policies
//!
//! | policy | source | a new view is | built by |
//! |---|---|---|---|
//! | [`ReloadPolicy::NearRealTime`] | an [`IndexWriter`] | every document added so far, committed or not | [`IndexWriter::reader_with_refresh`] |
//! | [`ReloadPolicy::OnCommit`] | an [`IndexReader`] | the newest commit | [`RefreshingReader::on_commit`] |
//!
//! # How a search gets its searcher
//!
//! 1. [`searcher`](RefreshingReader::searcher) reads the current view and
//!    when it was opened; younger than the interval: that view (a clone of
//!    an `Arc`, no lock held while searching).
//! 2. Older: one caller (the one that takes the refresh lock without
//!    waiting) opens a new view and publishes it; callers arriving
//!    meanwhile get the current view at once and never wait for the
//!    refresh.
//! 3. The interval runs from the start of one refresh to the start of the
//!    next, so refreshes are at least one interval apart: the count of
//!    refreshes over a run is at most its duration over the interval, plus
//!    one.
//!
//! A failed refresh keeps the current view, counts the failure, returns
//! the error to the caller that tried, and is not tried again before the
//! next interval.
//!
//! ```
//! use lucerna::{Index, Document, WriterConfig, schema::Schema, store::RamDirectory};
//! use std::time::Duration;
//! # fn main() -> lucerna::Result<()> {
//! let index = Index::create(RamDirectory::new(), Schema::logs())?;
//! let id = index.schema().field("id").unwrap();
//! let writer = index.writer(WriterConfig::default())?;
//! let reader = writer.reader_with_refresh(Duration::ZERO)?; // refresh on every call
//! writer.add_document(Document::new().add_u64(id, 1).clone())?;
//! assert_eq!(reader.searcher()?.num_docs(), 1); // not committed, yet visible
//! assert_eq!(reader.refreshes(), 1);
//! # Ok(()) }
//! ```
//!
//! [`IndexWriter`]: crate::IndexWriter
//! [`IndexWriter::searcher`]: crate::IndexWriter::searcher
//! [`IndexWriter::reader_with_refresh`]: crate::IndexWriter::reader_with_refresh

use crate::error::Result;
use crate::index::read::reader::IndexReader;
use crate::search::searcher::Searcher;
use lucerna_merge::{Clock, SystemClock};
use parking_lot::{Mutex, RwLock};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// When a [`RefreshingReader`] opens a new view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadPolicy {
    /// The writer's current state (buffers flushed to segments, not
    /// committed), at most once per interval (Elasticsearch's refresh
    /// interval).
    NearRealTime(Duration),
    /// The newest commit, looked for at most once per interval (tantivy's
    /// reload on commit; a commit made meanwhile is seen within an
    /// interval).
    OnCommit(Duration),
}

impl ReloadPolicy {
    /// The shortest time between two refreshes.
    pub fn interval(&self) -> Duration {
        match self {
            ReloadPolicy::NearRealTime(d) | ReloadPolicy::OnCommit(d) => *d,
        }
    }
}

/// Where new views come from: an [`IndexReader`] (the newest commit), or
/// a writer (its near-real-time state; implemented in the write layer,
/// above this one, so this module never names the writer).
pub(crate) trait ViewSource: Send + Sync {
    /// A new view. Called by one refreshing thread at a time.
    fn open_view(&self) -> Result<Searcher>;
}

impl ViewSource for IndexReader {
    fn open_view(&self) -> Result<Searcher> {
        self.reload()?;
        Ok(self.searcher())
    }
}

/// The current view and when it was opened (on the reader's clock).
struct View {
    searcher: Searcher,
    opened_at: Duration,
}

/// Hands out [`Searcher`]s that follow an index on a [`ReloadPolicy`],
/// opening a new view at most once per interval; see the
/// [module documentation](self). `Send + Sync`: share it (in an `Arc`)
/// between the threads that search.
pub struct RefreshingReader {
    source: Box<dyn ViewSource>,
    policy: ReloadPolicy,
    clock: Arc<dyn Clock>,
    view: RwLock<View>,
    /// Held by the one caller refreshing.
    refreshing: Mutex<()>,
    refreshes: AtomicU64,
    failures: AtomicU64,
}

impl std::fmt::Debug for RefreshingReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshingReader")
            .field("policy", &self.policy)
            .field("refreshes", &self.refreshes())
            .finish_non_exhaustive()
    }
}

impl RefreshingReader {
    /// Searchers of the newest commit of `reader`'s index, looked for at
    /// most once per `interval`.
    pub fn on_commit(reader: IndexReader, interval: Duration) -> Result<RefreshingReader> {
        Self::with_clock(
            Box::new(reader),
            ReloadPolicy::OnCommit(interval),
            SystemClock::shared(),
        )
    }

    /// Replaces the clock the interval is measured on (for tests: a
    /// [`ManualClock`](lucerna_merge::ManualClock) makes refreshes
    /// countable without sleeping). The current view counts as opened now.
    pub fn using_clock(mut self, clock: Arc<dyn Clock>) -> RefreshingReader {
        self.view.get_mut().opened_at = clock.now();
        self.clock = clock;
        self
    }

    /// Views of `source` on `policy` (for the write layer's
    /// [`near_real_time`](Self::near_real_time)). Opens the first view now.
    pub(crate) fn with_clock(
        source: Box<dyn ViewSource>,
        policy: ReloadPolicy,
        clock: Arc<dyn Clock>,
    ) -> Result<RefreshingReader> {
        let searcher = source.open_view()?;
        Ok(RefreshingReader {
            view: RwLock::new(View {
                searcher,
                opened_at: clock.now(),
            }),
            source,
            policy,
            clock,
            refreshing: Mutex::new(()),
            refreshes: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        })
    }

    /// The policy.
    pub fn policy(&self) -> ReloadPolicy {
        self.policy
    }

    /// A searcher: the current view, refreshed first when it is at least
    /// one interval old and no other caller is refreshing it. Fails only
    /// when this call's refresh failed (the current view stays).
    pub fn searcher(&self) -> Result<Searcher> {
        self.refresh_if_due()?;
        Ok(self.current())
    }

    /// Refreshes the view if it is at least one interval old and no other
    /// caller is refreshing it; returns whether this call opened a new
    /// view. A service can call this from a background task at the
    /// interval and search [`current`](Self::current), so that no search
    /// waits for a refresh.
    pub fn refresh_if_due(&self) -> Result<bool> {
        let interval = self.policy.interval();
        if self.clock.now().saturating_sub(self.view.read().opened_at) < interval {
            return Ok(false);
        }
        let Some(_refreshing) = self.refreshing.try_lock() else {
            // Another caller is refreshing: do not wait for it.
            return Ok(false);
        };
        let started = self.clock.now();
        if started.saturating_sub(self.view.read().opened_at) < interval {
            // Refreshed between our look and the lock.
            return Ok(false);
        }
        match self.source.open_view() {
            Ok(searcher) => {
                let mut v = self.view.write();
                v.searcher = searcher;
                v.opened_at = started;
                self.refreshes.fetch_add(1, Ordering::Relaxed);
                Ok(true)
            }
            Err(e) => {
                // Not again before the next interval.
                self.view.write().opened_at = started;
                self.failures.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    /// The current view, never refreshed by this call.
    pub fn current(&self) -> Searcher {
        self.view.read().searcher.clone()
    }

    /// Views opened since the first (successful refreshes).
    pub fn refreshes(&self) -> u64 {
        self.refreshes.load(Ordering::Relaxed)
    }

    /// Refreshes that failed (the view before them was kept).
    pub fn refresh_failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Schema;
    use crate::{Document, Index, WriterConfig};
    use lucerna_merge::ManualClock;
    use lucerna_store::RamDirectory;

    #[test]
    fn a_view_younger_than_the_interval_is_reused() {
        let index = Index::create(RamDirectory::new(), Schema::logs()).unwrap();
        let id = index.schema().field("id").unwrap();
        let w = index.writer(WriterConfig::default()).unwrap();
        let clock = Arc::new(ManualClock::new());
        let r = w
            .reader_with_refresh(Duration::from_secs(1))
            .unwrap()
            .using_clock(clock.clone());
        w.add_document(Document::new().add_u64(id, 1).clone())
            .unwrap();
        assert_eq!(r.searcher().unwrap().num_docs(), 0);
        clock.advance(Duration::from_millis(999));
        assert_eq!(r.searcher().unwrap().num_docs(), 0);
        clock.advance(Duration::from_millis(1));
        assert_eq!(r.searcher().unwrap().num_docs(), 1);
        assert_eq!((r.refreshes(), r.refresh_failures()), (1, 0));
    }

    #[test]
    fn an_on_commit_reader_sees_commits_within_an_interval() {
        let index = Index::create(RamDirectory::new(), Schema::logs()).unwrap();
        let id = index.schema().field("id").unwrap();
        let w = index.writer(WriterConfig::default()).unwrap();
        let clock = Arc::new(ManualClock::new());
        let r = RefreshingReader::on_commit(index.reader().unwrap(), Duration::from_secs(1))
            .unwrap()
            .using_clock(clock.clone());
        w.add_document(Document::new().add_u64(id, 1).clone())
            .unwrap();
        w.commit().unwrap();
        assert_eq!(r.searcher().unwrap().num_docs(), 0);
        clock.advance(Duration::from_secs(1));
        assert_eq!(r.searcher().unwrap().num_docs(), 1);
        assert_eq!(r.policy(), ReloadPolicy::OnCommit(Duration::from_secs(1)));
    }
}
