//! Parses Lucene-style query strings into a [`QueryAst`].
//!
//! The parser only understands the *syntax*: the text of terms, phrases and range bounds is
//! returned raw (escapes removed, nothing lowercased or split). The engine later runs each
//! field's [`Analyzer`](crate::analysis::Analyzer) over it, e.g. turning a term that analyzes
//! to several tokens into a phrase.
//!
//! # Syntax
//!
//! | syntax | meaning | AST |
//! |---|---|---|
//! | `word` | a term in the default field(s) | [`QueryAst::Term`] with `field: None` |
//! | `title:word` | a term in field `title` | [`QueryAst::Term`] |
//! | `"a phrase"`, `title:"a phrase"` | terms at consecutive positions | [`QueryAst::Phrase`] |
//! | `"a phrase"~2` | phrase with slop 2 | [`QueryAst::Phrase`] |
//! | `pre*` | prefix query (only a *trailing* `*` is supported) | [`QueryAst::Prefix`] |
//! | `title:*` | any term in `title` (field exists) | [`QueryAst::Prefix`] with an empty prefix |
//! | `*:*` (or a bare `*`) | every document | [`QueryAst::MatchAll`] |
//! | `ts:[1 TO 5]`, `ts:{1 TO 5}`, `ts:[1 TO 5}` | range, `[`/`]` inclusive, `{`/`}` exclusive | [`QueryAst::Range`] |
//! | `ts:[* TO 5]`, `ts:[1 TO *]` | open-ended range | [`QueryAst::Range`] with [`Bound::Unbounded`] |
//! | `ts:>5`, `ts:>=5`, `ts:<5`, `ts:<=5` | one-sided range | [`QueryAst::Range`] |
//! | `+a`, `-a`, `!a`, `NOT a` | required / prohibited clause | [`Occur::Must`] / [`Occur::MustNot`] |
//! | `a AND b`, `a && b` | both | [`QueryAst::Boolean`] of [`Occur::Must`] |
//! | `a OR b`, `a \|\| b` | either | [`QueryAst::Boolean`] of [`Occur::Should`] |
//! | `a b` | the default operator ([`Operator::Or`] like Lucene, or [`Operator::And`]) | [`QueryAst::Boolean`] |
//! | `(a b)`, `title:(a b)` | grouping; a field before a group applies to every clause in it | |
//! | `(a b c)~2` | at least 2 of the optional clauses must match | `minimum_should_match: Some(2)` |
//! | `a^2`, `"a b"^0.5`, `(a b)^3` | boost (ends at whitespace, `)` or the end: `a^2b` is an error) | [`QueryAst::Boost`] |
//! | `\(`, `\:`, `\ `, `"say \"hi\""` | escaping with backslash, also inside quotes | |
//!
//! Precedence, loosest first: juxtaposition (default operator) < `OR` < `AND` < prefix
//! operators (`+ - ! NOT`) < field, boost and suffixes. So `a AND b OR c` is
//! `(a AND b) OR c`, and with the default operator OR, `a b AND c` is `a OR (b AND c)`.
//! `AND`, `OR`, `NOT` and `TO` are keywords only in upper case. A `-` or `+` inside a word
//! is part of it (`dash-word` is one term, which the analyzer may split). A query of only
//! prohibited clauses (`-a`) is returned as such; like Lucene, it matches nothing unless
//! the engine adds a [`QueryAst::MatchAll`].
//!
//! Not supported (reported as errors): wildcards other than one trailing `*`, `?`, fuzzy
//! terms (`word~1`). Parsing never panics; errors carry the byte offset of the problem.
//! Parentheses may nest at most [`QueryParser::max_depth`] levels ([`DEFAULT_MAX_DEPTH`]).
//!
//! ```
//! use std::ops::Bound;
//! use lucerna::query_parser::{Occur, QueryAst, QueryParser};
//!
//! let ast = QueryParser::new().parse(r#"+title:"hello world"~1 -ts:[* TO 5}"#).unwrap();
//! assert_eq!(
//!     ast,
//!     QueryAst::Boolean {
//!         clauses: vec![
//!             (Occur::Must, QueryAst::Phrase {
//!                 field: Some("title".into()),
//!                 text: "hello world".into(),
//!                 slop: 1,
//!             }),
//!             (Occur::MustNot, QueryAst::Range {
//!                 field: Some("ts".into()),
//!                 lower: Bound::Unbounded,
//!                 upper: Bound::Excluded("5".into()),
//!             }),
//!         ],
//!         minimum_should_match: None,
//!     }
//! );
//! // The AST prints back as a query string that parses to the same AST.
//! assert_eq!(ast.to_string(), r#"+title:"hello world"~1 -ts:[* TO 5}"#);
//!
//! let err = QueryParser::new().parse("a AND (b OR c").unwrap_err();
//! assert_eq!(err.position, 6);
//! ```

