//! One test per construct of the query syntax, precedence, and error positions.

use std::ops::Bound;

use lucerna::query_parser::{
    parse_query, Occur, Operator, QueryAst, QueryParseError, QueryParser, DEFAULT_MAX_DEPTH,
};

fn p(q: &str) -> QueryAst {
    parse_query(q).unwrap_or_else(|e| panic!("{q:?}: {e}"))
}

fn err(q: &str) -> QueryParseError {
    match parse_query(q) {
        Ok(ast) => panic!("{q:?} parsed as {ast:?}"),
        Err(e) => e,
    }
}

fn t(text: &str) -> QueryAst {
    QueryAst::Term {
        field: None,
        text: text.into(),
    }
}

fn ft(field: &str, text: &str) -> QueryAst {
    QueryAst::Term {
        field: Some(field.into()),
        text: text.into(),
    }
}

fn phrase(field: Option<&str>, text: &str, slop: u32) -> QueryAst {
    QueryAst::Phrase {
        field: field.map(Into::into),
        text: text.into(),
        slop,
    }
}

fn b(clauses: Vec<(Occur, QueryAst)>) -> QueryAst {
    QueryAst::Boolean {
        clauses,
        minimum_should_match: None,
    }
}

fn should(q: QueryAst) -> (Occur, QueryAst) {
    (Occur::Should, q)
}
fn must(q: QueryAst) -> (Occur, QueryAst) {
    (Occur::Must, q)
}
fn not(q: QueryAst) -> (Occur, QueryAst) {
    (Occur::MustNot, q)
}

fn range(field: Option<&str>, lower: Bound<&str>, upper: Bound<&str>) -> QueryAst {
    let own = |b: Bound<&str>| b.map(str::to_owned);
    QueryAst::Range {
        field: field.map(Into::into),
        lower: own(lower),
        upper: own(upper),
    }
}

#[test]
fn terms_and_fields() {
    assert_eq!(p("hello"), t("hello"));
    assert_eq!(p("  Hello  "), t("Hello")); // raw, not analyzed
    assert_eq!(p("title:hello"), ft("title", "hello"));
    assert_eq!(p("title: hello"), ft("title", "hello"));
    assert_eq!(p("dash-word"), t("dash-word"));
    assert_eq!(p("a+b!c&d|e/f"), t("a+b!c&d|e/f"));
    assert_eq!(p("ts:-5"), ft("ts", "-5"));
    assert_eq!(p("Grüße"), t("Grüße"));
    assert_eq!(
        p("and or not to"),
        b(vec![
            should(t("and")),
            should(t("or")),
            should(t("not")),
            should(t("to"))
        ])
    );
    assert_eq!(p("AND:x"), ft("AND", "x"));
}

#[test]
fn default_operator() {
    assert_eq!(
        p("a b c"),
        b(vec![should(t("a")), should(t("b")), should(t("c"))])
    );
    let and = QueryParser::new().with_default_operator(Operator::And);
    assert_eq!(and.default_operator(), Operator::And);
    assert_eq!(
        and.parse("a b -c").unwrap(),
        b(vec![must(t("a")), must(t("b")), not(t("c"))])
    );
    assert_eq!(QueryParser::default().default_operator(), Operator::Or);
}

#[test]
fn modifiers() {
    assert_eq!(
        p("+a -b c !d NOT e"),
        b(vec![
            must(t("a")),
            not(t("b")),
            should(t("c")),
            not(t("d")),
            not(t("e"))
        ])
    );
    assert_eq!(p("+a"), t("a"));
    assert_eq!(p("-a"), b(vec![not(t("a"))]));
    assert_eq!(p("NOT a"), b(vec![not(t("a"))]));
    assert_eq!(p("- a"), b(vec![not(t("a"))]));
    assert_eq!(p("a NOT b"), b(vec![should(t("a")), not(t("b"))]));
    assert_eq!(p("+title:x"), ft("title", "x"));
    assert_eq!(p("NOTE"), t("NOTE"));
}

