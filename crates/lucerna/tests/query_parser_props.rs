//! Property tests: the parser never panics, errors point inside the input, and every
//! parsed AST prints back to a string that parses to the same AST.

use lucerna::query_parser::{parse_query, Operator, QueryAst, QueryParser};
use proptest::prelude::*;

/// Characters a query string is made of, weighted towards the special ones.
fn query_char() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[a-c]",
        4 => Just(" ".to_string()),
        8 => prop::sample::select(vec![
            "(", ")", ":", "+", "-", "!", "^", "~", "*", "?", "\"", "\\", "[", "]", "{", "}",
            "<", ">", "=", "&", "|", "/", ".", "1", "2", "0",
        ])
        .prop_map(str::to_string),
        3 => prop::sample::select(vec![
            "AND", "OR", "NOT", "TO", "&&", "||", "*:*", "f:", "ts:", " TO ", "\\\"", "~2", "^2",
        ])
        .prop_map(str::to_string),
        1 => prop::sample::select(vec!["é", "İ", "😀", "\t", "\u{3000}"]).prop_map(str::to_string),
        1 => any::<char>().prop_map(String::from),
    ]
}

fn query_ish() -> impl Strategy<Value = String> {
    prop::collection::vec(query_char(), 0..40).prop_map(|v| v.concat())
}

/// Mostly well-formed queries built from valid pieces.
fn well_formed() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        "[a-z]{1,6}",
        "[a-z]{1,4}:[a-z0-9]{1,4}",
        "\"[a-z ]{0,10}\"(~[0-9])?",
        "[a-z]{1,5}\\*",
        "ts:[\\[{]([0-9]{1,3}|\\*) TO ([0-9]{1,3}|\\*)[\\]}]",
        "ts:(>|>=|<|<=)[0-9]{1,3}",
        Just("*:*".to_string()),
        "[a-z]{1,3}\\\\[:() ][a-z]{1,3}",
    ];
    let boosted = (
        leaf,
        prop::option::of(prop::sample::select(vec!["^2", "^0.5", "^10"])),
    )
        .prop_map(|(l, b)| format!("{l}{}", b.unwrap_or("")));
    let unit = (
        prop::sample::select(vec!["", "", "+", "-", "NOT "]),
        boosted,
    )
        .prop_map(|(m, l)| format!("{m}{l}"));
    unit.prop_recursive(4, 32, 4, |inner| {
        (
            prop::collection::vec(
                (
                    inner,
                    prop::sample::select(vec![" ", " AND ", " OR ", " && "]),
                ),
                1..4,
            ),
            prop::sample::select(vec!["", "f:"]),
            prop::option::of(prop::sample::select(vec!["~1", "^3"])),
        )
            .prop_map(|(parts, field, suffix)| {
                let body: String = parts
                    .iter()
                    .enumerate()
                    .map(|(i, (q, op))| {
                        if i == 0 {
                            q.clone()
                        } else {
                            format!("{op}{q}")
                        }
                    })
                    .collect();
                // `~N` needs a group of several clauses.
                let suffix = suffix.filter(|s| parts.len() > 1 || s.starts_with('^'));
                format!("{field}({body}){}", suffix.unwrap_or(""))
            })
    })
}

fn check(query: &str) -> Result<(), TestCaseError> {
    for parser in [
        QueryParser::new(),
        QueryParser::new()
            .with_default_operator(Operator::And)
            .with_max_depth(3),
    ] {
        match parser.parse(query) {
            Err(e) => {
                prop_assert!(e.position <= query.len(), "{query:?}: {e}");
                prop_assert!(query.is_char_boundary(e.position), "{query:?}: {e}");
                prop_assert!(!e.message.is_empty());
            }
            Ok(ast) => {
                if parser.default_operator() == Operator::Or {
                    round_trip(query, &ast)?;
                }
            }
        }
    }
    Ok(())
}

fn round_trip(query: &str, ast: &QueryAst) -> Result<(), TestCaseError> {
    let shown = ast.to_string();
    let again = parse_query(&shown);
    prop_assert_eq!(
        again.as_ref(),
        Ok(ast),
        "{:?} displayed as {:?}",
        query,
        shown
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn never_panics_on_query_ish_strings(query in query_ish()) {
        check(&query)?;
    }

    #[test]
    fn never_panics_on_arbitrary_strings(query in any::<String>()) {
        check(&query)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    #[test]
    fn well_formed_queries_parse_and_round_trip(query in well_formed()) {
        let ast = parse_query(&query);
        prop_assert!(ast.is_ok(), "{:?}: {:?}", query, ast);
        round_trip(&query, &ast.unwrap())?;
    }
}
