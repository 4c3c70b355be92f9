//! Bad input lines through the `lucerna` binary: `index` and `add` share
//! one JSON-lines reader, reject bad lines one by one with their 1-based
//! line numbers and the same messages, and keep going; `add` commits the
//! good lines and exits 1 when any line was rejected, 2 when it cannot run.

use std::path::Path;
use std::process::{Command, Output};

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

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Live documents of the index, per `lucerna stats --json`.
fn live_docs(index: &Path) -> u64 {
    let o = run(&["stats", "--json"], &[("--index", index)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    v["live_docs"]
        .as_u64()
        .or_else(|| v["docs"].as_u64())
        .unwrap_or_else(|| panic!("no doc count in {v}"))
}

/// Lines 1–10 of a hostile input; the good ones are 1, 3 (CRLF), 6, 9 and 10.
fn hostile_input() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(b"{\"id\": 1, \"body\": \"first\"}\n");
    b.extend_from_slice(b"{\"id\": 2, \"body\": \"bad \xff\xfe utf8\"}\n");
    b.extend_from_slice(b"{\"id\": 3, \"body\": \"crlf\"}\r\n");
    b.extend_from_slice(b"{\"id\": 4,}\n");
    b.extend_from_slice(b"   \r\n"); // blank: skipped, but counted
    b.extend_from_slice(b"{\"id\": 6, \"timestamp\": 1700000000000}\n");
    b.extend_from_slice(b"{\"id\": 7, \"timestamp\": 99999999999999999999}\n");
    b.extend_from_slice(b"{\"id\": 8, \"body\": [[\"nested\"]]}\n");
    // Deep nesting in a key outside the schema is skipped, at any depth.
    b.extend_from_slice(
        format!(
            "{{\"id\": 9, \"x\": {}{}}}\n",
            "[".repeat(3000),
            "]".repeat(3000)
        )
        .as_bytes(),
    );
    b.extend_from_slice(b"{\"id\": 10, \"body\": \"last, no newline\"}");
    b
}

/// The rejection lines (`line N: rejected: …`) of a run's stderr.
fn rejections(o: &Output) -> Vec<String> {
    stderr(o)
        .lines()
        .filter(|l| l.contains(": rejected: "))
        .map(str::to_string)
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn index_and_add_reject_the_same_lines_with_the_same_messages() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.jsonl");
    std::fs::write(&input, hostile_input()).unwrap();
    let a = tmp.path().join("a");
    let o = run(
        &["index", "--threads", "2"],
        &[("--input", &input), ("--index", &a)],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(
        (v["docs"].as_u64(), v["rejected"].as_u64()),
        (Some(5), Some(4))
    );
    let from_index = sorted(rejections(&o));
    assert_eq!(from_index.len(), 4, "{from_index:?}");
    for (i, line) in from_index.iter().enumerate() {
        let want = ["line 2: ", "line 4: ", "line 7: ", "line 8: "][i];
        assert!(line.starts_with(want), "{line}");
    }
    assert!(
        from_index[0].contains("not valid UTF-8"),
        "{}",
        from_index[0]
    );
    assert!(
        from_index[1].contains("invalid JSON at column 10"),
        "{}",
        from_index[1]
    );
    assert!(
        !from_index[1].contains("line 1 column"),
        "{}",
        from_index[1]
    );
    assert!(from_index[2].contains("out of range"), "{}", from_index[2]);
    assert!(from_index[3].contains("nested array"), "{}", from_index[3]);

    // `add` over an empty index of the same schema: same verdicts.
    let empty = tmp.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let b = tmp.path().join("b");
    let o = run(&["index"], &[("--input", &empty), ("--index", &b)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(
        &["add", "--threads", "2"],
        &[("--index", &b), ("--input", &input)],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(sorted(rejections(&o)), from_index);
    let out = stdout(&o);
    assert!(out.contains("added 5 documents, rejected 4 lines"), "{out}");
    assert!(out.contains("  line 2: not valid UTF-8"), "{out}");
    assert_eq!(
        live_docs(&b),
        5,
        "the good lines, also after the bad ones, are committed"
    );
}

#[test]
fn add_summarizes_in_json_and_exits_by_outcome() {
    let tmp = tempfile::tempdir().unwrap();
    let seed = tmp.path().join("seed.jsonl");
    std::fs::write(&seed, "{\"id\": 1}\n{\"id\": 2}\n").unwrap();
    let idx = tmp.path().join("idx");
    assert!(run(&["index"], &[("--input", &seed), ("--index", &idx)])
        .status
        .success());

    let more = tmp.path().join("more.jsonl");
    std::fs::write(&more, "{\"id\": 3}\n[1]\n{\"id\": 2}\n").unwrap();
    let o = run(&["add", "--json"], &[("--index", &idx), ("--input", &more)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["added"], 2);
    assert_eq!(v["rejected"], 1);
    assert_eq!(v["rejections"][0]["line"], 2);
    assert!(v["rejections"][0]["error"]
        .as_str()
        .unwrap()
        .contains("a JSON object"));
    assert_eq!(v["duplicate_ids"], 1, "id 2 was already there");
    for k in [
        "replayed",
        "torn_tails",
        "skipped",
        "generation",
        "live_docs",
    ] {
        assert!(v.get(k).is_some(), "missing {k} in {v}");
    }
    assert_eq!(live_docs(&idx), 4);

    // Every line good: exit 0.
    let good = tmp.path().join("good.jsonl");
    std::fs::write(&good, "{\"id\": 10}\n").unwrap();
    let o = run(&["add"], &[("--index", &idx), ("--input", &good)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    // Cannot run: exit 2, and no directory is created.
    let missing = tmp.path().join("missing");
    let o = run(&["add"], &[("--index", &missing), ("--input", &good)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no index at"), "{}", stderr(&o));
    assert!(!missing.exists());
    let o = run(&["add"], &[("--index", &idx), ("--input", &missing)]);
    assert_eq!(o.status.code(), Some(2));
}
