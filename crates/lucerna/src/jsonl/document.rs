//! One JSON line to one [`Document`] of a schema (see [`jsonl`](crate::jsonl)).
//!
//! The line must be a JSON object. Keys not in the schema are ignored
//! (their values must still be valid JSON); `null` is no value; an array
//! gives one value per element (elements must be scalars). Each value must
//! fit its field: a string for text, keyword and stored fields (stored-only
//! fields also take numbers), an integer in range for integer and
//! timestamp fields, a number for float fields. A field's value may be one
//! array of scalars, nothing deeper; values of keys outside the schema are
//! skipped at any depth (the JSON parser skips them without recursion, so
//! only the line length limit bounds them).
//!
//! Messages name the field and say what was expected; syntax errors give
//! the column where the JSON parser stopped (1-based, in bytes).

use crate::document::{Document, Value};
use crate::schema::{Field, FieldType, NumericKind, Schema};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// Parses one line into a document of `schema`; the error says why the
/// line is rejected.
pub fn parse_document(schema: &Schema, line: &str) -> Result<Document, String> {
    let mut de = serde_json::Deserializer::from_str(line);
    let mut doc = Document::new();
    DocSeed {
        schema,
        doc: &mut doc,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end())
    .map_err(describe)?;
    Ok(doc)
}

/// A JSON error as a rejection message: a field's own message as is,
/// anything else with the column where the parser stopped.
fn describe(e: serde_json::Error) -> String {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let msg = full.strip_suffix(&suffix).unwrap_or(&full);
    if e.is_data() {
        msg.to_string()
    } else {
        format!("invalid JSON at column {}: {msg}", e.column())
    }
}

struct DocSeed<'s> {
    schema: &'s Schema,
    doc: &'s mut Document,
}

impl<'de> DeserializeSeed<'de> for DocSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DocSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object (one document per line)")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(field) = map.next_key_seed(KeySeed(self.schema))? {
            match field {
                Some((field, ft, name)) => map.next_value_seed(ValueSeed {
                    field,
                    ft,
                    name,
                    doc: self.doc,
                    in_array: false,
                })?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// Looks a key up in the schema without allocating.
struct KeySeed<'s>(&'s Schema);

type Key<'s> = Option<(Field, &'s FieldType, &'s str)>;

impl<'de, 's> DeserializeSeed<'de> for KeySeed<'s> {
    type Value = Key<'s>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key<'s>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'s> Visitor<'_> for KeySeed<'s> {
    type Value = Key<'s>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<Key<'s>, E> {
        Ok(self
            .0
            .field(key)
            .and_then(|f| self.0.entry(f).map(|e| (f, &e.field_type, e.name.as_str()))))
    }
}

/// One field's value (or array of values), added to the document.
struct ValueSeed<'a> {
    field: Field,
    ft: &'a FieldType,
    name: &'a str,
    doc: &'a mut Document,
    in_array: bool,
}

