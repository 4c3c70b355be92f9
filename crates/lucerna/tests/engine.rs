//! Engine behaviour: commits survive SIGKILL, near-real-time readers,
//! malformed documents, range bounds, rollback, reopen, the writer lock.

use lucerna::schema::{NumericKind, Schema};
use lucerna::store::{FsDirectory, RamDirectory};
use lucerna::{Collect, Document, Error, Index, Query, Value, WriterConfig};
use std::io::{BufRead, BufReader, Write};
use std::ops::Bound;
use std::process::{Command, Stdio};

fn logs_doc(schema: &Schema, id: u64, ts: i64, body: &str) -> Document {
    let mut d = Document::new();
    d.add_u64(schema.field("id").unwrap(), id)
        .add_i64(schema.field("timestamp").unwrap(), ts)
        .add_text(schema.field("body").unwrap(), body);
    d
}

/// Child half of the kill test: commits 100 docs, reports, flushes 50 more
/// without committing, reports, then waits to be killed.
#[test]
fn kill_child() {
    let Ok(dir) = std::env::var("LUCERNA_KILL_CHILD_DIR") else {
        return; // Only runs as the child of `sigkill_after_commit_keeps_exactly_that_commit`.
    };
    let index = Index::open(FsDirectory::open(&dir).unwrap()).unwrap();
    let schema = index.schema().clone();
    let w = index
        .writer(WriterConfig::default().max_buffered_docs(10))
        .unwrap();
    for i in 0..100 {
        w.add_document(logs_doc(&schema, i, i as i64, "committed line"))
            .unwrap();
    }
    w.commit().unwrap();
    println!("committed");
    for i in 100..150 {
        w.add_document(logs_doc(&schema, i, i as i64, "flushed line"))
            .unwrap();
    }
    let nrt = w.searcher().unwrap();
    println!("nrt {}", nrt.num_docs());
    std::io::stdout().flush().unwrap();
    // Wait for the kill.
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    std::thread::sleep(std::time::Duration::from_secs(600));
}

#[test]
fn sigkill_after_commit_keeps_exactly_that_commit() {
    let tmp = tempfile::tempdir().unwrap();
    Index::create(FsDirectory::open(tmp.path()).unwrap(), Schema::logs()).unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "kill_child", "--nocapture", "--test-threads=1"])
        .env("LUCERNA_KILL_CHILD_DIR", tmp.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    /// Kills the child when the test ends, passing or failing, so no
    /// orphan outlives a failed assertion.
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut child = KillOnDrop(child);
    let mut saw_commit = false;
    let mut nrt_docs = None;
    let mut line = String::new();
    while out.read_line(&mut line).unwrap() > 0 {
        // The harness prints "test kill_child ... " without a newline first.
        if line.trim().ends_with("committed") {
            saw_commit = true;
        }
        if let Some(n) = line.trim().strip_prefix("nrt ") {
            nrt_docs = n.parse::<u64>().ok();
            break;
        }
        line.clear();
    }
    assert!(saw_commit, "child never committed");
    assert_eq!(
        nrt_docs,
        Some(150),
        "near-real-time reader sees flushed, uncommitted docs"
    );
    child.0.kill().unwrap(); // SIGKILL on Unix
    child.0.wait().unwrap();

    let index = Index::open(FsDirectory::open(tmp.path()).unwrap()).unwrap();
    let s = index.reader().unwrap().searcher();
    assert_eq!(s.num_docs(), 100, "exactly the committed documents");
    let body = index.schema().field("body").unwrap();
    assert_eq!(s.count(&Query::term(body, "committed")).unwrap(), 100);
    assert_eq!(s.count(&Query::term(body, "flushed")).unwrap(), 0);
    // A writer opens cleanly (the lock died with the child) and removes the
    // orphaned files of the uncommitted segments.
    let w = index.writer(WriterConfig::default()).unwrap();
    w.add_document(logs_doc(index.schema(), 1000, 0, "after restart"))
        .unwrap();
    w.commit().unwrap();
    let files = lucerna::store::Directory::list(&FsDirectory::open(tmp.path()).unwrap()).unwrap();
    let commit = index.latest_commit().unwrap();
    let referenced: std::collections::HashSet<String> =
        commit.referenced_files().into_iter().collect();
    let prev = Index::open(FsDirectory::open(tmp.path()).unwrap()).unwrap();
    let _ = prev;
    for f in files {
        if f == "write.lock" || f.starts_with("commit-") {
            continue;
        }
        // Every remaining segment file belongs to one of the kept commits.
        let in_prev =
            lucerna::index::commit::Commit::read(index.directory().as_ref(), commit.generation - 1)
                .map(|c| c.referenced_files().contains(&f))
                .unwrap_or(false);
        assert!(
            referenced.contains(&f) || in_prev,
            "orphan file {f} survived"
        );
    }
}

