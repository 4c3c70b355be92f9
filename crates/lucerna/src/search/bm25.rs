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

/// Scores one term in one field; precomputes the per-norm length factor.
#[derive(Debug, Clone)]
pub struct Bm25 {
    weight: f32,
    /// `k1 · (1 − b + b · dl / avgdl)` for each of the 256 norm bytes.
    cache: [f32; 256],
}

impl Bm25 {
    /// A scorer for a term of document frequency `doc_freq` (`boost` × idf).
    pub fn new(doc_freq: u64, stats: FieldStats, boost: f32) -> Self {
        let avgdl = stats.avgdl();
        let mut cache = [0f32; 256];
        for (i, c) in cache.iter_mut().enumerate() {
            let dl = norm_to_length(i as u8) as f32;
            *c = K1 * (1.0 - B + B * dl / avgdl);
        }
        Bm25 {
            weight: boost * idf(doc_freq, stats.doc_count),
            cache,
        }
    }

    /// A scorer with a given idf (phrases: the sum of their terms' idf).
    pub fn with_idf(idf: f32, stats: FieldStats, boost: f32) -> Self {
        let mut b = Bm25::new(1, stats, boost);
        b.weight = boost * idf;
        b
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
}
