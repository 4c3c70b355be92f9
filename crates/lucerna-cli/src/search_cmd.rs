//! `lucerna search` and `lucerna stats`.

use lucerna::internals::SearcherInternals;
use lucerna::schema::{FieldType, NumericKind};
use lucerna::{Collect, Index};
use serde_json::json;
use std::path::Path;
use std::time::Instant;

/// Runs a query string and prints the hits.
pub fn run_search(
    index_dir: &Path,
    query: &str,
    top: usize,
    sort: Option<&str>,
    ascending: bool,
    json_out: bool,
    heal: &HealArgs,
) -> Result<(), Box<dyn std::error::Error>> {
    let index = heal.apply(Index::open(crate::location::open_read(index_dir)?)?)?;
    let reader = index.reader()?;
    let searcher = reader.searcher();
    heal.report(&index, &searcher);
    let q = searcher.parse_query(query)?;
    let t = Instant::now();
    let collect = match sort {
        None => Collect::CountAndTopK(top),
        Some(name) => Collect::CountAndTopKByField {
            field: index
                .schema()
                .field(name)
                .ok_or_else(|| format!("unknown field `{name}`"))?,
            k: top,
            descending: !ascending,
        },
    };
    let res = searcher.search(&q, collect)?;
    let took = t.elapsed();
    let mut hits = Vec::new();
    for h in &res.hits {
        let doc = searcher.doc(h.address)?;
        let mut fields = doc.to_json(index.schema());
        // Columns that are not stored (e.g. timestamps) are still shown.
        if let serde_json::Value::Object(map) = &mut fields {
            for (f, e) in index.schema().fields() {
                if let FieldType::Numeric {
                    kind,
                    stored: false,
                } = e.field_type
                {
                    if let Some(v) = searcher.column_value(h.address, f) {
                        let jv = match kind {
                            NumericKind::U64 => json!(v),
                            NumericKind::I64 | NumericKind::Timestamp => {
                                json!(lucerna::numeric::u64_to_i64(v))
                            }
                            NumericKind::F64 => json!(lucerna::numeric::u64_to_f64(v)),
                        };
                        map.insert(e.name.clone(), jv);
                    }
                }
            }
        }
        hits.push(json!({"score": h.score, "segment": h.address.segment, "doc": h.address.doc, "fields": fields}));
    }
    if json_out {
        let unavailable: Vec<serde_json::Value> = searcher
            .unavailable()
            .iter()
            .map(|u| {
                json!({"segment": u.segment, "file": u.file, "docs": u.docs,
                       "ids": u.ids.as_ref().map(|s| s.ranges().iter().map(|&(a, b)| json!([a, b])).collect::<Vec<_>>()),
                       "reason": u.reason})
            })
            .collect();
        outln!(
            "{}",
            json!({"query": query, "count": res.count, "took_us": took.as_micros() as u64,
                   "partial": res.is_partial(), "unavailable": unavailable, "hits": hits})
        );
    } else {
        outln!(
            "{} hits for {query:?} ({:.3} ms)",
            res.count.unwrap_or(0),
            took.as_secs_f64() * 1e3
        );
        for (i, h) in hits.iter().enumerate() {
            outln!(
                "{:>3}. score {:.4}  {}",
                i + 1,
                h["score"].as_f64().unwrap_or(0.0),
                hit_line(index.schema(), &h["fields"])
            );
        }
        if !hits.is_empty() && !stores_text(index.schema()) {
            outln!(
                "(this index stores no text, only ids and columns: build it with \
                 `lucerna index --store-body` or `lucerna add --create` to see the lines)"
            );
        }
    }
    Ok(())
}

/// One hit for people: the other fields as `name=value`, then the stored
/// text fields (the log line itself) as they are.
fn hit_line(schema: &lucerna::schema::Schema, fields: &serde_json::Value) -> String {
    let Some(map) = fields.as_object() else {
        return fields.to_string();
    };
    let is_text = |name: &str| {
        schema
            .field(name)
            .and_then(|f| schema.entry(f))
            .is_some_and(|e| matches!(e.field_type, FieldType::Text { .. }))
    };
    let mut parts: Vec<String> = map
        .iter()
        .filter(|(k, _)| !is_text(k))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for (k, v) in map.iter().filter(|(k, _)| is_text(k)) {
        match v {
            serde_json::Value::String(text) => parts.push(text.clone()),
            other => parts.push(format!("{k}={other}")),
        }
    }
    parts.join("  ")
}

