//! Automatic merging and writer backpressure (steps 5 and 6 of the design's
//! data flow).
//!
//! After every flush and commit, [`IndexWriter::maybe_merge`] describes the
//! writer's segments to the merge policy ([`SegmentDescriptor`]: the segment
//! number `N` of `seg_N` as a stable id, the size of its files, its
//! documents and deletes), leaving out segments already being merged and
//! segments whose merge failed, and submits each merge it returns to the
//! scheduler as a [`MergeTask`]. A merge refused because this index's queue
//! is full is kept and submitted again after the next flush, commit or
//! finished merge: no merge is dropped silently.
//!
//! A task runs the same plan / merge / install path as
//! [`IndexWriter::force_merge`] on a scheduler thread. It plans when it
//! starts (pending deletes applied, inputs snapshot), writes the merged
//! segment through a [`ThrottledDirectory`] (every write is charged to the
//! scheduler's rate limiter through [`MergeContext::throttle`], which also
//! notices an abort; flushes never go through it), then installs it with
//! the deletes that arrived meanwhile carried over. A failed merge (a
//! corrupt input, an IO error) changes nothing, is counted with its error in
//! [`WriterMetrics`], and is not retried: the segment holding the corrupt
//! file (for other errors, every input) is left out of automatic merges for
//! the rest of this writer's life (a rollback forgets this). A merge whose inputs a rollback took away is
//! discarded.
//!
//! Backpressure: the [`MergeTracker`] keeps this index's [`Backpressure`]
//! controller fed with its merge debt (bytes of merges queued, waiting to be
//! queued, or running: the scheduler's per-index backlog plus the merges it
//! refused), its segment count against the policy's budget, and its
//! unflushed bytes, and with what drains them (each automatic merge's bytes
//! and time, each flush's bytes). Writers ask it to admit each document's
//! bytes ([`document_bytes`]) before taking any writer lock, so a stalled
//! or rate-limited writer never blocks the merges it waits for.

use super::merge_path::{descriptors, fresh_segments, Plan, Source};
use super::{random_id, segment_number, IndexWriter, Inner};
use crate::document::{Document, Value};
use crate::error::{Error, Result};
use lucerna_merge::{
    fresh_merges, Backlog, Backpressure, BackpressureConfig, MergeContext, MergeError, MergeTask,
    OneMerge, ShutdownMode, SubmitError,
};
use lucerna_store::{Directory, FileSlice, FileWrite, LockGuard, StoreError};
use parking_lot::Mutex;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// Merge writes are charged to the rate limiter in chunks of this many
/// bytes (and at the end of each file).
const THROTTLE_CHUNK: u64 = 64 << 10;

