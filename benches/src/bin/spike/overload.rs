//! The overload case: the spiking tenant's admitted rate, second by second,
//! against what its merges sustain.
//!
//! Over the window from 5 s after the spike starts to the end of the run:
//! * the admitted rate of each second (documents acknowledged), its mean
//!   and coefficient of variation, and the seconds at zero that were not
//!   stalls at the hard limit;
//! * what its merges sustain: merge input bytes per second (bytes written
//!   by its finished merges over the window, which is the live bytes of
//!   their inputs) divided by the bytes per document of its segments
//!   (bytes flushed per document acknowledged over the window);
//! * for reference, the same merge bytes divided by the merge bytes each
//!   admitted document cost (its amplification: a document is merged
//!   more than once), what keeps the debt flat.

use crate::timeline::Sample;
use crate::workload::Phases;
use serde_json::{json, Value};

/// Seconds of the spike left out before the rate is judged (the
/// controller finds the rate meanwhile).
pub(crate) const SETTLE_S: f64 = 5.0;

/// What the window measured of tenant `i`.
pub(crate) struct RateFigures {
    pub(crate) from_s: f64,
    pub(crate) to_s: f64,
    /// Admitted documents of each second of the window.
    pub(crate) per_second: Vec<f64>,
    pub(crate) mean: f64,
    pub(crate) cv: f64,
    /// Seconds with no document admitted and no stall.
    pub(crate) zero_unstalled: usize,
    pub(crate) merge_input_bytes_per_s: f64,
    pub(crate) segment_bytes_per_doc: f64,
    /// Merge input bytes per second / segment bytes per document.
    pub(crate) merge_sustained: f64,
    /// Merge bytes per admitted document over the window.
    pub(crate) merge_bytes_per_doc: f64,
}

impl RateFigures {
    /// The figures of tenant `i` over the overload window of `samples`.
    pub(crate) fn measure(samples: &[Sample], phases: Phases, i: usize) -> Option<RateFigures> {
        let from = phases.baseline_end + SETTLE_S;
        let first = samples.iter().position(|s| s.t >= from - 0.05)?;
        let window = &samples[first..];
        let (a, b) = (window.first()?, window.last()?);
        let span = b.t - a.t;
        if span <= 0.0 {
            return None;
        }
        let per_second: Vec<f64> = window[1..].iter().map(|s| s.docs_per_s[i]).collect();
        let zero_unstalled = window
            .windows(2)
            .filter(|p| p[1].docs_per_s[i] < 1.0 && p[1].stalled_s[i] <= p[0].stalled_s[i])
            .count();
        let n = per_second.len().max(1) as f64;
        let mean_s = per_second.iter().sum::<f64>() / n;
        let var = per_second.iter().map(|v| (v - mean_s).powi(2)).sum::<f64>() / n;
        let acked = b.acked[i].saturating_sub(a.acked[i]) as f64;
        let merged = b.merged_bytes[i].saturating_sub(a.merged_bytes[i]) as f64;
        let flushed = b.flushed_bytes[i].saturating_sub(a.flushed_bytes[i]) as f64;
        let segment_bytes_per_doc = if acked > 0.0 { flushed / acked } else { 0.0 };
        let merge_input_bytes_per_s = merged / span;
        Some(RateFigures {
            from_s: a.t,
            to_s: b.t,
            mean: acked / span,
            cv: if mean_s > 0.0 {
                var.sqrt() / mean_s
            } else {
                0.0
            },
            zero_unstalled,
            merge_sustained: if segment_bytes_per_doc > 0.0 {
                merge_input_bytes_per_s / segment_bytes_per_doc
            } else {
                0.0
            },
            merge_bytes_per_doc: if acked > 0.0 { merged / acked } else { 0.0 },
            merge_input_bytes_per_s,
            segment_bytes_per_doc,
            per_second,
        })
    }