use std::fmt;
use std::ops::Bound;

/// How a clause of a [`QueryAst::Boolean`] takes part in matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Occur {
    /// The clause must match (`+a`, `a AND b`); it contributes to the score.
    Must,
    /// The clause may match (`a OR b`); it contributes to the score when it does. A boolean
    /// query with no `Must` clause needs at least one `Should` clause to match (or
    /// `minimum_should_match` of them).
    Should,
    /// The clause must not match (`-a`, `NOT a`).
    MustNot,
}

/// How clauses written side by side without `AND`/`OR` are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Operator {
    /// `a b` means `a OR b` (Lucene's default).
    #[default]
    Or,
    /// `a b` means `a AND b`.
    And,
}

/// A parsed query: syntax only, with raw (unanalyzed) text.
///
/// `field: None` means "the default field(s)", chosen by the engine. [`fmt::Display`]
/// prints a query string that parses (with the default operator [`Operator::Or`]) back to
/// an equal AST, for every AST the parser produces.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryAst {
    /// A single term, e.g. `word` or `title:word`.
    Term {
        /// Field name, or `None` for the default field(s).
        field: Option<String>,
        /// Raw term text (escapes removed, not analyzed).
        text: String,
    },
    /// A phrase, e.g. `"hello world"~2`.
    Phrase {
        /// Field name, or `None` for the default field(s).
        field: Option<String>,
        /// Raw text between the quotes (escapes removed, not analyzed).
        text: String,
        /// How many positions the terms may be moved (0 = exact phrase).
        slop: u32,
    },
    /// Terms starting with a prefix, e.g. `pre*`; an empty prefix (`title:*`) matches every
    /// document that has a term in the field.
    Prefix {
        /// Field name, or `None` for the default field(s).
        field: Option<String>,
        /// Raw prefix (escapes removed, not analyzed), without the `*`.
        prefix: String,
    },
    /// A range of terms or numbers, e.g. `ts:[1 TO 5}`.
    Range {
        /// Field name, or `None` for the default field(s).
        field: Option<String>,
        /// Lower bound (raw text); `Unbounded` for `*`.
        lower: Bound<String>,
        /// Upper bound (raw text); `Unbounded` for `*`.
        upper: Bound<String>,
    },
    /// Every document (`*:*`).
    MatchAll,
    /// A combination of clauses.
    Boolean {
        /// The clauses with how each one occurs.
        clauses: Vec<(Occur, QueryAst)>,
        /// How many `Should` clauses must match at least (`(a b c)~2`); `None` = the
        /// default (at least one when there is no `Must` clause, else none).
        minimum_should_match: Option<u32>,
    },
    /// A query whose score is multiplied by a factor (`a^2`).
    Boost(Box<QueryAst>, f32),
}

/// Why a query string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("query parse error at byte {position}: {message}")]
pub struct QueryParseError {
    /// Byte offset in the query string where the problem is (at most its length).
    pub position: usize,
    /// What is wrong, for humans.
    pub message: String,
}

/// Default limit on how deeply parentheses may nest.
pub const DEFAULT_MAX_DEPTH: usize = 64;

