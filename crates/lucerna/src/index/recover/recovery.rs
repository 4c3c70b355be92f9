//! Recovery: [`repair`] brings a damaged index back to a healthy state,
//! without losing a document whenever that is possible, and says exactly
//! which documents are lost when it is not.
//!
//! The algorithm, in order (the first that applies wins):
//!
//! 0. A deep [`check_index_with`](crate::check_index_with) (changing nothing), the corruption
//!    markers, and the write-ahead log. An index is healthy when the check
//!    finds nothing, no marker is left, *and* the log holds no operation
//!    after the newest commit's position: operations there were
//!    acknowledged, and searches do not see them until a commit holds them
//!    (a writer that crashed, or a repair killed at the wrong moment,
//!    leaves such a state). Then there is nothing to do.
//! 1. **From a replica.** For the newest commit (if its manifest is damaged
//!    or missing, the same generation read from a replica), every file that
//!    is missing, truncated or corrupt is looked up in the replicas: a file
//!    with the same name, the commit's recorded length and CRC, the
//!    segment's id and a correct full CRC is copied in (temporary name,
//!    fsync, rename, fsync of the directory). If the log holds operations
//!    after that commit's position, they are then replayed and committed
//!    (one new commit). Nothing is lost.
//! 2. **From an older commit and the write-ahead log.** The newest kept
//!    commit (of this index, or of a replica: a replica may be an older
//!    plain copy of the index directory) whose every file verifies in full
//!    (here or in a replica) *and* whose later operations the write-ahead
//!    log still holds is the base: a writer opens on its segments (not on
//!    the newest commit), replays the log after its position in memory,
//!    and commits once, as generation newest + 1. Nothing acknowledged is
//!    lost.
//! 3. **With loss, only when allowed** ([`RepairOptions::allow_loss`]):
//!    the newest commit without the segments that cannot be restored (the
//!    others repaired from replicas as in 1) is the base, and again one
//!    commit holds it and the log's later operations. The report lists
//!    each dropped segment with its live-document count and the exact `id`
//!    values of those documents, from the commit's record (see
//!    [`SegmentMeta::ids`](crate::index::commit::SegmentMeta::ids)); the
//!    new commit records the same (in its user data), so that a rerun
//!    after a crash still reports them ([`RepairReport::recorded_loss`]).
//!    Without permission nothing is changed and the report says what would
//!    be lost and why the lossless ways failed.
//!
//! Corruption markers of segments that are repaired or no longer in the
//! index are removed. A final deep check says whether the index is healthy.
//! With [`RepairOptions::dry_run`] nothing is changed and the report is the
//! plan.
//!
//! # Crash safety
//!
//! A repair can be killed at any point and run again: the rerun completes
//! the job and ends in the same state. Each step is either idempotent or
//! invisible until one atomic switch:
//!
//! * a file copied from a replica is written under a temporary name,
//!   verified, fsync'd and renamed over the damaged file (the directory is
//!   fsync'd after the copies): until the rename is durable the old file is
//!   there and a rerun copies again;
//! * a restored manifest is the replica's commit of the same generation,
//!   verified and written as every commit (temporary name, fsync, rename,
//!   fsync): a rerun writes the same again or finds it there;
//! * every path that changes the index's contents publishes exactly one
//!   new commit, written last ([`Commit::write`]): segment and live-docs
//!   files first (new names only, never a file an existing commit uses),
//!   fsync'd, then the manifest. Killed before the manifest's rename is
//!   durable, the directory's commits are as they were (a rerun makes the
//!   same choice again; the files left behind are unreferenced and deleted
//!   by the next writer); after, the new commit holds everything and covers
//!   the whole log;
//! * markers are removed after that commit; a marker left by a kill is of a
//!   segment that is gone or verifies, and a rerun removes it;
//! * whatever state an earlier crash left, a log holding operations the
//!   newest commit lacks is work for the next repair (step 0), so no state
//!   is ever called healthy while acknowledged operations are missing.
//!
//! Repair holds the index's writer lock throughout (its own writer takes
//! it over for the one commit), so it fails with a lock error while a
//! writer is open and anything is to be done.

use crate::analysis::{Analyzer, DefaultAnalyzer};
use crate::error::{Error, Result};
use crate::index::integrity::commit::{Commit, FileEntry, SegmentMeta};
use crate::index::integrity::corrupt_marker::{
    list_markers, parse_marker_file_name, remove_marker,
};
use crate::index::integrity::evidence::Evidence;
use crate::index::integrity::file_kind::FileKind;
use crate::index::integrity::file_refs::FileRefs;
use crate::index::integrity::id_set::IdSet;
use crate::index::integrity::identity::IndexId;
use crate::index::integrity::verify::{verify_envelope, verify_file, Verify};
use crate::index::recover::check::{
    check_index_against, newest_in_replicas, refresh_markers, CheckOptions, CheckReport,
};
use crate::index::recover::heal::Healer;
use crate::index::recover::replica::{copy_verified, CopyError, Replication};
use crate::index::write::writer::{
    acquire_write_lock, IndexWriter, Start, StartAt, WriterConfig, WriterContext, WRITE_LOCK,
};
use crate::wal::{list_logs, read_logs, Durability, ReplayMode, ReplayReport};
use lucerna_store::{Directory, EnvelopeReader};
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::ops::ControlFlow;
use std::sync::Arc;

/// The suffix a file of another index gets when `repair` sets it aside.
pub const FOREIGN_SUFFIX: &str = ".foreign";

/// What [`repair`] may do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RepairOptions {
    /// Allow dropping segments that cannot be restored (their documents are
    /// listed in [`RepairReport::lost`]). Without it, a repair that would
    /// lose documents changes nothing.
    pub allow_loss: bool,
    /// Change nothing; the report is the plan.
    pub dry_run: bool,
}

/// How a repair ended (or, in a dry run, would end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepairOutcome {
    /// The index was healthy: nothing to do.
    Healthy,
    /// Repaired without losing a document.
    Repaired,
    /// Repaired by dropping documents (listed in [`RepairReport::lost`]).
    RepairedWithLoss,
    /// Only a repair losing documents is possible and it was not allowed:
    /// nothing was changed; [`RepairReport::lost`] says what it would lose.
    NeedsAllowLoss,
    /// No intact commit is left anywhere (here or in a replica): nothing
    /// was changed.
    Unrepairable,
}

impl RepairOutcome {
    /// A short lower-case name (`healthy`, `repaired`, …).
    pub fn as_str(&self) -> &'static str {
        match self {
            RepairOutcome::Healthy => "healthy",
            RepairOutcome::Repaired => "repaired",
            RepairOutcome::RepairedWithLoss => "repaired-with-loss",
            RepairOutcome::NeedsAllowLoss => "needs-allow-loss",
            RepairOutcome::Unrepairable => "unrepairable",
        }
    }
}

/// Where a commit or a file comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The index directory itself.
    Index,
    /// The replica at this position of the `replicas` argument.
    Replica(usize),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Index => write!(f, "this index"),
            Source::Replica(i) => write!(f, "replica {i}"),
        }
    }
}

