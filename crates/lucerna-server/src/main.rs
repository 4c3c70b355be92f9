//! `lucerna-server`: a multi-tenant log-search service on Lucerna, the
//! reference user of the library.
//!
//! * [`tenants`]: one index per tenant under `--data`, all on one merge
//!   scheduler and one page budget; [`tenant`] is one of them.
//! * [`bulk`]: NDJSON ingest with per-line results and 429 backpressure;
//!   [`search`]: query strings to hits with stored fields.
//! * [`metrics`] (Prometheus text, written by [`prometheus`]) and
//!   [`health`].
//! * [`routes`]: the HTTP API (axum); [`server`]: startup and graceful
//!   shutdown ([`shutdown`]); [`periodic`] refreshes and commits.
//! * [`args`] as parsed, [`config`] as used; [`logging`] installs the
//!   `tracing` subscriber.
//!
//! Engine work (indexing, fsyncs, searches, commits) runs on tokio's
//! blocking pool; the runtime's threads only move bytes.
//!
//! ```text
//! cargo run --release -p lucerna-server -- --data DIR --listen 127.0.0.1:7700
//! ```

#![forbid(unsafe_code)]

mod args;
mod bulk;
mod config;
mod error;
mod health;
mod logging;
mod metrics;
mod periodic;
mod prometheus;
mod routes;
mod search;
mod server;
mod shutdown;
mod tenant;
mod tenant_name;
mod tenants;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = args::Args::parse();
    let config = match config::ServerConfig::from_args(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    logging::install(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("lucerna-server")
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(server::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            ExitCode::from(1)
        }
    }
}
