//! The workload of each tenant: its writer thread adding corpus lines on a
//! schedule, its searcher thread querying a near-real-time searcher, and the
//! check of its final commit.

use crate::args::Args;
use crate::corpus::Line;
use crate::hist::{Hist, PerSecond};
use crate::BoxError;
use crossbeam_channel::{select, Receiver};
use lucerna::internals::SearcherInternals;
use lucerna::merge::MergeScheduler;
use lucerna::schema::{Field, Schema};
use lucerna::{Document, Index, IndexWriter, Query, Searcher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Longest single sleep of a writer thread (so it notices the end of the
/// run promptly).
const MAX_SLEEP: Duration = Duration::from_millis(50);

/// Timing of the run, seconds from its start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Phases {
    pub(crate) warmup: f64,
    pub(crate) baseline_end: f64,
    pub(crate) end: f64,
}

impl Phases {
    pub(crate) fn is_baseline(&self, t: f64) -> bool {
        t >= self.warmup && t < self.baseline_end
    }
    pub(crate) fn is_spike(&self, t: f64) -> bool {
        t >= self.baseline_end && t < self.end
    }
    pub(crate) fn baseline_len(&self) -> f64 {
        self.baseline_end - self.warmup
    }
    pub(crate) fn spike_len(&self) -> f64 {
        self.end - self.baseline_end
    }
}

/// The schedule of one tenant's writer: documents due by time `t`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    pub(crate) base: f64,
    pub(crate) spike: f64,
    pub(crate) switch: f64,
}

impl Schedule {
    pub(crate) fn due(&self, t: f64) -> f64 {
        if t <= self.switch {
            self.base * t
        } else {
            self.base * self.switch + self.spike * (t - self.switch)
        }
    }

    /// The time at which `n` documents are due.
    pub(crate) fn time_of(&self, n: f64) -> f64 {
        let at_switch = self.base * self.switch;
        if n <= at_switch {
            n / self.base
        } else {
            self.switch + (n - at_switch) / self.spike
        }
    }
}

/// What a tenant's writer threads measured.
pub(crate) struct WriterOutcome {
    pub(crate) acked: u64,
    /// Bit per document id: acknowledged.
    pub(crate) acked_ids: Vec<u64>,
    pub(crate) errors: u64,
    pub(crate) last_error: Option<String>,
    pub(crate) skipped: u64,
    pub(crate) baseline_docs: u64,
    pub(crate) spike_docs: u64,
    pub(crate) baseline_lat: Hist,
    pub(crate) spike_lat: Hist,
    /// Add latencies per second of the run.
    pub(crate) per_second: PerSecond,
}

impl WriterOutcome {
    /// Nothing measured yet.
    pub(crate) fn new() -> Self {
        WriterOutcome {
            acked: 0,
            acked_ids: Vec::new(),
            errors: 0,
            last_error: None,
            skipped: 0,
            baseline_docs: 0,
            spike_docs: 0,
            baseline_lat: Hist::new(),
            spike_lat: Hist::new(),
            per_second: PerSecond::default(),
        }
    }

    /// Adds what another writer thread of the same tenant measured.
    pub(crate) fn merge(&mut self, o: WriterOutcome) {
        self.acked += o.acked;
        if self.acked_ids.len() < o.acked_ids.len() {
            self.acked_ids.resize(o.acked_ids.len(), 0);
        }
        for (a, b) in self.acked_ids.iter_mut().zip(&o.acked_ids) {
            *a |= b;
        }
        self.errors += o.errors;
        self.last_error = o.last_error.or(self.last_error.take());
        self.skipped += o.skipped;
        self.baseline_docs += o.baseline_docs;
        self.spike_docs += o.spike_docs;
        self.baseline_lat.merge(&o.baseline_lat);
        self.spike_lat.merge(&o.spike_lat);
        self.per_second.merge(&o.per_second);
    }
}