/// One step of a repair (done, or planned in a dry run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepairAction {
    /// An intact copy of `file` (of `segment`) was copied in from a replica.
    CopyFile {
        /// The file.
        file: String,
        /// Its segment.
        segment: String,
        /// The replica it came from (position in `replicas`).
        replica: usize,
        /// Its length.
        bytes: u64,
    },
    /// The newest commit's manifest, damaged or missing here, was restored
    /// from a replica holding the same generation.
    RestoreCommit {
        /// Its generation.
        generation: u64,
        /// The replica it came from.
        replica: usize,
    },
    /// The index was rebuilt from the intact older commit
    /// `from_generation`: the new commit `new_generation` holds its
    /// segments plus the operations the write-ahead log holds after
    /// `wal_position` (the [`ReplayLog`](Self::ReplayLog) that follows is
    /// the same, single commit).
    RevertToCommit {
        /// The intact commit.
        from_generation: u64,
        /// Where that commit was read.
        source: Source,
        /// The commit written.
        new_generation: u64,
        /// The older commit's write-ahead-log position: the log is
        /// replayed from there.
        wal_position: u64,
    },
    /// The operations the write-ahead log holds after `from_position` were
    /// replayed and are in commit `generation` (0 in a dry run): the one
    /// commit of this repair.
    ReplayLog {
        /// The log position replayed from.
        from_position: u64,
        /// The commit holding the replayed operations.
        generation: u64,
    },
    /// A new commit `new_generation` was written without `segments` (and
    /// with the operations the log holds after the dropped-from commit).
    DropSegments {
        /// The segments dropped (their documents: [`RepairReport::lost`]).
        segments: Vec<String>,
        /// The commit written.
        new_generation: u64,
    },
    /// A corruption marker was removed (its segment repaired or gone).
    RemoveMarker {
        /// The marker file.
        file: String,
    },
    /// A file of another index was renamed to `<file>.foreign`: never
    /// trusted or replayed, kept for the operator.
    SetAsideForeign {
        /// The file.
        file: String,
        /// The index it names.
        index_id: IndexId,
    },
}

impl fmt::Display for RepairAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RepairAction::CopyFile {
                file,
                segment,
                replica,
                bytes,
            } => write!(
                f,
                "copy {file} (segment {segment}, {bytes} bytes) from replica {replica}"
            ),
            RepairAction::RestoreCommit {
                generation,
                replica,
            } => write!(
                f,
                "restore {} from replica {replica}",
                Commit::file_name(*generation)
            ),
            RepairAction::RevertToCommit {
                from_generation,
                source,
                new_generation,
                wal_position,
            } => write!(
                f,
                "write {} with the segments of intact {} (from {source}) and the log after position {wal_position}",
                Commit::file_name(*new_generation),
                Commit::file_name(*from_generation)
            ),
            RepairAction::ReplayLog {
                from_position,
                generation,
            } => {
                write!(f, "replay the write-ahead log after position {from_position}")?;
                if *generation > 0 {
                    write!(f, " and commit {}", Commit::file_name(*generation))?;
                }
                Ok(())
            }
            RepairAction::DropSegments {
                segments,
                new_generation,
            } => write!(
                f,
                "write {} without segment(s) {}",
                Commit::file_name(*new_generation),
                segments.join(", ")
            ),
            RepairAction::RemoveMarker { file } => write!(f, "remove marker {file}"),
            RepairAction::SetAsideForeign { file, index_id } => write!(
                f,
                "set aside {file} (it belongs to another index, {index_id}) as {file}{FOREIGN_SUFFIX}"
            ),
        }
    }
}

/// A segment dropped (or that would be dropped) and the documents with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostSegment {
    /// The segment.
    pub segment: String,
    /// Its live documents, all lost.
    pub docs: u64,
    /// The `id` values of those documents (`None` when the commit does not
    /// record them: a schema without a `u64` field `id`, or a version-1
    /// commit, which records only [`id_range`](Self::id_range)).
    pub ids: Option<IdSet>,
    /// Smallest and largest lost id, when known.
    pub id_range: Option<(u64, u64)>,
    /// Why the segment cannot be restored.
    pub cause: String,
}

/// Logged operations dropped (or that would be) with a damaged part of
/// the write-ahead log after the newest commit's position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostOperations {
    /// The log file.
    pub file: String,
    /// Byte offset of the damage.
    pub offset: u64,
    /// The sequence numbers of the operations lost (first, last), when
    /// the records around the damage tell.
    pub lsns: Option<(u64, u64)>,
    /// The `id` values of documents the damaged bytes still name (read
    /// without their checksum: a best effort, possibly incomplete when a
    /// span held several records; see [`cause`](Self::cause)).
    pub ids: Vec<u64>,
    /// What was wrong.
    pub cause: String,
}

/// Progress of the copies of a repair, for progress bars.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairProgress {
    /// The file being copied.
    pub file: String,
    /// Bytes copied so far, over all files.
    pub done: u64,
    /// Bytes to copy in all.
    pub total: u64,
}

/// What [`repair`] found and did.
#[derive(Debug, Clone, PartialEq)]
pub struct RepairReport {
    /// How it ended.
    pub outcome: RepairOutcome,
    /// True for a dry run (nothing changed; the actions are the plan).
    pub dry_run: bool,
    /// The deep check before the repair.
    pub before: CheckReport,
    /// The deep check after it (`None` in a dry run and when nothing was
    /// changed).
    pub after: Option<CheckReport>,
    /// The steps taken (or planned).
    pub actions: Vec<RepairAction>,
    /// Segments dropped (or that would be dropped) with their documents.
    pub lost: Vec<LostSegment>,
    /// Logged operations dropped (or that would be) with damaged parts of
    /// the write-ahead log.
    pub lost_log: Vec<LostOperations>,
    /// Loss that cannot be enumerated, and why (e.g. the newest commit's
    /// manifest is unreadable, so what it held after the intact older
    /// commit is unknown).
    pub unknown_loss: Option<String>,
    /// Why the lossless ways did not apply: damaged files without an
    /// intact copy, older commits not intact or not covered by the log.
    pub notes: Vec<String>,
    /// Bytes copied from replicas.
    pub bytes_copied: u64,
    /// Operations the write-ahead log holds after the position of the
    /// commit searches see (afterwards; in a dry run, or when nothing was
    /// changed: now). They were acknowledged; while any is left the index
    /// is not healthy (a repair replays and commits them).
    pub unapplied_log_ops: u64,
    /// Why the write-ahead log could not be read (damaged, or a file still
    /// being written by a writer of this process): whether the served
    /// commit lacks acknowledged operations is then unknown, and the index
    /// is not called healthy.
    pub log_error: Option<String>,
    /// Documents the served (newest) commit lacks because a repair dropped
    /// them: recorded in that commit by the repair that wrote it (this one,
    /// or an earlier one, perhaps killed before it could report), and
    /// reported by every repair while that commit is the newest. Ids that
    /// the log replay brought back are not in it.
    pub recorded_loss: Vec<LostSegment>,
}

impl RepairReport {
    /// True when the index is healthy afterwards (in a dry run, or when
    /// nothing was changed: before): the deep check finds nothing and no
    /// acknowledged operation of the write-ahead log is missing from the
    /// served commit.
    pub fn healthy(&self) -> bool {
        let checked = match &self.after {
            Some(a) => a.healthy(),
            None => self.before.healthy(),
        };
        checked && self.unapplied_log_ops == 0 && self.log_error.is_none()
    }

