//! A merge never launders corruption into a new segment.
//!
//! A merge verifies its inputs whole, then reads them again to write the
//! merged segment. Here the bytes of one input file change on disk in
//! between: [`FlipAfterCheck`] (a `Directory` over `FsDirectory`, whose
//! reads are shared memory maps) flips one bit of the file in place at the
//! moment the merge creates its first output file, i.e. after the merge's
//! full verification of its inputs and before it reads them. The merge
//! reads the changed bytes through its maps. Without a second verification
//! they would go into the merged segment under fresh, valid checksums (and
//! on to replicas): a term returning another document's id, a column
//! reading back another id.
//!
//! For every segment file kind (term dictionary, postings, positions,
//! norms, stored fields, columns, field statistics, live docs), forced and
//! automatic merges must fail with a corruption error naming the file,
//! install nothing, leave no file of the merged segment behind, count the
//! failure, mark the segment corrupt; the next commit and the replica hold
//! no merged segment; searches are exact (replica) or a clear corruption
//! error (the damaged index).
//!
//! Deterministic: documents come from a seeded generator; every assertion
//! message carries the seed, the merge kind and the damaged file.

#![cfg(unix)]

use lucerna::index::check::check_index;
use lucerna::index::Commit;
use lucerna::index::FileKind;
use lucerna::internals::corrupt_marker::list_markers;
use lucerna::internals::SearcherInternals;
use lucerna::merge::{MergeKind, MergePolicy, NoMergePolicy, OneMerge, SegmentDescriptor};
use lucerna::schema::{Field, NumericKind, Schema};
use lucerna::store::rng::SplitMix64;
use lucerna::store::{Directory, FileSlice, FileWrite, FsDirectory, LockGuard, RamDirectory};
use lucerna::{Document, Index, IndexWriter, Query, WriterConfig};
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
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

/// A `Directory` over an `FsDirectory` that, once armed with a file, a
/// byte offset and a segment name, flips one bit of that file in place on
/// disk when the first file of that segment is created (a merge creates
/// its outputs only after it has verified every input). Open maps of the
/// file see the change at once.
#[derive(Debug)]
struct FlipAfterCheck {
    inner: FsDirectory,
    path: PathBuf,
    /// (file, offset, trigger: the name prefix of the merged segment).
    armed: Mutex<Option<(String, u64, String)>>,
    flipped: Mutex<Option<String>>,
}

impl FlipAfterCheck {
    fn arm(&self, file: &str, offset: u64, merged: &str) {
        *self.armed.lock() = Some((file.to_string(), offset, format!("{merged}.")));
    }

    fn flip_now(&self, file: &str, offset: u64) {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(self.path.join(file))
            .unwrap();
        let mut b = [0u8; 1];
        f.read_exact_at(&mut b, offset).unwrap();
        b[0] ^= 0x10;
        f.write_all_at(&b, offset).unwrap();
        *self.flipped.lock() = Some(file.to_string());
    }
}

impl Directory for FlipAfterCheck {
    fn create(&self, name: &str) -> lucerna::store::Result<Box<dyn FileWrite>> {
        let mut armed = self.armed.lock();
        if armed.as_ref().is_some_and(|a| name.starts_with(&a.2)) {
            if let Some((file, offset, _)) = armed.take() {
                self.flip_now(&file, offset);
            }
        }
        drop(armed);
        self.inner.create(name)
    }
    fn open(&self, name: &str) -> lucerna::store::Result<FileSlice> {
        self.inner.open(name)
    }
    fn list(&self) -> lucerna::store::Result<Vec<String>> {
        self.inner.list()
    }
    fn exists(&self, name: &str) -> lucerna::store::Result<bool> {
        self.inner.exists(name)
    }
    fn delete(&self, name: &str) -> lucerna::store::Result<()> {
        self.inner.delete(name)
    }
    fn rename(&self, from: &str, to: &str) -> lucerna::store::Result<()> {
        self.inner.rename(from, to)
    }
    fn sync(&self, names: &[&str]) -> lucerna::store::Result<()> {
        self.inner.sync(names)
    }
    fn sync_dir(&self) -> lucerna::store::Result<()> {
        self.inner.sync_dir()
    }
    fn file_len(&self, name: &str) -> lucerna::store::Result<u64> {
        self.inner.file_len(name)
    }
    fn try_lock(&self, name: &str) -> lucerna::store::Result<Box<dyn LockGuard>> {
        self.inner.try_lock(name)
    }
}

/// Merges every segment once there are at least three and none is
/// excluded (being merged, or failed).
#[derive(Debug)]
struct MergeAllAtThree;

