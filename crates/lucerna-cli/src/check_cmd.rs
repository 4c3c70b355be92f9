//! `lucerna check`: verifies every file of the newest commit (length and
//! full CRC against the commit's record) and, with `--full`, decodes every
//! structure, in the spirit of Lucene's `CheckIndex`; the write-ahead log
//! against the commit's position; every older kept commit (the fallbacks
//! of `repair`); files of another index; a missing newest commit.

use lucerna::index::check::{check_index_against, CheckOptions, CheckReport};
use lucerna::store::Directory;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Runs the check; returns whether the index is healthy and its fallback
/// commits intact.
pub fn run_check(
    index: &Path,
    replicas: &[PathBuf],
    full: bool,
    as_json: bool,
) -> Result<bool, Box<dyn std::error::Error>> {
    let dir: Arc<dyn Directory> = crate::location::open_read(index)?;
    let mut reps: Vec<Arc<dyn Directory>> = Vec::new();
    for r in replicas {
        reps.push(
            crate::location::open_read(r).map_err(|e| format!("replica {}: {e}", r.display()))?,
        );
    }
    let report = check_index_against(
        &dir,
        &reps,
        CheckOptions {
            deep: full,
            write_markers: true,
        },
    )?;
    if as_json {
        outln!("{}", to_json(&report, full));
    } else {
        print_text(&report, full);
    }
    Ok(report.healthy() && report.fallbacks_intact())
}

fn problem_json(p: &lucerna::index::check::Problem) -> serde_json::Value {
    json!({
        "file": p.file, "kind": p.kind, "segment": p.segment, "offset": p.offset,
        "missing": p.missing, "message": p.message,
    })
}

fn span_json(s: &lucerna::SkippedSpan) -> serde_json::Value {
    json!({"file": s.file, "offset": s.offset, "len": s.len, "reason": s.reason, "lsns": s.lsns})
}

