//! Writer backpressure: slow down, then stop, writers of an index whose
//! merges or flushes fall behind.
//!
//! # Inputs
//!
//! A [`Backlog`] per index, updated by the writer and the scheduler:
//! * bytes of merges that are pending or running (the merge debt, like
//!   RocksDB's "pending compaction bytes"),
//! * segments above the merge policy's budget
//!   ([`MergePolicy::segment_budget`](crate::MergePolicy::segment_budget)),
//!   like RocksDB's count of level-0 files,
//! * bytes indexed in RAM and not yet flushed (flushes falling behind).
//!
//! # Decision
//!
//! Each input has a soft and a hard limit. For each input above its soft
//! limit, its *excess* is `(value - soft) / (hard - soft)`, in `[0, 1)`. If
//! any input is at or above its hard limit the writer must
//! [`Stall`](Decision::Stall); otherwise, if any input is above its soft
//! limit, the writer is [`Delay`](Decision::Delay)ed by
//! `min_delay + (max_delay - min_delay) * max_excess`: the delay grows in
//! proportion to how far into the soft–hard band the worst input is, as
//! RocksDB grades its delayed write rate between the slowdown and stop
//! triggers. Otherwise it may [`Proceed`](Decision::Proceed).
//!
//! # Waiting
//!
//! [`Backpressure::admit`] applies the decision (sleeping on the clock for a
//! delay, blocking on a condition variable for a stall, woken whenever the
//! backlog is updated, never polling); [`Backpressure::try_admit`] never
//! blocks and returns a [`BackpressureError`] carrying the backlog instead
//! of stalling. Statistics count delays and stalls and their durations.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::clock::{Clock, SystemClock};
use crate::error::MergeError;
use crate::tiered::{GIB, MIB};

/// Soft and hard limits of [`Backpressure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackpressureConfig {
    /// Merge debt above which writers are delayed (default 16 GiB: a few
    /// maximum-size merges waiting is normal).
    pub soft_pending_merge_bytes: u64,
    /// Merge debt at which writers stall (default 64 GiB: merging is
    /// hopelessly behind; stop adding to it).
    pub hard_pending_merge_bytes: u64,
    /// Segments over the policy's budget above which writers are delayed
    /// (default 20, RocksDB's level-0 slowdown trigger).
    pub soft_excess_segments: usize,
    /// Segments over the policy's budget at which writers stall (default
    /// 40: searches visit every segment, so their cost grows with it).
    pub hard_excess_segments: usize,
    /// Unflushed bytes above which writers are delayed (default 256 MiB).
    pub soft_unflushed_bytes: u64,
    /// Unflushed bytes at which writers stall (default 1 GiB: bounds RAM).
    pub hard_unflushed_bytes: u64,
    /// Delay just above a soft limit (default 1 ms).
    pub min_delay: Duration,
    /// Delay just below a hard limit (default 100 ms).
    pub max_delay: Duration,
}

impl Default for BackpressureConfig {
    fn default() -> Self {
        BackpressureConfig {
            soft_pending_merge_bytes: 16 * GIB,
            hard_pending_merge_bytes: 64 * GIB,
            soft_excess_segments: 20,
            hard_excess_segments: 40,
            soft_unflushed_bytes: 256 * MIB,
            hard_unflushed_bytes: GIB,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(100),
        }
    }
}

impl BackpressureConfig {
    /// Checks that every soft limit is at most its hard limit, hard limits
    /// are positive and `min_delay <= max_delay`.
    pub fn validate(&self) -> Result<(), MergeError> {
        fn pair(name: &'static str, soft: u64, hard: u64) -> Result<(), MergeError> {
            if hard == 0 {
                return Err(MergeError::invalid(name, "hard limit must be > 0"));
            }
            if soft > hard {
                return Err(MergeError::invalid(
                    name,
                    format!("soft limit {soft} is above hard limit {hard}"),
                ));
            }
            Ok(())
        }
        pair(
            "pending_merge_bytes",
            self.soft_pending_merge_bytes,
            self.hard_pending_merge_bytes,
        )?;
        pair(
            "excess_segments",
            self.soft_excess_segments as u64,
            self.hard_excess_segments as u64,
        )?;
        pair(
            "unflushed_bytes",
            self.soft_unflushed_bytes,
            self.hard_unflushed_bytes,
        )?;
        if self.min_delay > self.max_delay {
            return Err(MergeError::invalid(
                "min_delay",
                format!(
                    "{:?} is above max_delay {:?}",
                    self.min_delay, self.max_delay
                ),
            ));
        }
        Ok(())
    }
}

