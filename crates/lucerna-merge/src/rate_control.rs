//! The admitted-rate control law of [`Backpressure`](crate::Backpressure):
//! what rate an index's writers may add documents at while its backlog is
//! between the soft and hard limits.
//!
//! # Inputs, every adjustment period
//!
//! * the **pressure** `x`: how far the worst backlog input is into its
//!   soft–hard band, `(value − soft) / (hard − soft)` (negative below the
//!   soft limit, 1 at the hard limit);
//! * the bytes per second the writers were actually admitted at during the
//!   period (the rate is only raised while it is used);
//! * when an episode starts, a **start rate**: the measured throughput of
//!   the index's merges, converted to admitted bytes, capped by what the
//!   writers were admitted at just before (see
//!   [`Backpressure`](crate::Backpressure)).
//!
//! # Law
//!
//! An *episode* starts when the pressure goes above 0 (a backlog passes its
//! soft limit): the rate starts at the start rate. Every period of `dt`
//! seconds the pressure is smoothed (`x̄`, exponential moving average with
//! time constant `smoothing`) and the rate is multiplied by
//!
//! ```text
//! exp(− trend_gain × Δx̄  −  level_gain × (x̄ − target_pressure) × dt)
//! ```
//!
//! bounded to `[1 / max_step, max_step]`, and kept at least
//! `min_rate_bytes_per_s`. The first term follows the backlog's **trend**:
//! a backlog growing by a tenth of its band lowers the rate by
//! `exp(−trend_gain / 10)`, a shrinking one raises it as much (RocksDB
//! multiplies by 0.8 or 1.25 whatever the size of the change). The second
//! term steers the backlog to a point inside the band, `target_pressure`,
//! so that in sustained overload the backlog neither drifts to the hard
//! limit (stalls) nor empties below the soft limit (bursts): the rate
//! settles where the backlog stops moving, which is the rate merges absorb.
//! While the smoothed pressure is at or below 0 during an episode (the
//! rate was too low; a merge that just finished takes the backlog under
//! for a moment only, which the smoothing spreads), the rate is raised by
//! `max_step` every period, as RocksDB raises its rate when the debt
//! shrinks: a start below what merges absorb is found in a second or two
//! instead of draining the backlog and ending the episode. Raises are
//! skipped while the writers use less than half of the rate
//! (their demand, not the backlog, limits them; raising then would only
//! build up a rate that a later burst could use at once).
//!
//! The episode ends, and the rate is unlimited again, once the pressure has
//! stayed at or below 0 for `clear_time`. Nothing carries over to the next
//! episode: it starts again from the measured throughput, so the rate cannot
//! ratchet down across episodes (RocksDB's delayed write rate does: it
//! starts each episode from where the last one left it).
//!
//! The controller is a value driven with explicit times; it never reads a
//! clock or sleeps.

use std::time::Duration;

use crate::backpressure::BackpressureConfig;

/// What the controller sees at the end of an adjustment period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Pressure of the worst backlog input: `(value − soft) / (hard −
    /// soft)`, negative below its soft limit, ≥ 1 at its hard limit.
    pub pressure: f64,
    /// Bytes per second admitted since the previous sample.
    pub admitted_bytes_per_s: f64,
}

/// The admitted-rate controller (see the [module documentation](self)).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RateController {
    /// The admitted rate in bytes per second; `None`: unlimited.
    rate: Option<f64>,
    /// Smoothed pressure.
    smoothed: f64,
    /// Smoothed pressure change per second.
    trend: f64,
    last: Option<Duration>,
    clear_since: Option<Duration>,
    episodes: u64,
}

impl RateController {
    /// An unlimited controller.
    pub fn new() -> Self {
        Self::default()
    }

    /// The admitted rate in bytes per second (`None`: unlimited).
    pub fn rate(&self) -> Option<f64> {
        self.rate
    }

    /// The smoothed pressure.
    pub fn smoothed_pressure(&self) -> f64 {
        self.smoothed
    }

    /// The smoothed pressure's change per second (the backlog's trend, in
    /// bands per second).
    pub fn trend(&self) -> f64 {
        self.trend
    }

    /// Episodes (periods of limited rate) started so far.
    pub fn episodes(&self) -> u64 {
        self.episodes
    }

