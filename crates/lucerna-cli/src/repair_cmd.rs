//! `lucerna repair`: brings a damaged index back to health, from replicas,
//! from an older commit and the write-ahead log, or (only with
//! `--allow-loss`) by dropping what cannot be restored, reporting exactly
//! which documents are lost.

use lucerna::index::recovery::{
    repair_with, LostSegment, RepairOptions, RepairOutcome, RepairProgress, RepairReport,
};
use lucerna::store::{Directory, FsDirectory};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The arguments of `lucerna repair`.
pub struct RepairArgs<'a> {
    /// The index directory.
    pub index: &'a Path,
    /// Replica directories, in order of preference.
    pub replicas: &'a [PathBuf],
    /// Allow dropping what cannot be restored.
    pub allow_loss: bool,
    /// Change nothing; print the plan.
    pub dry_run: bool,
    /// Print JSON.
    pub json: bool,
}

/// Runs the repair; returns whether the index is healthy afterwards (for a
/// dry run: whether it already is).
pub fn run_repair(args: &RepairArgs<'_>) -> Result<bool, Box<dyn std::error::Error>> {
    crate::location::require_local(args.index, "repair")?;
    if !args.index.is_dir() {
        return Err(format!("{} is not a directory", args.index.display()).into());
    }
    let dir: Arc<dyn Directory> = Arc::new(FsDirectory::open(args.index)?);
    let mut replicas: Vec<Arc<dyn Directory>> = Vec::new();
    for r in args.replicas {
        replicas.push(
            crate::location::open_read(r).map_err(|e| format!("replica {}: {e}", r.display()))?,
        );
    }
    let options = RepairOptions {
        allow_loss: args.allow_loss,
        dry_run: args.dry_run,
    };
    let mut bar: Option<indicatif::ProgressBar> = None;
    let quiet = args.json;
    let report = repair_with(&dir, &replicas, options, None, &mut |p: &RepairProgress| {
        let b = bar.get_or_insert_with(|| crate::util::progress_bar(p.total, quiet, "copying"));
        b.set_position(p.done);
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if args.json {
        outln!("{}", to_json(&report, args));
    } else {
        print_text(&report, args);
    }
    Ok(report.healthy())
}

fn lost_json(l: &LostSegment) -> serde_json::Value {
    json!({
        "segment": l.segment,
        "docs": l.docs,
        "ids": l.ids.as_ref().map(|s| s.ranges().iter().map(|&(a, b)| json!([a, b])).collect::<Vec<_>>()),
        "ids_exact": l.ids.as_ref().map(|s| s.is_exact()),
        "id_range": l.id_range,
        "cause": l.cause,
    })
}

fn to_json(r: &RepairReport, args: &RepairArgs<'_>) -> serde_json::Value {
    json!({
        "outcome": r.outcome.as_str(),
        "healthy": r.healthy(),
        "dry_run": r.dry_run,
        "changed": r.changed(),
        "replicas": args.replicas.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "generation_before": r.before.generation,
        "generation_after": r.after.as_ref().and_then(|a| a.generation),
        "problems_before": r.before.problems.iter().map(|p| json!({
            "file": p.file, "kind": p.kind, "segment": p.segment, "offset": p.offset,
            "missing": p.missing, "message": p.message,
        })).collect::<Vec<_>>(),
        "markers_before": r.before.markers.iter().map(|m| m.file.clone()).collect::<Vec<_>>(),
        "actions": r.actions.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        "bytes_copied": r.bytes_copied,
        "lost_docs": r.lost_docs(),
        "lost": r.lost.iter().map(lost_json).collect::<Vec<_>>(),
        "lost_log": r.lost_log.iter().map(|l| json!({
            "file": l.file, "offset": l.offset, "lsns": l.lsns, "ids": l.ids, "cause": l.cause,
        })).collect::<Vec<_>>(),
        "unknown_loss": r.unknown_loss,
        "notes": r.notes,
        "problems_after": r.after.as_ref().map(|a| a.problems.iter().map(|p| json!({
            "file": p.file, "kind": p.kind, "segment": p.segment, "offset": p.offset,
            "missing": p.missing, "message": p.message,
        })).collect::<Vec<_>>()),
    })
}

/// Id ranges as text: `0-9, 12, 15-20`.
fn ranges_text(ranges: &[(u64, u64)]) -> String {
    const SHOWN: usize = 20;
    let mut parts: Vec<String> = ranges
        .iter()
        .take(SHOWN)
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect();
    if ranges.len() > SHOWN {
        parts.push(format!(
            "… ({} ranges in all; --json lists them)",
            ranges.len()
        ));
    }
    parts.join(", ")
}

fn print_text(r: &RepairReport, args: &RepairArgs<'_>) {
    match r.before.generation {
        Some(g) => outln!(
            "index {} at commit generation {g}: {} problem(s), {} marker(s)",
            args.index.display(),
            r.before.problems.len(),
            r.before.markers.len()
        ),
        None => outln!(
            "index {}: no readable commit, {} problem(s)",
            args.index.display(),
            r.before.problems.len()
        ),
    }
    for p in &r.before.problems {
        let at = p
            .offset
            .map(|o| format!(" at byte {o}"))
            .unwrap_or_default();
        outln!("  problem: {} [{}]{at}: {}", p.file, p.kind, p.message);
    }
    for m in &r.before.markers {
        outln!("  marker: {} ({})", m.file, m.message);
    }
    if r.outcome == RepairOutcome::Healthy {
        for n in &r.notes {
            outln!("  {n}");
        }
        outln!("healthy: nothing to repair");
        return;
    }
    if !r.notes.is_empty() {
        outln!("found:");
        for n in &r.notes {
            outln!("  {n}");
        }
    }
    if !r.actions.is_empty() {
        outln!(
            "{}",
            if r.dry_run {
                "plan (dry run, nothing changed):"
            } else {
                "done:"
            }
        );
        for a in &r.actions {
            outln!("  {a}");
        }
    }
    if !r.lost.is_empty() || !r.lost_log.is_empty() || r.unknown_loss.is_some() {
        print_loss(r);
    }
    print_outcome(r);
}

/// The documents and logged operations a repair lost (or would lose).
fn print_loss(r: &RepairReport) {
    let verb = if r.outcome == RepairOutcome::RepairedWithLoss && !r.dry_run {
        "lost"
    } else {
        "would lose"
    };
    let ops: u64 = r
        .lost_log
        .iter()
        .map(|l| match l.lsns {
            Some((a, b)) if a <= b => b - a + 1,
            _ => 1,
        })
        .sum();
    if ops > 0 {
        outln!(
            "{verb} {} document(s) and {ops} logged operation(s):",
            r.lost_docs()
        );
    } else {
        outln!("{verb} {} document(s):", r.lost_docs());
    }
    for l in &r.lost {
        let ids = match &l.ids {
            Some(s) if s.is_exact() => format!("ids {}", ranges_text(s.ranges())),
            Some(s) => format!("ids within {} (not exact)", ranges_text(s.ranges())),
            None => match l.id_range {
                Some((a, b)) => format!("ids within {a}-{b} (not exact)"),
                None => "ids unknown".into(),
            },
        };
        outln!("  segment {}: {} document(s), {ids}", l.segment, l.docs);
        outln!("    because {}", l.cause);
    }
    for l in &r.lost_log {
        let ops = match l.lsns {
            Some((a, b)) if a <= b => format!("operations {a}..={b}"),
            _ => "operations".into(),
        };
        let ids = if l.ids.is_empty() {
            "ids unknown".to_string()
        } else {
            format!(
                "ids {} (read from the damaged bytes)",
                l.ids
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        outln!("  log {} at byte {}: {ops}, {ids}", l.file, l.offset);
        outln!("    because {}", l.cause);
    }
    if let Some(u) = &r.unknown_loss {
        outln!("  {u}");
    }
}

/// The last line(s): repaired, healthy or not, and what to do next.
fn print_outcome(r: &RepairReport) {
    match r.outcome {
        RepairOutcome::NeedsAllowLoss => outln!(
            "NOT repaired: only a repair losing documents is possible; {} (add a --replica \
             holding the damaged files, or rerun with --allow-loss)",
            if r.actions.is_empty() || r.dry_run {
                "nothing was changed"
            } else {
                "nothing else was changed"
            }
        ),
        RepairOutcome::Unrepairable => {
            outln!(
                "NOT repaired: no intact commit is left here or in a replica; nothing was changed"
            )
        }
        _ if r.dry_run => outln!("dry run: nothing changed"),
        _ => match &r.after {
            Some(a) if a.healthy() => outln!(
                "healthy: commit generation {}, {} live documents{}",
                a.generation.unwrap_or(0),
                a.docs,
                if r.bytes_copied > 0 {
                    format!(", {} bytes copied", r.bytes_copied)
                } else {
                    String::new()
                }
            ),
            Some(a) => {
                outln!("NOT healthy after repair: {} problem(s)", a.problems.len());
                for p in &a.problems {
                    outln!("  problem: {} [{}]: {}", p.file, p.kind, p.message);
                }
            }
            None => {}
        },
    }
}