impl MergePolicy for MergeAllAtThree {
    fn find_merges(&self, segs: &[SegmentDescriptor], excluded: &HashSet<u64>) -> Vec<OneMerge> {
        if segs.len() >= 3 && segs.iter().all(|s| !excluded.contains(&s.id)) {
            vec![OneMerge::from_segments(segs, MergeKind::Natural, 0.0)]
        } else {
            Vec::new()
        }
    }
    fn find_forced_merges(
        &self,
        _: &[SegmentDescriptor],
        _: usize,
        _: &HashSet<u64>,
    ) -> Vec<OneMerge> {
        Vec::new()
    }
    fn find_forced_deletes_merges(
        &self,
        _: &[SegmentDescriptor],
        _: &HashSet<u64>,
    ) -> Vec<OneMerge> {
        Vec::new()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Forced,
    Automatic,
}

/// The acknowledged documents: id → body.
type Model = BTreeMap<u64, String>;

fn doc(f: Fields, id: u64, rng: &mut SplitMix64) -> (Document, String) {
    let words: Vec<&str> = (0..1 + rng.below(6))
        .map(|_| WORDS[rng.below(WORDS.len() as u64) as usize])
        .collect();
    let body = words.join(" ");
    let mut d = Document::new();
    d.add_u64(f.id, id)
        .add_text(f.key, format!("k{id}"))
        .add_text(f.body, body.clone());
    (d, body)
}

/// Checks that the index in `dir` holds exactly `model`: every id once,
/// with its body; each `key` term finds its own document (and column id);
/// each body word counts exactly its documents.
fn assert_exact(dir: Arc<dyn Directory>, f: Fields, model: &Model, what: &str) {
    let s = Index::open(dir)
        .unwrap_or_else(|e| panic!("{what}: open: {e}"))
        .reader()
        .unwrap_or_else(|e| panic!("{what}: reader: {e}"))
        .searcher();
    let mut seen = Model::new();
    for seg in s.segments() {
        for d in 0..seg.max_doc() {
            if !seg.is_live(d) {
                continue;
            }
            let id = seg.column_value(f.id, d).unwrap();
            let stored = seg.doc(d).unwrap();
            let body = stored
                .get_first(f.body)
                .unwrap()
                .as_str()
                .unwrap()
                .to_string();
            assert!(seen.insert(id, body).is_none(), "{what}: id {id} twice");
        }
    }
    assert_eq!(&seen, model, "{what}: documents differ");
    for (id, _) in model.iter() {
        let top = s
            .top_k(&Query::term(f.key, format!("k{id}")), 5)
            .unwrap_or_else(|e| panic!("{what}: search k{id}: {e}"));
        assert_eq!(top.hits.len(), 1, "{what}: k{id}");
        assert_eq!(
            s.column_value(top.hits[0].address, f.id),
            Some(*id),
            "{what}: k{id}"
        );
    }
    for w in WORDS {
        let expected = model
            .values()
            .filter(|b| b.split(' ').any(|x| x == *w))
            .count() as u64;
        assert_eq!(
            s.count(&Query::term(f.body, *w)).unwrap(),
            expected,
            "{what}: {w}"
        );
    }
}

struct Setup {
    _tmp: tempfile::TempDir,
    dir: Arc<FlipAfterCheck>,
    replica: RamDirectory,
    f: Fields,
    writer: IndexWriter,
    model: Model,
}

/// Three committed segments of ten documents (`seg_0` with deletes, so a
/// live-docs file), replicated; `kind` decides the merge policy. With
/// `Automatic` the third segment is flushed but not committed yet (the
/// commit triggers the merge).
fn setup(kind: Kind, seed: u64) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("idx");
    let dir = Arc::new(FlipAfterCheck {
        inner: FsDirectory::open(&path).unwrap(),
        path,
        armed: Mutex::new(None),
        flipped: Mutex::new(None),
    });
    let replica = RamDirectory::new();
    let (schema, f) = schema();
    let index = Index::create(dir.clone(), schema).unwrap();
    let policy: Arc<dyn MergePolicy> = match kind {
        Kind::Forced => Arc::new(NoMergePolicy),
        Kind::Automatic => Arc::new(MergeAllAtThree),
    };
    let writer = index
        .writer(
            WriterConfig::default()
                .indexing_threads(1)
                .max_buffered_docs(10)
                .merge_policy(policy)
                .replica(Arc::new(replica.clone())),
        )
        .unwrap();
    let mut rng = SplitMix64::new(seed);
    let mut model = Model::new();
    let n = if kind == Kind::Forced { 30 } else { 20 };
    for id in 0..n {
        let (d, body) = doc(f, id, &mut rng);
        writer.add_document(d).unwrap();
        model.insert(id, body);
    }
    for id in [2, 5] {
        writer.delete_term(f.key, &format!("k{id}")).unwrap();
        model.remove(&id);
    }
    writer.commit().unwrap();
    Setup {
        _tmp: tmp,
        dir,
        replica,
        f,
        writer,
        model,
    }
}

