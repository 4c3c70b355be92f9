//! [`KeywordAnalyzer`]: the whole text as one token.

use super::{Analyzer, Token};

/// Emits the whole text, unchanged, as a single token at position 0.
///
/// For identifiers, tags and other exact-match values. Nothing is lowercased or dropped,
/// and the empty string is one (empty) token, as in Lucene's `KeywordAnalyzer` and
/// tantivy's `RawTokenizer`.
///
/// ```
/// use lucerna::analysis::{Analyzer, KeywordAnalyzer};
///
/// assert_eq!(KeywordAnalyzer.tokens("New York"), vec![("New York".to_string(), 0)]);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct KeywordAnalyzer;

impl Analyzer for KeywordAnalyzer {
    fn analyze_tokens(&self, text: &str, sink: &mut dyn FnMut(&Token<'_>)) {
        sink(&Token {
            text,
            position: 0,
            offset_from: 0,
            offset_to: text.len(),
        });
    }

    fn analyze(&self, text: &str, sink: &mut dyn FnMut(&str, u32)) {
        sink(text, 0);
    }
}
