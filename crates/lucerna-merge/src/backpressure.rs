//! Writer backpressure: admit an index's writers at the rate its merges and
//! flushes absorb, and stop them past a hard limit.
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
//! and what drains them: the bytes and time of each finished merge
//! ([`record_merge`](Backpressure::record_merge)) and the bytes of each
//! flush ([`record_flush`](Backpressure::record_flush)).
//!
//! # Decision
//!
//! Each input has a soft and a hard limit; its *pressure* is `(value −
//! soft) / (hard − soft)` (see [`pressure`]). The worst input decides:
//!
//! 1. **At or above a hard limit**: writers [`Stall`](Decision::Stall)
//!    until every input is below its hard limit (a condition variable woken
//!    by every backlog update; no polling).
//! 2. **Above a soft limit**: writers are admitted at a *rate*, in bytes of
//!    documents per second, through a [`TokenBucket`] refilled continuously.
//!    A document reserves its bytes and waits only for what the bucket
//!    requires ([`Delay`](Decision::Delay)); waits under [`MIN_SLEEP`] are
//!    not slept but owed, so a writer sleeps about once a millisecond, never
//!    once per document. The rate comes from the
//!    [`RateController`]: it starts
//!    from the measured merge throughput and follows the backlog's trend to
//!    where the backlog stops growing, the rate merges absorb.
//! 3. **Below every soft limit** (for `clear_time` after an episode):
//!    [`Proceed`](Decision::Proceed), unlimited: an atomic load, no lock.
//!
//! # Start rate
//!
//! An episode starts at the lower of two measurements: the rate writers
//! were admitted at just before (smoothed over a second; the backlog grew
//! at that rate, so it is too much or just enough), and the recent merge
//! throughput (bytes written per second of merging, over the last merges)
//! converted to document bytes by the ratio of segment bytes flushed to
//! document bytes admitted. Before any merge finished, the first alone.
//!
//! # Waiting
//!
//! [`Backpressure::admit`] stalls and waits as decided (sleeping on the
//! controller's clock); [`Backpressure::try_admit`] never blocks: it
//! returns a [`BackpressureError`] that says when to retry
//! ([`retry_after`](BackpressureError::retry_after)), for a truthful HTTP
//! `Retry-After`. Statistics count delays and stalls and their durations,
//! and show the rate, the pressure and its trend.
//!
//! # Events
//!
//! Each transition is a `tracing` event of target `lucerna::backpressure`:
//! the rate limited (`info`, with the input that caused it, its pressure
//! and the start rate) and unlimited again (`info`, the episode's duration
//! and its delays); a hard limit reached (`warn`, which one and the
//! backlog) and left (`info`, the stall's duration). Transitions are seen
//! whenever the backlog changes or a writer is admitted, so an event is
//! at most one update late.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::clock::{Clock, SystemClock};
use crate::error::MergeError;
use crate::rate_control::{smoothing_weight, RateController, Sample};
use crate::tiered::{GIB, MIB};
use crate::token_bucket::{secs, TokenBucket};

/// Waits shorter than this are not slept: the document goes ahead and the
/// bucket's deficit is paid by a later wait (a sleep costs about 60 µs of
/// timer slack; a writer sleeps at most about once per millisecond).
pub const MIN_SLEEP: Duration = Duration::from_millis(1);

/// Time constant of the smoothed admitted rate (the start rate's first
/// measurement).
const ADMITTED_SMOOTHING: Duration = Duration::from_secs(1);
/// Time constant of the segment-to-document bytes ratio.
const RATIO_SMOOTHING: Duration = Duration::from_secs(10);
/// Weight kept by the merge throughput's history at each finished merge.
const MERGE_HISTORY_WEIGHT: f64 = 0.5;