/// Counters of one [`IndexWriter`]: its segments, merges, flushes and
/// backpressure. From [`IndexWriter::metrics`].
#[derive(Debug, Clone, PartialEq)]
pub struct WriterMetrics {
    /// Segments in the writer (flushed, committed or not).
    pub segments: usize,
    /// Merges chosen by the policy and not started yet: queued in the
    /// scheduler, or refused by its full queue and waiting to be queued.
    pub pending_merges: usize,
    /// This index's merge debt: estimated bytes to write of the pending and
    /// running merges (what backpressure measures).
    pub pending_merge_bytes: u64,
    /// The highest `pending_merge_bytes` since the writer opened (checked
    /// each time merges are added to the debt, so no peak is missed).
    pub peak_pending_merge_bytes: u64,
    /// Merges running now.
    pub running_merges: usize,
    /// Merges installed since the writer opened (automatic and forced).
    pub merges_completed: u64,
    /// Merges that failed: automatic ones (corrupt input, IO error) and
    /// forced ones (any error but a rollback meanwhile). A corrupt input
    /// (found before the merge reads it, or when it is verified again after
    /// the merge read it) fails the merge, which then installs nothing, and
    /// marks the segment corrupt. The corrupt segment (for other errors of
    /// an automatic merge: every input) is not merged automatically again
    /// by this writer.
    pub merges_failed: u64,
    /// The error of the last failed merge.
    pub last_merge_error: Option<String>,
    /// Bytes of segments written by flushes.
    pub bytes_flushed: u64,
    /// Bytes of segments written by merges.
    pub bytes_merged: u64,
    /// Average merge speed: bytes merged per second of merging, in MiB/s
    /// (0 before the first merge).
    pub merge_mib_per_s: f64,
    /// The scheduler's current merge IO limit in MiB/s (infinite when
    /// unlimited). Merges smaller than the scheduler's
    /// `min_throttled_merge_bytes` are never throttled.
    pub throttle_mib_per_s: f64,
    /// The rate this index's writers are admitted at, in bytes of
    /// documents per second (a document's bytes: the length of its strings
    /// plus 8 per number); infinite while
    /// unlimited (every backlog below its soft limit).
    pub admitted_bytes_per_s: f64,
    /// Bytes of documents admitted since the writer opened.
    pub admitted_bytes: u64,
    /// The smoothed backpressure pressure: how far the worst backlog is
    /// into its soft–hard band (negative below the soft limit, 1 at the
    /// hard limit).
    pub backlog_pressure: f64,
    /// The backlog's trend: the smoothed pressure's change per second.
    pub backlog_trend_per_s: f64,
    /// Episodes of limited rate since the writer opened.
    pub rate_limited_episodes: u64,
    /// Writes that waited for the admitted rate (1 ms or more).
    pub delays: u64,
    /// Total time writes waited for the admitted rate.
    pub delayed_time: Duration,
    /// Writes that stalled (blocked past a hard limit).
    pub stalls: u64,
    /// Total time writes were stalled.
    pub stalled_time: Duration,
    /// [`try_add_document`](IndexWriter::try_add_document) calls refused
    /// with [`Error::Backpressure`] (rate limited or stalled).
    pub rejections: u64,
    /// Bytes written by flushes and merges over bytes flushed (1.0 when
    /// nothing was merged; 0 before the first flush).
    pub write_amplification: f64,
    /// Memory running merges have reserved out of the writer's budget
    /// ([`WriterConfig::mem_budget_bytes`](crate::WriterConfig::mem_budget_bytes)
    /// covers indexing buffers and merges alike: while merges run, buffers
    /// flush earlier).
    pub merge_reserved_bytes: u64,
}

#[derive(Default)]
struct TrackerState {
    /// Ids of segments in a merge submitted or waiting to be submitted.
    merging: HashSet<u64>,
    /// Ids of segments whose merge failed: not merged automatically again.
    failed: HashSet<u64>,
    /// Tasks the scheduler refused (full queue), oldest first.
    refused: Vec<MergeTask>,
    /// A forced merge is running: no automatic merge is submitted.
    forcing: bool,
    /// Merging is shut down.
    closed: bool,
    last_error: Option<String>,
}

/// Merges in flight, backpressure and counters of one writer; shared with
/// its merge tasks. Lock order: writer state, then this tracker's state.
/// Never held while calling into the scheduler (whose lock may drop tasks,
/// which take this lock).
pub(super) struct MergeTracker {
    state: Mutex<TrackerState>,
    /// Merge debt: bytes of merges submitted or refused and not finished.
    debt: AtomicU64,
    /// The highest `debt` so far.
    peak_debt: AtomicU64,
    bp: Backpressure,
    closed: AtomicBool,
    /// Callers in `wait_for_merges`: while > 0, merges are not throttled.
    waiters: AtomicUsize,
    unflushed: AtomicU64,
    /// Unflushed-bytes changes smaller than this are not reported at once.
    granule: u64,
    completed: AtomicU64,
    failed: AtomicU64,
    bytes_merged: AtomicU64,
    merge_nanos: AtomicU64,
    bytes_flushed: AtomicU64,
}

impl MergeTracker {
    pub(super) fn new(config: &BackpressureConfig) -> Result<MergeTracker> {
        let bp = Backpressure::new(*config).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        Ok(MergeTracker {
            state: Mutex::new(TrackerState::default()),
            debt: AtomicU64::new(0),
            peak_debt: AtomicU64::new(0),
            bp,
            closed: AtomicBool::new(false),
            waiters: AtomicUsize::new(0),
            unflushed: AtomicU64::new(0),
            granule: (config.soft_unflushed_bytes / 8).clamp(1, 256 << 10),
            completed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            bytes_merged: AtomicU64::new(0),
            merge_nanos: AtomicU64::new(0),
            bytes_flushed: AtomicU64::new(0),
        })
    }

    fn set_backlog(&self, f: impl FnOnce(&mut Backlog)) {
        self.bp.update(f);
    }