/// Which of a tenant's writer threads this is: `index` of `count`. Thread
/// `index` writes the document ids `index`, `index + count`, … at
/// `1 / count` of the tenant's schedule.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WriterThread {
    pub(crate) index: usize,
    pub(crate) count: usize,
}

/// What a searcher thread measured.
pub(crate) struct SearchOutcome {
    pub(crate) baseline_merging: Hist,
    pub(crate) spike_merging: Hist,
    pub(crate) spike_all: Hist,
    pub(crate) reopen: Hist,
    /// Query latencies per second of the run.
    pub(crate) per_second: PerSecond,
    pub(crate) errors: u64,
    pub(crate) last_error: Option<String>,
}

/// One tenant.
pub(crate) struct Tenant {
    pub(crate) index: Index,
    pub(crate) writer: IndexWriter,
    pub(crate) path: PathBuf,
    pub(crate) acked: AtomicU64,
    pub(crate) spiking: bool,
}

pub(crate) struct Fields {
    pub(crate) id: Field,
    pub(crate) timestamp: Field,
    pub(crate) body: Field,
}

pub(crate) fn fields(schema: &Schema) -> Result<Fields, BoxError> {
    let get = |n: &str| {
        schema
            .field(n)
            .ok_or_else(|| BoxError::from(format!("the logs schema has no field `{n}`")))
    };
    Ok(Fields {
        id: get("id")?,
        timestamp: get("timestamp")?,
        body: get("body")?,
    })
}

/// What every writer and searcher thread shares.
pub(crate) struct Shared<'a> {
    pub(crate) phases: Phases,
    pub(crate) start: Instant,
    pub(crate) corpus: &'a [Line],
    pub(crate) fields: &'a Fields,
    pub(crate) stop: &'a AtomicBool,
}

pub(crate) fn writer_loop(
    tenant: &Tenant,
    tenant_no: usize,
    thread: WriterThread,
    schedule: Schedule,
    sh: &Shared<'_>,
) -> WriterOutcome {
    let (phases, corpus, f, start, stop) = (sh.phases, sh.corpus, sh.fields, sh.start, sh.stop);
    let mut out = WriterOutcome::new();
    let share = thread.count.max(1) as f64;
    let schedule = Schedule {
        base: schedule.base / share,
        spike: schedule.spike / share,
        switch: schedule.switch,
    };
    let (stride, first) = (thread.count.max(1) as u64, thread.index as u64);
    // Never more than half a second of documents owed: a writer held back
    // by backpressure catches up at most that much.
    let max_lag = 0.5 * schedule.base.max(schedule.spike);
    let offset = (tenant_no * 7919) % corpus.len();
    let mut sent: f64 = 0.0;
    let mut next_id: u64 = first;
    while !stop.load(Ordering::Acquire) {
        let now = start.elapsed().as_secs_f64();
        if now >= phases.end {
            break;
        }
        let due = schedule.due(now);
        if sent + 1.0 > due {
            let wait = (schedule.time_of(sent + 1.0) - now).max(0.0);
            std::thread::sleep(Duration::from_secs_f64(wait).min(MAX_SLEEP));
            continue;
        }
        if due - sent > max_lag {
            let skip = (due - sent - max_lag).floor();
            out.skipped += skip as u64;
            sent += skip;
        }
        let line = &corpus[(offset + next_id as usize) % corpus.len()];
        let mut doc = Document::new();
        doc.add_u64(f.id, next_id)
            .add_u64(f.timestamp, line.timestamp + next_id)
            .add_text(f.body, line.body.as_str());
        let t0 = Instant::now();
        let at = t0.duration_since(start).as_secs_f64();
        let r = tenant.writer.add_document(doc);
        let took = t0.elapsed();
        sent += 1.0;
        match r {
            Ok(_) => {
                let word = (next_id / 64) as usize;
                if out.acked_ids.len() <= word {
                    out.acked_ids.resize(word + 1, 0);
                }
                out.acked_ids[word] |= 1 << (next_id % 64);
                out.acked += 1;
                tenant.acked.fetch_add(1, Ordering::Relaxed);
                out.per_second.record(at, took);
                if phases.is_baseline(at) {
                    out.baseline_docs += 1;
                    out.baseline_lat.record(took);
                } else if phases.is_spike(at) {
                    out.spike_docs += 1;
                    out.spike_lat.record(took);
                }
            }
            Err(e) => {
                out.errors += 1;
                out.last_error = Some(e.to_string());
            }
        }
        next_id += stride;
    }
    out
}

