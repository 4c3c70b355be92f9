//! The report: the JSON object of the run (a row per tenant, the memory
//! figures against their limits, the goals, the configuration and the
//! timeline) and the human-readable table printed from it.

use crate::args::Args;
use crate::overload::RateFigures;
use crate::timeline::Sample;
use crate::workload::{Phases, SearchOutcome, WriterOutcome};
use lucerna::merge::{BackpressureConfig, MIB};
use lucerna::WriterMetrics;
use serde_json::{json, Value};
use std::time::Duration;

/// How the run was set up, beyond its arguments.
pub(crate) struct Setup<'a> {
    pub(crate) args: &'a Args,
    pub(crate) phases: Phases,
    /// The backpressure limits of every writer.
    pub(crate) backpressure: BackpressureConfig,
    /// Threads of the shared merge scheduler.
    pub(crate) merge_threads: usize,
    /// Where the documents came from (a path, or `synthetic`).
    pub(crate) corpus: String,
    /// Documents in the corpus.
    pub(crate) corpus_docs: usize,
    /// The terms every searcher queries.
    pub(crate) queries: &'a [String],
}

/// What the run measured of one tenant.
pub(crate) struct TenantFigures<'a> {
    pub(crate) spiking: bool,
    pub(crate) writer: &'a WriterOutcome,
    pub(crate) search: &'a SearchOutcome,
    /// The writer's metrics when the spike started.
    pub(crate) at_switch: &'a WriterMetrics,
    /// The writer's metrics after the final commit.
    pub(crate) at_end: &'a WriterMetrics,
    /// Documents in the final commit.
    pub(crate) found: u64,
    /// Acknowledged documents the final commit lacks.
    pub(crate) missing: u64,
}

/// The process's memory over the run.
pub(crate) struct MemoryFigures {
    /// Peak RSS (VmHWM).
    pub(crate) peak_rss: u64,
    pub(crate) writer_budget_bytes: u64,
    pub(crate) page_budget_bytes: u64,
    /// Whether the searchers shared a page budget.
    pub(crate) page_budget: bool,
    pub(crate) page_budget_checks: u64,
    pub(crate) page_budget_releases: u64,
    /// RSS before the writers started.
    pub(crate) rss_baseline: u64,
    /// Anonymous RSS before the writers started.
    pub(crate) anon_baseline: u64,
    pub(crate) peak_anon: u64,
    pub(crate) peak_file: u64,
    /// Bytes of the indexes on disk at the end.
    pub(crate) index_bytes: u64,
    pub(crate) malloc_tuned: bool,
}

fn delta_secs(a: Duration, b: Duration) -> f64 {
    a.saturating_sub(b).as_secs_f64()
}

/// The row of tenant `i` in the report.
pub(crate) fn tenant_row(i: usize, r: &TenantFigures<'_>, setup: &Setup<'_>) -> Value {
    let (args, phases, bp) = (setup.args, setup.phases, setup.backpressure);
    let (w, so, m, m0) = (r.writer, r.search, r.at_end, r.at_switch);
    let (found, missing) = (r.found, r.missing);
    let search = if so.spike_merging.n > 0 {
        &so.spike_merging
    } else {
        &so.spike_all
    };
    let mut row = json!({
        "tenant": i,
        "spiking": r.spiking,
        "docs_per_s": w.spike_docs as f64 / phases.spike_len(),
        "baseline_docs_per_s": w.baseline_docs as f64 / phases.baseline_len(),
        "target_docs_per_s": if r.spiking { args.rate * args.spike } else { args.rate },
        "add_p50_us": w.spike_lat.quantile_us(0.5),
        "add_p99_us": w.spike_lat.quantile_us(0.99),
        "add_max_us": w.spike_lat.max_us(),
        "baseline_add_p50_us": w.baseline_lat.quantile_us(0.5),
        "baseline_add_p99_us": w.baseline_lat.quantile_us(0.99),
        "baseline_add_max_us": w.baseline_lat.max_us(),
        "delayed_s": delta_secs(m.delayed_time, m0.delayed_time),
        "stalled_s": delta_secs(m.stalled_time, m0.stalled_time),
        "baseline_delayed_s": m0.delayed_time.as_secs_f64(),
        "baseline_stalled_s": m0.stalled_time.as_secs_f64(),
        "delays": m.delays,
        "stalls": m.stalls,
        "peak_backlog_bytes": m.peak_pending_merge_bytes,
        "hard_limit_bytes": bp.hard_pending_merge_bytes,
        "soft_limit_bytes": bp.soft_pending_merge_bytes,
        "write_amplification": m.write_amplification,
        "merges_completed": m.merges_completed,
        "merges_failed": m.merges_failed,
        "segments_at_end": m.segments,
        "bytes_flushed": m.bytes_flushed,
        "bytes_merged": m.bytes_merged,
        "merge_mib_per_s": m.merge_mib_per_s,
        "search_p99_us": search.quantile_us(0.99),
        "search_p50_us": search.quantile_us(0.5),
        "search_samples": search.n,
        "baseline_search_p99_us": so.baseline_merging.quantile_us(0.99),
        "nrt_reopen_p99_us": so.reopen.quantile_us(0.99),
        "search_errors": so.errors,
        "acked_docs": w.acked,
        "found_docs": found,
        "lost_docs": missing,
        "add_errors": w.errors,
        "last_add_error": w.last_error,
        "last_search_error": so.last_error,
        "skipped_docs": w.skipped,
    });
    row["rate_limited_episodes"] = json!(m.rate_limited_episodes);
    row["admitted_bytes"] = json!(m.admitted_bytes);
    row
}

