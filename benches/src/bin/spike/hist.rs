//! The latency histogram of adds, queries and reopens.

use std::time::Duration;

/// A log-linear histogram of durations in nanoseconds: 32 buckets per power
/// of two (about 3 % resolution), fixed size, no allocation while
/// recording.
#[derive(Clone)]
pub(crate) struct Hist {
    counts: Vec<u64>,
    pub(crate) n: u64,
    max: u64,
}

const SUB: u32 = 32;

impl Hist {
    pub(crate) fn new() -> Self {
        Hist {
            counts: vec![0; (SUB as usize) * 64],
            n: 0,
            max: 0,
        }
    }

    fn bucket(v: u64) -> usize {
        if v < u64::from(SUB) {
            return v as usize;
        }
        let e = 63 - v.leading_zeros(); // >= 5
        let sub = (v >> (e - 5)) & u64::from(SUB - 1);
        ((e - 4) * SUB) as usize + sub as usize
    }

    /// Upper bound of bucket `b`.
    fn bucket_top(b: usize) -> u64 {
        let b = b as u64;
        if b < u64::from(SUB) {
            return b;
        }
        let e = b / u64::from(SUB) + 4;
        let sub = b % u64::from(SUB);
        ((u64::from(SUB) + sub + 1) << (e - 5)) - 1
    }

    pub(crate) fn record(&mut self, d: Duration) {
        let v = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let b = Self::bucket(v).min(self.counts.len() - 1);
        self.counts[b] += 1;
        self.n += 1;
        self.max = self.max.max(v);
    }

    /// The `q` quantile (0..=1) in microseconds; 0 when empty.
    pub(crate) fn quantile_us(&self, q: f64) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        let rank = ((q * self.n as f64).ceil() as u64).clamp(1, self.n);
        let mut seen = 0;
        for (b, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::bucket_top(b).min(self.max) as f64 / 1000.0;
            }
        }
        self.max as f64 / 1000.0
    }

    /// Adds every value recorded in `other`.
    pub(crate) fn merge(&mut self, other: &Hist) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.n += other.n;
        self.max = self.max.max(other.max);
    }

    pub(crate) fn max_us(&self) -> f64 {
        self.max as f64 / 1000.0
    }
}

/// Latencies per second of the run, for the chart: a coarse log-linear
/// histogram per second (8 buckets per power of two, about 12 %
/// resolution; 1.25 KiB a second), so the quantile of any second or span
/// of seconds can be read back.
#[derive(Clone, Default)]
pub(crate) struct PerSecond {
    secs: Vec<Vec<u32>>,
}

/// Buckets of one second: 8 per power of two up to 2^40 ns (18 minutes).
const COARSE: usize = 40 * 8;

impl PerSecond {
    fn bucket(v: u64) -> usize {
        if v < 8 {
            return v as usize;
        }
        let e = (63 - v.leading_zeros()) as usize; // >= 3
        let sub = ((v >> (e - 3)) & 7) as usize;
        ((e - 2) * 8 + sub).min(COARSE - 1)
    }

    fn bucket_top(b: usize) -> u64 {
        if b < 8 {
            return b as u64;
        }
        let (e, sub) = (b / 8 + 2, (b % 8) as u64);
        ((8 + sub + 1) << (e - 3)) - 1
    }

    /// Records `d`, measured `at` seconds into the run.
    pub(crate) fn record(&mut self, at: f64, d: Duration) {
        let sec = at.max(0.0) as usize;
        if self.secs.len() <= sec {
            self.secs.resize_with(sec + 1, Vec::new);
        }
        let counts = &mut self.secs[sec];
        if counts.is_empty() {
            counts.resize(COARSE, 0);
        }
        let v = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        counts[Self::bucket(v)] += 1;
    }

    /// Adds every value recorded in `other`.
    pub(crate) fn merge(&mut self, other: &PerSecond) {
        if self.secs.len() < other.secs.len() {
            self.secs.resize_with(other.secs.len(), Vec::new);
        }
        for (a, b) in self.secs.iter_mut().zip(&other.secs) {
            if b.is_empty() {
                continue;
            }
            if a.is_empty() {
                a.resize(COARSE, 0);
            }
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
    }

    /// The `q` quantile in microseconds of the values recorded in the
    /// seconds `from..to`; `None` when there are none.
    pub(crate) fn quantile_us(&self, from: usize, to: usize, q: f64) -> Option<f64> {
        let mut counts = vec![0u64; COARSE];
        for sec in self.secs.iter().take(to).skip(from) {
            for (c, &v) in counts.iter_mut().zip(sec) {
                *c += u64::from(v);
            }
        }
        let n: u64 = counts.iter().sum();
        if n == 0 {
            return None;
        }
        let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
        let mut seen = 0;
        counts.iter().enumerate().find_map(|(b, &c)| {
            seen += c;
            (seen >= rank).then(|| Self::bucket_top(b) as f64 / 1000.0)
        })
    }

    /// Seconds recorded (the last second with a value, plus one).
    pub(crate) fn seconds(&self) -> usize {
        self.secs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_second_quantiles() {
        let mut a = PerSecond::default();
        let mut b = PerSecond::default();
        for us in 1..=100u64 {
            a.record(0.5, Duration::from_micros(us));
            b.record(2.1, Duration::from_micros(10 * us));
        }
        a.merge(&b);
        assert_eq!(a.seconds(), 3);
        assert_eq!(a.quantile_us(1, 2, 0.99), None);
        let p99 = a.quantile_us(0, 1, 0.99).unwrap();
        assert!((99.0..=99.0 * 1.13).contains(&p99), "{p99}");
        let p99 = a.quantile_us(2, 3, 0.99).unwrap();
        assert!((990.0..=990.0 * 1.13).contains(&p99), "{p99}");
        let p50 = a.quantile_us(0, 3, 0.5).unwrap();
        // 1..=100 and 10, 20, .., 1000: the 100th of 200 values is 91 µs.
        assert!((91.0..=91.0 * 1.13).contains(&p50), "{p50}");
        for v in [0u64, 7, 8, 9, 1000, 123_456_789] {
            assert!(PerSecond::bucket_top(PerSecond::bucket(v)) >= v, "{v}");
        }
    }

    #[test]
    fn histogram_quantiles_are_upper_bounds_within_a_bucket() {
        let mut h = Hist::new();
        assert_eq!(h.quantile_us(0.99), 0.0);
        for us in 1..=1000u64 {
            h.record(Duration::from_micros(us));
        }
        let p50 = h.quantile_us(0.5);
        let p99 = h.quantile_us(0.99);
        assert!((500.0..=500.0 * 1.04).contains(&p50), "{p50}");
        assert!((990.0..=1000.0).contains(&p99), "{p99}");
        assert_eq!(h.max_us(), 1000.0);
        assert_eq!(h.n, 1000);
        // Every value lies in a bucket whose top is at least the value.
        for v in [0u64, 1, 31, 32, 33, 1000, 123_456_789, u64::MAX >> 1] {
            assert!(Hist::bucket_top(Hist::bucket(v)) >= v, "{v}");
        }
    }
}
