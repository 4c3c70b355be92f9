//! The shutdown signal: SIGTERM or ctrl-c (SIGINT).

/// Resolves on the first SIGTERM or ctrl-c. If a handler cannot be
/// installed, that signal is not waited for (the other still is); if
/// neither can, this never resolves and the process ends by the default
/// action of the signal.
pub async fn signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!(target: "lucerna_server", "ctrl-c: shutting down"),
        _ = term => tracing::info!(target: "lucerna_server", "SIGTERM: shutting down"),
    }
}
