//! The harness tokenizer conformance probe (`shared/peers/tokcheck/tokcheck.py`), ported:
//! the same 15 documents and 31 term queries with the counts the spec expects, run against
//! a tiny in-memory positional index built with [`DefaultAnalyzer`].

use lucerna::analysis::{Analyzer, DefaultAnalyzer};

fn docs() -> Vec<String> {
    vec![
        "İstanbul İSTANBUL".into(),       // U+0130 lowercases to i + U+0307
        "x² ½ Ⅻ ①".into(),                // Numeric No / Nl are token chars
        "ⓐⓑ circled".into(),              // So with Other_Alphabetic: token chars
        "ab\u{e000}cd private".into(),    // Co private use: a separator
        "हिन्दी भाषा".into(),              // Mc vowel signs are Alphabetic, Mn virama is not
        "cafe\u{0301} decomposed".into(), // Mn combining acute: a separator
        "café precomposed".into(),
        "ΟΔΟΣ Straße STRASSE ẞ".into(), // per-char lowercase: Σ -> σ, ẞ -> ß
        "a".repeat(41) + " long41",     // 41 bytes: dropped
        "a".repeat(40) + " long40",     // 40 bytes: kept
        "é".repeat(21) + " long42bytes", // 21 chars but 42 bytes: dropped
        "under_score dash-word dot.ted".into(),
        "emoji😀between".into(),
        "ǅemal titlecase".into(),
        "１２３ fullwidth".into(),
    ]
}

fn queries() -> Vec<(String, usize)> {
    let q = |s: &str, n: usize| (s.to_string(), n);
    vec![
        q("İstanbul", 1),
        q("istanbul", 0),
        q("x²", 1),
        q("x", 0),
        q("½", 1),
        q("Ⅻ", 1),
        q("ⅻ", 1),
        q("①", 1),
        q("ⓐⓑ", 1),
        q("ab", 1),
        q("cd", 1),
        q("ह", 0),
        q("हिन्दी", 1),
        q("हिन", 1),
        q("cafe", 1),
        q("café", 1),
        q("οδοσ", 1),
        q("οδος", 0),
        q("straße", 1),
        q("strasse", 1),
        q("ß", 1),
        ("a".repeat(41), 0),
        ("a".repeat(40), 1),
        ("é".repeat(21), 0),
        q("under", 1),
        q("score", 1),
        q("emoji", 1),
        q("between", 1),
        q("ǆemal", 1),
        q("123", 0),
        q("１２３", 1),
    ]
}

/// Counts documents matching the query text the way the harness adapters do: no token →
/// 0 hits, one token → term query, several → phrase at consecutive relative positions.
fn count(index: &[Vec<(String, u32)>], analyzer: &DefaultAnalyzer, query: &str) -> usize {
    let q = analyzer.tokens(query);
    if q.is_empty() {
        return 0;
    }
    let base = q[0].1;
    index
        .iter()
        .filter(|doc| {
            doc.iter().any(|(term, start)| {
                term == &q[0].0
                    && q.iter().all(|(qt, qp)| {
                        let want = start + (qp - base);
                        doc.iter().any(|(t, p)| *p == want && t == qt)
                    })
            })
        })
        .count()
}

#[test]
fn tokcheck_31_of_31() {
    let analyzer = DefaultAnalyzer::new();
    let docs = docs();
    let queries = queries();
    assert_eq!(docs.len(), 15);
    assert_eq!(queries.len(), 31);
    let index: Vec<Vec<(String, u32)>> = docs.iter().map(|d| analyzer.tokens(d)).collect();
    let mut failures = Vec::new();
    for (q, want) in &queries {
        let got = count(&index, &analyzer, q);
        if got != *want {
            failures.push(format!("{q:?}: want {want}, got {got}"));
        }
    }
    assert!(
        failures.is_empty(),
        "tokcheck deviations:\n{}",
        failures.join("\n")
    );
}

#[test]
fn tokcheck_documents_tokenize_as_specified() {
    let a = DefaultAnalyzer::new();
    let t = |s: &str| -> Vec<String> { a.tokens(s).into_iter().map(|(t, _)| t).collect() };
    assert_eq!(
        t("İstanbul İSTANBUL"),
        ["i\u{307}stanbul", "i\u{307}stanbul"]
    );
    assert_eq!(t("x² ½ Ⅻ ①"), ["x²", "½", "ⅻ", "①"]);
    assert_eq!(t("ⓐⓑ circled"), ["ⓐⓑ", "circled"]);
    assert_eq!(t("ab\u{e000}cd private"), ["ab", "cd", "private"]);
    assert_eq!(t("हिन्दी भाषा"), ["हिन", "दी", "भाषा"]);
    assert_eq!(t("cafe\u{0301} decomposed"), ["cafe", "decomposed"]);
    assert_eq!(
        t("ΟΔΟΣ Straße STRASSE ẞ"),
        ["οδοσ", "straße", "strasse", "ß"]
    );
    assert_eq!(
        t("under_score dash-word dot.ted"),
        ["under", "score", "dash", "word", "dot", "ted"]
    );
    assert_eq!(t("emoji😀between"), ["emoji", "between"]);
    assert_eq!(t("ǅemal titlecase"), ["ǆemal", "titlecase"]);
    assert_eq!(t("１２３ fullwidth"), ["１２３", "fullwidth"]);
    // Dropped long tokens keep their position.
    assert_eq!(
        a.tokens(&("a".repeat(41) + " long41")),
        [("long41".to_string(), 1)]
    );
    assert_eq!(
        a.tokens(&("é".repeat(21) + " long42bytes")),
        [("long42bytes".to_string(), 1)]
    );
}
