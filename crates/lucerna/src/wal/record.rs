//! Write-ahead-log records: what one acknowledged operation looks like on
//! disk, and how a log file is laid out.
//!
//! A log file `wal-<first lsn, 20 digits>.log` is a 44-byte header followed
//! by records:
//!
//! ```text
//! header:  "LWAL" | u32 version (2) | u64 first_lsn | 16-byte index id
//!          | u64 base generation (the newest commit when the file started)
//!          | u32 CRC32 of the 40 bytes before
//!          (version 1: "LWAL" | u32 1 | u64 first_lsn | u32 CRC32 of the 16 bytes before)
//! record:  u32 body_len | u32 CRC32(body) | body
//! body:    u64 lsn | u8 kind | payload
//!          kind 1 add:      document
//!          kind 2 delete:   term key (vint length + bytes)
//!          kind 3 update:   term key, document     (lsn = the delete's; the add is lsn + 1)
//!          kind 4 rollback: u64 from_lsn           (drops records from_lsn..lsn)
//! document: vint n, then n × (vint field, u8 tag, value)
//!           tag 0 text: vint length + UTF-8 | 1 u64: 8 bytes | 2 i64: 8 bytes | 3 f64: 8 bytes (bits)
//! ```
//!
//! All integers are little-endian. The lsn (log sequence number) of a
//! record is the writer's sequence number of its operation, so a replay
//! reproduces exactly the order in which deletes saw documents.

use crate::document::{Document, Value};
use crate::index::identity::IndexId;
use crate::schema::Field;
use lucerna_codec::{ByteReader, ByteWriter};
use lucerna_store::{Result as StoreResult, StoreError};

/// Magic bytes at the start of every log file.
pub const WAL_MAGIC: &[u8; 4] = b"LWAL";
/// Current log format version (2: the header names the index and the
/// newest commit; version 1 is still read).
pub const WAL_VERSION: u32 = 2;
/// Bytes of a log file's header (version 2).
pub const HEADER_LEN: usize = 44;
/// Bytes of a version-1 header.
pub const HEADER_V1_LEN: usize = 20;
/// Bytes of a record's frame (length and CRC) before its body.
pub const FRAME_LEN: usize = 8;

const KIND_ADD: u8 = 1;
const KIND_DELETE: u8 = 2;
const KIND_UPDATE: u8 = 3;
const KIND_ROLLBACK: u8 = 4;

/// The `u64` values (field ordinal, value) a damaged add or update record
/// body still names before its first undecodable byte: what a report of
/// lost operations can say about them. Never used to replay.
pub(crate) fn salvage_u64s(body: &[u8]) -> Vec<(u16, u64)> {
    let mut out = Vec::new();
    let mut r = ByteReader::new("", 0, body);
    let _ = (|| -> StoreResult<()> {
        r.u64()?;
        match r.u8()? {
            KIND_UPDATE => {
                r.len_bytes()?;
            }
            KIND_DELETE | KIND_ROLLBACK => return Ok(()),
            // An add, or a damaged kind byte: read on as an add.
            _ => {}
        }
        let n = r.vint_max(r.remaining() as u64 / 2, "value count")?;
        for _ in 0..n {
            let field = r.vint_max(u16::MAX as u64, "field number")? as u16;
            match r.u8()? {
                0 => {
                    r.len_bytes()?;
                }
                1 => out.push((field, r.u64()?)),
                2 | 3 => {
                    r.u64()?;
                }
                _ => return Ok(()),
            }
        }
        Ok(())
    })();
    out
}

/// True for a byte that is the kind of some record (what a search for
/// the next intact record after damage filters candidates by).
pub(crate) fn is_record_kind(kind: u8) -> bool {
    matches!(kind, KIND_ADD | KIND_DELETE | KIND_UPDATE | KIND_ROLLBACK)
}

/// One logged operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// A document was added.
    Add {
        /// Its sequence number.
        lsn: u64,
        /// The document.
        doc: Document,
    },
    /// Every document added before, whose term `key` matches, was deleted.
    Delete {
        /// The delete's sequence number.
        lsn: u64,
        /// Encoded field and term.
        key: Vec<u8>,
    },
    /// A delete (at `lsn`) and an add (at `lsn + 1`) no commit separates.
    Update {
        /// The delete's sequence number.
        lsn: u64,
        /// Encoded field and term of the delete.
        key: Vec<u8>,
        /// The new document.
        doc: Document,
    },
    /// [`IndexWriter::rollback`](crate::IndexWriter::rollback): every record
    /// with `from_lsn <= lsn < self.lsn` is void.
    Rollback {
        /// The rollback's own sequence number.
        lsn: u64,
        /// First sequence number it discards.
        from_lsn: u64,
    },
}