    /// Feeds the sample taken at `now` and returns the new rate (`None`:
    /// unlimited). `start_rate` is asked for when an episode starts.
    /// Samples closer together than `config.adjust_interval` only start an
    /// episode (at once, so that a backlog passing its soft limit is never
    /// left unlimited for a period); they adjust nothing.
    pub fn sample(
        &mut self,
        config: &BackpressureConfig,
        now: Duration,
        s: Sample,
        start_rate: impl FnOnce() -> f64,
    ) -> Option<f64> {
        let floor = config.min_rate_bytes_per_s as f64;
        let Some(last) = self.last else {
            self.last = Some(now);
            self.smoothed = s.pressure;
            if s.pressure > 0.0 {
                self.start(start_rate(), floor);
            }
            return self.rate;
        };
        let dt = now.saturating_sub(last);
        if dt < config.adjust_interval {
            match self.rate {
                None if s.pressure > 0.0 => {
                    self.smoothed = s.pressure;
                    self.start(start_rate(), floor);
                }
                None => {}
                Some(_) if s.pressure > 0.0 => self.clear_since = None,
                Some(_) => {
                    self.clear_since.get_or_insert(now);
                }
            }
            return self.rate;
        }
        self.last = Some(now);
        let dt = dt.as_secs_f64();
        let before = self.smoothed;
        let alpha = smoothing_weight(dt, config.smoothing);
        self.smoothed += alpha * (s.pressure - self.smoothed);
        let change = self.smoothed - before;
        self.trend += smoothing_weight(dt, config.smoothing) * (change / dt - self.trend);
        match self.rate {
            None if s.pressure > 0.0 => {
                // The rise to the soft limit is not a trend of the episode.
                self.smoothed = s.pressure;
                self.start(start_rate(), floor);
            }
            None => {}
            Some(rate) => {
                if s.pressure > 0.0 {
                    self.clear_since = None;
                } else {
                    let since = *self.clear_since.get_or_insert(now);
                    if now.saturating_sub(since) >= config.clear_time {
                        self.rate = None;
                        self.clear_since = None;
                        return None;
                    }
                }
                let step = -config.trend_gain * change
                    - config.level_gain * (self.smoothed - config.target_pressure) * dt;
                let max = config.max_step.max(1.0);
                let mut factor = step.exp().clamp(1.0 / max, max);
                if self.smoothed <= 0.0 {
                    // Under every soft limit for a while (not a merge that
                    // just finished, which the smoothing spreads): the rate
                    // was too low.
                    factor = max;
                }
                if factor > 1.0 && s.admitted_bytes_per_s < 0.5 * rate {
                    factor = 1.0;
                }
                self.rate = Some((rate * factor).max(floor));
            }
        }
        self.rate
    }

    fn start(&mut self, rate: f64, floor: f64) {
        let rate = if rate.is_finite() { rate } else { f64::MAX };
        self.rate = Some(rate.max(floor));
        self.clear_since = None;
        self.episodes += 1;
    }
}

