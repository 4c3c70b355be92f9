//! [`IndexWriter`]: adds, deletes and updates documents; flushes segments;
//! commits atomically; rolls back; opens near-real-time searchers.
//!
//! # Concurrency
//!
//! `IndexWriter` is `Send + Sync`; call it from as many threads as you like.
//! Each concurrent caller indexes into its own in-memory buffer (taken from
//! a pool), so indexing scales with threads; a buffer over its share of the
//! memory budget is flushed by the thread that filled it.
//!
//! # Deletes
//!
//! Every operation takes a sequence number. A delete applies to every
//! document added before it (smaller sequence number), wherever that
//! document is: in a buffer (applied when it flushes) or in a flushed
//! segment (applied at the next commit or near-real-time reopen).
//! [`IndexWriter::update_document`] is a delete followed by an add, atomic
//! with respect to commits.
//!
//! # Merging and backpressure
//!
//! After every flush and commit the writer asks its
//! [merge policy](WriterConfig::merge_policy) for merges and runs them in the
//! background on a [`MergeScheduler`], throttled by the scheduler's rate
//! limiter; writers that outrun merging are admitted at the rate merges
//! absorb, then stalled
//! ([`WriterConfig::backpressure`]). See [`IndexWriter::wait_for_merges`],
//! [`IndexWriter::metrics`] and [`IndexWriter::close`].

use crate::analysis::Analyzer;
use crate::document::Document;
use crate::error::{Error, Result};
use crate::index::integrity::commit::{next_segment_number, segment_number, Commit, SegmentMeta};
use crate::index::integrity::evidence::Evidence;
use crate::index::integrity::file_refs::FileRefs;
use crate::index::integrity::heal_hook::{HealHook, HealPolicy, HealStats};
use crate::index::integrity::identity::IndexId;
use crate::index::integrity::verify::{verify_held_where, Verify};
use crate::index::read::page_budget::PageBudget;
use crate::index::read::refresh::{RefreshingReader, ReloadPolicy, ViewSource};
use crate::index::read::segment_reader::SegmentReader;
use crate::index::write::buffer::{SegmentBuffer, FLUSH_FIXED_BYTES};
use crate::index::write::delete_key::{self, DeleteKey, NumericDeletes};
use crate::index::write::flush::{write_live_docs, write_segment};
use crate::index::write::replace::replacement_base;
use crate::schema::{Field, Schema};
use crate::search::scorer::TERMINATED;
use crate::search::searcher::Searcher;
use crate::search::weight::term_key;
use crate::wal::{self, Durability, Record, RecordRef, ReplayMode, ReplayReport, WalWriter};
use lucerna_codec::livedocs::LiveDocs;
use lucerna_merge::{
    BackpressureConfig, IndexHandle, MergePolicy, MergeScheduler, SchedulerConfig,
    TieredMergePolicy,
};
use lucerna_store::rng::SplitMix64;
use lucerna_store::{Directory, LockGuard};
use parking_lot::{Mutex, RwLock};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

mod automerge;
mod force_merge;
mod merge_path;

pub use automerge::WriterMetrics;
use automerge::{document_bytes, Closer, MergeTracker};
use merge_path::MergeMemory;

/// A failed flush: the buffer (handed back so no document is lost) and
/// the error. Boxed: the buffer is large.
type FlushFailure = Box<(SegmentBuffer, Error)>;
/// Name of the writer lock file.
pub const WRITE_LOCK: &str = "write.lock";

/// Takes the writer lock of `dir`. `check` holds it for an instant to
/// learn whether a writer is alive (see
/// [`LogCheck::unattended`](crate::index::check::LogCheck::unattended)),
/// so a lock found held is tried again a few times, 5 ms apart (at most
/// 50 ms), before the [`Locked`](lucerna_store::StoreError::Locked) error
/// says another writer has the index open.
pub(crate) fn acquire_write_lock(dir: &dyn Directory) -> Result<Box<dyn LockGuard>> {
    const TRIES: u32 = 10;
    let mut tries = 0;
    loop {
        match dir.try_lock(WRITE_LOCK) {
            Err(lucerna_store::StoreError::Locked { .. }) if tries + 1 < TRIES => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            r => return r.map_err(Error::from),
        }
    }
}

/// Settings of an [`IndexWriter`].
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Memory for in-memory buffers and merges, shared by all indexing
    /// threads (default 64 MiB). Running merges reserve their working
    /// memory from it; a thread's buffer is flushed to a segment when it
    /// exceeds what is left (at least an eighth of the budget) divided by
    /// `indexing_threads`.
    pub mem_budget_bytes: usize,
    /// Number of concurrent indexing threads the budget is divided among
    /// (default: available parallelism).
    pub indexing_threads: usize,
    /// Number of newest commits whose files are kept (default 2, at least 1):
    /// the older ones are the stale copies recovery can fall back to.
    pub keep_commits: usize,
    /// Flush a buffer after this many documents regardless of memory
    /// (default: no limit). Useful to control segment sizes in tests.
    pub max_buffered_docs: Option<usize>,
    /// Chooses the segments to merge after each flush and commit (default
    /// [`TieredMergePolicy::default()`], Lucene's tiered policy).
    /// [`NoMergePolicy`](lucerna_merge::NoMergePolicy) turns automatic
    /// merging off ([`IndexWriter::force_merge`] still works).
    pub merge_policy: Arc<dyn MergePolicy>,
    /// Runs the merges. `None` (default): the writer starts its own
    /// scheduler with [`SchedulerConfig::default()`] (merge threads
    /// `max(1, min(4, cores / 2))`, automatic IO throttle) and shuts it down
    /// on [`close`](IndexWriter::close) or drop. A shared scheduler can
    /// serve many indexes: each writer registers its own index with it,
    /// merges are scheduled fairly across indexes, and closing one writer
    /// leaves the scheduler running for the others.
    pub merge_scheduler: Option<Arc<MergeScheduler>>,
    /// When writers are rate limited and stalled: soft and hard limits on
    /// this index's merge debt (bytes of merges queued or running), its
    /// segments over the policy's budget, and its unflushed bytes, and how
    /// the admitted rate between them is controlled (default
    /// [`BackpressureConfig::default()`]: 16/64 GiB, 20/40 segments,
    /// 256 MiB/1 GiB). Backpressure is per index.
    /// The unflushed-bytes limits are raised to at least 1.25× and 2.5× the
    /// RAM budget: buffers below the budget are simply filling (the writer
    /// flushes them itself), only RAM beyond it means flushes are behind.
    pub backpressure: BackpressureConfig,
    /// When an acknowledged operation is durable (default
    /// [`Durability::Sync`]: logged and fsync'd before the call returns,
    /// fsyncs shared by concurrent callers). [`Durability::None`] turns the
    /// write-ahead log off: only commits are durable.
    pub durability: Durability,
    /// How damage in the middle of the write-ahead log is handled when the
    /// writer opens and replays it (default [`ReplayMode::Strict`]: an
    /// error; `Lenient` skips it and reports it in
    /// [`IndexWriter::replay_report`]). A torn tail is always dropped.
    pub replay_mode: ReplayMode,
    /// What the writer does by itself about a damaged file it meets in a
    /// merge (default [`HealPolicy::FromReplicas`]: restore it from the
    /// first of [`replicas`](Self::replicas) holding an intact copy, then
    /// merge it again). See [`heal`](crate::index::heal).
    pub heal: HealPolicy,
    /// Replica directories (default none). After each commit the writer
    /// copies the commit's new files to every replica, verifies each
    /// against the manifest and then switches the replica's manifest
    /// atomically ([`replicate_with`](crate::index::replica::replicate_with));
    /// a replica opens read-only with [`Index::open`](crate::Index::open)
    /// and serves searches, and `lucerna repair --replica` restores damaged
    /// files from it. A failed copy leaves the replica at its previous
    /// commit and does not fail the commit: see
    /// [`IndexWriter::replication`] for the lag and the last error.
    pub replicas: Vec<Arc<dyn Directory>>,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            mem_budget_bytes: 64 << 20,
            indexing_threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            keep_commits: 2,
            max_buffered_docs: None,
            merge_policy: Arc::new(TieredMergePolicy::default()),
            merge_scheduler: None,
            backpressure: BackpressureConfig::default(),
            durability: Durability::default(),
            replay_mode: ReplayMode::default(),
            heal: HealPolicy::default(),
            replicas: Vec::new(),
        }
    }
}

