//! `lucerna query`: runs a TSV query set (the benchmark contract).

use crate::util::percentile;
use lucerna::{Collect, Index, Query};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// One query of the set, analyzed up front.
pub struct ContractQuery {
    pub kind: String,
    pub text: String,
    pub query: Query,
}

/// Builds the contract query for `kind` and `text`: tokens from the
/// index's analyzer; `term` → term (a phrase when several tokens), `and`,
/// `or`, `phrase`; no tokens → matches nothing.
pub fn contract_query(index: &Index, kind: &str, text: &str) -> Result<Query, String> {
    let body = index
        .schema()
        .field("body")
        .ok_or("index has no `body` field")?;
    let toks = index.analyzer().relative_tokens(text);
    Ok(match kind {
        "term" | "phrase" => Query::from_tokens(body, toks, 0),
        "and" => Query::and(toks.into_iter().map(|(_, t)| Query::term(body, t))),
        "or" => Query::or(toks.into_iter().map(|(_, t)| Query::term(body, t))),
        k => return Err(format!("unknown query kind `{k}`")),
    })
}

/// Reads `kind<TAB>text` lines (`#` comments and blank lines skipped).
pub fn read_queries(
    index: &Index,
    path: &Path,
) -> Result<Vec<ContractQuery>, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(path)?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (kind, q) = line
            .split_once('\t')
            .ok_or_else(|| format!("{}:{}: expected kind<TAB>text", path.display(), i + 1))?;
        let query = contract_query(index, kind, q)
            .map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))?;
        out.push(ContractQuery {
            kind: kind.to_string(),
            text: q.to_string(),
            query,
        });
    }
    Ok(out)
}

/// Runs the query set and prints one JSON line per query plus a summary.
pub fn run_query(
    index_dir: &Path,
    queries: &Path,
    repeat: usize,
    top: usize,
    mode: QueryMode,
    heal: &crate::search_cmd::HealArgs,
) -> Result<(), Box<dyn std::error::Error>> {
    let index = heal.apply(Index::open(crate::location::open_read(index_dir)?)?)?;
    let id_field = index
        .schema()
        .field("id")
        .ok_or("index has no `id` field")?;
    let searcher = index.reader()?.searcher();
    heal.report(&index, &searcher);
    let qs = read_queries(&index, queries)?;
    let collect = match mode {
        QueryMode::Count => Collect::CountAndTopK(top),
        QueryMode::TopK => Collect::TopK(top),
    };
    let repeat = repeat.max(1);
    let run_one = |q: &ContractQuery| -> Result<(Option<u64>, Vec<u64>), lucerna::Error> {
        let res = searcher.search(&q.query, collect)?;
        let ids = res
            .hits
            .iter()
            .map(|h| {
                searcher
                    .column_value(h.address, id_field)
                    .unwrap_or(u64::MAX)
            })
            .collect();
        Ok((res.count, ids))
    };
    // Warm-up pass.
    let mut results = Vec::with_capacity(qs.len());
    for q in &qs {
        results.push(run_one(q)?);
    }
    let mut timings: Vec<Vec<f64>> = vec![Vec::with_capacity(repeat); qs.len()];
    for _ in 0..repeat {
        for (i, q) in qs.iter().enumerate() {
            let t = Instant::now();
            let r = run_one(q)?;
            timings[i].push(t.elapsed().as_secs_f64() * 1e6);
            std::hint::black_box(r);
        }
    }
    let mut per_kind: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut out = String::new();
    for (i, q) in qs.iter().enumerate() {
        let t = &mut timings[i];
        t.sort_by(f64::total_cmp);
        let median = t[t.len() / 2];
        per_kind.entry(q.kind.clone()).or_default().push(median);
        let (count, ids) = &results[i];
        out.push_str(
            &json!({"kind": q.kind, "q": q.text, "count": count, "top_ids": ids, "us_median": (median * 10.0).round() / 10.0})
                .to_string(),
        );
        out.push('\n');
    }
    let mut summary = serde_json::Map::new();
    for (kind, mut v) in per_kind {
        v.sort_by(f64::total_cmp);
        summary.insert(
            kind,
            json!({"n": v.len(), "p50": percentile(&v, 50.0), "p90": percentile(&v, 90.0), "p99": percentile(&v, 99.0)}),
        );
    }
    let mut line = json!({"summary": summary, "engine": "lucerna", "repeat": repeat, "top": top});
    if mode == QueryMode::TopK {
        line["mode"] = json!("topk");
    }
    out.push_str(&line.to_string());
    outln!("{out}");
    Ok(())
}

/// `--mode` of `lucerna query` (the benchmark contract): `count` counts
/// every hit and collects the top K in one search; `topk` only collects
/// the top K (no count: `"count": null`), so pruning may skip blocks that
/// cannot compete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum QueryMode {
    /// Count every hit and collect the top K (default).
    #[default]
    Count,
    /// Collect the top K only.
    #[value(name = "topk")]
    TopK,
}
