//! Behaviour of the analyzers: length limit, positions, offsets, wrappers.

use std::sync::Arc;

use lucerna::analysis::{
    Analyzer, DefaultAnalyzer, KeywordAnalyzer, Language, StemmingAnalyzer, StopWordAnalyzer,
    Token, DEFAULT_MAX_TOKEN_BYTES, ENGLISH_STOP_WORDS,
};

fn toks(a: &dyn Analyzer, text: &str) -> Vec<(String, u32)> {
    a.tokens(text)
}

fn owned(v: &[(&str, u32)]) -> Vec<(String, u32)> {
    v.iter().map(|(t, p)| (t.to_string(), *p)).collect()
}

#[test]
fn limit_is_40_bytes_ascii() {
    assert_eq!(DEFAULT_MAX_TOKEN_BYTES, 40);
    let a = DefaultAnalyzer::new();
    let t40 = "a".repeat(40);
    let t41 = "b".repeat(41);
    assert_eq!(toks(&a, &t40), vec![(t40.clone(), 0)]);
    assert!(toks(&a, &t41).is_empty());
    // Uppercase input goes through the lowercasing buffer: same limit.
    assert_eq!(toks(&a, &"A".repeat(40)), vec![(t40.clone(), 0)]);
    assert!(toks(&a, &"B".repeat(41)).is_empty());
}

#[test]
fn limit_is_40_bytes_two_byte_chars() {
    let a = DefaultAnalyzer::new();
    let e20 = "é".repeat(20); // 40 bytes
    let e21 = "é".repeat(21); // 42 bytes
    assert_eq!(toks(&a, &e20), vec![(e20.clone(), 0)]);
    assert!(toks(&a, &e21).is_empty());
    assert_eq!(toks(&a, &"É".repeat(20)), vec![(e20, 0)]);
    assert!(toks(&a, &"É".repeat(21)).is_empty());
    // 39 ASCII bytes + one 2-byte char = 41 bytes: dropped.
    assert!(toks(&a, &format!("{}é", "a".repeat(39))).is_empty());
}

#[test]
fn limit_applies_after_lowercasing() {
    let a = DefaultAnalyzer::new();
    // İ is 2 bytes, its lowercase i + U+0307 is 3 bytes.
    let up13 = "İ".repeat(13); // 26 bytes -> 39 bytes
    let up14 = "İ".repeat(14); // 28 bytes -> 42 bytes
    assert_eq!(toks(&a, &up13), vec![("i\u{307}".repeat(13), 0)]);
    assert!(toks(&a, &up14).is_empty());
    // ẞ is 3 bytes, ß 2 bytes: 60 bytes of input, 40 after lowercasing: kept.
    assert_eq!(toks(&a, &"ẞ".repeat(20)), vec![("ß".repeat(20), 0)]);
}

#[test]
fn configurable_limit() {
    let a = DefaultAnalyzer::with_max_token_bytes(3);
    assert_eq!(a.max_token_bytes(), 3);
    assert_eq!(toks(&a, "abc abcd ab"), owned(&[("abc", 0), ("ab", 2)]));
    let unlimited = DefaultAnalyzer::with_max_token_bytes(usize::MAX);
    let long = "z".repeat(10_000);
    assert_eq!(toks(&unlimited, &long), vec![(long.clone(), 0)]);
}

#[test]
fn dropped_tokens_consume_positions() {
    let a = DefaultAnalyzer::new();
    let long = "x".repeat(41);
    let text = format!("one {long} two {long} {long} three");
    assert_eq!(
        toks(&a, &text),
        owned(&[("one", 0), ("two", 2), ("three", 5)])
    );
    let text = format!("Één {} twee", "Ü".repeat(30));
    assert_eq!(toks(&a, &text), owned(&[("één", 0), ("twee", 2)]));
}

#[test]
fn separators_and_empty_input() {
    let a = DefaultAnalyzer::new();
    assert!(toks(&a, "").is_empty());
    assert!(toks(&a, "  ,.;-- \t\n").is_empty());
    assert_eq!(
        toks(&a, "--Hello,,World__42!"),
        owned(&[("hello", 0), ("world", 1), ("42", 2)])
    );
    assert_eq!(
        toks(&a, "2024-01-01T10:00:00Z ERROR"),
        owned(&[
            ("2024", 0),
            ("01", 1),
            ("01t10", 2),
            ("00", 3),
            ("00z", 4),
            ("error", 5)
        ])
    );
}

#[test]
fn offsets_point_into_the_source() {
    let a = DefaultAnalyzer::new();
    for text in ["Hello  WORLD, foo", "Grüße aus KÖLN İi", "x"] {
        let mut seen = Vec::new();
        a.analyze_tokens(text, &mut |t: &Token<'_>| {
            let src: String = text[t.offset_from..t.offset_to]
                .chars()
                .flat_map(char::to_lowercase)
                .collect();
            assert_eq!(src, t.text, "in {text:?}");
            seen.push((t.text.to_string(), t.position));
        });
        assert_eq!(seen, a.tokens(text));
    }
    let mut offsets = Vec::new();
    a.analyze_tokens("ab  Cd", &mut |t| {
        offsets.push((t.offset_from, t.offset_to))
    });
    assert_eq!(offsets, [(0, 2), (4, 6)]);
}