/// Whether the schema stores any text field.
fn stores_text(schema: &lucerna::schema::Schema) -> bool {
    schema
        .fields()
        .any(|(_, e)| matches!(e.field_type, FieldType::Text { stored: true }))
}

/// The merge view of a closed index: what the default tiered policy sees
/// in its committed segments. Writer-time figures (pending and running
/// merges, merge and throttle rates, time writers were delayed or stalled,
/// write amplification) exist only in a running writer
/// (`IndexWriter::metrics`) and are reported as `null`.
fn merge_stats(commit: &lucerna::index::Commit) -> serde_json::Value {
    use lucerna::merge::{MergePolicy, SegmentDescriptor, TieredMergePolicy};
    use std::collections::HashSet;
    let policy = TieredMergePolicy::default();
    let descs: Vec<SegmentDescriptor> = commit
        .segments
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let id =
                lucerna::internals::commit::segment_number(&s.name).unwrap_or(u64::MAX - i as u64);
            SegmentDescriptor::new(id, s.size_bytes(), s.max_doc as u64)
                .with_deletes(s.num_deleted as u64)
        })
        .collect();
    let none = HashSet::new();
    let budget = policy.segment_budget_details(&descs, &none);
    let natural = policy.find_merges(&descs, &none);
    let expunge = policy.find_forced_deletes_merges(&descs, &none);
    let docs: u64 = descs.iter().map(|d| d.max_doc).sum();
    let deleted: u64 = descs.iter().map(|d| d.deleted()).sum();
    let bytes: u64 = descs.iter().map(|d| d.size_bytes).sum();
    let live_bytes: u64 = descs.iter().map(|d| d.live_size_bytes()).sum();
    let sizes: Vec<u64> = descs.iter().map(|d| d.size_bytes).collect();
    json!({
        "policy": "TieredMergePolicy::default()",
        "segments": descs.len(),
        "segment_budget": budget.limit(),
        "segments_over_budget": descs.len().saturating_sub(budget.limit()),
        "too_large_segments": budget.too_large,
        "smallest_segment_bytes": sizes.iter().min().copied().unwrap_or(0),
        "largest_segment_bytes": sizes.iter().max().copied().unwrap_or(0),
        "deleted_docs": deleted,
        "deleted_pct": if docs == 0 { 0.0 } else { 100.0 * deleted as f64 / docs as f64 },
        "reclaimable_bytes": bytes.saturating_sub(live_bytes),
        "merges_due_at_open": natural.len(),
        "merge_debt_at_open_bytes": natural.iter().map(|m| m.total_bytes).sum::<u64>(),
        "expunge_deletes_segments": expunge.iter().map(|m| m.segments.len()).sum::<usize>(),
        "expunge_deletes_bytes": expunge.iter().map(|m| m.input_bytes).sum::<u64>(),
        "pending_merges": null,
        "running_merges": null,
        "merge_mib_per_s": null,
        "throttle_mib_per_s": null,
        "delayed_s": null,
        "stalled_s": null,
        "write_amplification": null,
    })
}

