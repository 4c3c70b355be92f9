//! The paths around segment damage that must never give a silent wrong
//! answer: a log file of another index, a missing newest commit, damage to
//! the write-ahead log (covered by a commit or not), damage to an older
//! kept commit, and a check racing a writer.
//!
//! Each index is built the way `lucerna add` builds one: batches through
//! the write-ahead log (`Durability::Sync`), a commit after each, two kept
//! commits, deletes and updates.

use lucerna::index::check::{check_index_with, CheckOptions, CheckReport};
use lucerna::index::recovery::{repair, RepairOptions, RepairOutcome};
use lucerna::index::replica::replicate;
use lucerna::index::Commit;
use lucerna::internals::wal::list_logs;
use lucerna::internals::SearcherInternals;
use lucerna::schema::{Field, Schema};
use lucerna::store::{write_file, Directory, RamDirectory};
use lucerna::{Document, Durability, Error, Index, IndexWriter, WriterConfig};
use std::collections::BTreeSet;
use std::sync::Arc;

#[derive(Clone, Copy)]
struct F {
    id: Field,
    body: Field,
}

fn fields(index: &Index) -> F {
    F {
        id: index.schema().field("id").unwrap(),
        body: index.schema().field("body").unwrap(),
    }
}

fn doc(f: F, id: u64, tag: &str) -> Document {
    let mut d = Document::new();
    d.add_u64(f.id, id)
        .add_text(f.body, format!("event {tag} number n{id}"));
    d
}

fn config() -> WriterConfig {
    let mut c = WriterConfig::default()
        .no_merges()
        .indexing_threads(1)
        .max_buffered_docs(16)
        .durability(Durability::Sync);
    c.keep_commits = 2;
    c
}

/// Four batches of `n` documents each, one commit per batch, with a
/// delete per batch; `tag` goes into every body (to tell indexes apart).
/// Returns the live ids.
fn build(dir: &RamDirectory, n: u64, tag: &str, batches: u64) -> BTreeSet<u64> {
    let index = Index::open_or_create(dir.clone(), Schema::logs()).unwrap();
    let f = fields(&index);
    let w = index.writer(config()).unwrap();
    let mut live = BTreeSet::new();
    for b in 0..batches {
        add_batch(&w, f, b * n..(b + 1) * n, tag, &mut live);
        w.commit().unwrap();
    }
    live
}

fn add_batch(
    w: &IndexWriter,
    f: F,
    ids: std::ops::Range<u64>,
    tag: &str,
    live: &mut BTreeSet<u64>,
) {
    let first = ids.start;
    for id in ids {
        w.add_document(doc(f, id, tag)).unwrap();
        live.insert(id);
    }
    w.delete_term(f.body, &format!("n{first}")).unwrap();
    live.remove(&first);
}

/// Live ids the index in `dir` serves (opened as a reader would).
fn served(dir: &RamDirectory) -> Result<BTreeSet<u64>, Error> {
    let index = Index::open(dir.clone())?;
    let f = fields(&index);
    let s = index.reader()?.searcher();
    let mut ids = BTreeSet::new();
    for seg in s.segments() {
        for d in 0..seg.max_doc() {
            if seg.is_live(d) {
                assert!(ids.insert(seg.column_value(f.id, d).unwrap()));
            }
        }
    }
    Ok(ids)
}

fn check(dir: &RamDirectory) -> CheckReport {
    let d: Arc<dyn Directory> = Arc::new(dir.clone());
    check_index_with(
        &d,
        CheckOptions {
            deep: true,
            write_markers: false,
        },
    )
    .unwrap()
}

fn flip(dir: &RamDirectory, name: &str, at: usize) {
    let mut b = dir.open(name).unwrap().to_vec();
    b[at] ^= 0x10;
    dir.delete(name).unwrap();
    write_file(dir, name, &b).unwrap();
}

fn copy_file(from: &RamDirectory, to: &RamDirectory, name: &str) {
    let b = from.open(name).unwrap().to_vec();
    if to.exists(name).unwrap() {
        to.delete(name).unwrap();
    }
    write_file(to, name, &b).unwrap();
}

fn arc(d: &RamDirectory) -> Arc<dyn Directory> {
    Arc::new(d.clone())
}

