//! [`Document`]s: field values to index, built in code, from JSON, or from
//! any `serde::Serialize` struct.

use crate::error::{Error, Result};
use crate::schema::{Field, FieldType, NumericKind, Schema};
use lucerna_codec::{ByteReader, ByteWriter};

/// One field value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Text or keyword.
    Str(String),
    /// Unsigned integer.
    U64(u64),
    /// Signed integer (also timestamps, in ms since the epoch).
    I64(i64),
    /// Float.
    F64(f64),
}

impl Value {
    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    /// The value as u64, if it is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U64(v) => Some(v),
            Value::I64(v) if v >= 0 => Some(v as u64),
            _ => None,
        }
    }
    /// The value as i64, if it is an integer in range.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::I64(v) => Some(v),
            Value::U64(v) if v <= i64::MAX as u64 => Some(v as i64),
            _ => None,
        }
    }
    /// The value as f64, if numeric.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F64(v) => Some(v),
            Value::I64(v) => Some(v as f64),
            Value::U64(v) => Some(v as f64),
            Value::Str(_) => None,
        }
    }
}

/// A document: a list of (field, value) pairs. A field may repeat (text and
/// keyword fields are multi-valued; numeric fields take one value).
///
/// ```
/// use lucerna::schema::Schema;
/// use lucerna::Document;
/// let schema = Schema::logs();
/// let doc = Document::from_json_str(&schema, r#"{"id": 7, "timestamp": 1700000000000, "body": "disk full"}"#).unwrap();
/// assert_eq!(doc.get_first(schema.field("body").unwrap()).unwrap().as_str(), Some("disk full"));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Document {
    values: Vec<(Field, Value)>,
}