/// A configured query parser. Cheap to copy; parsing is `&self`.
///
/// ```
/// use lucerna::query_parser::{Occur, Operator, QueryAst, QueryParser};
///
/// let term = |t: &str| QueryAst::Term { field: None, text: t.into() };
/// let parser = QueryParser::new().with_default_operator(Operator::And);
/// assert_eq!(
///     parser.parse("a b").unwrap(),
///     QueryAst::Boolean {
///         clauses: vec![(Occur::Must, term("a")), (Occur::Must, term("b"))],
///         minimum_should_match: None,
///     }
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QueryParser {
    default_operator: Operator,
    max_depth: usize,
}

impl Default for QueryParser {
    fn default() -> Self {
        Self::new()
    }
}

impl QueryParser {
    /// A parser with default operator [`Operator::Or`] and nesting limit
    /// [`DEFAULT_MAX_DEPTH`].
    pub const fn new() -> Self {
        Self {
            default_operator: Operator::Or,
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }

    /// Sets how clauses written side by side are combined.
    pub const fn with_default_operator(mut self, operator: Operator) -> Self {
        self.default_operator = operator;
        self
    }

    /// Sets how deeply parentheses may nest (deeper input is an error, never a stack
    /// overflow). Each level costs about 3 KiB of stack in optimised builds and about
    /// 11 KiB unoptimised, so the default of 64 fits well in a 2 MiB thread stack.
    pub const fn with_max_depth(mut self, max_depth: usize) -> Self {
        self.max_depth = max_depth;
        self
    }

    /// How clauses written side by side are combined.
    pub const fn default_operator(&self) -> Operator {
        self.default_operator
    }

    /// How deeply parentheses may nest.
    pub const fn max_depth(&self) -> usize {
        self.max_depth
    }

    /// Parses `query`. Never panics.
    pub fn parse(&self, query: &str) -> Result<QueryAst, QueryParseError> {
        Parser {
            src: query,
            pos: 0,
            depth: 0,
            max_depth: self.max_depth,
            operator: self.default_operator,
        }
        .parse_top()
    }
}

/// Parses `query` with the default [`QueryParser`].
pub fn parse_query(query: &str) -> Result<QueryAst, QueryParseError> {
    QueryParser::new().parse(query)
}

type PResult<T> = Result<T, QueryParseError>;

/// A clause with the occurrence its prefix operator gave it (`None`: no operator).
struct Operand {
    occur: Option<Occur>,
    query: QueryAst,
}

/// A word as scanned: escapes removed, unescaped wildcards recorded.
struct Word {
    text: String,
    /// `(byte offset in the query, byte offset in text)` of each unescaped `*` or `?`.
    wildcards: Vec<(usize, usize)>,
}

impl Word {
    /// Exactly one unescaped `*` and nothing else.
    fn is_star(&self) -> bool {
        self.text == "*" && self.wildcards.len() == 1
    }
}

/// Characters that end a word (besides whitespace).
fn ends_word(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | ':' | '^' | '[' | ']' | '{' | '}' | '"' | '~')
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    depth: usize,
    max_depth: usize,
    operator: Operator,
}

#[cold]
#[inline(never)]
fn error<T>(position: usize, message: &str) -> PResult<T> {
    Err(QueryParseError {
        position,
        message: message.to_owned(),
    })
}

