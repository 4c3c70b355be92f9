//! [`StopWordAnalyzer`]: another analyzer's terms minus a stop-word set.

use std::collections::HashSet;

use super::{Analyzer, DefaultAnalyzer, Token};

/// Lucene's English stop words (`EnglishAnalyzer.ENGLISH_STOP_WORDS_SET`).
pub const ENGLISH_STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with",
];

/// Drops the terms of an inner analyzer that are in a stop-word set.
///
/// As in Lucene, a dropped stop word still consumes its position, so `"cat in hat"` gives
/// `cat`@0 and `hat`@2 and the phrase `"cat hat"` does not match it. Stop words are
/// compared with the inner analyzer's *output* terms, so give them in analyzed form
/// (lowercase for [`DefaultAnalyzer`]).
///
/// ```
/// use lucerna::analysis::{Analyzer, DefaultAnalyzer, StopWordAnalyzer};
///
/// let a = StopWordAnalyzer::english(DefaultAnalyzer::new());
/// assert_eq!(
///     a.tokens("The cat in the hat"),
///     vec![("cat".to_string(), 1), ("hat".to_string(), 4)]
/// );
/// ```
#[derive(Debug, Clone)]
pub struct StopWordAnalyzer<A = DefaultAnalyzer> {
    inner: A,
    stop_words: HashSet<String>,
    /// Length of the longest stop word: longer terms skip the hash lookup.
    max_len: usize,
}

impl<A: Analyzer> StopWordAnalyzer<A> {
    /// `inner` minus the terms in `stop_words`.
    pub fn new<I, S>(inner: A, stop_words: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let stop_words: HashSet<String> = stop_words.into_iter().map(Into::into).collect();
        let max_len = stop_words.iter().map(String::len).max().unwrap_or(0);
        Self {
            inner,
            stop_words,
            max_len,
        }
    }

    /// `inner` minus [`ENGLISH_STOP_WORDS`].
    pub fn english(inner: A) -> Self {
        Self::new(inner, ENGLISH_STOP_WORDS.iter().copied())
    }

    /// Whether `term` (an output term of the inner analyzer) is dropped.
    #[inline]
    pub fn is_stop_word(&self, term: &str) -> bool {
        term.len() <= self.max_len && self.stop_words.contains(term)
    }

    /// The analyzer whose terms are filtered.
    pub fn inner(&self) -> &A {
        &self.inner
    }

    /// The stop words.
    pub fn stop_words(&self) -> &HashSet<String> {
        &self.stop_words
    }
}

impl Default for StopWordAnalyzer<DefaultAnalyzer> {
    /// [`DefaultAnalyzer`] minus [`ENGLISH_STOP_WORDS`].
    fn default() -> Self {
        Self::english(DefaultAnalyzer::new())
    }
}

impl<A: Analyzer> Analyzer for StopWordAnalyzer<A> {
    fn analyze_tokens(&self, text: &str, sink: &mut dyn FnMut(&Token<'_>)) {
        self.inner.analyze_tokens(text, &mut |t| {
            if !self.is_stop_word(t.text) {
                sink(t);
            }
        });
    }

    fn analyze(&self, text: &str, sink: &mut dyn FnMut(&str, u32)) {
        self.inner.analyze(text, &mut |term, pos| {
            if !self.is_stop_word(term) {
                sink(term, pos);
            }
        });
    }
}