impl WriterConfig {
    /// Sets the memory budget in bytes: the older name of
    /// [`mem_budget_bytes`](Self::mem_budget_bytes) (setters are named as
    /// their fields).
    #[deprecated(since = "0.1.0", note = "use `mem_budget_bytes`, named as its field")]
    pub fn mem_budget(self, bytes: usize) -> Self {
        self.mem_budget_bytes(bytes)
    }
    /// Sets [`mem_budget_bytes`](Self::mem_budget_bytes).
    pub fn mem_budget_bytes(mut self, bytes: usize) -> Self {
        self.mem_budget_bytes = bytes;
        self
    }
    /// Sets [`indexing_threads`](Self::indexing_threads): how many
    /// concurrent indexing threads share the memory budget (at least 1).
    /// Starts no thread: the writer indexes on its callers' threads.
    pub fn indexing_threads(mut self, n: usize) -> Self {
        self.indexing_threads = n.max(1);
        self
    }
    /// Sets [`replicas`](Self::replicas), replacing any set before.
    pub fn replicas(mut self, dirs: Vec<Arc<dyn Directory>>) -> Self {
        self.replicas = dirs;
        self
    }
    /// Flushes every `n` documents per buffer.
    pub fn max_buffered_docs(mut self, n: usize) -> Self {
        self.max_buffered_docs = Some(n.max(1));
        self
    }
    /// The older name of [`indexing_threads`](Self::indexing_threads)
    /// (which says better that no thread is started, and is the field's
    /// name).
    #[deprecated(since = "0.1.0", note = "use `indexing_threads`, named as its field")]
    pub fn threads(self, n: usize) -> Self {
        self.indexing_threads(n)
    }
    /// Sets the merge policy.
    pub fn merge_policy(mut self, policy: Arc<dyn MergePolicy>) -> Self {
        self.merge_policy = policy;
        self
    }
    /// Turns automatic merging off
    /// ([`NoMergePolicy`](lucerna_merge::NoMergePolicy)).
    pub fn no_merges(self) -> Self {
        self.merge_policy(Arc::new(lucerna_merge::NoMergePolicy))
    }
    /// Runs merges on `scheduler` (shared with other indexes) instead of a
    /// scheduler of the writer's own.
    pub fn merge_scheduler(mut self, scheduler: Arc<MergeScheduler>) -> Self {
        self.merge_scheduler = Some(scheduler);
        self
    }
    /// Sets the backpressure limits.
    pub fn backpressure(mut self, config: BackpressureConfig) -> Self {
        self.backpressure = config;
        self
    }
    /// Sets when acknowledged operations are durable.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }
    /// Adds a replica directory (see [`WriterConfig::replicas`]).
    pub fn replica(mut self, dir: Arc<dyn Directory>) -> Self {
        self.replicas.push(dir);
        self
    }
    /// Sets how many of the newest commits keep their files (see
    /// [`WriterConfig::keep_commits`]; 0 is refused when the writer opens).
    pub fn keep_commits(mut self, n: usize) -> Self {
        self.keep_commits = n;
        self
    }
    /// Sets [`heal`](Self::heal).
    pub fn heal(mut self, policy: HealPolicy) -> Self {
        self.heal = policy;
        self
    }
    /// Sets how the write-ahead log's damage is handled on replay.
    pub fn replay_mode(mut self, mode: ReplayMode) -> Self {
        self.replay_mode = mode;
        self
    }
}

struct WSeg {
    meta: SegmentMeta,
    reader: SegmentReader,
    live: Option<LiveDocs>,
    dirty: bool,
    applied: u64,
    /// Written by a flush of this writer and not merged since: what merges
    /// under backpressure take first (see `automerge`).
    fresh: bool,
}

impl WSeg {
    /// A segment of a commit, as `reader` opened it: its deletes as on
    /// disk, nothing pending, not fresh.
    fn committed(meta: &SegmentMeta, reader: SegmentReader) -> WSeg {
        WSeg {
            meta: meta.clone(),
            live: reader.live_docs().map(|l| (**l).clone()),
            reader,
            dirty: false,
            applied: 0,
            fresh: false,
        }
    }
}

struct State {
    segments: Vec<WSeg>,
    deletes: Vec<(Vec<u8>, u64)>,
    last_delete: u64,
    next_segment: u64,
    last_commit: Commit,
    /// The next commit's generation is above this one too: the newest
    /// generation any file of the index names (a missing commit's number
    /// is never reused).
    generation_floor: u64,
    ids: SplitMix64,
    /// For a writer replacing an index (see [`crate::index::replace`]):
    /// the replaced index's newest generation. Its commits and logs go
    /// after this writer's first commit.
    replaced: Option<u64>,
}

/// Where a writer starts.
pub(crate) enum Start {
    /// The newest commit, replaying the log after it.
    Latest,
    /// An empty index replacing the one in the directory at the first
    /// commit (see [`crate::index::replace`]).
    Replace,
    /// A given commit, for repair (see [`StartAt`]).
    At(StartAt),
}

/// What a writer needs from its [`Index`](crate::Index) (or from
/// `repair`, which opens one too) besides its configuration.
pub(crate) struct WriterContext {
    pub dir: Arc<dyn Directory>,
    pub schema: Arc<Schema>,
    pub analyzer: Arc<dyn Analyzer>,
    pub refs: FileRefs,
    /// How committed segments are checked when the writer opens them.
    pub verify: Verify,
    /// Heals a damaged merge input: the recover layer's healer of
    /// [`WriterConfig::replicas`] with [`WriterConfig::heal`], known here
    /// only by its hook (the writer is below the recover layer).
    pub healer: Arc<dyn HealHook>,
    /// Copies each commit to [`WriterConfig::replicas`]: the recover
    /// layer's replication, known here only by this layer's trait.
    pub replicator: Arc<dyn Replicator>,
}

/// Copies a commit to a replica. The writer calls it after each commit,
/// on the committing thread and outside the writer's locks; the recover
/// layer (`replica`) implements it and `Index` hands it in, so the writer
/// does not depend on the layer above it.
pub(crate) trait Replicator: Send + Sync {
    /// Brings `replica` to `commit` of the index in `src`, keeping the
    /// replica's newest `keep_commits` commits. A failure leaves the
    /// replica at its previous commit.
    fn replicate(
        &self,
        src: &dyn Directory,
        replica: &dyn Directory,
        commit: &Commit,
        keep_commits: usize,
    ) -> Result<Replicated>;

    /// How many generations `replica` is behind commit `generation`.
    fn lag(&self, generation: u64, replica: &dyn Directory) -> Result<u64>;
}

/// What one [`Replicator::replicate`] call copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Replicated {
    /// The generation the replica is now at.
    pub generation: u64,
    /// Files copied.
    pub files_copied: usize,
    /// Bytes copied.
    pub bytes_copied: u64,
}

struct Inner {
    /// The `tracing` span current when the writer opened: its events (merge
    /// threads' too) belong to it, so an application can label them (a
    /// tenant, an index name).
    span: tracing::Span,
    /// Enforced by the near-real-time searchers (see [`PageBudget`]).
    page_budget: parking_lot::RwLock<Option<Arc<PageBudget>>>,
    /// The index's identity, recorded in every commit and log file.
    index_id: IndexId,
    /// Restores a damaged merge input from the writer's replicas, and
    /// counts heals (the recover layer's healer, handed in).
    healer: Arc<dyn HealHook>,
    /// Copies commits to the replicas (the recover layer's, handed in).
    replicator: Arc<dyn Replicator>,
    dir: Arc<dyn Directory>,
    schema: Arc<Schema>,
    analyzer: Arc<dyn Analyzer>,
    refs: FileRefs,
    config: WriterConfig,
    /// How committed segments are checked when the writer opens them.
    verify: Verify,
    ops: RwLock<()>,
    seqno: AtomicU64,
    pool: Mutex<Vec<SegmentBuffer>>,
    docs_buffered: AtomicUsize,
    state: Mutex<State>,
    /// Held for the whole of a forced merge: one at a time.
    merge_lock: Mutex<()>,
    /// Runs this index's merges.
    scheduler: Arc<MergeScheduler>,
    /// Whether `scheduler` is the writer's own (shut down on close).
    owns_scheduler: bool,
    /// This index's registration with `scheduler`.
    handle: IndexHandle,
    /// Merges in flight, backpressure and counters.
    merges: Arc<MergeTracker>,
    /// Memory reserved by running merges, out of the writer's budget.
    merge_memory: MergeMemory,
    /// The write-ahead log (`None` with [`Durability::None`]).
    wal: Option<WalWriter>,
    /// What the replay at open found.
    replay: Mutex<ReplayReport>,
    /// One entry per replica; the lock also serializes replication.
    replication: Mutex<Vec<ReplicaStatus>>,
    /// The smallest log position a replica that is not forgotten covers
    /// (0 when one is unknown; `None` without replicas): the log is kept
    /// from there on.
    replica_floor: Mutex<Option<u64>>,
    _lock: Box<dyn LockGuard>,
}

/// Adds, deletes and updates documents of an index and commits them.
///
/// ```
/// use lucerna::{Index, Document, Query, WriterConfig, schema::Schema, store::RamDirectory};
/// # fn main() -> lucerna::Result<()> {
/// let index = Index::create(RamDirectory::new(), Schema::logs())?;
/// let (id, body) = (index.schema().field("id").unwrap(), index.schema().field("body").unwrap());
/// let writer = index.writer(WriterConfig::default())?;
/// for (i, text) in ["connection refused", "connection reset", "disk full"].iter().enumerate() {
///     let mut d = Document::new();
///     d.add_u64(id, i as u64).add_text(body, *text);
///     writer.add_document(d)?;
/// }
/// writer.delete_term(body, "reset")?;
/// writer.commit()?;
/// let searcher = index.reader()?.searcher();
/// assert_eq!(searcher.count(&Query::term(body, "connection"))?, 1);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct IndexWriter {
    inner: Arc<Inner>,
    /// Closes the writer's merging when the last user handle goes. `None`
    /// in the handles merge tasks use internally (they must not keep the
    /// writer open).
    _closer: Option<Arc<Closer>>,
}