/// The goals of the scenario, per tenant (from its row) and for the
/// process's memory; returns them and whether all are met.
fn goals(
    rows: &[Value],
    overload: Option<&RateFigures>,
    rss_ok: bool,
    anon_ok: bool,
) -> (Vec<Value>, bool) {
    let mut goals = Vec::new();
    for r in rows {
        let tenant = r["tenant"].as_u64().unwrap_or(0);
        let num = |k: &str| r[k].as_f64().unwrap_or(0.0);
        let mib = |k: &str| num(k) / MIB as f64;
        if r["spiking"].as_bool() == Some(true) {
            let ok = r["peak_backlog_bytes"].as_u64() < r["hard_limit_bytes"].as_u64();
            goals.push(json!({"tenant": tenant, "goal": "peak backlog < hard limit", "ok": ok,
                "value": format!("{:.1} of {:.1} MiB", mib("peak_backlog_bytes"), mib("hard_limit_bytes"))}));
            if let Some(o) = overload {
                goals.extend(o.goals(tenant, num("add_p99_us")));
            }
        } else {
            let ok = num("docs_per_s") >= 0.9 * num("baseline_docs_per_s");
            goals.push(
                json!({"tenant": tenant, "goal": "docs/s >= 90% of baseline", "ok": ok,
                "value": format!("{:.0} of {:.0}", num("docs_per_s"), num("baseline_docs_per_s"))}),
            );
            let ok = num("add_p99_us") <= 2.0 * num("baseline_add_p99_us");
            goals.push(json!({"tenant": tenant, "goal": "add p99 <= 2x baseline", "ok": ok,
                "value": format!("{:.1} vs {:.1} µs", num("add_p99_us"), num("baseline_add_p99_us"))}));
        }
        let ok = r["lost_docs"].as_u64() == Some(0) && r["add_errors"].as_u64() == Some(0);
        goals.push(json!({"tenant": tenant, "goal": "0 documents lost, 0 add errors", "ok": ok,
            "value": format!("{} lost of {}, {} errors", r["lost_docs"], r["acked_docs"], r["add_errors"])}));
    }
    let mut all_ok = goals.iter().all(|g| g["ok"].as_bool() == Some(true));
    all_ok &= rss_ok;
    goals.push(json!({"goal": "peak RSS (VmHWM) <= 1.1 x budgets + baseline", "ok": rss_ok}));
    all_ok &= anon_ok;
    goals.push(
        json!({"goal": "peak anonymous RSS <= 1.1 x budgets + anonymous baseline", "ok": anon_ok}),
    );
    (goals, all_ok)
}

