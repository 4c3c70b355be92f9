//! The HTTP API: routes, their parameters, and the answers.
//!
//! | route | does | answers |
//! |---|---|---|
//! | `POST /{tenant}/_bulk?durability=sync\|none\|interval:MS` | adds NDJSON lines ([`bulk`]) | 200; 429 + `Retry-After` when the tenant stalled; per-line results either way |
//! | `GET /{tenant}/_search?q=..&k=..&sort=..` | searches ([`search`]) | count, hits with stored fields, took |
//! | `POST /{tenant}/_commit` | commits the tenant | the new generation |
//! | `GET /metrics` | every counter ([`metrics`]) | Prometheus text |
//! | `GET /health` | per-tenant status ([`health`]) | 200, or 503 when a tenant is quarantined |
//!
//! Every handler runs its engine work on the blocking pool
//! ([`blocking`]): the runtime's threads only move bytes.

use crate::bulk::{self, BulkOutcome, Stop};
use crate::error::ServerError;
use crate::health::{self, Status};
use crate::metrics;
use crate::prometheus;
use crate::search::{self, SearchParams};
use crate::tenant_name::TenantName;
use crate::tenants::{Slot, Tenants};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The tenants.
    pub tenants: Arc<Tenants>,
}

/// The server's routes.
pub fn router(state: AppState) -> Router {
    let limit = state.tenants.config().max_body_bytes;
    Router::new()
        .route("/health", get(health_handler))
        .route("/metrics", get(metrics_handler))
        .route("/{tenant}/_bulk", post(bulk_handler))
        .route("/{tenant}/_search", get(search_handler))
        .route("/{tenant}/_commit", post(commit_handler))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// Runs `f` on the blocking pool.
pub async fn blocking<T, F>(f: F) -> Result<T, ServerError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ServerError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ServerError::Internal(format!("a blocking task failed: {e}")))?
}

/// The query parameters of a bulk request.
#[derive(Debug, Deserialize)]
struct BulkParams {
    durability: Option<String>,
}

async fn bulk_handler(
    State(s): State<AppState>,
    Path(tenant): Path<String>,
    Query(p): Query<BulkParams>,
    body: Bytes,
) -> Result<Response, ServerError> {
    let name = TenantName::parse(&tenant)?;
    let durability = match p.durability.as_deref() {
        Some(d) => Some(
            d.parse::<lucerna::Durability>()
                .map_err(|e| ServerError::BadRequest(format!("durability: {e}")))?,
        ),
        None => None,
    };
    let tenants = s.tenants.clone();
    let out = blocking(move || {
        let _in_flight = tenants.enter()?;
        let t = tenants.get_or_create(&name)?;
        let durability = durability.unwrap_or(t.default_durability());
        Ok(bulk::ingest(&t, &body, durability))
    })
    .await?;
    Ok(bulk_response(out))
}

/// The answer to a bulk request: 200, 429 with `Retry-After` (whole
/// seconds, rounded up, at least 1; `retry_after_ms` in the body is the
/// engine's estimate, `null` when it has none), or 5xx when the writer
/// failed; per-line results in every case.
fn bulk_response(out: BulkOutcome) -> Response {
    let mut body = json!({
        "took_ms": millis(out.took),
        "durability": out.durability.to_string(),
        "accepted": out.accepted,
        "rejected": out.rejected,
        "not_processed": out.not_processed,
        "items": out.items,
    });
    let (status, retry_after) = match &out.stop {
        None => (StatusCode::OK, None),
        Some(Stop::Stalled(bp)) => {
            let secs = bp
                .retry_after
                .map_or(1, |d| d.as_secs_f64().ceil().max(1.0) as u64);
            body["throttled"] = json!({
                "reason": bp.to_string(),
                "retry_after_ms": bp.retry_after.map(|d| d.as_millis() as u64),
            });
            (StatusCode::TOO_MANY_REQUESTS, Some(secs))
        }
        Some(Stop::Failed { error, unavailable }) => {
            body["error"] = json!(error);
            let status = if *unavailable {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            (status, None)
        }
    };
    let mut response = (status, Json(body)).into_response();
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

async fn search_handler(
    State(s): State<AppState>,
    Path(tenant): Path<String>,
    Query(p): Query<SearchParams>,
) -> Result<Json<serde_json::Value>, ServerError> {
    let name = TenantName::parse(&tenant)?;
    let tenants = s.tenants.clone();
    blocking(move || {
        let t = tenants.get(&name)?;
        search::search(&t, &p)
    })
    .await
    .map(Json)
}

async fn commit_handler(
    State(s): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Json<serde_json::Value>, ServerError> {
    let name = TenantName::parse(&tenant)?;
    let tenants = s.tenants.clone();
    blocking(move || {
        let _in_flight = tenants.enter()?;
        let t = tenants.get(&name)?;
        let generation = t.commit()?;
        Ok(json!({ "generation": generation }))
    })
    .await
    .map(Json)
}

async fn metrics_handler(State(s): State<AppState>) -> Result<Response, ServerError> {
    let tenants = s.tenants.clone();
    let text = blocking(move || Ok(metrics::render(&tenants))).await?;
    Ok(([(header::CONTENT_TYPE, prometheus::CONTENT_TYPE)], text).into_response())
}

async fn health_handler(State(s): State<AppState>) -> Result<Response, ServerError> {
    let tenants = s.tenants.clone();
    let (worst, per_tenant) = blocking(move || {
        let mut worst = Status::Healthy;
        let mut per_tenant = serde_json::Map::new();
        for (name, slot) in tenants.snapshot() {
            let h = match &slot {
                Slot::Open(t) => health::of_tenant(t),
                Slot::Failed(e) => health::of_unopened(e),
            };
            worst = worst.max(h.status);
            per_tenant.insert(name.to_string(), json!(h));
        }
        Ok((worst, per_tenant))
    })
    .await?;
    let status = if worst == Status::Quarantined {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({ "status": worst, "tenants": per_tenant })),
    )
        .into_response())
}

/// A duration in milliseconds, to the microsecond (as answers show it).
pub fn millis(d: std::time::Duration) -> f64 {
    d.as_micros() as f64 / 1e3
}