/// The current backlog of one index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backlog {
    /// Bytes of merges pending or running.
    pub pending_merge_bytes: u64,
    /// Segments in the index.
    pub segment_count: usize,
    /// Segments the merge policy allows (see
    /// [`MergePolicy::segment_budget`](crate::MergePolicy::segment_budget)).
    pub segment_budget: usize,
    /// Bytes indexed but not flushed.
    pub unflushed_bytes: u64,
}

impl Backlog {
    /// Segments above the budget.
    pub fn excess_segments(&self) -> usize {
        self.segment_count.saturating_sub(self.segment_budget)
    }
}

/// What a writer should do before its next write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Write now.
    Proceed,
    /// Sleep this long, then write.
    Delay(Duration),
    /// Wait until the backlog is below every hard limit.
    Stall,
}

/// Which hard limit a stalled index exceeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StallReason {
    /// Merge debt.
    PendingMergeBytes,
    /// Segments over the policy's budget.
    ExcessSegments,
    /// Unflushed bytes.
    UnflushedBytes,
}

/// Returned instead of stalling (by [`Backpressure::try_admit`] and on a
/// wait timeout): the index is past a hard limit. Carries the backlog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "index writes stalled ({reason:?}): pending merges {pending_merge_bytes} bytes (hard limit {hard_limit_bytes}), \
     {segment_count} segments for a budget of {segment_budget} (hard limit {hard_excess_segments} over), \
     unflushed {unflushed_bytes} bytes (hard limit {hard_unflushed_bytes})"
)]
pub struct BackpressureError {
    /// The first hard limit found exceeded.
    pub reason: StallReason,
    /// Bytes of merges pending or running.
    pub pending_merge_bytes: u64,
    /// Segments in the index.
    pub segment_count: usize,
    /// Segments the merge policy allows.
    pub segment_budget: usize,
    /// Bytes not yet flushed.
    pub unflushed_bytes: u64,
    /// Hard limit of pending merge bytes.
    pub hard_limit_bytes: u64,
    /// Hard limit of segments over budget.
    pub hard_excess_segments: usize,
    /// Hard limit of unflushed bytes.
    pub hard_unflushed_bytes: u64,
}

/// Counters of one [`Backpressure`] controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BackpressureStats {
    /// Writes that were delayed.
    pub delays: u64,
    /// Total delay imposed.
    pub delayed_time: Duration,
    /// Writes that stalled (blocked until below the hard limits).
    pub stalls: u64,
    /// Total time spent stalled (on the controller's clock).
    pub stalled_time: Duration,
    /// `try_admit` calls refused.
    pub rejections: u64,
    /// Stalls that ended by timeout.
    pub timeouts: u64,
    /// Writers stalled right now.
    pub waiting: usize,
}

#[derive(Debug, Default)]
struct State {
    backlog: Backlog,
    stats: BackpressureStats,
}

/// The backpressure controller of one index. Thread safe; share it with an
/// `Arc`.
#[derive(Debug)]
pub struct Backpressure {
    config: BackpressureConfig,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
    changed: Condvar,
}

fn excess(value: u64, soft: u64, hard: u64) -> Option<f64> {
    if value >= hard {
        Some(1.0)
    } else if value > soft {
        // soft < value < hard, so hard - soft > 0.
        Some((value - soft) as f64 / (hard - soft) as f64)
    } else {
        None
    }
}

impl Backpressure {
    /// A controller with `config` (validated) and the system clock.
    pub fn new(config: BackpressureConfig) -> Result<Self, MergeError> {
        config.validate()?;
        Ok(Backpressure {
            config,
            clock: SystemClock::shared(),
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        })
    }

