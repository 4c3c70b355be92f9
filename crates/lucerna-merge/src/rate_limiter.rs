//! IO rate limiting of merge writes.
//!
//! # Algorithm
//!
//! The limiter keeps one number, `next_free`: the instant at which all the
//! bytes granted so far will have been "paid for" at the configured rate. A
//! writer that just wrote `b` bytes calls [`RateLimiter::pause_for`]
//! (or [`acquire`](RateLimiter::acquire), which also sleeps):
//!
//! ```text
//! target = next_free + b / rate
//! if target <= now { next_free = now; pause = 0 }      // writer slower than the rate
//! else             { next_free = target; pause = target - now }
//! ```
//!
//! A writer that takes `w` seconds to write each chunk of `b` bytes therefore
//! pauses `b / rate - w` after each chunk, and a run of `n` chunks takes
//! `n * b / rate` seconds: the average rate is exact, whatever the chunk
//! size. Idle time does not accumulate credit (no burst after a pause), and
//! concurrent writers sharing one limiter get consecutive slots, so the
//! limit is global. Pauses shorter than [`MIN_PAUSE`] are not slept but
//! stay owed (`next_free` already includes them) and are paid with the next
//! pause, so the rate stays exact without millisecond sleeps.
//!
//! Rates are in MiB per second ("MB" as in Lucene's settings).
//!
//! # Automatic throttling
//!
//! [`RateLimiter::auto`] follows the idea of Lucene's
//! `ConcurrentMergeScheduler` auto IO throttle: each time a merge is
//! scheduled ([`on_merge_scheduled`](RateLimiter::on_merge_scheduled)), if
//! it must wait because merges are backing up the rate is raised
//! (× [`AutoThrottle::raise_factor`], default 1.2: merging has to go faster
//! to keep up with indexing); if there is no backlog at all it is lowered
//! (× [`AutoThrottle::lower_factor`], default 0.9: merges keep up, so be
//! gentler on searches); otherwise unchanged. The rate stays within
//! `[min_mib_per_s, max_mib_per_s]`.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::clock::{Clock, SystemClock};
use crate::error::MergeError;
use crate::tiered::MIB;

/// Pauses shorter than this are carried over instead of slept.
pub const MIN_PAUSE: Duration = Duration::from_millis(1);
/// Longest single sleep of [`RateLimiter::acquire_unless`] before it checks
/// its abort condition again.
pub const MAX_PAUSE_SLICE: Duration = Duration::from_millis(50);

/// Configuration of the automatic IO throttle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AutoThrottle {
    /// Initial rate (default 20 MiB/s, as Lucene): low enough not to hurt
    /// searches, raised as soon as merges back up.
    pub start_mib_per_s: f64,
    /// Lowest rate (default 5 MiB/s, as Lucene): merges must always make
    /// progress.
    pub min_mib_per_s: f64,
    /// Highest rate (default 10240 MiB/s, as Lucene: effectively unthrottled).
    pub max_mib_per_s: f64,
    /// Factor applied when merges back up (default 1.2, > 1).
    pub raise_factor: f64,
    /// Factor applied when merges keep up (default 0.9, in (0, 1)).
    pub lower_factor: f64,
}

impl Default for AutoThrottle {
    fn default() -> Self {
        AutoThrottle {
            start_mib_per_s: 20.0,
            min_mib_per_s: 5.0,
            max_mib_per_s: 10240.0,
            raise_factor: 1.2,
            lower_factor: 0.9,
        }
    }
}

impl AutoThrottle {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), MergeError> {
        if !(self.min_mib_per_s.is_finite() && self.min_mib_per_s > 0.0) {
            return Err(MergeError::invalid(
                "min_mib_per_s",
                format!("must be finite and > 0 (got {})", self.min_mib_per_s),
            ));
        }
        if !(self.max_mib_per_s.is_finite() && self.max_mib_per_s >= self.min_mib_per_s) {
            return Err(MergeError::invalid(
                "max_mib_per_s",
                format!(
                    "must be finite and >= min_mib_per_s (got {})",
                    self.max_mib_per_s
                ),
            ));
        }
        if !(self.start_mib_per_s >= self.min_mib_per_s
            && self.start_mib_per_s <= self.max_mib_per_s)
        {
            return Err(MergeError::invalid(
                "start_mib_per_s",
                format!(
                    "must be within [min_mib_per_s, max_mib_per_s] (got {})",
                    self.start_mib_per_s
                ),
            ));
        }
        if !(self.raise_factor.is_finite() && self.raise_factor > 1.0) {
            return Err(MergeError::invalid(
                "raise_factor",
                format!("must be finite and > 1 (got {})", self.raise_factor),
            ));
        }
        if !(self.lower_factor > 0.0 && self.lower_factor < 1.0) {
            return Err(MergeError::invalid(
                "lower_factor",
                format!("must be in (0, 1) (got {})", self.lower_factor),
            ));
        }
        Ok(())
    }
}