#[test]
fn and_or() {
    assert_eq!(p("a AND b"), b(vec![must(t("a")), must(t("b"))]));
    assert_eq!(
        p("a && b && c"),
        b(vec![must(t("a")), must(t("b")), must(t("c"))])
    );
    assert_eq!(p("a OR b"), b(vec![should(t("a")), should(t("b"))]));
    assert_eq!(p("a || b"), b(vec![should(t("a")), should(t("b"))]));
    assert_eq!(p("a AND NOT b"), b(vec![must(t("a")), not(t("b"))]));
    assert_eq!(p("a AND -b"), b(vec![must(t("a")), not(t("b"))]));
    assert_eq!(p("NOT a AND b"), b(vec![not(t("a")), must(t("b"))]));
    assert_eq!(p("-a OR b"), b(vec![not(t("a")), should(t("b"))]));
    // Operators in other cases are terms.
    assert_eq!(
        p("a and b"),
        b(vec![should(t("a")), should(t("and")), should(t("b"))])
    );
    // The default operator AND makes no difference to explicit OR.
    let and = QueryParser::new().with_default_operator(Operator::And);
    assert_eq!(
        and.parse("a OR b").unwrap(),
        b(vec![should(t("a")), should(t("b"))])
    );
}

#[test]
fn precedence() {
    // AND binds tighter than OR.
    assert_eq!(
        p("a AND b OR c"),
        b(vec![
            should(b(vec![must(t("a")), must(t("b"))])),
            should(t("c"))
        ])
    );
    assert_eq!(
        p("a OR b AND c"),
        b(vec![
            should(t("a")),
            should(b(vec![must(t("b")), must(t("c"))]))
        ])
    );
    assert_eq!(
        p("a OR b AND c OR d"),
        b(vec![
            should(t("a")),
            should(b(vec![must(t("b")), must(t("c"))])),
            should(t("d"))
        ])
    );
    // Juxtaposition is looser than OR and AND.
    assert_eq!(
        p("a b AND c"),
        b(vec![
            should(t("a")),
            should(b(vec![must(t("b")), must(t("c"))]))
        ])
    );
    let and = QueryParser::new().with_default_operator(Operator::And);
    assert_eq!(
        and.parse("a b OR c").unwrap(),
        b(vec![
            must(t("a")),
            must(b(vec![should(t("b")), should(t("c"))]))
        ])
    );
    // Parentheses override.
    assert_eq!(
        p("a AND (b OR c)"),
        b(vec![
            must(t("a")),
            must(b(vec![should(t("b")), should(t("c"))]))
        ])
    );
    // A prefix operator binds to one clause.
    assert_eq!(
        p("-a b AND c"),
        b(vec![
            not(t("a")),
            should(b(vec![must(t("b")), must(t("c"))]))
        ])
    );
}

#[test]
fn groups() {
    assert_eq!(p("(a)"), t("a"));
    assert_eq!(p("((a))"), t("a"));
    assert_eq!(
        p("(a b) c"),
        b(vec![
            should(b(vec![should(t("a")), should(t("b"))])),
            should(t("c"))
        ])
    );
    assert_eq!(
        p("title:(a \"b c\" -d)"),
        b(vec![
            should(ft("title", "a")),
            should(phrase(Some("title"), "b c", 0)),
            not(ft("title", "d"))
        ])
    );
    // An explicit field inside a field group wins.
    assert_eq!(
        p("title:(a body:b)"),
        b(vec![should(ft("title", "a")), should(ft("body", "b"))])
    );
    assert_eq!(
        p("(a b c)~2"),
        QueryAst::Boolean {
            clauses: vec![should(t("a")), should(t("b")), should(t("c"))],
            minimum_should_match: Some(2),
        }
    );
    assert_eq!(p("a(b)"), b(vec![should(t("a")), should(t("b"))]));
}

#[test]
fn phrases() {
    assert_eq!(p("\"hello world\""), phrase(None, "hello world", 0));
    assert_eq!(p("\"hello world\"~2"), phrase(None, "hello world", 2));
    assert_eq!(
        p("title:\"hello world\""),
        phrase(Some("title"), "hello world", 0)
    );
    assert_eq!(
        p("\"say \\\"hi\\\" \\\\ now\""),
        phrase(None, "say \"hi\" \\ now", 0)
    );
    assert_eq!(p("\"a (b) c:d AND\""), phrase(None, "a (b) c:d AND", 0));
    assert_eq!(p("\"\""), phrase(None, "", 0));
    assert_eq!(
        p("\"a\"\"b\""),
        b(vec![
            should(phrase(None, "a", 0)),
            should(phrase(None, "b", 0))
        ])
    );
    assert_eq!(
        p("+\"a b\"~1^2"),
        QueryAst::Boost(Box::new(phrase(None, "a b", 1)), 2.0)
    );
}

