//! [`Schema`]: the fields of an index and how each is indexed.

use crate::error::{Error, Result};
use lucerna_codec::{ByteReader, ByteWriter};

/// A field handle: its ordinal in the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Field(pub u16);

/// Numeric kinds of numeric fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumericKind {
    /// Signed 64-bit integer.
    I64,
    /// Unsigned 64-bit integer.
    U64,
    /// 64-bit float (total order; NaN rejected).
    F64,
    /// Milliseconds since the Unix epoch (an i64).
    Timestamp,
}

/// How a field is indexed and stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldType {
    /// Tokenized by the index's analyzer, with positions (phrases) and term
    /// frequencies (BM25).
    Text {
        /// Keep the original value for retrieval.
        stored: bool,
    },
    /// One exact term: the whole value (ids, hosts, levels).
    Keyword {
        /// Keep the original value for retrieval.
        stored: bool,
    },
    /// A number: a fast column (sorting, ranges) and optionally stored.
    Numeric {
        /// Which kind of number.
        kind: NumericKind,
        /// Keep the original value for retrieval.
        stored: bool,
    },
    /// Stored only, never searched.
    StoredOnly,
}

impl FieldType {
    /// True when values are kept for retrieval.
    pub fn is_stored(&self) -> bool {
        match self {
            FieldType::Text { stored }
            | FieldType::Keyword { stored }
            | FieldType::Numeric { stored, .. } => *stored,
            FieldType::StoredOnly => true,
        }
    }

    /// True for fields with terms in the inverted index.
    pub fn is_indexed(&self) -> bool {
        matches!(self, FieldType::Text { .. } | FieldType::Keyword { .. })
    }

    fn code(&self) -> u8 {
        match self {
            FieldType::Text { .. } => 1,
            FieldType::Keyword { .. } => 2,
            FieldType::Numeric { kind, .. } => match kind {
                NumericKind::I64 => 3,
                NumericKind::U64 => 4,
                NumericKind::F64 => 5,
                NumericKind::Timestamp => 6,
            },
            FieldType::StoredOnly => 7,
        }
    }

    fn from_code(code: u8, stored: bool) -> Option<FieldType> {
        let num = |kind| FieldType::Numeric { kind, stored };
        Some(match code {
            1 => FieldType::Text { stored },
            2 => FieldType::Keyword { stored },
            3 => num(NumericKind::I64),
            4 => num(NumericKind::U64),
            5 => num(NumericKind::F64),
            6 => num(NumericKind::Timestamp),
            7 => FieldType::StoredOnly,
            _ => return None,
        })
    }
}

/// One field: name, type, and whether every document must have it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldEntry {
    /// The field name.
    pub name: String,
    /// How it is indexed and stored.
    pub field_type: FieldType,
    /// Documents without this field are rejected.
    pub required: bool,
}

/// The fields of an index, fixed at creation.
///
/// ```
/// use lucerna::schema::{Schema, NumericKind};
/// let mut b = Schema::builder();
/// let body = b.add_text("body", true);
/// let ts = b.add_numeric("timestamp", NumericKind::Timestamp, true);
/// let schema = b.build().unwrap();
/// assert_eq!(schema.field("body"), Some(body));
/// assert_eq!(schema.field("timestamp"), Some(ts));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    fields: Vec<FieldEntry>,
}

/// Builds a [`Schema`].
#[derive(Debug, Default)]
pub struct SchemaBuilder {
    fields: Vec<FieldEntry>,
}

