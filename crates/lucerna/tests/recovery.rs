//! Recovery: for every file kind, a flipped byte, a truncation or a missing
//! file is named by `check` (file, kind, segment, location); with a replica
//! kept in sync by `replicate`, `repair` restores every document; without
//! one but with a kept older commit and the write-ahead log, `repair`
//! restores every document too; with neither, `repair` without
//! `allow_loss` changes no byte and says why, and with it drops exactly
//! the damaged segment and reports exactly the ids lost. A corruption
//! marker survives a restart until `repair`; a replica serves searches.

use lucerna::index::check::check_index;
use lucerna::index::recovery::{repair, RepairAction, RepairOptions, RepairOutcome};
use lucerna::index::replica::{replicate, replication_lag};
use lucerna::index::Commit;
use lucerna::index::FileKind;
use lucerna::index::IdSet;
use lucerna::internals::corrupt_marker::{list_markers, marker_file_name};
use lucerna::internals::SearcherInternals;
use lucerna::schema::{Field, NumericKind, Schema};
use lucerna::store::rng::SplitMix64;
use lucerna::store::{write_file, Directory, FsDirectory, RamDirectory};
use lucerna::{Document, Index, Query, WriterConfig};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

const WORDS: &[&str] = &["disk", "full", "error", "node", "alpha", "beta", "gamma"];

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    key: Field,
    body: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let id = b.add_numeric("id", NumericKind::U64, true);
    b.required();
    let key = b.add_keyword("key", true);
    let body = b.add_text("body", true);
    (b.build().unwrap(), Fields { id, key, body })
}

fn doc(f: Fields, id: u64, rng: &mut SplitMix64) -> Document {
    let mut d = Document::new();
    let words: Vec<&str> = (0..1 + rng.below(6))
        .map(|_| WORDS[rng.below(WORDS.len() as u64) as usize])
        .collect();
    d.add_u64(f.id, id)
        .add_text(f.key, format!("k{id}"))
        .add_text(f.body, words.join(" "));
    d
}

/// The index the cases damage: two commits (generations 2 and 3) over five
/// segments, with deletes applied at flush (`seg_4`) and at commit (`seg_0`
/// twice, `seg_3`), and an update.
struct Built {
    dir: RamDirectory,
    replica: RamDirectory,
    f: Fields,
    /// Live ids per segment of the newest commit.
    truth: BTreeMap<String, BTreeSet<u64>>,
}

impl Built {
    fn all(&self) -> BTreeSet<u64> {
        self.truth.values().flatten().copied().collect()
    }
}

fn build(keep_commits: usize, seed: u64) -> Built {
    let (schema, f) = schema();
    let dir = RamDirectory::new();
    let replica = RamDirectory::new();
    let index = Index::create(dir.clone(), schema).unwrap();
    let mut cfg = WriterConfig::default()
        .no_merges()
        .indexing_threads(1)
        .max_buffered_docs(10);
    cfg.keep_commits = keep_commits;
    let w = index.writer(cfg).unwrap();
    let mut rng = SplitMix64::new(seed);
    for id in 0..30 {
        w.add_document(doc(f, id, &mut rng)).unwrap();
    }
    w.delete_term(f.key, "k5").unwrap();
    w.commit().unwrap();
    replicate(&dir, &replica, &index.latest_commit().unwrap()).unwrap();
    for id in 30..45 {
        w.add_document(doc(f, id, &mut rng)).unwrap();
        if id == 41 {
            // Applied when the buffer flushes: seg_4 gets its live docs then.
            w.delete_term(f.key, "k41").unwrap();
        }
        if id == 39 {
            w.flush().unwrap();
        }
    }
    w.delete_term(f.key, "k7").unwrap();
    w.delete_term(f.key, "k33").unwrap();
    w.update_document(f.key, "k12", doc(f, 12, &mut rng))
        .unwrap();
    w.commit().unwrap();
    drop(w);
    let commit = index.latest_commit().unwrap();
    assert_eq!(commit.generation, 3);
    replicate(&dir, &replica, &commit).unwrap();
    let truth = live_ids_by_segment(&dir, f);
    let all: BTreeSet<u64> = truth.values().flatten().copied().collect();
    let expected: BTreeSet<u64> = (0..45).filter(|i| ![5, 7, 33, 41].contains(i)).collect();
    assert_eq!(all, expected);
    Built {
        dir,
        replica,
        f,
        truth,
    }
}

