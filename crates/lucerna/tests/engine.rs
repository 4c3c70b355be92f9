//! Engine behaviour: commits survive SIGKILL, near-real-time readers,
//! malformed documents, range bounds, rollback, reopen, the writer lock.

use lucerna::analysis::DefaultAnalyzer;
use lucerna::internals::SearcherInternals;
use lucerna::schema::{Field, NumericKind, Schema};
use lucerna::store::{FsDirectory, RamDirectory};
use lucerna::{Collect, Document, Durability, Error, Index, Query, Value, WriterConfig};
use std::io::{BufRead, BufReader, Write};
use std::ops::Bound;
use std::process::{Command, Stdio};
use std::sync::Arc;

/// Longest term a segment holds, in bytes (Lucene's limit, documented on
/// keyword fields).
const MAX_TERM_BYTES: usize = 32_766;

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
    // Commit-only durability: what is not committed is lost to the kill
    // (the write-ahead log's kill test is in tests/durability.rs).
    let w = index
        .writer(
            WriterConfig::default()
                .max_buffered_docs(10)
                .durability(Durability::None),
        )
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
        if f == "write.lock" || f.starts_with("commit-") || f.starts_with("wal-") {
            continue;
        }
        // Every remaining segment file belongs to one of the kept commits.
        let in_prev =
            lucerna::index::Commit::read(index.directory().as_ref(), commit.generation - 1)
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
    let too_long = "h".repeat(MAX_TERM_BYTES + 1);
    let longest = "h".repeat(MAX_TERM_BYTES);
    // Every way the schema says a line is bad; each holds the word "bad".
    let bad: Vec<Box<dyn Fn(u64) -> String>> = vec![
        Box::new(|i| format!(r#"{{"id": "not a number", "body": "bad {i}"}}"#)),
        Box::new(|i| format!(r#"{{"timestamp": {i}, "body": "bad: missing id"}}"#)),
        Box::new(|_| r#"{"id": null, "body": "bad: null id"}"#.to_string()),
        Box::new(|_| r#"{"id": -5, "body": "bad: negative u64"}"#.to_string()),
        Box::new(|_| r#"{"id": 1.5, "body": "bad: fractional u64"}"#.to_string()),
        Box::new(|i| format!(r#"{{"id": [{i}, {i}], "body": "bad: two ids"}}"#)),
        Box::new(|i| format!(r#"{{"id": {i}, "timestamp": "yesterday", "body": "bad ts"}}"#)),
        Box::new(|i| {
            format!(
                r#"{{"id": {i}, "timestamp": 9223372036854775808, "body": "bad: ts over i64"}}"#
            )
        }),
        Box::new(|i| format!(r#"{{"id": {i}, "timestamp": 1.5, "body": "bad: fractional ts"}}"#)),
        Box::new(|i| format!(r#"{{"id": {i}, "body": 42, "host": "bad"}}"#)),
        Box::new(|i| format!(r#"{{"id": {i}, "body": ["bad", {{"x": 1}}]}}"#)),
        Box::new(move |i| {
            format!(r#"{{"id": {i}, "host": "{too_long}", "body": "bad: long keyword"}}"#)
        }),
        Box::new(|_| "{not json, bad".to_string()),
        Box::new(|_| r#"["bad", 1]"#.to_string()),
    ];
    let mut good = Vec::new();
    let mut errors = Vec::new();
    let mut nrt_checked = false;
    for i in 0..420u64 {
        let line = if i % 2 == 1 {
            bad[(i / 2) as usize % bad.len()](i)
        } else {
            match i % 8 {
                // Good lines at the edges of what is accepted.
                0 => format!(r#"{{"id": {i}, "host": "{longest}", "body": "good line {i}"}}"#),
                2 => format!(
                    r#"{{"id": {i}, "timestamp": -9223372036854775808, "body": ["good", "line {i}"]}}"#
                ),
                4 => format!(r#"{{"id": {i}, "unknown": [1, "x"], "body": "good line {i}"}}"#),
                _ => format!(
                    r#"{{"id": {i}, "timestamp": {i}, "host": "web{}", "body": "good line {i}"}}"#,
                    i % 3
                ),
            }
        };
        let res = Document::from_json_str(&schema, &line).and_then(|d| w.add_document(d));
        match res {
            Ok(_) => good.push(i),
            Err(Error::Document(m)) => errors.push((i, m)),
            Err(e) => panic!("line {i}: writer error {e}"),
        }
        if i == 211 {
            // Halfway, a near-real-time searcher sees exactly the good ones.
            let s = w.searcher().unwrap();
            assert_eq!(s.num_docs(), good.len() as u64);
            nrt_checked = true;
        }
    }
    assert!(nrt_checked);
    let bad_lines: Vec<u64> = errors.iter().map(|e| e.0).collect();
    assert_eq!(
        bad_lines,
        (0..420).filter(|i| i % 2 == 1).collect::<Vec<_>>(),
        "exactly the bad lines fail, each with its own error"
    );
    w.commit().unwrap();
    let s = index.reader().unwrap().searcher();
    assert_eq!(s.num_docs(), good.len() as u64);
    let body = schema.field("body").unwrap();
    let id = schema.field("id").unwrap();
    assert_eq!(
        s.count(&Query::term(body, "good")).unwrap(),
        good.len() as u64
    );
    assert_eq!(s.count(&Query::term(body, "bad")).unwrap(), 0);
    let host = schema.field("host").unwrap();
    assert_eq!(s.count(&Query::term(host, "bad")).unwrap(), 0);
    assert_eq!(
        s.count(&Query::term(host, longest.as_str())).unwrap(),
        good.iter().filter(|i| *i % 8 == 0).count() as u64
    );
    for i in 0..420u64 {
        let q = Query::Range {
            field: id,
            lower: Bound::Included(Value::U64(i)),
            upper: Bound::Included(Value::U64(i)),
        };
        assert_eq!(s.count(&q).unwrap(), (i % 2 == 0) as u64, "id {i}");
    }
    // The writer carries on.
    w.add_document(Document::from_json_str(&schema, r#"{"id": 1000, "body": "after"}"#).unwrap())
        .unwrap();
    w.commit().unwrap();
    assert_eq!(
        index.reader().unwrap().searcher().num_docs(),
        good.len() as u64 + 1
    );
}

/// A bad document built in code, one per way `add_document` can reject it.
fn bad_document(kind: usize, f: &ThreadFields, tag: &str) -> Document {
    let mut d = Document::new();
    let key = |d: &mut Document| {
        d.add_text(f.key, tag);
    };
    match kind {
        0 => {
            key(&mut d);
            d.add_u64(f.id, 1).add(Field(200), Value::U64(1));
        }
        1 => {
            key(&mut d);
            d.add(f.id, Value::Str("1".into()));
        }
        2 => {
            key(&mut d);
            d.add_u64(f.id, 1).add_u64(f.body, 7);
        }
        3 => {
            key(&mut d);
            d.add_i64(f.id, -1);
        }
        4 => {
            key(&mut d);
            d.add_u64(f.id, 1).add_u64(f.ts, u64::MAX);
        }
        5 => {
            key(&mut d);
            d.add_u64(f.id, 1).add_f64(f.ts, 1.5);
        }
        6 => {
            key(&mut d);
            d.add_u64(f.id, 1).add_f64(f.load, f64::NAN);
        }
        7 => {
            key(&mut d);
            d.add_u64(f.id, 1).add_u64(f.id, 2);
        }
        8 => {
            key(&mut d); // no id
        }
        9 => {
            key(&mut d);
            d.add_u64(f.id, 1)
                .add_text(f.host, "h".repeat(MAX_TERM_BYTES + 1));
        }
        _ => {
            key(&mut d);
            d.add_u64(f.id, 1).add(f.key, Value::I64(3));
        }
    }
    d.add_text(f.body, "bad document");
    d
}
const BAD_KINDS: usize = 11;

struct ThreadFields {
    id: Field,
    key: Field,
    ts: Field,
    load: Field,
    host: Field,
    body: Field,
}

#[test]
fn malformed_documents_from_several_threads_leave_the_writer_usable() {
    let mut b = Schema::builder();
    let id = b.add_numeric("id", NumericKind::U64, true);
    b.required();
    let f = ThreadFields {
        id,
        key: b.add_keyword("key", true),
        ts: b.add_numeric("timestamp", NumericKind::Timestamp, false),
        load: b.add_numeric("load", NumericKind::F64, false),
        host: b.add_keyword("host", false),
        body: b.add_text("body", false),
    };
    let schema = b.build().unwrap();
    let index = Index::create(RamDirectory::new(), schema).unwrap();
    let w = index
        .writer(
            WriterConfig::default()
                .indexing_threads(3)
                .max_buffered_docs(5),
        )
        .unwrap();
    const PER_THREAD: u64 = 150;
    let adders_done = std::sync::atomic::AtomicUsize::new(0);
    let (goods, nrt_counts) = std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for t in 0..3u64 {
            let (w, f, done) = (&w, &f, &adders_done);
            handles.push(scope.spawn(move || {
                let mut good = Vec::new();
                for i in 0..PER_THREAD {
                    let tag = format!("t{t}-{i}");
                    if i % 3 != 0 {
                        let mut d = Document::new();
                        d.add_u64(f.id, t * 1000 + i)
                            .add_text(f.key, tag.as_str())
                            .add_i64(f.ts, i as i64)
                            .add_f64(f.load, i as f64 / 2.0)
                            .add_text(f.body, format!("good document {tag}"));
                        w.add_document(d).unwrap();
                        good.push(tag);
                        continue;
                    }
                    let kind = (i / 3) as usize % (BAD_KINDS + 2);
                    let res = if kind < BAD_KINDS {
                        w.add_document(bad_document(kind, f, &tag)).map(|_| ())
                    } else if kind == BAD_KINDS {
                        // A bad replacement leaves the document it would replace.
                        let Some(prev) = good.last() else { continue };
                        w.update_document(
                            f.key,
                            prev,
                            bad_document(i as usize % BAD_KINDS, f, prev),
                        )
                        .map(|_| ())
                    } else {
                        // Deleting by a field that is not indexed.
                        match w.delete_term(f.ts, "1") {
                            Err(Error::InvalidArgument(_)) => continue,
                            other => panic!("delete on a numeric field: {other:?}"),
                        }
                    };
                    match res {
                        Err(Error::Document(_)) => {}
                        other => panic!("thread {t} doc {i} (kind {kind}): {other:?}"),
                    }
                }
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                good
            }));
        }
        // Meanwhile: near-real-time searchers and commits.
        let mut nrt_counts = Vec::new();
        while adders_done.load(std::sync::atomic::Ordering::SeqCst) < 3 {
            nrt_counts.push(w.searcher().unwrap().num_docs());
            w.commit().unwrap();
            std::thread::yield_now();
        }
        let goods: Vec<Vec<String>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        (goods, nrt_counts)
    });
    assert!(
        nrt_counts.windows(2).all(|w| w[0] <= w[1]),
        "no good document ever disappears: {nrt_counts:?}"
    );
    let good: Vec<&String> = goods.iter().flatten().collect();
    assert_eq!(good.len() as u64, 3 * (PER_THREAD - PER_THREAD.div_ceil(3)));
    w.commit().unwrap();
    let s = index.reader().unwrap().searcher();
    assert_eq!(s.num_docs(), good.len() as u64);
    assert_eq!(s.count(&Query::term(f.body, "bad")).unwrap(), 0);
    assert_eq!(
        s.count(&Query::term(f.body, "good")).unwrap(),
        good.len() as u64
    );
    for tag in &good {
        assert_eq!(
            s.count(&Query::term(f.key, tag.as_str())).unwrap(),
            1,
            "{tag}"
        );
    }
    for t in 0..3 {
        for i in (0..PER_THREAD).filter(|i| i % 3 == 0) {
            let tag = format!("t{t}-{i}");
            assert_eq!(
                s.count(&Query::term(f.key, tag.as_str())).unwrap(),
                0,
                "{tag}"
            );
        }
    }
    // The same writer goes on indexing and committing.
    let mut d = Document::new();
    d.add_u64(f.id, 99_999).add_text(f.key, "after");
    w.add_document(d).unwrap();
    w.commit().unwrap();
    let s = index.reader().unwrap().searcher();
    assert_eq!(s.num_docs(), good.len() as u64 + 1);
    assert_eq!(s.count(&Query::term(f.key, "after")).unwrap(), 1);
}

/// A term occurring more often in one field of a document than a segment
/// holds positions for (2^24) rejects that document alone; one occurrence
/// fewer in another document is indexed and found.
#[test]
fn a_term_repeated_past_the_positions_limit_rejects_only_its_document() {
    let limit = lucerna::internals::codec::postings::MAX_DOC_POSITIONS as usize;
    let schema = Schema::logs();
    let body = schema.field("body").unwrap();
    let id = schema.field("id").unwrap();
    let index = Index::create(RamDirectory::new(), schema).unwrap();
    let w = index
        .writer(WriterConfig::default().indexing_threads(1))
        .unwrap();
    let text = |n: usize| {
        let mut t = String::with_capacity(2 * n + 8);
        for _ in 0..n {
            t.push_str("z ");
        }
        t.push_str("tail");
        t
    };
    let mut over = Document::new();
    over.add_u64(id, 1).add_text(body, text(limit + 1));
    match w.add_document(over) {
        Err(Error::Document(m)) => assert!(m.contains("positions"), "{m}"),
        other => panic!("accepted: {other:?}"),
    }
    let mut at = Document::new();
    at.add_u64(id, 2).add_text(body, text(limit));
    w.add_document(at).unwrap();
    w.commit().unwrap();
    let s = index.reader().unwrap().searcher();
    assert_eq!(s.num_docs(), 1);
    assert_eq!(s.count(&Query::term(body, "tail")).unwrap(), 1);
    assert_eq!(
        s.count(&Query::phrase(body, ["z", "tail"])).unwrap(),
        1,
        "the positions of the term at the limit read back"
    );
}

/// An analyzer may produce a term longer than any segment can hold: the
/// document is rejected on its own, and nothing else (a buffered document,
/// a replaced document, the next flush) suffers.
#[test]
fn an_immense_text_term_rejects_only_its_document() {
    let mut b = Schema::builder();
    let id = b.add_numeric("id", NumericKind::U64, true);
    let key = b.add_keyword("key", false);
    let body = b.add_text("body", false);
    let index = Index::create(RamDirectory::new(), b.build().unwrap())
        .unwrap()
        .with_analyzer(Arc::new(DefaultAnalyzer::with_max_token_bytes(usize::MAX)));
    let w = index
        .writer(
            WriterConfig::default()
                .indexing_threads(1)
                .max_buffered_docs(4),
        )
        .unwrap();
    let doc = |i: u64, k: &str, values: &[&str]| {
        let mut d = Document::new();
        d.add_u64(id, i).add_text(key, k);
        for v in values {
            d.add_text(body, *v);
        }
        d
    };
    let longest = "b".repeat(MAX_TERM_BYTES);
    let immense = "a".repeat(MAX_TERM_BYTES + 1);
    w.add_document(doc(1, "k1", &["first version"])).unwrap();
    w.add_document(doc(2, "k2", &[longest.as_str()])).unwrap();
    for (i, values) in [
        vec![immense.as_str()],
        vec!["newterm one", immense.as_str()],
        vec![immense.as_str(), "newterm two"],
    ]
    .iter()
    .enumerate()
    {
        match w.add_document(doc(10 + i as u64, "rejected", values)) {
            Err(Error::Document(m)) => assert!(m.contains("body"), "{m}"),
            other => panic!("immense term accepted: {other:?}"),
        }
    }
    // A replacement with an immense term leaves the old document alone.
    assert!(matches!(
        w.update_document(key, "k1", doc(3, "k1", &["second", immense.as_str()])),
        Err(Error::Document(_))
    ));
    for i in 20..30 {
        w.add_document(doc(i, "later", &["later document"]))
            .unwrap();
    }
    w.commit().unwrap();
    let s = index.reader().unwrap().searcher();
    assert_eq!(s.num_docs(), 12);
    assert_eq!(s.count(&Query::term(key, "k1")).unwrap(), 1);
    assert_eq!(s.count(&Query::term(body, "first")).unwrap(), 1);
    assert_eq!(s.count(&Query::term(body, "second")).unwrap(), 0);
    assert_eq!(s.count(&Query::term(body, "newterm")).unwrap(), 0);
    assert_eq!(s.count(&Query::term(key, "rejected")).unwrap(), 0);
    assert_eq!(s.count(&Query::term(body, longest.as_str())).unwrap(), 1);
    assert_eq!(s.count(&Query::term(body, "later")).unwrap(), 10);
    // The statistics hold only accepted documents: "later" scores as in an
    // index of exactly these twelve documents.
    let fresh = Index::create(RamDirectory::new(), index.schema().clone())
        .unwrap()
        .with_analyzer(Arc::new(DefaultAnalyzer::with_max_token_bytes(usize::MAX)));
    let fw = fresh
        .writer(WriterConfig::default().indexing_threads(1))
        .unwrap();
    fw.add_document(doc(1, "k1", &["first version"])).unwrap();
    fw.add_document(doc(2, "k2", &[longest.as_str()])).unwrap();
    for i in 20..30 {
        fw.add_document(doc(i, "later", &["later document"]))
            .unwrap();
    }
    fw.commit().unwrap();
    let fs = fresh.reader().unwrap().searcher();
    let q = Query::term(body, "later");
    let scores = |s: &lucerna::Searcher| -> Vec<f32> {
        s.top_k(&q, 20)
            .unwrap()
            .hits
            .iter()
            .map(|h| h.score)
            .collect()
    };
    assert_eq!(scores(&s), scores(&fs));
    // And the writer keeps going.
    w.update_document(key, "k1", doc(4, "k1", &["second version"]))
        .unwrap();
    w.commit().unwrap();
    let s = index.reader().unwrap().searcher();
    assert_eq!(s.count(&Query::term(body, "second")).unwrap(), 1);
    assert_eq!(s.count(&Query::term(body, "first")).unwrap(), 0);
}

/// A writer opened while a near-real-time searcher of an earlier writer
/// still holds that writer's uncommitted segment files must not write
/// segments under the same names.
#[test]
fn a_new_writer_never_reuses_segment_names_still_on_disk() {
    let schema = Schema::logs();
    let index = Index::create(RamDirectory::new(), schema.clone()).unwrap();
    let body = schema.field("body").unwrap();
    let w = index
        .writer(
            WriterConfig::default()
                .max_buffered_docs(2)
                .durability(Durability::None),
        )
        .unwrap();
    for i in 0..5 {
        w.add_document(logs_doc(&schema, i, 0, "uncommitted"))
            .unwrap();
    }
    let old = w.searcher().unwrap();
    drop(w);
    let w = index
        .writer(
            WriterConfig::default()
                .max_buffered_docs(2)
                .durability(Durability::None),
        )
        .unwrap();
    for i in 0..7 {
        w.add_document(logs_doc(&schema, i, 0, "committed"))
            .unwrap();
    }
    w.commit().unwrap();
    let s = index.reader().unwrap().searcher();
    assert_eq!(s.num_docs(), 7);
    assert_eq!(s.count(&Query::term(body, "uncommitted")).unwrap(), 0);
    // The old view is intact.
    assert_eq!(old.num_docs(), 5);
    assert_eq!(old.count(&Query::term(body, "uncommitted")).unwrap(), 5);
    assert_eq!(old.count(&Query::term(body, "committed")).unwrap(), 0);
}

/// Deletes before a commit (of buffered and of flushed documents), after
/// it, and through near-real-time searchers, over many small segments.
#[test]
fn deletes_and_updates_before_and_after_commit_are_exact() {
    let schema = Schema::logs();
    let (id, body) = (schema.field("id").unwrap(), schema.field("body").unwrap());
    let dir = RamDirectory::new();
    let index = Index::create(dir.clone(), schema.clone()).unwrap();
    let w = index
        .writer(
            WriterConfig::default()
                .indexing_threads(1)
                .max_buffered_docs(2)
                .no_merges(),
        )
        .unwrap();
    // Doc i has the words "d{i}" (unique) and "m{i % 5}".
    let add = |i: u64| {
        w.add_document(logs_doc(&schema, i, i as i64, &format!("d{i} m{}", i % 5)))
            .unwrap()
    };
    let mut live: std::collections::BTreeSet<u64> = Default::default();
    let check = |s: &lucerna::Searcher, live: &std::collections::BTreeSet<u64>| {
        assert_eq!(s.num_docs(), live.len() as u64);
        let top = s
            .search(&Query::MatchAll, Collect::CountAndTopK(1000))
            .unwrap();
        assert_eq!(top.count, Some(live.len() as u64));
        let ids: std::collections::BTreeSet<u64> = top
            .hits
            .iter()
            .map(|h| s.column_value(h.address, id).unwrap())
            .collect();
        assert_eq!(&ids, live);
        for m in 0..5 {
            let want = live.iter().filter(|&&i| i % 5 == m).count() as u64;
            assert_eq!(s.count(&Query::term(body, format!("m{m}"))).unwrap(), want);
        }
    };
    for i in 0..100 {
        add(i);
        live.insert(i);
    }
    // Before the first commit: a buffered document (99), flushed ones.
    w.delete_term(body, "d99").unwrap();
    w.delete_term(body, "d3").unwrap();
    live.remove(&99);
    live.remove(&3);
    check(&w.searcher().unwrap(), &live);
    w.commit().unwrap();
    check(&index.reader().unwrap().searcher(), &live);
    // After the commit: committed documents, and ones added since.
    for i in 100..150 {
        add(i);
        live.insert(i);
    }
    w.delete_term(body, "m1").unwrap();
    live.retain(|i| i % 5 != 1);
    // Readded after the delete: survives it.
    add(151);
    live.insert(151);
    check(&w.searcher().unwrap(), &live);
    // Updates of a committed, a flushed and a buffered document.
    for (old, new) in [(10u64, 1010u64), (120, 1120), (151, 1151)] {
        w.update_document(
            body,
            &format!("d{old}"),
            logs_doc(&schema, new, 0, &format!("d{new} m{}", new % 5)),
        )
        .unwrap();
        live.remove(&old);
        live.insert(new);
    }
    // A document added, deleted and added again before any flush.
    add(2000);
    w.delete_term(body, "d2000").unwrap();
    add(2000);
    live.insert(2000);
    let nrt = w.searcher().unwrap();
    check(&nrt, &live);
    let at_nrt = live.clone();
    // More deletes through a second near-real-time view; the first is unchanged.
    w.delete_term(body, "m2").unwrap();
    live.retain(|i| i % 5 != 2);
    check(&w.searcher().unwrap(), &live);
    check(&nrt, &at_nrt);
    w.commit().unwrap();
    let s = index.reader().unwrap().searcher();
    check(&s, &live);
    assert!(s.segments().len() > 50, "{} segments", s.segments().len());
    // Reopened from the directory.
    drop(w);
    check(
        &Index::open(dir).unwrap().reader().unwrap().searcher(),
        &live,
    );
}

/// Documents without a value of the sort field come after every document
/// with one, in both directions, so a sorted top-k has min(k, count) hits.
#[test]
fn sorted_top_k_puts_documents_without_the_field_last() {
    let schema = Schema::logs();
    let (id, ts, body) = (
        schema.field("id").unwrap(),
        schema.field("timestamp").unwrap(),
        schema.field("body").unwrap(),
    );
    let index = Index::create(RamDirectory::new(), schema.clone()).unwrap();
    let w = index
        // Ties go by address, which follows insertion order only while no
        // merge reorders segments.
        .writer(
            WriterConfig::default()
                .indexing_threads(1)
                .max_buffered_docs(3)
                .no_merges(),
        )
        .unwrap();
    let mut docs: Vec<(u64, Option<i64>)> = Vec::new();
    for i in 0..40u64 {
        let t = match i % 4 {
            0 => None,
            1 => Some(i64::MIN),
            2 => Some((i as i64 % 7) - 3),
            _ => Some(i64::MAX - (i as i64 % 2)),
        };
        let mut d = Document::new();
        d.add_u64(id, i).add_text(body, "line");
        if let Some(t) = t {
            d.add_i64(ts, t);
        }
        w.add_document(d).unwrap();
        docs.push((i, t));
    }
    w.commit().unwrap();
    let s = index.reader().unwrap().searcher();
    for descending in [true, false] {
        for k in [1, 5, 25, 40, 100] {
            let top = s
                .top_k_by_field(&Query::MatchAll, k, ts, descending)
                .unwrap();
            assert_eq!(top.count, Some(40));
            let got: Vec<u64> = top
                .hits
                .iter()
                .map(|h| s.column_value(h.address, id).unwrap())
                .collect();
            let mut want = docs.clone();
            want.sort_by_key(|&(i, t)| {
                let v = t.map_or(0, |t| if descending { -(t as i128) } else { t as i128 });
                (t.is_none(), v, i)
            });
            let want: Vec<u64> = want.iter().take(k).map(|d| d.0).collect();
            assert_eq!(got, want, "k {k}, descending {descending}");
        }
    }
}

/// "Every hit": a top-k as large as `usize::MAX` returns every match.
#[test]
fn a_huge_k_returns_every_hit() {
    let schema = Schema::logs();
    let body = schema.field("body").unwrap();
    let ts = schema.field("timestamp").unwrap();
    let index = Index::create(RamDirectory::new(), schema.clone()).unwrap();
    let w = index.writer(WriterConfig::default()).unwrap();
    for i in 0..30 {
        w.add_document(logs_doc(&schema, i, i as i64, "some line"))
            .unwrap();
    }
    w.commit().unwrap();
    let s = index.reader().unwrap().searcher();
    let q = Query::term(body, "line");
    for collect in [
        Collect::CountAndTopK(usize::MAX),
        Collect::TopK(usize::MAX),
        Collect::CountAndTopKByField {
            field: ts,
            k: usize::MAX,
            descending: true,
        },
    ] {
        assert_eq!(s.search(&q, collect).unwrap().hits.len(), 30, "{collect:?}");
    }
}

/// Phrase positions are relative: a phrase whose first term is at offset
/// 1 (as after a removed stop word) matches at the start of a field too.
#[test]
fn phrase_offsets_are_relative() {
    let schema = Schema::logs();
    let body = schema.field("body").unwrap();
    let index = Index::create(RamDirectory::new(), schema.clone()).unwrap();
    let w = index.writer(WriterConfig::default()).unwrap();
    for (i, text) in ["disk full", "x disk full", "disk x full", "full disk"]
        .iter()
        .enumerate()
    {
        w.add_document(logs_doc(&schema, i as u64, 0, text))
            .unwrap();
    }
    w.commit().unwrap();
    let s = index.reader().unwrap().searcher();
    for base in [0u32, 1, 5] {
        let phrase = |slop| Query::Phrase {
            field: body,
            terms: vec![(base, "disk".into()), (base + 1, "full".into())],
            slop,
        };
        assert_eq!(s.count(&phrase(0)).unwrap(), 2, "offset {base}");
        assert_eq!(s.count(&phrase(1)).unwrap(), 3, "offset {base}, slop 1");
        assert_eq!(s.count(&phrase(2)).unwrap(), 4, "offset {base}, slop 2");
        // Scores do not depend on where the phrase's offsets start.
        let at0 = Query::Phrase {
            field: body,
            terms: vec![(0, "disk".into()), (1, "full".into())],
            slop: 0,
        };
        assert_eq!(
            s.top_k(&phrase(0), 5).unwrap().hits,
            s.top_k(&at0, 5).unwrap().hits
        );
    }
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