    /// The figures as a JSON object.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "from_s": self.from_s,
            "to_s": self.to_s,
            "admitted_docs_per_s": self.per_second,
            "mean_docs_per_s": self.mean,
            "cv": self.cv,
            "zero_seconds_not_stalled": self.zero_unstalled,
            "merge_input_bytes_per_s": self.merge_input_bytes_per_s,
            "segment_bytes_per_doc": self.segment_bytes_per_doc,
            "merge_sustained_docs_per_s": self.merge_sustained,
            "admitted_of_merge_sustained": self.ratio(),
            "merge_bytes_per_admitted_doc": self.merge_bytes_per_doc,
            "merge_amplification": self.amplification(),
        })
    }

    /// Mean admitted rate over what merges sustain.
    pub(crate) fn ratio(&self) -> f64 {
        if self.merge_sustained > 0.0 {
            self.mean / self.merge_sustained
        } else {
            0.0
        }
    }

    /// Merge bytes per admitted document over segment bytes per document:
    /// how many times, on average, the window's merges rewrote each byte
    /// the window flushed.
    pub(crate) fn amplification(&self) -> f64 {
        if self.segment_bytes_per_doc > 0.0 {
            self.merge_bytes_per_doc / self.segment_bytes_per_doc
        } else {
            0.0
        }
    }

    /// The overload goals of the spiking tenant `tenant` (its add p99 from
    /// its row), each with its measured value.
    pub(crate) fn goals(&self, tenant: u64, add_p99_us: f64) -> Vec<Value> {
        let ms = add_p99_us / 1000.0;
        vec![
            json!({"tenant": tenant, "goal": "admitted docs/s per second: CV <= 0.25 after the first 5 s",
                   "ok": self.cv <= 0.25, "value": format!("CV {:.3} over {} s", self.cv, self.per_second.len())}),
            json!({"tenant": tenant, "goal": "no second at zero unless stalled at the hard limit",
                   "ok": self.zero_unstalled == 0, "value": format!("{} such seconds", self.zero_unstalled)}),
            json!({"tenant": tenant, "goal": "mean admitted >= 80% of merge input bytes/s / bytes per doc",
                   "ok": self.ratio() >= 0.8,
                   "value": format!(
                       "{:.0} of {:.0} docs/s = {:.0} % ({:.1} MiB/s merged / {:.0} B per doc; merges rewrote each byte {:.2}x)",
                       self.mean, self.merge_sustained, 100.0 * self.ratio(),
                       self.merge_input_bytes_per_s / 1048576.0, self.segment_bytes_per_doc,
                       self.amplification())}),
            json!({"tenant": tenant, "goal": "add p99 <= 10 ms under overload",
                   "ok": ms <= 10.0, "value": format!("{ms:.2} ms")}),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t: f64, docs: f64, acked: u64, merged: u64, flushed: u64, stalled: f64) -> Sample {
        Sample {
            t,
            docs_per_s: vec![docs],
            backlog_bytes: vec![0],
            segments: vec![0],
            acked: vec![acked],
            rate_bytes_per_s: vec![f64::INFINITY],
            admitted_bytes: vec![0],
            merged_bytes: vec![merged],
            flushed_bytes: vec![flushed],
            stalled_s: vec![stalled],
            pressure: vec![(0.0, 0.0)],
            throttle_mib_per_s: 0.0,
            rss_bytes: 0,
            rss_anon_bytes: 0,
            rss_file_bytes: 0,
        }
    }

    #[test]
    fn the_window_starts_five_seconds_into_the_spike() {
        let phases = Phases {
            warmup: 1.0,
            baseline_end: 10.0,
            end: 20.0,
        };
        // 100 docs/s, 100 segment bytes per doc, 5,000 merge bytes/s; a
        // second at zero at t = 18 that is a stall, one at t = 19 that
        // is not.
        let mut samples = Vec::new();
        let mut acked = 0;
        for t in 1..=20u64 {
            let docs = if t == 18 || t == 19 { 0 } else { 100 };
            acked += docs;
            let stalled = if t >= 18 { 1.0 } else { 0.0 };
            samples.push(sample(
                t as f64,
                docs as f64,
                acked,
                t * 5000,
                acked * 100,
                stalled,
            ));
        }
        let f = RateFigures::measure(&samples, phases, 0).unwrap_or_else(|| panic!("no window"));
        assert_eq!((f.from_s, f.to_s), (15.0, 20.0));
        assert_eq!(f.per_second, vec![100.0, 100.0, 0.0, 0.0, 100.0]);
        assert_eq!(f.zero_unstalled, 1);
        assert!((f.mean - 60.0).abs() < 1e-9);
        assert!((f.segment_bytes_per_doc - 100.0).abs() < 1e-9);
        assert!((f.merge_sustained - 50.0).abs() < 1e-9);
        assert!((f.amplification() - 5000.0 / 60.0 / 100.0).abs() < 1e-9);
        let goals = f.goals(0, 12_000.0);
        assert_eq!(goals.len(), 4);
        assert_eq!(goals[3]["ok"], false);
    }
}
