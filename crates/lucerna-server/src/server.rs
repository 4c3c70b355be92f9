//! The server's life: open the tenants, listen, serve, and on SIGTERM or
//! ctrl-c shut down gracefully.
//!
//! Shutdown, in order:
//! 1. stop accepting connections (requests in flight go on);
//! 2. stop the periodic refreshes and commits;
//! 3. refuse new bulk requests and wait up to `--shutdown-grace-ms` for
//!    the ones in flight;
//! 4. commit and close every writer (a write still stalled by
//!    backpressure is released with an error and answered 503), shut the
//!    merge scheduler down;
//! 5. wait for the last connections to finish.

use crate::config::ServerConfig;
use crate::error::ServerError;
use crate::periodic::Periodic;
use crate::routes::{blocking, router, AppState};
use crate::shutdown;
use crate::tenant::Tenant;
use crate::tenants::Tenants;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Runs the server until a shutdown signal; returns once every writer is
/// committed and closed.
pub async fn run(config: ServerConfig) -> Result<(), ServerError> {
    let config = Arc::new(config);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServerError::Io {
            what: format!("cannot listen on {}", config.listen),
            source,
        })?;
    let local = listener.local_addr().map_err(|source| ServerError::Io {
        what: "cannot read the listening address".into(),
        source,
    })?;
    let tenants = {
        let config = config.clone();
        blocking(move || {
            let t = Tenants::new(config)?;
            t.open_existing()?;
            Ok(Arc::new(t))
        })
        .await?
    };
    let app = router(AppState {
        tenants: tenants.clone(),
    });
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let serving = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.changed().await;
            })
            .await
    });
    // The address taken, for scripts and tests that listen on port 0.
    println!("{}", serde_json::json!({ "listening": local.to_string() }));
    tracing::info!(target: "lucerna_server", address = %local, data = %config.data.display(), "listening");
    let refresher = Periodic::start(
        tenants.clone(),
        config.refresh / 4,
        "refresh",
        Tenant::refresh,
    );
    let committer = config.commit_interval.map(|period| {
        Periodic::start(tenants.clone(), period, "commit", |t| {
            t.commit().map(|_| ())
        })
    });

    shutdown::signal().await;
    let _ = stop_tx.send(true);
    refresher.stop().await;
    if let Some(c) = committer {
        c.stop().await;
    }
    tenants.begin_shutdown();
    drain(&tenants, config.shutdown_grace).await;
    {
        let tenants = tenants.clone();
        blocking(move || {
            tenants.close_all();
            Ok(())
        })
        .await?;
    }
    match serving.await {
        Ok(Ok(())) => {}
        Ok(Err(source)) => {
            return Err(ServerError::Io {
                what: "serving failed".into(),
                source,
            })
        }
        Err(e) => {
            return Err(ServerError::Internal(format!(
                "the server task failed: {e}"
            )))
        }
    }
    tracing::info!(target: "lucerna_server", "stopped");
    Ok(())
}

/// Waits until no bulk request is in flight, or `grace` has passed.
async fn drain(tenants: &Tenants, grace: Duration) {
    let deadline = Instant::now() + grace;
    while tenants.in_flight() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if tenants.in_flight() > 0 {
        tracing::warn!(
            target: "lucerna_server",
            in_flight = tenants.in_flight(),
            "shutdown grace period over: closing writers under requests still in flight"
        );
    }
}
