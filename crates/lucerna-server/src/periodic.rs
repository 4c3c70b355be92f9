//! Periodic commits: every `--commit-interval-ms`, each open tenant is
//! committed (on the blocking pool), so the write-ahead log stays short
//! and restarts replay little. Stopped by its [`Committer::stop`].

use crate::routes::blocking;
use crate::tenants::{Slot, Tenants};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The running commit task.
pub struct Committer {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Committer {
    /// Starts committing every tenant every `period`.
    pub fn start(tenants: Arc<Tenants>, period: Duration) -> Committer {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await; // the first tick is immediate
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.changed() => return,
                }
                let t = tenants.clone();
                let _ = blocking(move || {
                    commit_all(&t);
                    Ok(())
                })
                .await;
            }
        });
        Committer { stop, task }
    }

    /// Stops the task and waits for a commit round in progress.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Commits every open tenant; errors are logged.
fn commit_all(tenants: &Tenants) {
    for (name, slot) in tenants.snapshot() {
        let Slot::Open(t) = slot else { continue };
        if tenants.is_shutting_down() {
            return;
        }
        if let Err(e) = t.commit() {
            tracing::warn!(target: "lucerna_server", tenant = %name, error = %e, "periodic commit failed");
        }
    }
}