/// Segment files only the newest commit holds.
fn newest_only_files(dir: &RamDirectory) -> Vec<String> {
    let gens = Commit::list_generations(dir).unwrap();
    let newest = Commit::read(dir, *gens.last().unwrap()).unwrap();
    let older: BTreeSet<String> = gens[..gens.len() - 1]
        .iter()
        .flat_map(|&g| Commit::read(dir, g).unwrap().referenced_files())
        .collect();
    newest
        .segments
        .iter()
        .flat_map(|s| s.files.iter().map(|f| f.name.clone()))
        .filter(|f| !older.contains(f))
        .collect()
}

/// Finding 1: another index's log file of the same name is never
/// replayed, `check` reports it as foreign, and `repair` neither imports
/// its documents nor calls the index healthy while its own are missing.
#[test]
fn a_log_of_another_index_is_never_replayed() {
    let (p, q) = (RamDirectory::new(), RamDirectory::new());
    let truth = build(&p, 40, "ours", 4);
    build(&q, 40, "theirs", 4);
    // Same history, so the same log names; every one of P's log files in
    // turn is replaced by Q's.
    let names: Vec<String> = list_logs(&p).unwrap().into_iter().map(|l| l.1).collect();
    assert!(names.len() >= 2, "{names:?}");
    for name in &names {
        let p2 = RamDirectory::new();
        for f in p.list().unwrap() {
            copy_file(&p, &p2, &f);
        }
        copy_file(&q, &p2, name);
        let report = check(&p2);
        assert!(!report.healthy(), "{name}: {report:?}");
        assert!(
            report.foreign.iter().any(|f| &f.file == name),
            "{name}: {:?}",
            report.foreign
        );
        // A writer never takes another index's records.
        let index = Index::open(p2.clone()).unwrap();
        if let Ok(w) = index.writer(config()) {
            assert_eq!(w.replay_report().replayed, 0, "{name}");
            drop(w);
        }
        // Damage a segment only the newest commit holds: repair must not
        // rebuild it from the foreign log.
        let victim = newest_only_files(&p2).into_iter().next().unwrap();
        flip(&p2, &victim, 40);
        let r = repair(&arc(&p2), &[], RepairOptions::default()).unwrap();
        assert_ne!(r.outcome, RepairOutcome::Healthy, "{name}");
        if let Ok(ids) = served(&p2) {
            assert!(ids.is_subset(&truth), "{name}: another index's documents");
            let healthy = check(&p2).healthy();
            assert!(!healthy || ids == truth, "{name}: healthy with ids missing");
        }
    }
}

/// Finding 2: a missing newest manifest is seen by `check` and by readers,
/// restored from a replica that holds it, or rebuilt from the older commit
/// plus the log; a writer never reuses its generation.
#[test]
fn a_missing_newest_commit_is_never_served_as_complete() {
    let p = RamDirectory::new();
    let replica = RamDirectory::new();
    let truth = build(&p, 40, "ours", 4);
    let newest = *Commit::list_generations(&p).unwrap().last().unwrap();
    replicate(&p, &replica, &Commit::read(&p, newest).unwrap()).unwrap();
    let damaged = RamDirectory::new();
    for f in p.list().unwrap() {
        copy_file(&p, &damaged, &f);
    }
    damaged.delete(&Commit::file_name(newest)).unwrap();

    let report = check(&damaged);
    assert!(!report.healthy());
    assert_eq!(report.missing_newest, Some(newest));
    match served(&damaged) {
        Err(Error::MissingCommit { missing, .. }) => assert_eq!(missing, newest),
        other => panic!("a reader served {other:?}"),
    }
    // Asked to, a reader serves the older commit and says so.
    let older = Index::open(damaged.clone())
        .unwrap()
        .allow_older_commit(true)
        .reader()
        .unwrap();
    assert_eq!(older.missing_newest(), Some(newest));
    assert!(older.searcher().num_docs() < truth.len() as u64);

    // From the replica: the same generation comes back.
    let from_replica = RamDirectory::new();
    for f in damaged.list().unwrap() {
        copy_file(&damaged, &from_replica, &f);
    }
    let r = repair(
        &arc(&from_replica),
        &[arc(&replica)],
        RepairOptions::default(),
    )
    .unwrap();
    assert_eq!(r.outcome, RepairOutcome::Repaired, "{r:?}");
    assert!(check(&from_replica).healthy());
    assert_eq!(served(&from_replica).unwrap(), truth);

    // Without one: the older commit plus the log.
    let r = repair(&arc(&damaged), &[], RepairOptions::default()).unwrap();
    assert_eq!(r.outcome, RepairOutcome::Repaired, "{r:?}");
    assert!(check(&damaged).healthy(), "{:?}", check(&damaged));
    assert_eq!(served(&damaged).unwrap(), truth);
    assert!(*Commit::list_generations(&damaged).unwrap().last().unwrap() > newest);

    // A writer opening over the missing commit replays the log and
    // commits above the missing generation.
    let w_dir = RamDirectory::new();
    for f in p.list().unwrap() {
        copy_file(&p, &w_dir, &f);
    }
    w_dir.delete(&Commit::file_name(newest)).unwrap();
    let w = Index::open(w_dir.clone())
        .unwrap()
        .writer(config())
        .unwrap();
    assert!(w.commit().unwrap() > newest);
    drop(w);
    assert_eq!(served(&w_dir).unwrap(), truth);
    assert!(check(&w_dir).healthy());
}