/// [`error`] with a formatted message; kept out of line so that the recursive descent
/// functions have small stack frames even in unoptimised builds.
#[cold]
#[inline(never)]
fn error_fmt<T>(position: usize, message: fmt::Arguments<'_>) -> PResult<T> {
    Err(QueryParseError {
        position,
        message: message.to_string(),
    })
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if !c.is_whitespace() {
                break;
            }
            self.pos += c.len_utf8();
        }
    }

    /// At the end of the input or of a group.
    fn at_operand_end(&self) -> bool {
        matches!(self.peek(), None | Some(')'))
    }

    /// Whether the upper-case keyword `kw` stands at the cursor as a word of its own.
    fn at_keyword(&self, kw: &str) -> bool {
        let rest = self.rest();
        rest.starts_with(kw)
            && match rest[kw.len()..].chars().next() {
                None => true,
                Some(c) => c.is_whitespace() || matches!(c, '(' | ')' | '"'),
            }
    }

    /// Consumes an `OR`/`||` (or `AND`/`&&`) operator if one is at the cursor.
    fn eat_binary(&mut self, word: &str, symbol: &str) -> bool {
        if self.at_keyword(word) {
            self.pos += word.len();
            true
        } else if self.rest().starts_with(symbol) {
            self.pos += symbol.len();
            true
        } else {
            false
        }
    }

    fn at_binary(&self) -> bool {
        self.at_keyword("AND")
            || self.at_keyword("OR")
            || self.rest().starts_with("&&")
            || self.rest().starts_with("||")
    }

    fn parse_top(&mut self) -> PResult<QueryAst> {
        self.skip_ws();
        if self.peek().is_none() {
            return error(0, "empty query");
        }
        let query = self.parse_seq(None)?;
        if self.peek() == Some(')') {
            return error(self.pos, "unexpected ')' without a matching '('");
        }
        match query {
            Some(q) => Ok(q),
            None => error(self.pos, "expected a query"),
        }
    }

    /// Clauses side by side, up to the end of the input or a `)` (not consumed).
    fn parse_seq(&mut self, field: Option<&str>) -> PResult<Option<QueryAst>> {
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            if self.at_operand_end() {
                break;
            }
            items.push(self.parse_or(field)?);
        }
        Ok(if items.is_empty() {
            None
        } else {
            Some(combine(items, self.operator))
        })
    }

    fn parse_or(&mut self, field: Option<&str>) -> PResult<Operand> {
        let first = self.parse_and(field)?;
        let mut operands = vec![first];
        loop {
            self.skip_ws();
            let op_pos = self.pos;
            if !self.eat_binary("OR", "||") {
                break;
            }
            self.skip_ws();
            if self.at_operand_end() {
                return error(op_pos, "expected a query after OR");
            }
            operands.push(self.parse_and(field)?);
        }
        Ok(if operands.len() == 1 {
            operands.pop().expect("one operand")
        } else {
            Operand {
                occur: None,
                query: combine(operands, Operator::Or),
            }
        })
    }

    fn parse_and(&mut self, field: Option<&str>) -> PResult<Operand> {
        let first = self.parse_unary(field)?;
        let mut operands = vec![first];
        loop {
            self.skip_ws();
            let op_pos = self.pos;
            if !self.eat_binary("AND", "&&") {
                break;
            }
            self.skip_ws();
            if self.at_operand_end() {
                return error(op_pos, "expected a query after AND");
            }
            operands.push(self.parse_unary(field)?);
        }
        Ok(if operands.len() == 1 {
            operands.pop().expect("one operand")
        } else {
            Operand {
                occur: None,
                query: combine(operands, Operator::And),
            }
        })
    }

    /// A clause with an optional prefix operator (`+`, `-`, `!`, `NOT`).
    fn parse_unary(&mut self, field: Option<&str>) -> PResult<Operand> {
        self.skip_ws();
        let op_pos = self.pos;
        let occur = match self.peek() {
            Some('+') => {
                self.pos += 1;
                Some(Occur::Must)
            }
            Some('-') | Some('!') => {
                self.pos += 1;
                Some(Occur::MustNot)
            }
            _ if self.at_keyword("NOT") => {
                self.pos += 3;
                Some(Occur::MustNot)
            }
            _ => None,
        };
        if occur.is_some() {
            self.skip_ws();
            if self.at_operand_end() {
                return error(op_pos, "expected a query after the operator");
            }
            if matches!(self.peek(), Some('+' | '-' | '!')) || self.at_keyword("NOT") {
                return error(
                    self.pos,
                    "only one of '+', '-', '!', NOT may precede a clause",
                );
            }
        }
        if self.at_binary() {
            let op = if self.rest().starts_with('A') || self.rest().starts_with('&') {
                "AND"
            } else {
                "OR"
            };
            return error_fmt(
                self.pos,
                format_args!("unexpected {op}: expected a query before it"),
            );
        }
        let query = self.parse_clause(field, true)?;
        Ok(Operand { occur, query })
    }

    /// `[field:]primary[~N][^boost]`.
    fn parse_clause(&mut self, field: Option<&str>, allow_field: bool) -> PResult<QueryAst> {
        self.skip_ws();
        let start = self.pos;
        let query = match self.peek() {
            None => return error(start, "expected a query"),
            Some('(') => self.parse_group(field)?,
            Some('"') => {
                let text = self.parse_quoted()?;
                let slop = if self.peek() == Some('~') {
                    self.parse_tilde_number("phrase slop")?
                } else {
                    0
                };
                QueryAst::Phrase {
                    field: field.map(str::to_owned),
                    text,
                    slop,
                }
            }
            Some('[' | '{') => self.parse_range(field)?,
            Some('>' | '<') => self.parse_comparison(field)?,
            Some(c) if ends_word(c) => return error_fmt(start, format_args!("unexpected '{c}'")),
            Some(_) => {
                let word = self.scan_word()?;
                if self.peek() == Some(':') {
                    return self.parse_field_clause(word, start, allow_field);
                }
                word_query(word, field)?
            }
        };
        self.parse_suffixes(query)
    }

    /// After `word` turned out to be a field name (the cursor is at the `:`).
    fn parse_field_clause(
        &mut self,
        name: Word,
        start: usize,
        allow_field: bool,
    ) -> PResult<QueryAst> {
        let colon = self.pos;
        if !allow_field {
            return error(
                colon,
                "unexpected ':' after a field name (escape it as '\\:')",
            );
        }
        self.pos += 1;
        if name.is_star() {
            // `*:*`
            self.skip_ws();
            let value_pos = self.pos;
            if self.peek().is_some_and(|c| !ends_word(c)) {
                let value = self.scan_word()?;
                if value.is_star() {
                    return self.parse_suffixes(QueryAst::MatchAll);
                }
            }
            return error(value_pos, "'*' as a field name is only allowed in '*:*'");
        }
        if let Some(&(pos, _)) = name.wildcards.first() {
            return error(pos, "a field name cannot contain wildcards");
        }
        self.skip_ws();
        if self.at_operand_end() {
            return error_fmt(
                start,
                format_args!("expected a query after '{}:'", name.text),
            );
        }
        self.parse_clause(Some(&name.text), false)
    }

    /// `~` (an error on anything but phrases and groups, handled before) and `^boost`.
    fn parse_suffixes(&mut self, mut query: QueryAst) -> PResult<QueryAst> {
        if self.peek() == Some('~') {
            let msg = match query {
                QueryAst::Term { .. } | QueryAst::Prefix { .. } => {
                    "fuzzy queries ('~' after a term) are not supported"
                }
                _ => "unexpected '~'",
            };
            return error(self.pos, msg);
        }
        if self.peek() == Some('^') {
            let caret = self.pos;
            self.pos += 1;
            let digits = self.scan_number();
            let boost: f32 = match digits.parse() {
                Ok(b) if f32::is_finite(b) => b,
                _ => return error(caret, "expected a non-negative number after '^'"),
            };
            query = QueryAst::Boost(Box::new(query), boost);
            match self.peek() {
                Some('^') => return error(self.pos, "a clause takes only one boost"),
                Some('~') => return error(self.pos, "'~' must come before the boost"),
                // `a^2b` is not `a^2 b`, nor `a^1e6` a boost of 1 and a term
                // `e6`: a boost ends at a separator.
                Some(c) if !(c.is_whitespace() || c == ')') => {
                    return error(
                        self.pos,
                        "a boost must be followed by a space, ')' or the end of the query",
                    )
                }
                _ => {}
            }
        }
        Ok(query)
    }

    /// Digits and dots at the cursor.
    fn scan_number(&mut self) -> &str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if !(c.is_ascii_digit() || c == '.') {
                break;
            }
            self.pos += 1;
        }
        &self.src[start..self.pos]
    }

    /// `~N` at the cursor: a non-negative integer.
    fn parse_tilde_number(&mut self, what: &str) -> PResult<u32> {
        let tilde = self.pos;
        self.pos += 1;
        let digits = self.scan_number();
        match digits.parse::<u32>() {
            Ok(n) => Ok(n),
            Err(_) => error_fmt(
                tilde,
                format_args!("expected a non-negative integer {what} after '~'"),
            ),
        }
    }

    /// `( ... )` with an optional `~N` (minimum should match).
    fn parse_group(&mut self, field: Option<&str>) -> PResult<QueryAst> {
        let open = self.pos;
        if self.depth >= self.max_depth {
            return error_fmt(
                open,
                format_args!("parentheses nested deeper than {} levels", self.max_depth),
            );
        }
        self.pos += 1;
        self.depth += 1;
        let inner = self.parse_seq(field)?;
        self.depth -= 1;
        if self.bump() != Some(')') {
            return error(open, "unclosed '('");
        }
        let Some(mut query) = inner else {
            return error(open, "empty group '()'");
        };
        if self.peek() == Some('~') {
            let tilde = self.pos;
            let n = self.parse_tilde_number("minimum number of matching clauses")?;
            match &mut query {
                QueryAst::Boolean {
                    minimum_should_match,
                    ..
                } => *minimum_should_match = Some(n),
                _ => return error(tilde, "'~N' after a group needs a group of several clauses"),
            }
        }
        Ok(query)
    }

    /// A quoted string at the cursor (on `"`), escapes removed.
    fn parse_quoted(&mut self) -> PResult<String> {
        let open = self.pos;
        self.pos += 1;
        let mut text = String::new();
        loop {
            match self.bump() {
                None => return error(open, "unclosed '\"'"),
                Some('"') => return Ok(text),
                Some('\\') => match self.bump() {
                    None => return error(open, "unclosed '\"'"),
                    Some(c) => text.push(c),
                },
                Some(c) => text.push(c),
            }
        }
    }

    /// A word at the cursor: up to whitespace or a special character; `\` escapes.
    fn scan_word(&mut self) -> PResult<Word> {
        let mut text = String::new();
        let mut wildcards = Vec::new();
        while let Some(c) = self.peek() {
            if ends_word(c) {
                break;
            }
            if c == '\\' {
                let backslash = self.pos;
                self.pos += 1;
                match self.bump() {
                    None => {
                        return error(backslash, "'\\' at the end of the query escapes nothing")
                    }
                    Some(e) => text.push(e),
                }
                continue;
            }
            if c == '*' || c == '?' {
                wildcards.push((self.pos, text.len()));
            }
            text.push(c);
            self.pos += c.len_utf8();
        }
        Ok(Word { text, wildcards })
    }

    /// `[lower TO upper]` with `[`/`{` and `]`/`}`.
    fn parse_range(&mut self, field: Option<&str>) -> PResult<QueryAst> {
        let open = self.pos;
        let lower_inclusive = self.bump() == Some('[');
        self.skip_ws();
        let lower = self.parse_range_bound(open)?;
        self.skip_ws();
        if !self.at_keyword("TO") {
            if self.peek().is_none() {
                return error(open, "unclosed range");
            }
            return error(self.pos, "expected 'TO' in range");
        }
        self.pos += 2;
        self.skip_ws();
        let upper = self.parse_range_bound(open)?;
        self.skip_ws();
        let upper_inclusive = match self.peek() {
            Some(']') => true,
            Some('}') => false,
            None => return error(open, "unclosed range"),
            Some(_) => return error(self.pos, "expected ']' or '}' to close the range"),
        };
        self.pos += 1;
        let bound = |value: Option<String>, inclusive: bool| match value {
            None => Bound::Unbounded,
            Some(v) if inclusive => Bound::Included(v),
            Some(v) => Bound::Excluded(v),
        };
        Ok(QueryAst::Range {
            field: field.map(str::to_owned),
            lower: bound(lower, lower_inclusive),
            upper: bound(upper, upper_inclusive),
        })
    }

    /// One bound of a range: a quoted string, `*` (`None`), or any characters up to
    /// whitespace, `]` or `}` (`\` escapes).
    fn parse_range_bound(&mut self, open: usize) -> PResult<Option<String>> {
        match self.peek() {
            None => return error(open, "unclosed range"),
            Some('"') => return self.parse_quoted().map(Some),
            _ => {}
        }
        let start = self.pos;
        let mut text = String::new();
        while let Some(c) = self.peek() {
            if c.is_whitespace() || c == ']' || c == '}' {
                break;
            }
            self.pos += c.len_utf8();
            if c == '\\' {
                match self.bump() {
                    None => {
                        return error(self.pos - 1, "'\\' at the end of the query escapes nothing")
                    }
                    Some(e) => text.push(e),
                }
            } else {
                text.push(c);
            }
        }
        if self.pos == start {
            return error(start, "expected a range bound (a value or '*')");
        }
        Ok(if &self.src[start..self.pos] == "*" {
            None
        } else {
            Some(text)
        })
    }

    /// `>v`, `>=v`, `<v`, `<=v`.
    fn parse_comparison(&mut self, field: Option<&str>) -> PResult<QueryAst> {
        let start = self.pos;
        let greater = self.bump() == Some('>');
        let inclusive = if self.peek() == Some('=') {
            self.pos += 1;
            true
        } else {
            false
        };
        let value = match self.peek() {
            Some('"') => self.parse_quoted()?,
            Some(c) if !ends_word(c) => {
                let value_pos = self.pos;
                let word = self.scan_word()?;
                if !word.wildcards.is_empty() {
                    return error(value_pos, "a comparison value cannot contain wildcards");
                }
                word.text
            }
            _ => return error(start, "expected a value after the comparison operator"),
        };
        let bound = if inclusive {
            Bound::Included(value)
        } else {
            Bound::Excluded(value)
        };
        let (lower, upper) = if greater {
            (bound, Bound::Unbounded)
        } else {
            (Bound::Unbounded, bound)
        };
        Ok(QueryAst::Range {
            field: field.map(str::to_owned),
            lower,
            upper,
        })
    }
}

