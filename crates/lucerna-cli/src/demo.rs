//! `lucerna demo`: indexes real text present on this machine — this
//! repository's documentation and sources, and the real log samples of the
//! shared benchmark corpus when present — then searches it.

use crate::util::{dir_bytes, progress_bar};
use lucerna::schema::{NumericKind, Schema};
use lucerna::store::{EnvelopeReader, FsDirectory};
use lucerna::{Collect, Document, Durability, Index, WriterConfig};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;

type DemoResult = Result<(), Box<dyn std::error::Error>>;

/// A text to index: where it came from and the text.
struct Source {
    origin: String,
    kind: &'static str,
    text: String,
}

fn find_repo_root() -> Option<PathBuf> {
    let mut cands = vec![std::env::current_dir().ok()?];
    cands.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."));
    for start in cands {
        let mut p = start.as_path();
        loop {
            if p.join("crates/lucerna/Cargo.toml").is_file() {
                return Some(p.to_path_buf());
            }
            match p.parent() {
                Some(up) => p = up,
                None => break,
            }
        }
    }
    None
}

fn walk(dir: &Path, exts: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        if p.is_dir() {
            walk(&p, exts, out);
        } else if exts.iter().any(|x| name.ends_with(x)) {
            out.push(p);
        }
    }
}

fn gather(root: Option<&Path>) -> Vec<Source> {
    let mut out = Vec::new();
    if let Some(root) = root {
        let mut files = Vec::new();
        walk(root, &[".md", ".rs", ".toml"], &mut files);
        for f in files {
            let Ok(text) = std::fs::read_to_string(&f) else {
                continue;
            };
            let rel = f.strip_prefix(root).unwrap_or(&f).display().to_string();
            // One document per paragraph (blank-line separated).
            for (i, para) in text.split("\n\n").enumerate() {
                let para = para.trim();
                if para.len() >= 20 {
                    out.push(Source {
                        origin: format!("{rel}#{}", i + 1),
                        kind: "source",
                        text: para.to_string(),
                    });
                }
            }
        }
        let loghub = root.join("../shared/peers/corpus/data/loghub");
        let mut logs = Vec::new();
        walk(&loghub, &["_2k.log"], &mut logs);
        for f in logs {
            let Ok(text) = std::fs::read_to_string(&f) else {
                continue;
            };
            let sys = f
                .file_name()
                .map(|n| n.to_string_lossy().trim_end_matches("_2k.log").to_string())
                .unwrap_or_default();
            for (i, line) in text.lines().enumerate() {
                if !line.trim().is_empty() {
                    out.push(Source {
                        origin: format!("{sys}:{}", i + 1),
                        kind: "log",
                        text: line.to_string(),
                    });
                }
            }
        }
    }
    out
}

/// Runs the demo in `dir` (or a fresh temporary directory).
pub fn run(dir: Option<PathBuf>, json_out: bool) -> DemoResult {
    let path = dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("lucerna-demo-{}", std::process::id()))
    });
    crate::util::prepare_index_dir(&path)?;
    let root = find_repo_root();
    let sources = gather(root.as_deref());
    if sources.is_empty() {
        return Err("found no text to index (run the demo from the repository)".into());
    }
    let say = |s: String| {
        if !json_out {
            outln!("{s}");
        }
    };
    let n_logs = sources.iter().filter(|s| s.kind == "log").count();
    say(format!(
        "indexing {} documents: {} paragraphs of this repository's docs and sources, {} real log lines{}",
        sources.len(),
        sources.len() - n_logs,
        n_logs,
        if n_logs == 0 { " (shared corpus not found)" } else { " (loghub samples of 16 systems)" }
    ));
    let mut b = Schema::builder();
    let id = b.add_numeric("id", NumericKind::U64, true);
    let ts = b.add_numeric("timestamp", NumericKind::Timestamp, true);
    let kind = b.add_keyword("kind", true);
    let origin = b.add_keyword("origin", true);
    let body = b.add_text("body", true);
    let schema = b.build()?;
    let index = Index::create(FsDirectory::open(&path)?, schema)?;
    // A bulk build that commits at the end: commit-only durability (no
    // write-ahead log), as `lucerna index`.
    let writer = index.writer(
        WriterConfig::default()
            .mem_budget_bytes(16 << 20)
            .durability(Durability::None),
    )?;
    let total_bytes: u64 = sources.iter().map(|s| s.text.len() as u64).sum();
    let bar = progress_bar(total_bytes, json_out, "indexing");
    let t = Instant::now();
    for (i, s) in sources.iter().enumerate() {
        let mut d = Document::new();
        d.add_u64(id, i as u64)
            .add_i64(ts, 1_704_067_200_000 + i as i64 * 1000)
            .add_text(kind, s.kind)
            .add_text(origin, s.origin.clone())
            .add_text(body, s.text.clone());
        writer.add_document(d)?;
        bar.inc(s.text.len() as u64);
    }
    let gen = writer.commit()?;
    bar.finish_and_clear();
    let index_secs = t.elapsed().as_secs_f64();
    say(format!(
        "indexed in {:.2} s ({:.0} docs/s), commit generation {gen}, {} segments, {} bytes on disk",
        index_secs,
        sources.len() as f64 / index_secs,
        writer.num_segments(),
        dir_bytes(&path)?
    ));

    let searcher = index.reader()?.searcher();
    let report = run_queries(&searcher, origin, body, &say)?;

    show_newest(&searcher, ts, origin, &say)?;

    // Delete and near-real-time reopen.
    let before = searcher.count(&searcher.parse_query("kind:log")?)?;
    writer.delete_term(kind, "log")?;
    let nrt = writer.searcher()?;
    let after = nrt.count(&nrt.parse_query("kind:log")?)?;
    say(format!(
        "\ndelete kind:log → near-real-time searcher sees {after} log documents (was {before}); not committed"
    ));
    writer.rollback()?;
    // Merges run in the background and write files: let them finish
    // before reading every file of the directory.
    writer.wait_for_merges()?;

    // Integrity: verify the full checksum of every file.
    let (verified, bytes, ms) = verify_all(&path)?;
    say(format!(
        "verified the CRC32 of all {verified} files ({bytes} bytes) in {ms:.1} ms"
    ));
    if json_out {
        outln!(
            "{}",
            json!({"dir": path.display().to_string(), "docs": sources.len(), "index_seconds": index_secs,
                   "queries": report, "verified_files": verified})
        );
    } else {
        outln!("\nindex left in {}", path.display());
    }
    Ok(())
}