/// Weight of a new value in an exponential moving average with time
/// constant `tau`, after `dt` seconds.
pub(crate) fn smoothing_weight(dt: f64, tau: Duration) -> f64 {
    let tau = tau.as_secs_f64();
    if tau <= 0.0 {
        1.0
    } else {
        1.0 - (-dt / tau).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: f64 = 1048576.0;

    fn config() -> BackpressureConfig {
        BackpressureConfig::default()
            .soft_pending_merge_bytes(32 << 20)
            .hard_pending_merge_bytes(128 << 20)
    }

    /// A simulated index: writers offer `offered` bytes per second, merges
    /// drain `drain` bytes of debt per second; each admitted byte adds
    /// `amplification` bytes of debt. Runs `periods` adjustment periods of
    /// the default interval, and returns the admitted rate of each period
    /// and the debt at its end.
    struct Plant {
        debt: f64,
        offered: f64,
        drain: f64,
        amplification: f64,
        /// The start rate an episode is given.
        start: f64,
    }

    impl Plant {
        fn run(
            &mut self,
            c: &mut RateController,
            config: &BackpressureConfig,
            now: &mut Duration,
            periods: usize,
        ) -> Vec<(f64, f64)> {
            let soft = config.soft_pending_merge_bytes as f64;
            let band = config.hard_pending_merge_bytes as f64 - soft;
            let dt = config.adjust_interval;
            let mut out = Vec::with_capacity(periods);
            let mut admitted = self.offered;
            for _ in 0..periods {
                let pressure = (self.debt - soft) / band;
                let start = self.start;
                let rate = c.sample(
                    config,
                    *now,
                    Sample {
                        pressure,
                        admitted_bytes_per_s: admitted,
                    },
                    || start,
                );
                admitted = rate.map_or(self.offered, |r| r.min(self.offered));
                self.debt = (self.debt
                    + (admitted * self.amplification - self.drain) * dt.as_secs_f64())
                .max(0.0);
                *now += dt;
                out.push((admitted, self.debt));
            }
            out
        }
    }

    #[test]
    fn converges_to_the_drain_rate_from_a_wrong_start() {
        let config = config();
        for &(drain, amplification, start_error) in &[
            (20.0 * MIB, 1.0, 2.0),
            (20.0 * MIB, 2.0, 1.0),
            (20.0 * MIB, 2.0, 0.3),
            (5.0 * MIB, 1.0, 2.0),
            (5.0 * MIB, 1.0, 0.5),
            (60.0 * MIB, 1.5, 2.0),
        ] {
            let mut c = RateController::new();
            let mut now = Duration::ZERO;
            // The start rate is off by `start_error` (the merge throughput
            // measured before does not know the amplification).
            let sustainable = drain / amplification;
            let start = sustainable * start_error;
            let mut plant = Plant {
                debt: 33.0 * MIB,
                offered: 400.0 * MIB,
                drain,
                amplification,
                start,
            };
            c.sample(
                &config,
                now,
                Sample {
                    pressure: 0.01,
                    admitted_bytes_per_s: 400.0 * MIB,
                },
                || start,
            );
            assert_eq!(c.rate(), Some(start));
            let trace = plant.run(&mut c, &config, &mut now, 900);
            // Within 450 periods (45 s) the rate is within 10 % of what the
            // merges absorb, and stays there.
            for (i, &(rate, debt)) in trace.iter().enumerate().skip(450) {
                let err = (rate - sustainable).abs() / sustainable;
                assert!(
                    err < 0.10,
                    "drain {drain} ampl {amplification} start x{start_error}: period {i} rate \
                     {rate} vs {sustainable}, debt {debt}"
                );
            }
            // The backlog never reached the hard limit. A start above the
            // drain is found within one episode; one below it may let the
            // backlog clear and start a few more (each from the same start).
            for &(_, debt) in &trace {
                assert!(debt < 128.0 * MIB, "debt {debt}");
            }
            let most = if start_error >= 1.0 { 1 } else { 5 };
            assert!(c.episodes() <= most, "{} episodes", c.episodes());
        }
    }

    #[test]
    fn recovers_to_unlimited_after_the_backlog_clears() {
        let config = config();
        let mut c = RateController::new();
        let mut now = Duration::ZERO;
        let mut plant = Plant {
            debt: 40.0 * MIB,
            offered: 400.0 * MIB,
            drain: 20.0 * MIB,
            amplification: 1.0,
            start: 30.0 * MIB,
        };
        plant.run(&mut c, &config, &mut now, 300);
        assert!(c.rate().is_some());
        // The spike ends: the writers offer less than the merges absorb.
        plant.offered = 5.0 * MIB;
        let trace = plant.run(&mut c, &config, &mut now, 400);
        assert_eq!(c.rate(), None, "{:?}", trace.last());
        // Unlimited within `clear_time` of the backlog going under soft.
        let under = trace
            .iter()
            .position(|&(_, d)| d <= 32.0 * MIB)
            .unwrap_or_else(|| panic!("the backlog never cleared"));
        let periods_to_clear = (config.clear_time.as_millis() / 100) as usize;
        assert!(trace.len() > under + periods_to_clear + 1);
        assert_eq!(
            c.sample(
                &config,
                now,
                Sample {
                    pressure: -0.3,
                    admitted_bytes_per_s: 0.0
                },
                || 1.0
            ),
            None
        );
    }

    #[test]
    fn repeated_episodes_do_not_ratchet_down() {
        let config = config();
        let mut c = RateController::new();
        let mut now = Duration::ZERO;
        let mut plant = Plant {
            debt: 0.0,
            offered: 400.0 * MIB,
            drain: 30.0 * MIB,
            amplification: 1.5,
            // Twice what the merges absorb: each episode must find it.
            start: 40.0 * MIB,
        };
        let mut rates = Vec::new();
        for _ in 0..8 {
            plant.offered = 400.0 * MIB;
            let trace = plant.run(&mut c, &config, &mut now, 300);
            rates.push(trace.last().map_or(0.0, |t| t.0));
            plant.offered = 1.0 * MIB;
            plant.run(&mut c, &config, &mut now, 400);
            assert_eq!(c.rate(), None);
        }
        assert_eq!(c.episodes(), 8);
        // Every episode ends at the same rate (within 1 %) as the first.
        for r in &rates {
            assert!((r - rates[0]).abs() / rates[0] < 0.01, "{rates:?}");
        }
        assert!(
            (rates[0] - 20.0 * MIB).abs() / (20.0 * MIB) < 0.10,
            "{rates:?}"
        );
    }

    #[test]
    fn the_rate_stays_above_its_floor_and_is_not_raised_unused() {
        let config = config().min_rate_bytes_per_s(1000);
        let mut c = RateController::new();
        let mut now = Duration::ZERO;
        let busy = Sample {
            pressure: 0.9,
            admitted_bytes_per_s: 1e9,
        };
        c.sample(&config, now, busy, || 10.0);
        assert_eq!(c.rate(), Some(1000.0));
        // Far above the target: lowered every period, never under the floor.
        for _ in 0..100 {
            now += config.adjust_interval;
            c.sample(&config, now, busy, || 0.0);
        }
        assert_eq!(c.rate(), Some(1000.0));
        // A falling backlog while the writers use a tenth of the rate: no
        // raise.
        let mut p = 0.9;
        for _ in 0..20 {
            now += config.adjust_interval;
            p -= 0.01;
            c.sample(
                &config,
                now,
                Sample {
                    pressure: p,
                    admitted_bytes_per_s: 100.0,
                },
                || 0.0,
            );
        }
        assert_eq!(c.rate(), Some(1000.0));
        // Samples inside one period change nothing.
        let before = c.clone();
        c.sample(&config, now + Duration::from_millis(1), busy, || 0.0);
        assert_eq!(c, before);
    }
}