impl Document {
    /// An empty document.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a value.
    pub fn add(&mut self, field: Field, value: Value) -> &mut Self {
        self.values.push((field, value));
        self
    }
    /// Adds a string (text, keyword or stored field).
    pub fn add_text(&mut self, field: Field, text: impl Into<String>) -> &mut Self {
        self.add(field, Value::Str(text.into()))
    }
    /// Adds an unsigned integer.
    pub fn add_u64(&mut self, field: Field, v: u64) -> &mut Self {
        self.add(field, Value::U64(v))
    }
    /// Adds a signed integer or timestamp (ms since the epoch).
    pub fn add_i64(&mut self, field: Field, v: i64) -> &mut Self {
        self.add(field, Value::I64(v))
    }
    /// Adds a float.
    pub fn add_f64(&mut self, field: Field, v: f64) -> &mut Self {
        self.add(field, Value::F64(v))
    }
    /// Every (field, value) pair in insertion order.
    pub fn values(&self) -> &[(Field, Value)] {
        &self.values
    }
    /// The first value of `field`.
    pub fn get_first(&self, field: Field) -> Option<&Value> {
        self.values
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, v)| v)
    }
    /// Every value of `field`.
    pub fn get_all(&self, field: Field) -> impl Iterator<Item = &Value> {
        self.values
            .iter()
            .filter(move |(f, _)| *f == field)
            .map(|(_, v)| v)
    }

    /// Builds a document from a JSON object; keys not in the schema are
    /// ignored; arrays give multiple values.
    pub fn from_json(schema: &Schema, json: &serde_json::Value) -> Result<Document> {
        let obj = json
            .as_object()
            .ok_or_else(|| Error::Document("a document must be a JSON object".into()))?;
        let mut doc = Document::new();
        for (key, val) in obj {
            let Some(field) = schema.field(key) else {
                continue;
            };
            let Some(entry) = schema.entry(field) else {
                continue;
            };
            let items: Vec<&serde_json::Value> = match val {
                serde_json::Value::Array(a) => a.iter().collect(),
                serde_json::Value::Null => Vec::new(),
                v => vec![v],
            };
            for item in items {
                let v = json_value(&entry.field_type, key, item)?;
                doc.add(field, v);
            }
        }
        Ok(doc)
    }

    /// Parses a JSON text into a document.
    pub fn from_json_str(schema: &Schema, text: &str) -> Result<Document> {
        let v: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| Error::Document(format!("invalid JSON: {e}")))?;
        Self::from_json(schema, &v)
    }

    /// Builds a document from any serializable struct (through JSON).
    pub fn from_serialize<T: serde::Serialize>(schema: &Schema, value: &T) -> Result<Document> {
        let v = serde_json::to_value(value)
            .map_err(|e| Error::Document(format!("cannot serialize: {e}")))?;
        Self::from_json(schema, &v)
    }

    /// The document as a JSON object (field names from `schema`).
    pub fn to_json(&self, schema: &Schema) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        for (f, v) in &self.values {
            let Some(e) = schema.entry(*f) else { continue };
            let jv = match v {
                Value::Str(s) => serde_json::Value::from(s.as_str()),
                Value::U64(x) => serde_json::Value::from(*x),
                Value::I64(x) => serde_json::Value::from(*x),
                Value::F64(x) => serde_json::Value::from(*x),
            };
            match map.get_mut(&e.name) {
                None => {
                    map.insert(e.name.clone(), jv);
                }
                Some(serde_json::Value::Array(a)) => a.push(jv),
                Some(prev) => {
                    let p = prev.take();
                    *prev = serde_json::Value::Array(vec![p, jv]);
                }
            }
        }
        serde_json::Value::Object(map)
    }

    /// Encodes the stored values of this document (fields whose type is
    /// stored) for the stored-fields file.
    pub(crate) fn encode_stored(&self, schema: &Schema, w: &mut ByteWriter) {
        for (f, v) in &self.values {
            if !schema.entry(*f).is_some_and(|e| e.field_type.is_stored()) {
                continue;
            }
            w.u8(f.0 as u8);
            match v {
                Value::Str(s) => {
                    w.u8(0);
                    w.len_bytes(s.as_bytes());
                }
                Value::U64(x) => {
                    w.u8(1);
                    w.vint(*x);
                }
                Value::I64(x) => {
                    w.u8(2);
                    w.vint(((*x << 1) ^ (*x >> 63)) as u64);
                }
                Value::F64(x) => {
                    w.u8(3);
                    w.u64(x.to_bits());
                }
            }
        }
    }

    /// Decodes stored values written by `encode_stored`.
    pub(crate) fn decode_stored(r: &mut ByteReader<'_>, num_fields: usize) -> Result<Document> {
        let mut doc = Document::new();
        while r.remaining() > 0 {
            let f = r.u8()? as usize;
            if f >= num_fields {
                return Err(r
                    .err(format!("stored field ordinal {f} not in schema"))
                    .into());
            }
            let v = match r.u8()? {
                0 => Value::Str(
                    std::str::from_utf8(r.len_bytes()?)
                        .map_err(|_| r.err("stored string is not UTF-8"))?
                        .to_string(),
                ),
                1 => Value::U64(r.vint()?),
                2 => {
                    let z = r.vint()?;
                    Value::I64(((z >> 1) as i64) ^ -((z & 1) as i64))
                }
                3 => Value::F64(f64::from_bits(r.u64()?)),
                t => return Err(r.err(format!("unknown stored value tag {t}")).into()),
            };
            doc.add(Field(f as u16), v);
        }
        Ok(doc)
    }
}

fn json_value(ft: &FieldType, key: &str, item: &serde_json::Value) -> Result<Value> {
    let bad = |what: &str| Error::Document(format!("field `{key}`: expected {what}, got {item}"));
    Ok(match ft {
        FieldType::Text { .. } | FieldType::Keyword { .. } | FieldType::StoredOnly => match item {
            serde_json::Value::String(s) => Value::Str(s.clone()),
            serde_json::Value::Number(n) if matches!(ft, FieldType::StoredOnly) => {
                if let Some(u) = n.as_u64() {
                    Value::U64(u)
                } else if let Some(i) = n.as_i64() {
                    Value::I64(i)
                } else {
                    Value::F64(n.as_f64().unwrap_or(0.0))
                }
            }
            _ => return Err(bad("a string")),
        },
        FieldType::Numeric { kind, .. } => match kind {
            NumericKind::U64 => {
                Value::U64(item.as_u64().ok_or_else(|| bad("an unsigned integer"))?)
            }
            NumericKind::I64 | NumericKind::Timestamp => {
                Value::I64(item.as_i64().ok_or_else(|| bad("an integer"))?)
            }
            NumericKind::F64 => {
                let f = item.as_f64().ok_or_else(|| bad("a number"))?;
                Value::F64(f)
            }
        },
    })
}
