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

#[cfg(test)]
mod tests {
    use super::*;

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