impl Record {
    /// The record's (first) sequence number.
    pub fn lsn(&self) -> u64 {
        match self {
            Record::Add { lsn, .. }
            | Record::Delete { lsn, .. }
            | Record::Update { lsn, .. }
            | Record::Rollback { lsn, .. } => *lsn,
        }
    }

    /// The last sequence number the record's operations take.
    pub fn last_lsn(&self) -> u64 {
        match self {
            Record::Update { lsn, .. } => lsn.saturating_add(1),
            r => r.lsn(),
        }
    }

    /// The record as a borrowed view (what the log writer encodes).
    pub(crate) fn as_ref(&self) -> RecordRef<'_> {
        match self {
            Record::Add { lsn, doc } => RecordRef::Add { lsn: *lsn, doc },
            Record::Delete { lsn, key } => RecordRef::Delete { lsn: *lsn, key },
            Record::Update { lsn, key, doc } => RecordRef::Update {
                lsn: *lsn,
                key,
                doc,
            },
            Record::Rollback { lsn, from_lsn } => RecordRef::Rollback {
                lsn: *lsn,
                from_lsn: *from_lsn,
            },
        }
    }

    /// Appends the framed record to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        self.as_ref().encode_into(out);
    }

    /// Decodes a record body (CRC already checked) found at `offset` of `file`.
    pub fn decode(file: &str, offset: u64, body: &[u8]) -> StoreResult<Record> {
        let mut r = ByteReader::new(file, offset, body);
        let lsn = r.u64()?;
        let rec = match r.u8()? {
            KIND_ADD => Record::Add {
                lsn,
                doc: decode_doc(&mut r)?,
            },
            KIND_DELETE => Record::Delete {
                lsn,
                key: r.len_bytes()?.to_vec(),
            },
            KIND_UPDATE => Record::Update {
                lsn,
                key: r.len_bytes()?.to_vec(),
                doc: decode_doc(&mut r)?,
            },
            KIND_ROLLBACK => {
                let from_lsn = r.u64()?;
                if from_lsn > lsn {
                    return Err(r.err_value(lsn, from_lsn, "rollback starts after itself"));
                }
                Record::Rollback { lsn, from_lsn }
            }
            k => return Err(r.err(format!("unknown record kind {k}"))),
        };
        if r.remaining() != 0 {
            return Err(r.err("trailing bytes in record"));
        }
        if lsn == 0 {
            return Err(StoreError::corrupt(file, offset, 1, 0, "record lsn is 0"));
        }
        Ok(rec)
    }
}

/// A [`Record`] that borrows its document and key: the writer logs an
/// operation without copying the document.
#[derive(Debug, Clone, Copy)]
pub enum RecordRef<'a> {
    /// See [`Record::Add`].
    Add {
        /// Its sequence number.
        lsn: u64,
        /// The document.
        doc: &'a Document,
    },
    /// See [`Record::Delete`].
    Delete {
        /// The delete's sequence number.
        lsn: u64,
        /// Encoded field and term.
        key: &'a [u8],
    },
    /// See [`Record::Update`].
    Update {
        /// The delete's sequence number.
        lsn: u64,
        /// Encoded field and term of the delete.
        key: &'a [u8],
        /// The new document.
        doc: &'a Document,
    },
    /// See [`Record::Rollback`].
    Rollback {
        /// The rollback's own sequence number.
        lsn: u64,
        /// First sequence number it discards.
        from_lsn: u64,
    },
}

impl RecordRef<'_> {
    /// Appends the framed record to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let mut w = ByteWriter::new();
        match *self {
            RecordRef::Add { lsn, doc } => {
                w.u64(lsn);
                w.u8(KIND_ADD);
                encode_doc(&mut w, doc);
            }
            RecordRef::Delete { lsn, key } => {
                w.u64(lsn);
                w.u8(KIND_DELETE);
                w.len_bytes(key);
            }
            RecordRef::Update { lsn, key, doc } => {
                w.u64(lsn);
                w.u8(KIND_UPDATE);
                w.len_bytes(key);
                encode_doc(&mut w, doc);
            }
            RecordRef::Rollback { lsn, from_lsn } => {
                w.u64(lsn);
                w.u8(KIND_ROLLBACK);
                w.u64(from_lsn);
            }
        }
        let body = w.buf;
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        out.extend_from_slice(&body);
    }
}