/// Runs the demo's queries, printing the best hits; their JSON report.
fn run_queries(
    searcher: &lucerna::Searcher,
    origin: lucerna::schema::Field,
    body: lucerna::schema::Field,
    say: &dyn Fn(String),
) -> Result<Vec<serde_json::Value>, Box<dyn std::error::Error>> {
    let queries = [
        "error",
        "failed AND password",
        "\"connection closed\"",
        "checksum AND (corrupt OR corruption)",
        "segment*",
        "kind:source AND merge -test",
        "\"block max\"~2",
        "timestamp:[1704067200000 TO 1704067210000]",
    ];
    let mut report = Vec::new();
    for q in queries {
        let query = searcher.parse_query(q)?;
        let t = Instant::now();
        let res = searcher.search(&query, Collect::CountAndTopK(3))?;
        let us = t.elapsed().as_secs_f64() * 1e6;
        say(format!(
            "\n{q}  →  {} hits in {us:.0} µs",
            res.count.unwrap_or(0)
        ));
        let mut hits = Vec::new();
        for h in &res.hits {
            let d = searcher.doc(h.address)?;
            let o = d
                .get_first(origin)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string();
            let text: String = d
                .get_first(body)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .chars()
                .take(100)
                .collect();
            say(format!(
                "   {:>7.3}  {o:<32} {}",
                h.score,
                text.replace('\n', " ")
            ));
            hits.push(json!({"score": h.score, "origin": o}));
        }
        report.push(json!({"query": q, "count": res.count, "us": us, "hits": hits}));
    }
    Ok(report)
}

/// The newest `error` hits, by the timestamp column.
fn show_newest(
    searcher: &lucerna::Searcher,
    ts: lucerna::schema::Field,
    origin: lucerna::schema::Field,
    say: &dyn Fn(String),
) -> DemoResult {
    let newest = searcher.search(
        &searcher.parse_query("error")?,
        Collect::CountAndTopKByField {
            field: ts,
            k: 2,
            descending: true,
        },
    )?;
    say(format!(
        "\nnewest 2 of {} `error` hits by timestamp:",
        newest.count.unwrap_or(0)
    ));
    for h in &newest.hits {
        let d = searcher.doc(h.address)?;
        say(format!(
            "   {}  {}",
            d.get_first(ts).and_then(|v| v.as_i64()).unwrap_or(0),
            d.get_first(origin).and_then(|v| v.as_str()).unwrap_or("")
        ));
    }
    Ok(())
}

/// Verifies the full checksum of every file of the index at `path`: how
/// many files, their bytes, the milliseconds it took.
fn verify_all(path: &Path) -> Result<(usize, u64, f64), Box<dyn std::error::Error>> {
    let fsdir = FsDirectory::open(path)?;
    let t = Instant::now();
    let mut verified = 0;
    let mut bytes = 0;
    for name in lucerna::store::Directory::list(&fsdir)? {
        if name == "write.lock" {
            continue;
        }
        let r = EnvelopeReader::open(&fsdir, &name)?;
        r.verify_full()?;
        verified += 1;
        bytes += r.len();
    }
    Ok((verified, bytes, t.elapsed().as_secs_f64() * 1e3))
}
