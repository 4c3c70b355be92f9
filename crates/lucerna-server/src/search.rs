//! Search: a query string in, the count and the best hits with their
//! stored fields out.
//!
//! | parameter | meaning | default |
//! |---|---|---|
//! | `q` | the query ([`lucerna::query_parser`] syntax; `*` for every document) | required |
//! | `k` | hits to return, 0 to [`MAX_K`] | 10 |
//! | `sort` | `FIELD` or `FIELD:desc` (largest first), `FIELD:asc`, on a numeric field; none: by BM25 score | score |
//!
//! Searches see the tenant's near-real-time view, refreshed in the
//! background about once per refresh interval (`--refresh-ms`). The answer says when it is
//! partial (a quarantined segment left out).

use crate::error::ServerError;
use crate::tenant::{Tenant, TenantCounters};
use lucerna::schema::{Field, FieldType, NumericKind, Schema};
use lucerna::{Collect, DocAddress, Searcher};
use serde::Deserialize;
use serde_json::{json, Value as Json};
use std::time::Instant;

/// Most hits one search returns.
pub const MAX_K: usize = 10_000;

/// The query parameters of `GET /{tenant}/_search`.
#[derive(Debug, Clone, Deserialize)]
pub struct SearchParams {
    /// The query string.
    pub q: Option<String>,
    /// Hits to return.
    pub k: Option<usize>,
    /// `FIELD`, `FIELD:desc` or `FIELD:asc`.
    pub sort: Option<String>,
}

/// Runs a search of `tenant` (blocking) and returns the JSON answer.
pub fn search(tenant: &Tenant, params: &SearchParams) -> Result<Json, ServerError> {
    let r = run(tenant, params);
    let c = &tenant.counters;
    TenantCounters::add(&c.searches, 1);
    if r.is_err() {
        TenantCounters::add(&c.search_errors, 1);
    }
    r
}

fn run(tenant: &Tenant, params: &SearchParams) -> Result<Json, ServerError> {
    let started = Instant::now();
    let q = params
        .q
        .as_deref()
        .ok_or_else(|| ServerError::BadRequest("the query parameter `q` is required".into()))?;
    let k = params.k.unwrap_or(10);
    if k > MAX_K {
        return Err(ServerError::BadRequest(format!(
            "k = {k} is above the limit of {MAX_K}"
        )));
    }
    let schema = tenant.index().schema();
    let collect = match &params.sort {
        None => Collect::CountAndTopK(k),
        Some(spec) => sort_collect(schema, spec, k)?,
    };
    // Refreshed in the background (see `periodic`): never waits here.
    let searcher = tenant.reader().current();
    let query = searcher.parse_query(q)?;
    let top = searcher.search(&query, collect)?;
    let mut hits = Vec::with_capacity(top.hits.len());
    for h in &top.hits {
        hits.push(json!({
            "score": h.score,
            "fields": fields(&searcher, schema, h.address)?,
        }));
    }
    let mut answer = json!({
        "count": top.count,
        "took_ms": crate::routes::millis(started.elapsed()),
        "hits": hits,
    });
    if let Some(unavailable) = &top.partial {
        let missing: u64 = unavailable.iter().map(|u| u.docs).sum();
        answer["partial"] = json!({
            "segments": unavailable.iter().map(|u| &u.segment).collect::<Vec<_>>(),
            "documents_missing": missing,
        });
    }
    Ok(answer)
}

/// The collector of `sort=FIELD[:asc|:desc]`.
fn sort_collect(schema: &Schema, spec: &str, k: usize) -> Result<Collect, ServerError> {
    let (name, descending) = match spec.rsplit_once(':') {
        Some((n, "asc")) => (n, false),
        Some((n, "desc")) => (n, true),
        Some(_) => {
            return Err(ServerError::BadRequest(format!(
                "sort {spec:?}: expected FIELD, FIELD:asc or FIELD:desc"
            )))
        }
        None => (spec, true),
    };
    let field = schema
        .field(name)
        .filter(|f| {
            schema
                .entry(*f)
                .is_some_and(|e| matches!(e.field_type, FieldType::Numeric { .. }))
        })
        .ok_or_else(|| ServerError::BadRequest(format!("sort: `{name}` is not a numeric field")))?;
    Ok(Collect::CountAndTopKByField {
        field,
        k,
        descending,
    })
}

/// A hit's stored fields, with the values of numeric columns that are
/// not stored (the timestamp).
fn fields(searcher: &Searcher, schema: &Schema, at: DocAddress) -> Result<Json, ServerError> {
    let mut fields = searcher.doc(at)?.to_json(schema);
    if let Json::Object(map) = &mut fields {
        for (f, e) in schema.fields() {
            if let FieldType::Numeric {
                kind,
                stored: false,
            } = e.field_type
            {
                if let Some(v) = column_json(searcher, at, f, kind) {
                    map.insert(e.name.clone(), v);
                }
            }
        }
    }
    Ok(fields)
}

fn column_json(searcher: &Searcher, at: DocAddress, f: Field, kind: NumericKind) -> Option<Json> {
    let v = searcher.column_value(at, f)?;
    Some(match kind {
        NumericKind::U64 => json!(v),
        NumericKind::I64 | NumericKind::Timestamp => json!(lucerna::numeric::u64_to_i64(v)),
        NumericKind::F64 => json!(lucerna::numeric::u64_to_f64(v)),
    })
}