    /// True when the repair changed the index.
    pub fn changed(&self) -> bool {
        !self.dry_run && !self.actions.is_empty()
    }

    /// Live documents lost (or that would be), as far as known.
    pub fn lost_docs(&self) -> u64 {
        self.lost.iter().map(|l| l.docs).sum()
    }

    /// The `id` values of every lost document, when every dropped segment
    /// records them.
    pub fn lost_ids(&self) -> Option<IdSet> {
        let segs = self
            .lost
            .iter()
            .try_fold(IdSet::new(), |acc, l| Some(acc.union(l.ids.as_ref()?)))?;
        let log = IdSet::from_values(self.lost_log.iter().flat_map(|l| l.ids.iter().copied()));
        Some(segs.union(&log))
    }
}

/// Repairs the index in `dir`, fetching intact files from `replicas` (see
/// the [module docs](self)). Uses the default analyzer if the write-ahead
/// log has to be replayed: see [`repair_with`].
///
/// Fails (changing nothing) when there is anything to do and a writer
/// holds the index lock (operations a live writer logged and has not
/// committed yet count: they are its own); otherwise a damaged index is
/// never an error: the report says what was done and whether the index is
/// healthy afterwards. Safe to kill at any point and run again (see the
/// [module docs](self#crash-safety)).
pub fn repair(
    dir: &Arc<dyn Directory>,
    replicas: &[Arc<dyn Directory>],
    options: RepairOptions,
) -> Result<RepairReport> {
    repair_with(dir, replicas, options, None, &mut |_| {})
}

/// [`repair`] with the analyzer the index's writer uses (for documents
/// replayed from the write-ahead log; `None`: the default analyzer) and a
/// progress callback for the copies.
pub fn repair_with(
    dir: &Arc<dyn Directory>,
    replicas: &[Arc<dyn Directory>],
    options: RepairOptions,
    analyzer: Option<Arc<dyn Analyzer>>,
    progress: &mut dyn FnMut(&RepairProgress),
) -> Result<RepairReport> {
    let before = deep_check(dir, replicas)?;
    let markers = list_markers(dir.as_ref())?;
    let newest = match before.generation {
        Some(g) => Commit::read(dir.as_ref(), g).ok(),
        None => None,
    };
    let (unapplied, log_error) = match &newest {
        Some(c) => match log_ops_after(dir.as_ref(), before.index_id, c.wal_position) {
            Ok(n) => (n, None),
            Err(e) => (0, Some(e)),
        },
        None => (0, None),
    };
    let recorded_loss = newest.as_ref().map(recorded_loss).unwrap_or_default();
    let mut r = Repair {
        dir,
        replicas,
        options,
        analyzer,
        progress,
        report: RepairReport {
            outcome: RepairOutcome::Healthy,
            dry_run: options.dry_run,
            before: before.clone(),
            after: None,
            actions: Vec::new(),
            lost: Vec::new(),
            lost_log: Vec::new(),
            unknown_loss: None,
            notes: Vec::new(),
            bytes_copied: 0,
            unapplied_log_ops: unapplied,
            log_error: log_error.clone(),
            recorded_loss,
        },
        replica_cache: HashMap::new(),
        lock: None,
    };
    let served_ok = before.healthy() && markers.is_empty() && unapplied == 0 && log_error.is_none();
    if served_ok && before.fallbacks_intact() {
        return Ok(r.report);
    }
    tracing::warn!(
        target: "lucerna::repair",
        dry_run = options.dry_run,
        allow_loss = options.allow_loss,
        healthy = before.healthy(),
        markers = markers.len(),
        unapplied_log_ops = unapplied,
        replicas = replicas.len(),
        "repair started"
    );
    let started = std::time::Instant::now();
    let mut run = || -> Result<()> {
        if !options.dry_run {
            r.lock = Some(acquire_write_lock(dir.as_ref())?);
        }
        if !served_ok {
            r.run(&before)?;
        }
        // The fallbacks: damaged files of older kept commits, from replicas.
        r.restore_fallbacks(&before)
    };
    let result = run();
    let duration_ms = started.elapsed().as_secs_f64() * 1e3;
    match &result {
        Ok(()) => tracing::warn!(
            target: "lucerna::repair",
            outcome = r.report.outcome.as_str(),
            healthy = r.report.healthy(),
            actions = r.report.actions.len(),
            bytes_copied = r.report.bytes_copied,
            lost_segments = r.report.lost.len(),
            lost_docs = r.report.lost.iter().map(|l| l.docs).sum::<u64>(),
            duration_ms,
            "repair finished"
        ),
        Err(e) => tracing::error!(
            target: "lucerna::repair",
            error = %e,
            duration_ms,
            "repair failed"
        ),
    }
    result.map(|()| r.report)
}

fn deep_check(dir: &Arc<dyn Directory>, replicas: &[Arc<dyn Directory>]) -> Result<CheckReport> {
    check_index_against(
        dir,
        replicas,
        CheckOptions {
            deep: true,
            write_markers: false,
        },
    )
}

/// A file to copy in: segment, file, replica.
type Copy = (SegmentMeta, FileEntry, usize);

/// How the files of one commit can be made whole.
struct CommitPlan {
    /// Copies that restore the fixable segments.
    copies: Vec<Copy>,
    /// Segments that cannot be restored, with the reason.
    broken: Vec<(SegmentMeta, String)>,
}

/// An intact older commit that the log does not cover, its source and
/// plan: what a repair with loss reverts to when the newest commit is
/// unreadable.
type Fallback = (Commit, Source, CommitPlan);

/// The newest commit a repair aims at (see [`Repair::find_newest`]).
struct Newest {
    /// The commit, read here or from a replica, when one is readable.
    target: Option<(Commit, Source)>,
    /// The log position the newest commit covered, when known.
    position: Option<u64>,
    /// The newest generation any file names: a repair commits above it.
    generation: Option<u64>,
}

struct Repair<'a> {
    dir: &'a Arc<dyn Directory>,
    replicas: &'a [Arc<dyn Directory>],
    options: RepairOptions,
    analyzer: Option<Arc<dyn Analyzer>>,
    progress: &'a mut dyn FnMut(&RepairProgress),
    report: RepairReport,
    /// (file, length, crc, segment id) → the replica with an intact copy.
    replica_cache: HashMap<(String, u64, u32, [u8; 16]), Option<usize>>,
    lock: Option<Box<dyn lucerna_store::LockGuard>>,
}

