//! The `lucerna` binary end to end: index, query, search, stats, demo.

use std::process::Command;

fn lucerna() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lucerna"))
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run lucerna");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

#[test]
fn index_query_search_stats() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("docs.jsonl");
    let mut lines = String::new();
    for i in 0..500 {
        let body = match i % 4 {
            0 => format!("Failed password for root from 10.0.{}.1 port 22", i % 7),
            1 => "Accepted publickey for admin".to_string(),
            2 => "disk full on node-7, write failed".to_string(),
            _ => format!("connection closed by peer {i}"),
        };
        lines.push_str(
            &serde_json::json!({"id": i, "timestamp": 1_700_000_000_000i64 + i, "body": body})
                .to_string(),
        );
        lines.push('\n');
    }
    lines.push_str("{\"id\": \"bad\"}\n");
    std::fs::write(&input, lines).unwrap();
    let index = tmp.path().join("idx");
    let out = run(lucerna()
        .args(["index", "--input"])
        .arg(&input)
        .arg("--index")
        .arg(&index)
        .args(["--threads", "2", "--mem-mb", "1"]));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["engine"], "lucerna");
    assert_eq!(v["docs"], 500);
    assert_eq!(v["rejected"], 1);
    for k in [
        "seconds",
        "docs_per_s",
        "mb_per_s",
        "input_bytes",
        "index_bytes",
        "segments",
        "threads",
    ] {
        assert!(v.get(k).is_some(), "missing {k}");
    }

    let queries = tmp.path().join("q.tsv");
    std::fs::write(
        &queries,
        "# comment\nterm\tfailed\nand\tfailed password\nor\tdisk closed\nphrase\tdisk full\nterm\tnode-7\nterm\t!!!\n",
    )
    .unwrap();
    let out = run(lucerna()
        .args(["query", "--index"])
        .arg(&index)
        .arg("--queries")
        .arg(&queries)
        .args(["--repeat", "2", "--top", "5"]));
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 7);
    let counts: Vec<u64> = lines[..6]
        .iter()
        .map(|l| l["count"].as_u64().unwrap())
        .collect();
    // failed: 125 + 125; failed∧password: 125; disk∨closed: 250; "disk full": 125;
    // node-7 → phrase "node 7": 125; no tokens: 0.
    assert_eq!(counts, vec![250, 125, 250, 125, 125, 0]);
    assert_eq!(lines[0]["top_ids"].as_array().unwrap().len(), 5);
    assert!(lines[6]["summary"]["term"]["p50"].is_number());

    let out = run(lucerna()
        .args(["search", "--index"])
        .arg(&index)
        .args(["+failed -password", "--json"]));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["count"], 125);

    let out = run(lucerna()
        .args(["stats", "--index"])
        .arg(&index)
        .arg("--json"));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["docs"], 500);
}

#[test]
fn index_refuses_to_replace_a_non_index_directory() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("precious.txt"), "keep me").unwrap();
    let input = tmp.path().join("in.jsonl");
    std::fs::write(&input, "{\"id\": 1, \"body\": \"x\"}\n").unwrap();
    let out = lucerna()
        .args(["index", "--input"])
        .arg(&input)
        .arg("--index")
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(tmp.path().join("precious.txt").exists());
}

#[test]
fn demo_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(lucerna()
        .args(["demo", "--json", "--dir"])
        .arg(tmp.path().join("demo")));
    let v: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert!(v["docs"].as_u64().unwrap() > 100);
    assert!(v["verified_files"].as_u64().unwrap() > 3);
}

