//! A merge scheduler shared by many indexes (tenants).
//!
//! # Design
//!
//! * A fixed pool of `threads` worker threads (default `max(1, min(4,
//!   cores / 2))`, leaving cores for indexing and searching) runs merges, so
//!   never more than `threads` merges run at once, whatever the number of
//!   indexes.
//! * Each registered index has a bounded queue of pending merges (default
//!   capacity [`DEFAULT_MAX_PENDING_PER_INDEX`]). A submission to a full
//!   queue is refused with [`MergeError::QueueFull`] and the task is handed
//!   back ([`SubmitError`]): the caller applies
//!   [backpressure](crate::Backpressure) to its writers instead of piling up
//!   merges.
//! * Within an index, the smallest pending merge runs first (ties: oldest
//!   first): small merges finish fast and reduce the segment count the most
//!   per byte written, as Lucene's `ConcurrentMergeScheduler` favours them.
//! * Across indexes, the next merge is chosen by **deficit round robin**
//!   over the indexes that have pending merges, visiting them in turn and
//!   starting at most one merge per visit. Each visit adds `quantum_bytes`
//!   of credit to the index; its smallest merge starts if its size is at
//!   most the credit (which is then debited, and capped at one quantum);
//!   otherwise the index keeps its credit and the next index is visited. An
//!   index that becomes active joins at the end of the round. Hence an index
//!   flooding the scheduler with merges gets at most one merge started per
//!   round, and another index's merge of at most `quantum_bytes` starts
//!   after at most one merge of each other active index; merges larger than
//!   the quantum wait a number of rounds proportional to their size, so
//!   bytes, not just merge counts, are shared fairly.
//! * Worker threads block on a crossbeam channel carrying one token per
//!   submitted merge, and waiters block on a condition variable: nothing
//!   polls.
//! * Merges write through one shared [`RateLimiter`] (by default automatic:
//!   each submission tells it whether merges are backing up). Merges smaller
//!   than `min_throttled_merge_bytes` are not throttled (Lucene's rule: small
//!   merges are cheap and keep the segment count down).
//! * [`MergeScheduler::shutdown`] with [`ShutdownMode::Finish`] runs every
//!   queued merge, [`ShutdownMode::Abort`] drops queued merges and raises the
//!   abort flag of running ones ([`MergeContext::is_aborted`]); both join
//!   every thread.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Condvar, Mutex};

use crate::error::MergeError;
use crate::rate_limiter::{AutoThrottle, RateLimiter};
use crate::tiered::MIB;

/// Default capacity of an index's queue of pending merges.
pub const DEFAULT_MAX_PENDING_PER_INDEX: usize = 32;
/// Default deficit-round-robin quantum: 64 MiB.
pub const DEFAULT_QUANTUM_BYTES: u64 = 64 * MIB;
/// Default size under which merges are not throttled: 50 MiB (Lucene's
/// `MIN_BIG_MERGE_MB`).
pub const DEFAULT_MIN_THROTTLED_MERGE_BYTES: u64 = 50 * MIB;
/// Most worker threads a scheduler accepts.
pub const MAX_THREADS: usize = 256;

/// The default number of merge threads: `max(1, min(4, cores / 2))`.
pub fn default_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / 2).clamp(1, 4)
}

/// Configuration of a [`MergeScheduler`].
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Merge threads, 1..=[`MAX_THREADS`] (default [`default_threads`]).
    pub threads: usize,
    /// Capacity of each index's queue of pending merges, >= 1 (default
    /// [`DEFAULT_MAX_PENDING_PER_INDEX`]); see also
    /// [`MergeScheduler::register_index_with_capacity`].
    pub max_pending_per_index: usize,
    /// Deficit-round-robin quantum in bytes, >= 1 (default
    /// [`DEFAULT_QUANTUM_BYTES`]).
    pub quantum_bytes: u64,
    /// Merges smaller than this are not throttled (default
    /// [`DEFAULT_MIN_THROTTLED_MERGE_BYTES`]).
    pub min_throttled_merge_bytes: u64,
    /// The limiter shared by every merge (default: automatic, see
    /// [`AutoThrottle`]).
    pub rate_limiter: Arc<RateLimiter>,
    /// Prefix of the worker threads' names.
    pub thread_name: String,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        let limiter =
            RateLimiter::auto(AutoThrottle::default()).unwrap_or_else(|_| RateLimiter::unlimited());
        SchedulerConfig {
            threads: default_threads(),
            max_pending_per_index: DEFAULT_MAX_PENDING_PER_INDEX,
            quantum_bytes: DEFAULT_QUANTUM_BYTES,
            min_throttled_merge_bytes: DEFAULT_MIN_THROTTLED_MERGE_BYTES,
            rate_limiter: Arc::new(limiter),
            thread_name: "lucerna-merge".to_string(),
        }
    }
}

