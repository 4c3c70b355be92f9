//! Indexes: segments, commits, the writer and readers.
//!
//! The modules are grouped in four layers, lowest first; a module uses
//! modules of its own layer and of the layers below it, never above (see
//! docs/architecture.md, "Layers inside `lucerna`"):
//!
//! 1. `integrity`: the commit manifest, identities, whole-file
//!    verification, corruption markers, file pins, the heal hook;
//! 2. `read`: segment readers, index readers, snapshots, the page budget;
//! 3. `write`: the writer, its buffers, flushes and merges;
//! 4. `recover`: check, repair, automatic healing, replication.
//!
//! [`Index`], here, ties the layers together. The public modules
//! ([`check`], [`recovery`], [`replica`], [`heal`]) and the types that
//! `Index` and their results carry are re-exported below, whatever layer
//! they are in; the rest is reached through `lucerna::internals` (not
//! API).

pub(crate) mod integrity;
pub(crate) mod read;
mod recover;
pub(crate) mod write;

pub use recover::{check, heal, recovery, replica};

pub(crate) use integrity::{commit, evidence, identity};
pub(crate) use read::{page_budget, reader, refresh, segment_reader, snapshot};
pub(crate) use write::writer;

pub use heal::{HealEvent, HealPolicy, HealSource, HealStats};
pub use integrity::commit::{Commit, FileEntry, SegmentMeta};
pub use integrity::evidence::ForeignFile;
pub use integrity::file_kind::FileKind;
pub use integrity::id_set::{IdSet, MAX_RANGES};
pub use integrity::identity::IndexId;
pub use integrity::verify::Verify;
pub use page_budget::PageBudget;
pub use read::snapshot::Snapshot;
pub use recovery::{repair, RepairOptions, RepairReport};
pub use refresh::{RefreshingReader, ReloadPolicy};
pub use replica::{replicate, replication_lag, ReplicaReport};
pub use write::writer::ReplicaStatus;

use crate::analysis::{Analyzer, DefaultAnalyzer};
use crate::error::{Error, Result};
use crate::schema::Schema;
use heal::Healer;
use integrity::file_refs::FileRefs;
use integrity::heal_hook::{err_file, healable, HealHook};
use lucerna_store::Directory;
use reader::{IndexReader, ReaderContext};
use replica::Replication;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use writer::{IndexWriter, Start, WriterConfig, WriterContext};