/// The file of `kind` to damage: of `seg_0` for live docs (the segment
/// with deletes), of `seg_1` otherwise; and the byte to flip (the middle).
fn target(dir: &dyn Directory, kind: &str) -> (String, u64) {
    let commit = Commit::read_latest(dir).unwrap();
    let seg = if kind == "live docs" {
        "seg_0"
    } else {
        "seg_1"
    };
    let s = commit.segments.iter().find(|s| s.name == seg).unwrap();
    let e = s
        .files
        .iter()
        .find(|e| FileKind::of(&e.name).as_str() == kind)
        .unwrap_or_else(|| panic!("no {kind} file in {seg}"));
    (e.name.clone(), e.meta.len / 2)
}

/// `seg_<n>` of a segment file name (`seg_1.doc`, `seg_0_1.liv`).
fn segment_of(file: &str) -> String {
    let n: String = file[4..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    format!("seg_{n}")
}

/// No file of segment `merged` is left in `dir`.
fn assert_no_files_of(dir: &dyn Directory, merged: &str, what: &str) {
    let (dot, under) = (format!("{merged}."), format!("{merged}_"));
    for f in dir.list().unwrap() {
        assert!(
            !f.starts_with(&dot) && !f.starts_with(&under),
            "{what}: {f} left behind"
        );
    }
}

fn run_case(kind: Kind, file_kind_name: &str, seed: u64) {
    let mut s = setup(kind, seed);
    let f = s.f;
    let before: BTreeSet<String> = Commit::read_latest(s.dir.as_ref())
        .unwrap()
        .segments
        .iter()
        .map(|x| x.name.clone())
        .collect();
    let mut what = format!("seed {seed}, {kind:?} merge, {file_kind_name}");
    let merge_error = match kind {
        Kind::Forced => {
            assert_eq!(s.writer.num_segments(), 3, "{what}");
            let (file, offset) = target(s.dir.as_ref(), file_kind_name);
            what = format!("{what} ({file})");
            s.dir.arm(&file, offset, "seg_3");
            let e = s
                .writer
                .force_merge(1)
                .err()
                .unwrap_or_else(|| panic!("{what}: the merge went through"));
            assert!(e.is_corrupt(), "{what}: {e}");
            assert!(e.to_string().contains(&file), "{what}: {e}");
            (file, e.to_string())
        }
        Kind::Automatic => {
            // Two committed segments; the flush of the third starts the
            // merge (into `seg_3`).
            assert_eq!(s.writer.num_segments(), 2, "{what}");
            let (file, offset) = target(s.dir.as_ref(), file_kind_name);
            what = format!("{what} ({file})");
            s.dir.arm(&file, offset, "seg_3");
            let mut rng = SplitMix64::new(seed ^ 0xabc);
            for id in 20..30 {
                let (d, body) = doc(f, id, &mut rng);
                s.writer.add_document(d).unwrap();
                s.model.insert(id, body);
            }
            s.writer.flush().unwrap();
            s.writer.wait_for_merges().unwrap();
            let m = s.writer.metrics();
            let e = m
                .last_merge_error
                .clone()
                .unwrap_or_else(|| panic!("{what}: the merge went through: {m:?}"));
            (file, e)
        }
    };
    let (file, message) = merge_error;
    assert_eq!(
        s.dir.flipped.lock().as_deref(),
        Some(file.as_str()),
        "{what}: the bit was not flipped"
    );
    assert!(message.contains(&file), "{what}: {message}");
    assert!(message.contains("checksum"), "{what}: {message}");
    // Nothing installed, nothing left behind, the failure counted, the
    // segment marked.
    let m = s.writer.metrics();
    assert_eq!(m.merges_failed, 1, "{what}: {m:?}");
    assert_eq!(m.merges_completed, 0, "{what}: {m:?}");
    assert_eq!(s.writer.num_segments(), 3, "{what}");
    assert_no_files_of(s.dir.as_ref(), "seg_3", &what);
    let damaged_segment = segment_of(&file);
    let markers = list_markers(s.dir.as_ref()).unwrap();
    // Marked, unless the writer healed the input from its replica (a
    // committed file the replica holds intact): then the marker is gone
    // and the heal counted.
    let healed = s.writer.heal_stats().files_healed;
    if markers.is_empty() {
        assert_eq!(healed, 1, "{what}: the marker went without a heal");
        assert_eq!(s.writer.heal_stats().recent[0].file, file, "{what}");
    } else {
        assert_eq!(healed, 0, "{what}");
        assert_eq!(
            markers,
            vec![format!("corrupted-{damaged_segment}")],
            "{what}"
        );
    }
    // The next commit holds no merged segment; neither does the replica.
    let mut rng = SplitMix64::new(seed ^ 0x5eed);
    let (d, body) = doc(f, 1000, &mut rng);
    s.writer.add_document(d).unwrap();
    s.model.insert(1000, body);
    s.writer.commit().unwrap();
    let after = Commit::read_latest(s.dir.as_ref()).unwrap();
    let names: BTreeSet<String> = after.segments.iter().map(|x| x.name.clone()).collect();
    let all_before: BTreeSet<String> = before
        .iter()
        .cloned()
        .chain(std::iter::once("seg_2".to_string()))
        .collect();
    let new: Vec<&String> = names.difference(&all_before).collect();
    assert_eq!(new.len(), 1, "{what}: {names:?}");
    assert_eq!(
        after
            .segments
            .iter()
            .find(|x| &x.name == new[0])
            .unwrap()
            .max_doc,
        1,
        "{what}: a merged segment was committed"
    );
    let status = s.writer.replication();
    drop(s.writer);
    let rep = Commit::read_latest(&s.replica).unwrap();
    assert!(
        rep.segments.iter().all(|x| x.max_doc <= 10),
        "{what}: the replica holds a merged segment ({status:?})"
    );
    let rep_dir: Arc<dyn Directory> = Arc::new(s.replica.clone());
    let report = check_index(&rep_dir, true).unwrap();
    assert!(report.healthy(), "{what}: replica: {:?}", report.problems);
    // The replica is at the newest commit when it already held the damaged
    // file (its intact copy), else at the one before; either way exact.
    let mut expected = s.model.clone();
    if rep.generation < after.generation {
        expected.remove(&1000);
    }
    assert_exact(rep_dir.clone(), f, &expected, &format!("{what}: replica"));
    // The damaged index: a clear corruption error, not a wrong answer.
    let primary: Arc<dyn Directory> = s.dir.clone();
    match Index::open(primary.clone()).and_then(|i| i.reader()) {
        Ok(_) => assert_exact(primary, f, &s.model, &format!("{what}: primary")),
        Err(e) => {
            assert!(e.is_corrupt(), "{what}: {e}");
            assert!(e.to_string().contains(&damaged_segment), "{what}: {e}");
        }
    }
}

/// Every segment file kind (the commit manifest is not a merge input).
fn segment_kinds() -> Vec<&'static str> {
    FileKind::COMMIT
        .iter()
        .filter(|k| **k != FileKind::CommitManifest)
        .map(|k| k.as_str())
        .collect()
}