impl SchedulerConfig {
    /// Checks the ranges documented on each field.
    pub fn validate(&self) -> Result<(), MergeError> {
        if self.threads == 0 || self.threads > MAX_THREADS {
            return Err(MergeError::invalid(
                "threads",
                format!("must be in 1..={MAX_THREADS} (got {})", self.threads),
            ));
        }
        if self.max_pending_per_index == 0 {
            return Err(MergeError::invalid(
                "max_pending_per_index",
                "must be >= 1 (got 0)",
            ));
        }
        if self.quantum_bytes == 0 {
            return Err(MergeError::invalid("quantum_bytes", "must be >= 1 (got 0)"));
        }
        Ok(())
    }
}

/// By-value setters, one per field and named as it, so that a scheduler is
/// configured the way `BackpressureConfig` and lucerna's `WriterConfig`
/// are:
///
/// ```
/// use lucerna_merge::{SchedulerConfig, MIB};
/// let c = SchedulerConfig::default().threads(2).quantum_bytes(32 * MIB);
/// assert!(c.validate().is_ok());
/// assert_eq!(c.threads, 2);
/// ```
impl SchedulerConfig {
    /// Sets [`threads`](Self::threads).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }
    /// Sets [`max_pending_per_index`](Self::max_pending_per_index).
    pub fn max_pending_per_index(mut self, max_pending_per_index: usize) -> Self {
        self.max_pending_per_index = max_pending_per_index;
        self
    }
    /// Sets [`quantum_bytes`](Self::quantum_bytes).
    pub fn quantum_bytes(mut self, quantum_bytes: u64) -> Self {
        self.quantum_bytes = quantum_bytes;
        self
    }
    /// Sets [`min_throttled_merge_bytes`](Self::min_throttled_merge_bytes).
    pub fn min_throttled_merge_bytes(mut self, min_throttled_merge_bytes: u64) -> Self {
        self.min_throttled_merge_bytes = min_throttled_merge_bytes;
        self
    }
    /// Sets [`rate_limiter`](Self::rate_limiter).
    pub fn rate_limiter(mut self, rate_limiter: Arc<RateLimiter>) -> Self {
        self.rate_limiter = rate_limiter;
        self
    }
    /// Sets [`thread_name`](Self::thread_name).
    pub fn thread_name(mut self, thread_name: impl Into<String>) -> Self {
        self.thread_name = thread_name.into();
        self
    }
}

/// Identifies an index (tenant) registered with a scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IndexHandle(u64);

impl IndexHandle {
    /// The numeric id.
    pub fn id(&self) -> u64 {
        self.0
    }
}

/// Identifies one submitted merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MergeId(pub u64);

/// The body of a merge: runs on a merge thread; returns an error message on
/// failure.
pub type MergeFn = Box<dyn FnOnce(&MergeContext) -> Result<(), String> + Send + 'static>;

/// A merge to run.
pub struct MergeTask {
    /// Estimated bytes the merge writes (used for ordering, fairness and
    /// metrics), e.g. [`OneMerge::total_bytes`](crate::OneMerge::total_bytes).
    pub bytes: u64,
    /// The merge itself.
    pub run: MergeFn,
}

impl MergeTask {
    /// A task of `bytes` running `run`.
    pub fn new(
        bytes: u64,
        run: impl FnOnce(&MergeContext) -> Result<(), String> + Send + 'static,
    ) -> Self {
        MergeTask {
            bytes,
            run: Box::new(run),
        }
    }
}

impl std::fmt::Debug for MergeTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MergeTask")
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

