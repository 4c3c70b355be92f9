//! Through the `lucerna` binary: `index` over an existing index replaces
//! it only once the new one is committed; the reliability options of the
//! writing commands; deletes and upserts by id.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn lucerna() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lucerna"))
}

fn run(args: &[&str], paths: &[(&str, &Path)]) -> Output {
    let mut c = lucerna();
    c.args(args);
    for (flag, p) in paths {
        c.arg(flag).arg(p);
    }
    c.output().expect("run lucerna")
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s.trim()).unwrap_or_else(|e| panic!("{e}: {s}"))
}

/// Live documents, per `lucerna stats --json`.
fn docs(index: &Path) -> u64 {
    json(&ok(run(&["stats", "--json"], &[("--index", index)])))["docs"]
        .as_u64()
        .unwrap()
}

/// Hits of `query`, per `lucerna search --json`.
fn hits(index: &Path, query: &str) -> u64 {
    let mut c = lucerna();
    c.args(["search", "--json", "--index"])
        .arg(index)
        .arg(query);
    json(&ok(c.output().unwrap()))["count"].as_u64().unwrap()
}

fn write_docs(path: &Path, ids: std::ops::Range<u64>, word: &str) {
    let mut s = String::new();
    for i in ids {
        s.push_str(&format!(
            "{{\"id\": {i}, \"timestamp\": {i}, \"body\": \"{word} line {i}\"}}\n"
        ));
    }
    std::fs::write(path, s).unwrap();
}

fn healthy(index: &Path) {
    ok(run(&["check", "--full"], &[("--index", index)]));
}

#[test]
fn index_over_an_index_replaces_it_only_after_its_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let (old_in, new_in) = (tmp.path().join("old.jsonl"), tmp.path().join("new.jsonl"));
    write_docs(&old_in, 0..300, "old");
    write_docs(&new_in, 1000..1100, "new");
    let idx = tmp.path().join("idx");
    ok(run(&["index"], &[("--input", &old_in), ("--index", &idx)]));
    // Logged adds: the old index has write-ahead-log files too.
    let extra = tmp.path().join("extra.jsonl");
    write_docs(&extra, 300..310, "old");
    ok(run(&["add"], &[("--index", &idx), ("--input", &extra)]));
    assert_eq!(hits(&idx, "old"), 310);

    // An input that fails mid-build (a directory reads as EISDIR): exit 2,
    // the old index as it was.
    let o = run(&["index"], &[("--input", tmp.path()), ("--index", &idx)]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!((docs(&idx), hits(&idx, "old")), (310, 310));
    healthy(&idx);

    // A bad line is a rejection, not a failure: the new index replaces
    // the old one (and nothing of the old one is left).
    let mut bad = std::fs::read(&new_in).unwrap();
    bad.extend_from_slice(b"{\"id\": 5000, \"body\": \"\xff\"}\n");
    std::fs::write(&new_in, bad).unwrap();
    let out = json(&ok(run(
        &["index", "--store-body"],
        &[("--input", &new_in), ("--index", &idx)],
    )));
    assert_eq!(
        (out["docs"].as_u64(), out["rejected"].as_u64()),
        (Some(100), Some(1))
    );
    assert_eq!((hits(&idx, "old"), hits(&idx, "new")), (0, 100));
    healthy(&idx);
    let commits: Vec<_> = std::fs::read_dir(&idx)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("commit-"))
        .collect();
    assert_eq!(commits.len(), 1, "{commits:?}");
    let logs: Vec<_> = std::fs::read_dir(&idx)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".log"))
        .collect();
    assert!(logs.is_empty(), "the old index's logs are gone: {logs:?}");
    let listed: u64 = std::fs::read_dir(&idx)
        .unwrap()
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    assert!(
        listed <= out["index_bytes"].as_u64().unwrap() + 64,
        "old files left over"
    );
}

#[test]
fn a_killed_index_leaves_the_old_index_or_the_new_one() {
    let tmp = tempfile::tempdir().unwrap();
    let (old_in, new_in) = (tmp.path().join("old.jsonl"), tmp.path().join("new.jsonl"));
    write_docs(&old_in, 0..50, "old");
    write_docs(&new_in, 0..60_000, "new");
    let idx = tmp.path().join("idx");
    ok(run(&["index"], &[("--input", &old_in), ("--index", &idx)]));
    // Killed at several points of the build; whenever it dies, the index
    // is whole: the old one or (if the commit was reached) the new one.
    for delay_ms in [5u64, 60, 250] {
        let mut child = lucerna()
            .args(["index", "--mem-mb", "1", "--input"])
            .arg(&new_in)
            .arg("--index")
            .arg(&idx)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let n = docs(&idx);
        assert!(
            n == 50 || n == 60_000,
            "after a kill at {delay_ms} ms: {n} docs"
        );
        healthy(&idx);
        if n == 60_000 {
            // Back to the old index for the next round.
            ok(run(&["index"], &[("--input", &old_in), ("--index", &idx)]));
        }
    }
}