impl std::fmt::Debug for IndexWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexWriter").finish_non_exhaustive()
    }
}

/// The replication state of one replica (see [`IndexWriter::replication`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplicaStatus {
    /// The newest commit generation the replica holds.
    pub generation: Option<u64>,
    /// Replication lag: commits the replica is behind the writer's newest.
    pub lag: u64,
    /// Bytes copied to it by this writer.
    pub bytes_copied: u64,
    /// Files copied to it by this writer.
    pub files_copied: u64,
    /// The last replication error (cleared by the next success).
    pub last_error: Option<String>,
    /// The write-ahead-log position the replica's newest commit covers
    /// (`None` while unknown: the replica is unreachable, holds no commit
    /// of this index, or was never written). The log is kept from the
    /// smallest position of every replica on, so a stale replica plus the
    /// log still rebuilds every acknowledged operation; an unknown
    /// position keeps the whole log until the replica catches up or is
    /// [forgotten](IndexWriter::forget_replica).
    pub covered_position: Option<u64>,
    /// Set by [`IndexWriter::forget_replica`]: no longer written, and no
    /// longer holds the log back.
    pub forgotten: bool,
}

/// The replicas' statuses when a writer opens: the generation and log
/// position of each one's newest commit of this index.
fn replica_statuses(replicas: &[Arc<dyn Directory>], index_id: IndexId) -> Vec<ReplicaStatus> {
    replicas
        .iter()
        .map(|r| {
            let newest = Commit::list_generations(r.as_ref())
                .ok()
                .and_then(|g| g.last().copied())
                .and_then(|g| Commit::read(r.as_ref(), g).ok())
                .filter(|c| index_id.accepts(c.index_id));
            ReplicaStatus {
                generation: newest.as_ref().map(|c| c.generation),
                covered_position: newest.map(|c| c.wal_position),
                ..ReplicaStatus::default()
            }
        })
        .collect()
}

/// The smallest log position the replicas that are not forgotten cover
/// (an unknown one counts as 0).
fn replica_floor(statuses: &[ReplicaStatus]) -> Option<u64> {
    statuses
        .iter()
        .filter(|s| !s.forgotten)
        .map(|s| s.covered_position.unwrap_or(0))
        .min()
}

/// The writer's entry for committed segment `meta`, with no pending work.
/// A segment the writer already `held` (same name and id) keeps its decoded
/// parts and only reloads its committed deletes; any other is opened and
/// checked as `verify` says.
fn committed_segment(
    dir: &dyn Directory,
    meta: &SegmentMeta,
    schema: &Arc<Schema>,
    refs: &FileRefs,
    verify: Verify,
    held: Option<&SegmentReader>,
) -> Result<WSeg> {
    let reader = match held {
        Some(r) => r.with_deletes(dir, meta, refs, verify)?,
        None => SegmentReader::open(dir, meta, schema.clone(), refs, verify)?,
    };
    Ok(WSeg::committed(meta, reader))
}

/// The backpressure limits in force for `config`: unflushed bytes count as
/// a backlog only beyond the RAM budget the writer flushes at, so the soft
/// limit is at least 1.25× the budget and the hard one at least 2.5× (and
/// never below the soft one). The configuration as given is validated
/// first, so an inconsistent one is still an error.
fn effective_backpressure(config: &WriterConfig) -> Result<BackpressureConfig> {
    let mut bp = config.backpressure;
    bp.validate()
        .map_err(|e| Error::InvalidArgument(e.to_string()))?;
    let budget = config.mem_budget_bytes as u64;
    bp.soft_unflushed_bytes = bp
        .soft_unflushed_bytes
        .max(budget.saturating_add(budget / 4));
    bp.hard_unflushed_bytes = bp
        .hard_unflushed_bytes
        .max(budget.saturating_mul(5) / 2)
        .max(bp.soft_unflushed_bytes);
    Ok(bp)
}

/// The event of a writer's log replay: `info` when it replayed
/// something, `warn` when it dropped a torn tail or skipped damage (a
/// torn tail was never acknowledged; skipped damage may have been).
fn log_replay_event(span: &tracing::Span, r: &ReplayReport) {
    let torn_bytes: u64 = r.torn.iter().map(|t| t.len).sum();
    let skipped_bytes: u64 = r.skipped.iter().map(|t| t.len).sum();
    macro_rules! replay_event {
        ($level:ident, $msg:literal) => {
            tracing::$level!(
                target: "lucerna::wal",
                files = r.files,
                replayed = r.replayed,
                rolled_back = r.rolled_back,
                rejected = r.rejected,
                torn = r.torn.len(),
                torn_bytes,
                skipped = r.skipped.len(),
                skipped_bytes,
                max_lsn = r.max_lsn,
                $msg
            )
        };
    }
    let _span = span.enter();
    if !r.torn.is_empty() || !r.skipped.is_empty() {
        replay_event!(warn, "log replayed: damaged records dropped");
    } else if r.replayed > 0 {
        replay_event!(info, "log replayed");
    } else {
        replay_event!(debug, "log replayed: nothing after the commit");
    }
}

fn random_id(rng: &mut SplitMix64) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
    id[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
    id
}

fn time_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    t ^ (std::process::id() as u64).rotate_left(32)
}

/// Maps a scheduler or configuration error of `lucerna-merge`.
fn merge_error(e: lucerna_merge::MergeError) -> Error {
    match e {
        lucerna_merge::MergeError::ShutDown => {
            Error::Closed("the merge scheduler is shut down".into())
        }
        e => Error::Merge(e),
    }
}

/// True for names the engine owns (and may delete when unreferenced).
fn is_index_file(name: &str) -> bool {
    name.starts_with("seg_") || name.starts_with("commit-")
}

/// The commit a writer opens at, and how (the first phase of
/// [`IndexWriter::open`]).
struct Opening {
    commit: Commit,
    /// Refuse segments with a corruption marker (not for repair, whose
    /// caller verified them).
    check_markers: bool,
    /// See [`State::generation_floor`].
    generation_floor: u64,
    /// See [`State::replaced`].
    replaced: Option<u64>,
}

impl Opening {
    /// The newest commit of this index (never one of another index), the
    /// one repair asked for (`at`: it and the newest generation), or an
    /// empty replacement. If a newer one is missing, the log replays what
    /// it held (the log is kept from the oldest kept commit on);
    /// generations continue above every one known, so a missing
    /// generation is never reused under another content.
    fn find(
        dir: &dyn Directory,
        schema: &Schema,
        at: Option<(Commit, u64)>,
        replacing: bool,
    ) -> Result<Opening> {
        let evidence = Evidence::gather(dir)?;
        let known = evidence.newest_known().unwrap_or(0);
        let (commit, check_markers, generation_floor, replaced) = match (at, replacing) {
            (Some((commit, newest)), _) => (commit, false, newest.max(known), None),
            (None, true) => {
                let r = replacement_base(dir, schema, evidence.index_id)?;
                (r.base, true, known, Some(r.replaced_generation))
            }
            (None, false) => (evidence.newest_commit(dir, true)?.0, true, known, None),
        };
        Ok(Opening {
            commit,
            check_markers,
            generation_floor,
            replaced,
        })
    }
}

/// Refuses a configuration a writer cannot open with, and builds the
/// merge tracker of its backpressure settings.
fn check_config(config: &WriterConfig, replacing: bool) -> Result<Arc<MergeTracker>> {
    if config.keep_commits == 0 {
        return Err(Error::InvalidArgument("keep_commits must be ≥ 1".into()));
    }
    let tracker = Arc::new(MergeTracker::new(&effective_backpressure(config)?)?);
    if replacing && config.durability != Durability::None {
        // Its log records would follow the old index's and be replayed
        // into it after a crash before the replacement's first commit.
        return Err(Error::InvalidArgument(
            "a writer replacing an index takes Durability::None: nothing is durable before its first commit, which publishes the new index".into(),
        ));
    }
    Ok(tracker)
}

/// Reads the log records after `commit`'s position (none for a
/// replacement: its position covers every record) and starts the
/// writer's log: sequence numbers continue after the highest one logged
/// (`base`, also returned).
fn open_log(
    dir: &Arc<dyn Directory>,
    config: &WriterConfig,
    index_id: IndexId,
    commit: &Commit,
    replacing: bool,
) -> Result<(Vec<wal::Record>, ReplayReport, u64, Option<WalWriter>)> {
    let (replay, replay_report) = if replacing {
        Default::default()
    } else {
        wal::read_logs(
            dir.as_ref(),
            index_id,
            commit.wal_position,
            config.replay_mode,
        )?
    };
    let base = commit.wal_position.max(replay_report.max_lsn);
    let wal = match config.durability {
        Durability::None => None,
        d => Some(WalWriter::create(
            dir.clone(),
            base + 1,
            d,
            index_id,
            commit.generation,
        )?),
    };
    Ok((replay, replay_report, base, wal))
}

