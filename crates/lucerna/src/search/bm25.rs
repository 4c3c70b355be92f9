//! BM25 scoring with Lucene's formula (k1 = 1.2, b = 0.75).
//!
//! `score(tf, dl) = idf · tf / (tf + k1 · (1 − b + b · dl / avgdl))` with
//! `idf = ln(1 + (N − n + 0.5) / (n + 0.5))`, where N is the number of
//! documents that have the field, n the term's document frequency, dl the
//! document's field length as decoded from its one-byte norm, and avgdl the
//! average field length. Statistics are index-wide (all segments, deleted
//! documents included), as in Lucene.

use lucerna_codec::norms::norm_to_length;

/// k1: term-frequency saturation.
pub const K1: f32 = 1.2;
/// b: length normalisation.
pub const B: f32 = 0.75;

/// Index-wide statistics of one field.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FieldStats {
    /// Documents that have the field (Lucene's `docCount`), deleted ones
    /// included: not a segment's `max_doc`, which counts every document
    /// whether it has the field or not.
    pub doc_count: u64,
    /// Sum over documents of the field length (tokens).
    pub sum_total_term_freq: u64,
}

impl FieldStats {
    /// Average field length (1 when empty, as Lucene).
    pub fn avgdl(&self) -> f32 {
        if self.doc_count == 0 || self.sum_total_term_freq == 0 {
            1.0
        } else {
            (self.sum_total_term_freq as f64 / self.doc_count as f64) as f32
        }
    }
}

/// Inverse document frequency, Lucene's BM25 variant.
pub fn idf(doc_freq: u64, doc_count: u64) -> f32 {
    let n = doc_freq as f64;
    let big_n = doc_count.max(doc_freq) as f64;
    (1.0 + (big_n - n + 0.5) / (n + 0.5)).ln() as f32
}

/// `k1 · (1 − b + b · dl / avgdl)` for each of the 256 norm bytes: the
/// part of BM25 that every term of a field shares. A searcher computes it
/// once per field (256 divisions), and each term's [`Bm25`] copies it:
/// computed per term, it was a tenth of a 22-word conjunction's time.
#[derive(Debug, Clone, PartialEq)]
pub struct LengthFactors([f32; 256]);

impl LengthFactors {
    /// The factors of a field with statistics `stats`.
    pub fn new(stats: FieldStats) -> Self {
        let avgdl = stats.avgdl();
        let mut factors = [0f32; 256];
        for (i, c) in factors.iter_mut().enumerate() {
            let dl = norm_to_length(i as u8) as f32;
            *c = K1 * (1.0 - B + B * dl / avgdl);
        }
        LengthFactors(factors)
    }
}

/// Scores one term in one field; holds the field's per-norm length
/// factors.
#[derive(Debug, Clone)]
pub struct Bm25 {
    weight: f32,
    /// [`LengthFactors`] of the field.
    cache: [f32; 256],
}

impl Bm25 {
    /// A scorer for a term of document frequency `doc_freq` (`boost` × idf).
    pub fn new(doc_freq: u64, stats: FieldStats, boost: f32) -> Self {
        let weight = boost * idf(doc_freq, stats.doc_count);
        Bm25::with_factors(weight, &LengthFactors::new(stats))
    }

    /// A scorer with a given idf (phrases: the sum of their terms' idf).
    pub fn with_idf(idf: f32, stats: FieldStats, boost: f32) -> Self {
        Bm25::with_factors(boost * idf, &LengthFactors::new(stats))
    }

    /// A scorer of weight `weight` (boost × idf) with the field's length
    /// factors, computed once for every term of the field.
    pub fn with_factors(weight: f32, factors: &LengthFactors) -> Self {
        Bm25 {
            weight,
            cache: factors.0,
        }
    }

    /// The score of a document with term frequency `freq` and norm byte `norm`.
    #[inline]
    pub fn score(&self, freq: u32, norm: u8) -> f32 {
        let tf = freq as f32;
        self.weight * (tf / (tf + self.cache[norm as usize]))
    }

