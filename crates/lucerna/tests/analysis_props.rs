//! Property tests: the ASCII fast path, the Unicode path and a naive reference
//! implementation of the harness tokenizer spec agree.

use lucerna::analysis::{
    for_each_token, tokenize_ascii, tokenize_unicode, Analyzer, DefaultAnalyzer, StemmingAnalyzer,
    StopWordAnalyzer, Token,
};
use proptest::prelude::*;

/// The spec, written as plainly as possible.
fn reference(text: &str, max: usize) -> Vec<(String, u32)> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .enumerate()
        .map(|(i, t)| {
            (
                t.chars().flat_map(char::to_lowercase).collect::<String>(),
                i as u32,
            )
        })
        .filter(|(t, _)| t.len() <= max)
        .collect()
}

type Tokenizer = fn(&str, usize, &mut String, &mut dyn FnMut(&Token<'_>));

fn run(tokenizer: Tokenizer, text: &str, max: usize) -> Vec<(String, u32, usize, usize)> {
    let mut out = Vec::new();
    let mut buf = String::new();
    tokenizer(text, max, &mut buf, &mut |t| {
        out.push((t.text.to_string(), t.position, t.offset_from, t.offset_to))
    });
    out
}

fn ascii(text: &str, max: usize, buf: &mut String, f: &mut dyn FnMut(&Token<'_>)) {
    tokenize_ascii(text, max, buf, f)
}
fn unicode(text: &str, max: usize, buf: &mut String, f: &mut dyn FnMut(&Token<'_>)) {
    tokenize_unicode(text, max, buf, f)
}
fn dispatch(text: &str, max: usize, buf: &mut String, f: &mut dyn FnMut(&Token<'_>)) {
    for_each_token(text, max, buf, f)
}

fn strip_offsets(v: Vec<(String, u32, usize, usize)>) -> Vec<(String, u32)> {
    v.into_iter().map(|(t, p, _, _)| (t, p)).collect()
}

/// Mixed text: ASCII word/separator chars plus tricky Unicode.
fn mixed_text() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        4 => "[a-zA-Z0-9]{1,12}",
        3 => "[ ,.;:_/\\-\t\n!?()]{1,3}",
        1 => Just("İ".to_string()),
        1 => Just("ẞ".to_string()),
        1 => Just("Σ".to_string()),
        1 => Just("é".to_string()),
        1 => Just("É".to_string()),
        1 => Just("e\u{301}".to_string()),
        1 => Just("\u{e000}".to_string()),
        1 => Just("ǅ".to_string()),
        1 => Just("１２３".to_string()),
        1 => Just("😀".to_string()),
        1 => Just("हिन्दी".to_string()),
        1 => Just("Ⅻ".to_string()),
        1 => Just("x²".to_string()),
        2 => any::<char>().prop_map(String::from),
        1 => "[a-z]{38,44}",
        1 => "[é]{18,22}",
    ];
    prop::collection::vec(pieces, 0..24).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn ascii_fast_path_equals_unicode_path(text in "[ -~\t\n]{0,200}", max in 1usize..50) {
        let fast = run(ascii, &text, max);
        let general = run(unicode, &text, max);
        prop_assert_eq!(&fast, &general);
        prop_assert_eq!(strip_offsets(fast), reference(&text, max));
    }

    #[test]
    fn ascii_words_with_long_tokens(text in "([a-zA-Z0-9]{1,45}[ .,-]{1,2}){0,12}") {
        let fast = run(ascii, &text, 40);
        prop_assert_eq!(&fast, &run(unicode, &text, 40));
        prop_assert_eq!(strip_offsets(fast), reference(&text, 40));
    }

    #[test]
    fn unicode_path_equals_reference_on_mixed_text(text in mixed_text(), max in 1usize..50) {
        let general = run(unicode, &text, max);
        let dispatched = run(dispatch, &text, max);
        prop_assert_eq!(&general, &dispatched);
        for (term, _, from, to) in &general {
            let src: String = text[*from..*to].chars().flat_map(char::to_lowercase).collect();
            prop_assert_eq!(&src, term);
        }
        prop_assert_eq!(strip_offsets(general), reference(&text, max));
    }

    #[test]
    fn default_analyzer_equals_reference_on_any_string(text in any::<String>()) {
        prop_assert_eq!(DefaultAnalyzer::new().tokens(&text), reference(&text, 40));
    }

    #[test]
    fn wrappers_never_panic(text in mixed_text()) {
        let s = StemmingAnalyzer::english();
        let w = StopWordAnalyzer::english(StemmingAnalyzer::english());
        let plain = DefaultAnalyzer::new().tokens(&text);
        let stemmed = s.tokens(&text);
        prop_assert_eq!(plain.len(), stemmed.len());
        for ((_, p1), (_, p2)) in plain.iter().zip(&stemmed) {
            prop_assert_eq!(p1, p2);
        }
        prop_assert!(w.tokens(&text).len() <= stemmed.len());
    }
}

#[test]
fn ascii_path_on_non_ascii_text_stays_valid_utf8() {
    // Documented misuse: non-ASCII bytes become separators, output stays valid.
    let out = run(ascii, "abcÉdef 😀 x", 40);
    let terms: Vec<_> = out.iter().map(|t| t.0.as_str()).collect();
    assert_eq!(terms, ["abc", "def", "x"]);
}
