//! [`Query`]: what to search for.

use crate::document::Value;
use crate::schema::Field;
use std::ops::Bound;

/// A query over one index.
///
/// Text in [`Query::Term`], [`Query::Phrase`] and [`Query::Prefix`] is
/// matched as given (already analyzed); the query parser and
/// [`Searcher::parse_query`](crate::Searcher::parse_query) run the field's
/// analyzer for you.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    /// Documents containing `term` in `field`; BM25.
    Term {
        /// The field.
        field: Field,
        /// The exact term.
        term: String,
    },
    /// Terms at the given positions (relative), within `slop`; BM25 on the
    /// phrase frequency.
    Phrase {
        /// The field.
        field: Field,
        /// (relative position, term) pairs.
        terms: Vec<(u32, String)>,
        /// Allowed displacement (0 = exact).
        slop: u32,
    },
    /// Documents with a term starting with `prefix`; constant score.
    Prefix {
        /// The field.
        field: Field,
        /// The prefix.
        prefix: String,
    },
    /// Numeric values within bounds; constant score.
    Range {
        /// A numeric field.
        field: Field,
        /// Lower bound.
        lower: Bound<Value>,
        /// Upper bound.
        upper: Bound<Value>,
    },
    /// Boolean combination; the score sums the matching scoring clauses.
    Boolean {
        /// Clauses every hit matches.
        must: Vec<Query>,
        /// Optional clauses; when there is no `must` clause, at least
        /// `max(1, minimum_should_match)` of them must match.
        should: Vec<Query>,
        /// Clauses no hit matches.
        must_not: Vec<Query>,
        /// Minimum number of `should` clauses that must match.
        minimum_should_match: usize,
    },
    /// Every live document; constant score 1.
    MatchAll,
    /// Multiplies the scores of the inner query.
    Boost(Box<Query>, f32),
}

impl Query {
    /// A term query.
    pub fn term(field: Field, term: impl Into<String>) -> Query {
        Query::Term {
            field,
            term: term.into(),
        }
    }

    /// An exact phrase of consecutive terms.
    pub fn phrase<S: Into<String>>(field: Field, terms: impl IntoIterator<Item = S>) -> Query {
        Query::Phrase {
            field,
            terms: terms
                .into_iter()
                .enumerate()
                .map(|(i, t)| (i as u32, t.into()))
                .collect(),
            slop: 0,
        }
    }

    /// All of `qs` must match.
    pub fn and(qs: impl IntoIterator<Item = Query>) -> Query {
        Query::Boolean {
            must: qs.into_iter().collect(),
            should: Vec::new(),
            must_not: Vec::new(),
            minimum_should_match: 0,
        }
    }

    /// Any of `qs` matches.
    pub fn or(qs: impl IntoIterator<Item = Query>) -> Query {
        Query::Boolean {
            must: Vec::new(),
            should: qs.into_iter().collect(),
            must_not: Vec::new(),
            minimum_should_match: 0,
        }
    }

    /// The query for analyzed `tokens` of one text field (positions
    /// relative to the first, as
    /// [`Analyzer::relative_tokens`](crate::analysis::Analyzer::relative_tokens)
    /// gives them): nothing for no token, a term for one, a phrase with
    /// `slop` for several.
    pub fn from_tokens(field: Field, mut tokens: Vec<(u32, String)>, slop: u32) -> Query {
        match tokens.len() {
            0 => Query::or(Vec::new()),
            1 => Query::Term {
                field,
                term: tokens.pop().map(|t| t.1).unwrap_or_default(),
            },
            _ => Query::Phrase {
                field,
                terms: tokens,
                slop,
            },
        }
    }
}