/// A refused submission: the error and the task, handed back.
#[derive(Debug)]
pub struct SubmitError {
    /// Why the task was refused.
    pub error: MergeError,
    /// The task, not run.
    pub task: MergeTask,
}

impl std::fmt::Display for SubmitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "merge not submitted: {}", self.error)
    }
}

impl std::error::Error for SubmitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// How [`MergeScheduler::shutdown`] treats pending and running merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownMode {
    /// Run every queued merge, then stop.
    Finish,
    /// Drop queued merges, ask running ones to abort, then stop.
    Abort,
}

/// Per-index counters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IndexMergeMetrics {
    /// Merges waiting in the queue.
    pub pending_merges: usize,
    /// Bytes of the merges waiting in the queue.
    pub pending_bytes: u64,
    /// Merges running now.
    pub running_merges: usize,
    /// Bytes of the merges running now.
    pub running_bytes: u64,
    /// Merges that returned `Ok`.
    pub completed_merges: u64,
    /// Bytes of the completed merges.
    pub bytes_merged: u64,
    /// Merges that returned an error or panicked (not aborted).
    pub failed_merges: u64,
    /// Merges dropped from the queue or that ended with an error after
    /// being aborted.
    pub aborted_merges: u64,
    /// Submissions refused because the queue was full.
    pub rejected_submissions: u64,
    /// The last failure's message.
    pub last_error: Option<String>,
}

impl IndexMergeMetrics {
    /// Merge debt: pending plus running bytes (the input of
    /// [`Backpressure`](crate::Backpressure)).
    pub fn backlog_bytes(&self) -> u64 {
        self.pending_bytes.saturating_add(self.running_bytes)
    }
}

/// Scheduler-wide counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SchedulerStats {
    /// Worker threads.
    pub threads: usize,
    /// Merges running now.
    pub running: usize,
    /// Most merges ever running at once.
    pub peak_running: usize,
    /// Merges queued now, all indexes.
    pub pending: usize,
    /// Registered indexes.
    pub indexes: usize,
    /// Whether shutdown was requested.
    pub shut_down: bool,
}

/// What a running merge can see: its identity, the rate limiter and the
/// abort flag. Check [`is_aborted`](Self::is_aborted) (or call
/// [`throttle`](Self::throttle)) between chunks of work.
///
/// Cloning is cheap (two `Arc`s) and gives a handle with the same identity
/// and abort flag, e.g. for a file writer that throttles its own writes.
#[derive(Clone)]
pub struct MergeContext {
    index: IndexHandle,
    merge_id: MergeId,
    bytes: u64,
    abort: Arc<AtomicBool>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for MergeContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MergeContext")
            .field("index", &self.index)
            .field("merge_id", &self.merge_id)
            .field("bytes", &self.bytes)
            .field("aborted", &self.is_aborted())
            .finish()
    }
}

impl MergeContext {
    /// The index the merge belongs to.
    pub fn index(&self) -> IndexHandle {
        self.index
    }
    /// The merge's id.
    pub fn merge_id(&self) -> MergeId {
        self.merge_id
    }
    /// The merge's declared size.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
    /// Whether the merge should stop as soon as possible (scheduler abort
    /// or index unregistered). A merge that stops returns an `Err`.
    pub fn is_aborted(&self) -> bool {
        self.abort.load(AtomicOrdering::Acquire)
            || self.shared.abort_all.load(AtomicOrdering::Acquire)
    }
    /// `Err(MergeError::Aborted)` if the merge was aborted.
    pub fn check_abort(&self) -> Result<(), MergeError> {
        if self.is_aborted() {
            Err(MergeError::Aborted)
        } else {
            Ok(())
        }
    }
    /// The scheduler's shared rate limiter.
    pub fn rate_limiter(&self) -> &RateLimiter {
        &self.shared.config.rate_limiter
    }
    /// Whether this merge is throttled (its size is at least the
    /// scheduler's `min_throttled_merge_bytes`).
    pub fn is_throttled(&self) -> bool {
        self.bytes >= self.shared.config.min_throttled_merge_bytes
    }
    /// Call after writing `bytes`: pauses as the rate limiter requires (if
    /// the merge is throttled), waking early and returning
    /// [`MergeError::Aborted`] if the merge is aborted. Returns the pause.
    pub fn throttle(&self, bytes: u64) -> Result<Duration, MergeError> {
        self.check_abort()?;
        if !self.is_throttled() {
            return Ok(Duration::ZERO);
        }
        self.rate_limiter()
            .acquire_unless(bytes, &|| self.is_aborted())
    }
}