/// Term, prefix or match-all from a scanned word.
fn word_query(word: Word, field: Option<&str>) -> PResult<QueryAst> {
    let field = field.map(str::to_owned);
    if word.wildcards.is_empty() {
        return Ok(QueryAst::Term {
            field,
            text: word.text,
        });
    }
    if word.is_star() {
        return Ok(match field {
            None => QueryAst::MatchAll,
            Some(field) => QueryAst::Prefix {
                field: Some(field),
                prefix: String::new(),
            },
        });
    }
    let is_trailing_star =
        |at: usize| at + 1 == word.text.len() && word.text.as_bytes()[at] == b'*';
    if let [(_, at)] = word.wildcards[..] {
        if is_trailing_star(at) {
            let mut prefix = word.text;
            prefix.pop();
            return Ok(QueryAst::Prefix { field, prefix });
        }
    }
    let bad = word
        .wildcards
        .iter()
        .find(|&&(_, at)| !is_trailing_star(at))
        .map_or(word.wildcards[0].0, |&(pos, _)| pos);
    error(
        bad,
        "wildcards are not supported except one trailing '*' (escape with '\\')",
    )
}

/// Combines operands with `operator` for those without a prefix operator.
fn combine(mut items: Vec<Operand>, operator: Operator) -> QueryAst {
    if items.len() == 1 {
        let item = items.pop().expect("one item");
        return match item.occur {
            Some(Occur::MustNot) => QueryAst::Boolean {
                clauses: vec![(Occur::MustNot, item.query)],
                minimum_should_match: None,
            },
            _ => item.query,
        };
    }
    let default = match operator {
        Operator::And => Occur::Must,
        Operator::Or => Occur::Should,
    };
    QueryAst::Boolean {
        clauses: items
            .into_iter()
            .map(|item| (item.occur.unwrap_or(default), item.query))
            .collect(),
        minimum_should_match: None,
    }
}