    /// Reads the counters inside the controller's lock, so concurrent
    /// refreshes cannot store an older value last.
    fn refresh_debt(&self) {
        self.bp
            .update(|b| b.pending_merge_bytes = self.debt.load(Ordering::Acquire));
    }

    fn refresh_unflushed(&self) {
        self.bp
            .update(|b| b.unflushed_bytes = self.unflushed.load(Ordering::Acquire));
    }

    /// A buffer grew from `before` to `after` bytes.
    pub(super) fn buffered(&self, before: usize, after: usize) {
        let (before, after) = (before as u64, after as u64);
        let old = if after >= before {
            self.unflushed.fetch_add(after - before, Ordering::AcqRel)
        } else {
            self.unflushed.fetch_sub(before - after, Ordering::AcqRel)
        };
        let new = old.wrapping_add(after).wrapping_sub(before);
        if old / self.granule != new / self.granule {
            self.refresh_unflushed();
        }
    }

    /// A buffer of `ram` bytes became a segment of `size` bytes.
    pub(super) fn flushed(&self, ram: usize, size: u64) {
        let ram = ram as u64;
        let _ = self
            .unflushed
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                Some(u.saturating_sub(ram))
            });
        self.bytes_flushed.fetch_add(size, Ordering::Relaxed);
        self.bp.record_flush(size);
        self.refresh_unflushed();
    }

    /// Every buffer was discarded and the segments reloaded.
    pub(super) fn rolled_back(&self) {
        self.unflushed.store(0, Ordering::Release);
        self.state.lock().failed.clear();
        self.refresh_unflushed();
    }
}

/// The bytes a document is charged by backpressure: the length of its
/// strings plus 8 per number, what a client sent, more or less (the admitted
/// rate is in these bytes per second).
pub(super) fn document_bytes(doc: &Document) -> u64 {
    doc.values()
        .iter()
        .map(|(_, v)| match v {
            Value::Str(s) => s.len() as u64,
            Value::U64(_) | Value::I64(_) | Value::F64(_) => 8,
        })
        .sum()
}

/// Marks a merge's segments as merging and counts its bytes as merge debt
/// for as long as its task exists (queued, refused or running).
struct InFlight {
    tracker: Arc<MergeTracker>,
    ids: Vec<u64>,
    bytes: u64,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        {
            let mut ms = self.tracker.state.lock();
            for id in &self.ids {
                ms.merging.remove(id);
            }
        }
        let _ = self
            .tracker
            .debt
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| {
                Some(d.saturating_sub(self.bytes))
            });
        self.tracker.refresh_debt();
    }
}

/// Closes the writer's merging when the last user handle is dropped.
pub(super) struct Closer {
    inner: Arc<Inner>,
}

impl Closer {
    pub(super) fn new(inner: Arc<Inner>) -> Closer {
        Closer { inner }
    }
}

impl Drop for Closer {
    fn drop(&mut self) {
        IndexWriter::internal(self.inner.clone()).shutdown_merges();
    }
}

/// Clears the tracker's `forcing` flag when dropped.
pub(super) struct Forcing<'a>(&'a MergeTracker);

impl Drop for Forcing<'_> {
    fn drop(&mut self) {
        self.0.state.lock().forcing = false;
    }
}

/// Decrements the waiter count when dropped.
struct Waiting<'a>(&'a MergeTracker);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiters.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A directory whose file writes are charged to a merge's rate limiter.
/// Reads and every other operation go straight to the wrapped directory.
struct ThrottledDirectory {
    inner: Arc<dyn Directory>,
    ctx: MergeContext,
    tracker: Arc<MergeTracker>,
    /// Nanoseconds the merge's writes were paused by the rate limiter.
    paused: Arc<AtomicU64>,
}

impl std::fmt::Debug for ThrottledDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThrottledDirectory")
            .field("inner", &self.inner)
            .field("ctx", &self.ctx)
            .finish()
    }
}

struct ThrottledWrite {
    inner: Box<dyn FileWrite>,
    ctx: MergeContext,
    tracker: Arc<MergeTracker>,
    paused: Arc<AtomicU64>,
    name: String,
    unpaid: u64,
}