#[test]
fn prefixes_and_match_all() {
    assert_eq!(
        p("pre*"),
        QueryAst::Prefix {
            field: None,
            prefix: "pre".into()
        }
    );
    assert_eq!(
        p("title:pre*"),
        QueryAst::Prefix {
            field: Some("title".into()),
            prefix: "pre".into()
        }
    );
    assert_eq!(
        p("title:*"),
        QueryAst::Prefix {
            field: Some("title".into()),
            prefix: String::new()
        }
    );
    assert_eq!(p("*:*"), QueryAst::MatchAll);
    assert_eq!(p("*"), QueryAst::MatchAll);
    assert_eq!(
        p("*:* -a"),
        b(vec![should(QueryAst::MatchAll), not(t("a"))])
    );
    // Escaped wildcards are literal.
    assert_eq!(p("a\\*"), t("a*"));
    assert_eq!(p("what\\?"), t("what?"));
    assert_eq!(
        p("a\\**"),
        QueryAst::Prefix {
            field: None,
            prefix: "a*".into()
        }
    );
}

#[test]
fn ranges() {
    use Bound::*;
    assert_eq!(
        p("ts:[1 TO 5]"),
        range(Some("ts"), Included("1"), Included("5"))
    );
    assert_eq!(
        p("ts:{1 TO 5}"),
        range(Some("ts"), Excluded("1"), Excluded("5"))
    );
    assert_eq!(
        p("ts:[1 TO 5}"),
        range(Some("ts"), Included("1"), Excluded("5"))
    );
    assert_eq!(
        p("ts:{1 TO 5]"),
        range(Some("ts"), Excluded("1"), Included("5"))
    );
    assert_eq!(
        p("ts:[* TO 5]"),
        range(Some("ts"), Unbounded, Included("5"))
    );
    assert_eq!(
        p("ts:[1 TO *]"),
        range(Some("ts"), Included("1"), Unbounded)
    );
    assert_eq!(p("ts:{* TO *}"), range(Some("ts"), Unbounded, Unbounded));
    assert_eq!(p("[a TO b]"), range(None, Included("a"), Included("b")));
    assert_eq!(
        p("ts:[ -5   TO  5 ]"),
        range(Some("ts"), Included("-5"), Included("5"))
    );
    assert_eq!(
        p("d:[2024-01-01T00:00:00Z TO \"2025 x\"]"),
        range(
            Some("d"),
            Included("2024-01-01T00:00:00Z"),
            Included("2025 x")
        )
    );
    assert_eq!(
        p("x:[\"*\" TO \\*]"),
        range(Some("x"), Included("*"), Included("*"))
    );
    assert_eq!(
        p("+ts:[1 TO 2] -a"),
        b(vec![
            must(range(Some("ts"), Included("1"), Included("2"))),
            not(t("a"))
        ])
    );
    // One-sided comparisons.
    assert_eq!(p("ts:>5"), range(Some("ts"), Excluded("5"), Unbounded));
    assert_eq!(p("ts:>=5"), range(Some("ts"), Included("5"), Unbounded));
    assert_eq!(p("ts:<5"), range(Some("ts"), Unbounded, Excluded("5")));
    assert_eq!(p("ts:<=-5"), range(Some("ts"), Unbounded, Included("-5")));
    assert_eq!(
        p("ts:<\"a b\""),
        range(Some("ts"), Unbounded, Excluded("a b"))
    );
    assert_eq!(p("(ts:>5)"), range(Some("ts"), Excluded("5"), Unbounded));
}

#[test]
fn boosts() {
    assert_eq!(p("a^2"), QueryAst::Boost(Box::new(t("a")), 2.0));
    assert_eq!(
        p("title:a^0.5"),
        QueryAst::Boost(Box::new(ft("title", "a")), 0.5)
    );
    assert_eq!(
        p("(a b)^3"),
        QueryAst::Boost(Box::new(b(vec![should(t("a")), should(t("b"))])), 3.0)
    );
    assert_eq!(
        p("ts:[1 TO 2]^1.5"),
        QueryAst::Boost(
            Box::new(range(
                Some("ts"),
                Bound::Included("1"),
                Bound::Included("2")
            )),
            1.5
        )
    );
    assert_eq!(
        p("*:*^2"),
        QueryAst::Boost(Box::new(QueryAst::MatchAll), 2.0)
    );
    // A boost ends at whitespace, ')' or the end of the query.
    assert_eq!(
        p("a^2 b"),
        b(vec![
            should(QueryAst::Boost(Box::new(t("a")), 2.0)),
            should(t("b"))
        ])
    );
    assert_eq!(
        p("(x a^2)"),
        b(vec![
            should(t("x")),
            should(QueryAst::Boost(Box::new(t("a")), 2.0))
        ])
    );
    assert_eq!(
        p("a^2\tAND b"),
        b(vec![
            must(QueryAst::Boost(Box::new(t("a")), 2.0)),
            must(t("b"))
        ])
    );
    assert_eq!(
        p("(a^2)^3"),
        QueryAst::Boost(Box::new(QueryAst::Boost(Box::new(t("a")), 2.0)), 3.0)
    );
}