#[test]
fn malformed_documents_are_rejected_one_by_one() {
    let mut b = Schema::builder();
    b.add_numeric("id", NumericKind::U64, true);
    b.required();
    b.add_numeric("timestamp", NumericKind::Timestamp, false);
    b.add_keyword("host", true);
    b.add_text("body", true);
    let schema = b.build().unwrap();
    let index = Index::create(RamDirectory::new(), schema.clone()).unwrap();
    let w = index
        .writer(WriterConfig::default().max_buffered_docs(7))
        .unwrap();
    let long_host = "h".repeat(40_000);
    let mut good = 0;
    let mut errors = Vec::new();
    for i in 0..300u64 {
        let line = match i % 10 {
            3 => format!(r#"{{"id": "not a number", "body": "bad {i}"}}"#),
            5 => format!(r#"{{"timestamp": {i}, "body": "missing id {i}"}}"#),
            7 => format!(r#"{{"id": {i}, "host": "{long_host}", "body": "oversized keyword"}}"#),
            8 => format!(r#"{{"id": {i}, "timestamp": "yesterday", "body": "bad ts"}}"#),
            9 => "{not json".to_string(),
            _ => format!(
                r#"{{"id": {i}, "timestamp": {i}, "host": "web{}", "body": "good line {i}"}}"#,
                i % 3
            ),
        };
        let res = Document::from_json_str(&schema, &line).and_then(|d| w.add_document(d));
        match res {
            Ok(_) => good += 1,
            Err(Error::Document(m)) => errors.push((i, m)),
            Err(e) => panic!("line {i}: writer error {e}"),
        }
    }
    assert_eq!(good, 150);
    assert_eq!(errors.len(), 150, "each bad document gets its own error");
    w.commit().unwrap();
    let s = index.reader().unwrap().searcher();
    assert_eq!(s.num_docs(), 150);
    let body = schema.field("body").unwrap();
    assert_eq!(s.count(&Query::term(body, "good")).unwrap(), 150);
    assert_eq!(s.count(&Query::term(body, "bad")).unwrap(), 0);
    let host = schema.field("host").unwrap();
    assert_eq!(s.count(&Query::term(host, "web1")).unwrap(), 50);
}

#[test]
fn timestamp_ranges_are_exact_at_the_bounds() {
    let schema = Schema::logs();
    let index = Index::create(RamDirectory::new(), schema.clone()).unwrap();
    let w = index
        .writer(WriterConfig::default().max_buffered_docs(13))
        .unwrap();
    let ts_values: Vec<i64> = (-50..50)
        .map(|x| x * 1000)
        .chain([i64::MIN, i64::MAX, 0])
        .collect();
    for (i, &t) in ts_values.iter().enumerate() {
        w.add_document(logs_doc(&schema, i as u64, t, "x")).unwrap();
    }
    w.commit().unwrap();
    let s = index.reader().unwrap().searcher();
    let ts = schema.field("timestamp").unwrap();
    let count = |lo: Bound<i64>, hi: Bound<i64>| {
        let q = Query::Range {
            field: ts,
            lower: lo.map(Value::I64),
            upper: hi.map(Value::I64),
        };
        let want = ts_values
            .iter()
            .filter(|&&t| {
                (match lo {
                    Bound::Included(l) => t >= l,
                    Bound::Excluded(l) => t > l,
                    Bound::Unbounded => true,
                }) && (match hi {
                    Bound::Included(h) => t <= h,
                    Bound::Excluded(h) => t < h,
                    Bound::Unbounded => true,
                })
            })
            .count() as u64;
        assert_eq!(s.count(&q).unwrap(), want, "{lo:?}..{hi:?}");
    };
    for a in [
        -50_001i64,
        -50_000,
        -1,
        0,
        1,
        1000,
        48_999,
        49_000,
        i64::MIN,
        i64::MAX,
    ] {
        for b in [-50_000i64, 0, 999, 1000, 49_000, i64::MAX, i64::MIN] {
            for lo in [Bound::Included(a), Bound::Excluded(a), Bound::Unbounded] {
                for hi in [Bound::Included(b), Bound::Excluded(b), Bound::Unbounded] {
                    count(lo, hi);
                }
            }
        }
    }
    // Query-string ranges: inclusive and exclusive ends.
    let q = s.parse_query("timestamp:[-1000 TO 1000]").unwrap();
    assert_eq!(s.count(&q).unwrap(), 4); // -1000, 0, 0, 1000
    let q = s.parse_query("timestamp:{-1000 TO 1000}").unwrap();
    assert_eq!(s.count(&q).unwrap(), 2);
    // Newest first.
    let top = s
        .search(
            &Query::MatchAll,
            Collect::CountAndTopKByField {
                field: ts,
                k: 3,
                descending: true,
            },
        )
        .unwrap();
    let got: Vec<i64> = top
        .hits
        .iter()
        .map(|h| lucerna::numeric::u64_to_i64(s.column_value(h.address, ts).unwrap()))
        .collect();
    assert_eq!(got, vec![i64::MAX, 49_000, 48_000]);
}

#[test]
fn rollback_discards_uncommitted_changes() {
    let schema = Schema::logs();
    let index = Index::create(RamDirectory::new(), schema.clone()).unwrap();
    let w = index
        .writer(WriterConfig::default().max_buffered_docs(3))
        .unwrap();
    for i in 0..10 {
        w.add_document(logs_doc(&schema, i, 0, "kept")).unwrap();
    }
    w.commit().unwrap();
    for i in 10..20 {
        w.add_document(logs_doc(&schema, i, 0, "dropped")).unwrap();
    }
    w.delete_term(schema.field("body").unwrap(), "kept")
        .unwrap();
    assert_eq!(w.searcher().unwrap().num_docs(), 10);
    w.rollback().unwrap();
    assert_eq!(w.searcher().unwrap().num_docs(), 10);
    let body = schema.field("body").unwrap();
    assert_eq!(
        w.searcher()
            .unwrap()
            .count(&Query::term(body, "kept"))
            .unwrap(),
        10
    );
    w.commit().unwrap();
    assert_eq!(index.reader().unwrap().searcher().num_docs(), 10);
}

#[test]
fn only_one_writer_at_a_time() {
    let tmp = tempfile::tempdir().unwrap();
    let index = Index::create(FsDirectory::open(tmp.path()).unwrap(), Schema::logs()).unwrap();
    let w = index.writer(WriterConfig::default()).unwrap();
    let other = Index::open(FsDirectory::open(tmp.path()).unwrap()).unwrap();
    assert!(matches!(
        other.writer(WriterConfig::default()),
        Err(Error::Store(lucerna::store::StoreError::Locked { .. }))
    ));
    drop(w);
    other.writer(WriterConfig::default()).unwrap();
}

#[test]
fn readers_reload_and_keep_old_views() {
    let tmp = tempfile::tempdir().unwrap();
    let index = Index::create(FsDirectory::open(tmp.path()).unwrap(), Schema::logs()).unwrap();
    let schema = index.schema().clone();
    let w = index
        .writer(WriterConfig::default().max_buffered_docs(5))
        .unwrap();
    for i in 0..20 {
        w.add_document(logs_doc(&schema, i, 0, "one")).unwrap();
    }
    w.commit().unwrap();
    let reader = index.reader().unwrap();
    let old = reader.searcher();
    let body = schema.field("body").unwrap();
    w.delete_term(body, "one").unwrap();
    for i in 20..25 {
        w.add_document(logs_doc(&schema, i, 0, "two")).unwrap();
    }
    w.commit().unwrap();
    w.commit().unwrap();
    w.commit().unwrap(); // old commits and their files are now deletable
    assert!(reader.reload().unwrap());
    let new = reader.searcher();
    assert_eq!(new.num_docs(), 5);
    // The old view still reads its (possibly deleted) files.
    assert_eq!(old.num_docs(), 20);
    assert_eq!(old.count(&Query::term(body, "one")).unwrap(), 20);
    assert!(old
        .doc(old.top_k(&Query::term(body, "one"), 1).unwrap().hits[0].address)
        .unwrap()
        .get_first(schema.field("id").unwrap())
        .and_then(|v| v.as_u64())
        .is_some());
}
