//! Turning query strings into [`Query`]s: the query-string parser gives the
//! syntax, this module resolves field names and runs each field's analysis.

use crate::analysis::Analyzer;
use crate::document::Value;
use crate::error::{Error, Result};
use crate::query_parser::{Occur, QueryAst, QueryParser};
use crate::schema::{Field, FieldType, NumericKind, Schema};
use crate::search::query::Query;
use std::ops::Bound;

/// Resolves parsed query syntax against a schema and an analyzer.
pub struct QueryBuilder<'a> {
    schema: &'a Schema,
    analyzer: &'a dyn Analyzer,
    default_fields: Vec<Field>,
}

impl<'a> QueryBuilder<'a> {
    /// Default fields: every text field.
    pub fn new(schema: &'a Schema, analyzer: &'a dyn Analyzer) -> Self {
        let default_fields = schema
            .fields()
            .filter(|(_, e)| matches!(e.field_type, FieldType::Text { .. }))
            .map(|(f, _)| f)
            .collect();
        QueryBuilder {
            schema,
            analyzer,
            default_fields,
        }
    }

    /// Sets the fields searched when a clause names none.
    pub fn default_fields(mut self, fields: Vec<Field>) -> Self {
        self.default_fields = fields;
        self
    }

    /// Parses `text` with `parser` and builds the query.
    pub fn parse(&self, parser: &QueryParser, text: &str) -> Result<Query> {
        let ast = parser.parse(text)?;
        self.build(&ast)
    }

    fn fields(&self, name: &Option<String>) -> Result<Vec<Field>> {
        match name {
            None => {
                if self.default_fields.is_empty() {
                    return Err(Error::Query("no default field to search".into()));
                }
                Ok(self.default_fields.clone())
            }
            Some(n) => self
                .schema
                .field(n)
                .map(|f| vec![f])
                .ok_or_else(|| Error::Query(format!("unknown field `{n}`"))),
        }
    }

    fn per_field(
        &self,
        fields: Vec<Field>,
        mut f: impl FnMut(Field) -> Result<Query>,
    ) -> Result<Query> {
        if fields.len() == 1 {
            return f(fields[0]);
        }
        let mut should = Vec::with_capacity(fields.len());
        for field in fields {
            should.push(f(field)?);
        }
        Ok(Query::or(should))
    }

    /// Builds a query from a parsed AST.
    pub fn build(&self, ast: &QueryAst) -> Result<Query> {
        Ok(match ast {
            QueryAst::MatchAll => Query::MatchAll,
            QueryAst::Term { field, text } => {
                self.per_field(self.fields(field)?, |f| self.term(f, text, 0))?
            }
            QueryAst::Phrase { field, text, slop } => {
                self.per_field(self.fields(field)?, |f| self.term(f, text, *slop))?
            }
            QueryAst::Prefix { field, prefix } => {
                self.per_field(self.fields(field)?, |f| self.prefix(f, prefix))?
            }
            QueryAst::Range {
                field,
                lower,
                upper,
            } => self.per_field(self.fields(field)?, |f| self.range(f, lower, upper))?,
            QueryAst::Boolean {
                clauses,
                minimum_should_match,
            } => {
                let (mut must, mut should, mut must_not) = (Vec::new(), Vec::new(), Vec::new());
                for (occur, c) in clauses {
                    let q = self.build(c)?;
                    match occur {
                        Occur::Must => must.push(q),
                        Occur::Should => should.push(q),
                        Occur::MustNot => must_not.push(q),
                    }
                }
                Query::Boolean {
                    must,
                    should,
                    must_not,
                    minimum_should_match: minimum_should_match.unwrap_or(0) as usize,
                }
            }
            QueryAst::Boost(inner, b) => Query::Boost(Box::new(self.build(inner)?), *b),
        })
    }

    fn term(&self, field: Field, text: &str, slop: u32) -> Result<Query> {
        let entry = self
            .schema
            .entry(field)
            .ok_or_else(|| Error::Query(format!("no field {}", field.0)))?;
        Ok(match &entry.field_type {
            FieldType::Text { .. } => {
                Query::from_tokens(field, self.analyzer.relative_tokens(text), slop)
            }
            FieldType::Keyword { .. } => Query::Term {
                field,
                term: text.to_string(),
            },
            FieldType::Numeric { kind, .. } => {
                let v = parse_number(*kind, text, &entry.name)?;
                Query::Range {
                    field,
                    lower: Bound::Included(v.clone()),
                    upper: Bound::Included(v),
                }
            }
            FieldType::StoredOnly => {
                return Err(Error::Query(format!(
                    "field `{}` is not searchable",
                    entry.name
                )))
            }
        })
    }

    fn prefix(&self, field: Field, prefix: &str) -> Result<Query> {
        let entry = self
            .schema
            .entry(field)
            .ok_or_else(|| Error::Query(format!("no field {}", field.0)))?;
        let p = match &entry.field_type {
            FieldType::Text { .. } => {
                let toks = self.analyzer.relative_tokens(prefix);
                match toks.as_slice() {
                    [one] => one.1.clone(),
                    [] if prefix.is_empty() => String::new(),
                    _ => prefix.to_lowercase(),
                }
            }
            FieldType::Keyword { .. } => prefix.to_string(),
            _ => {
                return Err(Error::Query(format!(
                    "prefix query on `{}`, which has no terms",
                    entry.name
                )))
            }
        };
        Ok(Query::Prefix { field, prefix: p })
    }

    fn range(&self, field: Field, lower: &Bound<String>, upper: &Bound<String>) -> Result<Query> {
        let entry = self
            .schema
            .entry(field)
            .ok_or_else(|| Error::Query(format!("no field {}", field.0)))?;
        let FieldType::Numeric { kind, .. } = entry.field_type else {
            return Err(Error::Query(format!(
                "range query on `{}`: only numeric fields support ranges",
                entry.name
            )));
        };
        let conv = |b: &Bound<String>| -> Result<Bound<Value>> {
            Ok(match b {
                Bound::Unbounded => Bound::Unbounded,
                Bound::Included(s) => Bound::Included(parse_number(kind, s, &entry.name)?),
                Bound::Excluded(s) => Bound::Excluded(parse_number(kind, s, &entry.name)?),
            })
        };
        Ok(Query::Range {
            field,
            lower: conv(lower)?,
            upper: conv(upper)?,
        })
    }
}

fn parse_number(kind: NumericKind, s: &str, name: &str) -> Result<Value> {
    let bad = || Error::Query(format!("field `{name}`: `{s}` is not a {kind:?}"));
    Ok(match kind {
        NumericKind::U64 => Value::U64(s.parse().map_err(|_| bad())?),
        NumericKind::I64 | NumericKind::Timestamp => Value::I64(s.parse().map_err(|_| bad())?),
        NumericKind::F64 => {
            let f: f64 = s.parse().map_err(|_| bad())?;
            if f.is_nan() {
                return Err(bad());
            }
            Value::F64(f)
        }
    })
}
