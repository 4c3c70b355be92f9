//! [`ServerConfig`]: the settings the server runs with, checked and
//! converted from the command line ([`Args`]) in one place.

use crate::args::{Args, LogFormat};
use crate::error::ServerError;
use crate::tenant_name::TenantName;
use lucerna::merge::{BackpressureConfig, RateLimiter, SchedulerConfig};
use lucerna::{Durability, WriterConfig};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// One MiB.
const MIB: f64 = (1u64 << 20) as f64;

/// Everything the server needs to run, as used.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Root of the tenants' index directories.
    pub data: PathBuf,
    /// Where to listen.
    pub listen: SocketAddr,
    /// Format of log events.
    pub log_format: LogFormat,
    /// Default durability of bulk requests.
    pub durability: Durability,
    /// Per-tenant default durabilities.
    pub tenant_durability: BTreeMap<TenantName, Durability>,
    /// Period of each log's background fsync.
    pub wal_sync: Duration,
    /// Near-real-time refresh interval of searches.
    pub refresh: Duration,
    /// Period of automatic commits (`None`: none).
    pub commit_interval: Option<Duration>,
    /// Settings of every tenant's writer (scheduler, durability and
    /// replica added per tenant).
    pub writer: WriterConfig,
    /// The shared merge scheduler's settings.
    pub scheduler: SchedulerConfig,
    /// Budget of resident mapped pages, in bytes.
    pub page_budget_bytes: u64,
    /// Largest bulk body, in bytes.
    pub max_body_bytes: usize,
    /// Replica root.
    pub replica: Option<PathBuf>,
    /// How long bulk requests in flight may finish at shutdown.
    pub shutdown_grace: Duration,
}

impl ServerConfig {
    /// Checks and converts the command line.
    pub fn from_args(a: Args) -> Result<ServerConfig, ServerError> {
        let mut tenant_durability = BTreeMap::new();
        for spec in &a.tenant_durability {
            let (name, mode) = spec.split_once('=').ok_or_else(|| {
                ServerError::config("--tenant-durability", spec, "expected NAME=MODE")
            })?;
            let name = TenantName::parse(name)
                .map_err(|e| ServerError::config("--tenant-durability", spec, e))?;
            let mode: Durability = mode
                .parse()
                .map_err(|e| ServerError::config("--tenant-durability", spec, e))?;
            tenant_durability.insert(name, mode);
        }
        if a.wal_sync_ms == 0 {
            return Err(ServerError::config("--wal-sync-ms", "0", "must be > 0"));
        }
        let mut writer = WriterConfig::default()
            .mem_budget_bytes(a.mem_mib.max(1) << 20)
            .backpressure(backpressure(&a)?);
        // Indexing runs on the blocking pool, a few requests per tenant at
        // a time: the budget is shared by that many buffers.
        writer = writer.indexing_threads(2);
        if let Some(n) = a.max_buffered_docs {
            writer = writer.max_buffered_docs(n);
        }
        let mut scheduler = SchedulerConfig::default();
        if let Some(n) = a.merge_threads {
            scheduler.threads = n;
        }
        if let Some(mb) = a.merge_mib_per_s {
            let limiter = RateLimiter::fixed(mb).map_err(|e| {
                ServerError::config("--merge-mib-per-s", &mb.to_string(), e.to_string())
            })?;
            scheduler.rate_limiter = Arc::new(limiter);
            scheduler.min_throttled_merge_bytes = 0;
        }
        scheduler.validate().map_err(|e| {
            ServerError::config("--merge-threads", &scheduler.threads.to_string(), e)
        })?;
        Ok(ServerConfig {
            data: a.data,
            listen: a.listen,
            log_format: a.log_format,
            durability: a.durability,
            tenant_durability,
            wal_sync: Duration::from_millis(a.wal_sync_ms),
            refresh: Duration::from_millis(a.refresh_ms),
            commit_interval: (a.commit_interval_ms > 0)
                .then(|| Duration::from_millis(a.commit_interval_ms)),
            writer,
            scheduler,
            page_budget_bytes: a.page_budget_mib.saturating_mul(1 << 20),
            max_body_bytes: a.max_body_mib.max(1) << 20,
            replica: a.replica,
            shutdown_grace: Duration::from_millis(a.shutdown_grace_ms),
        })
    }