fn to_json(r: &CheckReport, full: bool) -> serde_json::Value {
    json!({
        "healthy": r.healthy(),
        "fallbacks_intact": r.fallbacks_intact(),
        "index_id": r.index_id.to_string(),
        "generation": r.generation,
        "missing_newest": r.missing_newest,
        "log": {
            "files": r.log.files,
            "pending_operations": r.log.pending,
            "max_lsn": r.log.max_lsn,
            "torn": r.log.torn.iter().map(span_json).collect::<Vec<_>>(),
            "covered_damage": r.log.covered_damage.iter().map(span_json).collect::<Vec<_>>(),
        },
        "fallbacks": r.fallbacks.iter().map(|f| json!({
            "generation": f.generation,
            "ok": f.problems.is_empty(),
            "problems": f.problems.iter().map(problem_json).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "foreign": r.foreign.iter().map(|f| json!({"file": f.file, "index_id": f.index_id.to_string()})).collect::<Vec<_>>(),
        "docs": r.docs,
        "full": full,
        "segments": r.segments.iter().map(|s| json!({
            "name": s.name, "max_doc": s.max_doc, "deleted": s.deleted, "ok": s.ok,
            "marker": s.marker,
            "terms": s.terms, "postings": s.postings,
            "files": s.files.iter().map(|f| json!({
                "name": f.name, "kind": f.kind, "ok": f.ok,
                "expected_len": f.expected_len, "actual_len": f.actual_len,
                "expected_crc": format!("{:08x}", f.expected_crc),
                "actual_crc": f.actual_crc.map(|c| format!("{c:08x}")),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "problems": r.problems.iter().map(problem_json).collect::<Vec<_>>(),
        "markers": r.markers.iter().map(|m| json!({
            "file": m.file, "segment": m.segment, "active": m.active,
            "damaged_file": m.damaged_file, "offset": m.offset, "message": m.message,
        })).collect::<Vec<_>>(),
    })
}

fn print_text(r: &CheckReport, full: bool) {
    match r.generation {
        Some(g) if r.segments.iter().all(|s| s.ok) => {
            outln!("commit generation {g}, {} live documents", r.docs)
        }
        Some(g) => outln!(
            "commit generation {g}, {} live documents in the intact segments",
            r.docs
        ),
        None => outln!("no readable commit"),
    }
    for s in &r.segments {
        let files_ok = s.files.iter().filter(|f| f.ok).count();
        out!(
            "  {:<10} {:>9} docs {:>7} deleted  {}/{} files intact",
            s.name,
            s.max_doc,
            s.deleted,
            files_ok,
            s.files.len()
        );
        if full {
            out!("  {} terms, {} postings decoded", s.terms, s.postings);
        }
        let state = match (s.ok, &s.marker) {
            (false, _) => "DAMAGED",
            (true, Some(_)) => "MARKED CORRUPT",
            (true, None) => "OK",
        };
        outln!("  {state}");
    }
    for p in &r.problems {
        let at = p
            .offset
            .map(|o| format!(" at byte {o}"))
            .unwrap_or_default();
        let seg = p
            .segment
            .as_deref()
            .map(|s| format!(" (segment {s})"))
            .unwrap_or_default();
        outln!("problem: {} [{}]{seg}{at}: {}", p.file, p.kind, p.message);
    }
    for m in &r.markers {
        let state = if m.active {
            "marks a segment of this commit: it will not open until `lucerna repair`"
        } else {
            "stale: its segment is no longer in the index (`lucerna repair` removes it)"
        };
        let at = m
            .offset
            .map(|o| format!(" at byte {o}"))
            .unwrap_or_default();
        outln!(
            "marker: {} (segment {}, {state}); recorded problem in {}{at}: {}",
            m.file,
            m.segment,
            m.damaged_file.as_deref().unwrap_or("?"),
            m.message
        );
    }
    print_log_and_fallbacks(r);
    let active = r.markers.iter().filter(|m| m.active).count();
    if r.healthy() && !r.fallbacks_intact() {
        outln!(
            "the newest commit is healthy{}, but a fallback commit is DAMAGED: `lucerna repair \
             --replica DIR` restores it; until then a damaged newest commit could not be rebuilt from it",
            if full { " (full check)" } else { "" }
        );
    } else if r.healthy() {
        outln!("healthy{}", if full { " (full check)" } else { "" });
    } else if active > 0 {
        outln!(
            "NOT healthy: {} problem(s), {active} segment(s) marked corrupt",
            r.problems.len()
        );
    } else {
        outln!("NOT healthy: {} problem(s)", r.problems.len());
    }
}

/// The log and the older kept commits, as the operator needs them.
fn print_log_and_fallbacks(r: &CheckReport) {
    if r.log.files > 0 {
        out!(
            "write-ahead log: {} file(s), up to operation {}",
            r.log.files,
            r.log.max_lsn
        );
        if r.log.pending > 0 {
            out!(
                "; {} acknowledged operation(s) after the commit (a writer replays them; \
                 `lucerna repair` commits them)",
                r.log.pending
            );
        }
        outln!("");
        for s in &r.log.covered_damage {
            outln!(
                "  harmless: {} at byte {} ({} bytes): {} (operations a commit already holds)",
                s.file,
                s.offset,
                s.len,
                s.reason
            );
        }
        for s in &r.log.torn {
            outln!(
                "  torn tail: {} at byte {} ({} bytes, never acknowledged)",
                s.file,
                s.offset,
                s.len
            );
        }
    }
    for f in &r.fallbacks {
        if f.problems.is_empty() {
            outln!("fallback commit-{}: intact", f.generation);
        } else {
            outln!("fallback commit-{}: DAMAGED", f.generation);
            for p in &f.problems {
                let at = p
                    .offset
                    .map(|o| format!(" at byte {o}"))
                    .unwrap_or_default();
                outln!("  {} [{}]{at}: {}", p.file, p.kind, p.message);
            }
        }
    }
}
