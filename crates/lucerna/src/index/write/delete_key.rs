//! Delete keys: what a delete (or the delete half of an update) matches,
//! as held by the writer until resolved and as logged in the write-ahead
//! log (`Record::Delete { key }`, `Record::Update { key, .. }`).
//!
//! Two encodings share the key bytes:
//!
//! * **term**: the field ordinal byte, then the term's bytes (the term
//!   dictionary's key, [`term_key`](crate::search::weight::term_key)):
//!   every document whose field holds that exact term. Field ordinals are
//!   at most 254 (a schema has at most 255 fields).
//! * **numeric id**: the byte [`NUMERIC_MARKER`] (`0xFF`, never a field
//!   ordinal), the field ordinal byte, then the value as 8 big-endian
//!   bytes: every document whose `u64` field has that value. Numeric
//!   fields have no terms, only a column, so these deletes are resolved by
//!   scanning the column of each segment (and of each in-memory buffer).
//!
//! Logs written before numeric keys existed hold only term keys and read
//! as before. A numeric key of the wrong length (never written) matches
//! nothing.

use crate::error::Result;
use crate::fxhash::FxHashMap;
use crate::index::read::segment_reader::SegmentReader;
use crate::index::write::buffer::SegmentBuffer;
use crate::schema::Field;

/// First byte of a numeric delete key.
pub(crate) const NUMERIC_MARKER: u8 = 0xFF;

/// A decoded delete key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeleteKey<'a> {
    /// A term key (field ordinal byte + term bytes).
    Term(&'a [u8]),
    /// A `u64` value of a numeric field.
    U64 {
        /// The field.
        field: Field,
        /// The value.
        value: u64,
    },
    /// A numeric key of the wrong length: matches nothing.
    Malformed,
}

/// The key deleting every document whose `u64` field `field` is `value`.
pub(crate) fn numeric_key(field: Field, value: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(10);
    k.push(NUMERIC_MARKER);
    k.push(field.0 as u8);
    k.extend_from_slice(&value.to_be_bytes());
    k
}

/// Decodes `key`.
pub(crate) fn parse(key: &[u8]) -> DeleteKey<'_> {
    match key {
        [NUMERIC_MARKER, rest @ ..] => match rest {
            [f, v @ ..] if v.len() == 8 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(v);
                DeleteKey::U64 {
                    field: Field(*f as u16),
                    value: u64::from_be_bytes(b),
                }
            }
            _ => DeleteKey::Malformed,
        },
        _ => DeleteKey::Term(key),
    }
}

/// Pending numeric deletes, grouped per field: value → the largest
/// sequence number of a delete of it (a document is deleted when it was
/// added before *some* delete of its value, i.e. before the last one).
#[derive(Debug, Default)]
pub(crate) struct NumericDeletes {
    fields: Vec<(Field, FxHashMap<u64, u64>)>,
}

impl NumericDeletes {
    /// Adds a delete of `value` in `field` with sequence number `seq`.
    pub fn add(&mut self, field: Field, value: u64, seq: u64) {
        let i = match self.fields.iter().position(|(f, _)| *f == field) {
            Some(i) => i,
            None => {
                self.fields.push((field, FxHashMap::default()));
                self.fields.len() - 1
            }
        };
        let s = self.fields[i].1.entry(value).or_insert(seq);
        *s = (*s).max(seq);
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Documents of `buf` deleted: a matching value and a sequence number
    /// below the delete's.
    pub fn buffer_docs(&self, buf: &SegmentBuffer, out: &mut Vec<u32>) {
        for (field, values) in &self.fields {
            let Some(col) = buf.columns.get(field.0 as usize) else {
                continue;
            };
            for (d, v) in col.iter().enumerate() {
                let Some(v) = v else { continue };
                if let (Some(&s), Some(&doc_seq)) = (values.get(v), buf.seqnos.get(d)) {
                    if doc_seq < s {
                        out.push(d as u32);
                    }
                }
            }
        }
    }

    /// Documents of the flushed segment `seg` with a matching value (every
    /// document of a flushed segment precedes the deletes pending for it).
    pub fn segment_docs(&self, seg: &SegmentReader, out: &mut Vec<u32>) -> Result<()> {
        for (field, values) in &self.fields {
            let Some(col) = seg.core().columns.column(field.0 as u32) else {
                continue;
            };
            let (lo, hi) = (col.min_value(), col.max_value());
            if !values.keys().any(|v| (lo..=hi).contains(v)) {
                continue;
            }
            for d in 0..seg.max_doc().min(col.num_docs()) {
                if let Some(v) = col.get_opt(d) {
                    if values.contains_key(&v) {
                        out.push(d);
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::weight::term_key;

    #[test]
    fn keys_round_trip_and_never_collide_with_terms() {
        let k = numeric_key(Field(3), 0x0102_0304_0506_0708);
        assert_eq!(
            parse(&k),
            DeleteKey::U64 {
                field: Field(3),
                value: 0x0102_0304_0506_0708
            }
        );
        let t = term_key(Field(254), "x");
        assert_eq!(parse(&t), DeleteKey::Term(&t));
        assert_eq!(parse(&[NUMERIC_MARKER, 1, 2]), DeleteKey::Malformed);
        assert_eq!(parse(&[NUMERIC_MARKER]), DeleteKey::Malformed);
        assert_eq!(parse(&[]), DeleteKey::Term(&[]));
    }
}