impl Repair<'_> {
    fn dir(&self) -> &dyn Directory {
        self.dir.as_ref()
    }

    /// The ordered fallbacks of the module doc, each a phase: the log
    /// alone, then everything from replicas, then an intact older commit
    /// the log covers, then (with permission) loss.
    fn run(&mut self, before: &CheckReport) -> Result<()> {
        // 0. Files of another index: set aside, never trusted.
        self.set_aside_foreign(before)?;
        let ev = Evidence::gather(self.dir())?;
        if let Some(done) = self.repair_log_only(before, &ev) {
            return done;
        }
        let newest = self.find_newest(&ev)?;
        // 1. Everything from replicas.
        let ControlFlow::Continue(target_plan) = self.try_replicas(before, &newest)? else {
            return Ok(());
        };
        // 2. An intact older commit the log covers.
        let ControlFlow::Continue(fallback) = self.try_older_commit(&ev, &newest)? else {
            return Ok(());
        };
        // 3. With loss.
        self.with_loss(newest, target_plan, fallback)
    }

    /// When every segment is intact and only the log needs work (damage
    /// after the newest commit's position, or operations only it holds),
    /// does that work and returns its result.
    fn repair_log_only(&mut self, before: &CheckReport, ev: &Evidence) -> Option<Result<()>> {
        let segments_ok = before.segments.iter().all(|s| s.ok)
            && before.generation.is_some()
            && before.missing_newest.is_none()
            && !before.markers.iter().any(|m| m.active);
        if !segments_ok {
            return None;
        }
        let log_damaged = before.problems.iter().any(|p| {
            p.kind == FileKind::WriteAheadLog && !before.foreign.iter().any(|f| f.file == p.file)
        });
        if log_damaged {
            // Damage after the newest commit's position: only the log
            // held those operations, so only dropping them helps.
            return Some(self.drop_damaged_log(before, ev));
        }
        if before.log.pending > 0 {
            // Acknowledged operations only the log holds: commit them.
            return Some(self.replay_and_commit(before, ReplayMode::Strict, ev));
        }
        None
    }

    /// The newest commit: here, or the same generation from a replica
    /// (any generation when this index has none), with the log position
    /// and generation it must reach.
    fn find_newest(&mut self, ev: &Evidence) -> Result<Newest> {
        let local_gens = Commit::list_generations(self.dir())?;
        let newest_local = local_gens.last().copied();
        // A newer commit than any here that a log file or a replica names.
        let missing = ev.missing_newest().or_else(|| {
            let (g, i) = newest_in_replicas(self.replicas, ev.index_id)?;
            ev.newest_known()
                .is_none_or(|n| g > n)
                .then(|| (g, u64::MAX, format!("replica {i}")))
        });

        let target: Option<(Commit, Source)> = match (&missing, newest_local) {
            (Some((g, _, file)), _) => {
                self.note(if file.starts_with("replica") {
                    format!("{} is missing ({file} holds it)", Commit::file_name(*g))
                } else {
                    format!(
                        "{} is missing (log file `{file}` was started after it)",
                        Commit::file_name(*g)
                    )
                });
                let t = self.commit_from_replicas(Some(*g), ev.index_id);
                if t.is_none() {
                    self.note(format!("no replica holds {}", Commit::file_name(*g)));
                }
                t
            }
            (None, Some(g)) => match Commit::read(self.dir(), g) {
                Ok(c) => Some((c, Source::Index)),
                Err(e) => {
                    self.note(format!("{}: {e}", Commit::file_name(g)));
                    let t = self.commit_from_replicas(Some(g), ev.index_id);
                    if t.is_none() {
                        self.note(format!(
                            "no replica holds an intact {}",
                            Commit::file_name(g)
                        ));
                    }
                    t
                }
            },
            (None, None) => {
                self.note("the index holds no commit".into());
                self.commit_from_replicas(None, ev.index_id)
            }
        };
        // The log position the newest commit covered, when known.
        let position = target
            .as_ref()
            .map(|t| t.0.wal_position)
            .or(missing.as_ref().map(|m| m.1).filter(|&p| p != u64::MAX));

        let generation = newest_local
            .into_iter()
            .chain(target.as_ref().map(|t| t.0.generation))
            .chain(ev.newest_known())
            .max();
        Ok(Newest {
            target,
            position,
            generation,
        })
    }

    /// Fallback 1: the newest commit made whole from replicas. `Break` when
    /// the repair is done; else the plan of the newest commit (if any),
    /// naming the segments no replica restores.
    fn try_replicas(
        &mut self,
        before: &CheckReport,
        newest: &Newest,
    ) -> Result<ControlFlow<(), Option<CommitPlan>>> {
        let Some((t, src)) = &newest.target else {
            return Ok(ControlFlow::Continue(None));
        };
        // Segments a deep check found broken although their files
        // verify: copies (identical bytes) cannot help.
        let structural: HashMap<String, String> = if *src == Source::Index {
            let intact_files: BTreeSet<&str> = before
                .segments
                .iter()
                .filter(|s| s.files.iter().all(|f| f.ok))
                .map(|s| s.name.as_str())
                .collect();
            before
                .problems
                .iter()
                .filter_map(|p| Some((p.segment.clone()?, p.message.clone())))
                .filter(|(s, _)| intact_files.contains(s.as_str()))
                .collect()
        } else {
            HashMap::new()
        };
        let plan = self.plan_commit(t, &structural);
        if plan.broken.is_empty() {
            self.execute_from_replicas(t.clone(), *src, plan, newest.generation)?;
            return Ok(ControlFlow::Break(()));
        }
        for (seg, why) in &plan.broken {
            self.note(format!("segment {}: {why}", seg.name));
        }
        Ok(ControlFlow::Continue(Some(plan)))
    }

    /// Fallback 2: an intact older commit that the log covers up to the
    /// newest commit's position. `Break` when the repair is done; else the
    /// first intact older commit the log does not cover (if any), for a
    /// repair with loss.
    fn try_older_commit(
        &mut self,
        ev: &Evidence,
        newest: &Newest,
    ) -> Result<ControlFlow<(), Option<Fallback>>> {
        let mut fallback: Option<Fallback> = None;
        let older = self.older_commits(newest.generation)?;
        if older.is_empty() {
            self.note("no older commit is kept, here or in a replica".into());
        }
        for (gen, src) in older {
            let c = match self.read_commit(gen, src) {
                Ok(c) => c,
                Err(e) => {
                    self.note(format!("{} ({src}): {e}", Commit::file_name(gen)));
                    continue;
                }
            };
            let plan = self.plan_commit(&c, &HashMap::new());
            if let Some((seg, why)) = plan.broken.first() {
                self.note(format!(
                    "older {} ({src}) is not intact either: segment {}: {why}",
                    Commit::file_name(gen),
                    seg.name
                ));
                continue;
            }
            if !ev.index_id.accepts(c.index_id) {
                self.note(format!(
                    "older {} ({src}) belongs to another index",
                    Commit::file_name(gen)
                ));
                continue;
            }
            match wal_covers(self.dir(), ev.index_id, c.wal_position, newest.position) {
                Ok(()) => {
                    let app_data = match &newest.target {
                        Some((t, _)) => t.user_data.clone(),
                        None => c.user_data.clone(),
                    };
                    self.execute_revert(c, src, plan, newest.generation, app_data)?;
                    return Ok(ControlFlow::Break(()));
                }
                Err(why) => {
                    self.note(format!(
                        "older {} ({src}) is intact, but {why}",
                        Commit::file_name(gen)
                    ));
                    if fallback.is_none() {
                        fallback = Some((c, src, plan));
                    }
                }
            }
        }
        Ok(ControlFlow::Continue(fallback))
    }

    /// Fallback 3: the newest commit without its broken segments (their
    /// documents listed), or the older commit the log does not cover (what
    /// came after it unknown), each only with `allow_loss`.
    fn with_loss(
        &mut self,
        newest: Newest,
        target_plan: Option<CommitPlan>,
        fallback: Option<Fallback>,
    ) -> Result<()> {
        if let (Some((t, _)), Some(plan)) = (&newest.target, target_plan) {
            self.report.lost = plan
                .broken
                .iter()
                .map(|(seg, why)| LostSegment {
                    segment: seg.name.clone(),
                    docs: seg.num_live() as u64,
                    ids: seg.ids.clone(),
                    id_range: seg.id_range,
                    cause: why.clone(),
                })
                .collect();
            if !self.options.allow_loss {
                self.report.outcome = RepairOutcome::NeedsAllowLoss;
                return Ok(());
            }
            return self.execute_drop(t.clone(), plan, newest.generation);
        }
        if let Some((c, src, plan)) = fallback {
            self.report.unknown_loss = Some(format!(
                "the newest commit is unreadable: what was committed after {} (and is not in \
                 the write-ahead log) is lost, and which documents that were cannot be told",
                Commit::file_name(c.generation)
            ));
            if !self.options.allow_loss {
                self.report.outcome = RepairOutcome::NeedsAllowLoss;
                return Ok(());
            }
            let app_data = c.user_data.clone();
            self.execute_revert(c, src, plan, newest.generation, app_data)?;
            self.report.outcome = RepairOutcome::RepairedWithLoss;
            return Ok(());
        }
        self.report.outcome = RepairOutcome::Unrepairable;
        Ok(())
    }

    /// Restores the damaged files (or manifests) of older kept commits
    /// from replicas holding intact copies; notes what stays damaged.
    fn restore_fallbacks(&mut self, before: &CheckReport) -> Result<()> {
        for fb in before.fallbacks.iter().filter(|f| !f.problems.is_empty()) {
            let g = fb.generation;
            if !self.dir().exists(&Commit::file_name(g))? {
                continue; // deleted meanwhile (superseded)
            }
            let (commit, restored_manifest) = match Commit::read(self.dir(), g) {
                Ok(c) => (c, false),
                Err(_) => match self.commit_from_replicas(Some(g), before.index_id) {
                    Some((c, _)) => (c, true),
                    None => {
                        self.note(format!(
                            "fallback {} stays damaged: no replica holds it",
                            Commit::file_name(g)
                        ));
                        continue;
                    }
                },
            };
            let plan = self.plan_commit(&commit, &HashMap::new());
            if let Some((seg, why)) = plan.broken.first() {
                self.note(format!(
                    "fallback {} stays damaged: segment {}: {why}",
                    Commit::file_name(g),
                    seg.name
                ));
                continue;
            }
            self.copy_in(&plan.copies)?;
            if restored_manifest {
                if let Some(Source::Replica(i)) = self
                    .commit_from_replicas(Some(g), before.index_id)
                    .map(|t| t.1)
                {
                    self.report.actions.push(RepairAction::RestoreCommit {
                        generation: g,
                        replica: i,
                    });
                }
                if !self.options.dry_run {
                    commit.write(self.dir())?;
                }
            }
            if self.report.outcome == RepairOutcome::Healthy {
                self.report.outcome = RepairOutcome::Repaired;
            }
        }
        if self.report.outcome == RepairOutcome::Repaired
            && self.report.after.is_none()
            && !self.options.dry_run
        {
            self.report.after = Some(deep_check(self.dir, self.replicas)?);
        }
        Ok(())
    }

    /// Renames every file of another index to `<file>.foreign`.
    fn set_aside_foreign(&mut self, before: &CheckReport) -> Result<()> {
        for f in &before.foreign {
            self.report.actions.push(RepairAction::SetAsideForeign {
                file: f.file.clone(),
                index_id: f.index_id,
            });
            if !self.options.dry_run {
                let aside = format!("{}{FOREIGN_SUFFIX}", f.file);
                if self.dir().exists(&aside)? {
                    self.dir().delete(&aside)?;
                }
                self.dir().rename(&f.file, &aside)?;
                self.dir().sync_dir()?;
            }
        }
        Ok(())
    }

    /// Commits the operations the log holds after the newest commit's
    /// position (replayed in `mode`): the one commit of this repair.
    fn replay_and_commit(
        &mut self,
        before: &CheckReport,
        mode: ReplayMode,
        ev: &Evidence,
    ) -> Result<()> {
        let base = match before.generation {
            Some(g) => Commit::read(self.dir(), g)?,
            None => return Err(Error::NoCommit),
        };
        let from_position = base.wal_position;
        let user_data = base.user_data.clone();
        let (generation, replay) =
            self.commit_on(base.clone(), ev.newest_known(), user_data, mode)?;
        self.report.actions.push(RepairAction::ReplayLog {
            from_position,
            generation,
        });
        self.note_rejected(&replay);
        if self.report.outcome == RepairOutcome::Healthy {
            self.report.outcome = RepairOutcome::Repaired;
        }
        let latest = self.latest_or(base)?;
        self.finish(&latest)
    }

    /// The newest commit's log position here (0 without a commit).
    fn newest_position(&self) -> Result<u64> {
        Ok(match Commit::list_generations(self.dir())?.last() {
            Some(&g) => Commit::read(self.dir(), g)?.wal_position,
            None => 0,
        })
    }

    /// Damage in the log after the newest commit's position: lists what
    /// a lenient replay skips; with permission, replays leniently and
    /// commits.
    fn drop_damaged_log(&mut self, before: &CheckReport, ev: &Evidence) -> Result<()> {
        let index_id = ev.index_id;
        let from = self.newest_position()?;
        let (_, rep) = read_logs(self.dir(), index_id, from, ReplayMode::Lenient)?;
        let id_field = before
            .generation
            .and_then(|g| Commit::read(self.dir(), g).ok())
            .and_then(|c| crate::index::integrity::id_set::id_field(&c.schema));
        self.report.lost_log = rep
            .skipped
            .iter()
            .map(|sp| {
                let ids: Vec<u64> = match id_field {
                    Some(f) => sp
                        .unverified_u64s
                        .iter()
                        .filter(|(field, _)| *field == f.0)
                        .map(|(_, v)| *v)
                        .collect(),
                    None => Vec::new(),
                };
                LostOperations {
                    file: sp.file.clone(),
                    offset: sp.offset,
                    lsns: sp.lsns,
                    ids,
                    cause: sp.reason.clone(),
                }
            })
            .collect();
        let unknown: u64 = self
            .report
            .lost_log
            .iter()
            .map(|l| match l.lsns {
                Some((a, b)) if a <= b => (b - a + 1).saturating_sub(l.ids.len() as u64),
                _ => 1,
            })
            .sum();
        if unknown > 0 {
            self.report.unknown_loss = Some(format!(
                "{unknown} damaged log operation(s) cannot be identified (deletes, or records \
                 whose bytes no longer decode)"
            ));
        }
        if !self.options.allow_loss {
            self.report.outcome = RepairOutcome::NeedsAllowLoss;
            return Ok(());
        }
        self.report.outcome = RepairOutcome::RepairedWithLoss;
        self.replay_and_commit(before, ReplayMode::Lenient, ev)
    }

    fn note(&mut self, s: String) {
        self.report.notes.push(s);
    }

    /// Reads commit `gen` from `src`.
    fn read_commit(&self, gen: u64, src: Source) -> Result<Commit> {
        match src {
            Source::Index => Commit::read(self.dir(), gen),
            Source::Replica(i) => Commit::read(self.replicas[i].as_ref(), gen),
        }
    }

    /// Commit `gen` (or the newest any replica holds) from the first
    /// replica where it reads intact.
    fn commit_from_replicas(
        &mut self,
        gen: Option<u64>,
        ours: IndexId,
    ) -> Option<(Commit, Source)> {
        let mut best: Option<(Commit, Source)> = None;
        for (i, rep) in self.replicas.iter().enumerate() {
            let g = match gen {
                Some(g) => g,
                None => match Commit::list_generations(rep.as_ref()) {
                    Ok(gs) => match gs.last() {
                        Some(&g) => g,
                        None => continue,
                    },
                    Err(_) => continue,
                },
            };
            if let Ok(c) = Commit::read(rep.as_ref(), g) {
                if !ours.accepts(c.index_id) {
                    continue;
                }
                if best.as_ref().is_none_or(|b| b.0.generation < c.generation) {
                    best = Some((c, Source::Replica(i)));
                }
            }
        }
        best
    }

    /// Every commit older than `newest` here and in the replicas, newest
    /// first (for equal generations, this index first).
    fn older_commits(&self, newest: Option<u64>) -> Result<Vec<(u64, Source)>> {
        let below = |g: &u64| newest.is_none_or(|n| *g < n);
        let mut all: Vec<(u64, Source)> = Commit::list_generations(self.dir())?
            .into_iter()
            .filter(below)
            .map(|g| (g, Source::Index))
            .collect();
        for (i, rep) in self.replicas.iter().enumerate() {
            if let Ok(gens) = Commit::list_generations(rep.as_ref()) {
                all.extend(
                    gens.into_iter()
                        .filter(below)
                        .map(|g| (g, Source::Replica(i))),
                );
            }
        }
        all.sort_by_key(|&(g, s)| {
            (
                std::cmp::Reverse(g),
                match s {
                    Source::Index => 0,
                    Source::Replica(i) => i + 1,
                },
            )
        });
        Ok(all)
    }

    /// Which files of `commit` are damaged here, and whether a replica
    /// holds an intact copy of each.
    fn plan_commit(&mut self, commit: &Commit, structural: &HashMap<String, String>) -> CommitPlan {
        let mut plan = CommitPlan {
            copies: Vec::new(),
            broken: Vec::new(),
        };
        for seg in &commit.segments {
            let mut copies = Vec::new();
            let mut why: Option<String> = None;
            for entry in &seg.files {
                if let Err(e) = verify_file(self.dir(), seg, entry, |_| {}) {
                    match self.find_in_replicas(seg, entry) {
                        Some(i) => copies.push((seg.clone(), entry.clone(), i)),
                        None => {
                            why.get_or_insert_with(|| {
                                let elsewhere = if self.replicas.is_empty() {
                                    "no replica was given"
                                } else {
                                    "no replica holds an intact copy"
                                };
                                format!("{e}; {elsewhere}")
                            });
                        }
                    }
                }
            }
            if why.is_none() && copies.is_empty() {
                if let Some(p) = structural.get(&seg.name) {
                    why = Some(format!(
                        "{p} (the files match the commit: a copy cannot help)"
                    ));
                }
            }
            match why {
                Some(w) => plan.broken.push((seg.clone(), w)),
                None => plan.copies.extend(copies),
            }
        }
        plan
    }

    /// The first replica holding an intact copy of `entry`.
    fn find_in_replicas(&mut self, seg: &SegmentMeta, entry: &FileEntry) -> Option<usize> {
        let key = (
            entry.name.clone(),
            entry.meta.len,
            entry.meta.checksum,
            seg.id,
        );
        if let Some(&hit) = self.replica_cache.get(&key) {
            return hit;
        }
        let hit = self.replicas.iter().position(|rep| {
            EnvelopeReader::open(rep.as_ref(), &entry.name)
                .map_err(Error::from)
                .and_then(|env| verify_envelope(&env, seg, entry))
                .is_ok()
        });
        self.replica_cache.insert(key, hit);
        hit
    }

    /// Copies `copies` in (nothing in a dry run), recording the actions.
    fn copy_in(&mut self, copies: &[Copy]) -> Result<()> {
        let total: u64 = copies.iter().map(|c| c.1.meta.len).sum();
        let mut done = 0u64;
        for (seg, entry, i) in copies {
            self.report.actions.push(RepairAction::CopyFile {
                file: entry.name.clone(),
                segment: seg.name.clone(),
                replica: *i,
                bytes: entry.meta.len,
            });
            if self.options.dry_run {
                continue;
            }
            let progress = &mut *self.progress;
            let n = copy_verified(
                self.replicas[*i].as_ref(),
                self.dir.as_ref(),
                seg,
                entry,
                &mut |d| {
                    progress(&RepairProgress {
                        file: entry.name.clone(),
                        done: done + d,
                        total,
                    })
                },
            )
            .map_err(|e| match e {
                CopyError::Source(e) => Error::InvalidArgument(format!(
                    "the replica's copy of `{}` changed during the repair: {e}",
                    entry.name
                )),
                CopyError::Target(e) => e,
            })?;
            done += n;
            self.report.bytes_copied += n;
        }
        if !copies.is_empty() && !self.options.dry_run {
            self.dir().sync_dir()?;
        }
        Ok(())
    }

    /// Step 1: copies, the newest manifest if it came from a replica, and
    /// the log's operations after its position if it holds any (one
    /// commit).
    fn execute_from_replicas(
        &mut self,
        t: Commit,
        src: Source,
        plan: CommitPlan,
        newest_gen: Option<u64>,
    ) -> Result<()> {
        self.copy_in(&plan.copies)?;
        if let Source::Replica(i) = src {
            self.report.actions.push(RepairAction::RestoreCommit {
                generation: t.generation,
                replica: i,
            });
            if !self.options.dry_run {
                t.write(self.dir())?;
            }
        }
        self.report.outcome = RepairOutcome::Repaired;
        let pending = match log_ops_after(self.dir(), t.index_id, t.wal_position) {
            Ok(n) => n,
            Err(e) => {
                self.note(e);
                0
            }
        };
        if pending == 0 {
            return self.finish(&t);
        }
        let user_data = t.user_data.clone();
        let from_position = t.wal_position;
        let (generation, replay) =
            self.commit_on(t.clone(), newest_gen, user_data, ReplayMode::Strict)?;
        self.report.actions.push(RepairAction::ReplayLog {
            from_position,
            generation,
        });
        self.note_rejected(&replay);
        let latest = self.latest_or(t)?;
        self.finish(&latest)
    }

    /// Step 2 (or 3 with an unreadable newest commit): one new commit with
    /// the segments of `c` and the log's operations after its position.
    /// `app_data`: the application's user data the commit keeps.
    fn execute_revert(
        &mut self,
        c: Commit,
        src: Source,
        plan: CommitPlan,
        newest_gen: Option<u64>,
        app_data: Vec<(String, String)>,
    ) -> Result<()> {
        self.copy_in(&plan.copies)?;
        let new_gen = newest_gen.unwrap_or(0).max(c.generation) + 1;
        self.report.actions.push(RepairAction::RevertToCommit {
            from_generation: c.generation,
            source: src,
            new_generation: new_gen,
            wal_position: c.wal_position,
        });
        self.report.outcome = RepairOutcome::Repaired;
        let has_log = !list_logs(self.dir())?.is_empty();
        let user_data = with_loss_record(app_data, &[], self.report.unknown_loss.as_deref());
        let (generation, replay) =
            self.commit_on(c.clone(), newest_gen, user_data, ReplayMode::Strict)?;
        if has_log {
            self.report.actions.push(RepairAction::ReplayLog {
                from_position: c.wal_position,
                generation,
            });
        }
        self.note_rejected(&replay);
        let planned = Commit {
            generation: new_gen,
            ..c
        };
        let latest = self.latest_or(planned)?;
        self.finish(&latest)
    }

    /// Step 3: one new commit with the newest commit's segments but the
    /// broken ones, and the log's operations after its position.
    fn execute_drop(&mut self, t: Commit, plan: CommitPlan, newest_gen: Option<u64>) -> Result<()> {
        self.copy_in(&plan.copies)?;
        let dropped: BTreeSet<&str> = plan.broken.iter().map(|(s, _)| s.name.as_str()).collect();
        let new_gen = newest_gen.unwrap_or(0).max(t.generation) + 1;
        let base = Commit {
            segments: t
                .segments
                .iter()
                .filter(|s| !dropped.contains(s.name.as_str()))
                .cloned()
                .collect(),
            ..t.clone()
        };
        self.report.actions.push(RepairAction::DropSegments {
            segments: dropped.iter().map(|s| s.to_string()).collect(),
            new_generation: new_gen,
        });
        self.report.outcome = RepairOutcome::RepairedWithLoss;
        // Loss is allowed: a log damaged in the middle is replayed leniently
        // (what it skips is lost too, and said so).
        let (pending, mode) = match log_ops_after(self.dir(), t.index_id, t.wal_position) {
            Ok(n) => (n, ReplayMode::Strict),
            Err(e) => {
                self.report.unknown_loss = Some(format!(
                    "{e}: the operations in its damaged spans are lost, and which documents \
                     they were cannot be told"
                ));
                (1, ReplayMode::Lenient)
            }
        };
        let user_data = with_loss_record(
            t.user_data.clone(),
            &self.report.lost,
            self.report.unknown_loss.as_deref(),
        );
        let (generation, replay) = self.commit_on(base.clone(), newest_gen, user_data, mode)?;
        if pending > 0 {
            self.report.actions.push(RepairAction::ReplayLog {
                from_position: t.wal_position,
                generation,
            });
        }
        self.note_rejected(&replay);
        for span in &replay.skipped {
            self.note(format!(
                "the write-ahead log's {} bytes at {} of {} were skipped: {}",
                span.len, span.offset, span.file, span.reason
            ));
        }
        let planned = Commit {
            generation: new_gen,
            ..base
        };
        let latest = self.latest_or(planned)?;
        self.finish(&latest)
    }

    /// Publishes the one commit a repair writes: a writer opens on `base`
    /// (its segments, every file verified again as it is read; corruption
    /// markers are not consulted: the plan verified these files whole),
    /// replays the write-ahead log after `base`'s position in memory, and
    /// commits once, as generation `newest_gen + 1`, with `user_data`.
    /// Nothing is published before that commit, and no commit is deleted.
    /// Returns the generation and what the replay found (0 and nothing in a
    /// dry run). The repair's lock is handed to the writer and taken back
    /// afterwards.
    fn commit_on(
        &mut self,
        base: Commit,
        newest_gen: Option<u64>,
        user_data: Vec<(String, String)>,
        mode: ReplayMode,
    ) -> Result<(u64, ReplayReport)> {
        if self.options.dry_run {
            return Ok((0, ReplayReport::default()));
        }
        let lock = match self.lock.take() {
            Some(l) => l,
            None => acquire_write_lock(self.dir())?,
        };
        let schema = Arc::new(base.schema.clone());
        let analyzer = self
            .analyzer
            .clone()
            .unwrap_or_else(|| Arc::new(DefaultAnalyzer::default()));
        // No log of its own (it logs nothing new: every operation it holds
        // is in the existing log until its commit covers them), no merges,
        // and every commit kept: a kill at any point must leave every
        // commit a rerun may need.
        let mut config = WriterConfig::default()
            .no_merges()
            .indexing_threads(1)
            .durability(Durability::None)
            .replay_mode(mode);
        config.keep_commits = usize::MAX;
        let start = StartAt {
            commit: base,
            newest_generation: newest_gen.unwrap_or(0),
            lock,
        };
        let cx = WriterContext {
            dir: self.dir.clone(),
            schema,
            analyzer,
            refs: FileRefs::default(),
            verify: Verify::Full,
            // No replicas: this writer merges nothing.
            healer: Arc::new(Healer::new(Vec::new(), config.heal)),
            replicator: Arc::new(Replication),
        };
        let opened = IndexWriter::open(cx, config, Start::At(start));
        let result = opened.and_then(|w| {
            let replay = w.replay_report();
            let generation = w.commit_with(user_data);
            let closed = w.close();
            drop(w);
            let generation = generation?;
            closed?;
            Ok((generation, replay))
        });
        // Best effort: only the final check and marker clean-up remain.
        self.lock = self.dir().try_lock(WRITE_LOCK).ok();
        result
    }

    /// The newest commit (after a change), or `planned` in a dry run.
    fn latest_or(&self, planned: Commit) -> Result<Commit> {
        if self.options.dry_run {
            Ok(planned)
        } else {
            Commit::read_latest(self.dir())
        }
    }

    /// Notes replayed documents the writer rejected (lost to the replay).
    fn note_rejected(&mut self, replay: &ReplayReport) {
        if replay.rejected > 0 {
            self.note(format!(
                "{} document(s) replayed from the write-ahead log were rejected by the writer \
                 (another analyzer or schema?)",
                replay.rejected
            ));
        }
    }

    /// Removes the markers of segments not in `commit` and of segments of
    /// it for which `ok` holds.
    fn remove_markers(&mut self, commit: &Commit, ok: impl Fn(&str) -> bool) -> Result<()> {
        for file in list_markers(self.dir())? {
            let Some(seg) = parse_marker_file_name(&file) else {
                continue;
            };
            let in_commit = commit.segments.iter().any(|s| s.name == seg);
            if in_commit && !ok(seg) {
                continue;
            }
            if !self
                .report
                .actions
                .contains(&RepairAction::RemoveMarker { file: file.clone() })
            {
                self.report
                    .actions
                    .push(RepairAction::RemoveMarker { file: file.clone() });
            }
            if !self.options.dry_run {
                remove_marker(self.dir(), seg)?;
            }
        }
        Ok(())
    }

    /// Clears the markers of repaired or dropped segments and runs the
    /// final deep check.
    fn finish(&mut self, latest: &Commit) -> Result<()> {
        if self.options.dry_run {
            // Every segment of the planned commit is expected to verify.
            return self.remove_markers(latest, |_| true);
        }
        let mut after = deep_check(self.dir, self.replicas)?;
        let healthy_segments: BTreeSet<String> = after
            .segments
            .iter()
            .filter(|s| s.ok)
            .map(|s| s.name.clone())
            .collect();
        let current = match after.generation {
            Some(g) => Commit::read(self.dir(), g)?,
            None => latest.clone(),
        };
        self.remove_markers(&current, |s| healthy_segments.contains(s))?;
        refresh_markers(self.dir(), &mut after)?;
        let after_id = after.index_id;
        self.report.after = Some(after);
        (self.report.unapplied_log_ops, self.report.log_error) =
            match log_ops_after(self.dir(), after_id, current.wal_position) {
                Ok(n) => (n, None),
                Err(e) => (0, Some(e)),
            };
        self.report.recorded_loss = recorded_loss(&current);
        // Documents of dropped segments that the log replay brought back
        // (updated after the commit they were dropped from) are not lost.
        if let Some(live) = live_ids(&current) {
            for l in &mut self.report.lost {
                settle(l, &live);
            }
        }
        Ok(())
    }
}

