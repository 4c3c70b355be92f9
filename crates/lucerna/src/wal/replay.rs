//! Reading the write-ahead log back: every record after a commit's
//! position, in sequence order, with torn tails cut off.
//!
//! A crash can leave the last record a process was writing to a log file
//! incomplete (a *torn tail*): its frame runs past the end of the file, or
//! its checksum fails and nothing follows it. Such a record was never
//! acknowledged (acknowledgement waits for the fsync that would have
//! completed it), so it is dropped and reported. Every writer session
//! starts a new file, so a torn tail can end any file, not just the newest.
//!
//! A record that fails its checksum *with more records after it* is damage
//! in the middle of the log: an error naming the file, offset and both
//! checksums, unless the caller asked for a [`lenient`](ReplayMode::Lenient)
//! replay, which skips it and reports what it skipped.

use super::record::{decode_header, parse_file_name, Record, FRAME_LEN, HEADER_LEN};
use lucerna_store::{Directory, Result as StoreResult, StoreError};

/// How damage in the middle of a log is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReplayMode {
    /// A corrupt record before the end of a file is an error (default).
    #[default]
    Strict,
    /// A corrupt record is skipped (when its length is plausible) or ends
    /// the file; [`ReplayReport::skipped`] lists what was skipped.
    Lenient,
}

/// A span of a log file that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedSpan {
    /// The log file.
    pub file: String,
    /// Byte offset of the span.
    pub offset: u64,
    /// Its length in bytes.
    pub len: u64,
    /// Why.
    pub reason: String,
}

/// What a replay found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplayReport {
    /// Log files read.
    pub files: usize,
    /// Records found in them (any position).
    pub records_read: u64,
    /// Records after the commit's position that were applied.
    pub replayed: u64,
    /// Records voided by a logged rollback.
    pub rolled_back: u64,
    /// Replayed documents the writer rejected (e.g. an analyzer changed).
    pub rejected: u64,
    /// Torn tails dropped (never acknowledged).
    pub torn: Vec<SkippedSpan>,
    /// Corrupt spans skipped by a lenient replay.
    pub skipped: Vec<SkippedSpan>,
    /// Highest sequence number seen in any log (0 if none).
    pub max_lsn: u64,
}

/// Every log file of `dir`, as `(first_lsn, name)` in lsn order.
pub fn list_logs(dir: &dyn Directory) -> StoreResult<Vec<(u64, String)>> {
    let mut v: Vec<(u64, String)> = dir
        .list()?
        .into_iter()
        .filter_map(|n| parse_file_name(&n).map(|l| (l, n)))
        .collect();
    v.sort();
    Ok(v)
}

/// Reads every log of `dir` and returns the records with an lsn greater
/// than `after`, sorted, rollbacks applied (the rollback records
/// themselves are not returned), with the report.
pub fn read_logs(
    dir: &dyn Directory,
    after: u64,
    mode: ReplayMode,
) -> StoreResult<(Vec<Record>, ReplayReport)> {
    let mut report = ReplayReport::default();
    let mut all = Vec::new();
    for (first, name) in list_logs(dir)? {
        report.files += 1;
        report.max_lsn = report.max_lsn.max(first.saturating_sub(1));
        let bytes = dir.open(&name)?;
        read_file(&name, first, &bytes, mode, &mut all, &mut report)?;
    }
    report.records_read = all.len() as u64;
    for r in &all {
        report.max_lsn = report.max_lsn.max(r.last_lsn());
    }
    all.retain(|r| r.lsn() > after);
    all.sort_by_key(Record::lsn);
    let mut out: Vec<Record> = Vec::with_capacity(all.len());
    for r in all {
        if let Record::Rollback { from_lsn, .. } = r {
            let before = out.len();
            out.retain(|x| x.lsn() < from_lsn);
            report.rolled_back += (before - out.len()) as u64;
        } else {
            out.push(r);
        }
    }
    report.replayed = out.len() as u64;
    Ok((out, report))
}