#[test]
fn reentrant_analysis_from_the_sink() {
    let a = DefaultAnalyzer::new();
    let mut inner = Vec::new();
    a.analyze("Outer TEXT", &mut |term, _| {
        // The sink may analyze again on the same thread (the scratch buffer is in use).
        let nested = a.tokens("Nested UPPER");
        inner.push((term.to_string(), nested));
    });
    assert_eq!(inner.len(), 2);
    assert_eq!(inner[1].0, "text");
    assert_eq!(inner[1].1, owned(&[("nested", 0), ("upper", 1)]));
}

#[test]
fn keyword_analyzer() {
    let k = KeywordAnalyzer;
    assert_eq!(toks(&k, "Hello World-42"), owned(&[("Hello World-42", 0)]));
    assert_eq!(toks(&k, ""), owned(&[("", 0)]));
    let mut offsets = Vec::new();
    k.analyze_tokens("abc", &mut |t| offsets.push((t.offset_from, t.offset_to)));
    assert_eq!(offsets, [(0, 3)]);
}

#[test]
fn stemming_analyzer() {
    let s = StemmingAnalyzer::english();
    assert_eq!(s.language(), Language::English);
    assert_eq!(
        toks(&s, "Connections CONNECTED connecting"),
        owned(&[("connect", 0), ("connect", 1), ("connect", 2)])
    );
    let long = "running".repeat(6); // 42 bytes: dropped before stemming, position kept
    assert_eq!(toks(&s, &format!("{long} jumps")), owned(&[("jump", 1)]));
    let g = StemmingAnalyzer::new(Language::German);
    assert_eq!(toks(&g, "Häuser"), owned(&[("haus", 0)]));
    // Offsets are the source token's.
    let mut seen = Vec::new();
    s.analyze_tokens("Cats run", &mut |t| {
        seen.push((t.text.to_string(), t.position, t.offset_from, t.offset_to))
    });
    assert_eq!(
        seen,
        [("cat".to_string(), 0, 0, 4), ("run".to_string(), 1, 5, 8)]
    );
    let cloned = s.clone();
    assert_eq!(cloned.tokens("dogs"), owned(&[("dog", 0)]));
    assert!(format!("{s:?}").contains("English"));
}

#[test]
fn stop_word_analyzer_keeps_positions() {
    let s = StopWordAnalyzer::english(DefaultAnalyzer::new());
    assert_eq!(ENGLISH_STOP_WORDS.len(), 33);
    assert!(s.is_stop_word("the"));
    assert!(!s.is_stop_word("cat"));
    assert_eq!(
        toks(&s, "The quick fox IS in the box"),
        owned(&[("quick", 1), ("fox", 2), ("box", 6)])
    );
    assert!(toks(&s, "to be or not to be").is_empty());
    let custom = StopWordAnalyzer::new(DefaultAnalyzer::new(), ["foo", "bar"]);
    assert_eq!(
        toks(&custom, "foo baz BAR qux"),
        owned(&[("baz", 1), ("qux", 3)])
    );
    let d = StopWordAnalyzer::default();
    assert_eq!(toks(&d, "a b"), owned(&[("b", 1)]));
    // With offsets too.
    let mut seen = Vec::new();
    s.analyze_tokens("the cat", &mut |t| {
        seen.push((t.text.to_string(), t.position))
    });
    assert_eq!(seen, owned(&[("cat", 1)]));
}

#[test]
fn stop_then_stem_like_lucene_english() {
    let a = StemmingAnalyzer::with_inner(
        StopWordAnalyzer::english(DefaultAnalyzer::new()),
        Language::English,
    );
    assert_eq!(
        toks(&a, "The running of the bulls"),
        owned(&[("run", 1), ("bull", 4)])
    );
}

#[test]
fn analyzers_as_trait_objects() {
    let analyzers: Vec<Arc<dyn Analyzer>> = vec![
        Arc::new(DefaultAnalyzer::new()),
        Arc::new(KeywordAnalyzer),
        Arc::new(StemmingAnalyzer::english()),
        Arc::new(StopWordAnalyzer::default()),
    ];
    let boxed: Box<dyn Analyzer> = Box::new(DefaultAnalyzer::new());
    assert_eq!(boxed.tokens("A b"), owned(&[("a", 0), ("b", 1)]));
    let wrapped = StopWordAnalyzer::english(Arc::clone(&analyzers[0]));
    assert_eq!(wrapped.tokens("a b"), owned(&[("b", 1)]));
    let by_ref = StemmingAnalyzer::with_inner(&*boxed, Language::English);
    assert_eq!(by_ref.tokens("Dogs"), owned(&[("dog", 0)]));
    std::thread::scope(|scope| {
        for a in &analyzers {
            scope.spawn(move || {
                assert!(!a.tokens("Hello there").is_empty());
            });
        }
    });
}