fn encode_doc(w: &mut ByteWriter, doc: &Document) {
    w.vint(doc.values().len() as u64);
    for (field, value) in doc.values() {
        w.vint(field.0 as u64);
        match value {
            Value::Str(s) => {
                w.u8(0);
                w.len_bytes(s.as_bytes());
            }
            Value::U64(v) => {
                w.u8(1);
                w.u64(*v);
            }
            Value::I64(v) => {
                w.u8(2);
                w.u64(*v as u64);
            }
            Value::F64(v) => {
                w.u8(3);
                w.u64(v.to_bits());
            }
        }
    }
}

fn decode_doc(r: &mut ByteReader<'_>) -> StoreResult<Document> {
    // Every value takes at least 2 bytes: bound the count by the input.
    let n = r.vint_max(r.remaining() as u64 / 2, "value count")?;
    let mut doc = Document::new();
    for _ in 0..n {
        let field = Field(r.vint_max(u16::MAX as u64, "field number")? as u16);
        let value = match r.u8()? {
            0 => {
                let b = r.len_bytes()?;
                let s = std::str::from_utf8(b).map_err(|_| r.err("text is not UTF-8"))?;
                Value::Str(s.to_string())
            }
            1 => Value::U64(r.u64()?),
            2 => Value::I64(r.u64()? as i64),
            3 => Value::F64(f64::from_bits(r.u64()?)),
            t => return Err(r.err(format!("unknown value tag {t}"))),
        };
        doc.add(field, value);
    }
    Ok(doc)
}

/// A log file's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogHeader {
    /// Format version (1 or 2).
    pub version: u32,
    /// Sequence number of the file's first record.
    pub first_lsn: u64,
    /// The index the log belongs to ([`IndexId::UNKNOWN`] in version 1).
    pub index_id: IndexId,
    /// The newest commit generation when the file was started: a log file
    /// started after commit `g` proves that commit `g` existed (version 2;
    /// `None` in version 1).
    pub base_generation: Option<u64>,
    /// Bytes of the header.
    pub len: usize,
}

/// The header of a log file of index `index_id`, whose first record has
/// sequence number `first_lsn`, started when `base_generation` was the
/// newest commit.
pub fn encode_header(first_lsn: u64, index_id: IndexId, base_generation: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(WAL_MAGIC);
    h[4..8].copy_from_slice(&WAL_VERSION.to_le_bytes());
    h[8..16].copy_from_slice(&first_lsn.to_le_bytes());
    h[16..32].copy_from_slice(&index_id.0);
    h[32..40].copy_from_slice(&base_generation.to_le_bytes());
    let crc = crc32fast::hash(&h[..40]);
    h[40..].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Checks a header (version 1 or 2) at the start of `h` and decodes it.
/// A newer version is [`StoreError::UnsupportedVersion`]; a version field
/// whose flip back to a known version makes the header's checksum hold is
/// damage ([`StoreError::Corrupt`]).
pub fn decode_header(file: &str, h: &[u8]) -> StoreResult<LogHeader> {
    if h.len() < 8 {
        return Err(StoreError::corrupt(
            file,
            0,
            HEADER_V1_LEN as u64,
            h.len() as u64,
            "log header truncated",
        ));
    }
    if &h[..4] != WAL_MAGIC {
        return Err(StoreError::corrupt(file, 0, 0, 0, "not a write-ahead log"));
    }
    let version = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    let len = match version {
        1 => HEADER_V1_LEN,
        2 => HEADER_LEN,
        v => {
            // A known layout whose checksum holds once the version field is
            // set back is a damaged version field; otherwise a newer release
            // wrote it (an older one never wrote another version).
            let damaged = [(1u32, HEADER_V1_LEN), (2, HEADER_LEN)]
                .iter()
                .any(|&(known, l)| {
                    h.len() >= l && {
                        let mut c = h[..l].to_vec();
                        c[4..8].copy_from_slice(&known.to_le_bytes());
                        crc32fast::hash(&c[..l - 4]).to_le_bytes() == c[l - 4..l]
                    }
                });
            if damaged || v < WAL_VERSION {
                return Err(StoreError::corrupt(
                    file,
                    4,
                    WAL_VERSION as u64,
                    v as u64,
                    "log version field damaged",
                ));
            }
            return Err(StoreError::UnsupportedVersion {
                file: file.to_string(),
                format: "write-ahead log".into(),
                found: v,
                min: 1,
                max: WAL_VERSION,
            });
        }
    };
    if h.len() < len {
        return Err(StoreError::corrupt(
            file,
            0,
            len as u64,
            h.len() as u64,
            "log header truncated",
        ));
    }
    let expected = crc32fast::hash(&h[..len - 4]);
    let actual = u32::from_le_bytes([h[len - 4], h[len - 3], h[len - 2], h[len - 1]]);
    if expected != actual {
        return Err(StoreError::corrupt(
            file,
            (len - 4) as u64,
            expected as u64,
            actual as u64,
            "log header checksum mismatch",
        ));
    }
    let u64_at = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&h[i..i + 8]);
        u64::from_le_bytes(b)
    };
    let mut header = LogHeader {
        version,
        first_lsn: u64_at(8),
        index_id: IndexId::UNKNOWN,
        base_generation: None,
        len,
    };
    if version >= 2 {
        header.index_id.0.copy_from_slice(&h[16..32]);
        header.base_generation = Some(u64_at(32));
    }
    Ok(header)
}

