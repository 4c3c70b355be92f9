//! Text analysis: turning a field's text into the terms that are indexed and searched.
//!
//! An [`Analyzer`] splits text into tokens, normalises them (lowercasing, stemming, …) and
//! streams `(term, position)` pairs to a sink. This is the indexing hot path, so the
//! streaming API allocates nothing per token: the term handed to the sink is either a slice
//! of the input (when no normalisation changed it) or a view of a buffer reused for every
//! token.
//!
//! Positions are relative to the start of the text and start at 0. A token that is dropped
//! (too long, a stop word) still consumes its position, so a phrase never matches across it.
//!
//! | analyzer | what it does |
//! |---|---|
//! | [`DefaultAnalyzer`] | the harness tokenizer: split on non-alphanumeric chars, lowercase, drop tokens over 40 bytes |
//! | [`KeywordAnalyzer`] | the whole text is one token, unchanged |
//! | [`StemmingAnalyzer`] | another analyzer's terms, stemmed by a Snowball stemmer |
//! | [`StopWordAnalyzer`] | another analyzer's terms minus a stop-word set |
//!
//! ```
//! use lucerna::analysis::{Analyzer, DefaultAnalyzer};
//!
//! let analyzer = DefaultAnalyzer::new();
//! let mut terms = Vec::new();
//! analyzer.analyze("Hello, WORLD!", &mut |term, pos| terms.push((term.to_string(), pos)));
//! assert_eq!(terms, vec![("hello".to_string(), 0), ("world".to_string(), 1)]);
//! ```

use std::fmt;
use std::sync::Arc;

mod keyword;
mod stemming;
mod stop;
mod tokenizer;

pub use keyword::KeywordAnalyzer;
pub use stemming::{Language, StemmingAnalyzer};
pub use stop::{StopWordAnalyzer, ENGLISH_STOP_WORDS};
pub use tokenizer::{
    for_each_token, tokenize_ascii, tokenize_unicode, DefaultAnalyzer, DEFAULT_MAX_TOKEN_BYTES,
};

/// One token produced by an analyzer: a borrowed view, valid only during the sink call.
///
/// `text` points either into the analyzed text or into a buffer the analyzer reuses for
/// the next token; copy it (`to_string()`) to keep it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Token<'a> {
    /// The normalised term.
    pub text: &'a str,
    /// Position of the token, counted from 0 at the start of the analyzed text. Dropped
    /// tokens consume positions, so positions of emitted tokens may have gaps.
    pub position: u32,
    /// Byte offset in the analyzed text where the token's source starts.
    pub offset_from: usize,
    /// Byte offset in the analyzed text just past the token's source.
    pub offset_to: usize,
}

/// Turns text into a stream of `(term, position)` tokens.
///
/// Implementations must be deterministic: the same text always yields the same tokens,
/// since indexing and querying analyze independently and must agree.
pub trait Analyzer: Send + Sync + fmt::Debug {
    /// Streams every emitted token, with its position and byte offsets, to `sink`.
    fn analyze_tokens(&self, text: &str, sink: &mut dyn FnMut(&Token<'_>));

    /// Streams `(term, position)` of every emitted token to `sink`: the indexing hot path.
    ///
    /// The default implementation forwards to [`analyze_tokens`](Analyzer::analyze_tokens);
    /// implementations may override it with a faster path.
    fn analyze(&self, text: &str, sink: &mut dyn FnMut(&str, u32)) {
        self.analyze_tokens(text, &mut |t| sink(t.text, t.position));
    }

    /// `(position, term)` of every token of `text`, positions relative to
    /// the first token (so a phrase taken from a query starts at 0): how
    /// query text is analyzed.
    fn relative_tokens(&self, text: &str) -> Vec<(u32, String)> {
        let mut out: Vec<(u32, String)> = Vec::new();
        self.analyze(text, &mut |term, pos| out.push((pos, term.to_string())));
        if let Some(&(p0, _)) = out.first() {
            for t in out.iter_mut() {
                t.0 -= p0;
            }
        }
        out
    }

    /// Collects the `(term, position)` pairs of `text` (for tests and query analysis; it
    /// allocates one `String` per token).
    fn tokens(&self, text: &str) -> Vec<(String, u32)> {
        let mut out = Vec::new();
        self.analyze(text, &mut |term, pos| out.push((term.to_string(), pos)));
        out
    }
}

impl<A: Analyzer + ?Sized> Analyzer for &A {
    fn analyze_tokens(&self, text: &str, sink: &mut dyn FnMut(&Token<'_>)) {
        (**self).analyze_tokens(text, sink)
    }
    fn analyze(&self, text: &str, sink: &mut dyn FnMut(&str, u32)) {
        (**self).analyze(text, sink)
    }
}

impl<A: Analyzer + ?Sized> Analyzer for Box<A> {
    fn analyze_tokens(&self, text: &str, sink: &mut dyn FnMut(&Token<'_>)) {
        (**self).analyze_tokens(text, sink)
    }
    fn analyze(&self, text: &str, sink: &mut dyn FnMut(&str, u32)) {
        (**self).analyze(text, sink)
    }
}

impl<A: Analyzer + ?Sized> Analyzer for Arc<A> {
    fn analyze_tokens(&self, text: &str, sink: &mut dyn FnMut(&Token<'_>)) {
        (**self).analyze_tokens(text, sink)
    }
    fn analyze(&self, text: &str, sink: &mut dyn FnMut(&str, u32)) {
        (**self).analyze(text, sink)
    }
}