#[test]
fn check_reports_health_and_names_a_corrupt_file() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("docs.jsonl");
    let lines: String = (0..300)
        .map(|i| {
            serde_json::json!({"id": i, "timestamp": i, "body": format!("line {i} of the check test")})
                .to_string()
                + "\n"
        })
        .collect();
    std::fs::write(&input, lines).unwrap();
    let index = tmp.path().join("idx");
    run(lucerna()
        .args(["index", "--input"])
        .arg(&input)
        .arg("--index")
        .arg(&index));

    let out = run(lucerna()
        .args(["check", "--full", "--json", "--index"])
        .arg(&index));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["healthy"], true, "{out}");
    assert_eq!(v["docs"], 300);
    assert!(v["segments"][0]["postings"].as_u64().unwrap() > 0);

    // Flip one byte in the middle of a postings file.
    let doc_file = std::fs::read_dir(&index)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "doc"))
        .expect("a postings file");
    let mut bytes = std::fs::read(&doc_file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    std::fs::write(&doc_file, bytes).unwrap();

    let out = lucerna()
        .args(["check", "--json", "--index"])
        .arg(&index)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "an unhealthy index exits 1");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["healthy"], false);
    let name = doc_file.file_name().unwrap().to_str().unwrap();
    let problems = v["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0]["file"], name);
    assert!(problems[0]["message"]
        .as_str()
        .unwrap()
        .contains("checksum mismatch"));
}

/// Operators see the matching lines: `add --create` stores the body by
/// default and `search` prints it; the contract's `index` stores only ids
/// (as every peer does) and `search` says how to get the lines.
#[test]
fn search_prints_the_matching_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("docs.jsonl");
    std::fs::write(
        &input,
        "{\"id\":1,\"timestamp\":1,\"body\":\"GET /index.html 200\"}\n\
         {\"id\":2,\"timestamp\":2,\"body\":\"POST /api 500 disk full\"}\n",
    )
    .unwrap();
    let add_create = |index: &std::path::Path| {
        let mut cmd = lucerna();
        cmd.args(["add", "--create", "--index"])
            .arg(index)
            .arg("--input")
            .arg(&input);
        cmd
    };
    let search =
        |index: &std::path::Path| run(lucerna().args(["search", "--index"]).arg(index).arg("disk"));
    let stored = tmp.path().join("stored");
    run(&mut add_create(&stored));
    let out = search(&stored);
    assert!(out.starts_with("1 hits"), "{out}");
    assert!(
        out.contains("id=2  timestamp=2  POST /api 500 disk full"),
        "{out}"
    );
    assert!(!out.contains("stores no text"), "{out}");
    // The same documents again: the index exists now, `--create` adds.
    run(&mut add_create(&stored));
    assert!(search(&stored).starts_with("2 hits"));

    let ids_only = tmp.path().join("ids-only");
    run(lucerna()
        .args(["index", "--input"])
        .arg(&input)
        .arg("--index")
        .arg(&ids_only));
    let out = search(&ids_only);
    assert!(!out.contains("POST /api"), "{out}");
    assert!(out.contains("stores no text"), "{out}");

    // A directory that holds files but no commit is never taken for empty.
    let odd = tmp.path().join("odd");
    std::fs::create_dir(&odd).unwrap();
    std::fs::write(odd.join("wal-000001"), b"x").unwrap();
    let out = add_create(&odd).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn index_builds_under_each_merge_throttle_and_refuses_a_bad_one() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("docs.jsonl");
    let lines: String = (0..400)
        .map(|i| {
            format!(
                "{{\"id\": {i}, \"timestamp\": {}, \"body\": \"request {i} served by node{}\"}}\n",
                1_700_000_000_000u64 + i,
                i % 5
            )
        })
        .collect();
    std::fs::write(&input, lines).unwrap();
    for throttle in ["off", "auto", "12.5"] {
        let idx = tmp.path().join(format!("idx-{throttle}"));
        let out = run(lucerna()
            .args([
                "index",
                "--mem-mb",
                "1",
                "--merge-throttle",
                throttle,
                "--input",
            ])
            .arg(&input)
            .arg("--index")
            .arg(&idx));
        let v: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
        assert_eq!(v["docs"], 400, "{throttle}: {out}");
        let hits = run(lucerna().args(["search", "--index"]).arg(&idx).arg("node3"));
        assert!(hits.contains("80 hits"), "{throttle}: {hits}");
    }
    for bad in ["fast", "0", "-3", "inf"] {
        let out = lucerna()
            .arg("index")
            .arg(format!("--merge-throttle={bad}"))
            .arg("--input")
            .arg(&input)
            .arg("--index")
            .arg(tmp.path().join("never"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("`off`, `auto` or a rate"), "{bad}: {err}");
        assert!(!tmp.path().join("never").exists(), "{bad}");
    }
}
