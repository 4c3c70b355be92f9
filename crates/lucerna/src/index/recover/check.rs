//! Index checking, in the spirit of Lucene's `CheckIndex`: every file of
//! the newest commit is verified against the commit's recorded length and
//! CRC, its envelope and full checksum are verified, and (with `deep`)
//! every structure is decoded: every term's postings and positions, every
//! stored document, every column value. [Corruption
//! markers](crate::index::FileKind::CorruptionMarker) are listed, and (by
//! [`check_index`]) written for the damaged segments found.

use crate::error::{Error, Result};
use crate::index::integrity::commit::{Commit, FileEntry, SegmentMeta};
use crate::index::integrity::corrupt_marker::{
    list_markers, mark_corrupt, marker_file_name, parse_marker_file_name, read_marker,
};
use crate::index::integrity::evidence::{Evidence, ForeignFile};
use crate::index::integrity::file_kind::FileKind;
use crate::index::integrity::file_refs::FileRefs;
use crate::index::integrity::identity::IndexId;
use crate::index::integrity::verify::{verify_file, Verify};
use crate::index::read::segment_reader::SegmentReader;
use crate::index::write::writer::WRITE_LOCK;
use crate::search::scorer::TERMINATED;
use crate::wal::{read_logs, ReplayMode, SkippedSpan};
use lucerna_store::{Directory, StoreError};
use std::sync::Arc;

/// One problem, always naming its file.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The file.
    pub file: String,
    /// Its kind.
    pub kind: FileKind,
    /// The segment it belongs to, if any.
    pub segment: Option<String>,
    /// Byte offset of the problem, when known.
    pub offset: Option<u64>,
    /// What is wrong.
    pub message: String,
    /// The file is missing.
    pub missing: bool,
}

/// The check of one file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileCheck {
    /// File name.
    pub name: String,
    /// Kind.
    pub kind: FileKind,
    /// Length recorded in the commit.
    pub expected_len: u64,
    /// CRC recorded in the commit.
    pub expected_crc: u32,
    /// Actual length, if the file exists.
    pub actual_len: Option<u64>,
    /// Actual CRC (footer), if readable.
    pub actual_crc: Option<u32>,
    /// True when the file is intact.
    pub ok: bool,
}

/// The check of one segment.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentCheck {
    /// Segment name.
    pub name: String,
    /// Documents.
    pub max_doc: u32,
    /// Deleted documents.
    pub deleted: u32,
    /// Range of the `id` field, if recorded.
    pub id_range: Option<(u64, u64)>,
    /// Files.
    pub files: Vec<FileCheck>,
    /// Terms decoded (deep check).
    pub terms: u64,
    /// Postings entries decoded (deep check).
    pub postings: u64,
    /// The segment's corruption marker file, if it has one.
    pub marker: Option<String>,
    /// True when every file and structure is intact.
    pub ok: bool,
}

/// A corruption marker found in the index directory.
#[derive(Debug, Clone, PartialEq)]
pub struct MarkerReport {
    /// The marker file (`corrupted-<segment>`).
    pub file: String,
    /// The segment it marks.
    pub segment: String,
    /// True when it marks a segment of the checked commit (same name and
    /// id): that segment will not open until `repair` clears the marker.
    /// False for a stale marker (harmless; `repair` removes it).
    pub active: bool,
    /// The damaged file the marker records (None when unreadable).
    pub damaged_file: Option<String>,
    /// Offset of the problem in that file, when known.
    pub offset: Option<u64>,
    /// The problem the marker records (or why the marker is unreadable).
    pub message: String,
}

/// The result of [`check_index`].
#[derive(Debug, Clone, PartialEq)]
pub struct CheckReport {
    /// Generation checked (None when no commit is readable).
    pub generation: Option<u64>,
    /// Segments.
    pub segments: Vec<SegmentCheck>,
    /// Every problem found.
    pub problems: Vec<Problem>,
    /// Corruption markers in the directory.
    pub markers: Vec<MarkerReport>,
    /// Live documents (of the intact segments).
    pub docs: u64,
    /// The index's identity (see [`Evidence`]).
    pub index_id: IndexId,
    /// The write-ahead log against the checked commit.
    pub log: LogCheck,
    /// The older kept commits (the fallbacks `repair` relies on), newest
    /// first.
    pub fallbacks: Vec<FallbackCheck>,
    /// Files of another index (each is also a problem).
    pub foreign: Vec<ForeignFile>,
    /// A newer commit than the checked one existed and is missing (also a
    /// problem).
    pub missing_newest: Option<u64>,
}