/// File name of the log whose first record is `first_lsn`.
pub fn file_name(first_lsn: u64) -> String {
    format!("wal-{first_lsn:020}.log")
}

/// Parses a log file name into its first lsn.
pub fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("wal-")?.strip_suffix(".log")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Document {
        let mut d = Document::new();
        d.add_u64(Field(0), 7)
            .add_text(Field(2), "disk full")
            .add_i64(Field(1), -5)
            .add_f64(Field(3), 1.5);
        d
    }

    #[test]
    fn records_round_trip() {
        let recs = vec![
            Record::Add { lsn: 1, doc: doc() },
            Record::Delete {
                lsn: 2,
                key: b"k".to_vec(),
            },
            Record::Update {
                lsn: 3,
                key: b"x".to_vec(),
                doc: doc(),
            },
            Record::Rollback {
                lsn: 9,
                from_lsn: 5,
            },
        ];
        for rec in recs {
            let mut out = Vec::new();
            rec.encode_into(&mut out);
            let len = u32::from_le_bytes(out[..4].try_into().unwrap()) as usize;
            assert_eq!(len + FRAME_LEN, out.len());
            let back = Record::decode("w", 8, &out[FRAME_LEN..]).unwrap();
            assert_eq!(back, rec);
        }
    }

    #[test]
    fn every_truncated_or_flipped_body_is_an_error_or_a_record() {
        let mut out = Vec::new();
        Record::Update {
            lsn: 3,
            key: b"x".to_vec(),
            doc: doc(),
        }
        .encode_into(&mut out);
        let body = &out[FRAME_LEN..];
        for n in 0..body.len() {
            assert!(Record::decode("w", 8, &body[..n]).is_err());
        }
        for i in 0..body.len() * 8 {
            let mut b = body.to_vec();
            b[i / 8] ^= 1 << (i % 8);
            let _ = Record::decode("w", 8, &b);
        }
    }

    #[test]
    fn header_and_names() {
        let id = IndexId::fresh();
        let h = encode_header(42, id, 7);
        let d = decode_header("w", &h).unwrap();
        assert_eq!(
            (d.first_lsn, d.index_id, d.base_generation),
            (42, id, Some(7))
        );
        assert_eq!(d.len, HEADER_LEN);
        for i in 0..HEADER_LEN * 8 {
            let mut bad = h;
            bad[i / 8] ^= 1 << (i % 8);
            assert!(
                decode_header("w", &bad).unwrap_err().is_corrupt(),
                "bit {i}"
            );
        }
        // Version 1: no identity, no base generation.
        let mut v1 = [0u8; HEADER_V1_LEN];
        v1[..4].copy_from_slice(WAL_MAGIC);
        v1[4..8].copy_from_slice(&1u32.to_le_bytes());
        v1[8..16].copy_from_slice(&42u64.to_le_bytes());
        let crc = crc32fast::hash(&v1[..16]);
        v1[16..].copy_from_slice(&crc.to_le_bytes());
        let d = decode_header("w", &v1).unwrap();
        assert_eq!(
            (d.first_lsn, d.index_id, d.base_generation),
            (42, IndexId::UNKNOWN, None)
        );
        assert_eq!(d.len, HEADER_V1_LEN);
        assert_eq!(parse_file_name(&file_name(42)), Some(42));
        assert_eq!(parse_file_name("wal-42.log"), None);
        assert!(file_name(9) < file_name(10));
    }
}