/// Opens the segments of the commit a writer starts at; without
/// `check_markers` (repair), whatever corruption markers say.
fn open_segments(
    dir: &dyn Directory,
    commit: &Commit,
    schema: &Arc<Schema>,
    refs: &FileRefs,
    verify: Verify,
    check_markers: bool,
) -> Result<Vec<WSeg>> {
    let mut segments = Vec::with_capacity(commit.segments.len());
    for meta in &commit.segments {
        let wseg = if check_markers {
            committed_segment(dir, meta, schema, refs, verify, None)?
        } else {
            let reader = SegmentReader::open_unmarked(dir, meta, schema.clone(), refs, verify)?;
            WSeg::committed(meta, reader)
        };
        segments.push(wseg);
    }
    Ok(segments)
}

/// The writer's merge scheduler (the shared one of the configuration, or
/// a new one it owns), whether it owns it, and its registration.
fn writer_scheduler(config: &WriterConfig) -> Result<(Arc<MergeScheduler>, bool, IndexHandle)> {
    let (scheduler, owns_scheduler) = match &config.merge_scheduler {
        Some(s) => (s.clone(), false),
        None => (
            Arc::new(MergeScheduler::new(SchedulerConfig::default()).map_err(merge_error)?),
            true,
        ),
    };
    match scheduler.register_index() {
        Ok(handle) => Ok((scheduler, owns_scheduler, handle)),
        Err(e) => {
            if owns_scheduler {
                scheduler.shutdown(lucerna_merge::ShutdownMode::Abort);
            }
            Err(merge_error(e))
        }
    }
}

/// Where a writer opened with [`Start::At`] starts (repair): a given
/// commit instead of the newest one.
pub(crate) struct StartAt {
    /// The commit whose segments the writer starts from; the write-ahead
    /// log is replayed after its position.
    pub commit: Commit,
    /// The newest generation in the directory: the writer's first commit
    /// gets the generation after it (or after `commit`'s, if newer).
    pub newest_generation: u64,
    /// The index's writer lock, already held by the caller.
    pub lock: Box<dyn LockGuard>,
}

impl IndexWriter {
    /// Opens a writer at `start`. With [`Start::At`], for repair: it
    /// replays every logged operation after that commit's position, as any
    /// writer does after the newest one's, and its first commit gets
    /// generation `newest_generation + 1`. Nothing is written until that
    /// commit, which is then the only new one: a crash before it leaves the
    /// directory's commits as they were. The segments of that commit are
    /// opened without looking at corruption markers (the caller verified
    /// them whole; `verify` verifies them again as they are read) and no
    /// commit is deleted while it is open when `config.keep_commits` is
    /// `usize::MAX`.
    pub(crate) fn open(
        cx: WriterContext,
        config: WriterConfig,
        start: Start,
    ) -> Result<IndexWriter> {
        let WriterContext {
            dir,
            schema,
            analyzer,
            refs,
            verify,
            healer,
            replicator,
        } = cx;
        let replacing = matches!(start, Start::Replace);
        let tracker = check_config(&config, replacing)?;
        let (lock, at) = match start {
            Start::At(s) => (s.lock, Some((s.commit, s.newest_generation))),
            Start::Latest | Start::Replace => (acquire_write_lock(dir.as_ref())?, None),
        };
        let Opening {
            commit,
            check_markers,
            generation_floor,
            replaced,
        } = Opening::find(dir.as_ref(), &schema, at, replacing)?;
        // An index written before identities existed gets one now; its
        // next commit records it.
        let index_id = if commit.index_id.is_known() {
            commit.index_id
        } else {
            IndexId::fresh()
        };
        if commit.schema != *schema {
            return Err(Error::Schema(
                "index schema differs from the writer's".into(),
            ));
        }
        let statuses = replica_statuses(&config.replicas, index_id);
        let segments = open_segments(dir.as_ref(), &commit, &schema, &refs, verify, check_markers)?;
        // Segment names left by an earlier writer's uncommitted flushes may
        // still be on disk: never reuse one.
        let next_segment = next_segment_number(dir.as_ref(), commit.next_segment)?;
        let (replay, replay_report, base, wal) =
            open_log(&dir, &config, index_id, &commit, replaced.is_some())?;
        let state = State {
            segments,
            deletes: Vec::new(),
            last_delete: 0,
            next_segment,
            last_commit: commit,
            generation_floor,
            ids: SplitMix64::new(time_seed()),
            replaced,
        };
        let (scheduler, owns_scheduler, handle) = writer_scheduler(&config)?;
        let inner = Arc::new(Inner {
            span: tracing::Span::current(),
            page_budget: parking_lot::RwLock::new(None),
            index_id,
            healer,
            replicator,
            dir,
            schema,
            analyzer,
            refs,
            verify,
            config,
            ops: RwLock::new(()),
            seqno: AtomicU64::new(base),
            pool: Mutex::new(Vec::new()),
            docs_buffered: AtomicUsize::new(0),
            state: Mutex::new(state),
            merge_lock: Mutex::new(()),
            scheduler,
            owns_scheduler,
            handle,
            merges: tracker,
            merge_memory: MergeMemory::default(),
            wal,
            replay: Mutex::new(ReplayReport::default()),
            replica_floor: Mutex::new(replica_floor(&statuses)),
            replication: Mutex::new(statuses),
            _lock: lock,
        });
        let w = IndexWriter {
            _closer: Some(Arc::new(Closer::new(inner.clone()))),
            inner,
        };
        w.replay(replay, replay_report, base)?;
        Ok(w)
    }

    /// The last phase of [`open`](Self::open): deletes a crashed writer's
    /// leftovers, applies the log records after the commit's position,
    /// reports them, and starts any merge the index is already due.
    fn replay(&self, records: Vec<wal::Record>, mut report: ReplayReport, base: u64) -> Result<()> {
        // Leftovers of a crashed writer (uncommitted segments) go now.
        {
            let st = self.inner.state.lock();
            self.delete_unused(&st)?;
        }
        for rec in records {
            if self.apply_replayed(rec)? {
                report.rejected += 1;
            }
        }
        self.inner.seqno.fetch_max(base, Ordering::SeqCst);
        log_replay_event(&self.inner.span, &report);
        *self.inner.replay.lock() = report;
        // The opened index may already be over its merge budget.
        self.maybe_merge();
        Ok(())
    }

    /// A handle for internal use (merge tasks): does not keep the writer's
    /// merging open.
    fn internal(inner: Arc<Inner>) -> IndexWriter {
        IndexWriter {
            inner,
            _closer: None,
        }
    }

    /// The schema.
    pub fn schema(&self) -> &Schema {
        &self.inner.schema
    }

    /// A thread's buffer share of the memory budget, after what running
    /// merges reserved and the flush's fixed buffers (never below an eighth
    /// of the budget, so indexing goes on while large merges run).
    fn buffer_budget(&self) -> usize {
        let c = &self.inner.config;
        let reserved = self.inner.merge_memory.reserved() as usize;
        let left = c
            .mem_budget_bytes
            .saturating_sub(reserved)
            .saturating_sub(FLUSH_FIXED_BYTES)
            .max(c.mem_budget_bytes / 8);
        (left / c.indexing_threads.max(1)).max(1)
    }

    fn take_buffer(&self) -> SegmentBuffer {
        self.inner
            .pool
            .lock()
            .pop()
            .unwrap_or_else(|| SegmentBuffer::new(self.inner.schema.clone()))
    }

    fn return_buffer(&self, buf: SegmentBuffer) {
        self.inner.pool.lock().push(buf);
    }

    /// Flushes `buf` if it is over budget, or if its term table has no
    /// room for `doc` (the flag says whether it did); on failure the buffer
    /// (and every document in it) goes back to the pool for a later retry.
    fn ensure_room(&self, buf: SegmentBuffer, doc: &Document) -> Result<(SegmentBuffer, bool)> {
        let over_docs = self
            .inner
            .config
            .max_buffered_docs
            .is_some_and(|n| buf.num_docs as usize >= n);
        // `accounted` is the buffer's `ram_bytes()` as of its last add.
        let fits = buf.accounted < self.buffer_budget() && buf.has_room_for(doc);
        if (fits && !over_docs) || buf.is_empty() {
            return Ok((buf, false));
        }
        match self.flush_buffer(buf) {
            Ok(()) => Ok((SegmentBuffer::new(self.inner.schema.clone()), true)),
            Err(failed) => {
                let (buf, e) = *failed;
                self.return_buffer(buf);
                Err(e)
            }
        }
    }

    /// Adds a document and returns its sequence number. A document that
    /// does not fit the schema is rejected with [`Error::Document`] and
    /// nothing else is affected. On any error the document was not added.
    ///
    /// When this index's merges or flushes are behind (see
    /// [`WriterConfig::backpressure`]), the call first waits for the rate
    /// the index's merges absorb (a token bucket of document bytes, one
    /// sleep per millisecond or more of refill), and past a hard limit it
    /// blocks until the backlog drains (woken by merge progress, no
    /// polling). Documents are never dropped.
    /// [`try_add_document`](Self::try_add_document) returns an error
    /// instead of waiting.
    pub fn add_document(&self, doc: Document) -> Result<u64> {
        SegmentBuffer::validate(&self.inner.schema, &doc)?;
        self.admit(Some(Duration::MAX), document_bytes(&doc))?;
        self.add_admitted(&doc)
    }