/// The write-ahead log, as [`check_index`] found it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogCheck {
    /// Log files of this index.
    pub files: usize,
    /// Operations logged after the checked commit's position: acknowledged,
    /// not yet in a commit. A writer replays them when it opens (a running
    /// writer holds them in memory); `repair` commits them.
    pub pending: u64,
    /// True when [`pending`](Self::pending) operations exist and no writer
    /// holds the index (none was running when the check looked): they
    /// were acknowledged, no commit holds them, and searches miss them
    /// until a writer opens or `repair` commits them. A problem then.
    pub unattended: bool,
    /// Highest sequence number logged.
    pub max_lsn: u64,
    /// Torn tails (never acknowledged).
    pub torn: Vec<SkippedSpan>,
    /// Damage to records the commit already holds: harmless, reported.
    pub covered_damage: Vec<SkippedSpan>,
}

/// The check of one older kept commit.
#[derive(Debug, Clone, PartialEq)]
pub struct FallbackCheck {
    /// Its generation.
    pub generation: u64,
    /// What is damaged in it (files the newest commit shares are checked
    /// with the newest commit).
    pub problems: Vec<Problem>,
}

impl CheckReport {
    /// True when nothing is wrong with what the index serves: a readable
    /// newest commit, no problem (the log after it, foreign files and a
    /// missing newer commit included), and no segment of it marked
    /// corrupt. Damage to older kept commits is reported apart: see
    /// [`fallbacks_intact`](Self::fallbacks_intact).
    pub fn healthy(&self) -> bool {
        self.problems.is_empty()
            && self.generation.is_some()
            && !self.markers.iter().any(|m| m.active)
    }

    /// True when every older kept commit verifies (what `repair` falls
    /// back to when the newest commit's files are damaged).
    pub fn fallbacks_intact(&self) -> bool {
        self.fallbacks.iter().all(|f| f.problems.is_empty())
    }
}

/// What [`check_index_with`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckOptions {
    /// Also decode every structure (every term, posting, position, stored
    /// document and column value).
    pub deep: bool,
    /// Write a corruption marker for every segment found damaged (best
    /// effort), as [`check_index`] does. `false` changes no byte.
    pub write_markers: bool,
}

fn problem_from(err: &Error, file: &str, segment: Option<&str>) -> Problem {
    let (offset, missing, file) = match err {
        Error::Store(StoreError::Corrupt { offset, file, .. }) => {
            (Some(*offset), false, file.clone())
        }
        Error::Store(StoreError::NotFound { file }) => (None, true, file.clone()),
        _ => (None, false, file.to_string()),
    };
    Problem {
        kind: FileKind::of(&file),
        file,
        segment: segment.map(str::to_string),
        offset,
        message: err.to_string(),
        missing,
    }
}

/// A problem found while opening or decoding segment `seg`: it names the
/// file the store error names, else the segment.
fn segment_problem(err: &Error, seg: &SegmentMeta) -> Problem {
    let file = match err {
        Error::Store(se) => se.file().to_string(),
        _ => seg.name.clone(),
    };
    problem_from(err, &file, Some(&seg.name))
}

/// Checks one file against the commit's record of it.
fn check_file(
    dir: &dyn Directory,
    seg: &SegmentMeta,
    entry: &FileEntry,
) -> (FileCheck, Option<(Problem, Error)>) {
    let name = entry.name.as_str();
    let mut fc = FileCheck {
        name: name.to_string(),
        kind: FileKind::of(name),
        expected_len: entry.meta.len,
        expected_crc: entry.meta.checksum,
        actual_len: None,
        actual_crc: None,
        ok: false,
    };
    let res = verify_file(dir, seg, entry, |env| {
        fc.actual_len = Some(env.len());
        fc.actual_crc = Some(env.checksum());
    });
    match res {
        Ok(()) => {
            fc.ok = true;
            (fc, None)
        }
        Err(e) => {
            if fc.actual_len.is_none() {
                fc.actual_len = dir.file_len(name).ok();
            }
            let p = problem_from(&e, name, Some(&seg.name));
            (fc, Some((p, e)))
        }
    }
}

