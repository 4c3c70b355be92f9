//! Exit codes of `check` and `repair` (0 healthy, 1 not healthy, 2 could
//! not run) and what the operator is told, through the binary: a file one
//! format version ahead is an incompatibility with its remedy (exit 2, no
//! marker), a missing newest commit is unhealthy (exit 1) and `search`
//! refuses to serve the older commit as complete.

use std::path::Path;
use std::process::{Command, Output};

fn lucerna(args: &[&str], index: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lucerna"))
        .args(args)
        .arg("--index")
        .arg(index)
        .output()
        .expect("run lucerna")
}

/// An index built the way operators build one: `index`, then `add`.
fn build(dir: &Path) -> std::path::PathBuf {
    let a = dir.join("a.jsonl");
    let b = dir.join("b.jsonl");
    let line = |i: u64, w: &str| {
        format!(
            "{{\"id\": {i}, \"timestamp\": {}, \"body\": \"{w} on node n{i}\"}}\n",
            1_700_000_000_000u64 + i
        )
    };
    std::fs::write(
        &a,
        (0..30).map(|i| line(i, "disk full")).collect::<String>(),
    )
    .unwrap();
    std::fs::write(
        &b,
        (30..60).map(|i| line(i, "link down")).collect::<String>(),
    )
    .unwrap();
    let idx = dir.join("idx");
    let out = Command::new(env!("CARGO_BIN_EXE_lucerna"))
        .args(["index", "--durability", "sync", "--input"])
        .arg(&a)
        .arg("--index")
        .arg(&idx)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(env!("CARGO_BIN_EXE_lucerna"))
        .args(["add", "--input"])
        .arg(&b)
        .arg("--index")
        .arg(&idx)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    idx
}

fn newest_commit(idx: &Path) -> u64 {
    std::fs::read_dir(idx)
        .unwrap()
        .filter_map(|e| {
            e.unwrap()
                .file_name()
                .to_str()?
                .strip_prefix("commit-")?
                .parse()
                .ok()
        })
        .max()
        .unwrap()
}

#[test]
fn healthy_unhealthy_and_could_not_run_are_told_apart() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = build(tmp.path());
    assert_eq!(lucerna(&["check", "--full"], &idx).status.code(), Some(0));
    let missing = tmp.path().join("nope");
    let out = lucerna(&["check"], &missing);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a missing index could not be checked"
    );
    let out = lucerna(&["repair"], &missing);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_missing_newest_commit_is_unhealthy_and_never_searched_as_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = build(tmp.path());
    let g = newest_commit(&idx);
    std::fs::remove_file(idx.join(format!("commit-{g}"))).unwrap();
    let out = lucerna(&["check", "--full"], &idx);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("commit-{g}")), "{text}");
    assert!(text.contains("missing"), "{text}");
    let out = Command::new(env!("CARGO_BIN_EXE_lucerna"))
        .args(["search", "--index"])
        .arg(&idx)
        .arg("link")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing") && err.contains("repair"), "{err}");
    let out = lucerna(&["repair"], &idx);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(lucerna(&["check", "--full"], &idx).status.code(), Some(0));
    let out = Command::new(env!("CARGO_BIN_EXE_lucerna"))
        .args(["search", "--json", "--index"])
        .arg(&idx)
        .arg("link OR disk")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"count\":60"));
}

#[test]
fn a_file_one_version_ahead_is_an_incompatibility_with_its_remedy() {
    use lucerna::index::Commit;
    use lucerna::store::{FileMeta, FsDirectory};
    let tmp = tempfile::tempdir().unwrap();
    let idx = build(tmp.path());
    // A newer release's norms file: version + 1, checksum recomputed, and
    // the manifest recording it.
    let nrm = idx.join("seg_0.nrm");
    let mut b = std::fs::read(&nrm).unwrap();
    let at = 5 + b[4] as usize;
    b[at] += 1;
    let n = b.len();
    let crc = lucerna_crc(&b[..n - 4]);
    b[n - 4..].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&nrm, &b).unwrap();
    let dir = FsDirectory::open(&idx).unwrap();
    let mut c = Commit::read_latest(&dir).unwrap();
    for f in c.segments.iter_mut().flat_map(|s| s.files.iter_mut()) {
        if f.name == "seg_0.nrm" {
            f.meta = FileMeta {
                len: n as u64,
                checksum: crc,
            };
        }
    }
    c.write(&dir).unwrap();
    for args in [&["check", "--full"][..], &["repair"][..]] {
        let out = lucerna(args, &idx);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("version") && err.contains("newer Lucerna"),
            "{args:?}: {err}"
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_lucerna"))
        .args(["search", "--index"])
        .arg(&idx)
        .arg("link")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        !idx.join("corrupted-seg_0").exists(),
        "a marker for a version"
    );
}

/// CRC32 (IEEE), as the file envelope's footer holds it.
fn lucerna_crc(b: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &x in b {
        crc ^= x as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Each layer of an error is printed once: the query error keeps its
/// position, a corrupt file is named once with its offset.
#[test]
fn errors_print_each_cause_once() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = build(tmp.path());
    let search = |q: &str| {
        Command::new(env!("CARGO_BIN_EXE_lucerna"))
            .args(["search", "--index"])
            .arg(&idx)
            .arg(q)
            .output()
            .unwrap()
    };
    let out = search("disk AND (");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("at byte 9"), "{err}");
    assert_eq!(err.matches("unclosed").count(), 1, "{err}");
    // A damaged file, named once, with where and what.
    let pos = idx.join("seg_0.pos");
    let mut b = std::fs::read(&pos).unwrap();
    let at = b.len() / 2;
    b[at] ^= 1;
    std::fs::write(&pos, &b).unwrap();
    let out = search("disk");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The error and its causes (the engine's own events, on the lines
    // before, are logged separately).
    let err: String = stderr
        .lines()
        .filter(|l| l.starts_with("error:") || l.starts_with("  caused by:"))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(err.matches("seg_0.pos").count(), 1, "{stderr}");
    assert!(err.contains("offset") && err.contains("expected"), "{err}");
    assert!(!err.contains("0x00000000, actual 0x00000000"), "{err}");
}