fn live_ids_by_segment(dir: &RamDirectory, f: Fields) -> BTreeMap<String, BTreeSet<u64>> {
    let s = Index::open(dir.clone())
        .unwrap()
        .reader()
        .unwrap()
        .searcher();
    let mut out = BTreeMap::new();
    for seg in s.segments() {
        let ids: &mut BTreeSet<u64> = out.entry(seg.meta().name.clone()).or_default();
        for d in 0..seg.max_doc() {
            if seg.is_live(d) {
                ids.insert(seg.column_value(f.id, d).unwrap());
            }
        }
    }
    out
}

/// Every live id of the index in `dir` (each once), and the searcher's
/// live-document count.
fn all_ids(dir: &RamDirectory, f: Fields) -> (BTreeSet<u64>, u64) {
    let s = Index::open(dir.clone())
        .unwrap()
        .reader()
        .unwrap()
        .searcher();
    let mut ids = BTreeSet::new();
    for seg in s.segments() {
        for d in 0..seg.max_doc() {
            if seg.is_live(d) {
                let id = seg.column_value(f.id, d).unwrap();
                assert!(ids.insert(id), "id {id} twice");
            }
        }
    }
    (ids, s.num_docs())
}

fn arc(dir: &RamDirectory) -> Arc<dyn Directory> {
    Arc::new(dir.clone())
}