/// Decodes every structure of an opened segment.
fn deep_check(r: &SegmentReader, sc: &mut SegmentCheck) -> Result<()> {
    let core = r.core();
    for item in core.termdict.prefix(&[])? {
        let (_, info) = item?;
        sc.terms += 1;
        let mut p = core.postings.postings(&info)?;
        let mut d = p.doc();
        let mut n = 0u64;
        let mut pos = Vec::new();
        while d != TERMINATED {
            pos.clear();
            p.positions(&mut pos)?;
            n += 1;
            d = p.advance()?;
        }
        sc.postings += n;
    }
    for rec in core.stored.iter() {
        rec?;
    }
    for f in core.columns.fields().collect::<Vec<_>>() {
        if let Some(c) = core.columns.column(f) {
            for d in 0..r.max_doc() {
                std::hint::black_box(c.get_opt(d));
            }
        }
    }
    Ok(())
}

/// Checks the newest commit of `dir`. `deep` also decodes every structure.
/// Never fails on a damaged index: damage is reported as problems. Writes
/// a corruption marker for each damaged segment (best effort; see
/// [`check_index_with`] to change nothing).
pub fn check_index(dir: &Arc<dyn Directory>, deep: bool) -> Result<CheckReport> {
    check_index_with(
        dir,
        CheckOptions {
            deep,
            write_markers: true,
        },
    )
}

/// Lists the corruption markers of `dir`; `commit` says which are active.
fn marker_reports(dir: &dyn Directory, commit: Option<&Commit>) -> Result<Vec<MarkerReport>> {
    let mut out = Vec::new();
    for file in list_markers(dir)? {
        let segment = parse_marker_file_name(&file)
            .unwrap_or_default()
            .to_string();
        let current = commit.and_then(|c| c.segments.iter().find(|s| s.name == segment));
        let m = match read_marker(dir, &file) {
            Ok(m) => MarkerReport {
                active: current.is_some_and(|s| s.id == m.segment_id && m.segment == segment),
                file,
                segment,
                damaged_file: Some(m.file),
                offset: m.offset,
                message: m.message,
            },
            Err(e) => MarkerReport {
                active: current.is_some(),
                file,
                segment,
                damaged_file: None,
                offset: None,
                message: format!("unreadable marker: {e}"),
            },
        };
        out.push(m);
    }
    Ok(out)
}

/// How many times a check starts again on the newest commit when a
/// writer superseded the commit it was checking (see [`check_index_with`]).
const MAX_ATTEMPTS: usize = 20;

/// [`check_index`] with options.
///
/// The check pins the commit it checks the only way another process's
/// writer allows: when it found a problem and the directory's commits
/// changed meanwhile (a writer committed and deleted files of the commit
/// being checked), it checks the newest commit again, so a writer at work
/// never makes a healthy index look damaged. Markers are written only for
/// problems that survive that confirmation.
pub fn check_index_with(dir: &Arc<dyn Directory>, options: CheckOptions) -> Result<CheckReport> {
    check_index_against(dir, &[], options)
}

/// [`check_index_with`], also comparing the index with `replicas`: a
/// replica holding a newer commit of this index than the directory's
/// newest means the directory lost commits (restored from an old backup,
/// a deleted manifest), and is a problem
/// ([`CheckReport::missing_newest`]).
pub fn check_index_against(
    dir: &Arc<dyn Directory>,
    replicas: &[Arc<dyn Directory>],
    options: CheckOptions,
) -> Result<CheckReport> {
    let mut attempt = 0;
    loop {
        let before = Commit::list_generations(dir.as_ref())?;
        let (mut report, damaged) = check_once(dir, replicas, options.deep)?;
        let after = Commit::list_generations(dir.as_ref())?;
        let disturbed = before != after
            && (!report.problems.is_empty()
                || report.fallbacks.iter().any(|f| !f.problems.is_empty()));
        if disturbed && attempt + 1 < MAX_ATTEMPTS {
            attempt += 1;
            continue;
        }
        if options.write_markers {
            for (seg, e) in &damaged {
                mark_corrupt(dir.as_ref(), seg, e);
            }
        }
        let commit = match report.generation {
            Some(g) => Commit::read(dir.as_ref(), g).ok(),
            None => None,
        };
        set_markers(&mut report, marker_reports(dir.as_ref(), commit.as_ref())?);
        return Ok(report);
    }
}