#[test]
fn a_forced_merge_whose_input_changes_after_its_check_fails_for_every_file_kind() {
    let kinds = segment_kinds();
    assert_eq!(kinds.len(), 8);
    for (i, k) in kinds.into_iter().enumerate() {
        run_case(Kind::Forced, k, 100 + i as u64);
    }
}

#[test]
fn an_automatic_merge_whose_input_changes_after_its_check_fails_for_every_file_kind() {
    for (i, k) in segment_kinds().into_iter().enumerate() {
        run_case(Kind::Automatic, k, 200 + i as u64);
    }
}

#[test]
fn a_commit_writes_no_deletes_or_ids_derived_from_changed_bytes() {
    // A commit finds its deletes through the term dictionary and postings
    // and records the surviving ids from the columns: bytes of those files
    // that changed after the segment was opened fail the commit instead.
    for (i, kind) in ["term dictionary", "postings", "numeric columns"]
        .into_iter()
        .enumerate()
    {
        let seed = 300 + i as u64;
        let s = setup(Kind::Forced, seed);
        let (file, offset) = target(s.dir.as_ref(), kind);
        let what = format!("seed {seed}, commit, {kind} ({file})");
        let generation = Commit::read_latest(s.dir.as_ref()).unwrap().generation;
        s.dir.flip_now(&file, offset);
        // Deletes a document of `seg_1` (ids 10..20).
        s.writer.delete_term(s.f.key, "k15").unwrap();
        let e = s
            .writer
            .commit()
            .err()
            .unwrap_or_else(|| panic!("{what}: the commit went through"));
        assert!(e.is_corrupt(), "{what}: {e}");
        assert!(e.to_string().contains(&file), "{what}: {e}");
        assert_eq!(
            Commit::read_latest(s.dir.as_ref()).unwrap().generation,
            generation,
            "{what}: a commit was published"
        );
        assert_eq!(
            list_markers(s.dir.as_ref()).unwrap(),
            vec!["corrupted-seg_1".to_string()],
            "{what}"
        );
    }
}