/// Counters of a [`RateLimiter`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RateLimiterStats {
    /// Current rate in MiB/s (infinite when unlimited).
    pub mib_per_s: f64,
    /// Bytes accounted so far.
    pub bytes: u64,
    /// Sum of the pauses returned so far.
    pub paused: Duration,
    /// Times the automatic throttle raised the rate.
    pub raises: u64,
    /// Times the automatic throttle lowered the rate.
    pub lowers: u64,
}

#[derive(Debug)]
struct State {
    mib_per_s: f64,
    next_free: Duration,
    stats: RateLimiterStats,
}

/// Limits the rate of merge writes; shared by every merge of a scheduler.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use lucerna_merge::{ManualClock, RateLimiter, MIB};
///
/// let clock = Arc::new(ManualClock::new());
/// let limiter = RateLimiter::fixed(10.0)?.with_clock(clock.clone());
/// // Writing 5 MiB at 10 MiB/s takes half a second.
/// let pause = limiter.pause_for(5 * MIB);
/// assert_eq!(pause, Duration::from_millis(500));
/// // `acquire` sleeps on the clock (here: advances the manual clock).
/// limiter.acquire(5 * MIB);
/// assert!(clock.slept() >= Duration::from_millis(999));
/// # Ok::<(), lucerna_merge::MergeError>(())
/// ```
#[derive(Debug)]
pub struct RateLimiter {
    clock: Arc<dyn Clock>,
    auto: Option<AutoThrottle>,
    state: Mutex<State>,
}

fn check_rate(v: f64) -> Result<(), MergeError> {
    if v > 0.0 {
        // NaN fails the comparison; +inf means unlimited.
        Ok(())
    } else {
        Err(MergeError::invalid(
            "mib_per_s",
            format!("must be > 0 (got {v}); use f64::INFINITY for unlimited"),
        ))
    }
}

fn secs_to_duration(secs: f64) -> Duration {
    if secs <= 0.0 || secs.is_nan() {
        Duration::ZERO
    } else {
        Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
    }
}

impl RateLimiter {
    fn with_rate(mib_per_s: f64, auto: Option<AutoThrottle>) -> Self {
        let clock = SystemClock::shared();
        let now = clock.now();
        RateLimiter {
            clock,
            auto,
            state: Mutex::new(State {
                mib_per_s,
                next_free: now,
                stats: RateLimiterStats {
                    mib_per_s,
                    ..Default::default()
                },
            }),
        }
    }

    /// A limiter at a fixed rate of `mib_per_s` MiB/s (> 0; infinity means
    /// unlimited).
    pub fn fixed(mib_per_s: f64) -> Result<Self, MergeError> {
        check_rate(mib_per_s)?;
        Ok(Self::with_rate(mib_per_s, None))
    }

    /// A limiter that never pauses (but still counts bytes).
    pub fn unlimited() -> Self {
        Self::with_rate(f64::INFINITY, None)
    }

    /// An automatically adjusted limiter starting at
    /// `config.start_mib_per_s`.
    pub fn auto(config: AutoThrottle) -> Result<Self, MergeError> {
        config.validate()?;
        Ok(Self::with_rate(config.start_mib_per_s, Some(config)))
    }