/// One pass of the check: the report without markers, and the damaged
/// segments with their first corruption (for markers).
fn check_once(
    dir: &Arc<dyn Directory>,
    replicas: &[Arc<dyn Directory>],
    deep: bool,
) -> Result<(CheckReport, Vec<(SegmentMeta, Error)>)> {
    let evidence = Evidence::gather(dir.as_ref())?;
    let mut report = CheckReport {
        generation: None,
        index_id: evidence.index_id,
        segments: Vec::new(),
        problems: Vec::new(),
        markers: Vec::new(),
        docs: 0,
        log: LogCheck::default(),
        fallbacks: Vec::new(),
        foreign: evidence.foreign.clone(),
        missing_newest: None,
    };
    evidence_problems(&evidence, replicas, &mut report);
    let Some(commit) = newest_to_check(dir.as_ref(), &evidence, &mut report)? else {
        return Ok((report, Vec::new()));
    };
    report.generation = Some(commit.generation);
    let damaged = check_segments(dir, &commit, deep, &mut report)?;
    check_log(dir.as_ref(), &commit, evidence.index_id, &mut report);
    check_fallbacks(dir.as_ref(), &commit, &evidence, &mut report);
    Ok((report, damaged))
}

/// What the manifests, log headers and replicas say beyond the newest
/// commit: files of another index, and a newer commit that is missing.
fn evidence_problems(
    evidence: &Evidence,
    replicas: &[Arc<dyn Directory>],
    report: &mut CheckReport,
) {
    for f in &evidence.foreign {
        report.problems.push(Problem {
            file: f.file.clone(),
            kind: FileKind::of(&f.file),
            segment: None,
            offset: None,
            message: format!(
                "belongs to another index (id {}; this index is {}): never trusted or replayed; \
                 `repair` sets it aside",
                f.index_id, evidence.index_id
            ),
            missing: false,
        });
    }
    let newest_here = evidence
        .newest_on_disk()
        .map(Commit::file_name)
        .unwrap_or_else(|| "none".into());
    let missing = |g: u64, message: String| Problem {
        file: Commit::file_name(g),
        kind: FileKind::CommitManifest,
        segment: None,
        offset: None,
        message,
        missing: true,
    };
    if let Some((g, pos, file)) = evidence.missing_newest() {
        report.missing_newest = Some(g);
        report.problems.push(missing(
            g,
            format!(
                "the newest commit is missing: log file `{file}` was started after {} (which \
                 covered operations up to {pos}), but the newest commit here is {newest_here}; \
                 searches would miss what it held. `repair` restores it from a replica or \
                 rebuilds it from an older commit plus the log",
                Commit::file_name(g),
            ),
        ));
        return;
    }
    if let Some((g, i)) = newest_in_replicas(replicas, evidence.index_id) {
        if evidence.newest_known().is_none_or(|n| g > n) {
            report.missing_newest = Some(g);
            report.problems.push(missing(
                g,
                format!(
                    "replica {i} holds {}, newer than every commit here ({newest_here}): this \
                     index lost commits; `repair` restores it from the replica",
                    Commit::file_name(g),
                ),
            ));
        }
    }
}

/// The commit to check: the newest of this index (a newer one of another
/// index is skipped; an unreadable newer one is the problem reported).
/// `None` when there is none to check.
fn newest_to_check(
    dir: &dyn Directory,
    evidence: &Evidence,
    report: &mut CheckReport,
) -> Result<Option<Commit>> {
    let g = match (evidence.newest_on_disk(), evidence.unreadable.last()) {
        (Some(g), Some(u)) if u.0 > g => u.0,
        (Some(g), _) => g,
        (None, Some(u)) => u.0,
        (None, None) => {
            if Commit::list_generations(dir)?.is_empty() {
                report.problems.push(Problem {
                    file: "commit-*".into(),
                    kind: FileKind::CommitManifest,
                    segment: None,
                    offset: None,
                    message: "no commit found".into(),
                    missing: true,
                });
            }
            return Ok(None);
        }
    };
    match Commit::read(dir, g) {
        Ok(c) => Ok(Some(c)),
        // Not damage: this build cannot check it at all.
        Err(Error::Store(e)) if e.is_incompatible() => Err(e.into()),
        Err(e) => {
            report
                .problems
                .push(problem_from(&e, &Commit::file_name(g), None));
            Ok(None)
        }
    }
}