/// Finding 6: damage to log records a commit covers is harmless (reported,
/// and a writer opens); damage after the commit's position is a problem
/// naming the file and offset, refuses writers, and `repair
/// --allow-loss` drops it and lists the ids lost.
#[test]
fn log_damage_is_reported_and_never_blocks_what_it_cannot_hurt() {
    let p = RamDirectory::new();
    let truth = build(&p, 30, "ours", 3);
    // Covered: the oldest log file (every record in a commit).
    let (_, oldest) = list_logs(&p).unwrap().into_iter().next().unwrap();
    let covered = RamDirectory::new();
    for f in p.list().unwrap() {
        copy_file(&p, &covered, &f);
    }
    let len = covered.open(&oldest).unwrap().len();
    flip(&covered, &oldest, len / 2);
    let report = check(&covered);
    assert!(report.healthy(), "{:?}", report.problems);
    assert_eq!(report.log.covered_damage.len(), 1, "{:?}", report.log);
    let w = Index::open(covered.clone())
        .unwrap()
        .writer(config())
        .unwrap();
    w.commit().unwrap();
    drop(w);
    assert_eq!(served(&covered).unwrap(), truth);

    // Not covered: acknowledged, uncommitted operations.
    let pending = RamDirectory::new();
    for f in p.list().unwrap() {
        copy_file(&p, &pending, &f);
    }
    let index = Index::open(pending.clone()).unwrap();
    let f = fields(&index);
    let w = index.writer(config()).unwrap();
    let mut all = truth.clone();
    add_batch(&w, f, 1000..1010, "late", &mut all);
    let current = list_logs(&pending).unwrap().last().unwrap().1.clone();
    // While the writer runs, they are its own: healthy.
    let report = check(&pending);
    assert!(report.healthy(), "{:?}", report.problems);
    assert!(!report.log.unattended);
    drop(w); // killed: no commit, the log holds them
             // No writer: searches miss acknowledged documents.
    let report = check(&pending);
    assert!(!report.healthy());
    assert!(report.log.unattended);
    assert_eq!(report.log.pending, 11);
    // In the text of the last add (the last record is the delete).
    let len = pending.open(&current).unwrap().len();
    flip(&pending, &current, len - 30);
    let report = check(&pending);
    assert!(!report.healthy());
    let p0 = report
        .problems
        .iter()
        .find(|p| p.file == current)
        .expect("the damaged log is named");
    assert!(p0.offset.is_some(), "{p0:?}");
    assert!(Index::open(pending.clone())
        .unwrap()
        .writer(config())
        .is_err());
    let r = repair(&arc(&pending), &[], RepairOptions::default()).unwrap();
    assert_eq!(r.outcome, RepairOutcome::NeedsAllowLoss, "{r:?}");
    let r = repair(
        &arc(&pending),
        &[],
        RepairOptions {
            allow_loss: true,
            dry_run: false,
        },
    )
    .unwrap();
    assert_eq!(r.outcome, RepairOutcome::RepairedWithLoss, "{r:?}");
    let after = served(&pending).unwrap();
    let lost: BTreeSet<u64> = all.difference(&after).copied().collect();
    assert!(!lost.is_empty());
    assert_eq!(lost, BTreeSet::from([1009]));
    let reported = r.lost_ids().expect("lost ids listed");
    for id in &lost {
        assert!(reported.contains(*id), "{id} lost but not reported: {r:?}");
    }
    assert_eq!(r.unknown_loss, None);
    assert!(check(&pending).healthy());
    assert!(Index::open(pending.clone())
        .unwrap()
        .writer(config())
        .is_ok());
}

