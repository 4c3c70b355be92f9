//! Time sources. Everything in this crate that measures or waits for time
//! does so through a [`Clock`], so tests can use a [`ManualClock`] and make
//! no real-time assertions.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// A monotonic time source that can also sleep.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Time elapsed since an arbitrary, fixed origin.
    fn now(&self) -> Duration;
    /// Blocks the calling thread for `d` (a manual clock advances instead).
    fn sleep(&self, d: Duration);
}

/// The real clock: [`Instant`] and [`std::thread::sleep`].
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        SystemClock {
            origin: Instant::now(),
        }
    }

    /// A shared system clock.
    pub fn shared() -> Arc<dyn Clock> {
        Arc::new(Self::new())
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
    fn sleep(&self, d: Duration) {
        if !d.is_zero() {
            std::thread::sleep(d);
        }
    }
}

/// A clock that only moves when told to, for deterministic tests:
/// [`sleep`](Clock::sleep) advances it instantly and records the total slept.
#[derive(Debug, Default)]
pub struct ManualClock {
    state: Mutex<(Duration, Duration)>, // (now, total slept)
}

impl ManualClock {
    /// A manual clock at time zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        let mut s = self.state.lock();
        s.0 = s.0.saturating_add(d);
    }

    /// Total time passed to [`sleep`](Clock::sleep) so far.
    pub fn slept(&self) -> Duration {
        self.state.lock().1
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        self.state.lock().0
    }
    fn sleep(&self, d: Duration) {
        let mut s = self.state.lock();
        s.0 = s.0.saturating_add(d);
        s.1 = s.1.saturating_add(d);
    }
}