pub(crate) fn searcher_loop(
    tenant: &Tenant,
    scheduler: &MergeScheduler,
    queries: &[Query],
    phases: Phases,
    args: &Args,
    start: Instant,
    stop: &Receiver<()>,
) -> SearchOutcome {
    let mut out = SearchOutcome {
        baseline_merging: Hist::new(),
        spike_merging: Hist::new(),
        spike_all: Hist::new(),
        reopen: Hist::new(),
        per_second: PerSecond::default(),
        errors: 0,
        last_error: None,
    };
    let tick = crossbeam_channel::tick(Duration::from_millis(args.query_ms.max(1)));
    let reopen_every = Duration::from_millis(args.reopen_ms.max(1));
    let mut searcher: Option<Searcher> = None;
    let mut reopened = Instant::now();
    loop {
        select! {
            recv(stop) -> _ => break,
            recv(tick) -> _ => {}
        }
        if searcher.is_none() || reopened.elapsed() >= reopen_every {
            let t0 = Instant::now();
            match tenant.writer.searcher() {
                Ok(s) => {
                    out.reopen.record(t0.elapsed());
                    searcher = Some(s);
                }
                Err(e) => {
                    out.errors += 1;
                    out.last_error = Some(e.to_string());
                }
            }
            reopened = Instant::now();
        }
        let Some(s) = &searcher else { continue };
        for q in queries {
            let merging = scheduler.stats().running > 0;
            let t0 = Instant::now();
            let at = t0.duration_since(start).as_secs_f64();
            let r = s.top_k(q, 10);
            let took = t0.elapsed();
            if let Err(e) = r {
                out.errors += 1;
                out.last_error = Some(e.to_string());
                continue;
            }
            out.per_second.record(at, took);
            if phases.is_spike(at) {
                out.spike_all.record(took);
                if merging {
                    out.spike_merging.record(took);
                }
            } else if phases.is_baseline(at) && merging {
                out.baseline_merging.record(took);
            }
        }
    }
    out
}

/// Counts the documents of the final commit of `index` (a fresh reader
/// from disk) and the acknowledged ids it lacks.
pub(crate) fn verify(
    index: &Index,
    f: &Fields,
    acked_ids: &[u64],
    acked: u64,
) -> Result<(u64, u64), BoxError> {
    let searcher = index.reader()?.searcher();
    let found = searcher.count(&Query::MatchAll)?;
    let mut seen = vec![0u64; acked_ids.len()];
    for seg in searcher.segments() {
        for doc in 0..seg.max_doc() {
            if !seg.is_live(doc) {
                continue;
            }
            if let Some(id) = seg.column_value(f.id, doc) {
                let word = (id / 64) as usize;
                if word < seen.len() {
                    seen[word] |= 1 << (id % 64);
                }
            }
        }
    }
    let present: u64 = acked_ids
        .iter()
        .zip(&seen)
        .map(|(a, s)| u64::from((a & s).count_ones()))
        .sum();
    let missing = acked - present;
    Ok((found, missing))
}

/// Bytes of the files directly in `dir`.
pub(crate) fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_inverts() {
        let s = Schedule {
            base: 100.0,
            spike: 1000.0,
            switch: 10.0,
        };
        assert_eq!(s.due(5.0), 500.0);
        assert_eq!(s.due(11.0), 2000.0);
        for n in [1.0, 999.0, 1000.0, 1500.0, 20_000.0] {
            assert!((s.due(s.time_of(n)) - n).abs() < 1e-6, "{n}");
        }
    }
}
