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
    /// A scorer of weight `weight` (boost × idf: a term's, or for a
    /// phrase the sum of its terms') with the field's length factors,
    /// computed once for every term of the field.
    pub fn with_factors(weight: f32, factors: &LengthFactors) -> Self {
        Bm25 {
            weight,
            cache: factors.0,
        }
    }

    /// The score of a document with term frequency `freq` and norm byte `norm`.
    #[inline]
    pub fn score(&self, freq: u32, norm: u8) -> f32 {
        self.score_f(freq as f32, norm)
    }

    /// The score for a fractional frequency (sloppy phrases).
    #[inline]
    pub fn score_f(&self, tf: f32, norm: u8) -> f32 {
        self.weight * self.ratio(tf, norm)
    }

    /// `tf / (tf + length factor)`: the score over the weight.
    #[inline]
    fn ratio(&self, tf: f32, norm: u8) -> f32 {
        tf / (tf + self.cache[norm as usize])
    }

    /// The largest score any document can have (freq → ∞).
    pub fn max_score(&self) -> f32 {
        self.weight
    }

    /// The largest [`score`](Self::score) of any `(max_freq, min_norm)`
    /// pair of `impacts`, bit for bit (0 for none): an upper bound of the
    /// score of every document whose frequency is at most, and norm at
    /// least, those of some pair.
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
            let ratio = self.ratio(f as f32, n);
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

    /// A scorer made from a field's shared length factors scores every
    /// norm as the formula does, written out here with the operations in
    /// the order scores have always been computed, bit for bit.
    #[test]
    fn scores_follow_the_formula() {
        for seed in 0..200u64 {
            let mut rng = SplitMix64::new(seed);
            let stats = random_stats(&mut rng);
            let df = 1 + rng.below(stats.doc_count);
            let weight = [0.5, 1.0, 2.5][rng.below(3) as usize] * idf(df, stats.doc_count);
            let bm25 = Bm25::with_factors(weight, &LengthFactors::new(stats));
            for norm in 0..=255u8 {
                let tf = (1 + rng.below(50)) as f32;
                let dl = norm_to_length(norm) as f32;
                let want = weight * (tf / (tf + K1 * (1.0 - B + B * dl / stats.avgdl())));
                let got = bm25.score(tf as u32, norm);
                assert_eq!(got.to_bits(), want.to_bits(), "seed {seed}, norm {norm}");
            }
        }
    }

    /// `impacts_bound` equals the largest score of the pairs, bit for
    /// bit, over random statistics, weights and impacts (seeded; the seed
    /// is in the message).
    #[test]
    fn impacts_bound_is_the_largest_pair_bound() {
        for seed in 0..2_000u64 {
            let mut rng = SplitMix64::new(seed);
            let stats = random_stats(&mut rng);
            let boost = [0.0, 0.5, 1.0, 3.7][rng.below(4) as usize];
            let weight = boost * idf(1 + rng.below(stats.doc_count), stats.doc_count);
            let bm25 = Bm25::with_factors(weight, &LengthFactors::new(stats));
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
                .map(|&(f, n)| bm25.score(f, n))
                .fold(0.0, f32::max);
            let got = bm25.impacts_bound(&impacts);
            assert_eq!(got.to_bits(), want.to_bits(), "seed {seed}: {impacts:?}");
        }
    }
}