impl ThrottledWrite {
    /// Charges the bytes written since the last charge: pauses as the rate
    /// limiter requires (not while someone waits for merges), and fails if
    /// the merge was aborted.
    fn pay(&mut self) -> lucerna_store::Result<()> {
        let bytes = std::mem::take(&mut self.unpaid);
        let r = if self.tracker.waiters.load(Ordering::Acquire) > 0 {
            self.ctx.check_abort()
        } else {
            self.ctx.throttle(bytes).map(|paused| {
                let nanos = u64::try_from(paused.as_nanos()).unwrap_or(u64::MAX);
                self.paused.fetch_add(nanos, Ordering::Relaxed);
            })
        };
        r.map_err(|e| {
            StoreError::io(
                "write",
                self.name.clone(),
                std::io::Error::new(std::io::ErrorKind::Interrupted, e.to_string()),
            )
        })
    }
}

impl FileWrite for ThrottledWrite {
    fn write_all(&mut self, buf: &[u8]) -> lucerna_store::Result<()> {
        self.inner.write_all(buf)?;
        self.unpaid = self.unpaid.saturating_add(buf.len() as u64);
        if self.unpaid >= THROTTLE_CHUNK {
            self.pay()?;
        }
        Ok(())
    }
    fn bytes_written(&self) -> u64 {
        self.inner.bytes_written()
    }
    fn finish(self: Box<Self>) -> lucerna_store::Result<u64> {
        let mut me = *self;
        me.pay()?;
        me.inner.finish()
    }
}

impl Directory for ThrottledDirectory {
    fn create(&self, name: &str) -> lucerna_store::Result<Box<dyn FileWrite>> {
        self.ctx.check_abort().map_err(|e| {
            StoreError::io(
                "create",
                name,
                std::io::Error::new(std::io::ErrorKind::Interrupted, e.to_string()),
            )
        })?;
        let inner = self.inner.create(name)?;
        Ok(Box::new(ThrottledWrite {
            inner,
            ctx: self.ctx.clone(),
            tracker: self.tracker.clone(),
            paused: self.paused.clone(),
            name: name.to_string(),
            unpaid: 0,
        }))
    }
    fn open(&self, name: &str) -> lucerna_store::Result<FileSlice> {
        self.inner.open(name)
    }
    fn list(&self) -> lucerna_store::Result<Vec<String>> {
        self.inner.list()
    }
    fn exists(&self, name: &str) -> lucerna_store::Result<bool> {
        self.inner.exists(name)
    }
    fn delete(&self, name: &str) -> lucerna_store::Result<()> {
        self.inner.delete(name)
    }
    fn rename(&self, from: &str, to: &str) -> lucerna_store::Result<()> {
        self.inner.rename(from, to)
    }
    fn sync(&self, names: &[&str]) -> lucerna_store::Result<()> {
        self.inner.sync(names)
    }
    fn sync_dir(&self) -> lucerna_store::Result<()> {
        self.inner.sync_dir()
    }
    fn file_len(&self, name: &str) -> lucerna_store::Result<u64> {
        self.inner.file_len(name)
    }
    fn try_lock(&self, name: &str) -> lucerna_store::Result<Box<dyn LockGuard>> {
        self.inner.try_lock(name)
    }
}

impl IndexWriter {
    /// `Err(Error::Closed)` once [`close`](Self::close) was called.
    pub(super) fn check_open(&self) -> Result<()> {
        if self.inner.merges.closed.load(Ordering::Acquire) {
            Err(Error::Closed("the writer was closed".into()))
        } else {
            Ok(())
        }
    }

    /// Backpressure before adding a document of `bytes` (see
    /// [`document_bytes`]): nothing when the index keeps up; a wait for the
    /// admitted rate's bucket; past a hard limit a stall until the backlog
    /// drains, for at most `max_stall`. `None`: never waits,
    /// [`Error::Backpressure`] says when to retry instead. A flush backlog
    /// is relieved by flushing here rather than waiting for it.
    pub(super) fn admit(&self, max_stall: Option<Duration>, bytes: u64) -> Result<()> {
        let t = &self.inner.merges;
        self.check_open()?;
        if t.bp.is_limiting() {
            let hard_unflushed = t.bp.config().hard_unflushed_bytes;
            if t.bp.backlog().unflushed_bytes >= hard_unflushed {
                self.flush()?;
            }
        }
        let admitted = match max_stall {
            Some(timeout) => t.bp.admit(bytes, timeout).map(|_| ()),
            None => t.bp.try_admit(bytes),
        };
        admitted.map_err(|backlog| Error::Backpressure { backlog })?;
        // Stalled writers are released on close; they must not add then.
        self.check_open()
    }