/// Prints what is in an index.
pub fn run_stats(index_dir: &Path, json_out: bool) -> Result<(), Box<dyn std::error::Error>> {
    let dir = crate::location::open_read(index_dir)?;
    // Counts only: structure checks suffice (`lucerna check` verifies CRCs).
    let index = Index::open(dir)?.with_verify(lucerna::index::Verify::Structure);
    let commit = index.latest_commit()?;
    let searcher = index.reader()?.searcher();
    let mut segs = Vec::new();
    let mut total_bytes = 0;
    for s in &commit.segments {
        total_bytes += s.size_bytes();
        segs.push(json!({
            "name": s.name, "docs": s.max_doc, "deleted": s.num_deleted,
            "bytes": s.size_bytes(), "del_gen": s.del_gen, "files": s.files.len(),
            "id_range": s.id_range,
        }));
    }
    let mut fields = Vec::new();
    for (f, e) in index.schema().fields() {
        let terms: u64 = searcher
            .segments()
            .iter()
            .fold(0u64, |a, s| a.saturating_add(s.num_terms(f)));
        fields.push(json!({"name": e.name, "type": format!("{:?}", e.field_type), "terms_summed_over_segments": terms}));
    }
    let merge = merge_stats(&commit);
    let out = json!({
        "generation": commit.generation, "docs": commit.num_docs(),
        "deleted": commit.segments.iter().map(|s| s.num_deleted as u64).sum::<u64>(),
        "segments": segs, "bytes": total_bytes, "fields": fields,
        "merge": merge,
    });
    if json_out {
        outln!("{out}");
    } else {
        outln!("commit generation {}", commit.generation);
        outln!(
            "documents         {} live, {} deleted",
            out["docs"],
            out["deleted"]
        );
        outln!(
            "segments          {}  ({} bytes)",
            commit.segments.len(),
            total_bytes
        );
        for s in &segs {
            outln!(
                "  {:<10} {:>9} docs {:>7} deleted {:>12} bytes",
                s["name"].as_str().unwrap_or(""),
                s["docs"],
                s["deleted"],
                s["bytes"]
            );
        }
        for f in &fields {
            outln!(
                "  field {:<12} {}",
                f["name"].as_str().unwrap_or(""),
                f["type"].as_str().unwrap_or("")
            );
        }
        let m = &out["merge"];
        outln!("merging (as the default tiered policy sees the committed segments)");
        outln!(
            "  segment budget  {} (segments over it: {}; too large to merge: {})",
            m["segment_budget"],
            m["segments_over_budget"],
            m["too_large_segments"]
        );
        outln!(
            "  segment sizes   {} to {} bytes",
            m["smallest_segment_bytes"],
            m["largest_segment_bytes"]
        );
        outln!(
            "  deletes         {} docs ({:.1} %), {} bytes reclaimable",
            m["deleted_docs"],
            m["deleted_pct"].as_f64().unwrap_or(0.0),
            m["reclaimable_bytes"]
        );
        outln!(
            "  due at open     {} merges, {} bytes of merge debt (a writer opened now starts them)",
            m["merges_due_at_open"],
            m["merge_debt_at_open_bytes"]
        );
        outln!(
            "  expunge_deletes would rewrite {} segments ({} bytes)",
            m["expunge_deletes_segments"],
            m["expunge_deletes_bytes"]
        );
        outln!(
            "  pending/running merges, merge and throttle MB/s, delayed/stalled time and write \
             amplification: writer-time metrics (IndexWriter::metrics), not kept in the index"
        );
    }
    Ok(())
}

/// The options of `search` and `query` that heal a damaged index as the
/// library does (see `lucerna::index::heal`): replicas to restore damaged
/// files from, the fallback to an older commit plus the log, and partial
/// results.
#[derive(Debug, Clone, Default)]
pub struct HealArgs {
    /// Replica directories (repeatable `--replica`).
    pub replicas: Vec<std::path::PathBuf>,
    /// `--heal-from-log`: fall back to an older commit plus the log.
    pub from_log: bool,
    /// `--allow-partial`: serve the intact segments, and say so.
    pub allow_partial: bool,
}

impl HealArgs {
    /// `index` with these options.
    pub fn apply(&self, index: Index) -> Result<Index, Box<dyn std::error::Error>> {
        let mut replicas: Vec<std::sync::Arc<dyn lucerna::store::Directory>> = Vec::new();
        for r in &self.replicas {
            replicas.push(
                crate::location::open_read(r)
                    .map_err(|e| format!("replica {}: {e}", r.display()))?,
            );
        }
        let policy = if self.from_log {
            lucerna::index::HealPolicy::FromReplicasAndLog
        } else {
            lucerna::index::HealPolicy::FromReplicas
        };
        Ok(index
            .with_replicas(replicas)
            .with_heal_policy(policy)
            .allow_partial(self.allow_partial))
    }

    /// Tells the operator on stderr what was healed and what is missing.
    pub fn report(&self, index: &Index, searcher: &lucerna::Searcher) {
        for h in index.heal_stats().recent {
            let from = match h.source {
                lucerna::index::HealSource::Replica(i) => format!("replica {i}"),
                lucerna::index::HealSource::OlderCommitAndLog => {
                    "an older commit and the write-ahead log".into()
                }
            };
            eprintln!(
                "healed: {} (segment {}) from {from}, {} bytes",
                h.file, h.segment, h.bytes
            );
        }
        for u in searcher.unavailable() {
            let ids = match &u.ids {
                Some(s) => format!(
                    "ids {}",
                    s.ranges()
                        .iter()
                        .map(|&(a, b)| if a == b {
                            a.to_string()
                        } else {
                            format!("{a}-{b}")
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                None => "ids unknown".into(),
            };
            eprintln!(
                "PARTIAL: segment {} left out ({} documents, {ids}): {}",
                u.segment, u.docs, u.reason
            );
        }
    }
}
