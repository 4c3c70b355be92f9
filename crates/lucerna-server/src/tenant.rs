//! [`Tenant`]: one tenant's index, its writer, its refreshing reader and
//! its request counters.
//!
//! Every method here blocks (file IO, fsyncs, backpressure waits): call
//! them on the blocking pool (`tokio::task::spawn_blocking`), never on the
//! runtime's threads.

use crate::config::ServerConfig;
use crate::tenant_name::TenantName;
use lucerna::index::{HealPolicy, PageBudget, RefreshingReader};
use lucerna::merge::MergeScheduler;
use lucerna::schema::{Field, Schema};
use lucerna::store::FsDirectory;
use lucerna::{Durability, Index, IndexWriter, Result};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Counters of one tenant's requests (the engine's own counters come from
/// [`IndexWriter::metrics`]).
#[derive(Debug, Default)]
pub struct TenantCounters {
    /// Bulk requests answered.
    pub bulk_requests: AtomicU64,
    /// Lines accepted (acknowledged with the request's durability).
    pub lines_accepted: AtomicU64,
    /// Lines rejected (invalid document).
    pub lines_rejected: AtomicU64,
    /// Lines not processed because the tenant stalled (to be sent again).
    pub lines_not_processed: AtomicU64,
    /// Bulk requests answered 429 (the writer would stall).
    pub throttled_requests: AtomicU64,
    /// Searches answered.
    pub searches: AtomicU64,
    /// Searches that failed.
    pub search_errors: AtomicU64,
    /// Commits made (requested, periodic and at shutdown).
    pub commits: AtomicU64,
}

impl TenantCounters {
    /// Adds `n` to `counter`.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The value of `counter`.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// One tenant: an index in `DATA/<tenant>` with the log-lines schema
/// (body stored), its writer on the shared merge scheduler, and a
/// near-real-time reader refreshed at most once per refresh interval.
pub struct Tenant {
    name: TenantName,
    /// The span of the tenant's events (field `tenant`).
    span: tracing::Span,
    index: Index,
    writer: IndexWriter,
    reader: RefreshingReader,
    id_field: Field,
    durability: Durability,
    wal_sync: Duration,
    /// The last error of a write that was not the document's fault.
    last_error: Mutex<Option<String>>,
    /// This tenant's request counters.
    pub counters: TenantCounters,
}

impl std::fmt::Debug for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenant")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Tenant {
    /// Opens (creating if needed) the index of `name` and its writer. A
    /// damaged file is healed from the replica, or from an older commit
    /// plus the log, before the writer opens; the log is replayed.
    pub fn open(
        config: &ServerConfig,
        name: TenantName,
        scheduler: Arc<MergeScheduler>,
        budget: Arc<PageBudget>,
    ) -> Result<Tenant> {
        // The writer's events (its merge threads' too) belong to this span.
        let span = tracing::info_span!("tenant", tenant = %name);
        let _entered = span.enter();
        let dir = FsDirectory::open(config.data.join(name.as_str()))?;
        let mut index = Index::open_or_create(dir, schema())?
            .with_page_budget(budget)
            .with_heal_policy(HealPolicy::FromReplicasAndLog);
        let mut writer_config = config
            .writer
            .clone()
            .merge_scheduler(scheduler)
            // Requests wait for the log themselves (`sync_log`); the
            // background fsync covers the ones that do not wait.
            .durability(Durability::Interval(config.wal_sync));
        if let Some(root) = &config.replica {
            let replica: Arc<dyn lucerna::store::Directory> =
                Arc::new(FsDirectory::open(root.join(name.as_str()))?);
            index = index.with_replicas(vec![replica.clone()]);
            writer_config = writer_config.replica(replica);
        }
        let writer = index.writer(writer_config)?;
        let reader = writer.reader_with_refresh(config.refresh)?;
        let id_field = index
            .schema()
            .field("id")
            .ok_or_else(|| lucerna::Error::Schema("the index has no `id` field".into()))?;
        let replay = writer.replay_report();
        tracing::info!(
            target: "lucerna_server",
            tenant = %name,
            docs = reader.current().num_docs(),
            replayed = replay.replayed,
            "tenant opened"
        );
        drop(_entered);
        Ok(Tenant {
            span,
            durability: config.durability_of(&name),
            wal_sync: config.wal_sync,
            name,
            index,
            writer,
            reader,
            id_field,
            last_error: Mutex::new(None),
            counters: TenantCounters::default(),
        })
    }

    /// The span of this tenant's events: enter it around work for the
    /// tenant so that the engine's events there name it.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// The tenant's name.
    pub fn name(&self) -> &TenantName {
        &self.name
    }

    /// The index.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// The writer.
    pub fn writer(&self) -> &IndexWriter {
        &self.writer
    }

    /// The near-real-time reader searches use.
    pub fn reader(&self) -> &RefreshingReader {
        &self.reader
    }

    /// The `id` field.
    pub fn id_field(&self) -> Field {
        self.id_field
    }

    /// The default durability of this tenant's bulk requests.
    pub fn default_durability(&self) -> Durability {
        self.durability
    }

    /// Whether a request with `durability` must wait for the log's fsync
    /// before it is answered: `sync` always; `interval:<ms>` when the
    /// background fsync is slower than it asks; `none` never.
    pub fn must_sync(&self, durability: Durability) -> bool {
        match durability {
            Durability::Sync => true,
            Durability::Interval(d) => d < self.wal_sync,
            Durability::None => false,
        }
    }

    /// Remembers an error of a write that was not the document's fault
    /// (shown by `/health`).
    pub fn record_error(&self, error: &lucerna::Error) {
        *self.last_error.lock() = Some(error.to_string());
    }

    /// The last error of a write that was not the document's fault.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().clone()
    }

    /// Refreshes the near-real-time view searches use if it is at least
    /// one refresh interval old.
    pub fn refresh(&self) -> Result<()> {
        let _span = self.span.enter();
        self.reader.refresh_if_due().map(|_| ())
    }

    /// Commits the tenant's writes; returns the new generation.
    pub fn commit(&self) -> Result<u64> {
        let _span = self.span.enter();
        let generation = self.writer.commit()?;
        TenantCounters::add(&self.counters.commits, 1);
        Ok(generation)
    }

    /// Commits and closes the writer (merges stop; stalled writes are
    /// released with an error).
    pub fn close(&self) -> Result<()> {
        let committed = self.commit();
        self.writer.close()?;
        committed.map(|_| ())
    }
}

/// Every tenant's schema: the log lines of `lucerna index`, body stored so
/// searches show the matching lines.
pub fn schema() -> Schema {
    Schema::log_lines(true)
}