    /// Asks the merge policy for merges and submits them (and any merge
    /// the scheduler refused earlier); refreshes the segment backlog.
    /// Returns how many merges were submitted or are waiting for room in
    /// the scheduler's queue.
    pub(super) fn maybe_merge(&self) -> usize {
        let t = &self.inner.merges;
        let policy = &self.inner.config.merge_policy;
        let tasks = {
            let st = self.inner.state.lock();
            let descs = descriptors(&st);
            let mut ms = t.state.lock();
            let present: HashSet<u64> = descs.iter().map(|d| d.id).collect();
            ms.failed.retain(|id| present.contains(id));
            let mut excluded: HashSet<u64> = ms.merging.union(&ms.failed).copied().collect();
            let cfg = t.bp.config();
            let fresh_first = !ms.closed
                && !ms.forcing
                && policy.allows_fresh_merges()
                && t.bp.fresh_merges_first()
                && t.bp.backlog().excess_segments() < cfg.soft_excess_segments;
            // Only needed, and only built, in fresh-first mode.
            let fresh = if fresh_first {
                fresh_segments(&st)
            } else {
                HashSet::new()
            };
            // Segments whose merge failed cannot be merged away: passed to
            // the policy with the merging ones, they are counted within its
            // budget, not against it (writers would stall for ever). So are
            // fresh segments waiting for their fresh-first merge (at most a
            // fan-in of them). Count them once: the count is every segment.
            let budget = if fresh_first {
                let waiting: HashSet<u64> = excluded.union(&fresh).copied().collect();
                policy.segment_budget(&descs, &waiting)
            } else {
                policy.segment_budget(&descs, &excluded)
            };
            let count = descs.len();
            let mut tasks = Vec::new();
            if !ms.closed && !ms.forcing {
                tasks = std::mem::take(&mut ms.refused);
                let merges = if fresh_first {
                    // A group never waits to hold more than half the soft
                    // merge-debt limit: the debt backpressure sees must
                    // keep moving with small limits too.
                    let min_bytes = cfg
                        .fresh_merge_min_bytes
                        .min(cfg.soft_pending_merge_bytes / 2);
                    let fan_in = cfg.fresh_merge_fan_in;
                    fresh_merges(&descs, &fresh, &excluded, fan_in, min_bytes)
                } else {
                    policy.find_merges(&descs, &excluded)
                };
                for m in merges {
                    if m.segments.len() < 2
                        && !m
                            .segments
                            .iter()
                            .any(|id| descs.iter().any(|d| d.id == *id && d.deleted() > 0))
                    {
                        continue;
                    }
                    if m.segments.iter().any(|id| excluded.contains(id)) {
                        continue; // a policy bug; never merge a segment twice
                    }
                    for id in &m.segments {
                        ms.merging.insert(*id);
                        excluded.insert(*id);
                    }
                    let debt = t
                        .debt
                        .fetch_add(m.total_bytes, Ordering::AcqRel)
                        .saturating_add(m.total_bytes);
                    t.peak_debt.fetch_max(debt, Ordering::AcqRel);
                    tasks.push(self.merge_task(&m));
                }
            }
            drop(ms);
            drop(st);
            t.set_backlog(|b| {
                b.segment_count = count;
                b.segment_budget = budget;
            });
            tasks
        };
        t.refresh_debt();
        if tasks.is_empty() {
            return 0;
        }
        let mut n = 0;
        let mut refused = Vec::new();
        let mut dropped = Vec::new();
        for task in tasks {
            match self.inner.scheduler.submit(self.inner.handle, task) {
                Ok(_) => n += 1,
                Err(SubmitError {
                    error: MergeError::QueueFull { .. },
                    task,
                }) => refused.push(task),
                Err(SubmitError { error, task }) => {
                    if !t.closed.load(Ordering::Acquire) {
                        t.state.lock().last_error = Some(format!("merge not submitted: {error}"));
                    }
                    dropped.push(task);
                }
            }
        }
        if !refused.is_empty() {
            n += refused.len();
            let mut ms = t.state.lock();
            if ms.closed || ms.forcing {
                dropped.append(&mut refused);
            } else {
                // Keep the oldest first.
                refused.append(&mut ms.refused);
                ms.refused = refused;
            }
        }
        // Dropping a task releases its segments and debt (outside any lock).
        drop(dropped);
        n
    }