struct Queued {
    bytes: u64,
    seq: u64,
    id: MergeId,
    task: MergeTask,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.bytes, self.seq).cmp(&(other.bytes, other.seq))
    }
}

struct IndexState {
    /// Min-heap by (bytes, seq).
    queue: BinaryHeap<Reverse<Queued>>,
    deficit: u64,
    capacity: usize,
    metrics: IndexMergeMetrics,
    running: HashMap<MergeId, Arc<AtomicBool>>,
    closed: bool,
}

struct State {
    indexes: HashMap<u64, IndexState>,
    /// Indexes with a non-empty queue, in visiting order.
    ring: Vec<u64>,
    cursor: usize,
    next_index: u64,
    next_merge: u64,
    queued: usize,
    running: usize,
    peak_running: usize,
    shut_down: bool,
    tokens: Option<Sender<()>>,
}

struct Shared {
    config: SchedulerConfig,
    state: Mutex<State>,
    /// Notified whenever a merge ends or queued merges are dropped.
    idle: Condvar,
    abort_all: AtomicBool,
}

impl State {
    /// Makes `id` active: it joins the end of the current round.
    fn activate(&mut self, id: u64) {
        if self.ring.is_empty() {
            self.ring.push(id);
            self.cursor = 0;
        } else {
            let at = self.cursor.min(self.ring.len());
            self.ring.insert(at, id);
            self.cursor = at + 1;
        }
    }

    fn deactivate(&mut self, id: u64) {
        if let Some(pos) = self.ring.iter().position(|&x| x == id) {
            self.ring.remove(pos);
            if pos < self.cursor {
                self.cursor -= 1;
            }
        }
    }

    /// Deficit round robin, one merge per visit (see the module docs).
    fn pick(&mut self, quantum: u64) -> Option<(u64, Queued)> {
        let quantum = quantum.max(1);
        let mut visits_without_service = 0usize;
        loop {
            if self.ring.is_empty() {
                return None;
            }
            if self.cursor >= self.ring.len() {
                self.cursor = 0;
            }
            let id = self.ring[self.cursor];
            let head = self
                .indexes
                .get(&id)
                .and_then(|ix| ix.queue.peek().map(|q| q.0.bytes));
            let Some(head) = head else {
                // Not active any more (defensive; the ring holds only
                // indexes with pending merges).
                self.ring.remove(self.cursor);
                continue;
            };
            let ix = self.indexes.get_mut(&id)?;
            ix.deficit = ix.deficit.saturating_add(quantum);
            if head <= ix.deficit {
                let Reverse(q) = ix.queue.pop()?;
                ix.deficit = (ix.deficit - head).min(quantum);
                if ix.queue.is_empty() {
                    ix.deficit = 0;
                    self.ring.remove(self.cursor);
                } else {
                    self.cursor += 1;
                }
                return Some((id, q));
            }
            self.cursor += 1;
            visits_without_service += 1;
            if visits_without_service >= self.ring.len() {
                // A whole round and nothing fit: skip the rounds in which
                // nothing would fit either.
                let rounds = self
                    .ring
                    .iter()
                    .filter_map(|id| {
                        let ix = self.indexes.get(id)?;
                        let head = ix.queue.peek()?.0.bytes;
                        Some(head.saturating_sub(ix.deficit).div_ceil(quantum))
                    })
                    .min()
                    .unwrap_or(1)
                    .max(1);
                let extra = (rounds - 1).saturating_mul(quantum);
                for id in &self.ring {
                    if let Some(ix) = self.indexes.get_mut(id) {
                        ix.deficit = ix.deficit.saturating_add(extra);
                    }
                }
                visits_without_service = 0;
            }
        }
    }

