//! [`ServerError`]: everything that can go wrong in the server, and the
//! HTTP answer each one gets.

use crate::tenant_name::{InvalidTenantName, TenantName};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// An error of the server: at startup (configuration, binding), or of one
/// request (answered with the status of [`status`](Self::status) and a
/// JSON body `{"error": "..."}`).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A command-line setting is invalid: the flag, the value and why.
    #[error("{knob} {value:?}: {reason}")]
    Config {
        /// The flag.
        knob: &'static str,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The tenant name in the path is invalid.
    #[error(transparent)]
    InvalidTenant(#[from] InvalidTenantName),
    /// A request parameter is invalid.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// No index exists for this tenant (created by its first bulk request).
    #[error("no tenant `{0}` (a tenant is created by its first bulk request)")]
    UnknownTenant(TenantName),
    /// The tenant's index could not be opened; `/health` shows it
    /// quarantined. Its files are left as they are for `lucerna check`
    /// and `lucerna repair`.
    #[error("tenant `{tenant}` is unavailable: {error}")]
    TenantUnavailable {
        /// The tenant.
        tenant: TenantName,
        /// Why its index could not be opened.
        error: String,
    },
    /// The server is shutting down and takes no more writes.
    #[error("the server is shutting down")]
    ShuttingDown,
    /// An error of the engine.
    #[error(transparent)]
    Engine(#[from] lucerna::Error),
    /// An IO error outside the engine (binding the listener, the data
    /// directory).
    #[error("{what}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A blocking task failed (it panicked or was cancelled).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServerError {
    /// A configuration error of `knob`.
    pub fn config(knob: &'static str, value: &str, reason: impl std::fmt::Display) -> ServerError {
        ServerError::Config {
            knob,
            value: value.to_string(),
            reason: reason.to_string(),
        }
    }

    /// The HTTP status of this error as an answer to a request.
    pub fn status(&self) -> StatusCode {
        match self {
            ServerError::InvalidTenant(_) | ServerError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ServerError::UnknownTenant(_) => StatusCode::NOT_FOUND,
            ServerError::TenantUnavailable { .. } | ServerError::ShuttingDown => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ServerError::Engine(e) => match e {
                lucerna::Error::Query(_)
                | lucerna::Error::QueryParse(_)
                | lucerna::Error::InvalidArgument(_) => StatusCode::BAD_REQUEST,
                lucerna::Error::Closed(_) => StatusCode::SERVICE_UNAVAILABLE,
                lucerna::Error::Backpressure { .. } => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ServerError::Config { .. } | ServerError::Io { .. } | ServerError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(target: "lucerna_server", error = %self, "request failed");
        }
        (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response()
    }
}
