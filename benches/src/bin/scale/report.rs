//! The scale benchmark's report: a JSON line per engine and size, and the
//! markdown tables (indexing, queries per kind and mode, goals).

use crate::engine::QueryRun;
use crate::Measured;
use serde_json::{json, Value};
use std::fmt::Write;

const KINDS: [&str; 4] = ["term", "and", "or", "phrase"];

/// Goal: indexing throughput at the largest size within this fraction of
/// the smallest size's.
const THROUGHPUT_TOLERANCE: f64 = 0.15;

const MIB: f64 = (1u64 << 20) as f64;

fn kinds_json(q: &QueryRun) -> Value {
    q.kinds
        .iter()
        .map(|(k, p)| (k.clone(), json!({"n": p.n, "p50": p.p50, "p99": p.p99})))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// One engine at one size, as a JSON object.
pub(crate) fn json_line(m: &Measured, settings: &Value) -> Value {
    let i = &m.index;
    json!({
        "engine": m.engine, "lines": m.lines, "input_bytes": m.input_bytes,
        "docs": i.docs, "seconds": i.seconds, "docs_per_s": i.docs_per_s,
        "index_bytes": i.index_bytes, "segments": i.segments,
        "peak_rss_bytes": i.peak_rss_bytes, "disk_bytes_written": i.disk_bytes_written,
        "disk_write_amplification": i.disk_write_amplification(),
        "bytes_flushed": i.bytes_flushed, "bytes_merged": i.bytes_merged,
        "merge_write_amplification": i.merge_write_amplification(),
        "count": kinds_json(&m.count), "topk": kinds_json(&m.topk),
        "settings": settings,
    })
}

/// A progress line for standard error.
pub(crate) fn one_line(m: &Measured) -> String {
    format!(
        "scale: {} {} lines: {:.0} docs/s, index {:.0} MiB, peak RSS {:.0} MiB",
        m.engine,
        m.lines,
        m.index.docs_per_s,
        m.index.index_bytes as f64 / MIB,
        m.index.peak_rss_bytes as f64 / MIB
    )
}

fn millions(n: u64) -> String {
    if n < 1_000_000 {
        return format!("{} k", n / 1000);
    }
    let m = n as f64 / 1e6;
    if m.fract() == 0.0 {
        format!("{m:.0} M")
    } else {
        format!("{m:.1} M")
    }
}

/// Microseconds, with a decimal under 100.
fn us(x: f64) -> String {
    if x < 100.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.0}")
    }
}

fn engines(all: &[Measured]) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for m in all {
        if !v.contains(&m.engine) {
            v.push(m.engine.clone());
        }
    }
    v
}

fn rows<'a>(all: &'a [Measured], engine: &'a str) -> impl Iterator<Item = &'a Measured> + 'a {
    all.iter().filter(move |m| m.engine == engine)
}

/// Queries whose counts differ between the first engine and `m`, at `m`'s
/// size (`None` without a reference).
fn disagreements(all: &[Measured], m: &Measured) -> Option<(usize, usize)> {
    let first = all.iter().find(|r| r.lines == m.lines)?;
    let (a, b) = (&first.count.counts, &m.count.counts);
    let differ = a.iter().zip(b).filter(|(x, y)| x != y).count() + a.len().abs_diff(b.len());
    Some((differ, a.len().max(b.len())))
}