    /// The default durability of `tenant`'s bulk requests.
    pub fn durability_of(&self, tenant: &TenantName) -> Durability {
        self.tenant_durability
            .get(tenant)
            .copied()
            .unwrap_or(self.durability)
    }
}

/// The backpressure limits: the library's defaults, with the limits given
/// on the command line.
fn backpressure(a: &Args) -> Result<BackpressureConfig, ServerError> {
    let mut bp = BackpressureConfig::default();
    let bytes = |mb: f64| (mb.max(0.0) * MIB) as u64;
    // A hard limit given alone brings the default soft limit down to half
    // of it (a soft limit above the hard one is refused).
    if let Some(mb) = a.bp_hard_merge_mib {
        bp.hard_pending_merge_bytes = bytes(mb);
        bp.soft_pending_merge_bytes = bp.soft_pending_merge_bytes.min(bytes(mb) / 2);
    }
    if let Some(mb) = a.bp_soft_merge_mib {
        bp.soft_pending_merge_bytes = bytes(mb);
    }
    if let Some(n) = a.bp_hard_segments {
        bp.hard_excess_segments = n;
        bp.soft_excess_segments = bp.soft_excess_segments.min(n / 2);
    }
    if let Some(n) = a.bp_soft_segments {
        bp.soft_excess_segments = n;
    }
    bp.validate()
        .map_err(|e| ServerError::config("--bp-*", "", e.to_string()))?;
    Ok(bp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn config(flags: &[&str]) -> Result<ServerConfig, ServerError> {
        let mut argv = vec!["lucerna-server", "--data", "d"];
        argv.extend_from_slice(flags);
        ServerConfig::from_args(Args::try_parse_from(argv).expect("flags parse"))
    }

    #[test]
    fn a_hard_limit_alone_brings_its_soft_limit_down() {
        let c = config(&["--bp-hard-merge-mib", "1", "--bp-hard-segments", "8"]).unwrap();
        let bp = c.writer.backpressure;
        assert_eq!(bp.hard_pending_merge_bytes, 1 << 20);
        assert_eq!(bp.soft_pending_merge_bytes, 1 << 19);
        assert_eq!((bp.soft_excess_segments, bp.hard_excess_segments), (4, 8));
        let c = config(&["--bp-soft-merge-mib", "0.5", "--bp-hard-merge-mib", "0.5"]).unwrap();
        assert_eq!(c.writer.backpressure.soft_pending_merge_bytes, 1 << 19);
        assert!(config(&["--bp-soft-merge-mib", "2", "--bp-hard-merge-mib", "1"]).is_err());
    }

    #[test]
    fn tenant_durabilities_are_checked() {
        let c = config(&[
            "--tenant-durability",
            "web=none",
            "--durability",
            "interval:200",
        ])
        .unwrap();
        let web = TenantName::parse("web").unwrap();
        let api = TenantName::parse("api").unwrap();
        assert_eq!(c.durability_of(&web), Durability::None);
        assert_eq!(
            c.durability_of(&api),
            Durability::Interval(Duration::from_millis(200))
        );
        for bad in ["web", "Web=sync", "web=often"] {
            let e = config(&["--tenant-durability", bad]).unwrap_err();
            assert!(e.to_string().contains("--tenant-durability"), "{e}");
        }
        assert!(config(&["--wal-sync-ms", "0"]).is_err());
        let c = config(&["--merge-mib-per-s", "0.25"]).unwrap();
        assert_eq!(c.scheduler.min_throttled_merge_bytes, 0);
    }
}