impl SchemaBuilder {
    /// Adds a field of any type.
    pub fn add(&mut self, name: &str, field_type: FieldType, required: bool) -> Field {
        self.fields.push(FieldEntry {
            name: name.to_string(),
            field_type,
            required,
        });
        Field((self.fields.len() - 1) as u16)
    }
    /// Adds a tokenized text field.
    pub fn add_text(&mut self, name: &str, stored: bool) -> Field {
        self.add(name, FieldType::Text { stored }, false)
    }
    /// Adds an exact keyword field.
    pub fn add_keyword(&mut self, name: &str, stored: bool) -> Field {
        self.add(name, FieldType::Keyword { stored }, false)
    }
    /// Adds a numeric field (always a fast column).
    pub fn add_numeric(&mut self, name: &str, kind: NumericKind, stored: bool) -> Field {
        self.add(name, FieldType::Numeric { kind, stored }, false)
    }
    /// Adds a stored-only field.
    pub fn add_stored(&mut self, name: &str) -> Field {
        self.add(name, FieldType::StoredOnly, false)
    }
    /// Marks the last added field as required.
    pub fn required(&mut self) -> &mut Self {
        if let Some(f) = self.fields.last_mut() {
            f.required = true;
        }
        self
    }
    /// Validates and builds.
    pub fn build(self) -> Result<Schema> {
        if self.fields.is_empty() {
            return Err(Error::Schema("a schema needs at least one field".into()));
        }
        if self.fields.len() > 255 {
            return Err(Error::Schema("at most 255 fields".into()));
        }
        for (i, f) in self.fields.iter().enumerate() {
            if f.name.is_empty() || f.name.len() > 255 {
                return Err(Error::Schema(format!(
                    "field name `{}` must be 1..=255 bytes",
                    f.name
                )));
            }
            if f.name.chars().any(|c| {
                c.is_whitespace()
                    || matches!(
                        c,
                        ':' | '"' | '(' | ')' | '[' | ']' | '{' | '}' | '^' | '~' | '*' | '\\'
                    )
            }) {
                return Err(Error::Schema(format!(
                    "field name `{}` contains a character reserved by the query syntax",
                    f.name
                )));
            }
            if self.fields[..i].iter().any(|g| g.name == f.name) {
                return Err(Error::Schema(format!("duplicate field `{}`", f.name)));
            }
        }
        Ok(Schema {
            fields: self.fields,
        })
    }
}

impl Schema {
    /// A new builder.
    pub fn builder() -> SchemaBuilder {
        SchemaBuilder::default()
    }

    /// The schema of the benchmark contract: `id` (u64, stored, required),
    /// `timestamp` (timestamp, stored), `body` (text, stored).
    pub fn logs() -> Schema {
        let mut b = Schema::builder();
        b.add_numeric("id", NumericKind::U64, true);
        b.required();
        b.add_numeric("timestamp", NumericKind::Timestamp, true);
        b.add_text("body", true);
        Schema { fields: b.fields }
    }

    /// The schema of `lucerna index`, `lucerna add` and `lucerna-server`
    /// for log lines: `id` (u64, stored, required), `timestamp` (a column
    /// for sorting and ranges, not stored) and `body` (text; stored when
    /// `store_body`, so searches can show the matching line). The
    /// benchmark contract stores no body (`false`), as its peers do.
    ///
    /// ```
    /// use lucerna::schema::{FieldType, Schema};
    /// let s = Schema::log_lines(true);
    /// let body = s.entry(s.field("body").unwrap()).unwrap();
    /// assert_eq!(body.field_type, FieldType::Text { stored: true });
    /// assert_ne!(s, Schema::logs()); // `logs` also stores the timestamp
    /// ```
    pub fn log_lines(store_body: bool) -> Schema {
        let mut b = Schema::builder();
        b.add_numeric("id", NumericKind::U64, true);
        b.required();
        b.add_numeric("timestamp", NumericKind::Timestamp, false);
        b.add_text("body", store_body);
        Schema { fields: b.fields }
    }

    /// The field called `name`.
    pub fn field(&self, name: &str) -> Option<Field> {
        self.fields
            .iter()
            .position(|f| f.name == name)
            .map(|i| Field(i as u16))
    }

    /// The entry of `field`.
    pub fn entry(&self, field: Field) -> Option<&FieldEntry> {
        self.fields.get(field.0 as usize)
    }

    /// All fields in ordinal order.
    pub fn fields(&self) -> impl Iterator<Item = (Field, &FieldEntry)> {
        self.fields
            .iter()
            .enumerate()
            .map(|(i, e)| (Field(i as u16), e))
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Always false for a built schema.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Serializes the schema (stored in every commit manifest).
    pub fn encode(&self, w: &mut ByteWriter) {
        w.vint(self.fields.len() as u64);
        for f in &self.fields {
            w.len_bytes(f.name.as_bytes());
            w.u8(f.field_type.code());
            w.u8(f.field_type.is_stored() as u8 | ((f.required as u8) << 1));
        }
    }

    /// Decodes a schema written by [`Schema::encode`].
    pub fn decode(r: &mut ByteReader<'_>) -> Result<Schema> {
        let n = r.vint_max(255, "field count")? as usize;
        let mut b = Schema::builder();
        for _ in 0..n {
            let name = std::str::from_utf8(r.len_bytes()?)
                .map_err(|_| r.err("field name is not UTF-8"))?
                .to_string();
            let code = r.u8()?;
            let flags = r.u8()?;
            let ft = FieldType::from_code(code, flags & 1 != 0)
                .ok_or_else(|| r.err(format!("unknown field type {code}")))?;
            b.add(&name, ft, flags & 2 != 0);
        }
        b.build()
            .map_err(|e| Error::Store(r.err(format!("bad schema: {e}"))))
    }
}
