//! Shipped log batches: write-ahead-log records of one writer epoch in
//! one create-only object `wal/<epoch>-<first lsn>`.
//!
//! ```text
//! "LSHP" | u32 version (1) | 16-byte index id | u64 epoch | u64 first lsn | u64 last lsn
//!        | u32 record count | records | u32 CRC32 of all before
//! record: u32 body length | u32 CRC32(body) | body      (Lucerna's log record framing)
//! ```
//!
//! The record bodies are Lucerna's write-ahead-log records
//! ([`Record`]), decoded with its own decoder. A batch is written whole
//! and never appended to, so any damage (a torn or short object included)
//! is an error naming the object, never a silently shorter log.

use crate::error::{ObjectError, Result};
use lucerna::index::IndexId;
use lucerna::Record;

const MAGIC: &[u8; 4] = b"LSHP";
const VERSION: u32 = 1;
const HEAD_LEN: usize = 4 + 4 + 16 + 8 + 8 + 8 + 4;

/// One decoded batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The index.
    pub index_id: IndexId,
    /// The writer epoch that shipped it.
    pub epoch: u64,
    /// Smallest lsn in it.
    pub first_lsn: u64,
    /// Largest lsn any of its operations takes.
    pub last_lsn: u64,
    /// The records, in the order shipped.
    pub records: Vec<Record>,
}

/// Encodes a batch of `records` (not empty).
pub fn encode(index_id: IndexId, epoch: u64, records: &[Record]) -> Vec<u8> {
    let first = records.iter().map(Record::lsn).min().unwrap_or(0);
    let last = records.iter().map(Record::last_lsn).max().unwrap_or(0);
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&index_id.0);
    out.extend_from_slice(&epoch.to_le_bytes());
    out.extend_from_slice(&first.to_le_bytes());
    out.extend_from_slice(&last.to_le_bytes());
    out.extend_from_slice(&(records.len() as u32).to_le_bytes());
    for r in records {
        r.encode_into(&mut out);
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Decodes and verifies batch object `key`.
pub fn decode(key: &str, b: &[u8]) -> Result<Batch> {
    let bad = |o: usize, e: u64, a: u64, why: &str| ObjectError::corrupt(key, o as u64, e, a, why);
    if b.len() < HEAD_LEN + 4 {
        return Err(bad(
            0,
            (HEAD_LEN + 4) as u64,
            b.len() as u64,
            "log batch shorter than its header",
        ));
    }
    let end = b.len() - 4;
    let stored = u32::from_le_bytes(b[end..].try_into().unwrap_or_default());
    let actual = crc32fast::hash(&b[..end]);
    if stored != actual {
        return Err(bad(
            end,
            stored as u64,
            actual as u64,
            "log batch CRC32 mismatch",
        ));
    }
    if &b[..4] != MAGIC {
        return Err(bad(0, 0, 0, "not a log batch (magic)"));
    }
    let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap_or_default());
    let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap_or_default());
    if u32_at(4) != VERSION {
        return Err(bad(
            4,
            VERSION as u64,
            u32_at(4) as u64,
            "unsupported log batch version",
        ));
    }
    let mut id = [0u8; 16];
    id.copy_from_slice(&b[8..24]);
    let epoch = u64_at(24);
    let first = u64_at(32);
    let last = u64_at(40);
    let count = u32_at(48) as usize;
    let mut records = Vec::with_capacity(count.min(4096));
    let mut at = HEAD_LEN;
    while at < end {
        if end - at < 8 {
            return Err(bad(at, 8, (end - at) as u64, "record frame cut short"));
        }
        let len = u32_at(at) as usize;
        let crc = u32_at(at + 4);
        let body_at = at + 8;
        if len > end - body_at {
            return Err(bad(
                at,
                len as u64,
                (end - body_at) as u64,
                "record longer than the batch",
            ));
        }
        let body = &b[body_at..body_at + len];
        let c = crc32fast::hash(body);
        if c != crc {
            return Err(bad(at, crc as u64, c as u64, "record CRC32 mismatch"));
        }
        let rec = Record::decode(key, body_at as u64, body)?;
        if rec.lsn() < first || rec.last_lsn() > last {
            return Err(bad(
                body_at,
                first,
                rec.lsn(),
                "record lsn outside the batch's range",
            ));
        }
        records.push(rec);
        at = body_at + len;
    }
    if records.len() != count {
        return Err(bad(
            48,
            count as u64,
            records.len() as u64,
            "record count differs",
        ));
    }
    Ok(Batch {
        index_id: IndexId(id),
        epoch,
        first_lsn: first,
        last_lsn: last,
        records,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lucerna::Document;

    #[test]
    fn round_trip_and_damage_is_an_error() {
        let mut d = Document::new();
        d.add_u64(lucerna::schema::Field(0), 5);
        let recs = vec![
            Record::Add {
                lsn: 7,
                doc: d.clone(),
            },
            Record::Delete {
                lsn: 9,
                key: vec![1, 2],
            },
            Record::Update {
                lsn: 10,
                key: vec![3],
                doc: d,
            },
        ];
        let id = IndexId::fresh();
        let b = encode(id, 3, &recs);
        let back = decode("k", &b).unwrap();
        assert_eq!((back.epoch, back.first_lsn, back.last_lsn), (3, 7, 11));
        assert_eq!(back.records, recs);
        for i in 0..b.len() {
            let mut x = b.clone();
            x[i] ^= 1;
            assert!(decode("k", &x).is_err());
        }
        for n in 0..b.len() {
            assert!(decode("k", &b[..n]).is_err());
        }
    }
}