fn read_file(
    name: &str,
    first: u64,
    bytes: &[u8],
    mode: ReplayMode,
    out: &mut Vec<Record>,
    report: &mut ReplayReport,
) -> StoreResult<()> {
    if bytes.len() < HEADER_LEN {
        // Created, header never made durable: nothing was acknowledged.
        if !bytes.is_empty() {
            report
                .torn
                .push(span(name, 0, bytes.len(), "incomplete header"));
        }
        return Ok(());
    }
    let header_first = match decode_header(name, &bytes[..HEADER_LEN]) {
        Ok(f) => f,
        Err(e) if mode == ReplayMode::Lenient => {
            report
                .skipped
                .push(span(name, 0, bytes.len(), &format!("bad header: {e}")));
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    if header_first != first {
        let e = StoreError::corrupt(
            name,
            8,
            first,
            header_first,
            "first lsn differs from file name",
        );
        if mode == ReplayMode::Lenient {
            report
                .skipped
                .push(span(name, 0, bytes.len(), &e.to_string()));
            return Ok(());
        }
        return Err(e);
    }
    let mut pos = HEADER_LEN;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        if rest.len() < FRAME_LEN {
            report
                .torn
                .push(span(name, pos, rest.len(), "incomplete frame"));
            break;
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let expected = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        if len > rest.len() - FRAME_LEN {
            report
                .torn
                .push(span(name, pos, rest.len(), "record runs past the end"));
            break;
        }
        let body = &rest[FRAME_LEN..FRAME_LEN + len];
        let end = pos + FRAME_LEN + len;
        let actual = crc32fast::hash(body);
        let decoded = if actual != expected {
            Err(StoreError::corrupt(
                name,
                pos as u64,
                expected as u64,
                actual as u64,
                "log record checksum mismatch",
            ))
        } else {
            Record::decode(name, (pos + FRAME_LEN) as u64, body)
        };
        match decoded {
            Ok(rec) => {
                if rec.lsn() < first {
                    let e = StoreError::corrupt(
                        name,
                        pos as u64,
                        first,
                        rec.lsn(),
                        "record lsn below the file's first lsn",
                    );
                    if mode == ReplayMode::Strict {
                        return Err(e);
                    }
                    report
                        .skipped
                        .push(span(name, pos, end - pos, &e.to_string()));
                } else {
                    out.push(rec);
                }
            }
            Err(_) if actual != expected && end == bytes.len() => {
                report
                    .torn
                    .push(span(name, pos, end - pos, "torn last record"));
            }
            Err(e) if mode == ReplayMode::Lenient => {
                report
                    .skipped
                    .push(span(name, pos, end - pos, &e.to_string()));
            }
            Err(e) => return Err(e),
        }
        pos = end;
    }
    Ok(())
}

fn span(file: &str, offset: usize, len: usize, reason: &str) -> SkippedSpan {
    SkippedSpan {
        file: file.to_string(),
        offset: offset as u64,
        len: len as u64,
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::record::{encode_header, file_name};
    use super::*;
    use crate::document::Document;
    use lucerna_store::{write_file, RamDirectory};

    fn log(first: u64, lsns: &[u64]) -> Vec<u8> {
        let mut b = encode_header(first).to_vec();
        for &l in lsns {
            Record::Delete {
                lsn: l,
                key: vec![l as u8],
            }
            .encode_into(&mut b);
        }
        b
    }

    fn lsns(recs: &[Record]) -> Vec<u64> {
        recs.iter().map(Record::lsn).collect()
    }

    #[test]
    fn records_after_the_position_in_order() {
        let dir = RamDirectory::new();
        write_file(&dir, &file_name(1), &log(1, &[1, 3, 2])).unwrap();
        write_file(&dir, &file_name(4), &log(4, &[5, 4])).unwrap();
        let (recs, rep) = read_logs(&dir, 2, ReplayMode::Strict).unwrap();
        assert_eq!(lsns(&recs), vec![3, 4, 5]);
        assert_eq!(rep.records_read, 5);
        assert_eq!(rep.max_lsn, 5);
    }

    #[test]
    fn every_truncation_is_a_torn_tail() {
        let full = log(1, &[1, 2, 3]);
        for n in 0..full.len() {
            let dir = RamDirectory::new();
            write_file(&dir, &file_name(1), &full[..n]).unwrap();
            let (recs, rep) = read_logs(&dir, 0, ReplayMode::Strict).unwrap();
            let whole = recs.len();
            assert!(whole <= 3);
            let cut_mid_record =
                n > HEADER_LEN && !(n - HEADER_LEN).is_multiple_of((full.len() - HEADER_LEN) / 3);
            assert_eq!(
                !rep.torn.is_empty(),
                cut_mid_record || (n > 0 && n < HEADER_LEN)
            );
        }
    }

    #[test]
    fn corruption_in_the_middle_is_an_error_unless_lenient() {
        let mut b = log(1, &[1, 2, 3]);
        let rec_len = (b.len() - HEADER_LEN) / 3;
        b[HEADER_LEN + FRAME_LEN + 2] ^= 0x40; // record 1's body
        let dir = RamDirectory::new();
        write_file(&dir, &file_name(1), &b).unwrap();
        let e = read_logs(&dir, 0, ReplayMode::Strict).unwrap_err();
        assert!(e.is_corrupt(), "{e}");
        assert!(e.to_string().contains(&file_name(1)), "{e}");
        let (recs, rep) = read_logs(&dir, 0, ReplayMode::Lenient).unwrap();
        assert_eq!(lsns(&recs), vec![2, 3]);
        assert_eq!(rep.skipped.len(), 1);
        assert_eq!(rep.skipped[0].offset, HEADER_LEN as u64);
        assert_eq!(rep.skipped[0].len, rec_len as u64);
        // The same damage in the last record is a torn tail.
        let mut b = log(1, &[1, 2, 3]);
        let last = b.len() - 1;
        b[last] ^= 1;
        let dir = RamDirectory::new();
        write_file(&dir, &file_name(1), &b).unwrap();
        let (recs, rep) = read_logs(&dir, 0, ReplayMode::Strict).unwrap();
        assert_eq!(lsns(&recs), vec![1, 2]);
        assert_eq!(rep.torn.len(), 1);
    }

    #[test]
    fn rollback_voids_its_range() {
        let mut b = encode_header(1).to_vec();
        for l in 1..=4 {
            Record::Add {
                lsn: l,
                doc: Document::new(),
            }
            .encode_into(&mut b);
        }
        Record::Rollback {
            lsn: 5,
            from_lsn: 3,
        }
        .encode_into(&mut b);
        Record::Add {
            lsn: 6,
            doc: Document::new(),
        }
        .encode_into(&mut b);
        let dir = RamDirectory::new();
        write_file(&dir, &file_name(1), &b).unwrap();
        let (recs, rep) = read_logs(&dir, 1, ReplayMode::Strict).unwrap();
        assert_eq!(lsns(&recs), vec![2, 6]);
        assert_eq!(rep.rolled_back, 2);
    }
}