    /// The score for a fractional frequency (sloppy phrases).
    #[inline]
    pub fn score_f(&self, tf: f32, norm: u8) -> f32 {
        self.weight * (tf / (tf + self.cache[norm as usize]))
    }

    /// The largest score any document can have (freq → ∞).
    pub fn max_score(&self) -> f32 {
        self.weight
    }

    /// Upper bound for docs with freq ≤ `max_freq` and norm ≥ `min_norm`.
    #[inline]
    pub fn bound(&self, max_freq: u32, min_norm: u8) -> f32 {
        self.score(max_freq, min_norm)
    }

    /// The largest [`bound`](Self::bound) of any `(max_freq, min_norm)`
    /// pair of `impacts` (0 for none), bit for bit.
    ///
    /// The weight multiplies the largest ratio once instead of every
    /// ratio: rounding a product by a weight ≥ 0 never reverses an order,
    /// so the largest product is the product of the largest ratio. Ratios
    /// are never NaN (a length factor is > 0), so a plain comparison
    /// replaces `f32::max`. A top-k query computes this for every block it
    /// walks past.
    #[inline]
    pub fn impacts_bound(&self, impacts: &[(u32, u8)]) -> f32 {
        let mut best = 0f32;
        for &(f, n) in impacts {
            let tf = f as f32;
            let ratio = tf / (tf + self.cache[n as usize]);
            if ratio > best {
                best = ratio;
            }
        }
        if best == 0.0 {
            return 0.0;
        }
        self.weight * best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lucerna_store::rng::SplitMix64;

    /// A field of up to 2³⁰ documents, 1 to 500 tokens long on average.
    fn random_stats(rng: &mut SplitMix64) -> FieldStats {
        let doc_count = 1 + rng.below(1 << 30);
        FieldStats {
            doc_count,
            sum_total_term_freq: doc_count * (1 + rng.below(500)),
        }
    }

    /// A scorer from shared length factors scores as one that computed
    /// its own, bit for bit.
    #[test]
    fn shared_factors_score_as_own_ones() {
        for seed in 0..200u64 {
            let mut rng = SplitMix64::new(seed);
            let stats = random_stats(&mut rng);
            let df = 1 + rng.below(stats.doc_count);
            let boost = [0.5, 1.0, 2.5][rng.below(3) as usize];
            let own = Bm25::new(df, stats, boost);
            let factors = LengthFactors::new(stats);
            let shared = Bm25::with_factors(boost * idf(df, stats.doc_count), &factors);
            for norm in 0..=255u8 {
                let f = 1 + rng.below(50) as u32;
                let (a, b) = (own.score(f, norm), shared.score(f, norm));
                assert_eq!(a.to_bits(), b.to_bits(), "seed {seed}, norm {norm}");
            }
        }
    }

    /// `impacts_bound` equals the largest `bound` of the pairs, bit for
    /// bit, over random statistics, weights and impacts (seeded; the seed
    /// is in the message).
    #[test]
    fn impacts_bound_is_the_largest_pair_bound() {
        for seed in 0..2_000u64 {
            let mut rng = SplitMix64::new(seed);
            let stats = random_stats(&mut rng);
            let boost = [0.0, 0.5, 1.0, 3.7][rng.below(4) as usize];
            let bm25 = Bm25::new(1 + rng.below(stats.doc_count), stats, boost);
            let impacts: Vec<(u32, u8)> = (0..rng.below(9))
                .map(|_| {
                    let f = if rng.chance(0.1) {
                        rng.below(u32::MAX as u64) as u32
                    } else {
                        1 + rng.below(300) as u32
                    };
                    (f, rng.below(256) as u8)
                })
                .collect();
            let want = impacts
                .iter()
                .map(|&(f, n)| bm25.bound(f, n))
                .fold(0.0, f32::max);
            let got = bm25.impacts_bound(&impacts);
            assert_eq!(got.to_bits(), want.to_bits(), "seed {seed}: {impacts:?}");
        }
    }
}