    /// Like [`add_document`](Self::add_document), but never waits: when
    /// this index is past a hard backpressure limit, or its admitted rate
    /// would make the document wait 1 ms or more, it returns
    /// [`Error::Backpressure`] and the document is not added. The error
    /// carries the backlog and
    /// [`retry_after`](lucerna_merge::BackpressureError::retry_after): when
    /// the rate would admit the next document (exact), or an estimate of
    /// when merges bring the debt under its hard limit; a service can
    /// answer HTTP 429 with that `Retry-After`.
    pub fn try_add_document(&self, doc: Document) -> Result<u64> {
        SegmentBuffer::validate(&self.inner.schema, &doc)?;
        self.admit(None, document_bytes(&doc))?;
        self.add_admitted(&doc)
    }

    /// Like [`add_document`](Self::add_document), but past a hard
    /// backpressure limit it waits at most `max_stall` for the backlog to
    /// drain, then returns [`Error::Backpressure`] (the document is not
    /// added; the error says when to retry). A wait for the admitted rate
    /// is always waited: with `Duration::ZERO`, a rate-limited writer is
    /// delayed and a stalled one refused at once, what a service answering
    /// HTTP 429 only for stalls wants. A refusal counts as a stall in
    /// [`WriterMetrics::stalls`] (of about zero duration).
    ///
    /// ```
    /// use lucerna::{Index, Document, WriterConfig, schema::Schema, store::RamDirectory};
    /// use std::time::Duration;
    /// # fn main() -> lucerna::Result<()> {
    /// let index = Index::create(RamDirectory::new(), Schema::logs())?;
    /// let id = index.schema().field("id").unwrap();
    /// let writer = index.writer(WriterConfig::default())?;
    /// let doc = Document::new().add_u64(id, 1).clone();
    /// writer.add_document_with_stall_timeout(doc, Duration::ZERO)?; // not behind: added
    /// # Ok(()) }
    /// ```
    pub fn add_document_with_stall_timeout(
        &self,
        doc: Document,
        max_stall: Duration,
    ) -> Result<u64> {
        SegmentBuffer::validate(&self.inner.schema, &doc)?;
        self.admit(Some(max_stall), document_bytes(&doc))?;
        self.add_admitted(&doc)
    }

    fn add_admitted(&self, doc: &Document) -> Result<u64> {
        self.buffer_document(doc, None, true)
    }

    /// Adds `doc` to a buffer (flushing one that is full first). With
    /// `delete` (an update), the delete of that term key goes in once the
    /// buffer has accepted the document, with the sequence number just
    /// before the document's, so a rejected document changes nothing.
    /// With `log`, the operation is written to the write-ahead log and,
    /// in [`Durability::Sync`], acknowledged only once durable.
    fn buffer_document(&self, doc: &Document, delete: Option<Vec<u8>>, log: bool) -> Result<u64> {
        let (added, flushed, ticket) = {
            let _ops = self.inner.ops.read();
            self.check_open()?;
            self.check_wal()?;
            let buf = self.take_buffer();
            let (mut buf, flushed) = self.ensure_room(buf, doc)?;
            let added = buf.add(doc, self.inner.analyzer.as_ref(), || match &delete {
                None => self.inner.seqno.fetch_add(1, Ordering::SeqCst) + 1,
                Some(key) => {
                    // Drawn and pushed under the state lock, as every delete.
                    let mut st = self.inner.state.lock();
                    let seq = self.inner.seqno.fetch_add(2, Ordering::SeqCst) + 1;
                    st.deletes.push((key.clone(), seq));
                    st.last_delete = seq;
                    seq + 1
                }
            });
            if added.is_ok() {
                self.inner.docs_buffered.fetch_add(1, Ordering::Relaxed);
            }
            let now = buf.ram_bytes();
            self.inner.merges.buffered(buf.accounted, now);
            buf.accounted = now;
            self.return_buffer(buf);
            let ticket = match (&added, &self.inner.wal) {
                (Ok(seq), Some(wal)) if log => {
                    let rec = match &delete {
                        None => RecordRef::Add { lsn: *seq, doc },
                        Some(key) => RecordRef::Update {
                            lsn: seq - 1,
                            key,
                            doc,
                        },
                    };
                    Some(wal.append(rec)?)
                }
                _ => None,
            };
            (added, flushed, ticket)
        };
        if flushed {
            self.maybe_merge();
        }
        self.acknowledge(ticket)?;
        added
    }

    /// Fails when the write-ahead log failed earlier (the writer must be
    /// reopened).
    fn check_wal(&self) -> Result<()> {
        match &self.inner.wal {
            Some(w) => w.check(),
            None => Ok(()),
        }
    }

    /// In [`Durability::Sync`], waits until the logged record with
    /// `ticket` is durable.
    fn acknowledge(&self, ticket: Option<u64>) -> Result<()> {
        match (&self.inner.wal, ticket) {
            (Some(wal), Some(t)) if wal.durability() == Durability::Sync => wal.wait_durable(t),
            _ => Ok(()),
        }
    }