/// How many operations the write-ahead log in `dir` holds after position
/// `after` (rollbacks applied). `Err` says why the log cannot be read.
fn log_ops_after(
    dir: &dyn Directory,
    index_id: IndexId,
    after: u64,
) -> std::result::Result<u64, String> {
    match read_logs(dir, index_id, after, ReplayMode::Strict) {
        Ok((recs, _)) => Ok(recs.len() as u64),
        Err(e) => Err(format!("the write-ahead log cannot be read: {e}")),
    }
}

/// Prefix of the user-data keys of the loss a repair records in its commit.
const LOSS_KEY: &str = "lucerna.repair.lost.";
/// User-data key of the unknown loss a repair records in its commit.
const UNKNOWN_LOSS_KEY: &str = "lucerna.repair.unknown_loss";

/// `app` (an application's user data, without any earlier repair record)
/// plus the record of `lost` and `unknown`: one key per dropped segment,
/// `lucerna.repair.lost.<segment>` = `<docs> <exact|superset|range|none>
/// <id ranges, or -> <cause>`.
fn with_loss_record(
    app: Vec<(String, String)>,
    lost: &[LostSegment],
    unknown: Option<&str>,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = app
        .into_iter()
        .filter(|(k, _)| !k.starts_with(LOSS_KEY) && k != UNKNOWN_LOSS_KEY)
        .collect();
    for l in lost {
        let (tag, ranges): (&str, Vec<(u64, u64)>) = match (&l.ids, l.id_range) {
            (Some(ids), _) => (
                if ids.is_exact() { "exact" } else { "superset" },
                ids.ranges().to_vec(),
            ),
            (None, Some(r)) => ("range", vec![r]),
            (None, None) => ("none", Vec::new()),
        };
        let text = if ranges.is_empty() {
            "-".to_string()
        } else {
            ranges
                .iter()
                .map(|&(a, b)| {
                    if a == b {
                        a.to_string()
                    } else {
                        format!("{a}-{b}")
                    }
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        out.push((
            format!("{LOSS_KEY}{}", l.segment),
            format!("{} {tag} {text} {}", l.docs, l.cause),
        ));
    }
    if let Some(u) = unknown {
        out.push((UNKNOWN_LOSS_KEY.to_string(), u.to_string()));
    }
    out
}

/// The loss recorded in `commit` by the repair that wrote it (see
/// [`with_loss_record`]), without the ids `commit` holds again. Records
/// that do not parse are skipped.
fn recorded_loss(commit: &Commit) -> Vec<LostSegment> {
    let live = live_ids(commit);
    let mut out = Vec::new();
    for (k, v) in &commit.user_data {
        let Some(segment) = k.strip_prefix(LOSS_KEY) else {
            continue;
        };
        let Some(mut l) = parse_loss(segment, v) else {
            continue;
        };
        if let Some(live) = &live {
            settle(&mut l, live);
        }
        out.push(l);
    }
    out
}

fn parse_loss(segment: &str, v: &str) -> Option<LostSegment> {
    let mut parts = v.splitn(4, ' ');
    let docs: u64 = parts.next()?.parse().ok()?;
    let tag = parts.next()?;
    let text = parts.next()?;
    let cause = parts.next().unwrap_or("").to_string();
    let mut ranges = Vec::new();
    if text != "-" {
        for r in text.split(',') {
            let (a, b) = match r.split_once('-') {
                Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
                None => {
                    let a: u64 = r.parse().ok()?;
                    (a, a)
                }
            };
            if a > b {
                return None;
            }
            ranges.push((a, b));
        }
    }
    // Sorted, disjoint and non-adjacent, as an IdSet holds them.
    ranges.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match merged.last_mut() {
            Some(last) if r.0 <= last.1.saturating_add(1) => last.1 = last.1.max(r.1),
            _ => merged.push(r),
        }
    }
    let (ids, id_range) = match tag {
        "exact" | "superset" => {
            let ids = IdSet::from_ranges(merged, tag == "exact");
            let bounds = ids.bounds();
            (Some(ids), bounds)
        }
        "range" => (
            None,
            merged
                .first()
                .map(|&(a, _)| a)
                .zip(merged.last().map(|&(_, b)| b)),
        ),
        _ => (None, None),
    };
    Some(LostSegment {
        segment: segment.to_string(),
        docs,
        ids,
        id_range,
        cause,
    })
}

/// The exact ids of `commit`'s live documents, when every segment records
/// them exactly.
fn live_ids(commit: &Commit) -> Option<IdSet> {
    let all = commit.segments.iter().try_fold(IdSet::new(), |acc, s| {
        let ids = s.ids.as_ref().filter(|i| i.is_exact())?;
        Some(acc.union(ids))
    })?;
    all.is_exact().then_some(all)
}

/// Removes from `l` the ids of `live` (documents that are there after all).
fn settle(l: &mut LostSegment, live: &IdSet) {
    let Some(ids) = &l.ids else {
        return;
    };
    if !ids.is_exact() {
        return;
    }
    let rest = ids.difference(live);
    if rest.len() != ids.len() {
        l.docs = rest.len();
        l.id_range = rest.bounds();
        l.ids = Some(rest);
    }
}

/// Whether the write-ahead log of index `index_id` in `dir` holds every
/// operation after log position `from` (up to `to`, the newest commit's
/// position, when known): no damage, no foreign file in that range, and
/// every sequence number present. `Err` says why not.
fn wal_covers(
    dir: &dyn Directory,
    index_id: IndexId,
    from: u64,
    to: Option<u64>,
) -> std::result::Result<(), String> {
    if let Some(to) = to {
        if to == from && from > 0 {
            // No operation between the two commits (merges only).
            return Ok(());
        }
    }
    let logs = list_logs(dir).map_err(|e| format!("the write-ahead log cannot be listed: {e}"))?;
    let Some((first, _)) = logs.first() else {
        return Err("there is no write-ahead log to replay the later operations from".into());
    };
    if *first > from.saturating_add(1) {
        return Err(format!(
            "the write-ahead log starts at position {first}, after the commit's position {from}"
        ));
    }
    let (_, rep) = read_logs(dir, index_id, from, ReplayMode::Strict)
        .map_err(|e| format!("the write-ahead log cannot be replayed: {e}"))?;
    if let Some(to) = to {
        if let Some(&(a, b)) = rep.gaps.iter().find(|g| g.0 <= to) {
            return Err(format!(
                "operations {a}..={} are missing from the write-ahead log",
                b.min(to)
            ));
        }
        if rep.max_lsn < to {
            return Err(format!(
                "the write-ahead log ends at position {}, before the newest commit's {to}",
                rep.max_lsn
            ));
        }
    }
    Ok(())
}
