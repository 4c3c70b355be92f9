//! `s3://bucket/prefix` wherever the CLI takes an index or a replica,
//! against the moto S3 server: a writer process keeps a bucket replica; a
//! second process that shares only the bucket answers the query set
//! exactly as the writer's directory does; `check` verifies the bucket;
//! `repair` restores a damaged local file from it.

#[path = "../../lucerna-object/tests/common/moto.rs"]
mod moto;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

fn lucerna(args: &[&str], cache: &Path) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lucerna"));
    c.args(args).env("LUCERNA_CACHE_DIR", cache);
    for (k, v) in moto::moto().env() {
        c.env(k, v);
    }
    c.output().expect("run lucerna")
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "lucerna failed ({}): {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// (count, top ids) per query line of `lucerna query` output.
fn answers(out: &str) -> Vec<(serde_json::Value, serde_json::Value)> {
    out.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("q").is_some())
        .map(|v| (v["count"].clone(), v["top_ids"].clone()))
        .collect()
}

#[test]
fn bucket_urls_work_for_replicas_readers_check_and_repair() {
    let bucket = moto::fresh_bucket_name();
    let url = format!("s3://{bucket}/logs/main");
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("docs.jsonl");
    let mut f = std::fs::File::create(&input).unwrap();
    let words = [
        "failed", "password", "root", "disk", "full", "timeout", "nginx", "cron",
    ];
    for i in 0..2000u64 {
        let body: Vec<&str> = (0..6)
            .map(|j| words[((i * 7 + j * 3) % 8) as usize])
            .collect();
        writeln!(
            f,
            r#"{{"id": {i}, "timestamp": {i}, "body": "{} host{}"}}"#,
            body.join(" "),
            i % 13
        )
        .unwrap();
    }
    drop(f);
    let queries = tmp.path().join("q.tsv");
    std::fs::write(
        &queries,
        "term\tfailed\nand\tfailed root\nor\tdisk nginx\nphrase\tpassword root\nterm\thost3\n",
    )
    .unwrap();
    let local = tmp.path().join("local");
    let (l, q) = (local.to_str().unwrap(), queries.to_str().unwrap());
    let wcache = tmp.path().join("wcache");
    ok(&lucerna(
        &[
            "index",
            "--input",
            input.to_str().unwrap(),
            "--index",
            l,
            "--replica",
            &url,
        ],
        &wcache,
    ));

    // A second process sharing only the bucket (its own cache).
    let rcache = tmp.path().join("rcache");
    let mine = answers(&ok(&lucerna(
        &["query", "--index", l, "--queries", q, "--repeat", "1"],
        &wcache,
    )));
    let theirs = answers(&ok(&lucerna(
        &["query", "--index", &url, "--queries", q, "--repeat", "1"],
        &rcache,
    )));
    assert_eq!(mine.len(), 5);
    assert!(mine.iter().any(|(c, _)| c.as_u64().unwrap() > 100));
    assert_eq!(theirs, mine);
    let s = ok(&lucerna(
        &["search", "--index", &url, "failed AND root", "--json"],
        &rcache,
    ));
    assert!(s.contains("\"count\""), "{s}");
    let stats = ok(&lucerna(&["stats", "--index", &url, "--json"], &rcache));
    assert!(stats.contains("2000"), "{stats}");

    // check understands buckets, as the index and as a replica.
    ok(&lucerna(&["check", "--index", &url], &rcache));
    ok(&lucerna(
        &["check", "--index", l, "--replica", &url],
        &rcache,
    ));

    // A damaged local segment file is restored from the bucket.
    let victim = std::fs::read_dir(&local)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_str().unwrap().ends_with(".doc"))
        .expect("a postings file");
    let mut bytes = std::fs::read(&victim).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&victim, &bytes).unwrap();
    assert_eq!(
        lucerna(&["check", "--index", l], &rcache).status.code(),
        Some(1)
    );
    ok(&lucerna(
        &["repair", "--index", l, "--replica", &url],
        &rcache,
    ));
    ok(&lucerna(&["check", "--index", l], &rcache));
    let after = answers(&ok(&lucerna(
        &["query", "--index", l, "--queries", q, "--repeat", "1"],
        &wcache,
    )));
    assert_eq!(after, mine);

    // search and query heal through a bucket replica, as the library does.
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[mid] ^= 0x55;
    std::fs::write(&victim, &bytes).unwrap();
    let o = lucerna(
        &[
            "query",
            "--index",
            l,
            "--queries",
            q,
            "--repeat",
            "1",
            "--replica",
            &url,
        ],
        &wcache,
    );
    assert_eq!(answers(&ok(&o)), mine);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("healed"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    ok(&lucerna(&["check", "--index", l], &rcache));

    // gc: the index and its newest commits stay.
    let g = ok(&lucerna(
        &[
            "gc",
            "--bucket",
            &url,
            "--keep-commits",
            "1",
            "--grace-secs",
            "0",
            "--json",
        ],
        &rcache,
    ));
    let g: serde_json::Value = serde_json::from_str(g.trim()).unwrap();
    assert_eq!(g["retained"].as_array().unwrap().len(), 1, "{g}");
    let again = answers(&ok(&lucerna(
        &["query", "--index", &url, "--queries", q, "--repeat", "1"],
        &tmp.path().join("c3"),
    )));
    assert_eq!(again, mine);

    // A bucket is not a repair target.
    let o = lucerna(&["repair", "--index", &url], &rcache);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("local index directory"));
}