/// Limits and control parameters of [`Backpressure`]. Set fields with the
/// setters of the same names, then [`validate`](Self::validate) (done by
/// [`Backpressure::new`]).
///
/// ```
/// use std::time::Duration;
/// use lucerna_merge::{BackpressureConfig, MIB};
/// let c = BackpressureConfig::default()
///     .soft_pending_merge_bytes(32 * MIB)
///     .hard_pending_merge_bytes(128 * MIB)
///     .clear_time(Duration::from_secs(2));
/// assert!(c.validate().is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackpressureConfig {
    /// Merge debt above which writers are rate limited (default 16 GiB: a
    /// few maximum-size merges waiting is normal).
    pub soft_pending_merge_bytes: u64,
    /// Merge debt at which writers stall (default 64 GiB: merging is
    /// hopelessly behind; stop adding to it).
    pub hard_pending_merge_bytes: u64,
    /// Segments over the policy's budget above which writers are rate
    /// limited (default 20, RocksDB's level-0 slowdown trigger).
    pub soft_excess_segments: usize,
    /// Segments over the policy's budget at which writers stall (default
    /// 40: searches visit every segment, so their cost grows with it).
    pub hard_excess_segments: usize,
    /// Unflushed bytes above which writers are rate limited (default
    /// 256 MiB).
    pub soft_unflushed_bytes: u64,
    /// Unflushed bytes at which writers stall (default 1 GiB: bounds RAM).
    pub hard_unflushed_bytes: u64,
    /// How often the rate is adjusted (default 100 ms, > 0).
    pub adjust_interval: Duration,
    /// Time constant of the smoothed pressure and trend (default 2 s): the
    /// merge debt moves in steps (a merge queued, a merge finished), which
    /// the rate should not copy.
    pub smoothing: Duration,
    /// Where in the soft–hard band the controller steers the worst input
    /// in sustained overload (default 0.2, in `[0, 1)`): low enough to
    /// leave room for a large merge below the hard limit (a merge is
    /// queued whole), high enough that a finished merge does not keep the
    /// backlog under the soft limit for long.
    pub target_pressure: f64,
    /// Log-rate change per band of smoothed pressure change (default 2.0,
    /// ≥ 0): the backlog growing by a tenth of its band lowers the rate by
    /// `exp(−0.2)`, about 18 %.
    pub trend_gain: f64,
    /// Log-rate change per second per band away from `target_pressure`
    /// (default 0.1, ≥ 0): slow, so that it only keeps the backlog from
    /// drifting; the trend term finds the rate.
    pub level_gain: f64,
    /// Largest factor of one adjustment, up or down (default 1.25, > 1:
    /// RocksDB's 1.25 and 0.8).
    pub max_step: f64,
    /// Lowest admitted rate (default 16 KiB/s, > 0, RocksDB's floor):
    /// writers always make progress until a hard limit stalls them.
    pub min_rate_bytes_per_s: u64,
    /// How long every input must stay below its soft limit before the rate
    /// is unlimited again (default 1 s): a merge finishing takes the debt
    /// under the soft limit for a moment, which is no reason to let a burst
    /// through.
    pub clear_time: Duration,
    /// Refill the bucket keeps while writers are idle (default 10 ms of the
    /// rate): no burst after a pause.
    pub burst: Duration,
    /// While writers are rate limited, automatic merges take only *fresh*
    /// segments (written by a flush, never merged), up to this many in one
    /// merge (default 100; 0 turns fresh-first merging off, else ≥ 2).
    /// Every byte is then merged once while the index is overloaded, so the
    /// merges absorb as many new documents as they can; merges of larger
    /// segments wait until the overload is over. The segment count is
    /// still bounded: at `soft_excess_segments` the merge policy chooses
    /// again.
    pub fresh_merge_fan_in: usize,
    /// A fresh-first merge of fewer than `fresh_merge_fan_in` segments
    /// waits until its inputs hold this many bytes (default 16 MiB), or
    /// half of `soft_pending_merge_bytes` if that is less: small flushes (a
    /// small memory budget, frequent refreshes) would otherwise make small
    /// segments that soon need merging again.
    pub fresh_merge_min_bytes: u64,
    /// How long after the rate limit ends merges stay fresh-first (default
    /// 10 s): an overload that pauses for a moment does not let a large
    /// merge take the merge thread from the fresh segments. After it, they
    /// stay fresh-first as long as writers are admitted at half or more of
    /// what the merges absorb.
    pub fresh_merge_hold: Duration,
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
            adjust_interval: Duration::from_millis(100),
            smoothing: Duration::from_secs(2),
            target_pressure: 0.2,
            trend_gain: 2.0,
            level_gain: 0.1,
            max_step: 1.25,
            min_rate_bytes_per_s: 16 << 10,
            clear_time: Duration::from_secs(1),
            burst: Duration::from_millis(10),
            fresh_merge_fan_in: 100,
            fresh_merge_min_bytes: 16 * MIB,
            fresh_merge_hold: Duration::from_secs(10),
        }
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty;)*) => {
        impl BackpressureConfig {
            $(
                $(#[$doc])*
                pub fn $name(mut self, value: $ty) -> Self {
                    self.$name = value;
                    self
                }
            )*
        }
    };
}

setters! {
    /// Sets [`soft_pending_merge_bytes`](Self::soft_pending_merge_bytes).
    soft_pending_merge_bytes: u64;
    /// Sets [`hard_pending_merge_bytes`](Self::hard_pending_merge_bytes).
    hard_pending_merge_bytes: u64;
    /// Sets [`soft_excess_segments`](Self::soft_excess_segments).
    soft_excess_segments: usize;
    /// Sets [`hard_excess_segments`](Self::hard_excess_segments).
    hard_excess_segments: usize;
    /// Sets [`soft_unflushed_bytes`](Self::soft_unflushed_bytes).
    soft_unflushed_bytes: u64;
    /// Sets [`hard_unflushed_bytes`](Self::hard_unflushed_bytes).
    hard_unflushed_bytes: u64;
    /// Sets [`adjust_interval`](Self::adjust_interval).
    adjust_interval: Duration;
    /// Sets [`smoothing`](Self::smoothing).
    smoothing: Duration;
    /// Sets [`target_pressure`](Self::target_pressure).
    target_pressure: f64;
    /// Sets [`trend_gain`](Self::trend_gain).
    trend_gain: f64;
    /// Sets [`level_gain`](Self::level_gain).
    level_gain: f64;
    /// Sets [`max_step`](Self::max_step).
    max_step: f64;
    /// Sets [`min_rate_bytes_per_s`](Self::min_rate_bytes_per_s).
    min_rate_bytes_per_s: u64;
    /// Sets [`clear_time`](Self::clear_time).
    clear_time: Duration;
    /// Sets [`burst`](Self::burst).
    burst: Duration;
    /// Sets [`fresh_merge_fan_in`](Self::fresh_merge_fan_in).
    fresh_merge_fan_in: usize;
    /// Sets [`fresh_merge_min_bytes`](Self::fresh_merge_min_bytes).
    fresh_merge_min_bytes: u64;
    /// Sets [`fresh_merge_hold`](Self::fresh_merge_hold).
    fresh_merge_hold: Duration;
}