impl ValueSeed<'_> {
    fn expected(&self) -> &'static str {
        match self.ft {
            FieldType::Text { .. } | FieldType::Keyword { .. } => "a string",
            FieldType::StoredOnly => "a string or a number",
            FieldType::Numeric { kind, .. } => match kind {
                NumericKind::U64 => "an unsigned integer",
                NumericKind::I64 => "an integer",
                NumericKind::Timestamp => "an integer timestamp (milliseconds since the epoch)",
                NumericKind::F64 => "a number",
            },
        }
    }

    fn wrong<E: de::Error>(&self, got: impl fmt::Display) -> E {
        E::custom(format_args!(
            "field `{}`: expected {}, got {got}",
            self.name,
            self.expected()
        ))
    }

    fn out_of_range<E: de::Error>(&self, got: impl fmt::Display) -> E {
        let range = match self.ft {
            FieldType::Numeric {
                kind: NumericKind::U64,
                ..
            } => "an unsigned integer is 0 to 18446744073709551615",
            FieldType::Numeric {
                kind: NumericKind::Timestamp,
                ..
            } => "a timestamp is milliseconds since the epoch, -9223372036854775808 to 9223372036854775807",
            _ => "an integer is -9223372036854775808 to 9223372036854775807",
        };
        E::custom(format_args!(
            "field `{}`: {got} is out of range ({range})",
            self.name
        ))
    }

    fn push(self, v: Value) {
        self.doc.add(self.field, v);
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} for field `{}`", self.expected(), self.name)
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<(), E> {
        match self.ft {
            FieldType::Text { .. } | FieldType::Keyword { .. } | FieldType::StoredOnly => {
                self.push(Value::Str(s.to_string()));
                Ok(())
            }
            FieldType::Numeric { .. } => Err(self.wrong(format_args!("the string {s:?}"))),
        }
    }
    fn visit_string<E: de::Error>(self, s: String) -> Result<(), E> {
        match self.ft {
            FieldType::Text { .. } | FieldType::Keyword { .. } | FieldType::StoredOnly => {
                self.push(Value::Str(s));
                Ok(())
            }
            FieldType::Numeric { .. } => Err(self.wrong(format_args!("the string {s:?}"))),
        }
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        let value = match self.ft {
            FieldType::Text { .. } | FieldType::Keyword { .. } => return Err(self.wrong(v)),
            FieldType::StoredOnly => Value::U64(v),
            FieldType::Numeric { kind, .. } => match kind {
                NumericKind::U64 => Value::U64(v),
                NumericKind::I64 | NumericKind::Timestamp => match i64::try_from(v) {
                    Ok(i) => Value::I64(i),
                    Err(_) => return Err(self.out_of_range(v)),
                },
                NumericKind::F64 => Value::F64(v as f64),
            },
        };
        self.push(value);
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        if v >= 0 {
            return self.visit_u64(v as u64);
        }
        let value = match self.ft {
            FieldType::Text { .. } | FieldType::Keyword { .. } => return Err(self.wrong(v)),
            FieldType::StoredOnly => Value::I64(v),
            FieldType::Numeric { kind, .. } => match kind {
                NumericKind::U64 => return Err(self.out_of_range(v)),
                NumericKind::I64 | NumericKind::Timestamp => Value::I64(v),
                NumericKind::F64 => Value::F64(v as f64),
            },
        };
        self.push(value);
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        // JSON integers beyond 64 bits arrive here too (e.g. 1e20).
        let value = match self.ft {
            FieldType::Text { .. } | FieldType::Keyword { .. } => return Err(self.wrong(v)),
            FieldType::StoredOnly => Value::F64(v),
            FieldType::Numeric { kind, .. } => match kind {
                NumericKind::F64 => Value::F64(v),
                NumericKind::U64 | NumericKind::I64 | NumericKind::Timestamp => {
                    let integral = v.is_finite() && v.fract() == 0.0;
                    let in_range = match kind {
                        NumericKind::U64 => (0.0..18_446_744_073_709_551_616.0).contains(&v),
                        _ => {
                            (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&v)
                        }
                    };
                    // Huge values in exponent form (1e30, not 31 digits).
                    let shown = if v.abs() >= 1e16 {
                        format!("{v:e}")
                    } else {
                        format!("{v}")
                    };
                    return Err(if integral && !in_range {
                        self.out_of_range(shown)
                    } else {
                        self.wrong(shown)
                    });
                }
            },
        };
        self.push(value);
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        Err(self.wrong(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        if self.in_array {
            return Err(self.wrong("null inside an array"));
        }
        Ok(()) // null: no value
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.in_array {
            return Err(self.wrong("a nested array"));
        }
        let ValueSeed {
            field,
            ft,
            name,
            doc,
            ..
        } = self;
        while seq
            .next_element_seed(ValueSeed {
                field,
                ft,
                name,
                doc: &mut *doc,
                in_array: true,
            })?
            .is_some()
        {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, _map: A) -> Result<(), A::Error> {
        Err(self.wrong("an object"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        let mut b = Schema::builder();
        b.add_numeric("id", NumericKind::U64, true);
        b.add_numeric("timestamp", NumericKind::Timestamp, false);
        b.add_numeric("score", NumericKind::F64, false);
        b.add_text("body", false);
        b.add_keyword("tag", true);
        b.build().unwrap()
    }

    fn err(line: &str) -> String {
        parse_document(&schema(), line).unwrap_err()
    }

    #[test]
    fn values_fit_their_fields() {
        let s = schema();
        let d = parse_document(
            &s,
            r#"{"id": 7, "timestamp": -5, "score": 1, "body": "a\nb", "tag": ["x", "y"], "other": {"deep": [1, {"a": null}]}, "body2": null}"#,
        )
        .unwrap();
        let f = |n| s.field(n).unwrap();
        assert_eq!(d.get_first(f("id")), Some(&Value::U64(7)));
        assert_eq!(d.get_first(f("timestamp")), Some(&Value::I64(-5)));
        assert_eq!(d.get_first(f("score")), Some(&Value::F64(1.0)));
        assert_eq!(d.get_first(f("body")), Some(&Value::Str("a\nb".into())));
        assert_eq!(d.get_all(f("tag")).count(), 2);
        assert!(parse_document(&s, r#"{"id": 1, "body": null}"#).is_ok());
    }

    #[test]
    fn messages_say_what_is_wrong() {
        assert!(err(r#"{"timestamp": 99999999999999999999}"#).contains("out of range"));
        assert!(err(r#"{"timestamp": 9223372036854775808}"#).contains("out of range"));
        assert!(err(r#"{"id": -1}"#).contains("out of range"));
        assert!(err(r#"{"id": 1e30}"#).contains("out of range"));
        assert!(err(r#"{"id": 1.5}"#).contains("expected an unsigned integer, got 1.5"));
        assert!(err(r#"{"id": "7"}"#).contains("got the string \"7\""));
        assert!(err(r#"{"body": 5}"#).contains("field `body`: expected a string"));
        assert!(err(r#"{"tag": [["x"]]}"#).contains("nested array"));
        assert!(err(r#"{"tag": {"a": 1}}"#).contains("an object"));
        assert!(err("[1]").contains("a JSON object"));
        assert_eq!(
            err(r#"{"id": 1,}"#),
            "invalid JSON at column 10: trailing comma"
        );
        assert!(err(r#"{"id": 1} x"#).starts_with("invalid JSON at column 11"));
        // Deep nesting: skipped outside the schema, refused in a field.
        let deep = format!(
            "{{\"id\": 1, \"x\": {}{}}}",
            "[".repeat(5000),
            "]".repeat(5000)
        );
        assert!(parse_document(&schema(), &deep).is_ok());
        let deep = format!("{{\"tag\": {}\"a\"{}}}", "[".repeat(5000), "]".repeat(5000));
        assert!(err(&deep).contains("nested array"));
    }
}