    /// Applies one replayed log record with its original sequence numbers.
    /// Returns true when a replayed document was rejected.
    fn apply_replayed(&self, rec: Record) -> Result<bool> {
        self.inner
            .seqno
            .store(rec.lsn().saturating_sub(1), Ordering::SeqCst);
        let added = match rec {
            Record::Add { doc, .. } => self.buffer_document(&doc, None, false),
            Record::Update { key, doc, .. } => self.buffer_document(&doc, Some(key), false),
            Record::Delete { key, .. } => {
                let _ops = self.inner.ops.read();
                self.push_delete(key);
                return Ok(false);
            }
            Record::Rollback { .. } => return Ok(false),
        };
        match added {
            Ok(_) => Ok(false),
            Err(Error::Document(_)) => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// What replaying the write-ahead log found when this writer opened:
    /// records replayed, torn tails dropped, damage skipped.
    pub fn replay_report(&self) -> ReplayReport {
        self.inner.replay.lock().clone()
    }

    /// Counters of the write-ahead log (`None` without one).
    pub fn wal_stats(&self) -> Option<wal::WalStats> {
        self.inner.wal.as_ref().map(WalWriter::stats)
    }

    /// Makes every operation logged so far durable (one fsync, shared
    /// with concurrent callers), whatever the writer's
    /// [`Durability`]: a service whose writer logs with
    /// [`Durability::Interval`] acknowledges a whole batch at once by
    /// calling this before answering. Nothing to do without a log
    /// ([`Durability::None`]: only commits are durable).
    pub fn sync_log(&self) -> Result<()> {
        match &self.inner.wal {
            Some(wal) => wal.sync_all(),
            None => Ok(()),
        }
    }

    /// Deletes every document added before this call whose `field`
    /// contains `term` (exact term, as indexed).
    pub fn delete_term(&self, field: Field, term: &str) -> Result<u64> {
        self.check_indexed(field)?;
        self.log_delete(term_key(field, term))
    }

    /// Deletes every document added before this call whose `u64` field
    /// `field` has the value `id` (typically the schema's `id` field; all
    /// of them if the id was added more than once). Returns the delete's
    /// sequence number. Logged in the write-ahead log like
    /// [`delete_term`](Self::delete_term), and applied to the in-memory
    /// buffers, the flushed segments and segments being merged alike.
    ///
    /// Numeric fields have a column, not terms: the delete is resolved by
    /// scanning the field's column of each segment (once per flush, commit
    /// or near-real-time reopen for all the deletes pending, segments
    /// whose smallest and largest values exclude every deleted value
    /// skipped).
    ///
    /// ```
    /// use lucerna::{Index, Document, WriterConfig, schema::Schema, store::RamDirectory};
    /// # fn main() -> lucerna::Result<()> {
    /// let index = Index::create(RamDirectory::new(), Schema::logs())?;
    /// let (id, body) = (index.schema().field("id").unwrap(), index.schema().field("body").unwrap());
    /// let writer = index.writer(WriterConfig::default())?;
    /// for i in 0..3 {
    ///     writer.add_document(Document::new().add_u64(id, i).add_text(body, "x").clone())?;
    /// }
    /// writer.commit()?;
    /// writer.delete_by_id(id, 1)?;
    /// writer.commit()?;
    /// assert_eq!(index.reader()?.searcher().num_docs(), 2);
    /// // Not a u64 field: an error, nothing deleted.
    /// assert!(writer.delete_by_id(body, 0).is_err());
    /// # Ok(()) }
    /// ```
    pub fn delete_by_id(&self, field: Field, id: u64) -> Result<u64> {
        self.check_u64(field)?;
        self.log_delete(delete_key::numeric_key(field, id))
    }

    /// Atomically replaces every document whose `u64` field `field` has
    /// the value `id` with `doc` (a [`delete_by_id`](Self::delete_by_id)
    /// and an add no commit can separate; nothing is deleted if `doc` is
    /// rejected). `doc` normally carries the same id: this is an upsert.
    /// Subject to backpressure like [`add_document`](Self::add_document).
    ///
    /// ```
    /// use lucerna::{Index, Document, Query, WriterConfig, schema::Schema, store::RamDirectory};
    /// # fn main() -> lucerna::Result<()> {
    /// let index = Index::create(RamDirectory::new(), Schema::logs())?;
    /// let (id, body) = (index.schema().field("id").unwrap(), index.schema().field("body").unwrap());
    /// let writer = index.writer(WriterConfig::default())?;
    /// writer.add_document(Document::new().add_u64(id, 7).add_text(body, "old").clone())?;
    /// writer.update_by_id(id, 7, Document::new().add_u64(id, 7).add_text(body, "new").clone())?;
    /// writer.commit()?;
    /// let searcher = index.reader()?.searcher();
    /// assert_eq!(searcher.num_docs(), 1);
    /// assert_eq!(searcher.count(&Query::term(body, "new"))?, 1);
    /// # Ok(()) }
    /// ```
    pub fn update_by_id(&self, field: Field, id: u64, doc: Document) -> Result<u64> {
        self.check_u64(field)?;
        SegmentBuffer::validate(&self.inner.schema, &doc)?;
        self.admit(Some(Duration::MAX), document_bytes(&doc))?;
        self.buffer_document(&doc, Some(delete_key::numeric_key(field, id)), true)
    }

    /// Queues the delete of `key`, logs it and (in `Sync`) waits until it
    /// is durable.
    fn log_delete(&self, key: Vec<u8>) -> Result<u64> {
        let (seq, ticket) = {
            let _ops = self.inner.ops.read();
            self.check_open()?;
            self.check_wal()?;
            let seq = self.push_delete(key.clone());
            let ticket = match &self.inner.wal {
                Some(wal) => Some(wal.append(RecordRef::Delete {
                    lsn: seq,
                    key: &key,
                })?),
                None => None,
            };
            (seq, ticket)
        };
        self.acknowledge(ticket)?;
        Ok(seq)
    }

    fn push_delete(&self, key: Vec<u8>) -> u64 {
        let mut st = self.inner.state.lock();
        let seq = self.inner.seqno.fetch_add(1, Ordering::SeqCst) + 1;
        st.deletes.push((key, seq));
        st.last_delete = seq;
        seq
    }

    fn check_u64(&self, field: Field) -> Result<()> {
        match self.inner.schema.entry(field) {
            Some(e)
                if matches!(
                    e.field_type,
                    crate::schema::FieldType::Numeric {
                        kind: crate::schema::NumericKind::U64,
                        ..
                    }
                ) =>
            {
                Ok(())
            }
            Some(e) => Err(Error::InvalidArgument(format!(
                "field `{}` is not a u64 numeric field",
                e.name
            ))),
            None => Err(Error::InvalidArgument(format!("no field {}", field.0))),
        }
    }

    fn check_indexed(&self, field: Field) -> Result<()> {
        match self.inner.schema.entry(field) {
            Some(e) if e.field_type.is_indexed() => Ok(()),
            Some(e) => Err(Error::InvalidArgument(format!(
                "field `{}` is not indexed",
                e.name
            ))),
            None => Err(Error::InvalidArgument(format!("no field {}", field.0))),
        }
    }

    /// Atomically replaces every document whose `field` contains `term`
    /// with `doc` (a delete and an add no commit can separate). Subject to
    /// backpressure like [`add_document`](Self::add_document).
    pub fn update_document(&self, field: Field, term: &str, doc: Document) -> Result<u64> {
        self.check_indexed(field)?;
        SegmentBuffer::validate(&self.inner.schema, &doc)?;
        self.admit(Some(Duration::MAX), document_bytes(&doc))?;
        // The delete goes in only once the buffer has accepted the
        // document (a rejected document leaves the old ones in place).
        self.buffer_document(&doc, Some(term_key(field, term)), true)
    }

    /// Writes `buf` as a new segment. On failure returns the buffer so no
    /// document is lost.
    fn flush_buffer(&self, buf: SegmentBuffer) -> std::result::Result<(), FlushFailure> {
        let started = std::time::Instant::now();
        let _span = self.inner.span.enter();
        // Not the first: a buffer that absorbed others' is not in order.
        let min_seq = buf.seqnos.iter().copied().min().unwrap_or(0);
        let (name, id, deletes, applied) = {
            let mut st = self.inner.state.lock();
            let name = format!("seg_{}", st.next_segment);
            st.next_segment += 1;
            let id = random_id(&mut st.ids);
            let dels: Vec<(Vec<u8>, u64)> = st
                .deletes
                .iter()
                .filter(|(_, s)| *s > min_seq)
                .cloned()
                .collect();
            (name, id, dels, st.last_delete)
        };
        let mut deleted: Vec<u32> = Vec::new();
        let mut numeric = NumericDeletes::default();
        for (key, s) in &deletes {
            match delete_key::parse(key) {
                DeleteKey::Term(key) => {
                    for d in buf.docs_with_term(key) {
                        if buf.seqnos[d as usize] < *s {
                            deleted.push(d);
                        }
                    }
                }
                DeleteKey::U64 { field, value } => numeric.add(field, value, *s),
                DeleteKey::Malformed => {}
            }
        }
        numeric.buffer_docs(&buf, &mut deleted);
        deleted.sort_unstable();
        deleted.dedup();
        let dir = self.inner.dir.as_ref();
        let result = write_segment(dir, &buf, &name, id, &deleted).and_then(|meta| {
            let reader = SegmentReader::open(
                dir,
                &meta,
                self.inner.schema.clone(),
                &self.inner.refs,
                // Just written, CRCs computed while writing.
                Verify::Structure,
            )?;
            Ok((meta, reader))
        });
        match result {
            Ok((meta, reader)) => {
                let n = buf.num_docs as usize;
                let size = meta.size_bytes();
                let mut st = self.inner.state.lock();
                st.segments.push(WSeg {
                    live: reader.live_docs().map(|l| (**l).clone()),
                    meta,
                    reader,
                    dirty: false,
                    applied,
                    fresh: true,
                });
                drop(st);
                self.inner.docs_buffered.fetch_sub(n, Ordering::Relaxed);
                self.inner.merges.flushed(buf.accounted, size);
                tracing::debug!(
                    target: "lucerna::flush",
                    segment = %name,
                    docs = n,
                    bytes = size,
                    ram_bytes = buf.accounted,
                    deleted = deleted.len(),
                    duration_ms = started.elapsed().as_secs_f64() * 1e3,
                    "flushed a segment"
                );
                Ok(())
            }
            Err(e) => {
                // Best effort: remove the partial segment's files.
                if let Ok(names) = dir.list() {
                    for f in names {
                        if f.starts_with(&format!("{name}.")) || f.starts_with(&format!("{name}_"))
                        {
                            let _ = dir.delete(&f);
                        }
                    }
                }
                Err(Box::new((buf, e)))
            }
        }
    }

    /// Flushes every non-empty buffer, as one segment: the threads'
    /// buffers are appended to the largest one first, so a near-real-time
    /// refresh or a commit adds one segment however many threads index.
    /// Caller holds `ops` exclusively.
    fn flush_all(&self) -> Result<()> {
        let bufs: Vec<SegmentBuffer> = std::mem::take(&mut *self.inner.pool.lock());
        let mut full: Vec<SegmentBuffer> = Vec::with_capacity(bufs.len());
        for buf in bufs {
            if buf.is_empty() {
                // Dropped: what a rejected document grew it by goes too.
                self.inner.merges.buffered(buf.accounted, 0);
            } else {
                full.push(buf);
            }
        }
        full.sort_by_key(|b| std::cmp::Reverse(b.num_docs));
        // One segment, unless the buffers' terms overflow one table.
        let mut groups: Vec<SegmentBuffer> = Vec::with_capacity(1);
        for buf in full {
            match groups.last_mut() {
                Some(one) if one.can_absorb(&buf) => one.absorb(buf),
                _ => groups.push(buf),
            }
        }
        let mut groups = groups.into_iter();
        while let Some(mut one) = groups.next() {
            // Charge what the combined buffer holds now (the splice may
            // grow its vectors) so the flush takes back exactly that.
            let ram = one.ram_bytes();
            self.inner.merges.buffered(one.accounted, ram);
            one.accounted = ram;
            if let Err(failed) = self.flush_buffer(one) {
                let (buf, e) = *failed;
                self.return_buffer(buf);
                for rest in groups {
                    self.return_buffer(rest);
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// Applies pending deletes to flushed segments (in memory).
    fn resolve_deletes(&self, st: &mut State) -> Result<()> {
        let last = st.last_delete;
        let deletes = &st.deletes;
        for seg in st.segments.iter_mut() {
            if seg.applied >= last {
                continue;
            }
            let mut numeric = NumericDeletes::default();
            for (key, s) in deletes.iter().filter(|(_, s)| *s > seg.applied) {
                let key = match delete_key::parse(key) {
                    DeleteKey::Term(key) => key,
                    DeleteKey::U64 { field, value } => {
                        numeric.add(field, value, *s);
                        continue;
                    }
                    DeleteKey::Malformed => continue,
                };
                let Some(info) = seg.reader.term_info(key)? else {
                    continue;
                };
                let mut p = seg.reader.postings(&info)?;
                let mut d = p.doc();
                while d != TERMINATED {
                    let live = seg
                        .live
                        .get_or_insert_with(|| LiveDocs::all(seg.meta.max_doc));
                    if live.delete(d) {
                        seg.dirty = true;
                    }
                    d = p.advance()?;
                }
            }
            if !numeric.is_empty() {
                let mut docs = Vec::new();
                numeric.segment_docs(&seg.reader, &mut docs)?;
                for d in docs {
                    let live = seg
                        .live
                        .get_or_insert_with(|| LiveDocs::all(seg.meta.max_doc));
                    if live.delete(d) {
                        seg.dirty = true;
                    }
                }
            }
            seg.applied = last;
        }
        Ok(())
    }

    /// Makes every change so far durable: flushes buffers, writes deletes,
    /// fsyncs every new file, and atomically publishes `commit-<gen+1>`.
    /// Returns the new generation. On error the last commit stays intact and
    /// no acknowledged document is dropped from the writer; retry later.
    pub fn commit(&self) -> Result<u64> {
        self.commit_with(Vec::new())
    }

    /// [`commit`](Self::commit) with application data stored in the commit.
    ///
    /// A commit does not wait for merges: it publishes the segments as they
    /// are (merges finished so far included) and then lets the merge policy
    /// pick new merges. Call [`wait_for_merges`](Self::wait_for_merges)
    /// first to commit a fully merged index.
    pub fn commit_with(&self, user_data: Vec<(String, String)>) -> Result<u64> {
        let gen = self.commit_locked(user_data);
        if gen.is_ok() {
            self.replicate();
        }
        self.maybe_merge();
        gen
    }

    /// Copies the newest commit to every replica (outside the writer's
    /// locks: indexing goes on meanwhile; the commit's files are pinned
    /// while they are copied).
    fn replicate(&self) {
        let replicas = &self.inner.config.replicas;
        if replicas.is_empty() {
            return;
        }
        let _span = self.inner.span.enter();
        let commit = self.inner.state.lock().last_commit.clone();
        let _pin = self.inner.refs.acquire(commit.referenced_files());
        let keep = self.inner.config.keep_commits;
        let mut status = self.inner.replication.lock();
        status.resize_with(replicas.len(), ReplicaStatus::default);
        for (i, (r, st)) in replicas.iter().zip(status.iter_mut()).enumerate() {
            if st.forgotten {
                continue;
            }
            let started = std::time::Instant::now();
            let replicator = &self.inner.replicator;
            let copied = replicator.replicate(self.inner.dir.as_ref(), r.as_ref(), &commit, keep);
            st.lag = replicator
                .lag(commit.generation, r.as_ref())
                .unwrap_or(commit.generation);
            let duration_ms = started.elapsed().as_secs_f64() * 1e3;
            match copied {
                Ok(rep) => {
                    st.generation = Some(rep.generation);
                    st.covered_position = Some(commit.wal_position);
                    st.bytes_copied += rep.bytes_copied;
                    st.files_copied += rep.files_copied as u64;
                    st.last_error = None;
                    tracing::debug!(
                        target: "lucerna::replication",
                            replica = i,
                        generation = rep.generation,
                        bytes = rep.bytes_copied,
                        files = rep.files_copied,
                        lag = st.lag,
                        duration_ms,
                        "replicated a commit"
                    );
                }
                Err(e) => {
                    tracing::warn!(
                        target: "lucerna::replication",
                            replica = i,
                        generation = commit.generation,
                        lag = st.lag,
                        error = %e,
                        duration_ms,
                        "replication failed: the replica stays at its previous commit"
                    );
                    st.last_error = Some(e.to_string());
                }
            }
        }
        *self.inner.replica_floor.lock() = replica_floor(&status);
    }

    /// Per replica (in [`WriterConfig::replicas`] order): the generation it
    /// holds, how many commits it is behind, the log position it covers,
    /// what was copied, and the last error.
    pub fn replication(&self) -> Vec<ReplicaStatus> {
        self.inner.replication.lock().clone()
    }

    /// Stops writing replica `i` (in [`WriterConfig::replicas`] order) and
    /// lets the write-ahead log go past what it covers: the explicit way to
    /// drop a replica that is gone for good (the log is never dropped by
    /// age). Returns false when there is no such replica.
    pub fn forget_replica(&self, i: usize) -> bool {
        let mut status = self.inner.replication.lock();
        match status.get_mut(i) {
            Some(st) => {
                st.forgotten = true;
                st.covered_position = None;
                *self.inner.replica_floor.lock() = replica_floor(&status);
                true
            }
            None => false,
        }
    }

    fn commit_locked(&self, user_data: Vec<(String, String)>) -> Result<u64> {
        let started = std::time::Instant::now();
        let _span = self.inner.span.enter();
        let _ops = self.inner.ops.write();
        self.check_open()?;
        self.flush_all()?;
        let mut st = self.inner.state.lock();
        self.resolve_deletes(&mut st)?;
        let dir = self.inner.dir.as_ref();
        for seg in st.segments.iter_mut() {
            if seg.dirty {
                // The new deletes were found through this segment's term
                // dictionary and postings, and the ids the commit records
                // come from its columns: those bytes are verified again
                // before anything derived from them is written under a
                // new checksum (a mismatch fails the commit and marks the
                // segment).
                let consumed =
                    |n: &str| n.ends_with(".tdi") || n.ends_with(".doc") || n.ends_with(".col");
                if let Err(e) = verify_held_where(&seg.meta, seg.reader.held_files(), consumed) {
                    crate::index::integrity::corrupt_marker::mark_corrupt(dir, &seg.meta, &e);
                    return Err(e);
                }
                let live = seg
                    .live
                    .clone()
                    .unwrap_or_else(|| LiveDocs::all(seg.meta.max_doc));
                let mut meta = seg.meta.clone();
                write_live_docs(dir, &mut meta, &live, &seg.reader.core().columns)?;
                seg.reader =
                    seg.reader
                        .with_deletes(dir, &meta, &self.inner.refs, Verify::Structure)?;
                seg.meta = meta;
                seg.dirty = false;
            }
        }
        let committed: HashSet<String> = st.last_commit.referenced_files().into_iter().collect();
        let to_sync: Vec<String> = st
            .segments
            .iter()
            .flat_map(|s| s.meta.files.iter().map(|f| f.name.clone()))
            .filter(|f| !committed.contains(f))
            .collect();
        let refs: Vec<&str> = to_sync.iter().map(String::as_str).collect();
        dir.sync(&refs)?;
        // Every operation so far is in the segments (`ops` is held
        // exclusively). The log up to here is made durable too, so that an
        // older kept commit plus the log can still rebuild this state.
        let wal_position = self.inner.seqno.load(Ordering::SeqCst);
        if let Some(wal) = &self.inner.wal {
            wal.sync_all()?;
        }
        let commit = Commit {
            generation: st.last_commit.generation.max(st.generation_floor) + 1,
            index_id: self.inner.index_id,
            schema: (*self.inner.schema).clone(),
            segments: st.segments.iter().map(|s| s.meta.clone()).collect(),
            next_segment: st.next_segment,
            wal_position,
            user_data,
        };
        commit.write(dir)?;
        tracing::info!(
            target: "lucerna::commit",
            generation = commit.generation,
            wal_position,
            segments = commit.segments.len(),
            docs = commit.segments.iter().map(|s| s.num_live() as u64).sum::<u64>(),
            new_files = to_sync.len(),
            duration_ms = started.elapsed().as_secs_f64() * 1e3,
            "checkpoint: commit written"
        );
        let gen = commit.generation;
        st.last_commit = commit;
        st.deletes.clear();
        // Later records go to a new file, so whole files become covered.
        // If that fails the commit stands, but the log is unusable: the
        // error says so (as any commit error, the caller cannot tell
        // whether the commit is durable; reopening settles it).
        let rolled = match &self.inner.wal {
            Some(wal) => wal.roll(wal_position + 1, gen),
            None => Ok(()),
        };
        self.delete_unused(&st)?;
        rolled?;
        Ok(gen)
    }

    /// Discards every change since the last commit.
    ///
    /// Merges running meanwhile are discarded when they finish if the
    /// rollback undid deletes or segments they relied on.
    pub fn rollback(&self) -> Result<()> {
        let r = self.rollback_locked();
        self.maybe_merge();
        r
    }

    fn rollback_locked(&self) -> Result<()> {
        let _ops = self.inner.ops.write();
        if let Some(wal) = &self.inner.wal {
            // Void the logged operations since the commit, durably, so a
            // replay never brings them back.
            let from_lsn = self.inner.state.lock().last_commit.wal_position + 1;
            let lsn = self.inner.seqno.fetch_add(1, Ordering::SeqCst) + 1;
            let t = wal.append(RecordRef::Rollback { lsn, from_lsn })?;
            wal.wait_durable(t)?;
        }
        self.inner.pool.lock().clear();
        self.inner.docs_buffered.store(0, Ordering::Relaxed);
        self.inner.merges.rolled_back();
        let mut st = self.inner.state.lock();
        let dir = self.inner.dir.as_ref();
        let mut segments = Vec::with_capacity(st.last_commit.segments.len());
        for meta in &st.last_commit.segments {
            let held = st
                .segments
                .iter()
                .find(|w| w.meta.name == meta.name && w.meta.id == meta.id)
                .map(|w| &w.reader);
            segments.push(committed_segment(
                dir,
                meta,
                &self.inner.schema,
                &self.inner.refs,
                self.inner.verify,
                held,
            )?);
        }
        st.segments = segments;
        st.deletes.clear();
        st.last_delete = 0;
        st.next_segment = st.next_segment.max(st.last_commit.next_segment);
        self.delete_unused(&st)?;
        Ok(())
    }

    /// Heals segment `seg_<n>` after a merge found one of its files
    /// damaged: restores the damaged files from the writer's replicas (a
    /// committed segment only: replicas hold committed files) and opens the
    /// segment again over them. Returns whether it was healed (it can then
    /// be merged again).
    pub(crate) fn heal_merge_input(&self, n: u64) -> bool {
        let meta = {
            let st = self.inner.state.lock();
            let committed = &st.last_commit;
            st.segments
                .iter()
                .find(|s| segment_number(&s.meta.name) == Some(n))
                .filter(|s| {
                    committed
                        .segments
                        .iter()
                        .any(|c| c.name == s.meta.name && c.id == s.meta.id)
                })
                .map(|s| s.meta.clone())
        };
        let Some(meta) = meta else {
            return false;
        };
        let dir = self.inner.dir.as_ref();
        // Healed already (by a reader or another process renaming an intact
        // copy in): the files on disk verify, only this writer's map of the
        // old file is damaged. Opening the segment again maps the new files.
        let intact_on_disk = meta
            .files
            .iter()
            .all(|f| crate::index::integrity::verify::verify_file(dir, &meta, f, |_| {}).is_ok());
        if intact_on_disk {
            if crate::index::integrity::corrupt_marker::remove_marker(dir, &meta.name).is_err() {
                return false;
            }
        } else {
            match self.inner.healer.heal_segment(dir, &meta) {
                Ok(true) => {}
                _ => return false,
            }
        }
        let reader = match SegmentReader::open(
            dir,
            &meta,
            self.inner.schema.clone(),
            &self.inner.refs,
            Verify::Full,
        ) {
            Ok(r) => r,
            Err(_) => return false,
        };
        let mut st = self.inner.state.lock();
        match st
            .segments
            .iter_mut()
            .find(|s| s.meta.name == meta.name && s.meta.id == meta.id)
        {
            Some(w) => {
                w.reader = reader;
                true
            }
            None => false,
        }
    }

    /// Heal counters of this writer (see [`heal`](crate::index::heal)).
    pub fn heal_stats(&self) -> HealStats {
        self.inner.healer.stats()
    }

    /// Gives this writer's near-real-time searchers `budget`.
    pub(crate) fn with_page_budget(self, budget: Option<Arc<PageBudget>>) -> Self {
        *self.inner.page_budget.write() = budget;
        self
    }

    /// A near-real-time searcher: every document added and deleted so far,
    /// committed or not (buffers are flushed to segments, not committed).
    pub fn searcher(&self) -> Result<Searcher> {
        let s = self.searcher_locked();
        self.maybe_merge();
        s
    }

    /// Near-real-time searchers that open a new view (a
    /// [`searcher`](Self::searcher) call, which flushes the buffers to a
    /// segment) at most once per `interval`, however many threads search:
    /// the way to poll for fresh results without making a segment per
    /// search. See [`refresh`](crate::index::refresh).
    pub fn reader_with_refresh(&self, interval: Duration) -> Result<RefreshingReader> {
        RefreshingReader::near_real_time(self.clone(), interval)
    }

    fn searcher_locked(&self) -> Result<Searcher> {
        let _ops = self.inner.ops.write();
        self.flush_all()?;
        let mut st = self.inner.state.lock();
        self.resolve_deletes(&mut st)?;
        let readers = st
            .segments
            .iter()
            .map(|s| {
                if s.dirty {
                    let mut meta = s.meta.clone();
                    let live = s.live.clone().map(Arc::new);
                    meta.num_deleted = live.as_ref().map_or(0, |l| l.num_deleted());
                    s.reader.with_live_docs(meta, live)
                } else {
                    s.reader.clone()
                }
            })
            .collect();
        Ok(Searcher::new(
            self.inner.schema.clone(),
            self.inner.analyzer.clone(),
            readers,
            st.last_commit.generation,
        )
        .with_page_budget(self.inner.page_budget.read().clone()))
    }

    /// Flushes in-memory buffers to segments without committing (then lets
    /// the merge policy pick merges).
    pub fn flush(&self) -> Result<()> {
        let r = {
            let _ops = self.inner.ops.write();
            self.flush_all()
        };
        self.maybe_merge();
        r
    }

    /// Generation of the last commit.
    pub fn last_commit_generation(&self) -> u64 {
        self.inner.state.lock().last_commit.generation
    }

    /// Number of segments (flushed, committed or not).
    pub fn num_segments(&self) -> usize {
        self.inner.state.lock().segments.len()
    }

    /// Documents buffered in memory, not yet flushed.
    pub fn buffered_docs(&self) -> usize {
        self.inner.docs_buffered.load(Ordering::Relaxed)
    }

    /// Deletes files no kept commit, current segment or open reader uses.
    fn delete_unused(&self, st: &State) -> Result<()> {
        let dir = self.inner.dir.as_ref();
        let mut gens = Commit::list_generations(dir)?;
        let mut old_commits = Vec::new();
        // Once a replacement has committed, the replaced index is not kept.
        let replaced = st.replaced.filter(|&g| st.last_commit.generation > g);
        if let Some(replaced_gen) = replaced {
            old_commits.extend(gens.iter().copied().filter(|&g| {
                g <= replaced_gen && !self.inner.refs.is_referenced(&Commit::file_name(g))
            }));
            gens.retain(|&g| g > replaced_gen);
        }
        let keep_n = self.inner.config.keep_commits;
        let mut keep: HashSet<String> = HashSet::new();
        let cut = gens.len().saturating_sub(keep_n);
        // The log must rebuild the state from every kept commit, and from
        // every replica's newest commit (unknown: from the start).
        let mut covered = st.last_commit.wal_position;
        if let Some(floor) = *self.inner.replica_floor.lock() {
            covered = covered.min(floor);
        }
        for (i, &g) in gens.iter().enumerate() {
            if i < cut
                && g != st.last_commit.generation
                && !self.inner.refs.is_referenced(&Commit::file_name(g))
            {
                old_commits.push(g);
                continue;
            }
            match Commit::read(dir, g) {
                Ok(c) => {
                    covered = covered.min(c.wal_position);
                    keep.extend(c.referenced_files());
                }
                // An unreadable kept commit keeps everything it might need:
                // never delete on uncertainty.
                Err(_) => return Ok(()),
            }
        }
        keep.extend(st.last_commit.referenced_files());
        for s in &st.segments {
            keep.extend(s.meta.files.iter().map(|f| f.name.clone()));
        }
        for g in old_commits {
            let _ = dir.delete(&Commit::file_name(g));
        }
        let current = self.inner.wal.as_ref().map(WalWriter::current_file);
        // Best effort, as every deletion here: a log left behind is read
        // again and skipped by position.
        let _ = wal::delete_covered_logs(dir, covered, current.as_deref());
        if replaced.is_some() {
            // Every log here is the replaced index's (a replacing writer
            // has no log of its own): its records are at or below the
            // replacement's starting position, and the newest file may be
            // the empty one its last commit rolled to.
            for (_, name) in wal::list_logs(dir).unwrap_or_default() {
                if Some(&name) != current.as_ref() {
                    let _ = dir.delete(&name);
                }
            }
        }
        for f in dir.list()? {
            if is_index_file(&f)
                && !keep.contains(&f)
                && !self.inner.refs.is_referenced(&f)
                && Commit::parse_file_name(&f).is_none()
            {
                let _ = dir.delete(&f);
            }
        }
        Ok(())
    }
}

/// A writer's views are its near-real-time searchers.
impl ViewSource for IndexWriter {
    fn open_view(&self) -> Result<Searcher> {
        self.searcher()
    }
}

// Here, not in `refresh`: the read layer knows a writer only as a
// `ViewSource`.
impl RefreshingReader {
    /// Near-real-time searchers of `writer`, refreshed at most once per
    /// `interval` (what [`IndexWriter::reader_with_refresh`] returns).
    /// Opens the first view now.
    pub fn near_real_time(writer: IndexWriter, interval: Duration) -> Result<RefreshingReader> {
        RefreshingReader::with_clock(
            Box::new(writer),
            ReloadPolicy::NearRealTime(interval),
            lucerna_merge::SystemClock::shared(),
        )
    }
}