/// Finding 9: damage to an older kept commit is reported apart from the
/// newest commit.
#[test]
fn damage_to_an_older_kept_commit_is_reported() {
    let p = RamDirectory::new();
    build(&p, 30, "ours", 3);
    let gens = Commit::list_generations(&p).unwrap();
    assert_eq!(gens.len(), 2);
    let newest: BTreeSet<String> = Commit::read(&p, gens[1])
        .unwrap()
        .referenced_files()
        .into_iter()
        .collect();
    let older_only: Vec<String> = Commit::read(&p, gens[0])
        .unwrap()
        .referenced_files()
        .into_iter()
        .filter(|f| !newest.contains(f))
        .collect();
    assert!(!older_only.is_empty());
    for name in older_only {
        let d = RamDirectory::new();
        for f in p.list().unwrap() {
            copy_file(&p, &d, &f);
        }
        let len = d.open(&name).unwrap().len();
        flip(&d, &name, len / 2);
        let report = check(&d);
        assert!(report.healthy(), "{name}: {:?}", report.problems);
        assert!(!report.fallbacks_intact(), "{name}");
        let fb = &report.fallbacks[0];
        assert_eq!(fb.generation, gens[0]);
        assert_eq!(fb.problems[0].file, name);
        // Without a replica, repair says the fallback stays damaged and
        // changes nothing; with one, it restores it.
        let r = repair(&arc(&d), &[], RepairOptions::default()).unwrap();
        assert!(r.notes.iter().any(|n| n.contains("stays damaged")), "{r:?}");
        assert!(!check(&d).fallbacks_intact());
        let replica = RamDirectory::new();
        for g in &gens {
            replicate(&p, &replica, &Commit::read(&p, *g).unwrap()).unwrap();
        }
        let r = repair(&arc(&d), &[arc(&replica)], RepairOptions::default()).unwrap();
        assert_eq!(r.outcome, RepairOutcome::Repaired, "{name}: {r:?}");
        let after = check(&d);
        assert!(
            after.healthy() && after.fallbacks_intact(),
            "{name}: {after:?}"
        );
    }
}

/// Finding 8: a check racing a writer that commits (and deletes the files
/// of superseded commits) never reports a healthy index as damaged.
#[test]
fn check_never_false_alarms_while_a_writer_commits() {
    let dir = tempfile::tempdir().unwrap();
    let fs = lucerna::store::FsDirectory::open(dir.path()).unwrap();
    let index = Index::create(fs.clone(), Schema::logs()).unwrap();
    let f = fields(&index);
    let mut c = config().max_buffered_docs(4);
    c.keep_commits = 1;
    let w = index.writer(c).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut id = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && id < 2000 {
                for _ in 0..5 {
                    w.add_document(doc(f, id, "race")).unwrap();
                    id += 1;
                }
                w.commit().unwrap();
            }
        });
        let d: Arc<dyn Directory> = Arc::new(fs.clone());
        for i in 0..150 {
            let r = check_index_with(
                &d,
                CheckOptions {
                    deep: i % 2 == 0,
                    write_markers: false,
                },
            )
            .unwrap();
            assert!(r.healthy(), "run {i}: {:?}", r.problems);
            // Nor does a reader opening or following commits meanwhile
            // ever see a newest commit as missing.
            if i % 5 != 0 {
                continue;
            }
            let reader = Index::open(fs.clone())
                .unwrap_or_else(|e| panic!("run {i}: open: {e}"))
                .with_verify(lucerna::index::Verify::Structure)
                .reader()
                .unwrap_or_else(|e| panic!("run {i}: reader: {e}"));
            reader
                .reload()
                .unwrap_or_else(|e| panic!("run {i}: reload: {e}"));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
}

