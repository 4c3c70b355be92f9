//! [`StemmingAnalyzer`]: another analyzer's terms, reduced to their stems.

use std::fmt;

use rust_stemmers::Stemmer;

use super::{Analyzer, DefaultAnalyzer, Token};

/// The languages a [`StemmingAnalyzer`] can stem (Snowball algorithms of `rust-stemmers`).
pub use rust_stemmers::Algorithm as Language;

/// Stems every term of an inner analyzer (by default [`DefaultAnalyzer`]) with a Snowball
/// stemmer. Positions and offsets are the inner analyzer's.
///
/// The stemmer expects lowercase input, which [`DefaultAnalyzer`] provides. A term that
/// the stemmer changes costs one allocation (the stemmer's API returns a new `String`).
/// To remove stop words before stemming (Lucene's `EnglishAnalyzer` order), wrap a
/// [`StopWordAnalyzer`](super::StopWordAnalyzer):
///
/// ```
/// use lucerna::analysis::{Analyzer, DefaultAnalyzer, Language, StemmingAnalyzer, StopWordAnalyzer};
///
/// let a = StemmingAnalyzer::english();
/// assert_eq!(
///     a.tokens("Running runners ran"),
///     vec![("run".to_string(), 0), ("runner".to_string(), 1), ("ran".to_string(), 2)]
/// );
///
/// let lucene_like = StemmingAnalyzer::with_inner(
///     StopWordAnalyzer::english(DefaultAnalyzer::new()),
///     Language::English,
/// );
/// assert_eq!(
///     lucene_like.tokens("the cats"),
///     vec![("cat".to_string(), 1)]
/// );
/// ```
pub struct StemmingAnalyzer<A = DefaultAnalyzer> {
    inner: A,
    language: Language,
    stemmer: Stemmer,
}

impl StemmingAnalyzer<DefaultAnalyzer> {
    /// [`DefaultAnalyzer`] followed by the stemmer for `language`.
    pub fn new(language: Language) -> Self {
        Self::with_inner(DefaultAnalyzer::new(), language)
    }

    /// [`DefaultAnalyzer`] followed by the English (Porter2) stemmer.
    pub fn english() -> Self {
        Self::new(Language::English)
    }
}

impl<A: Analyzer> StemmingAnalyzer<A> {
    /// `inner` followed by the stemmer for `language`.
    pub fn with_inner(inner: A, language: Language) -> Self {
        Self {
            inner,
            language,
            stemmer: Stemmer::create(language),
        }
    }

    /// The stemmer's language.
    pub fn language(&self) -> Language {
        self.language
    }

    /// The analyzer whose terms are stemmed.
    pub fn inner(&self) -> &A {
        &self.inner
    }
}

impl<A: fmt::Debug> fmt::Debug for StemmingAnalyzer<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StemmingAnalyzer")
            .field("inner", &self.inner)
            .field("language", &self.language)
            .finish()
    }
}

impl<A: Clone + Analyzer> Clone for StemmingAnalyzer<A> {
    fn clone(&self) -> Self {
        Self::with_inner(self.inner.clone(), self.language)
    }
}

impl<A: Analyzer> Analyzer for StemmingAnalyzer<A> {
    fn analyze_tokens(&self, text: &str, sink: &mut dyn FnMut(&Token<'_>)) {
        self.inner.analyze_tokens(text, &mut |t| {
            let stem = self.stemmer.stem(t.text);
            sink(&Token { text: &stem, ..*t });
        });
    }

    fn analyze(&self, text: &str, sink: &mut dyn FnMut(&str, u32)) {
        self.inner.analyze(text, &mut |term, pos| {
            sink(&self.stemmer.stem(term), pos);
        });
    }
}