#[test]
fn escaping() {
    assert_eq!(p("a\\:b"), t("a:b"));
    assert_eq!(p("title:a\\:b"), ft("title", "a:b"));
    assert_eq!(p("my\\:field:x"), ft("my:field", "x"));
    assert_eq!(p("\\(a\\)"), t("(a)"));
    assert_eq!(p("a\\ b"), t("a b"));
    assert_eq!(p("\\-a"), t("-a"));
    assert_eq!(p("\\AND"), t("AND"));
    assert_eq!(p("a\\\\"), t("a\\"));
    assert_eq!(p("http\\://x.org/a"), t("http://x.org/a"));
    assert_eq!(p("\\\"quoted\\\""), t("\"quoted\""));
}

#[test]
fn whitespace_variants() {
    assert_eq!(p("a\tAND\nb"), b(vec![must(t("a")), must(t("b"))]));
    assert_eq!(p("a\u{3000}b"), b(vec![should(t("a")), should(t("b"))]));
    assert_eq!(p("( a )"), t("a"));
}

fn check_err(q: &str, position: usize, needle: &str) -> Option<String> {
    match parse_query(q) {
        Ok(ast) => Some(format!("{q:?} parsed as {ast:?}")),
        Err(e) if e.position != position || !e.message.contains(needle) => {
            Some(format!("{q:?}: want {position} {needle:?}, got {e}"))
        }
        Err(_) => None,
    }
}