    fn drop_queue(&mut self, id: u64) {
        if let Some(ix) = self.indexes.get_mut(&id) {
            let n = ix.queue.len();
            ix.queue.clear();
            ix.deficit = 0;
            ix.metrics.aborted_merges += n as u64;
            ix.metrics.pending_merges = 0;
            ix.metrics.pending_bytes = 0;
            self.queued -= n.min(self.queued);
        }
        self.deactivate(id);
    }
}

/// Runs merges of many indexes on a bounded pool of threads, fairly. See
/// the [module documentation](self).
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use lucerna_merge::{MergeScheduler, MergeTask, RateLimiter, SchedulerConfig, ShutdownMode};
///
/// let config = SchedulerConfig {
///     threads: 2,
///     rate_limiter: Arc::new(RateLimiter::unlimited()),
///     ..SchedulerConfig::default()
/// };
/// let scheduler = MergeScheduler::new(config)?;
/// let index = scheduler.register_index()?;
/// let merged = Arc::new(AtomicU64::new(0));
/// for _ in 0..3 {
///     let merged = merged.clone();
///     scheduler
///         .submit(index, MergeTask::new(1000, move |ctx| {
///             // ... merge segments, chunk by chunk:
///             ctx.throttle(1000).map_err(|e| e.to_string())?;
///             merged.fetch_add(1000, Ordering::Relaxed);
///             Ok(())
///         }))
///         .map_err(|e| e.error)?;
/// }
/// let metrics = scheduler.wait_until_idle(index)?;
/// assert_eq!(metrics.completed_merges, 3);
/// assert_eq!(merged.load(Ordering::Relaxed), 3000);
/// scheduler.shutdown(ShutdownMode::Finish);
/// # Ok::<(), lucerna_merge::MergeError>(())
/// ```
pub struct MergeScheduler {
    shared: Arc<Shared>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for MergeScheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MergeScheduler")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl MergeScheduler {
    /// Validates `config` and starts the worker threads.
    pub fn new(config: SchedulerConfig) -> Result<Self, MergeError> {
        config.validate()?;
        let (tx, rx) = crossbeam_channel::unbounded::<()>();
        let threads = config.threads;
        let name = config.thread_name.clone();
        let shared = Arc::new(Shared {
            config,
            state: Mutex::new(State {
                indexes: HashMap::new(),
                ring: Vec::new(),
                cursor: 0,
                next_index: 1,
                next_merge: 1,
                queued: 0,
                running: 0,
                peak_running: 0,
                shut_down: false,
                tokens: Some(tx),
            }),
            idle: Condvar::new(),
            abort_all: AtomicBool::new(false),
        });
        let scheduler = MergeScheduler {
            shared: shared.clone(),
            workers: Mutex::new(Vec::with_capacity(threads)),
        };
        for i in 0..threads {
            let shared = shared.clone();
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || worker(shared, rx));
            match spawned {
                Ok(h) => scheduler.workers.lock().push(h),
                Err(e) => {
                    scheduler.shutdown(ShutdownMode::Abort);
                    return Err(MergeError::ThreadSpawn(e.to_string()));
                }
            }
        }
        Ok(scheduler)
    }

    /// The configuration.
    pub fn config(&self) -> &SchedulerConfig {
        &self.shared.config
    }

    /// The shared rate limiter.
    pub fn rate_limiter(&self) -> &Arc<RateLimiter> {
        &self.shared.config.rate_limiter
    }

    /// Registers an index with the default queue capacity.
    pub fn register_index(&self) -> Result<IndexHandle, MergeError> {
        self.register_index_with_capacity(self.shared.config.max_pending_per_index)
    }

    /// Registers an index whose queue holds at most `capacity` (>= 1)
    /// pending merges.
    pub fn register_index_with_capacity(&self, capacity: usize) -> Result<IndexHandle, MergeError> {
        if capacity == 0 {
            return Err(MergeError::invalid("capacity", "must be >= 1 (got 0)"));
        }
        let mut st = self.shared.state.lock();
        if st.shut_down {
            return Err(MergeError::ShutDown);
        }
        let id = st.next_index;
        st.next_index += 1;
        st.indexes.insert(
            id,
            IndexState {
                queue: BinaryHeap::new(),
                deficit: 0,
                capacity,
                metrics: IndexMergeMetrics::default(),
                running: HashMap::new(),
                closed: false,
            },
        );
        Ok(IndexHandle(id))
    }

    /// Unregisters an index: drops its queued merges, asks its running
    /// merges to abort, and refuses further submissions. Returns its last
    /// metrics. The running merges still finish on their threads.
    pub fn unregister_index(&self, index: IndexHandle) -> Result<IndexMergeMetrics, MergeError> {
        let mut st = self.shared.state.lock();
        match st.indexes.get(&index.0) {
            Some(ix) if !ix.closed => {}
            _ => return Err(MergeError::UnknownIndex(index.0)),
        }
        st.drop_queue(index.0);
        let ix = st
            .indexes
            .get_mut(&index.0)
            .ok_or(MergeError::UnknownIndex(index.0))?;
        ix.closed = true;
        for flag in ix.running.values() {
            flag.store(true, AtomicOrdering::Release);
        }
        let metrics = ix.metrics.clone();
        if ix.running.is_empty() {
            st.indexes.remove(&index.0);
        }
        drop(st);
        self.shared.idle.notify_all();
        Ok(metrics)
    }

    /// Queues a merge for `index`. Fails (handing the task back) if the
    /// index's queue is full, the index is unknown or the scheduler is shut
    /// down.
    pub fn submit(&self, index: IndexHandle, task: MergeTask) -> Result<MergeId, SubmitError> {
        let threads = self.shared.config.threads;
        let mut st = self.shared.state.lock();
        if st.shut_down {
            return Err(SubmitError {
                error: MergeError::ShutDown,
                task,
            });
        }
        let must_wait = st.running + st.queued >= threads;
        let backlog = st.queued > 0;
        let merge_id = MergeId(st.next_merge);
        let seq = st.next_merge;
        let was_empty = {
            let Some(ix) = st.indexes.get_mut(&index.0).filter(|ix| !ix.closed) else {
                return Err(SubmitError {
                    error: MergeError::UnknownIndex(index.0),
                    task,
                });
            };
            if ix.queue.len() >= ix.capacity {
                ix.metrics.rejected_submissions += 1;
                return Err(SubmitError {
                    error: MergeError::QueueFull {
                        index: index.0,
                        pending: ix.queue.len(),
                        pending_bytes: ix.metrics.pending_bytes,
                        capacity: ix.capacity,
                    },
                    task,
                });
            }
            let was_empty = ix.queue.is_empty();
            ix.metrics.pending_merges += 1;
            ix.metrics.pending_bytes = ix.metrics.pending_bytes.saturating_add(task.bytes);
            ix.queue.push(Reverse(Queued {
                bytes: task.bytes,
                seq,
                id: merge_id,
                task,
            }));
            was_empty
        };
        st.next_merge += 1;
        st.queued += 1;
        if was_empty {
            st.activate(index.0);
        }
        if let Some(tx) = &st.tokens {
            // The receivers live as long as the workers; a send can only
            // fail after shutdown, which was checked above.
            let _ = tx.send(());
        }
        drop(st);
        self.shared
            .config
            .rate_limiter
            .on_merge_scheduled(must_wait, backlog);
        Ok(merge_id)
    }

    /// The metrics of `index` (`None` if unknown).
    pub fn metrics(&self, index: IndexHandle) -> Option<IndexMergeMetrics> {
        self.shared
            .state
            .lock()
            .indexes
            .get(&index.0)
            .map(|ix| ix.metrics.clone())
    }

    /// Scheduler-wide counters.
    pub fn stats(&self) -> SchedulerStats {
        let st = self.shared.state.lock();
        SchedulerStats {
            threads: self.shared.config.threads,
            running: st.running,
            peak_running: st.peak_running,
            pending: st.queued,
            indexes: st.indexes.values().filter(|ix| !ix.closed).count(),
            shut_down: st.shut_down,
        }
    }

    /// Blocks until `index` has no pending or running merge and returns its
    /// metrics. Must not be called from one of the index's own merges.
    pub fn wait_until_idle(&self, index: IndexHandle) -> Result<IndexMergeMetrics, MergeError> {
        let mut st = self.shared.state.lock();
        loop {
            let Some(ix) = st.indexes.get(&index.0) else {
                return Err(MergeError::UnknownIndex(index.0));
            };
            if ix.queue.is_empty() && ix.running.is_empty() {
                return Ok(ix.metrics.clone());
            }
            self.shared.idle.wait(&mut st);
        }
    }

    /// Stops the scheduler and joins every worker thread (except the
    /// calling thread, if it is one). With [`ShutdownMode::Finish`] queued
    /// merges run first; with [`ShutdownMode::Abort`] they are dropped and
    /// running merges see [`MergeContext::is_aborted`]. Idempotent; an
    /// `Abort` after a `Finish` escalates.
    pub fn shutdown(&self, mode: ShutdownMode) {
        {
            let mut st = self.shared.state.lock();
            if mode == ShutdownMode::Abort {
                self.shared.abort_all.store(true, AtomicOrdering::Release);
                let ids: Vec<u64> = st.indexes.keys().copied().collect();
                for id in ids {
                    st.drop_queue(id);
                }
            }
            st.shut_down = true;
            // Dropping the sender lets workers exit once the tokens of the
            // remaining queued merges are consumed.
            st.tokens = None;
        }
        self.shared.idle.notify_all();
        let handles: Vec<JoinHandle<()>> = std::mem::take(&mut *self.workers.lock());
        let me = std::thread::current().id();
        for h in handles {
            if h.thread().id() == me {
                continue;
            }
            // A worker never panics (merge panics are caught), so join only
            // fails if the thread was killed; nothing to do then.
            let _ = h.join();
        }
    }
}