// ---------------------------------------------------------------------------------------
// Display: a query string that parses back to the same AST.

/// Writes `s` as a word, escaping everything the parser treats specially.
fn write_word(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    if matches!(s, "AND" | "OR" | "NOT") {
        f.write_str("\\")?;
    }
    for c in s.chars() {
        if ends_word(c)
            || matches!(
                c,
                '\\' | '*' | '?' | '+' | '-' | '!' | '&' | '|' | '<' | '>'
            )
        {
            write!(f, "\\{c}")?;
        } else {
            write!(f, "{c}")?;
        }
    }
    Ok(())
}

fn write_quoted(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        if c == '"' || c == '\\' {
            write!(f, "\\{c}")?;
        } else {
            write!(f, "{c}")?;
        }
    }
    f.write_str("\"")
}

fn write_field(f: &mut fmt::Formatter<'_>, field: &Option<String>) -> fmt::Result {
    if let Some(field) = field {
        write_word(f, field)?;
        f.write_str(":")?;
    }
    Ok(())
}

fn write_range_bound(f: &mut fmt::Formatter<'_>, value: Option<&String>) -> fmt::Result {
    let Some(value) = value else {
        return f.write_str("*");
    };
    if value.is_empty() {
        return f.write_str("\"\"");
    }
    for c in value.chars() {
        if c.is_whitespace() || matches!(c, '\\' | ']' | '}' | '[' | '{' | '"' | '*') {
            write!(f, "\\{c}")?;
        } else {
            write!(f, "{c}")?;
        }
    }
    Ok(())
}