/// Every file's bytes (or its open error).
fn snapshot(dir: &RamDirectory) -> BTreeMap<String, Vec<u8>> {
    dir.list()
        .unwrap()
        .into_iter()
        .map(|n| {
            let b = match dir.open(&n) {
                Ok(s) => s.to_vec(),
                Err(e) => format!("unreadable: {e}").into_bytes(),
            };
            (n, b)
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Damage {
    Flip,
    Truncate,
    Delete,
}

const DAMAGES: [Damage; 3] = [Damage::Flip, Damage::Truncate, Damage::Delete];

fn damage(dir: &RamDirectory, name: &str, how: Damage) {
    let mut b = dir.open(name).unwrap().to_vec();
    dir.delete(name).unwrap();
    match how {
        Damage::Flip => {
            let i = b.len() / 2;
            b[i] ^= 0x40;
        }
        Damage::Truncate => b.truncate(b.len() - 7),
        Damage::Delete => return,
    }
    write_file(dir, name, &b).unwrap();
}

/// `seg_<n>` of a segment file name.
fn segment_of(file: &str) -> Option<String> {
    let rest = file.strip_prefix("seg_")?;
    let n: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    Some(format!("seg_{n}"))
}

/// The files damaged: for every file kind, the file of `seg_3` (only in the
/// newest commit) and of `seg_0` (in both commits; its live docs are of a
/// new generation), and the newest commit manifest.
fn targets(commit: &Commit, include_shared: bool) -> Vec<String> {
    let mut out = Vec::new();
    for seg in &commit.segments {
        let wanted = seg.name == "seg_3" || (include_shared && seg.name == "seg_0");
        if wanted {
            out.extend(seg.files.iter().map(|f| f.name.clone()));
        }
        if seg.name == "seg_0" && !include_shared {
            // seg_0's newest live docs exist only in the newest commit.
            out.extend(
                seg.files
                    .iter()
                    .filter(|f| f.name.ends_with(".liv"))
                    .map(|f| f.name.clone()),
            );
        }
    }
    out.push(Commit::file_name(commit.generation));
    let kinds: BTreeSet<FileKind> = out.iter().map(|n| FileKind::of(n)).collect();
    for k in FileKind::COMMIT {
        assert!(kinds.contains(&k), "no {k} among {out:?}");
    }
    out
}

/// Cases: every target with every damage, except deleting the newest
/// manifest (that only makes the previous commit the newest: nothing to
/// detect or repair).
fn cases(targets: &[String]) -> Vec<(String, Damage)> {
    let mut v = Vec::new();
    for t in targets {
        for d in DAMAGES {
            if !(t.starts_with("commit-") && d == Damage::Delete) {
                v.push((t.clone(), d));
            }
        }
    }
    v
}

/// `check` names the damaged file, its kind, its segment and the location.
fn assert_check_names(dir: &RamDirectory, target: &str, how: Damage) {
    let report = check_index(&arc(dir), false).unwrap();
    assert!(!report.healthy(), "{target} {how:?}");
    let p = report
        .problems
        .iter()
        .find(|p| p.file == target)
        .unwrap_or_else(|| panic!("{target} {how:?} not named: {:?}", report.problems));
    assert_eq!(p.kind, FileKind::of(target));
    assert_ne!(p.kind, FileKind::Unknown);
    assert_eq!(p.segment, segment_of(target), "{p:?}");
    match how {
        Damage::Delete => assert!(p.missing && p.offset.is_none(), "{p:?}"),
        _ => assert!(!p.missing && p.offset.is_some(), "{p:?}"),
    }
    assert!(p.message.contains(target), "{p:?}");
}

#[test]
fn with_a_replica_every_damaged_file_is_restored() {
    let commit = {
        let b = build(2, 1);
        Index::open(b.dir.clone()).unwrap().latest_commit().unwrap()
    };
    for (i, (target, how)) in cases(&targets(&commit, true)).into_iter().enumerate() {
        let b = build(2, 1 + i as u64);
        damage(&b.dir, &target, how);
        assert_check_names(&b.dir, &target, how);
        let r = repair(&arc(&b.dir), &[arc(&b.replica)], RepairOptions::default()).unwrap();
        assert_eq!(
            r.outcome,
            RepairOutcome::Repaired,
            "{target} {how:?}: {r:?}"
        );
        assert!(r.healthy(), "{target} {how:?}: {:?}", r.after);
        assert!(r.lost.is_empty());
        let restored = r.actions.iter().any(|a| match a {
            RepairAction::CopyFile { file, replica, .. } => file == &target && *replica == 0,
            RepairAction::RestoreCommit { generation, .. } => {
                Commit::file_name(*generation) == target
            }
            _ => false,
        });
        assert!(restored, "{target} {how:?}: {:?}", r.actions);
        let (ids, n) = all_ids(&b.dir, b.f);
        assert_eq!(ids, b.all(), "{target} {how:?}");
        assert_eq!(n, ids.len() as u64);
        assert!(list_markers(&b.dir).unwrap().is_empty());
        // A second repair has nothing to do.
        let again = repair(&arc(&b.dir), &[arc(&b.replica)], RepairOptions::default()).unwrap();
        assert_eq!(again.outcome, RepairOutcome::Healthy);
    }
}

#[test]
fn with_an_older_commit_and_the_log_every_document_comes_back() {
    let commit = {
        let b = build(2, 7);
        Index::open(b.dir.clone()).unwrap().latest_commit().unwrap()
    };
    for (i, (target, how)) in cases(&targets(&commit, false)).into_iter().enumerate() {
        let b = build(2, 7 + i as u64);
        damage(&b.dir, &target, how);
        assert_check_names(&b.dir, &target, how);
        let r = repair(&arc(&b.dir), &[], RepairOptions::default()).unwrap();
        assert_eq!(
            r.outcome,
            RepairOutcome::Repaired,
            "{target} {how:?}: {r:#?}"
        );
        assert!(
            r.actions.iter().any(|a| matches!(
                a,
                RepairAction::RevertToCommit {
                    from_generation: 2,
                    ..
                }
            )),
            "{:?}",
            r.actions
        );
        assert!(
            r.actions
                .iter()
                .any(|a| matches!(a, RepairAction::ReplayLog { .. })),
            "{:?}",
            r.actions
        );
        assert!(r.healthy(), "{target} {how:?}: {:?}", r.after);
        assert!(r.lost.is_empty());
        let (ids, n) = all_ids(&b.dir, b.f);
        assert_eq!(ids, b.all(), "{target} {how:?}");
        assert_eq!(n, ids.len() as u64);
        assert!(list_markers(&b.dir).unwrap().is_empty());
    }
}

#[test]
fn without_replica_or_older_commit_loss_needs_permission_and_is_exact() {
    let commit = {
        let b = build(1, 3);
        Index::open(b.dir.clone()).unwrap().latest_commit().unwrap()
    };
    let mut all_targets = targets(&commit, true);
    all_targets.retain(|t| !t.starts_with("commit-"));
    for (i, (target, how)) in cases(&all_targets).into_iter().enumerate() {
        let b = build(1, 3 + i as u64);
        damage(&b.dir, &target, how);
        assert_check_names(&b.dir, &target, how);
        let seg = segment_of(&target).unwrap();
        let lost_truth = b.truth[&seg].clone();
        let before = snapshot(&b.dir);

        // Without permission: no byte changes, and the report says why and
        // what would be lost.
        let r = repair(&arc(&b.dir), &[], RepairOptions::default()).unwrap();
        assert_eq!(r.outcome, RepairOutcome::NeedsAllowLoss, "{target} {how:?}");
        assert!(!r.changed() && !r.healthy());
        assert_eq!(snapshot(&b.dir), before, "{target} {how:?}: bytes changed");
        assert_eq!(r.lost.len(), 1);
        assert_eq!(r.lost[0].segment, seg);
        assert!(r.lost[0].cause.contains(&target), "{:?}", r.lost[0]);
        assert!(r.notes.iter().any(|n| n.contains(&target)), "{:?}", r.notes);
        assert_eq!(
            r.lost_ids(),
            Some(IdSet::from_values(lost_truth.iter().copied()))
        );

        // A dry run with permission: still no change; the plan drops it.
        let dry = RepairOptions {
            allow_loss: true,
            dry_run: true,
        };
        let r = repair(&arc(&b.dir), &[], dry).unwrap();
        assert_eq!(r.outcome, RepairOutcome::RepairedWithLoss);
        assert!(r.after.is_none() && !r.changed());
        assert!(r
            .actions
            .iter()
            .any(|a| matches!(a, RepairAction::DropSegments { segments, .. } if segments == &vec![seg.clone()])));
        assert_eq!(
            snapshot(&b.dir),
            before,
            "{target} {how:?}: dry run changed bytes"
        );

        // With permission: exactly the segment's live ids are lost.
        let allow = RepairOptions {
            allow_loss: true,
            dry_run: false,
        };
        let r = repair(&arc(&b.dir), &[], allow).unwrap();
        assert_eq!(r.outcome, RepairOutcome::RepairedWithLoss);
        assert!(r.healthy(), "{target} {how:?}: {:?}", r.after);
        let lost = r.lost_ids().unwrap();
        assert!(lost.is_exact());
        assert_eq!(
            lost.iter().collect::<BTreeSet<u64>>(),
            lost_truth,
            "{target} {how:?}"
        );
        assert_eq!(r.lost_docs(), lost_truth.len() as u64);
        let (ids, _) = all_ids(&b.dir, b.f);
        let expected: BTreeSet<u64> = b.all().difference(&lost_truth).copied().collect();
        assert_eq!(ids, expected);
        assert!(list_markers(&b.dir).unwrap().is_empty());
    }
}

#[test]
fn a_damaged_manifest_without_fallback_is_unrepairable_and_untouched() {
    let b = build(1, 99);
    let commit = Index::open(b.dir.clone()).unwrap().latest_commit().unwrap();
    let name = Commit::file_name(commit.generation);
    damage(&b.dir, &name, Damage::Flip);
    assert_check_names(&b.dir, &name, Damage::Flip);
    let before = snapshot(&b.dir);
    for allow_loss in [false, true] {
        let opts = RepairOptions {
            allow_loss,
            dry_run: false,
        };
        let r = repair(&arc(&b.dir), &[], opts).unwrap();
        assert_eq!(r.outcome, RepairOutcome::Unrepairable, "{r:?}");
        assert!(r.notes.iter().any(|n| n.contains(&name)), "{:?}", r.notes);
        assert_eq!(snapshot(&b.dir), before);
    }
    // A replica holding that generation restores it.
    let r = repair(&arc(&b.dir), &[arc(&b.replica)], RepairOptions::default()).unwrap();
    assert_eq!(r.outcome, RepairOutcome::Repaired);
    assert!(r.healthy());
    assert_eq!(all_ids(&b.dir, b.f).0, b.all());
}

#[test]
fn a_plain_copy_taken_earlier_serves_as_a_replica_for_old_files() {
    // Replica = a copy of the directory after the first commit only; the
    // damaged file belongs to a segment that copy holds.
    let b = build(2, 11);
    let stale = RamDirectory::new();
    let first = Commit::read(&b.replica, 2).unwrap();
    for seg in &first.segments {
        for f in &seg.files {
            write_file(&stale, &f.name, &b.replica.open(&f.name).unwrap()).unwrap();
        }
    }
    write_file(&stale, "commit-2", &b.replica.open("commit-2").unwrap()).unwrap();
    damage(&b.dir, "seg_1.sto", Damage::Flip);
    let r = repair(&arc(&b.dir), &[arc(&stale)], RepairOptions::default()).unwrap();
    assert_eq!(r.outcome, RepairOutcome::Repaired, "{r:?}");
    assert_eq!(all_ids(&b.dir, b.f).0, b.all());
}

#[test]
fn a_corruption_marker_survives_a_restart_until_repair() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("idx");
    let (schema, f) = schema();
    let mut rng = SplitMix64::new(5);
    {
        let index = Index::create(FsDirectory::open(&path).unwrap(), schema).unwrap();
        let w = index
            .writer(WriterConfig::default().no_merges().max_buffered_docs(8))
            .unwrap();
        for id in 0..20 {
            w.add_document(doc(f, id, &mut rng)).unwrap();
        }
        w.commit().unwrap();
    }
    let victim = path.join("seg_0.sto");
    let good = std::fs::read(&victim).unwrap();
    let mut bad = good.clone();
    let i = bad.len() / 2;
    bad[i] ^= 1;
    std::fs::write(&victim, &bad).unwrap();
    {
        let index = Index::open(FsDirectory::open(&path).unwrap()).unwrap();
        let e = index.reader().unwrap_err();
        assert!(e.is_corrupt() && e.to_string().contains("seg_0.sto"), "{e}");
    }
    assert!(path.join(marker_file_name("seg_0")).exists());
    // The device "reads right again"; the process restarts.
    std::fs::write(&victim, &good).unwrap();
    let dir: Arc<dyn Directory> = Arc::new(FsDirectory::open(&path).unwrap());
    let index = Index::open(dir.clone()).unwrap();
    let e = index.reader().unwrap_err();
    let msg = e.to_string();
    assert!(e.is_corrupt(), "{msg}");
    assert!(
        msg.contains("seg_0") && msg.contains("marked corrupt"),
        "{msg}"
    );
    assert!(
        msg.contains("checksum mismatch"),
        "the original problem: {msg}"
    );
    let report = check_index(&dir, true).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert!(!report.healthy());
    assert_eq!(report.markers.len(), 1);
    assert!(report.markers[0].active);
    assert_eq!(report.markers[0].damaged_file.as_deref(), Some("seg_0.sto"));
    assert_eq!(
        report.segments[0].marker.as_deref(),
        Some("corrupted-seg_0")
    );
    let r = repair(&dir, &[], RepairOptions::default()).unwrap();
    assert_eq!(r.outcome, RepairOutcome::Repaired);
    assert_eq!(
        r.actions,
        vec![RepairAction::RemoveMarker {
            file: "corrupted-seg_0".into()
        }]
    );
    assert!(r.healthy());
    assert_eq!(index.reader().unwrap().searcher().num_docs(), 20);
}

#[test]
fn a_replica_opens_read_only_and_serves_searches() {
    let tmp = tempfile::tempdir().unwrap();
    let (src_path, rep_path) = (tmp.path().join("src"), tmp.path().join("rep"));
    let (schema, f) = schema();
    let src = FsDirectory::open(&src_path).unwrap();
    let rep = FsDirectory::open(&rep_path).unwrap();
    let index = Index::create(src.clone(), schema).unwrap();
    let w = index
        .writer(WriterConfig::default().no_merges().max_buffered_docs(16))
        .unwrap();
    let mut rng = SplitMix64::new(17);
    let mut copied = Vec::new();
    for round in 0..4u64 {
        for id in round * 25..(round + 1) * 25 {
            w.add_document(doc(f, id, &mut rng)).unwrap();
        }
        let gen = w.commit().unwrap();
        let commit = index.latest_commit().unwrap();
        let behind = if round == 0 { gen } else { 1 };
        assert_eq!(replication_lag(gen, &rep).unwrap(), behind);
        let r = replicate(&src, &rep, &commit).unwrap();
        assert_eq!(r.generation, gen);
        assert_eq!(replication_lag(gen, &rep).unwrap(), 0);
        copied.push(r);
    }
    // Later rounds copy only the new segments' files.
    assert!(copied[3].files_present > 0 && copied[3].files_copied > 0);
    assert!(
        !copied[3].files_deleted.is_empty(),
        "old commits are let go"
    );
    drop(w);

    let replica = Index::open(FsDirectory::open(&rep_path).unwrap()).unwrap();
    let s = replica.reader().unwrap().searcher();
    assert_eq!(s.num_docs(), 100);
    let primary = index.reader().unwrap().searcher();
    for word in WORDS {
        let q = Query::term(f.body, *word);
        assert_eq!(s.count(&q).unwrap(), primary.count(&q).unwrap(), "{word}");
    }
    assert_eq!(s.count(&Query::term(f.key, "k42")).unwrap(), 1);
    let rep_arc: Arc<dyn Directory> = Arc::new(rep);
    assert!(check_index(&rep_arc, true).unwrap().healthy());
}

#[test]
fn the_writer_keeps_its_replicas_current_and_repair_uses_them() {
    let (schema, f) = schema();
    let dir = RamDirectory::new();
    let replica = RamDirectory::new();
    let index = Index::create(dir.clone(), schema).unwrap();
    let w = index
        .writer(
            WriterConfig::default()
                .no_merges()
                .max_buffered_docs(7)
                .replica(arc(&replica)),
        )
        .unwrap();
    let mut rng = SplitMix64::new(77);
    for id in 0..40 {
        w.add_document(doc(f, id, &mut rng)).unwrap();
        if id % 13 == 12 {
            w.commit().unwrap();
        }
    }
    let gen = w.commit().unwrap();
    let status = w.replication();
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].generation, Some(gen));
    assert_eq!(status[0].lag, 0);
    assert_eq!(status[0].last_error, None);
    assert!(status[0].bytes_copied > 0);
    drop(w);
    // The replica serves the same documents.
    assert_eq!(all_ids(&replica, f), all_ids(&dir, f));
    // A damaged file of the newest commit comes back from the replica.
    let commit = Commit::read_latest(&dir).unwrap();
    let victim = commit.segments.last().unwrap().files[0].name.clone();
    damage(&dir, &victim, Damage::Flip);
    assert!(!check_index(&arc(&dir), true).unwrap().healthy());
    let report = repair(&arc(&dir), &[arc(&replica)], RepairOptions::default()).unwrap();
    assert!(report.healthy(), "{report:?}");
    assert_eq!(all_ids(&dir, f).0.len(), 40);
}