    /// The task of one automatic merge.
    fn merge_task(&self, m: &OneMerge) -> MergeTask {
        let guard = InFlight {
            tracker: self.inner.merges.clone(),
            ids: m.segments.clone(),
            bytes: m.total_bytes,
        };
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let ids = m.segments.clone();
        MergeTask::new(m.total_bytes, move |ctx| {
            let _guard = guard;
            let inner = weak
                .upgrade()
                .ok_or_else(|| "the writer was closed".to_string())?;
            let w = IndexWriter::internal(inner);
            w.run_automatic_merge(&ids, ctx).map_err(|e| e.to_string())
        })
    }

    /// Body of an automatic merge, on a scheduler thread.
    fn run_automatic_merge(&self, ids: &[u64], ctx: &MergeContext) -> Result<()> {
        self.check_open()?;
        let _span = self.inner.span.enter();
        let t = &self.inner.merges;
        let started = Instant::now();
        let plan = {
            let mut st = self.inner.state.lock();
            self.resolve_deletes(&mut st)?;
            let mut sources = Vec::with_capacity(ids.len());
            for id in ids {
                let Some(s) = st
                    .segments
                    .iter()
                    .find(|s| segment_number(&s.meta.name) == Some(*id))
                else {
                    return Ok(()); // gone (rolled back): nothing to merge
                };
                sources.push(Source {
                    reader: s.reader.clone(),
                    live: s.live.clone(),
                });
            }
            let name = format!("seg_{}", st.next_segment);
            st.next_segment += 1;
            let id = random_id(&mut st.ids);
            Plan { name, id, sources }
        };
        let segments: Vec<String> = ids.iter().map(|n| format!("seg_{n}")).collect();
        let limit_mib_per_s = ctx.rate_limiter().mib_per_s();
        tracing::debug!(
            target: "lucerna::merge",
            segments = ?segments,
            into = %plan.name,
            bytes = ctx.bytes(),
            throttled = ctx.is_throttled(),
            throttle_mib_per_s = limit_mib_per_s,
            "merge started"
        );
        let into = plan.name.clone();
        let dir = ThrottledDirectory {
            inner: self.inner.dir.clone(),
            ctx: ctx.clone(),
            tracker: t.clone(),
            paused: Arc::new(AtomicU64::new(0)),
        };
        let paused = dir.paused.clone();
        match self.execute_merges(vec![plan], &dir) {
            Ok(written) => {
                let took = started.elapsed();
                if let Some(bytes) = written {
                    t.record_merge(bytes, took);
                    t.bp.record_merge(bytes, took);
                }
                let bytes = written.unwrap_or(0);
                let secs = took.as_secs_f64();
                tracing::debug!(
                    target: "lucerna::merge",
                    segments = ?segments,
                    into = %into,
                    installed = written.is_some(),
                    bytes,
                    duration_ms = secs * 1e3,
                    mib_per_s = if secs > 0.0 { bytes as f64 / (1u64 << 20) as f64 / secs } else { 0.0 },
                    throttle_mib_per_s = limit_mib_per_s,
                    throttled_ms = paused.load(Ordering::Relaxed) as f64 / 1e6,
                    "merge finished"
                );
            }
            Err(e) if ctx.is_aborted() || t.closed.load(Ordering::Acquire) => {
                tracing::debug!(target: "lucerna::merge", segments = ?segments, "merge aborted");
                return Err(e);
            }
            Err(e) => {
                tracing::warn!(
                    target: "lucerna::merge",
                    segments = ?segments,
                    into = %into,
                    error = %e,
                    "merge failed: nothing installed"
                );
                self.merge_failed(ids, &e, true);
                return Err(e);
            }
        }
        // Merging may have made room for (or call for) more merges.
        self.maybe_merge();
        Ok(())
    }

