//! Format versions: a file of another version is an incompatibility,
//! never damage (no corruption marker, `check` cannot run, `repair`
//! changes nothing), and every format version the code claims to read is
//! opened from a checked-in index on every run (`tests/fixtures/`).

use lucerna::index::check::check_index;
use lucerna::index::recovery::{repair, RepairOptions};
use lucerna::index::Commit;
use lucerna::index::FileKind;
use lucerna::internals::corrupt_marker::list_markers;
use lucerna::internals::SearcherInternals;
use lucerna::schema::Schema;
use lucerna::store::{write_file, Directory, FileMeta, FsDirectory, RamDirectory};
use lucerna::{Document, Index, Query, WriterConfig};
use std::path::Path;
use std::sync::Arc;

fn build() -> RamDirectory {
    let dir = RamDirectory::new();
    let index = Index::create(dir.clone(), Schema::logs()).unwrap();
    let (id, ts, body) = (
        index.schema().field("id").unwrap(),
        index.schema().field("timestamp").unwrap(),
        index.schema().field("body").unwrap(),
    );
    let w = index.writer(WriterConfig::default().no_merges()).unwrap();
    for i in 0..20u64 {
        let mut d = Document::new();
        d.add_u64(id, i)
            .add_i64(ts, 1_700_000_000_000 + i as i64)
            .add_text(body, format!("disk full on node n{i}"));
        w.add_document(d).unwrap();
    }
    w.delete_term(body, "n3").unwrap();
    w.commit().unwrap();
    dir
}

/// Rewrites `name` as a newer release would: its format version + 1, a
/// correct checksum, and the commit's record of it updated.
fn bump_version(dir: &RamDirectory, name: &str) {
    let mut b = dir.open(name).unwrap().to_vec();
    let at = 5 + b[4] as usize;
    let v = u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    b[at..at + 4].copy_from_slice(&(v + 1).to_le_bytes());
    let n = b.len();
    let crc = crc32fast::hash(&b[..n - 4]);
    b[n - 4..].copy_from_slice(&crc.to_le_bytes());
    dir.delete(name).unwrap();
    write_file(dir, name, &b).unwrap();
    let mut c = Commit::read_latest(dir).unwrap();
    for s in &mut c.segments {
        for f in &mut s.files {
            if f.name == name {
                f.meta = FileMeta {
                    len: n as u64,
                    checksum: crc,
                };
            }
        }
    }
    c.write(dir).unwrap();
}

#[test]
fn a_file_one_version_ahead_is_incompatible_not_corrupt() {
    let base = build();
    let files: Vec<String> = Commit::read_latest(&base)
        .unwrap()
        .segments
        .iter()
        .flat_map(|s| s.files.iter().map(|f| f.name.clone()))
        .collect();
    assert_eq!(files.len(), FileKind::COMMIT.len() - 1, "{files:?}");
    for name in files {
        let dir = RamDirectory::new();
        for f in base.list().unwrap() {
            write_file(&dir, &f, &base.open(&f).unwrap()).unwrap();
        }
        bump_version(&dir, &name);
        let e = Index::open(dir.clone()).unwrap().reader().unwrap_err();
        assert!(e.is_incompatible(), "{name}: {e}");
        assert!(!e.is_corrupt(), "{name}");
        assert!(e.to_string().contains("newer Lucerna"), "{name}: {e}");
        let d: Arc<dyn Directory> = Arc::new(dir.clone());
        let e = check_index(&d, true).unwrap_err();
        assert!(e.is_incompatible(), "{name}: {e}");
        assert!(repair(&d, &[], RepairOptions::default())
            .unwrap_err()
            .is_incompatible());
        assert!(list_markers(&dir).unwrap().is_empty(), "{name}: a marker");
    }
    // The same bytes damaged (version changed, checksum not) are corrupt.
    let dir = build();
    let name = "seg_0.nrm";
    let mut b = dir.open(name).unwrap().to_vec();
    let at = 5 + b[4] as usize;
    b[at] ^= 1;
    dir.delete(name).unwrap();
    write_file(&dir, name, &b).unwrap();
    let e = Index::open(dir.clone()).unwrap().reader().unwrap_err();
    assert!(e.is_corrupt(), "{e}");
}

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Copies a checked-in fixture to a temporary directory (tests must not
/// change the checked-in files).
fn open_fixture(name: &str) -> (tempfile::TempDir, FsDirectory) {
    let tmp = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(fixture(name)).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), tmp.path().join(e.file_name())).unwrap();
    }
    let dir = FsDirectory::open(tmp.path()).unwrap();
    (tmp, dir)
}

/// Every fixture holds the same documents (see tests/fixtures/README.md):
/// ids 0..40, "disk full on node n<id>" (ids < 20) or "link down on node
/// n<id>" (ids ≥ 20).
fn assert_fixture_content(index: &Index) {
    let s = index.reader().unwrap().searcher();
    let body = index.schema().field("body").unwrap();
    assert_eq!(s.num_docs(), 40);
    assert_eq!(s.count(&Query::term(body, "disk")).unwrap(), 20);
    assert_eq!(s.count(&Query::term(body, "link")).unwrap(), 20);
    assert_eq!(s.count(&Query::term(body, "n27")).unwrap(), 1);
    let q = s.parse_query("\"disk full\" AND n12").unwrap();
    let top = s.top_k(&q, 10).unwrap();
    assert_eq!(top.count, Some(1));
    let id = index.schema().field("id").unwrap();
    let hit = &top.hits[0];
    let seg = &s.segments()[hit.address.segment as usize];
    assert_eq!(seg.column_value(id, hit.address.doc), Some(12));
}

#[test]
fn every_format_version_the_code_reads_opens_with_exact_results() {
    let mut seen = 0;
    for entry in std::fs::read_dir(fixture("")).unwrap() {
        let entry = entry.unwrap();
        if !entry.file_type().unwrap().is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().to_string();
        seen += 1;
        let (_tmp, dir) = open_fixture(&name);
        let d: Arc<dyn Directory> = Arc::new(dir.clone());
        assert!(check_index(&d, true).unwrap().healthy(), "{name}");
        let index = Index::open(dir.clone()).unwrap();
        // A writer replays what the log holds, then everything is read
        // and rewritten in the current format.
        let w = index.writer(WriterConfig::default()).unwrap();
        w.commit().unwrap();
        drop(w);
        assert_fixture_content(&index);
        let c = Commit::read_latest(&dir).unwrap();
        assert!(c.index_id.is_known(), "{name}: no identity after a commit");
        assert!(check_index(&d, true).unwrap().healthy(), "{name}");
    }
    assert!(seen >= 2, "fixtures missing");
}