    /// Replaces the clock (for tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &BackpressureConfig {
        &self.config
    }

    /// The decision for `backlog` under `config` (pure).
    pub fn evaluate(config: &BackpressureConfig, backlog: &Backlog) -> Decision {
        let c = config;
        let e = [
            excess(
                backlog.pending_merge_bytes,
                c.soft_pending_merge_bytes,
                c.hard_pending_merge_bytes,
            ),
            excess(
                backlog.excess_segments() as u64,
                c.soft_excess_segments as u64,
                c.hard_excess_segments as u64,
            ),
            excess(
                backlog.unflushed_bytes,
                c.soft_unflushed_bytes,
                c.hard_unflushed_bytes,
            ),
        ];
        let worst = e
            .iter()
            .flatten()
            .fold(None::<f64>, |a, &x| Some(a.map_or(x, |a| a.max(x))));
        match worst {
            None => Decision::Proceed,
            Some(x) if x >= 1.0 => Decision::Stall,
            Some(x) => {
                let span = c.max_delay.saturating_sub(c.min_delay);
                // x is in (0, 1): the product fits in `span` (guarded against
                // float rounding at huge spans).
                let part = Duration::try_from_secs_f64(span.as_secs_f64() * x)
                    .unwrap_or(span)
                    .min(span);
                Decision::Delay(c.min_delay.saturating_add(part))
            }
        }
    }

    fn error_for(&self, b: &Backlog) -> BackpressureError {
        let c = &self.config;
        let reason = if b.pending_merge_bytes >= c.hard_pending_merge_bytes {
            StallReason::PendingMergeBytes
        } else if b.excess_segments() >= c.hard_excess_segments {
            StallReason::ExcessSegments
        } else {
            StallReason::UnflushedBytes
        };
        BackpressureError {
            reason,
            pending_merge_bytes: b.pending_merge_bytes,
            segment_count: b.segment_count,
            segment_budget: b.segment_budget,
            unflushed_bytes: b.unflushed_bytes,
            hard_limit_bytes: c.hard_pending_merge_bytes,
            hard_excess_segments: c.hard_excess_segments,
            hard_unflushed_bytes: c.hard_unflushed_bytes,
        }
    }

    /// The current backlog.
    pub fn backlog(&self) -> Backlog {
        self.state.lock().backlog
    }

    /// Replaces the backlog and wakes stalled writers.
    pub fn set_backlog(&self, backlog: Backlog) {
        self.update(|b| *b = backlog);
    }

    /// Changes the backlog in place and wakes stalled writers.
    pub fn update(&self, f: impl FnOnce(&mut Backlog)) {
        let mut s = self.state.lock();
        f(&mut s.backlog);
        drop(s);
        self.changed.notify_all();
    }

    /// Sets the merge debt (pending + running merge bytes).
    pub fn set_pending_merge_bytes(&self, bytes: u64) {
        self.update(|b| b.pending_merge_bytes = bytes);
    }

    /// Sets the segment count and the policy's budget.
    pub fn set_segments(&self, count: usize, budget: usize) {
        self.update(|b| {
            b.segment_count = count;
            b.segment_budget = budget;
        });
    }

    /// Sets the unflushed bytes.
    pub fn set_unflushed_bytes(&self, bytes: u64) {
        self.update(|b| b.unflushed_bytes = bytes);
    }

    /// The decision for the current backlog.
    pub fn decide(&self) -> Decision {
        Self::evaluate(&self.config, &self.state.lock().backlog)
    }

    /// Non-blocking admission: `Ok(Duration::ZERO)` to proceed, `Ok(d)` for
    /// a delay the caller should apply (counted as a delay), or the error
    /// when the index is past a hard limit (counted as a rejection).
    pub fn try_admit(&self) -> Result<Duration, BackpressureError> {
        let mut s = self.state.lock();
        match Self::evaluate(&self.config, &s.backlog) {
            Decision::Proceed => Ok(Duration::ZERO),
            Decision::Delay(d) => {
                s.stats.delays += 1;
                s.stats.delayed_time = s.stats.delayed_time.saturating_add(d);
                Ok(d)
            }
            Decision::Stall => {
                s.stats.rejections += 1;
                Err(self.error_for(&s.backlog))
            }
        }
    }

    /// Blocking admission: stalls (up to `timeout`, real time) while past a
    /// hard limit, then sleeps the delay, if any, on the clock. Returns the
    /// time delayed, or the error if the stall timed out.
    pub fn admit(&self, timeout: Duration) -> Result<Duration, BackpressureError> {
        self.wait_until_below_hard(timeout)?;
        let d = self.try_admit()?;
        if !d.is_zero() {
            self.clock.sleep(d);
        }
        Ok(d)
    }

    /// Blocks until the backlog is below every hard limit, woken by backlog
    /// updates (no polling). Returns at once if it already is. `timeout` is
    /// real time (a condition variable deadline); the stall duration is
    /// measured on the controller's clock.
    pub fn wait_until_below_hard(&self, timeout: Duration) -> Result<(), BackpressureError> {
        let mut s = self.state.lock();
        if Self::evaluate(&self.config, &s.backlog) != Decision::Stall {
            return Ok(());
        }
        let started = self.clock.now();
        let deadline = Instant::now().checked_add(timeout);
        s.stats.stalls += 1;
        s.stats.waiting += 1;
        let result = loop {
            if Self::evaluate(&self.config, &s.backlog) != Decision::Stall {
                break Ok(());
            }
            let timed_out = match deadline {
                Some(d) => self.changed.wait_until(&mut s, d).timed_out(),
                None => {
                    self.changed.wait(&mut s);
                    false
                }
            };
            if timed_out && Self::evaluate(&self.config, &s.backlog) == Decision::Stall {
                s.stats.timeouts += 1;
                break Err(self.error_for(&s.backlog));
            }
        };
        s.stats.waiting -= 1;
        let stalled = self.clock.now().saturating_sub(started);
        s.stats.stalled_time = s.stats.stalled_time.saturating_add(stalled);
        result
    }

    /// Counters so far.
    pub fn stats(&self) -> BackpressureStats {
        self.state.lock().stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn cfg() -> BackpressureConfig {
        BackpressureConfig {
            soft_pending_merge_bytes: 100,
            hard_pending_merge_bytes: 200,
            soft_excess_segments: 10,
            hard_excess_segments: 20,
            soft_unflushed_bytes: 1000,
            hard_unflushed_bytes: 2000,
            min_delay: Duration::ZERO,
            max_delay: Duration::from_millis(100),
        }
    }

    fn backlog(pending: u64, segs: usize, unflushed: u64) -> Backlog {
        Backlog {
            pending_merge_bytes: pending,
            segment_count: segs + 30,
            segment_budget: 30,
            unflushed_bytes: unflushed,
        }
    }

    #[test]
    fn validation() {
        assert!(BackpressureConfig::default().validate().is_ok());
        let mut c = cfg();
        c.soft_pending_merge_bytes = 300;
        assert!(Backpressure::new(c).is_err());
        let mut c = cfg();
        c.hard_unflushed_bytes = 0;
        c.soft_unflushed_bytes = 0;
        assert!(c.validate().is_err());
        let mut c = cfg();
        c.min_delay = Duration::from_secs(1);
        assert!(c.validate().is_err());
    }

    #[test]
    fn decisions_are_graded() {
        let c = cfg();
        let ev = |b: Backlog| Backpressure::evaluate(&c, &b);
        assert_eq!(ev(backlog(0, 0, 0)), Decision::Proceed);
        assert_eq!(ev(backlog(100, 10, 1000)), Decision::Proceed);
        assert_eq!(
            ev(backlog(125, 0, 0)),
            Decision::Delay(Duration::from_millis(25))
        );
        assert_eq!(
            ev(backlog(150, 0, 0)),
            Decision::Delay(Duration::from_millis(50))
        );
        assert_eq!(
            ev(backlog(0, 19, 0)),
            Decision::Delay(Duration::from_millis(90))
        );
        assert_eq!(
            ev(backlog(0, 0, 1100)),
            Decision::Delay(Duration::from_millis(10))
        );
        // The worst input decides.
        assert_eq!(
            ev(backlog(150, 19, 1100)),
            Decision::Delay(Duration::from_millis(90))
        );
        assert_eq!(ev(backlog(200, 0, 0)), Decision::Stall);
        assert_eq!(ev(backlog(0, 20, 0)), Decision::Stall);
        assert_eq!(ev(backlog(0, 0, u64::MAX)), Decision::Stall);
        // Delay is monotonic in the excess.
        let mut last = Duration::ZERO;
        for p in 101..200 {
            let Decision::Delay(d) = ev(backlog(p, 0, 0)) else {
                panic!("expected a delay at {p}")
            };
            assert!(d >= last);
            last = d;
        }
        // Under the budget, segments never count.
        let b = Backlog {
            segment_count: 5,
            segment_budget: 100,
            ..Default::default()
        };
        assert_eq!(ev(b), Decision::Proceed);
        // Huge delays do not overflow.
        let mut c3 = cfg();
        c3.max_delay = Duration::MAX;
        let Decision::Delay(d) = Backpressure::evaluate(&c3, &backlog(199, 0, 0)) else {
            panic!("expected a delay")
        };
        assert!(d > Duration::from_secs(1 << 60));
        // soft == hard: no delay band, straight to stall.
        let mut c2 = cfg();
        c2.soft_pending_merge_bytes = 200;
        assert_eq!(
            Backpressure::evaluate(&c2, &backlog(199, 0, 0)),
            Decision::Proceed
        );
        assert_eq!(
            Backpressure::evaluate(&c2, &backlog(200, 0, 0)),
            Decision::Stall
        );
    }

    #[test]
    fn try_admit_and_admit_count_and_sleep_on_the_clock() {
        let clock = Arc::new(ManualClock::new());
        let bp = Backpressure::new(cfg())
            .unwrap_or_else(|e| panic!("{e}"))
            .with_clock(clock.clone());
        assert_eq!(bp.try_admit(), Ok(Duration::ZERO));
        bp.set_pending_merge_bytes(150);
        assert_eq!(bp.try_admit(), Ok(Duration::from_millis(50)));
        assert_eq!(bp.admit(Duration::ZERO), Ok(Duration::from_millis(50)));
        assert_eq!(clock.slept(), Duration::from_millis(50));
        bp.set_segments(55, 30);
        let err = bp
            .try_admit()
            .err()
            .unwrap_or_else(|| panic!("expected a stall"));
        assert_eq!(err.reason, StallReason::ExcessSegments);
        assert_eq!(err.segment_count, 55);
        assert_eq!(err.pending_merge_bytes, 150);
        assert_eq!(err.hard_limit_bytes, 200);
        assert!(err.to_string().contains("55 segments"));
        // A zero timeout fails at once, counted as a stall and a timeout.
        assert!(bp.admit(Duration::ZERO).is_err());
        let s = bp.stats();
        assert_eq!(s.delays, 2);
        assert_eq!(s.delayed_time, Duration::from_millis(100));
        assert_eq!(s.rejections, 1);
        assert_eq!(s.stalls, 1);
        assert_eq!(s.timeouts, 1);
        assert_eq!(s.waiting, 0);
    }

    #[test]
    fn stalled_writer_wakes_when_backlog_drains() {
        let clock = Arc::new(ManualClock::new());
        let bp = Arc::new(
            Backpressure::new(cfg())
                .unwrap_or_else(|e| panic!("{e}"))
                .with_clock(clock.clone()),
        );
        bp.set_unflushed_bytes(5000);
        let waiter = {
            let bp = bp.clone();
            std::thread::spawn(move || bp.wait_until_below_hard(Duration::from_secs(3600)))
        };
        // Wait (test-side only) until the writer is parked.
        while bp.stats().waiting == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        clock.advance(Duration::from_secs(7));
        // Still above the hard limit: the writer is woken but keeps waiting.
        bp.set_unflushed_bytes(3000);
        clock.advance(Duration::from_secs(3));
        bp.set_unflushed_bytes(1500);
        let r = waiter.join().unwrap_or_else(|_| panic!("waiter panicked"));
        assert_eq!(r, Ok(()));
        let s = bp.stats();
        assert_eq!(s.stalls, 1);
        assert_eq!(s.stalled_time, Duration::from_secs(10));
        assert_eq!(s.waiting, 0);
        assert_eq!(s.timeouts, 0);
        // Now merely delayed.
        assert_eq!(bp.decide(), Decision::Delay(Duration::from_millis(50)));
    }
}
