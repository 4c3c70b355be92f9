//! Periodic work over every open tenant, on the blocking pool: the
//! near-real-time refresh of searches (looked at every quarter of the
//! refresh interval, so a view is at most about one and a quarter
//! intervals old, and no search ever waits for a refresh) and the automatic commits (`--commit-interval-ms`,
//! so the write-ahead log stays short and restarts replay little). Each
//! task is stopped by [`Periodic::stop`].

use crate::routes::blocking;
use crate::tenant::Tenant;
use crate::tenants::{Slot, Tenants};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What a periodic task does to one tenant.
pub type Job = fn(&Tenant) -> lucerna::Result<()>;

/// A running periodic task.
pub struct Periodic {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Periodic {
    /// Runs `job` on every open tenant every `period` (`what` names it in
    /// log events when it fails).
    pub fn start(
        tenants: Arc<Tenants>,
        period: Duration,
        what: &'static str,
        job: Job,
    ) -> Periodic {
        let (stop, mut stopped) = watch::channel(false);
        let period = period.max(Duration::from_millis(1));
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
                    run_all(&t, what, job);
                    Ok(())
                })
                .await;
            }
        });
        Periodic { stop, task }
    }

    /// Stops the task and waits for a round in progress.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Runs `job` on every open tenant; errors are logged.
fn run_all(tenants: &Tenants, what: &'static str, job: Job) {
    for (name, slot) in tenants.snapshot() {
        let Slot::Open(t) = slot else { continue };
        if tenants.is_shutting_down() {
            return;
        }
        if let Err(e) = job(&t) {
            tracing::warn!(target: "lucerna_server", tenant = %name, error = %e, task = what, "periodic task failed");
        }
    }
}