impl BackpressureConfig {
    /// Checks that every soft limit is at most its hard limit, hard limits
    /// are positive, and the control parameters are in range.
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
        fn check(
            name: &'static str,
            ok: bool,
            value: impl std::fmt::Debug,
        ) -> Result<(), MergeError> {
            if ok {
                Ok(())
            } else {
                Err(MergeError::invalid(
                    name,
                    format!("out of range (got {value:?})"),
                ))
            }
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
        check(
            "adjust_interval",
            !self.adjust_interval.is_zero(),
            self.adjust_interval,
        )?;
        check(
            "target_pressure",
            (0.0..1.0).contains(&self.target_pressure),
            self.target_pressure,
        )?;
        check(
            "trend_gain",
            self.trend_gain.is_finite() && self.trend_gain >= 0.0,
            self.trend_gain,
        )?;
        check(
            "level_gain",
            self.level_gain.is_finite() && self.level_gain >= 0.0,
            self.level_gain,
        )?;
        check(
            "fresh_merge_fan_in",
            self.fresh_merge_fan_in != 1,
            self.fresh_merge_fan_in,
        )?;
        check(
            "max_step",
            self.max_step.is_finite() && self.max_step > 1.0,
            self.max_step,
        )?;
        check(
            "min_rate_bytes_per_s",
            self.min_rate_bytes_per_s > 0,
            self.min_rate_bytes_per_s,
        )?;
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
    /// Wait this long (the rate's bucket is short of bytes), then write.
    Delay(Duration),
    /// Wait until the backlog is below every hard limit.
    Stall,
}

/// A backlog input: the one past its hard limit when an index stalls, or
/// the worst one when it is rate limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StallReason {
    /// Merge debt.
    PendingMergeBytes,
    /// Segments over the policy's budget.
    ExcessSegments,
    /// Unflushed bytes.
    UnflushedBytes,
}

/// The pressure of the worst input of `backlog` under `config`, and which
/// input it is: `(value − soft) / (hard − soft)`, so negative below the
/// soft limit, in `(0, 1)` between the limits and at least 1 at the hard
/// limit (an input whose soft and hard limits are equal is at −1 below
/// them and 1 at them). Ties go to the merge debt, then the segments.
pub fn pressure(config: &BackpressureConfig, backlog: &Backlog) -> (f64, StallReason) {
    fn one(value: u64, soft: u64, hard: u64) -> f64 {
        if value >= hard {
            // At or past the hard limit; past it, by how much.
            1.0 + value.saturating_sub(hard) as f64 / hard.saturating_sub(soft).max(1) as f64
        } else if hard == soft {
            -1.0
        } else {
            (value as f64 - soft as f64) / (hard - soft) as f64
        }
    }
    let c = config;
    let inputs = [
        (
            one(
                backlog.pending_merge_bytes,
                c.soft_pending_merge_bytes,
                c.hard_pending_merge_bytes,
            ),
            StallReason::PendingMergeBytes,
        ),
        (
            one(
                backlog.excess_segments() as u64,
                c.soft_excess_segments as u64,
                c.hard_excess_segments as u64,
            ),
            StallReason::ExcessSegments,
        ),
        (
            one(
                backlog.unflushed_bytes,
                c.soft_unflushed_bytes,
                c.hard_unflushed_bytes,
            ),
            StallReason::UnflushedBytes,
        ),
    ];
    inputs.into_iter().fold(
        (f64::NEG_INFINITY, StallReason::PendingMergeBytes),
        |a, b| {
            if b.0 > a.0 {
                b
            } else {
                a
            }
        },
    )
}

/// Which hard limit `backlog` is at or past, if any (the first found: merge
/// debt, segments, unflushed bytes).
pub fn hard_limit_reached(config: &BackpressureConfig, backlog: &Backlog) -> Option<StallReason> {
    let c = config;
    if backlog.pending_merge_bytes >= c.hard_pending_merge_bytes {
        Some(StallReason::PendingMergeBytes)
    } else if backlog.excess_segments() >= c.hard_excess_segments {
        Some(StallReason::ExcessSegments)
    } else if backlog.unflushed_bytes >= c.hard_unflushed_bytes {
        Some(StallReason::UnflushedBytes)
    } else {
        None
    }
}

/// Returned instead of waiting (by [`Backpressure::try_admit`], and by
/// [`Backpressure::admit`] when a stall times out): the index is past a
/// hard limit, or its admitted rate's bucket is short. Carries the backlog
/// and when to retry.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "index writes {} ({reason:?}){}: pending merges {pending_merge_bytes} bytes (hard limit {hard_limit_bytes}), \
     {segment_count} segments for a budget of {segment_budget} (hard limit {hard_excess_segments} over), \
     unflushed {unflushed_bytes} bytes (hard limit {hard_unflushed_bytes})",
    if *.stalled { "stalled" } else { "rate limited" },
    match .retry_after { Some(d) => format!(", retry after {d:?}"), None => String::new() }
)]
pub struct BackpressureError {
    /// True when a hard limit is reached (the writer would stall); false
    /// when the admitted rate's bucket is short (the writer would wait).
    pub stalled: bool,
    /// The input past its hard limit (stalled), or the worst input above its
    /// soft limit (rate limited).
    pub reason: StallReason,
    /// When the next document would be admitted: exact when rate limited
    /// (at the current rate); when stalled, an estimate from the recent
    /// merge throughput (merge debt only), or `None` when there is none.
    pub retry_after: Option<Duration>,
    /// The admitted rate in bytes per second (infinite when unlimited).
    pub rate_bytes_per_s: f64,
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

/// Counters and state of one [`Backpressure`] controller.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BackpressureStats {
    /// The admitted rate in bytes of documents per second
    /// (`f64::INFINITY` while unlimited).
    pub rate_bytes_per_s: f64,
    /// The smoothed pressure of the worst input (negative below its soft
    /// limit, 1 at its hard limit).
    pub pressure: f64,
    /// The smoothed pressure's change per second: the backlog's trend, in
    /// soft–hard bands per second.
    pub trend_per_s: f64,
    /// Recent merge throughput: bytes written per second of merging, over
    /// the last merges (0 before the first).
    pub merge_bytes_per_s: f64,
    /// Segment bytes flushed per document byte admitted (recent; 0 before
    /// the first flush).
    pub segment_bytes_per_byte: f64,
    /// Episodes of limited rate so far.
    pub episodes: u64,
    /// Bytes of documents admitted.
    pub admitted_bytes: u64,
    /// Documents admitted.
    pub admitted_docs: u64,
    /// Bytes written by finished merges (as recorded).
    pub merged_bytes: u64,
    /// Writes that waited for the bucket (a wait of at least
    /// [`MIN_SLEEP`]).
    pub delays: u64,
    /// Total wait for the bucket.
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

/// Measurements of what drains and feeds the backlog.
#[derive(Debug, Default)]
struct Meter {
    /// Decayed sums of merge bytes written and merge seconds.
    merge_bytes: f64,
    merge_secs: f64,
    /// Decayed sums of segment bytes flushed and document bytes admitted.
    flushed: f64,
    admitted: f64,
    /// Smoothed admitted bytes per second.
    admitted_rate: f64,
    /// Admitted and flushed totals, and the time, at the last sample.
    last_admitted: u64,
    last_flushed: u64,
    last_time: Option<Duration>,
}

impl Meter {
    fn merge_rate(&self) -> f64 {
        if self.merge_secs > 0.0 {
            self.merge_bytes / self.merge_secs
        } else {
            0.0
        }
    }