/// Finding 5: a replica the writer could not keep current still restores
/// every acknowledged document, because the log is kept until every
/// replica covers it (not only the kept commits).
#[test]
fn a_stale_replica_plus_the_kept_log_restores_everything() {
    use lucerna::store::{Fault, FaultyDirectory, OpKind};
    let p = RamDirectory::new();
    let replica = FaultyDirectory::new(RamDirectory::new(), 5);
    let index = Index::create(p.clone(), Schema::logs()).unwrap();
    let f = fields(&index);
    let w = index
        .writer(config().replica(Arc::new(replica.clone())))
        .unwrap();
    let mut live = BTreeSet::new();
    add_batch(&w, f, 0..30, "ours", &mut live);
    w.commit().unwrap();
    assert_eq!(w.replication()[0].last_error, None);
    let stale_gen = w.replication()[0].generation.unwrap();
    // The replica fails from now on: it stays at `stale_gen`.
    replica.fail_from(OpKind::Create, 0, Fault::Eio);
    for b in 1..5u64 {
        add_batch(&w, f, b * 30..(b + 1) * 30, "ours", &mut live);
        w.commit().unwrap();
    }
    let st = &w.replication()[0];
    assert!(st.last_error.is_some());
    assert_eq!(st.generation, Some(stale_gen));
    drop(w);
    replica.clear_faults();
    // Every kept commit is newer than the replica's; damage every segment
    // file of the index, so only the replica's files help.
    let gens = Commit::list_generations(&p).unwrap();
    assert!(gens[0] > stale_gen, "{gens:?}");
    let files: BTreeSet<String> = gens
        .iter()
        .flat_map(|g| Commit::read(&p, *g).unwrap().referenced_files())
        .filter(|n| n.starts_with("seg_"))
        .collect();
    for name in files {
        let len = p.open(&name).unwrap().len();
        flip(&p, &name, len / 2);
    }
    let r = repair(
        &arc(&p),
        &[Arc::new(replica.clone())],
        RepairOptions::default(),
    )
    .unwrap();
    assert_eq!(r.outcome, RepairOutcome::Repaired, "{r:?}");
    assert!(check(&p).healthy());
    assert_eq!(served(&p).unwrap(), live);
    // Once forgotten, the replica no longer holds the log back.
    let w = Index::open(p.clone())
        .unwrap()
        .writer(config().replica(Arc::new(replica.clone())))
        .unwrap();
    assert!(w.forget_replica(0));
    add_batch(&w, f, 1000..1010, "late", &mut live);
    w.commit().unwrap();
    add_batch(&w, f, 2000..2010, "late", &mut live);
    w.commit().unwrap();
    let oldest_log = list_logs(&p).unwrap()[0].0;
    assert!(
        oldest_log > 1,
        "the log was not released: starts at {oldest_log}"
    );
}

/// A replica holding a newer commit of the index than the directory (the
/// directory restored from an old backup, without a log to tell): check
/// against the replica says so, and repair restores the newest commit.
#[test]
fn a_replica_newer_than_the_index_is_noticed_and_restores_it() {
    use lucerna::index::check::check_index_against;
    let p = RamDirectory::new();
    let replica = RamDirectory::new();
    let index = Index::create(p.clone(), Schema::logs()).unwrap();
    let f = fields(&index);
    let cfg = || {
        let mut c = config()
            .durability(Durability::None)
            .replica(Arc::new(replica.clone()));
        c.keep_commits = 1;
        c
    };
    let w = index.writer(cfg()).unwrap();
    let mut live = BTreeSet::new();
    add_batch(&w, f, 0..20, "ours", &mut live);
    w.commit().unwrap();
    drop(w);
    // The backup: the directory as it is now.
    let backup = RamDirectory::new();
    for name in p.list().unwrap() {
        copy_file(&p, &backup, &name);
    }
    let w = index.writer(cfg()).unwrap();
    add_batch(&w, f, 20..40, "ours", &mut live);
    w.commit().unwrap();
    drop(w);
    assert_eq!(served(&replica).unwrap(), live);
    // Alone, the backup looks healthy (nothing in it says otherwise) ...
    assert!(check(&backup).healthy());
    // ... but the replica knows better.
    let d = arc(&backup);
    let r = check_index_against(
        &d,
        &[arc(&replica)],
        CheckOptions {
            deep: true,
            write_markers: false,
        },
    )
    .unwrap();
    assert!(!r.healthy());
    assert!(r.missing_newest.is_some());
    let r = repair(&d, &[arc(&replica)], RepairOptions::default()).unwrap();
    assert_eq!(r.outcome, RepairOutcome::Repaired, "{r:?}");
    assert_eq!(served(&backup).unwrap(), live);
}
