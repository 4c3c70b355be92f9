//! `lucerna search` and `query` heal as the library does: a damaged
//! segment file is restored from `--replica`; without one, the error names
//! the file, or `--allow-partial` serves the intact segments and says which
//! ids are missing; `query --mode topk` follows the benchmark contract.

use std::path::Path;
use std::process::{Command, Output};

fn lucerna(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lucerna"))
        .args(args)
        .output()
        .expect("run lucerna")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Two batches through `add --replica`: two segments, a replica kept.
fn build(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let idx = dir.join("idx");
    let rep = dir.join("rep");
    for (b, word) in [(0u64, "disk"), (1, "link")] {
        let input = dir.join(format!("b{b}.jsonl"));
        let lines: String = (b * 40..(b + 1) * 40)
            .map(|i| {
                format!("{{\"id\": {i}, \"timestamp\": {i}, \"body\": \"{word} event n{i}\"}}\n")
            })
            .collect();
        std::fs::write(&input, lines).unwrap();
        let args = if b == 0 {
            vec!["index", "--input", s(&input), "--index", s(&idx)]
        } else {
            vec![
                "add",
                "--input",
                s(&input),
                "--index",
                s(&idx),
                "--replica",
                s(&rep),
            ]
        };
        let out = lucerna(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (idx, rep)
}

fn flip(path: &Path) {
    let mut b = std::fs::read(path).unwrap();
    let at = b.len() / 2;
    b[at] ^= 0x20;
    std::fs::write(path, b).unwrap();
}

#[test]
fn search_heals_from_a_replica_or_says_what_is_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let (idx, rep) = build(tmp.path());
    let seg = std::fs::read_dir(&idx)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".tdi"))
        .max()
        .unwrap();
    let copy = tmp.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    for e in std::fs::read_dir(&idx).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), copy.join(e.file_name())).unwrap();
    }
    flip(&idx.join(&seg));
    flip(&copy.join(&seg));
    // No replica: an error naming the file.
    let out = lucerna(&["search", "--index", s(&idx), "event"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&seg));
    // With the replica: healed, every document found.
    let out = lucerna(&[
        "search",
        "--json",
        "--index",
        s(&idx),
        "--replica",
        s(&rep),
        "event",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["count"], 80);
    assert_eq!(v["partial"], false);
    assert!(String::from_utf8_lossy(&out.stderr).contains("healed"));
    let out = lucerna(&["check", "--full", "--index", s(&idx)]);
    assert_eq!(out.status.code(), Some(0));
    // Partial, asked for: the intact segment only, the missing ids named.
    let out = lucerna(&[
        "search",
        "--json",
        "--allow-partial",
        "--index",
        s(&copy),
        "event",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["partial"], true);
    assert_eq!(v["count"], 40);
    assert_eq!(v["unavailable"][0]["ids"], serde_json::json!([[40, 79]]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PARTIAL"));
}

#[test]
fn query_topk_mode_follows_the_contract() {
    let tmp = tempfile::tempdir().unwrap();
    let (idx, _) = build(tmp.path());
    let q = tmp.path().join("q.tsv");
    std::fs::write(&q, "term\tdisk\nor\tdisk link\n").unwrap();
    let out = lucerna(&[
        "query",
        "--index",
        s(&idx),
        "--queries",
        s(&q),
        "--repeat",
        "1",
        "--mode",
        "topk",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines[0]["count"].is_null());
    assert_eq!(lines[0]["top_ids"].as_array().unwrap().len(), 10);
    assert_eq!(lines.last().unwrap()["mode"], "topk");
    let out = lucerna(&[
        "query",
        "--index",
        s(&idx),
        "--queries",
        s(&q),
        "--repeat",
        "1",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["count"], 40);
}
