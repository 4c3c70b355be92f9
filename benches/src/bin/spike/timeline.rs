//! The timeline: a sample of every tenant's writer and of the process's
//! memory every second.

use crate::memory::{proc_status_bytes, rss_bytes};
use crate::workload::Tenant;
use lucerna::merge::MIB;
use lucerna::WriterMetrics;
use std::sync::atomic::Ordering;

/// A per-second sample of the timeline.
#[derive(Clone)]
pub(crate) struct Sample {
    pub(crate) t: f64,
    pub(crate) docs_per_s: Vec<f64>,
    pub(crate) backlog_bytes: Vec<u64>,
    pub(crate) segments: Vec<usize>,
    /// Documents acknowledged so far, per tenant.
    pub(crate) acked: Vec<u64>,
    /// The backpressure rate limit in bytes of documents per second
    /// (infinite while unlimited), per tenant.
    pub(crate) rate_bytes_per_s: Vec<f64>,
    /// Bytes of documents admitted so far, per tenant.
    pub(crate) admitted_bytes: Vec<u64>,
    /// Bytes written by finished merges so far, per tenant.
    pub(crate) merged_bytes: Vec<u64>,
    /// Bytes written by flushes so far, per tenant.
    pub(crate) flushed_bytes: Vec<u64>,
    /// Seconds stalled so far, per tenant.
    pub(crate) stalled_s: Vec<f64>,
    /// Smoothed backpressure pressure and its trend per second, per tenant.
    pub(crate) pressure: Vec<(f64, f64)>,
    pub(crate) throttle_mib_per_s: f64,
    pub(crate) rss_bytes: u64,
    /// Anonymous memory (heap, stacks) of the RSS.
    pub(crate) rss_anon_bytes: u64,
    /// File-backed pages of the RSS (mapped index files).
    pub(crate) rss_file_bytes: u64,
}

impl Sample {
    /// Samples `tenants` at `t`, `dt` seconds after the previous sample,
    /// when they had acknowledged `last_acked` documents; returns the sample
    /// and the documents acknowledged now.
    pub(crate) fn measure(
        t: f64,
        dt: f64,
        tenants: &[Tenant],
        last_acked: &[u64],
    ) -> (Sample, Vec<u64>) {
        let metrics: Vec<WriterMetrics> = tenants.iter().map(|t| t.writer.metrics()).collect();
        let acked: Vec<u64> = tenants
            .iter()
            .map(|t| t.acked.load(Ordering::Relaxed))
            .collect();
        let sample = Sample {
            t,
            docs_per_s: acked
                .iter()
                .zip(last_acked)
                .map(|(a, b)| (a - b) as f64 / dt)
                .collect(),
            backlog_bytes: metrics.iter().map(|m| m.pending_merge_bytes).collect(),
            segments: metrics.iter().map(|m| m.segments).collect(),
            acked: acked.clone(),
            rate_bytes_per_s: metrics.iter().map(|m| m.admitted_bytes_per_s).collect(),
            admitted_bytes: metrics.iter().map(|m| m.admitted_bytes).collect(),
            merged_bytes: metrics.iter().map(|m| m.bytes_merged).collect(),
            flushed_bytes: metrics.iter().map(|m| m.bytes_flushed).collect(),
            stalled_s: metrics
                .iter()
                .map(|m| m.stalled_time.as_secs_f64())
                .collect(),
            pressure: metrics
                .iter()
                .map(|m| (m.backlog_pressure, m.backlog_trend_per_s))
                .collect(),
            throttle_mib_per_s: metrics.first().map_or(0.0, |m| m.throttle_mib_per_s),
            rss_bytes: rss_bytes().unwrap_or(0),
            rss_anon_bytes: proc_status_bytes("RssAnon").unwrap_or(0),
            rss_file_bytes: proc_status_bytes("RssFile").unwrap_or(0),
        };
        (sample, acked)
    }

    /// The progress line printed (without `--json`) after each sample.
    pub(crate) fn progress_line(&self) -> String {
        let t = self.t;
        let row: Vec<String> = self
            .docs_per_s
            .iter()
            .zip(&self.backlog_bytes)
            .zip(&self.rate_bytes_per_s)
            .map(|((d, b), r)| {
                let limit = if r.is_finite() {
                    format!(" (≤{:.1}M/s)", r / MIB as f64)
                } else {
                    String::new()
                };
                format!("{:>7.0}/s {:>5.1}M{limit}", d, *b as f64 / MIB as f64)
            })
            .collect();
        let (anon, file) = (self.rss_anon_bytes, self.rss_file_bytes);
        format!(
            "t={t:>5.1}s  {}  rss anon {:.1}M file {:.1}M",
            row.join("  "),
            anon as f64 / MIB as f64,
            file as f64 / MIB as f64
        )
    }
}