    fn ratio(&self) -> f64 {
        if self.admitted > 0.0 {
            self.flushed / self.admitted
        } else {
            0.0
        }
    }

    /// The rate an episode starts at (see the module documentation); the
    /// floor when nothing was measured yet (the rate then rises from it
    /// as long as the backlog does not grow).
    fn start_rate(&self, floor: f64) -> f64 {
        let (merge, ratio) = (self.merge_rate(), self.ratio());
        let by_merges = if merge > 0.0 && ratio > 0.0 {
            merge / ratio
        } else {
            f64::INFINITY
        };
        let by_writers = if self.admitted_rate > 0.0 {
            self.admitted_rate
        } else {
            f64::INFINITY
        };
        let rate = by_merges.min(by_writers);
        if rate.is_finite() {
            rate
        } else {
            floor
        }
    }
}

#[derive(Debug, Default)]
struct State {
    backlog: Backlog,
    controller: RateController,
    /// `Some` while the rate is limited.
    bucket: Option<TokenBucket>,
    meter: Meter,
    stats: BackpressureStats,
    /// Since when (on the clock) and why the rate is limited, with the
    /// delay counters at that moment (for the episode's end event).
    episode: Option<(Duration, StallReason, u64, Duration)>,
    /// Since when and why a hard limit is reached.
    stalled: Option<(Duration, StallReason)>,
    /// When (on the clock) writers were last seen limited.
    last_limited: Option<Duration>,
}

/// The backpressure controller of one index. Thread safe; share it with an
/// `Arc`.
#[derive(Debug)]
pub struct Backpressure {
    config: BackpressureConfig,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
    changed: Condvar,
    /// The rate is limited or a hard limit is reached: admission takes the
    /// lock. False: admission is an atomic add.
    limiting: AtomicBool,
    admitted_bytes: AtomicU64,
    admitted_docs: AtomicU64,
    flushed_bytes: AtomicU64,
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
            limiting: AtomicBool::new(false),
            admitted_bytes: AtomicU64::new(0),
            admitted_docs: AtomicU64::new(0),
            flushed_bytes: AtomicU64::new(0),
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

    /// The current backlog.
    pub fn backlog(&self) -> Backlog {
        self.state.lock().backlog
    }

    /// Replaces the backlog and wakes stalled writers.
    pub fn set_backlog(&self, backlog: Backlog) {
        self.update(|b| *b = backlog);
    }