#[test]
fn replicas_keep_commits_and_lenient_replay() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("a.jsonl");
    write_docs(&input, 0..20, "alpha");
    let (idx, rep) = (tmp.path().join("idx"), tmp.path().join("rep"));
    ok(run(
        &["index", "--keep-commits", "3"],
        &[("--input", &input), ("--index", &idx), ("--replica", &rep)],
    ));
    assert_eq!(hits(&rep, "alpha"), 20, "the replica holds the build");
    for round in 0..4u64 {
        write_docs(&input, 100 + round * 10..110 + round * 10, "beta");
        let out = ok(run(
            &["add", "--keep-commits", "3"],
            &[("--index", &idx), ("--input", &input), ("--replica", &rep)],
        ));
        assert!(out.contains("replica 0: at generation"), "{out}");
    }
    assert_eq!((hits(&idx, "beta"), hits(&rep, "beta")), (40, 40));
    let commits = std::fs::read_dir(&idx)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("commit-"))
        .count();
    assert_eq!(commits, 3, "--keep-commits 3");
    let o = run(
        &["add", "--keep-commits", "0"],
        &[("--index", &idx), ("--input", &input)],
    );
    assert_eq!(o.status.code(), Some(2), "keep-commits 0 is refused");

    // Damage in the middle of the write-ahead log: strict refuses, lenient
    // skips it and says what it skipped.
    let lines = tmp.path().join("l.jsonl");
    write_docs(&lines, 500..530, "gamma");
    let log_idx = tmp.path().join("logidx");
    ok(run(
        &["index", "--durability", "sync"],
        &[("--input", &input), ("--index", &log_idx)],
    ));
    // Log records no commit covers: an `add` killed after 20 acks.
    let mut child = lucerna()
        .args(["add", "--ack", "--index"])
        .arg(&log_idx)
        .arg("--input")
        .arg(&lines)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::BufRead;
        let out = child.stdout.take().unwrap();
        let mut acks = 0;
        for line in std::io::BufReader::new(out).lines() {
            if line.unwrap().starts_with("ack ") {
                acks += 1;
                if acks == 20 {
                    break;
                }
            }
        }
        assert_eq!(acks, 20);
    }
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_dir(&log_idx)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .expect("a log file");
    let mut bytes = std::fs::read(&log).unwrap();
    assert!(bytes.len() > 400, "{} bytes of log", bytes.len());
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&log, bytes).unwrap();
    let empty = tmp.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let o = run(&["add"], &[("--index", &log_idx), ("--input", &empty)]);
    assert_eq!(o.status.code(), Some(2), "a strict replay refuses damage");
    let o = run(
        &["add", "--lenient-replay", "--json"],
        &[("--index", &log_idx), ("--input", &empty)],
    );
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    let v = json(&ok(o));
    assert!(v["skipped"].as_u64().unwrap() >= 1, "{v}");
    let span = &v["replay"]["skipped_spans"][0];
    for k in ["file", "offset", "len", "reason"] {
        assert!(span.get(k).is_some(), "{k} in {span}");
    }
    assert!(err.contains("warning: replay skipped"), "{err}");
    assert!(v["replayed"].as_u64().unwrap() >= 1);
}

#[test]
fn delete_by_id_and_upsert() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("a.jsonl");
    write_docs(&input, 0..10, "first");
    let idx = tmp.path().join("idx");
    ok(run(
        &["index", "--store-body"],
        &[("--input", &input), ("--index", &idx)],
    ));

    // Plain add of existing ids: added beside, with a warning.
    write_docs(&input, 8..12, "second");
    let v = json(&ok(run(
        &["add", "--json"],
        &[("--index", &idx), ("--input", &input)],
    )));
    assert_eq!(
        (v["added"].as_u64(), v["duplicate_ids"].as_u64()),
        (Some(4), Some(2))
    );
    assert_eq!(docs(&idx), 14);

    // Delete: every live document of each id; ids not found are listed.
    let ids = tmp.path().join("ids.txt");
    std::fs::write(&ids, "# ids\n8\n\n3\n").unwrap();
    let v = json(&ok(run(
        &["delete", "--json", "--id", "9", "--id", "777"],
        &[("--index", &idx), ("--ids-file", &ids)],
    )));
    assert_eq!(v["deleted"], 5, "{v}"); // 8 twice, 9 twice, 3 once
    assert_eq!(v["not_found"], serde_json::json!([777]));
    assert_eq!(docs(&idx), 9);
    assert_eq!(hits(&idx, "id:[8 TO 9]"), 0);

    // Upsert: replaces every document of the id.
    write_docs(&input, 10..13, "third");
    let v = json(&ok(run(
        &["add", "--upsert", "--json"],
        &[("--index", &idx), ("--input", &input)],
    )));
    assert_eq!(
        (v["added"].as_u64(), v["replaced"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(hits(&idx, "id:[10 TO 12]"), 3);
    assert_eq!(hits(&idx, "third"), 3);
    assert_eq!(hits(&idx, "second"), 0);
    healthy(&idx);

    // A bad ids-file line: the others still go, exit 1.
    std::fs::write(&ids, "0\nnot-an-id\n").unwrap();
    let o = run(&["delete"], &[("--index", &idx), ("--ids-file", &ids)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("line 2: rejected"));
    assert_eq!(docs(&idx), 9);
    let o = run(&["delete"], &[("--index", &idx)]);
    assert_eq!(o.status.code(), Some(2), "nothing to delete");
}