impl Drop for MergeScheduler {
    /// Shuts down with [`ShutdownMode::Abort`] if not done yet.
    fn drop(&mut self) {
        self.shutdown(ShutdownMode::Abort);
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}

fn worker(shared: Arc<Shared>, tokens: Receiver<()>) {
    while tokens.recv().is_ok() {
        let job = {
            let mut st = shared.state.lock();
            match st.pick(shared.config.quantum_bytes) {
                None => None,
                Some((index, q)) => {
                    st.queued -= 1.min(st.queued);
                    st.running += 1;
                    st.peak_running = st.peak_running.max(st.running);
                    let abort = Arc::new(AtomicBool::new(false));
                    if let Some(ix) = st.indexes.get_mut(&index) {
                        ix.metrics.pending_merges -= 1.min(ix.metrics.pending_merges);
                        ix.metrics.pending_bytes -= q.bytes.min(ix.metrics.pending_bytes);
                        ix.metrics.running_merges += 1;
                        ix.metrics.running_bytes = ix.metrics.running_bytes.saturating_add(q.bytes);
                        ix.running.insert(q.id, abort.clone());
                    }
                    Some((index, q, abort))
                }
            }
        };
        let Some((index, q, abort)) = job else {
            continue; // the merge this token announced was dropped
        };
        let ctx = MergeContext {
            index: IndexHandle(index),
            merge_id: q.id,
            bytes: q.bytes,
            abort,
            shared: shared.clone(),
        };
        let run = q.task.run;
        let result = match catch_unwind(AssertUnwindSafe(|| run(&ctx))) {
            Ok(r) => r,
            Err(p) => Err(format!("merge panicked: {}", panic_message(p.as_ref()))),
        };
        let aborted = ctx.is_aborted();
        let mut st = shared.state.lock();
        st.running -= 1.min(st.running);
        let mut remove = false;
        if let Some(ix) = st.indexes.get_mut(&index) {
            ix.running.remove(&q.id);
            ix.metrics.running_merges -= 1.min(ix.metrics.running_merges);
            ix.metrics.running_bytes -= q.bytes.min(ix.metrics.running_bytes);
            match result {
                Ok(()) => {
                    ix.metrics.completed_merges += 1;
                    ix.metrics.bytes_merged = ix.metrics.bytes_merged.saturating_add(q.bytes);
                }
                Err(_) if aborted => ix.metrics.aborted_merges += 1,
                Err(e) => {
                    ix.metrics.failed_merges += 1;
                    ix.metrics.last_error = Some(e);
                }
            }
            remove = ix.closed && ix.running.is_empty();
        }
        if remove {
            st.indexes.remove(&index);
        }
        drop(st);
        shared.idle.notify_all();
    }
}