/// The JSON object of the run: the tenants' rows, the memory against its
/// limits, the goals, the configuration and the timeline.
pub(crate) fn summary(
    setup: &Setup<'_>,
    rows: Vec<Value>,
    mem: &MemoryFigures,
    samples: &[Sample],
) -> Value {
    let (args, phases) = (setup.args, setup.phases);
    let budget_bytes = mem.writer_budget_bytes + mem.page_budget_bytes;
    // With a page budget, file-backed pages (the program's code among
    // them) are inside the budgets, so the baseline is the anonymous one;
    // without, the whole starting RSS.
    let rss_limit_baseline = if mem.page_budget {
        mem.anon_baseline
    } else {
        mem.rss_baseline
    };
    let rss_limit = (1.1 * budget_bytes as f64) as u64 + rss_limit_baseline;
    let anon_limit = (1.1 * mem.writer_budget_bytes as f64) as u64 + mem.anon_baseline;
    let rss_ok = mem.peak_rss <= rss_limit;
    let anon_ok = mem.peak_anon <= anon_limit;
    let spiking = rows
        .iter()
        .position(|r| r["spiking"].as_bool() == Some(true));
    let overload = spiking
        .filter(|_| args.overload)
        .and_then(|i| RateFigures::measure(samples, phases, i));
    let (goals, all_ok) = goals(&rows, overload.as_ref(), rss_ok, anon_ok);
    let timeline: Vec<Value> = samples.iter().map(sample_json).collect();
    let config = config_json(setup);

    json!({
        "tenants": rows,
        "peak_rss_bytes": mem.peak_rss,
        "budget_bytes": budget_bytes,
        "writer_budget_bytes": mem.writer_budget_bytes,
        "page_budget_bytes": mem.page_budget_bytes,
        "page_budget_checks": mem.page_budget_checks,
        "page_budget_releases": mem.page_budget_releases,
        "rss_baseline_bytes": mem.rss_baseline,
        "rss_limit_baseline_bytes": rss_limit_baseline,
        "rss_limit_bytes": rss_limit,
        "rss_ok": rss_ok,
        "peak_anon_rss_bytes": mem.peak_anon,
        "rss_anon_baseline_bytes": mem.anon_baseline,
        "anon_limit_bytes": anon_limit,
        "anon_ok": anon_ok,
        "peak_file_rss_bytes": mem.peak_file,
        "index_bytes_at_end": mem.index_bytes,
        "malloc_tuned": mem.malloc_tuned,
        "goals": goals,
        "goals_met": all_ok,
        "overload": overload.as_ref().map(RateFigures::to_json),
        "config": config,
        "timeline": timeline,
    })
}

/// The configuration of the run as a JSON object.
fn config_json(setup: &Setup<'_>) -> Value {
    let (args, phases) = (setup.args, setup.phases);
    json!({
                "tenants": args.tenants,
                "spike": args.spike,
                "seconds": args.seconds,
                "baseline_seconds": phases.baseline_end,
                "warmup_seconds": phases.warmup,
                "rate": args.rate,
                "spike_writers": args.spike_writers,
                "overload": args.overload,
                "mem_mib_per_writer": args.mem_mib,
                "merge_threads": setup.merge_threads,
                "throttle_mib_per_s": args.throttle_mib_per_s,
                "min_throttled_mib": args.min_throttled_mib,
                "quantum_mib": args.quantum_mib,
                "soft_backlog_mib": args.soft_backlog_mib,
                "hard_backlog_mib": args.hard_backlog_mib,
                "reopen_ms": args.reopen_ms,
                "query_ms": args.query_ms,
                "durability": args.durability,
                "corpus": setup.corpus,
                "corpus_docs": setup.corpus_docs,
                "queries": setup.queries,
    })
}

/// One second of the timeline as a JSON object.
fn sample_json(s: &Sample) -> Value {
    json!({
        "t": s.t,
        "docs_per_s": s.docs_per_s,
        "backlog_bytes": s.backlog_bytes,
        "segments": s.segments,
        "acked_docs": s.acked,
        "rate_limit_bytes_per_s": s.rate_bytes_per_s.iter().map(|r| if r.is_finite() { *r } else { -1.0 }).collect::<Vec<_>>(),
        "admitted_bytes": s.admitted_bytes,
        "merged_bytes": s.merged_bytes,
        "flushed_bytes": s.flushed_bytes,
        "stalled_s": s.stalled_s,
        "pressure": s.pressure.iter().map(|p| p.0).collect::<Vec<_>>(),
        "trend_per_s": s.pressure.iter().map(|p| p.1).collect::<Vec<_>>(),
        "throttle_mib_per_s": if s.throttle_mib_per_s.is_finite() { s.throttle_mib_per_s } else { -1.0 },
        "rss_bytes": s.rss_bytes,
        "rss_anon_bytes": s.rss_anon_bytes,
        "rss_file_bytes": s.rss_file_bytes,
    })
}