    /// Replaces the clock (for tests: a [`ManualClock`](crate::ManualClock)).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        let now = clock.now();
        self.clock = clock;
        self.state.get_mut().next_free = now;
        self
    }

    /// The current rate in MiB/s (`f64::INFINITY` when unlimited).
    pub fn mib_per_s(&self) -> f64 {
        self.state.lock().mib_per_s
    }

    /// Changes the rate (> 0; infinity means unlimited). Bytes already
    /// granted keep their schedule. On an automatic limiter this sets the
    /// current rate (clamped to its bounds), which then keeps adapting.
    pub fn set_mib_per_s(&self, mib_per_s: f64) -> Result<(), MergeError> {
        check_rate(mib_per_s)?;
        let v = match &self.auto {
            Some(a) => mib_per_s.clamp(a.min_mib_per_s, a.max_mib_per_s),
            None => mib_per_s,
        };
        let mut s = self.state.lock();
        s.mib_per_s = v;
        s.stats.mib_per_s = v;
        Ok(())
    }

    /// Whether the limiter adapts automatically.
    pub fn is_auto(&self) -> bool {
        self.auto.is_some()
    }

    /// The automatic throttle's configuration, if any.
    pub fn auto_config(&self) -> Option<AutoThrottle> {
        self.auto
    }

    /// The clock the limiter uses.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Accounts `bytes` just written and returns how long the writer should
    /// pause now to keep the average at the configured rate (see the
    /// [module documentation](self)). Does not sleep.
    pub fn pause_for(&self, bytes: u64) -> Duration {
        let now = self.clock.now();
        let mut s = self.state.lock();
        s.stats.bytes = s.stats.bytes.saturating_add(bytes);
        if s.mib_per_s.is_infinite() || bytes == 0 {
            return Duration::ZERO;
        }
        let cost = secs_to_duration(bytes as f64 / (s.mib_per_s * MIB as f64));
        let target = s.next_free.saturating_add(cost);
        let pause = if target <= now {
            s.next_free = now;
            Duration::ZERO
        } else {
            s.next_free = target;
            target - now
        };
        s.stats.paused = s.stats.paused.saturating_add(pause);
        pause
    }

    /// [`pause_for`](Self::pause_for), then sleeps for the pause (on the
    /// limiter's clock) if it is at least [`MIN_PAUSE`]. Returns the time
    /// slept.
    pub fn acquire(&self, bytes: u64) -> Duration {
        let pause = self.pause_for(bytes);
        if pause >= MIN_PAUSE {
            self.clock.sleep(pause);
            pause
        } else {
            Duration::ZERO
        }
    }

    /// Like [`acquire`](Self::acquire) but sleeps in slices of at most
    /// [`MAX_PAUSE_SLICE`], checking `aborted` before each; returns
    /// [`MergeError::Aborted`] as soon as it holds.
    pub fn acquire_unless(
        &self,
        bytes: u64,
        aborted: &dyn Fn() -> bool,
    ) -> Result<Duration, MergeError> {
        if aborted() {
            return Err(MergeError::Aborted);
        }
        let pause = self.pause_for(bytes);
        if pause < MIN_PAUSE {
            return Ok(Duration::ZERO);
        }
        let mut left = pause;
        while !left.is_zero() {
            if aborted() {
                return Err(MergeError::Aborted);
            }
            let slice = left.min(MAX_PAUSE_SLICE);
            self.clock.sleep(slice);
            left -= slice;
        }
        Ok(pause)
    }

    /// Tells an automatic limiter that a merge was scheduled. `must_wait`:
    /// the merge cannot start now because every merge thread is busy;
    /// `backlog`: merges were already waiting. Raises the rate when the
    /// merge must wait, lowers it when there is no backlog at all, keeps it
    /// otherwise. Returns the (possibly new) rate; no effect on a fixed
    /// limiter.
    pub fn on_merge_scheduled(&self, must_wait: bool, backlog: bool) -> f64 {
        let mut s = self.state.lock();
        let Some(a) = self.auto else {
            return s.mib_per_s;
        };
        let new = if must_wait {
            s.stats.raises += 1;
            s.mib_per_s * a.raise_factor
        } else if backlog {
            s.mib_per_s
        } else {
            s.stats.lowers += 1;
            s.mib_per_s * a.lower_factor
        };
        let new = new.clamp(a.min_mib_per_s, a.max_mib_per_s);
        s.mib_per_s = new;
        s.stats.mib_per_s = new;
        new
    }

    /// Counters so far.
    pub fn stats(&self) -> RateLimiterStats {
        self.state.lock().stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn limiter(mb: f64) -> (RateLimiter, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new());
        let l = RateLimiter::fixed(mb)
            .map(|l| l.with_clock(clock.clone()))
            .unwrap_or_else(|e| panic!("{e}"));
        (l, clock)
    }

    #[test]
    fn rejects_bad_rates() {
        assert!(RateLimiter::fixed(0.0).is_err());
        assert!(RateLimiter::fixed(-1.0).is_err());
        assert!(RateLimiter::fixed(f64::NAN).is_err());
        assert!(RateLimiter::fixed(f64::INFINITY).is_ok());
        let l = RateLimiter::unlimited();
        assert!(l.set_mib_per_s(f64::NAN).is_err());
        assert!(l.mib_per_s().is_infinite());
        assert!(RateLimiter::auto(AutoThrottle {
            min_mib_per_s: 0.0,
            ..Default::default()
        })
        .is_err());
        assert!(RateLimiter::auto(AutoThrottle {
            start_mib_per_s: 1.0,
            ..Default::default()
        })
        .is_err());
        assert!(RateLimiter::auto(AutoThrottle {
            raise_factor: 1.0,
            ..Default::default()
        })
        .is_err());
        assert!(RateLimiter::auto(AutoThrottle {
            lower_factor: 1.0,
            ..Default::default()
        })
        .is_err());
    }

    #[test]
    fn unlimited_never_pauses() {
        let l = RateLimiter::unlimited();
        assert_eq!(l.pause_for(u64::MAX), Duration::ZERO);
        assert_eq!(l.acquire(1 << 40), Duration::ZERO);
        assert_eq!(l.stats().bytes, u64::MAX);
    }

    #[test]
    fn extreme_inputs_do_not_panic() {
        let (l, _) = limiter(1e-300);
        let p = l.pause_for(u64::MAX);
        assert_eq!(p, Duration::MAX);
        let p2 = l.pause_for(u64::MAX);
        assert_eq!(p2, Duration::MAX);
    }

    /// Writes `total` bytes in `chunk`-byte chunks, each taking `work` of
    /// clock time, pausing as told; returns the achieved MiB/s.
    fn run(l: &RateLimiter, clock: &ManualClock, total: u64, chunk: u64, work: Duration) -> f64 {
        let start = clock.now();
        let mut written = 0;
        while written < total {
            let n = chunk.min(total - written);
            clock.advance(work);
            l.acquire(n);
            written += n;
        }
        let secs = (clock.now() - start).as_secs_f64();
        written as f64 / MIB as f64 / secs
    }

    #[test]
    fn achieved_rate_is_within_ten_percent_of_target() {
        // Various chunk sizes (including ones whose pause is below MIN_PAUSE
        // and carried over) and writer speeds faster than the target.
        for &(target, chunk, work_us) in &[
            (20.0, 64 * 1024u64, 100u64),
            (20.0, 1024, 1),
            (5.0, 8 * MIB, 10_000),
            (100.0, 4096, 5),
            (1000.0, 1024 * 1024, 50),
        ] {
            let (l, clock) = limiter(target);
            let rate = run(&l, &clock, 200 * MIB, chunk, Duration::from_micros(work_us));
            let err = (rate - target).abs() / target;
            assert!(
                err <= 0.10,
                "target {target} chunk {chunk}: got {rate:.3} MiB/s"
            );
        }
    }

    #[test]
    fn slow_writer_is_never_paused() {
        // Writing 1 MiB takes 1 s: slower than 10 MiB/s, so no pauses.
        let (l, clock) = limiter(10.0);
        for _ in 0..20 {
            clock.advance(Duration::from_secs(1));
            assert_eq!(l.acquire(MIB), Duration::ZERO);
        }
    }

    #[test]
    fn concurrent_writers_share_the_budget() {
        // Two writers interleaving on one limiter: the aggregate is the rate.
        let (l, clock) = limiter(10.0);
        let start = clock.now();
        for _ in 0..1000 {
            l.acquire(64 * 1024);
            l.acquire(64 * 1024);
        }
        let secs = (clock.now() - start).as_secs_f64();
        let rate = 2000.0 * 64.0 * 1024.0 / MIB as f64 / secs;
        assert!((rate - 10.0).abs() / 10.0 <= 0.10, "{rate}");
    }

    #[test]
    fn rate_change_applies_to_later_bytes() {
        let (l, clock) = limiter(10.0);
        assert_eq!(l.pause_for(MIB), Duration::from_millis(100));
        clock.advance(Duration::from_millis(100));
        l.set_mib_per_s(1.0).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(l.pause_for(MIB), Duration::from_secs(1));
        assert_eq!(l.mib_per_s(), 1.0);
    }

    #[test]
    fn abortable_acquire_stops_early() {
        let (l, clock) = limiter(1.0);
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let r = l.acquire_unless(10 * MIB, &|| {
            calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= 3
        });
        assert_eq!(r, Err(MergeError::Aborted));
        // Two slices slept before the abort was seen.
        assert_eq!(clock.slept(), MAX_PAUSE_SLICE * 2);
        let ok = l.acquire_unless(0, &|| false);
        assert_eq!(ok, Ok(Duration::ZERO));
    }

    #[test]
    fn auto_throttle_raises_lowers_and_stays_in_bounds() {
        let l = RateLimiter::auto(AutoThrottle::default()).unwrap_or_else(|e| panic!("{e}"));
        assert!(l.is_auto());
        assert_eq!(l.mib_per_s(), 20.0);
        let r = l.on_merge_scheduled(true, true);
        assert!((r - 24.0).abs() < 1e-9);
        let r = l.on_merge_scheduled(false, true);
        assert!((r - 24.0).abs() < 1e-9);
        let r = l.on_merge_scheduled(false, false);
        assert!((r - 21.6).abs() < 1e-9);
        for _ in 0..1000 {
            l.on_merge_scheduled(false, false);
        }
        assert_eq!(l.mib_per_s(), 5.0);
        for _ in 0..1000 {
            l.on_merge_scheduled(true, true);
        }
        assert_eq!(l.mib_per_s(), 10240.0);
        let s = l.stats();
        assert_eq!((s.raises, s.lowers), (1001, 1001));
        // A fixed limiter ignores the signal.
        let (f, _) = limiter(3.0);
        assert_eq!(f.on_merge_scheduled(true, true), 3.0);
        // set_mib_per_s on an auto limiter is clamped to its bounds.
        l.set_mib_per_s(1.0).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(l.mib_per_s(), 5.0);
    }
}