/// The newest generation of index `ours` any replica holds, and the
/// first replica holding it.
pub(crate) fn newest_in_replicas(
    replicas: &[Arc<dyn Directory>],
    ours: IndexId,
) -> Option<(u64, usize)> {
    let mut best: Option<(u64, usize)> = None;
    for (i, r) in replicas.iter().enumerate() {
        let Ok(gens) = Commit::list_generations(r.as_ref()) else {
            continue;
        };
        for &g in gens.iter().rev() {
            match Commit::read(r.as_ref(), g) {
                Ok(c) if ours.accepts(c.index_id) => {
                    if best.is_none_or(|b| g > b.0) {
                        best = Some((g, i));
                    }
                    break;
                }
                _ => continue,
            }
        }
    }
    best
}

/// Checks every segment of `commit` (files, then structures), adding to
/// the report. Returns the damaged segments with their first corruption.
fn check_segments(
    dir: &Arc<dyn Directory>,
    commit: &Commit,
    deep: bool,
    report: &mut CheckReport,
) -> Result<Vec<(SegmentMeta, Error)>> {
    let schema = Arc::new(commit.schema.clone());
    let refs = FileRefs::default();
    let mut damaged = Vec::new();
    for seg in &commit.segments {
        let mut sc = SegmentCheck {
            name: seg.name.clone(),
            max_doc: seg.max_doc,
            deleted: seg.num_deleted,
            id_range: seg.id_range,
            files: Vec::new(),
            terms: 0,
            postings: 0,
            marker: None,
            ok: true,
        };
        // The first corruption found in the segment, for its marker.
        let mut first_corruption: Option<Error> = None;
        for f in &seg.files {
            let (fc, p) = check_file(dir.as_ref(), seg, f);
            if let Some((p, e)) = p {
                incompatible(e.clone_incompatible())?;
                sc.ok = false;
                if first_corruption.is_none() && e.is_corrupt() {
                    first_corruption = Some(e);
                }
                report.problems.push(p);
            }
            sc.files.push(fc);
        }
        if sc.ok {
            match SegmentReader::open_unmarked(
                dir.as_ref(),
                seg,
                schema.clone(),
                &refs,
                Verify::Structure,
            ) {
                Ok(r) => {
                    if r.num_live() != seg.num_live() {
                        sc.ok = false;
                        let f = seg.livedocs_file(seg.del_gen);
                        let message = format!(
                            "live documents {} differ from the commit's {}",
                            r.num_live(),
                            seg.num_live()
                        );
                        first_corruption.get_or_insert_with(|| {
                            StoreError::corrupt(
                                f.clone(),
                                0,
                                seg.num_live() as u64,
                                r.num_live() as u64,
                                message.clone(),
                            )
                            .into()
                        });
                        report.problems.push(Problem {
                            kind: FileKind::of(&f),
                            file: f,
                            segment: Some(seg.name.clone()),
                            offset: None,
                            message,
                            missing: false,
                        });
                    }
                    if deep {
                        if let Err(e) = deep_check(&r, &mut sc) {
                            sc.ok = false;
                            report.problems.push(segment_problem(&e, seg));
                            first_corruption.get_or_insert(e);
                        }
                    }
                }
                Err(e) => {
                    incompatible(e.clone_incompatible())?;
                    sc.ok = false;
                    report.problems.push(segment_problem(&e, seg));
                    first_corruption.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_corruption {
            damaged.push((seg.clone(), e));
        }
        if sc.ok {
            report.docs += seg.num_live() as u64;
        }
        report.segments.push(sc);
    }
    Ok(damaged)
}

/// An incompatible file (another format version) is not damage: the check
/// cannot run on this index at all.
fn incompatible(e: Option<Error>) -> Result<()> {
    match e {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Reads the write-ahead log against `commit`'s position: records after it
/// must be intact (else a problem naming file and offset); damage to
/// records the commit covers is reported as harmless.
fn check_log(dir: &dyn Directory, commit: &Commit, index_id: IndexId, report: &mut CheckReport) {
    let id = if index_id.is_known() {
        index_id
    } else {
        commit.index_id
    };
    match read_logs(dir, id, commit.wal_position, ReplayMode::Lenient) {
        Ok((records, rep)) => {
            let pending = records.len() as u64;
            // Is a writer alive? Holding the lock for an instant tells
            // (writers retry a lock found held, so this never fails one).
            let unattended = pending > 0
                && match dir.try_lock(WRITE_LOCK) {
                    Ok(guard) => {
                        drop(guard);
                        true
                    }
                    Err(_) => false,
                };
            if unattended {
                report.problems.push(Problem {
                    file: Commit::file_name(commit.generation),
                    kind: FileKind::PendingOperations,
                    segment: None,
                    offset: None,
                    message: format!(
                        "{pending} acknowledged operation(s) after the newest commit's position \
                         {} are in no commit and no writer is running (one was killed?): \
                         searches miss them until a writer opens (it replays them) or `repair` \
                         commits them",
                        commit.wal_position
                    ),
                    missing: false,
                });
            }
            report.log = LogCheck {
                files: rep.files,
                pending,
                unattended,
                max_lsn: rep.max_lsn,
                torn: rep.torn,
                covered_damage: rep.covered_damage,
            };
            for sp in rep.skipped {
                let lost = match sp.lsns {
                    Some((a, b)) if a <= b => format!("; operations {a}..={b} are unreadable"),
                    _ => String::new(),
                };
                report.problems.push(Problem {
                    kind: FileKind::of(&sp.file),
                    file: sp.file,
                    segment: None,
                    offset: Some(sp.offset),
                    message: format!(
                        "{} ({} bytes) after the newest commit's position {}{lost}: a writer \
                         refuses to open; `repair --allow-loss` drops them and lists what is lost",
                        sp.reason, sp.len, commit.wal_position
                    ),
                    missing: false,
                });
            }
        }
        Err(e) => report.problems.push(Problem {
            file: e_file(&e),
            kind: FileKind::WriteAheadLog,
            segment: None,
            offset: None,
            message: e.to_string(),
            missing: false,
        }),
    }
}

fn e_file(e: &StoreError) -> String {
    e.file().to_string()
}

/// Verifies every older kept commit (its manifest, and every file of it
/// the newest commit does not share) and reports damage to these
/// fallbacks separately.
fn check_fallbacks(dir: &dyn Directory, newest: &Commit, ev: &Evidence, report: &mut CheckReport) {
    let shared: std::collections::HashSet<String> = newest.referenced_files().into_iter().collect();
    let mut older: Vec<u64> = ev
        .generations
        .iter()
        .copied()
        .filter(|&g| g < newest.generation)
        .collect();
    older.extend(
        ev.unreadable
            .iter()
            .map(|u| u.0)
            .filter(|&g| g < newest.generation),
    );
    older.sort_unstable();
    for g in older.into_iter().rev() {
        let mut fc = FallbackCheck {
            generation: g,
            problems: Vec::new(),
        };
        match Commit::read(dir, g) {
            Ok(c) => {
                for seg in &c.segments {
                    for f in seg.files.iter().filter(|f| !shared.contains(&f.name)) {
                        if let (_, Some((p, _))) = check_file(dir, seg, f) {
                            fc.problems.push(p);
                        }
                    }
                }
            }
            Err(e) => fc
                .problems
                .push(problem_from(&e, &Commit::file_name(g), None)),
        }
        report.fallbacks.push(fc);
    }
}

/// Sets the report's markers, and each segment's.
fn set_markers(report: &mut CheckReport, markers: Vec<MarkerReport>) {
    report.markers = markers;
    for sc in &mut report.segments {
        let name = marker_file_name(&sc.name);
        sc.marker = report
            .markers
            .iter()
            .any(|m| m.active && m.file == name)
            .then_some(name);
    }
}

/// Lists the markers of `dir` again into `report` (after some were
/// removed).
pub(crate) fn refresh_markers(dir: &dyn Directory, report: &mut CheckReport) -> Result<()> {
    let commit = match report.generation {
        Some(g) => Commit::read(dir, g).ok(),
        None => None,
    };
    let markers = marker_reports(dir, commit.as_ref())?;
    set_markers(report, markers);
    Ok(())
}