/// Prints the human-readable table of `out` (the JSON object of the run).
pub(crate) fn print_table(out: &Value) {
    let mib = |v: &Value| v.as_u64().unwrap_or(0) as f64 / MIB as f64;
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    println!(
        "{:>6} {:>5} | {:>9} {:>9} | {:>8} {:>8} {:>9} {:>9} | {:>7} {:>7} | {:>8} {:>8} | {:>5} | {:>9} | {:>5}",
        "tenant", "spike", "docs/s", "base/s", "p50 µs", "p99 µs", "max µs", "base p99", "delay s",
        "stall s", "peak MiB", "hard MiB", "WA", "srch p99", "lost"
    );
    for r in out["tenants"].as_array().into_iter().flatten() {
        println!(
            "{:>6} {:>5} | {:>9.0} {:>9.0} | {:>8.1} {:>8.1} {:>9.0} {:>9.1} | {:>7.2} {:>7.2} | {:>8.1} {:>8.1} | {:>5.2} | {:>9.0} | {:>5}",
            r["tenant"],
            if r["spiking"].as_bool() == Some(true) { "yes" } else { "no" },
            f(&r["docs_per_s"]),
            f(&r["baseline_docs_per_s"]),
            f(&r["add_p50_us"]),
            f(&r["add_p99_us"]),
            f(&r["add_max_us"]),
            f(&r["baseline_add_p99_us"]),
            f(&r["delayed_s"]),
            f(&r["stalled_s"]),
            mib(&r["peak_backlog_bytes"]),
            mib(&r["hard_limit_bytes"]),
            f(&r["write_amplification"]),
            f(&r["search_p99_us"]),
            r["lost_docs"],
        );
    }
    println!(
        "peak RSS {:.1} MiB; limit 1.1 x ({:.1} MiB writer budgets + {:.1} MiB page budget) + \
         {:.1} MiB baseline = {:.1} MiB: {}",
        mib(&out["peak_rss_bytes"]),
        mib(&out["writer_budget_bytes"]),
        mib(&out["page_budget_bytes"]),
        mib(&out["rss_limit_baseline_bytes"]),
        mib(&out["rss_limit_bytes"]),
        if out["rss_ok"].as_bool() == Some(true) {
            "ok"
        } else {
            "EXCEEDED"
        }
    );
    println!(
        "  of which anonymous (heap, stacks) peak {:.1} MiB, limit 1.1 x budgets + {:.1} MiB \
         anonymous baseline = {:.1} MiB: {}; file-backed (mapped index files, binary) peak {:.1} \
         MiB, index on disk at the end {:.1} MiB; page budget: {} of {} queries released \
         pages; malloc tuned: {}",
        mib(&out["peak_anon_rss_bytes"]),
        mib(&out["rss_anon_baseline_bytes"]),
        mib(&out["anon_limit_bytes"]),
        if out["anon_ok"].as_bool() == Some(true) {
            "ok"
        } else {
            "EXCEEDED"
        },
        mib(&out["peak_file_rss_bytes"]),
        mib(&out["index_bytes_at_end"]),
        out["page_budget_releases"],
        out["page_budget_checks"],
        out["malloc_tuned"],
    );
    for g in out["goals"].as_array().into_iter().flatten() {
        let who = g["tenant"]
            .as_u64()
            .map_or(String::new(), |t| format!("tenant {t}: "));
        let value = g["value"]
            .as_str()
            .map_or(String::new(), |v| format!(" ({v})"));
        println!(
            "goal {}{}: {}{}",
            who,
            g["goal"].as_str().unwrap_or(""),
            if g["ok"].as_bool() == Some(true) {
                "met"
            } else {
                "MISSED"
            },
            value
        );
    }
}