#[test]
fn error_positions() {
    let mut failures = Vec::new();
    let mut assert_err = |q: &str, position: usize, needle: &str| {
        failures.extend(check_err(q, position, needle));
    };
    assert_err("", 0, "empty");
    assert_err("   ", 0, "empty");
    assert_err("a AND (b OR", 9, "after OR");
    assert_err("a AND (b", 6, "unclosed '('");
    assert_err("a)", 1, "unexpected ')'");
    assert_err("()", 0, "empty group");
    assert_err("a \"bc", 2, "unclosed '\"'");
    assert_err("a AND", 2, "after AND");
    assert_err("a OR", 2, "after OR");
    assert_err("AND a", 0, "unexpected AND");
    assert_err("a OR OR b", 5, "unexpected OR");
    assert_err("a (AND b)", 3, "unexpected AND");
    assert_err("a -", 2, "after the operator");
    assert_err("--a", 1, "only one");
    assert_err("NOT -a", 4, "only one");
    assert_err("title:", 0, "after 'title:'");
    assert_err("title:  ", 0, "after 'title:'");
    assert_err("(title:)", 1, "after 'title:'");
    assert_err("a:b:c", 3, "':'");
    assert_err(":a", 0, "unexpected ':'");
    assert_err("a ^2", 2, "unexpected '^'");
    assert_err("a^", 1, "number after '^'");
    assert_err("a^x", 1, "number after '^'");
    assert_err("a^1.2.3", 1, "number after '^'");
    assert_err("a^2^3", 3, "one boost");
    assert_err("a^2b", 3, "boost must be followed");
    assert_err("a^1e6", 3, "boost must be followed");
    assert_err("a^abc", 1, "number after '^'");
    assert_err("\"a b\"^2x", 7, "boost must be followed");
    assert_err("(a b)^3c", 7, "boost must be followed");
    assert_err("a^2(b)", 3, "boost must be followed");
    assert_err("a^2\"b\"", 3, "boost must be followed");
    assert_err("a^2+b", 3, "boost must be followed");
    assert_err("a^2:b", 3, "boost must be followed");
    assert_err("é^2é", 4, "boost must be followed"); // byte offsets
    assert_err("a~2", 1, "fuzzy");
    assert_err("\"a b\"~", 5, "slop");
    assert_err("\"a b\"~1.5", 5, "slop");
    assert_err("\"a b\"~99999999999", 5, "slop");
    assert_err("\"a b\"^2~1", 7, "before the boost");
    assert_err("(a)~2", 3, "several clauses");
    assert_err("a ~", 2, "unexpected '~'");
    assert_err("a*b", 1, "wildcards");
    assert_err("ab?", 2, "wildcards");
    assert_err("*ab", 0, "wildcards");
    assert_err("a**", 1, "wildcards");
    assert_err("f*:x", 1, "field name");
    assert_err("*:a", 2, "'*:*'");
    assert_err("*:", 2, "'*:*'");
    assert_err("a\\", 1, "escapes nothing");
    assert_err("[1 TO 5", 0, "unclosed range");
    assert_err("[1 TO", 0, "unclosed range");
    assert_err("[1", 0, "unclosed range");
    assert_err("ts:[1 5]", 6, "'TO'");
    assert_err("ts:[1 TO 5 6]", 11, "']' or '}'");
    assert_err("ts:[ TO 5]", 8, "'TO'"); // "TO" is taken as the lower bound
    assert_err("[1 TO ]", 6, "range bound");
    assert_err("[1 TO 2]~3", 8, "unexpected '~'");
    assert_err("ts:>", 3, "value after");
    assert_err("ts:> 5", 3, "value after");
    assert_err("ts:>a*", 4, "wildcards");
    assert_err("]", 0, "unexpected ']'");
    assert_err("a }", 2, "unexpected '}'");
    assert_err("é)", 2, "unexpected ')'"); // byte offsets
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn display_is_reparseable() {
    for q in [
        "a",
        "+a -b c",
        "a AND b OR c",
        "title:\"x \\\" y\"~3^2",
        "ts:[1 TO 5} ts:{* TO 9]",
        "pre* title:* *:*",
        "(a b c)~2 -(d e)",
        "a\\:b my\\ field:x \\AND \\-x",
        "(a^2)^0.25",
        "ts:>=5 ts:<\"a b\"",
    ] {
        let ast = p(q);
        let shown = ast.to_string();
        assert_eq!(parse_query(&shown), Ok(ast), "{q:?} displayed as {shown:?}");
    }
    assert_eq!(p("a AND b OR c").to_string(), "(+a +b) c");
    assert_eq!(p("ts:[1 TO *]").to_string(), "ts:[1 TO *]");
}

fn nested(depth: usize) -> String {
    format!("{}a{}", "(".repeat(depth), ")".repeat(depth))
}

#[test]
fn nesting_depth_limit() {
    assert_eq!(QueryParser::new().max_depth(), DEFAULT_MAX_DEPTH);
    assert_eq!(p(&nested(DEFAULT_MAX_DEPTH)), t("a"));
    let e = err(&nested(DEFAULT_MAX_DEPTH + 1));
    assert_eq!(e.position, DEFAULT_MAX_DEPTH);
    assert!(e.message.contains("nested"));
    // Far deeper input fails fast instead of overflowing the stack, also unbalanced.
    assert!(parse_query(&"(".repeat(1_000_000)).is_err());
    assert!(parse_query(&nested(100_000)).is_err());
    assert!(parse_query(&"(a AND ".repeat(10_000)).is_err());
    let shallow = QueryParser::new().with_max_depth(2);
    assert!(shallow.parse("((a))").is_ok());
    assert_eq!(shallow.parse("(((a)))").unwrap_err().position, 2);
    // Long flat queries are fine (no recursion per clause).
    let long = vec!["x"; 100_000].join(" AND ");
    assert!(parse_query(&long).is_ok());
    let long = vec!["-x"; 100_000].join(" ");
    assert!(parse_query(&long).is_ok());
}

#[test]
fn nesting_at_limit_on_a_small_stack() {
    // 64 levels (with a field group at every other level) fit in 1 MiB of stack even
    // unoptimised (about 11 KiB a level there, about 3 KiB optimised).
    let q = format!("{}a{}", "title:(b AND (".repeat(32), "))".repeat(32));
    std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(move || {
            parse_query(&q).unwrap();
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn error_display() {
    let e = err("a)");
    assert_eq!(
        e.to_string(),
        "query parse error at byte 1: unexpected ')' without a matching '('"
    );
}