    /// Changes the backlog in place, adjusts the rate if an adjustment is
    /// due (or an episode starts), and wakes stalled writers.
    pub fn update(&self, f: impl FnOnce(&mut Backlog)) {
        let mut s = self.state.lock();
        f(&mut s.backlog);
        self.tick(&mut s, self.clock.now());
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

    /// Records a finished merge that wrote `bytes` in `took` (verification,
    /// reads and throttle pauses included): the merge throughput an
    /// episode starts from.
    pub fn record_merge(&self, bytes: u64, took: Duration) {
        let mut s = self.state.lock();
        let m = &mut s.meter;
        m.merge_bytes = m.merge_bytes * MERGE_HISTORY_WEIGHT + bytes as f64;
        m.merge_secs = m.merge_secs * MERGE_HISTORY_WEIGHT + took.as_secs_f64();
        s.stats.merged_bytes = s.stats.merged_bytes.saturating_add(bytes);
    }

    /// Records a flush that wrote a segment of `bytes` (converts merge
    /// throughput to document bytes).
    pub fn record_flush(&self, bytes: u64) {
        self.flushed_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// True while fresh-first merging is on and writers are rate limited or
    /// stalled, or were within the last
    /// [`fresh_merge_hold`](BackpressureConfig::fresh_merge_hold), or were
    /// limited once and are still admitted at half or more of what the
    /// merges absorb (their measured throughput in document bytes):
    /// automatic merges should then take only fresh segments (see
    /// [`fresh_merge_fan_in`](BackpressureConfig::fresh_merge_fan_in)).
    pub fn fresh_merges_first(&self) -> bool {
        if self.config.fresh_merge_fan_in == 0 {
            return false;
        }
        if self.is_limiting() {
            return true;
        }
        let s = self.state.lock();
        let Some(last) = s.last_limited else {
            return false;
        };
        if self.clock.now().saturating_sub(last) <= self.config.fresh_merge_hold {
            return true;
        }
        // Still ingesting at half or more of what the merges absorb: no
        // room for the policy's larger merges (a tiered policy rewrites
        // each byte at least twice), which would only push the index back
        // over its limits, in one lump.
        let (merge, ratio) = (s.meter.merge_rate(), s.meter.ratio());
        merge > 0.0 && ratio > 0.0 && s.meter.admitted_rate * 2.0 >= merge / ratio
    }

    /// True while writers are rate limited or stalled (admission then takes
    /// a lock); false while they are admitted freely.
    pub fn is_limiting(&self) -> bool {
        self.limiting.load(Ordering::Acquire)
    }

    /// What the next document would do now, without reserving anything.
    pub fn decide(&self) -> Decision {
        let mut s = self.state.lock();
        let now = self.clock.now();
        self.tick(&mut s, now);
        if hard_limit_reached(&self.config, &s.backlog).is_some() {
            return Decision::Stall;
        }
        match &mut s.bucket {
            None => Decision::Proceed,
            Some(b) => match b.wait_for(MIN_SLEEP, now) {
                d if d.is_zero() => Decision::Proceed,
                d => Decision::Delay(d),
            },
        }
    }

    /// Non-blocking admission of a document of `bytes`: `Ok` when it may
    /// be written now (its bytes are reserved), or an error saying when to
    /// retry (counted as a rejection) when the index is past a hard limit
    /// or the rate's bucket would make it wait [`MIN_SLEEP`] or more.
    pub fn try_admit(&self, bytes: u64) -> Result<(), BackpressureError> {
        if !self.is_limiting() {
            self.count_admitted(bytes);
            return Ok(());
        }
        let mut s = self.state.lock();
        let now = self.clock.now();
        self.tick(&mut s, now);
        if let Some(reason) = hard_limit_reached(&self.config, &s.backlog) {
            s.stats.rejections += 1;
            return Err(self.error_for(&mut s, true, reason, now));
        }
        let refused = match &mut s.bucket {
            None => false,
            Some(b) => !b.wait_for(MIN_SLEEP, now).is_zero(),
        };
        if refused {
            s.stats.rejections += 1;
            let (_, reason) = pressure(&self.config, &s.backlog);
            return Err(self.error_for(&mut s, false, reason, now));
        }
        if let Some(b) = &mut s.bucket {
            b.reserve(bytes, now);
        }
        self.count_admitted(bytes);
        Ok(())
    }

    /// Blocking admission of a document of `bytes`: stalls (up to
    /// `timeout`, real time) while past a hard limit, then reserves its
    /// bytes in the rate's bucket and sleeps what the bucket requires (on
    /// the clock; not below [`MIN_SLEEP`]). Returns the time waited for the
    /// bucket, or the error if the stall timed out.
    pub fn admit(&self, bytes: u64, timeout: Duration) -> Result<Duration, BackpressureError> {
        if !self.is_limiting() {
            self.count_admitted(bytes);
            return Ok(Duration::ZERO);
        }
        let mut s = self.state.lock();
        self.wait_until_below_hard_locked(&mut s, timeout)?;
        let now = self.clock.now();
        self.tick(&mut s, now);
        let wait = match &mut s.bucket {
            None => Duration::ZERO,
            Some(b) => b.reserve(bytes, now),
        };
        self.count_admitted(bytes);
        if wait < MIN_SLEEP {
            return Ok(Duration::ZERO);
        }
        s.stats.delays += 1;
        s.stats.delayed_time = s.stats.delayed_time.saturating_add(wait);
        drop(s);
        self.clock.sleep(wait);
        Ok(wait)
    }

    /// Blocks until the backlog is below every hard limit, woken by backlog
    /// updates (no polling). Returns at once if it already is. `timeout` is
    /// real time (a condition variable deadline); the stall duration is
    /// measured on the controller's clock.
    pub fn wait_until_below_hard(&self, timeout: Duration) -> Result<(), BackpressureError> {
        let mut s = self.state.lock();
        self.wait_until_below_hard_locked(&mut s, timeout)
    }

    fn wait_until_below_hard_locked(
        &self,
        s: &mut MutexGuard<'_, State>,
        timeout: Duration,
    ) -> Result<(), BackpressureError> {
        if hard_limit_reached(&self.config, &s.backlog).is_none() {
            return Ok(());
        }
        let started = self.clock.now();
        let deadline = Instant::now().checked_add(timeout);
        s.stats.stalls += 1;
        s.stats.waiting += 1;
        let result = loop {
            let Some(reason) = hard_limit_reached(&self.config, &s.backlog) else {
                break Ok(());
            };
            let timed_out = match deadline {
                Some(d) => self.changed.wait_until(s, d).timed_out(),
                None => {
                    self.changed.wait(s);
                    false
                }
            };
            if timed_out && hard_limit_reached(&self.config, &s.backlog).is_some() {
                s.stats.timeouts += 1;
                let now = self.clock.now();
                break Err(self.error_for(s, true, reason, now));
            }
        };
        s.stats.waiting -= 1;
        let stalled = self.clock.now().saturating_sub(started);
        s.stats.stalled_time = s.stats.stalled_time.saturating_add(stalled);
        result
    }

    /// Counters and state so far.
    pub fn stats(&self) -> BackpressureStats {
        let mut s = self.state.lock();
        self.tick(&mut s, self.clock.now());
        let mut st = s.stats;
        st.rate_bytes_per_s = s.controller.rate().unwrap_or(f64::INFINITY);
        st.pressure = s.controller.smoothed_pressure();
        st.trend_per_s = s.controller.trend();
        st.merge_bytes_per_s = s.meter.merge_rate();
        st.segment_bytes_per_byte = s.meter.ratio();
        st.episodes = s.controller.episodes();
        st.admitted_bytes = self.admitted_bytes.load(Ordering::Relaxed);
        st.admitted_docs = self.admitted_docs.load(Ordering::Relaxed);
        st
    }

    fn count_admitted(&self, bytes: u64) {
        self.admitted_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.admitted_docs.fetch_add(1, Ordering::Relaxed);
    }

    /// Samples the backlog and the meters and lets the controller adjust
    /// the rate; keeps the bucket and the `limiting` flag in step.
    fn tick(&self, s: &mut State, now: Duration) {
        let admitted = self.admitted_bytes.load(Ordering::Relaxed);
        let flushed = self.flushed_bytes.load(Ordering::Relaxed);
        let (x, _) = pressure(&self.config, &s.backlog);
        let since = s.meter.last_time.map(|t| now.saturating_sub(t));
        let due = since.is_none_or(|d| d >= self.config.adjust_interval);
        let admitted_rate = match since {
            Some(d) if !d.is_zero() => {
                admitted.saturating_sub(s.meter.last_admitted) as f64 / d.as_secs_f64()
            }
            _ => s.meter.admitted_rate,
        };
        let floor = self.config.min_rate_bytes_per_s as f64;
        let meter = &s.meter;
        let rate = s.controller.sample(
            &self.config,
            now,
            Sample {
                pressure: x,
                admitted_bytes_per_s: admitted_rate,
            },
            || meter.start_rate(floor),
        );
        if due {
            let m = &mut s.meter;
            let dt = since.unwrap_or_default().as_secs_f64();
            m.admitted_rate +=
                smoothing_weight(dt, ADMITTED_SMOOTHING) * (admitted_rate - m.admitted_rate);
            let keep = 1.0 - smoothing_weight(dt, RATIO_SMOOTHING);
            m.admitted = m.admitted * keep + admitted.saturating_sub(m.last_admitted) as f64;
            m.flushed = m.flushed * keep + flushed.saturating_sub(m.last_flushed) as f64;
            m.last_admitted = admitted;
            m.last_flushed = flushed;
            m.last_time = Some(now);
        }
        match (rate, &mut s.bucket) {
            (None, b) => *b = None,
            (Some(r), Some(b)) => {
                if b.rate() != r {
                    b.set_rate(r, now);
                }
            }
            (Some(r), b @ None) => *b = Some(TokenBucket::new(r, self.config.burst, now)),
        }
        let hard = hard_limit_reached(&self.config, &s.backlog);
        self.transitions(s, now, hard);
        let limiting = s.bucket.is_some() || hard.is_some();
        if limiting {
            s.last_limited = Some(now);
        }
        self.limiting.store(limiting, Ordering::Release);
    }

    /// Emits the `tracing` events of backpressure transitions (target
    /// `lucerna::backpressure`): the rate limited (the input that caused
    /// it, the pressure, the rate) and unlimited again (the episode's
    /// duration, its delays); a hard limit reached (which one, the backlog)
    /// and left (the stall's duration).
    fn transitions(&self, s: &mut State, now: Duration, hard: Option<StallReason>) {
        let b = s.backlog;
        match (s.bucket.as_ref(), s.episode) {
            (Some(bucket), None) => {
                let (pressure, reason) = pressure(&self.config, &b);
                s.episode = Some((now, reason, s.stats.delays, s.stats.delayed_time));
                tracing::info!(
                    target: "lucerna::backpressure",
                    reason = ?reason,
                    pressure,
                    rate_bytes_per_s = bucket.rate(),
                    pending_merge_bytes = b.pending_merge_bytes,
                    excess_segments = b.excess_segments(),
                    unflushed_bytes = b.unflushed_bytes,
                    "writes rate limited: delay started"
                );
            }
            (None, Some((since, reason, delays, delayed))) => {
                s.episode = None;
                tracing::info!(
                    target: "lucerna::backpressure",
                    reason = ?reason,
                    duration_ms = now.saturating_sub(since).as_secs_f64() * 1e3,
                    delays = s.stats.delays - delays,
                    delayed_ms = s.stats.delayed_time.saturating_sub(delayed).as_secs_f64() * 1e3,
                    "writes no longer rate limited: delay ended"
                );
            }
            _ => {}
        }
        match (hard, s.stalled) {
            (Some(reason), None) => {
                s.stalled = Some((now, reason));
                tracing::warn!(
                    target: "lucerna::backpressure",
                    reason = ?reason,
                    pending_merge_bytes = b.pending_merge_bytes,
                    hard_pending_merge_bytes = self.config.hard_pending_merge_bytes,
                    excess_segments = b.excess_segments(),
                    hard_excess_segments = self.config.hard_excess_segments,
                    unflushed_bytes = b.unflushed_bytes,
                    hard_unflushed_bytes = self.config.hard_unflushed_bytes,
                    "writes stalled: a hard limit is reached"
                );
            }
            (None, Some((since, reason))) => {
                s.stalled = None;
                tracing::info!(
                    target: "lucerna::backpressure",
                    reason = ?reason,
                    duration_ms = now.saturating_sub(since).as_secs_f64() * 1e3,
                    "writes no longer stalled: stall ended"
                );
            }
            _ => {}
        }
    }

    fn error_for(
        &self,
        s: &mut State,
        stalled: bool,
        reason: StallReason,
        now: Duration,
    ) -> BackpressureError {
        let c = &self.config;
        let b = s.backlog;
        let retry_after = if stalled {
            // The merge debt over its hard limit, drained at the recent
            // merge throughput.
            let rate = s.meter.merge_rate();
            (reason == StallReason::PendingMergeBytes && rate > 0.0).then(|| {
                let over = b.pending_merge_bytes - c.hard_pending_merge_bytes + 1;
                secs(over as f64 / rate)
            })
        } else {
            s.bucket
                .as_mut()
                .map(|bucket| bucket.wait_for(MIN_SLEEP, now))
        };
        BackpressureError {
            stalled,
            reason,
            retry_after,
            rate_bytes_per_s: s.controller.rate().unwrap_or(f64::INFINITY),
            pending_merge_bytes: b.pending_merge_bytes,
            segment_count: b.segment_count,
            segment_budget: b.segment_budget,
            unflushed_bytes: b.unflushed_bytes,
            hard_limit_bytes: c.hard_pending_merge_bytes,
            hard_excess_segments: c.hard_excess_segments,
            hard_unflushed_bytes: c.hard_unflushed_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    const MS: Duration = Duration::from_millis(1);

    fn cfg() -> BackpressureConfig {
        BackpressureConfig::default()
            .soft_pending_merge_bytes(100)
            .hard_pending_merge_bytes(200)
            .soft_excess_segments(10)
            .hard_excess_segments(20)
            .soft_unflushed_bytes(1000)
            .hard_unflushed_bytes(2000)
    }

    fn backlog(pending: u64, segs: usize, unflushed: u64) -> Backlog {
        Backlog {
            pending_merge_bytes: pending,
            segment_count: segs + 30,
            segment_budget: 30,
            unflushed_bytes: unflushed,
        }
    }

    fn controller() -> (Backpressure, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new());
        let bp = Backpressure::new(cfg())
            .unwrap_or_else(|e| panic!("{e}"))
            .with_clock(clock.clone());
        (bp, clock)
    }

    #[test]
    fn validation_names_the_knob() {
        assert!(BackpressureConfig::default().validate().is_ok());
        assert!(Backpressure::new(cfg().soft_pending_merge_bytes(300)).is_err());
        assert!(cfg()
            .soft_unflushed_bytes(0)
            .hard_unflushed_bytes(0)
            .validate()
            .is_err());
        for (c, knob) in [
            (cfg().adjust_interval(Duration::ZERO), "adjust_interval"),
            (cfg().target_pressure(1.0), "target_pressure"),
            (cfg().trend_gain(f64::NAN), "trend_gain"),
            (cfg().level_gain(-1.0), "level_gain"),
            (cfg().max_step(1.0), "max_step"),
            (cfg().min_rate_bytes_per_s(0), "min_rate_bytes_per_s"),
        ] {
            let e = c
                .validate()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(knob), "{e}");
        }
    }

    #[test]
    fn pressure_is_the_worst_input_within_its_band() {
        let c = cfg();
        let p = |b: Backlog| pressure(&c, &b);
        assert_eq!(p(backlog(150, 0, 0)), (0.5, StallReason::PendingMergeBytes));
        assert_eq!(p(backlog(0, 19, 0)), (0.9, StallReason::ExcessSegments));
        assert_eq!(p(backlog(0, 0, 1100)).1, StallReason::UnflushedBytes);
        assert_eq!(p(backlog(150, 19, 1100)).1, StallReason::ExcessSegments);
        assert!(p(backlog(0, 0, 0)).0 < 0.0);
        assert_eq!(p(backlog(100, 10, 1000)).0, 0.0);
        assert_eq!(p(backlog(300, 0, 0)).0, 2.0);
        assert_eq!(p(backlog(0, 0, u64::MAX)).1, StallReason::UnflushedBytes);
        assert_eq!(
            hard_limit_reached(&c, &backlog(0, 20, 0)),
            Some(StallReason::ExcessSegments)
        );
        assert_eq!(hard_limit_reached(&c, &backlog(199, 19, 1999)), None);
        // soft == hard: no band, straight from clear to stalled.
        let c2 = cfg().soft_pending_merge_bytes(200);
        assert_eq!(pressure(&c2, &backlog(199, 0, 0)).0, -1.0);
        assert_eq!(pressure(&c2, &backlog(200, 0, 0)).0, 1.0);
    }

    #[test]
    fn below_the_soft_limits_writers_are_admitted_freely() {
        let (bp, clock) = controller();
        bp.set_backlog(backlog(100, 10, 1000));
        for _ in 0..1000 {
            assert_eq!(bp.admit(500, Duration::ZERO), Ok(Duration::ZERO));
            assert_eq!(bp.try_admit(500), Ok(()));
        }
        assert!(!bp.is_limiting());
        assert_eq!(bp.decide(), Decision::Proceed);
        assert_eq!(clock.slept(), Duration::ZERO);
        let s = bp.stats();
        assert_eq!((s.admitted_docs, s.admitted_bytes), (2000, 1_000_000));
        assert!(s.rate_bytes_per_s.is_infinite());
        assert_eq!((s.delays, s.stalls, s.rejections, s.episodes), (0, 0, 0, 0));
    }

    /// Writers admitted at 1 MB/s for 2 s; segments of 0.5 byte per
    /// document byte flushed; merges written at 300 kB/s: an episode starts
    /// at what merges absorb, 600 kB/s of documents, and a blocking writer
    /// gets exactly that.
    #[test]
    fn an_episode_starts_from_the_merge_throughput_and_holds_the_rate() {
        let (bp, clock) = controller();
        for _ in 0..20 {
            clock.advance(100 * MS);
            for _ in 0..100 {
                bp.admit(1000, Duration::ZERO)
                    .unwrap_or_else(|e| panic!("{e}"));
            }
            bp.record_flush(50_000);
            bp.set_unflushed_bytes(0);
        }
        bp.record_merge(300_000, Duration::from_secs(1));
        bp.set_pending_merge_bytes(150);
        assert!(bp.is_limiting());
        let s = bp.stats();
        assert_eq!(s.episodes, 1);
        assert!((s.segment_bytes_per_byte - 0.5).abs() < 1e-9, "{s:?}");
        assert!((s.rate_bytes_per_s - 600_000.0).abs() < 1.0, "{s:?}");
        // 600 documents of 1000 bytes take a second (the first goes at
        // once; the backlog sits above the target, so the rate eases a
        // little meanwhile); the writer sleeps once a millisecond or more.
        let start = clock.now();
        for _ in 0..601 {
            bp.admit(1000, Duration::ZERO)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let took = clock.now() - start;
        let (low, high) = (Duration::from_millis(999), Duration::from_millis(1020));
        assert!(took >= low && took <= high, "{took:?}");
        let s = bp.stats();
        assert_eq!(s.delays, 600);
        assert_eq!(s.delayed_time, clock.slept());
        // Merge debt unchanged over the second: the rate barely moves.
        assert!(
            (s.rate_bytes_per_s - 600_000.0).abs() < 0.05 * 600_000.0,
            "{s:?}"
        );
    }

    #[test]
    fn try_admit_tells_the_truth_about_when_to_retry() {
        let (bp, clock) = controller();
        // Nothing measured yet: the episode starts at the floor.
        bp.set_pending_merge_bytes(150);
        let floor = cfg().min_rate_bytes_per_s as f64;
        assert_eq!(bp.stats().rate_bytes_per_s, floor);
        assert_eq!(bp.try_admit(8192), Ok(()));
        let err = bp
            .try_admit(100)
            .err()
            .unwrap_or_else(|| panic!("the bucket is short"));
        assert!(!err.stalled);
        assert_eq!(err.reason, StallReason::PendingMergeBytes);
        let retry = err.retry_after.unwrap_or_else(|| panic!("{err}"));
        // 8192 bytes owed at 16 KiB/s, less the 1 ms a writer need not wait.
        assert_eq!(retry, Duration::from_millis(499));
        assert!(err.to_string().contains("rate limited"), "{err}");
        assert_eq!(bp.decide(), Decision::Delay(retry));
        // Just before, still refused; at the time told, admitted.
        clock.advance(retry - MS);
        assert!(bp.try_admit(100).is_err());
        clock.advance(MS);
        assert_eq!(bp.try_admit(100), Ok(()));
        assert_eq!(bp.stats().rejections, 2);
    }

    #[test]
    fn past_a_hard_limit_writers_stall_and_try_admit_refuses() {
        let (bp, clock) = controller();
        bp.record_merge(1000, Duration::from_secs(1));
        bp.set_segments(55, 30);
        let err = bp
            .try_admit(10)
            .err()
            .unwrap_or_else(|| panic!("expected a stall"));
        assert!(err.stalled);
        assert_eq!(err.reason, StallReason::ExcessSegments);
        assert_eq!(err.segment_count, 55);
        assert_eq!(err.retry_after, None);
        assert!(err.to_string().contains("55 segments"), "{err}");
        assert_eq!(bp.decide(), Decision::Stall);
        // Merge debt: 301 bytes over, drained at 1000 bytes per second.
        bp.set_segments(30, 30);
        bp.set_pending_merge_bytes(500);
        let err = bp.try_admit(10).err().unwrap_or_else(|| panic!("stall"));
        assert_eq!(err.retry_after, Some(Duration::from_millis(301)));
        // A zero timeout fails at once, counted as a stall and a timeout.
        assert!(bp.admit(10, Duration::ZERO).is_err());
        let s = bp.stats();
        assert_eq!(
            (s.rejections, s.stalls, s.timeouts, s.waiting),
            (2, 1, 1, 0)
        );
        assert_eq!(clock.slept(), Duration::ZERO);
    }

    #[test]
    fn stalled_writer_wakes_when_backlog_drains() {
        let (bp, clock) = controller();
        let bp = Arc::new(bp);
        bp.set_unflushed_bytes(5000);
        let waiter = {
            let bp = bp.clone();
            std::thread::spawn(move || bp.wait_until_below_hard(Duration::from_secs(3600)))
        };
        // Wait (test-side only) until the writer is parked.
        while bp.stats().waiting == 0 {
            std::thread::sleep(MS);
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
        assert_eq!((s.waiting, s.timeouts), (0, 0));
        // Now merely rate limited.
        assert!(bp.is_limiting());
        assert!(s.rate_bytes_per_s.is_finite());
    }

    #[test]
    fn the_rate_is_unlimited_again_once_the_backlog_stays_clear() {
        let (bp, clock) = controller();
        bp.set_pending_merge_bytes(150);
        assert!(bp.is_limiting());
        bp.set_pending_merge_bytes(50);
        // Clear for less than `clear_time`: still limited.
        for _ in 0..9 {
            clock.advance(100 * MS);
            bp.set_pending_merge_bytes(50);
        }
        assert!(bp.is_limiting());
        clock.advance(100 * MS);
        bp.set_pending_merge_bytes(50);
        assert!(!bp.is_limiting());
        assert_eq!(bp.admit(1 << 20, Duration::ZERO), Ok(Duration::ZERO));
        assert_eq!(bp.stats().episodes, 1);
    }

    #[test]
    fn merges_stay_fresh_first_for_the_hold_after_the_rate_limit_ends() {
        let (bp, clock) = controller();
        assert!(!bp.fresh_merges_first(), "never limited");
        bp.set_pending_merge_bytes(150);
        assert!(bp.is_limiting() && bp.fresh_merges_first());
        // Clear for `clear_time` (1 s): unlimited, still fresh-first.
        bp.set_pending_merge_bytes(50);
        for _ in 0..10 {
            clock.advance(100 * MS);
            bp.set_pending_merge_bytes(50);
        }
        assert!(!bp.is_limiting());
        assert!(bp.fresh_merges_first());
        // The hold (10 s) counts from the last moment writers were limited.
        clock.advance(Duration::from_secs(9));
        assert!(bp.fresh_merges_first());
        clock.advance(Duration::from_secs(1));
        assert!(!bp.fresh_merges_first());
        // Off when the fan-in is 0, limited or not; 1 is refused.
        let off = Backpressure::new(cfg().fresh_merge_fan_in(0))
            .unwrap_or_else(|e| panic!("{e}"))
            .with_clock(clock.clone());
        off.set_pending_merge_bytes(150);
        assert!(off.is_limiting() && !off.fresh_merges_first());
        assert!(cfg().fresh_merge_fan_in(1).validate().is_err());
    }
}