/// The markdown tables and goal lines of the whole run.
pub(crate) fn tables(all: &[Measured], mem_mb: usize, peak_disk: u64, settings: &Value) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Settings: {settings}\n");
    let _ = writeln!(
        s,
        "| engine | lines | docs/s | vs {} | index MiB | bytes/line | segments | peak RSS MiB | disk writes / index | merge WA | counts agree |",
        all.first().map(|m| millions(m.lines)).unwrap_or_default()
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for e in engines(all) {
        let base = rows(all, &e).next().map(|m| m.index.docs_per_s);
        for m in rows(all, &e) {
            let i = &m.index;
            let agree = match disagreements(all, m) {
                Some((d, n)) if n > 0 => format!("{:.1} %", 100.0 * (n - d) as f64 / n as f64),
                _ => "–".into(),
            };
            let _ = writeln!(
                s,
                "| {e} | {} | {:.0} | {:+.1} % | {:.0} | {:.1} | {} | {:.0} | {:.2} | {} | {agree} |",
                millions(m.lines),
                i.docs_per_s,
                base.map_or(0.0, |b| 100.0 * (i.docs_per_s / b - 1.0)),
                i.index_bytes as f64 / MIB,
                i.index_bytes as f64 / m.lines.max(1) as f64,
                i.segments.map_or("–".into(), |n| n.to_string()),
                i.peak_rss_bytes as f64 / MIB,
                i.disk_write_amplification(),
                i.merge_write_amplification()
                    .map_or("–".into(), |w| format!("{w:.2}")),
            );
        }
    }
    for mode in ["count", "topk"] {
        let _ = writeln!(
            s,
            "\nQuery latency, `{mode}` mode, µs (p50 / p99; growth from the smallest size):\n"
        );
        let sizes: Vec<u64> = {
            let mut v: Vec<u64> = all.iter().map(|m| m.lines).collect();
            v.dedup();
            v
        };
        let mut head = "| kind | engine |".to_string();
        let mut rule = "|---|---|".to_string();
        for n in &sizes {
            let _ = write!(head, " {} |", millions(*n));
            rule.push_str("---:|");
        }
        head.push_str(" growth p50 / p99 |");
        rule.push_str("---:|");
        let _ = writeln!(s, "{head}\n{rule}");
        for kind in KINDS {
            for e in engines(all) {
                let pick = |m: &Measured| {
                    let q = if mode == "count" { &m.count } else { &m.topk };
                    q.kinds.get(kind).copied()
                };
                let cells: Vec<_> = rows(all, &e).map(pick).collect();
                if cells.iter().all(Option::is_none) {
                    continue;
                }
                let mut line = format!("| {kind} | {e} |");
                for c in &cells {
                    match c {
                        Some(p) => {
                            let _ = write!(line, " {} / {} |", us(p.p50), us(p.p99));
                        }
                        None => line.push_str(" – |"),
                    }
                }
                match (
                    cells.first().copied().flatten(),
                    cells.last().copied().flatten(),
                ) {
                    (Some(a), Some(b)) => {
                        let _ = write!(line, " {:.2}× / {:.2}× |", b.p50 / a.p50, b.p99 / a.p99);
                    }
                    _ => line.push_str(" – |"),
                }
                let _ = writeln!(s, "{line}");
            }
        }
    }
    let _ = writeln!(s);
    for e in engines(all) {
        let r: Vec<&Measured> = rows(all, &e).collect();
        if let (Some(a), Some(b)) = (r.first(), r.last()) {
            if r.len() > 1 {
                let change = b.index.docs_per_s / a.index.docs_per_s - 1.0;
                let met = change >= -THROUGHPUT_TOLERANCE;
                let _ = writeln!(
                    s,
                    "goal {e}: indexing at {} within {:.0} % of {}: {:+.1} % ({:.0} vs {:.0} docs/s): {}",
                    millions(b.lines),
                    THROUGHPUT_TOLERANCE * 100.0,
                    millions(a.lines),
                    100.0 * change,
                    b.index.docs_per_s,
                    a.index.docs_per_s,
                    if met { "met" } else { "missed" }
                );
            }
        }
        let peak = r.iter().map(|m| m.index.peak_rss_bytes).max().unwrap_or(0);
        // `--mem-mb` is read as MiB by `lucerna index` (and as
        // `setRAMBufferSizeMB`'s 2^20-byte megabytes by Lucene): the
        // budget is `mem_mb` MiB; both units are printed.
        let _ = writeln!(
            s,
            "goal {e}: peak RSS within the {mem_mb} MiB memory budget: {:.0} MiB ({:.0} MB): {}",
            peak as f64 / MIB,
            peak as f64 / 1e6,
            if peak as f64 <= mem_mb as f64 * MIB {
                "met"
            } else {
                "missed"
            }
        );
    }
    let _ = writeln!(
        s,
        "disk: at most {:.1} GB in use at once (corpus file and one index)",
        peak_disk as f64 / 1e9
    );
    s
}
