//! A token bucket of bytes with continuous refill and reservations: the
//! admission valve of [`Backpressure`](crate::Backpressure).
//!
//! # Algorithm
//!
//! The bucket holds `tokens` bytes, refilled at `rate` bytes per second
//! from the time elapsed since the last refill (computed at every call, so
//! the refill is as fine-grained as the clock), up to `capacity`
//! (`rate × burst`). A document of `b` bytes *reserves* its bytes:
//!
//! ```text
//! tokens = min(capacity, tokens + rate × (now − last)); last = now
//! wait   = max(0, −tokens) / rate          // until earlier bytes are paid for
//! tokens = tokens − b
//! ```
//!
//! Tokens may go negative: a deficit is the bytes reserved and not yet paid
//! for. Each reservation waits for everything reserved before it, so
//! concurrent callers get consecutive slots and the average rate is exact
//! whatever the document sizes; a document's own bytes are paid by the
//! wait of the next one, so a document larger than the bucket never waits
//! for ever. A caller may go ahead at once when its wait is shorter than
//! the smallest sleep worth taking (`MIN_SLEEP` in
//! [`Backpressure`](crate::Backpressure)): the deficit stays owed and is
//! paid by a later, longer wait. So a writer sleeps about once per
//! millisecond of refill, not once per document.
//!
//! [`wait_for`](TokenBucket::wait_for) answers "when would the next
//! document go ahead?" without reserving anything (for a truthful
//! `Retry-After`).
//!
//! The bucket is a value: it takes the time as an argument and never
//! sleeps, so it is tested without a clock.

use std::time::Duration;

/// A token bucket of bytes (see the [module documentation](self)).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBucket {
    rate: f64,
    burst: Duration,
    tokens: f64,
    last: Duration,
}

/// `secs` as a duration: 0 for negative or NaN, saturated when huge.
pub(crate) fn secs(secs: f64) -> Duration {
    if secs.is_nan() || secs <= 0.0 {
        Duration::ZERO
    } else {
        Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
    }
}

impl TokenBucket {
    /// An empty bucket (no tokens, no deficit) refilled at `bytes_per_s`
    /// (> 0; clamped to at least 1 byte per second), holding at most
    /// `burst` of refill, starting at `now`.
    pub fn new(bytes_per_s: f64, burst: Duration, now: Duration) -> Self {
        TokenBucket {
            rate: sanitize(bytes_per_s),
            burst,
            tokens: 0.0,
            last: now,
        }
    }

    /// The refill rate in bytes per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The tokens after refilling to `now` (negative: a deficit).
    pub fn tokens(&mut self, now: Duration) -> f64 {
        self.refill(now);
        self.tokens
    }

    /// Changes the refill rate from `now` on; what is owed stays owed.
    pub fn set_rate(&mut self, bytes_per_s: f64, now: Duration) {
        self.refill(now);
        self.rate = sanitize(bytes_per_s);
        self.tokens = self.tokens.min(self.capacity());
    }

    /// Reserves `bytes` and returns how long the caller must wait, from
    /// `now`, until the bytes reserved before them are paid for.
    pub fn reserve(&mut self, bytes: u64, now: Duration) -> Duration {
        self.refill(now);
        let wait = secs(-self.tokens / self.rate);
        self.tokens -= bytes as f64;
        wait
    }

    /// How long from `now` until a reservation would wait less than
    /// `slack`, without reserving anything.
    pub fn wait_for(&mut self, slack: Duration, now: Duration) -> Duration {
        self.refill(now);
        let owed = -self.tokens - self.rate * slack.as_secs_f64();
        secs(owed / self.rate)
    }

    fn capacity(&self) -> f64 {
        self.rate * self.burst.as_secs_f64()
    }

    fn refill(&mut self, now: Duration) {
        let elapsed = now.saturating_sub(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + self.rate * elapsed).min(self.capacity());
    }
}

fn sanitize(bytes_per_s: f64) -> f64 {
    if bytes_per_s.is_nan() {
        1.0
    } else {
        bytes_per_s.max(1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn reservations_wait_for_everything_reserved_before_them() {
        let mut b = TokenBucket::new(1000.0, 10 * MS, Duration::ZERO);
        // 1000 B/s: 100 bytes are paid for in 100 ms.
        assert_eq!(b.reserve(100, Duration::ZERO), Duration::ZERO);
        assert_eq!(b.reserve(100, Duration::ZERO), 100 * MS);
        // 150 ms later, 50 bytes are still owed.
        assert_eq!(b.reserve(0, 150 * MS), 50 * MS);
        assert!((b.tokens(150 * MS) + 50.0).abs() < 1e-9);
    }

    #[test]
    fn the_average_rate_is_exact_whatever_the_sizes() {
        // A writer that goes ahead while its wait is under 1 ms and
        // otherwise sleeps exactly its wait (plus 60 µs of oversleep).
        let mut b = TokenBucket::new(2_000_000.0, 10 * MS, Duration::ZERO);
        let mut now = Duration::ZERO;
        let mut bytes = 0u64;
        for i in 0..200_000u64 {
            let size = 100 + (i * 7919) % 900;
            let wait = b.reserve(size, now);
            if wait >= MS {
                now += wait + Duration::from_micros(60);
            }
            now += Duration::from_micros(1); // the work of one add
            bytes += size;
        }
        let rate = bytes as f64 / now.as_secs_f64();
        assert!((rate - 2_000_000.0).abs() / 2_000_000.0 < 0.01, "{rate}");
    }

    #[test]
    fn idle_time_earns_at_most_the_burst() {
        let mut b = TokenBucket::new(1000.0, 10 * MS, Duration::ZERO);
        assert!((b.tokens(Duration::from_secs(60)) - 10.0).abs() < 1e-9);
        assert_eq!(b.reserve(11, Duration::from_secs(60)), Duration::ZERO);
        assert_eq!(b.reserve(0, Duration::from_secs(60)), MS);
    }

    #[test]
    fn wait_for_tells_when_the_next_document_goes_through() {
        let mut b = TokenBucket::new(1000.0, 10 * MS, Duration::ZERO);
        b.reserve(100, Duration::ZERO);
        // 100 bytes owed, less 1 ms of slack (1 byte).
        assert_eq!(b.wait_for(MS, Duration::ZERO), 99 * MS);
        assert_eq!(b.wait_for(MS, 99 * MS), Duration::ZERO);
        // Asking reserved nothing.
        assert_eq!(b.reserve(0, 100 * MS), Duration::ZERO);
        // A document far larger than the bucket still goes through.
        assert_eq!(b.reserve(1 << 20, 100 * MS), Duration::ZERO);
        assert_eq!(b.wait_for(MS, 100 * MS), Duration::from_millis(1_048_575));
    }

    #[test]
    fn rate_changes_apply_to_what_is_still_owed() {
        let mut b = TokenBucket::new(1000.0, 10 * MS, Duration::ZERO);
        b.reserve(100, Duration::ZERO);
        b.set_rate(100.0, 50 * MS);
        // 50 bytes owed at 100 B/s.
        assert_eq!(b.reserve(0, 50 * MS), 500 * MS);
        b.set_rate(f64::NAN, 50 * MS);
        assert_eq!(b.rate(), 1.0);
        b.set_rate(-5.0, 50 * MS);
        assert_eq!(b.rate(), 1.0);
        // Time going backwards refills nothing and does not panic.
        assert_eq!(b.reserve(0, Duration::ZERO), Duration::from_secs(50));
    }
}