    /// Stops automatic merging while a forced merge runs: drops merges the
    /// scheduler refused and waits for the running and queued ones.
    pub(super) fn begin_forcing(&self) -> Result<Forcing<'_>> {
        let t = &self.inner.merges;
        let refused = {
            let mut ms = t.state.lock();
            if ms.closed {
                return Err(Error::Closed("the writer was closed".into()));
            }
            ms.forcing = true;
            std::mem::take(&mut ms.refused)
        };
        let forcing = Forcing(t);
        drop(refused);
        Ok(forcing)
    }

    /// Blocks until no automatic merge of this index is queued or running
    /// (a forced merge holds new ones back meanwhile).
    pub(super) fn wait_idle(&self) -> Result<()> {
        match self.inner.scheduler.wait_until_idle(self.inner.handle) {
            Ok(_) => Ok(()),
            Err(_) => Err(Error::Closed("the writer was closed".into())),
        }
    }

    /// Whether automatic merges hold segments (queued, refused or running).
    pub(super) fn automatic_merges_in_flight(&self) -> bool {
        !self.inner.merges.state.lock().merging.is_empty()
    }

    /// Counts a failed merge of segments `ids` (their numbers) in
    /// [`WriterMetrics`] with its error. A corrupt file names its segment:
    /// that segment is left out of automatic merges; for other errors all
    /// the inputs are when `exclude_all` (automatic merges; a forced merge
    /// failing on an IO error leaves automatic merging alone).
    pub(super) fn merge_failed(&self, ids: &[u64], e: &Error, exclude_all: bool) {
        let t = &self.inner.merges;
        t.failed.fetch_add(1, Ordering::Relaxed);
        let culprit = match e {
            Error::Store(StoreError::Corrupt { file, .. }) => {
                segment_number(file).filter(|n| ids.contains(n))
            }
            _ => None,
        };
        {
            let mut ms = t.state.lock();
            ms.last_error = Some(e.to_string());
            match culprit {
                Some(n) => {
                    ms.failed.insert(n);
                }
                None if exclude_all => ms.failed.extend(ids.iter().copied()),
                None => {}
            }
        }
        // A damaged input its replicas hold intact is healed, and merged
        // again by a later merge.
        if let Some(n) = culprit {
            if self.heal_merge_input(n) {
                t.state.lock().failed.remove(&n);
            }
        }
    }

    /// Counts a merge installed by [`force_merge`](Self::force_merge).
    pub(super) fn record_forced_merge(&self, bytes: u64, took: Duration) {
        self.inner.merges.record_merge(bytes, took);
        let secs = took.as_secs_f64();
        let _span = self.inner.span.enter();
        tracing::debug!(
            target: "lucerna::merge",
            forced = true,
            bytes,
            duration_ms = secs * 1e3,
            mib_per_s = if secs > 0.0 { bytes as f64 / (1u64 << 20) as f64 / secs } else { 0.0 },
            "merge finished"
        );
    }

    /// Blocks until this index has no merge queued, waiting for room in the
    /// scheduler's queue, or running, including the merges those merges
    /// call for: afterwards the merge policy has nothing more to do (unless
    /// documents keep arriving from other threads). While a caller waits,
    /// this index's merges are not throttled.
    ///
    /// A [`commit`](Self::commit) does not wait for merges; call this first
    /// to commit a merged index. Merges that fail do not make this fail:
    /// see [`metrics`](Self::metrics). Must not be called from a merge
    /// policy or from inside a merge.
    ///
    /// ```
    /// use lucerna::{Index, Document, WriterConfig, schema::Schema, store::RamDirectory};
    /// # fn main() -> lucerna::Result<()> {
    /// let index = Index::create(RamDirectory::new(), Schema::logs())?;
    /// let (id, body) = (index.schema().field("id").unwrap(), index.schema().field("body").unwrap());
    /// let writer = index.writer(WriterConfig::default().max_buffered_docs(1))?;
    /// for i in 0..40u64 {
    ///     let mut d = Document::new();
    ///     d.add_u64(id, i).add_text(body, format!("line {i}"));
    ///     writer.add_document(d)?;
    /// }
    /// writer.wait_for_merges()?;
    /// writer.commit()?;
    /// assert!(writer.num_segments() < 40);
    /// assert_eq!(index.reader()?.searcher().num_docs(), 40);
    /// # Ok(()) }
    /// ```
    pub fn wait_for_merges(&self) -> Result<()> {
        self.check_open()?;
        let t = &self.inner.merges;
        t.waiters.fetch_add(1, Ordering::AcqRel);
        let _waiting = Waiting(t);
        loop {
            let submitted = self.maybe_merge();
            if self.wait_idle().is_err() {
                return self.check_open();
            }
            let refused = !t.state.lock().refused.is_empty();
            if submitted == 0 && !refused {
                return Ok(());
            }
        }
    }

    /// Stops this writer's merging: no more merges are submitted, queued
    /// merges of this index are dropped and running ones aborted (their
    /// partial files deleted), and the writer's own scheduler, if it has
    /// one, is shut down and its threads joined. A shared scheduler keeps
    /// running for its other indexes. Uncommitted changes are not
    /// committed (call [`commit`](Self::commit) first, after
    /// [`wait_for_merges`](Self::wait_for_merges) for a merged index).
    ///
    /// Afterwards adds, deletes, commits and merges fail with
    /// [`Error::Closed`], on every clone of the writer; writers stalled by
    /// backpressure are released with that error. Idempotent; dropping the
    /// last clone of a writer does the same. The index lock is released
    /// when the last clone is dropped.
    pub fn close(&self) -> Result<()> {
        self.shutdown_merges();
        Ok(())
    }

    pub(super) fn shutdown_merges(&self) {
        let t = &self.inner.merges;
        let refused = {
            let mut ms = t.state.lock();
            ms.closed = true;
            t.closed.store(true, Ordering::Release);
            std::mem::take(&mut ms.refused)
        };
        drop(refused);
        let scheduler = &self.inner.scheduler;
        // Drops queued merges and raises the abort flag of running ones.
        let _ = scheduler.unregister_index(self.inner.handle);
        // Returns once the aborted merges are done (the index is forgotten).
        let _ = scheduler.wait_until_idle(self.inner.handle);
        if self.inner.owns_scheduler {
            scheduler.shutdown(ShutdownMode::Abort);
        }
        // Wake stalled writers: they see the writer closed.
        t.set_backlog(|b| *b = Backlog::default());
    }

    /// This writer's segment, merge, flush and backpressure counters.
    pub fn metrics(&self) -> WriterMetrics {
        let t = &self.inner.merges;
        let segments = self.inner.state.lock().segments.len();
        let (refused, last_error) = {
            let ms = t.state.lock();
            (ms.refused.len(), ms.last_error.clone())
        };
        let sched = self
            .inner
            .scheduler
            .metrics(self.inner.handle)
            .unwrap_or_default();
        let bp = t.bp.stats();
        let bytes_flushed = t.bytes_flushed.load(Ordering::Relaxed);
        let bytes_merged = t.bytes_merged.load(Ordering::Relaxed);
        let nanos = t.merge_nanos.load(Ordering::Relaxed);
        let merge_mib_per_s = if nanos == 0 {
            0.0
        } else {
            bytes_merged as f64 / (1u64 << 20) as f64 / (nanos as f64 / 1e9)
        };
        let write_amplification = if bytes_flushed == 0 {
            0.0
        } else {
            (bytes_flushed as f64 + bytes_merged as f64) / bytes_flushed as f64
        };
        WriterMetrics {
            segments,
            pending_merges: sched.pending_merges + refused,
            pending_merge_bytes: t.debt.load(Ordering::Relaxed),
            peak_pending_merge_bytes: t.peak_debt.load(Ordering::Relaxed),
            running_merges: sched.running_merges,
            merges_completed: t.completed.load(Ordering::Relaxed),
            merges_failed: t.failed.load(Ordering::Relaxed),
            last_merge_error: last_error,
            bytes_flushed,
            bytes_merged,
            merge_mib_per_s,
            throttle_mib_per_s: self.inner.scheduler.rate_limiter().mib_per_s(),
            admitted_bytes_per_s: bp.rate_bytes_per_s,
            admitted_bytes: bp.admitted_bytes,
            backlog_pressure: bp.pressure,
            backlog_trend_per_s: bp.trend_per_s,
            rate_limited_episodes: bp.episodes,
            delays: bp.delays,
            delayed_time: bp.delayed_time,
            stalls: bp.stalls,
            stalled_time: bp.stalled_time,
            rejections: bp.rejections,
            write_amplification,
            merge_reserved_bytes: self.inner.merge_memory.reserved(),
        }
    }
}

impl MergeTracker {
    fn record_merge(&self, bytes: u64, took: Duration) {
        self.completed.fetch_add(1, Ordering::Relaxed);
        self.bytes_merged.fetch_add(bytes, Ordering::Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.merge_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}