impl QueryAst {
    fn fmt_inner(&self, f: &mut fmt::Formatter<'_>, top: bool) -> fmt::Result {
        match self {
            QueryAst::Term { field, text } => {
                write_field(f, field)?;
                write_word(f, text)
            }
            QueryAst::Phrase { field, text, slop } => {
                write_field(f, field)?;
                write_quoted(f, text)?;
                if *slop > 0 {
                    write!(f, "~{slop}")?;
                }
                Ok(())
            }
            QueryAst::Prefix { field, prefix } => {
                write_field(f, field)?;
                write_word(f, prefix)?;
                f.write_str("*")
            }
            QueryAst::Range {
                field,
                lower,
                upper,
            } => {
                write_field(f, field)?;
                let (open, lo) = match lower {
                    Bound::Included(v) => ("[", Some(v)),
                    Bound::Excluded(v) => ("{", Some(v)),
                    Bound::Unbounded => ("[", None),
                };
                let (close, hi) = match upper {
                    Bound::Included(v) => ("]", Some(v)),
                    Bound::Excluded(v) => ("}", Some(v)),
                    Bound::Unbounded => ("]", None),
                };
                f.write_str(open)?;
                write_range_bound(f, lo)?;
                f.write_str(" TO ")?;
                write_range_bound(f, hi)?;
                f.write_str(close)
            }
            QueryAst::MatchAll => f.write_str("*:*"),
            QueryAst::Boolean {
                clauses,
                minimum_should_match,
            } => {
                let parens = !top || minimum_should_match.is_some() || clauses.len() < 2;
                if parens {
                    f.write_str("(")?;
                }
                for (i, (occur, clause)) in clauses.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    match occur {
                        Occur::Must => f.write_str("+")?,
                        Occur::MustNot => f.write_str("-")?,
                        Occur::Should => {}
                    }
                    clause.fmt_inner(f, false)?;
                }
                if parens {
                    f.write_str(")")?;
                }
                if let Some(n) = minimum_should_match {
                    write!(f, "~{n}")?;
                }
                Ok(())
            }
            QueryAst::Boost(inner, boost) => {
                if matches!(**inner, QueryAst::Boost(..)) {
                    f.write_str("(")?;
                    inner.fmt_inner(f, false)?;
                    f.write_str(")")?;
                } else {
                    inner.fmt_inner(f, false)?;
                }
                write!(f, "^{boost}")
            }
        }
    }
}

impl fmt::Display for QueryAst {
    /// A query string for this AST (see [`QueryAst`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_inner(f, true)
    }
}