/// An index in a [`Directory`]: its schema, its analyzer, and access to
/// writers and readers.
///
/// ```
/// use lucerna::{Index, schema::Schema, store::RamDirectory};
/// # fn main() -> lucerna::Result<()> {
/// let dir = RamDirectory::new();
/// let index = Index::create(dir.clone(), Schema::logs())?;
/// assert_eq!(index.reader()?.searcher().num_docs(), 0);
/// let again = Index::open(dir)?; // the schema is stored in every commit
/// assert_eq!(again.schema(), index.schema());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Index {
    dir: Arc<dyn Directory>,
    schema: Arc<Schema>,
    analyzer: Arc<dyn Analyzer>,
    refs: FileRefs,
    verify: Verify,
    page_budget: Option<Arc<PageBudget>>,
    /// Readers may serve an older commit when the newest is missing.
    allow_older: bool,
    /// Readers may leave quarantined segments out (and say so).
    allow_partial: bool,
    /// Replicas, heal policy and heal counters (readers get it as their
    /// heal hook).
    healer: Arc<Healer>,
    /// Set by [`create_replacing`](Index::create_replacing) until its
    /// writer opens.
    replace: Arc<AtomicBool>,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Index {
    /// Creates a new, empty index (commit generation 1) in `dir`.
    pub fn create(dir: impl Directory + 'static, schema: Schema) -> Result<Index> {
        let dir: Arc<dyn Directory> = Arc::new(dir);
        if !Commit::list_generations(dir.as_ref())?.is_empty() {
            return Err(Error::InvalidArgument(
                "the directory already holds an index".into(),
            ));
        }
        let _lock = writer::acquire_write_lock(dir.as_ref())?;
        Commit {
            generation: 1,
            index_id: identity::IndexId::fresh(),
            schema: schema.clone(),
            segments: Vec::new(),
            next_segment: 0,
            wal_position: 0,
            user_data: Vec::new(),
        }
        .write(dir.as_ref())?;
        Ok(Self::from_parts(dir, schema))
    }

    /// A new, empty index with `schema` that replaces the index in `dir`
    /// (if any; any schema) when its writer first commits, atomically.
    ///
    /// Nothing is written here. The first [`writer`](Self::writer) of the
    /// returned handle takes the write lock and starts from an empty index;
    /// it must be configured with [`Durability::None`](crate::Durability::None)
    /// (other modes are refused with [`Error::InvalidArgument`]: its log
    /// records would follow the old index's, and the new index does not
    /// exist before that commit anyway);
    /// until its first commit the old index stays in `dir` untouched and
    /// searchable (readers opened through this handle meanwhile fail with
    /// [`Error::Schema`] if the old schema differs); that commit publishes
    /// the new index, and the old one's files are deleted only once it is
    /// durable. A build that fails or is interrupted before it leaves the
    /// old index as it was. Later `writer` calls open the newest commit as
    /// usual. Why in place rather than in a sibling directory swapped in:
    /// a swap takes two renames, and a crash between them leaves no index
    /// at the path; a commit is the one step that is already atomic.
    ///
    /// ```
    /// use lucerna::{Index, Document, Durability, WriterConfig, schema::Schema, store::RamDirectory};
    /// # fn main() -> lucerna::Result<()> {
    /// let dir = RamDirectory::new();
    /// let old = Index::create(dir.clone(), Schema::logs())?;
    /// let id = old.schema().field("id").unwrap();
    /// let w = old.writer(WriterConfig::default())?;
    /// w.add_document(Document::new().add_u64(id, 1).clone())?;
    /// w.commit()?;
    /// drop(w);
    ///
    /// let new = Index::create_replacing(dir.clone(), Schema::logs())?;
    /// let w = new.writer(WriterConfig::default().durability(Durability::None))?;
    /// w.add_document(Document::new().add_u64(id, 2).clone())?;
    /// w.add_document(Document::new().add_u64(id, 3).clone())?;
    /// assert_eq!(Index::open(dir.clone())?.reader()?.searcher().num_docs(), 1); // still the old
    /// w.commit()?;
    /// assert_eq!(Index::open(dir)?.reader()?.searcher().num_docs(), 2);
    /// # Ok(()) }
    /// ```
    pub fn create_replacing(dir: impl Directory + 'static, schema: Schema) -> Result<Index> {
        let index = Self::from_parts(Arc::new(dir), schema);
        index.replace.store(true, Ordering::SeqCst);
        Ok(index)
    }

    /// Opens the index in `dir` at its newest commit.
    ///
    /// Readers fail with [`Error::MissingCommit`] when a newer commit
    /// than the newest in the directory existed and is missing (see
    /// [`allow_older_commit`](Self::allow_older_commit)).
    pub fn open(dir: impl Directory + 'static) -> Result<Index> {
        let dir: Arc<dyn Directory> = Arc::new(dir);
        let (commit, _) = evidence::newest_trusted(dir.as_ref(), true)?;
        Ok(Self::from_parts(dir, commit.schema))
    }

    /// Opens the index in the file-system directory `path` (an
    /// [`FsDirectory`](lucerna_store::FsDirectory), memory-mapped reads).
    pub fn open_in_dir(path: impl AsRef<std::path::Path>) -> Result<Index> {
        Self::open(lucerna_store::FsDirectory::open(path)?)
    }

    /// Creates a new, empty index in the file-system directory `path`
    /// (created if missing).
    ///
    /// ```
    /// use lucerna::{Index, schema::Schema};
    /// # fn main() -> lucerna::Result<()> {
    /// let tmp = tempfile::tempdir().unwrap();
    /// Index::create_in_dir(tmp.path(), Schema::log_lines(true))?;
    /// let index = Index::open_in_dir(tmp.path())?;
    /// let q = index.parse_query("disk AND full")?;
    /// assert_eq!(index.reader()?.searcher().count(&q)?, 0);
    /// # Ok(()) }
    /// ```
    pub fn create_in_dir(path: impl AsRef<std::path::Path>, schema: Schema) -> Result<Index> {
        Self::create(lucerna_store::FsDirectory::open(path)?, schema)
    }

    /// Parses a query string (the [`query_parser`](crate::query_parser)
    /// syntax; default operator OR; default fields: every text field) with
    /// this index's schema and analyzer, as
    /// [`Searcher::parse_query`](crate::Searcher::parse_query) does,
    /// without opening a reader.
    pub fn parse_query(&self, text: &str) -> Result<crate::Query> {
        crate::search::parse::QueryBuilder::new(&self.schema, self.analyzer.as_ref())
            .parse(&crate::query_parser::QueryParser::new(), text)
    }

    /// Opens the index in `dir`, creating it with `schema` if there is none.
    pub fn open_or_create(dir: impl Directory + 'static, schema: Schema) -> Result<Index> {
        let dir: Arc<dyn Directory> = Arc::new(dir);
        if Commit::list_generations(dir.as_ref())?.is_empty() {
            Self::create(dir, schema)
        } else {
            let (commit, _) = evidence::newest_trusted(dir.as_ref(), true)?;
            if commit.schema != schema {
                return Err(Error::Schema(
                    "the existing index has a different schema".into(),
                ));
            }
            Ok(Self::from_parts(dir, commit.schema))
        }
    }

    fn from_parts(dir: Arc<dyn Directory>, schema: Schema) -> Index {
        Index {
            dir,
            schema: Arc::new(schema),
            analyzer: Arc::new(DefaultAnalyzer::default()),
            refs: FileRefs::default(),
            verify: Verify::default(),
            page_budget: None,
            allow_older: false,
            allow_partial: false,
            healer: Arc::new(Healer::default()),
            replace: Arc::new(AtomicBool::new(false)),
        }
    }

    /// With `true`, readers serve the newest commit in the directory even
    /// when a newer one existed and is missing (it held documents they
    /// will not find); [`IndexReader::missing_newest`] then says which.
    /// The default, `false`, fails with [`Error::MissingCommit`].
    pub fn allow_older_commit(mut self, allow: bool) -> Self {
        self.allow_older = allow;
        self
    }

    /// Uses `analyzer` for text fields (indexing and query parsing). The
    /// analyzer is not stored in the index: open it with the same one.
    pub fn with_analyzer(mut self, analyzer: Arc<dyn Analyzer>) -> Self {
        self.analyzer = analyzer;
        self
    }

    /// How segments are checked when readers and writers of this index open
    /// them from a commit (default [`Verify::Full`]).
    pub fn with_verify(mut self, verify: Verify) -> Self {
        self.verify = verify;
        self
    }

    /// Caps the process's resident memory-mapped pages: searchers of this
    /// index's readers and writer release their segments' pages after a
    /// query that finds the process over `budget` (see [`PageBudget`]).
    /// Share one budget between the indexes of a process.
    pub fn with_page_budget(mut self, budget: Arc<PageBudget>) -> Self {
        self.page_budget = Some(budget);
        self
    }

    /// The budget of [`with_page_budget`](Self::with_page_budget).
    pub fn page_budget(&self) -> Option<&Arc<PageBudget>> {
        self.page_budget.as_ref()
    }

    /// The verification mode of [`with_verify`](Self::with_verify).
    pub fn verify(&self) -> Verify {
        self.verify
    }

    /// The schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The directory.
    pub fn directory(&self) -> &Arc<dyn Directory> {
        &self.dir
    }

    /// The analyzer of text fields.
    pub fn analyzer(&self) -> &Arc<dyn Analyzer> {
        &self.analyzer
    }

    /// Opens the (single) writer; fails with a lock error when another
    /// writer has the index open.
    ///
    /// A damaged, truncated or missing file of the newest commit is healed
    /// first, from this index's replicas ([`with_replicas`](Self::with_replicas))
    /// and the writer's own ([`WriterConfig::replicas`]), then (with
    /// [`HealPolicy::FromReplicasAndLog`]) from an older commit plus the
    /// log; see [`heal`].
    pub fn writer(&self, config: WriterConfig) -> Result<IndexWriter> {
        let replace = self.replace.load(Ordering::SeqCst);
        let open = |config: WriterConfig| {
            let cx = WriterContext {
                dir: self.dir.clone(),
                schema: self.schema.clone(),
                analyzer: self.analyzer.clone(),
                refs: self.refs.clone(),
                verify: self.verify,
                // The writer heals from its own replicas, with its policy.
                healer: Arc::new(Healer::new(config.replicas.clone(), config.heal)),
                replicator: Arc::new(Replication),
            };
            IndexWriter::open(
                cx,
                config,
                if replace {
                    Start::Replace
                } else {
                    Start::Latest
                },
            )
        };
        let w = match open(config.clone()) {
            Err(e) if !replace && healable(&e) => {
                let mut replicas = self.healer.replicas.clone();
                replicas.extend(config.replicas.iter().cloned());
                let healer = Healer::new(replicas, self.healer.policy);
                if self.heal_newest(&healer, &e)? {
                    open(config)?
                } else {
                    return Err(e);
                }
            }
            r => r?,
        };
        if replace {
            self.replace.store(false, Ordering::SeqCst);
        }
        Ok(w.with_page_budget(self.page_budget.clone()))
    }

    /// A reader at the newest commit; [`IndexReader::reload`] moves it on.
    ///
    /// A damaged, truncated or missing segment file is healed from the
    /// replicas (and, with [`HealPolicy::FromReplicasAndLog`] and no writer
    /// running, from an older commit plus the log); see [`heal`]. What
    /// cannot be healed is an error naming the file, or, with
    /// [`allow_partial`](Self::allow_partial), a partial searcher.
    pub fn reader(&self) -> Result<IndexReader> {
        let cx = ReaderContext {
            dir: self.dir.clone(),
            schema: self.schema.clone(),
            analyzer: self.analyzer.clone(),
            refs: self.refs.clone(),
            verify: self.verify,
            allow_older: self.allow_older,
            allow_partial: self.allow_partial,
            healer: self.healer.clone(),
        };
        let r = match IndexReader::open(cx.clone()) {
            Err(e) if healable(&e) && self.healer.may_repair() => {
                if self.heal_newest(&self.healer, &e)? {
                    IndexReader::open(cx)?
                } else {
                    return Err(e);
                }
            }
            // A partial searcher may be healed completely by a repair too.
            Ok(r) if !r.searcher().unavailable().is_empty() && self.healer.may_repair() => {
                let file = r.searcher().unavailable()[0].file.clone();
                let e = Error::Store(lucerna_store::StoreError::NotFound { file });
                if self.heal_newest(&self.healer, &e)? {
                    IndexReader::open(cx)?
                } else {
                    r
                }
            }
            r => r?,
        };
        Ok(r.with_page_budget(self.page_budget.clone()))
    }

    /// Heals the newest commit after `err`: every segment from the
    /// replicas, then (when the policy allows) a repair from an older
    /// commit plus the log. Returns whether something was healed.
    fn heal_newest(&self, healer: &Healer, err: &Error) -> Result<bool> {
        let Ok((commit, _)) = evidence::newest_trusted(self.dir.as_ref(), true) else {
            return Ok(false);
        };
        let mut healed = false;
        for seg in &commit.segments {
            healed |= healer.heal_segment(self.dir.as_ref(), seg)?;
        }
        if healed {
            return Ok(true);
        }
        if !healer.may_repair() {
            return Ok(false);
        }
        let start = std::time::Instant::now();
        let report = match recovery::repair_with(
            &self.dir,
            &healer.replicas,
            RepairOptions::default(),
            Some(self.analyzer.clone()),
            &mut |_| {},
        ) {
            Ok(r) => r,
            // A writer holds the lock: it is the one to heal.
            Err(_) => return Ok(false),
        };
        if report.outcome == recovery::RepairOutcome::Repaired && report.healthy() {
            let file = err_file(err);
            self.healer.repaired(&file, "", start.elapsed());
            return Ok(true);
        }
        Ok(false)
    }

    /// Replicas this index's readers and writers heal damaged files from
    /// (local directories, or any other [`Directory`]), in order of
    /// preference. A writer also heals from its own
    /// [`WriterConfig::replicas`].
    pub fn with_replicas(mut self, replicas: Vec<Arc<dyn Directory>>) -> Self {
        self.healer = Arc::new(Healer::new(replicas, self.healer.policy));
        self
    }

    /// What readers and writers do by themselves about a damaged file
    /// (default [`HealPolicy::FromReplicas`]).
    pub fn with_heal_policy(mut self, policy: HealPolicy) -> Self {
        self.healer = Arc::new(Healer::new(self.healer.replicas.clone(), policy));
        self
    }

    /// With `true`, a reader whose segment cannot be opened (a damaged or
    /// missing file no replica restores) serves the intact segments, and
    /// every result says it is partial and which documents are unavailable
    /// ([`TopDocs::partial`](crate::TopDocs::partial)). The default,
    /// `false`, fails with an error naming the file.
    pub fn allow_partial(mut self, allow: bool) -> Self {
        self.allow_partial = allow;
        self
    }

    /// Heal counters of this index's readers and writers.
    pub fn heal_stats(&self) -> HealStats {
        self.healer.stats()
    }

    /// Pins the newest commit (see [`Snapshot`]).
    pub fn snapshot(&self) -> Result<snapshot::Snapshot> {
        snapshot::Snapshot::pin(self.dir.as_ref(), &self.refs, || self.latest_commit())
    }

    /// The newest commit of this index (never one of another index; see
    /// [`allow_older_commit`](Self::allow_older_commit) for a missing
    /// newest commit).
    pub fn latest_commit(&self) -> Result<Commit> {
        evidence::newest_trusted(self.dir.as_ref(), self.allow_older).map(|c| c.0)
    }
}
