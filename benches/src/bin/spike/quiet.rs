//! The quiet tenants' latency second by second: their add p99 and search
//! p99 in each second of the run, against the same figure over the
//! baseline, so the chart answers "did the spike hurt the neighbours?".

use crate::hist::PerSecond;
use crate::workload::{Phases, SearchOutcome, WriterOutcome};
use serde_json::{json, Value};

/// Per-second p99s of the quiet tenants, pooled, and their baselines.
pub(crate) struct QuietLatency {
    /// (end of the second, add p99 in µs).
    pub(crate) add: Vec<(f64, f64)>,
    /// (end of the second, search p99 in µs).
    pub(crate) search: Vec<(f64, f64)>,
    /// The add p99 over the baseline phase (after the warm-up).
    pub(crate) add_baseline: Option<f64>,
    /// The search p99 over the baseline phase (after the warm-up).
    pub(crate) search_baseline: Option<f64>,
}

impl QuietLatency {
    /// Pools the quiet tenants' per-second latencies.
    pub(crate) fn measure(
        writers: &[WriterOutcome],
        searches: &[SearchOutcome],
        spiking: &[bool],
        phases: Phases,
    ) -> QuietLatency {
        let mut adds = PerSecond::default();
        let mut queries = PerSecond::default();
        for (i, &s) in spiking.iter().enumerate() {
            if s {
                continue;
            }
            if let Some(w) = writers.get(i) {
                adds.merge(&w.per_second);
            }
            if let Some(q) = searches.get(i) {
                queries.merge(&q.per_second);
            }
        }
        // Whole seconds inside the baseline phase.
        let (from, to) = (phases.warmup.ceil() as usize, phases.baseline_end as usize);
        let series = |h: &PerSecond| -> Vec<(f64, f64)> {
            (0..h.seconds())
                .filter_map(|s| Some(((s + 1) as f64, h.quantile_us(s, s + 1, 0.99)?)))
                .collect()
        };
        QuietLatency {
            add: series(&adds),
            search: series(&queries),
            add_baseline: adds.quantile_us(from, to, 0.99),
            search_baseline: queries.quantile_us(from, to, 0.99),
        }
    }

    /// The figures as JSON (`quiet_latency` of the report).
    pub(crate) fn to_json(&self) -> Value {
        let points = |v: &[(f64, f64)]| -> Vec<Value> {
            v.iter()
                .map(|&(t, us)| json!({"t": t, "p99_us": us}))
                .collect()
        };
        json!({
            "add_p99_baseline_us": self.add_baseline,
            "search_p99_baseline_us": self.search_baseline,
            "add_p99_per_second": points(&self.add),
            "search_p99_per_second": points(&self.search),
        })
    }
}
