//! Reading the write-ahead log back: every record after a commit's
//! position, in sequence order, with torn tails cut off, foreign files
//! refused and damage classified.
//!
//! A crash can leave the last record a process was writing to a log file
//! incomplete (a *torn tail*): its frame runs past the end of the file, or
//! its checksum fails and nothing readable follows it. Such a record was
//! never acknowledged (acknowledgement waits for the fsync that would have
//! completed it), so it is dropped and reported. Every writer session
//! starts a new file, so a torn tail can end any file, not just the newest
//! — but only where the next file continues the sequence numbers right
//! after the last intact record (a crashed session's successor starts
//! there). A damaged end of a file whose successor starts later lost
//! records that were synced: that is damage, not a torn tail.
//!
//! Damage is *covered* when every sequence number it can hold is at or
//! below the position replay starts from (`after`: a commit already holds
//! those operations): it is reported in [`ReplayReport::covered_damage`]
//! and never stops a replay. Damage above it, a gap in the sequence
//! numbers between files, or a log file of another index is an error
//! naming the file, offset and checksums, unless the caller asked for a
//! [`lenient`](ReplayMode::Lenient) replay, which skips it and reports
//! what it skipped. A file of another index ([`ReplayReport::foreign`]) is
//! never replayed, in either mode.

use super::record::{
    decode_header, is_record_kind, parse_file_name, salvage_u64s, LogHeader, Record, FRAME_LEN,
};
use crate::index::identity::IndexId;
use lucerna_store::{Directory, Result as StoreResult, StoreError};

/// How damage in the middle of a log is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReplayMode {
    /// Damage that a commit does not cover is an error (default).
    #[default]
    Strict,
    /// Uncovered damage is skipped (when a later record can be found) or
    /// ends the file; [`ReplayReport::skipped`] lists what was skipped.
    Lenient,
}

/// A span of a log file that could not be read.
#[derive(Debug, Clone, PartialEq)]
pub struct SkippedSpan {
    /// The log file.
    pub file: String,
    /// Byte offset of the span.
    pub offset: u64,
    /// Its length in bytes.
    pub len: u64,
    /// Why.
    pub reason: String,
    /// The sequence numbers the span can hold (first, last), when the
    /// records around it tell (empty when `first > last`).
    pub lsns: Option<(u64, u64)>,
    /// The damaged record decoded without its checksum, when its bytes
    /// still decode: a hint of what was lost, never replayed.
    pub unverified: Option<Record>,
    /// The `u64` values (field ordinal, value) the damaged record's bytes
    /// still name before their first undecodable byte (unverified).
    pub unverified_u64s: Vec<(u16, u64)>,
}

/// A log file that names another index: never replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignLog {
    /// The file.
    pub file: String,
    /// The index its header names.
    pub index_id: IndexId,
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
    /// Damage above the replay position skipped by a lenient replay
    /// (acknowledged operations may be lost: see each span's `lsns`).
    pub skipped: Vec<SkippedSpan>,
    /// Damage to records a commit already holds: harmless.
    pub covered_damage: Vec<SkippedSpan>,
    /// Log files of another index, never replayed.
    pub foreign: Vec<ForeignLog>,
    /// Sequence numbers above the replay position that no record holds,
    /// as inclusive ranges: where a crash cut records that were appended
    /// out of order (never acknowledged), or where records are missing.
    /// Below a commit's position, every one must be present.
    pub gaps: Vec<(u64, u64)>,
    /// Highest sequence number seen in any log of this index (0 if none).
    pub max_lsn: u64,
    /// The newest commit generation a log file of this index says existed
    /// when it was started, with the log position that commit covers (the
    /// file's first lsn − 1) and the file: a newer commit than the
    /// directory's newest proves that commit is missing.
    pub newest_commit_seen: Option<(u64, u64, String)>,
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

/// The header of every readable log file of `dir` (in lsn order), without
/// reading their records: what a reader needs to know whether a newer
/// commit than the directory's newest existed. Files whose header is
/// unreadable are left out.
pub fn read_log_headers(dir: &dyn Directory) -> StoreResult<Vec<(String, LogHeader)>> {
    let mut out = Vec::new();
    for (_, name) in list_logs(dir)? {
        let bytes = match dir.open(&name) {
            Ok(b) => b,
            Err(StoreError::NotFound { .. } | StoreError::StillWriting { .. }) => continue,
            Err(e) => return Err(e),
        };
        if let Ok(h) = decode_header(&name, &bytes[..bytes.len().min(super::record::HEADER_LEN)]) {
            out.push((name, h));
        }
    }
    Ok(out)
}

/// The newest commit the log files of index `index_id` in `dir` say
/// existed: `(generation, log position it covers, file)`.
pub fn newest_commit_in_logs(
    dir: &dyn Directory,
    index_id: IndexId,
) -> StoreResult<Option<(u64, u64, String)>> {
    let mut best: Option<(u64, u64, String)> = None;
    for (name, h) in read_log_headers(dir)? {
        if let (true, Some(g)) = (index_id.accepts(h.index_id), h.base_generation) {
            if best.as_ref().is_none_or(|b| b.0 < g) {
                best = Some((g, h.first_lsn.saturating_sub(1), name));
            }
        }
    }
    Ok(best)
}

/// One log file, parsed.
struct FileScan {
    name: String,
    first: u64,
    /// Intact records.
    records: Vec<Record>,
    /// Highest lsn among them, or `first - 1`.
    max_lsn: u64,
    /// Damage: (span, last intact lsn before it, first intact lsn after it
    /// in this file).
    damage: Vec<(SkippedSpan, u64, Option<u64>)>,
    /// A damaged or incomplete end: (span, last intact lsn before it).
    tail: Option<(SkippedSpan, u64)>,
}

/// Reads every log of `dir` belonging to index `index_id` and returns the
/// records with an lsn greater than `after`, sorted, rollbacks applied
/// (the rollback records themselves are not returned), with the report.
pub fn read_logs(
    dir: &dyn Directory,
    index_id: IndexId,
    after: u64,
    mode: ReplayMode,
) -> StoreResult<(Vec<Record>, ReplayReport)> {
    let mut report = ReplayReport::default();
    let mut scans: Vec<FileScan> = Vec::new();
    for (first, name) in list_logs(dir)? {
        let bytes = match dir.open(&name) {
            Ok(b) => b,
            // Deleted since it was listed (a writer deletes covered logs),
            // or being written by a writer of this process (a directory
            // that cannot show a file until it is finished).
            Err(StoreError::NotFound { .. } | StoreError::StillWriting { .. }) => continue,
            Err(e) => return Err(e),
        };
        report.files += 1;
        if let Some(scan) = scan_file(&name, first, &bytes, index_id, &mut report)? {
            scans.push(scan);
        }
    }
    foreign_in_range(after, mode, &mut report)?;
    let mut all = Vec::new();
    for i in 0..scans.len() {
        let next = scans.get(i + 1).map(|s| (s.first, s.name.clone()));
        classify(
            &mut scans[i],
            next.as_ref().map(|n| n.0),
            after,
            mode,
            &mut report,
        )?;
        if let Some((first, name)) = next {
            continuity(&scans[i], first, &name, after, mode, &mut report)?;
        }
        report.max_lsn = report.max_lsn.max(scans[i].max_lsn);
        all.append(&mut scans[i].records);
    }
    report.records_read = all.len() as u64;
    let out = in_order(all, after, &mut report);
    report.replayed = out.len() as u64;
    Ok((out, report))
}

/// A file of another index where this index's later records would be:
/// ours of that name may have been replaced, so the log is not known to
/// be complete. An error, or a skipped span in lenient mode.
fn foreign_in_range(after: u64, mode: ReplayMode, report: &mut ReplayReport) -> StoreResult<()> {
    for f in report.foreign.clone() {
        let first = parse_file_name(&f.file).unwrap_or(0);
        if first <= after {
            continue;
        }
        let reason = format!(
            "a log file of another index (id {}) holds this index's place from operation {first} on",
            f.index_id
        );
        if mode == ReplayMode::Strict {
            return Err(StoreError::corrupt(&f.file, 16, 0, 0, reason));
        }
        report.skipped.push(span(&f.file, 0, 0, &reason));
    }
    Ok(())
}

/// Sequence numbers must continue from `scan` to the next file (starting
/// at `next_first`), unless a commit covers the gap (a session without a
/// log in between). A gap is an error, or a skipped span in lenient mode.
fn continuity(
    scan: &FileScan,
    next_first: u64,
    next_name: &str,
    after: u64,
    mode: ReplayMode,
    report: &mut ReplayReport,
) -> StoreResult<()> {
    let have = scan.max_lsn;
    if next_first <= have.saturating_add(1) || next_first - 1 <= after {
        return Ok(());
    }
    let from = have.saturating_add(1).max(after.saturating_add(1));
    let reason = format!(
        "operations {from}..={} are missing from the log (between `{}` and `{next_name}`)",
        next_first - 1,
        scan.name,
    );
    if mode == ReplayMode::Strict {
        return Err(StoreError::corrupt(
            next_name,
            8,
            have.saturating_add(1),
            next_first,
            reason,
        ));
    }
    let mut sp = span(next_name, 0, 0, &reason);
    sp.lsns = Some((from, next_first - 1));
    report.skipped.push(sp);
    Ok(())
}

/// The records after `after`, in sequence order, rollbacks applied (and
/// not returned); the sequence numbers no record holds go to
/// `report.gaps`.
fn in_order(mut all: Vec<Record>, after: u64, report: &mut ReplayReport) -> Vec<Record> {
    all.retain(|r| r.lsn() > after);
    all.sort_by_key(Record::lsn);
    let mut expect = after.saturating_add(1);
    for r in &all {
        if r.lsn() > expect {
            report.gaps.push((expect, r.lsn() - 1));
        }
        expect = expect.max(r.last_lsn().saturating_add(1));
    }
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
    out
}

/// Sorts one file's damage into covered, skipped (or an error) and torn,
/// now that the next file's first lsn is known.
fn classify(
    scan: &mut FileScan,
    next_first: Option<u64>,
    after: u64,
    mode: ReplayMode,
    report: &mut ReplayReport,
) -> StoreResult<()> {
    // The first lsn that is certainly not in this file's damaged end.
    let bound = next_first;
    for (mut span, before, next) in std::mem::take(&mut scan.damage) {
        // The damaged bytes hold lsns between the records around them.
        let upper = next.or(bound);
        span.lsns = upper.map(|u| (before.saturating_add(1), u.saturating_sub(1)));
        match upper {
            Some(u) if u.saturating_sub(1) <= after => report.covered_damage.push(span),
            _ => uncovered(span, mode, report)?,
        }
    }
    if let Some((mut span, before)) = scan.tail.take() {
        match next_first {
            // Nothing was logged past the last intact record before the
            // next session started: a crash's torn tail, never acknowledged.
            Some(n) if n <= before.saturating_add(1) => report.torn.push(span),
            Some(n) => {
                span.lsns = Some((before.saturating_add(1), n - 1));
                if n - 1 <= after {
                    report.covered_damage.push(span);
                } else {
                    span.reason = format!(
                        "{}; the next log file starts at {n}: operations {}..={} are lost",
                        span.reason,
                        before.saturating_add(1),
                        n - 1
                    );
                    uncovered(span, mode, report)?;
                }
            }
            None => report.torn.push(span),
        }
    }
    Ok(())
}

fn uncovered(span: SkippedSpan, mode: ReplayMode, report: &mut ReplayReport) -> StoreResult<()> {
    if mode == ReplayMode::Strict {
        return Err(StoreError::corrupt(
            &span.file,
            span.offset,
            0,
            0,
            format!("{} (records the newest commit does not hold)", span.reason),
        ));
    }
    report.skipped.push(span);
    Ok(())
}

/// Parses one file. `None` for a file that holds nothing (no header) or
/// belongs to another index (reported in `report.foreign`).
fn scan_file(
    name: &str,
    first: u64,
    bytes: &[u8],
    index_id: IndexId,
    report: &mut ReplayReport,
) -> StoreResult<Option<FileScan>> {
    let mut scan = FileScan {
        name: name.to_string(),
        first,
        records: Vec::new(),
        max_lsn: first.saturating_sub(1),
        damage: Vec::new(),
        tail: None,
    };
    let header = match decode_header(name, bytes) {
        Ok(h) if h.first_lsn != first => Err(StoreError::corrupt(
            name,
            8,
            first,
            h.first_lsn,
            "first lsn differs from file name",
        )),
        r => r,
    };
    let header = match header {
        Ok(h) => h,
        // Intact, but written by a newer release: never damage.
        Err(e) if e.is_incompatible() => return Err(e),
        // No room for a record: a header a crash cut short (nothing was
        // ever acknowledged from this file).
        Err(_) if bytes.len() <= super::record::HEADER_LEN => {
            if !bytes.is_empty() {
                report
                    .torn
                    .push(span(name, 0, bytes.len(), "incomplete header"));
            }
            return Ok(None);
        }
        // Records follow a damaged header: the whole file is damage (its
        // identity cannot be told), covered only when the next file
        // starts at or below `after`.
        Err(e) => {
            scan.damage.push((
                span(name, 0, bytes.len(), &format!("bad header: {e}")),
                first.saturating_sub(1),
                None,
            ));
            return Ok(Some(scan));
        }
    };
    if !index_id.accepts(header.index_id) {
        report.foreign.push(ForeignLog {
            file: name.to_string(),
            index_id: header.index_id,
        });
        return Ok(None);
    }
    if let Some(g) = header.base_generation {
        if report.newest_commit_seen.as_ref().is_none_or(|b| b.0 < g) {
            report.newest_commit_seen = Some((g, first.saturating_sub(1), name.to_string()));
        }
    }
    scan_records(name, bytes, header.len, &mut scan);
    Ok(Some(scan))
}

/// Reads the records of a log file from `pos` on into `scan`: intact
/// records, damage in the middle (searched past for the next intact
/// record) and a damaged or incomplete end.
fn scan_records(name: &str, bytes: &[u8], mut pos: usize, scan: &mut FileScan) {
    let first = scan.first;
    let mut last_good = first.saturating_sub(1);
    while pos < bytes.len() {
        match read_frame(name, bytes, pos) {
            Frame::Record(rec, end) => {
                if rec.lsn() < first {
                    let e = StoreError::corrupt(
                        name,
                        pos as u64,
                        first,
                        rec.lsn(),
                        "record lsn below the file's first lsn",
                    );
                    scan.damage
                        .push((span(name, pos, end - pos, &e.to_string()), last_good, None));
                } else {
                    last_good = last_good.max(rec.last_lsn());
                    scan.max_lsn = scan.max_lsn.max(rec.last_lsn());
                    // Damage found earlier whose next record was unknown.
                    for d in scan.damage.iter_mut().filter(|d| d.2.is_none()) {
                        d.2 = Some(rec.lsn());
                    }
                    scan.records.push(rec);
                }
                pos = end;
            }
            Frame::Bad {
                reason,
                unverified,
                salvaged,
            } => {
                // Look for the next intact record: found, the damage is in
                // the middle; none, it is the file's end.
                match find_next_frame(name, bytes, pos + 1, first) {
                    Some(next) => {
                        let mut sp = span(name, pos, next - pos, &reason);
                        sp.unverified = unverified;
                        sp.unverified_u64s = salvaged;
                        scan.damage.push((sp, last_good, None));
                        pos = next;
                    }
                    None => {
                        let mut sp = span(name, pos, bytes.len() - pos, &reason);
                        sp.unverified = unverified;
                        sp.unverified_u64s = salvaged;
                        scan.tail = Some((sp, last_good));
                        break;
                    }
                }
            }
        }
    }
}

enum Frame {
    /// An intact record ending at the offset.
    Record(Record, usize),
    /// Not an intact record.
    Bad {
        reason: String,
        unverified: Option<Record>,
        salvaged: Vec<(u16, u64)>,
    },
}

/// The frame at `pos` of `bytes`.
fn read_frame(name: &str, bytes: &[u8], pos: usize) -> Frame {
    let rest = &bytes[pos..];
    if rest.len() < FRAME_LEN {
        return Frame::Bad {
            reason: "incomplete frame".into(),
            unverified: None,
            salvaged: Vec::new(),
        };
    }
    let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
    let expected = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
    if len > rest.len() - FRAME_LEN {
        return Frame::Bad {
            reason: "record runs past the end of the file".into(),
            unverified: None,
            salvaged: Vec::new(),
        };
    }
    let body = &rest[FRAME_LEN..FRAME_LEN + len];
    let actual = crc32fast::hash(body);
    let decoded = Record::decode(name, (pos + FRAME_LEN) as u64, body);
    if actual != expected {
        return Frame::Bad {
            reason: format!(
                "log record checksum mismatch (expected {expected:#010x}, actual {actual:#010x})"
            ),
            unverified: decoded.ok(),
            salvaged: salvage_u64s(body),
        };
    }
    match decoded {
        Ok(rec) => Frame::Record(rec, pos + FRAME_LEN + len),
        Err(e) => Frame::Bad {
            reason: e.to_string(),
            unverified: None,
            salvaged: salvage_u64s(body),
        },
    }
}

/// The offset of the first intact record at or after `from` (a frame
/// whose length fits, whose checksum matches and whose body decodes with
/// an lsn ≥ `first`). Candidates are filtered by their plausible lsn and
/// kind before any checksum is computed.
fn find_next_frame(name: &str, bytes: &[u8], from: usize, first: u64) -> Option<usize> {
    let mut p = from;
    while p + FRAME_LEN + 9 <= bytes.len() {
        let rest = &bytes[p..];
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if len >= 9 && len <= rest.len() - FRAME_LEN {
            let body = &rest[FRAME_LEN..FRAME_LEN + len];
            let mut l = [0u8; 8];
            l.copy_from_slice(&body[..8]);
            let lsn = u64::from_le_bytes(l);
            let kind = body[8];
            if lsn >= first && lsn - first < (1 << 40) && is_record_kind(kind) {
                let expected = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
                if crc32fast::hash(body) == expected
                    && Record::decode(name, (p + FRAME_LEN) as u64, body).is_ok()
                {
                    return Some(p);
                }
            }
        }
        p += 1;
    }
    None
}

fn span(file: &str, offset: usize, len: usize, reason: &str) -> SkippedSpan {
    SkippedSpan {
        file: file.to_string(),
        offset: offset as u64,
        len: len as u64,
        reason: reason.to_string(),
        lsns: None,
        unverified: None,
        unverified_u64s: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::record::{encode_header, file_name, HEADER_LEN};
    use super::*;
    use crate::document::Document;
    use crate::index::identity::IndexId;
    use lucerna_store::{write_file, RamDirectory};

    fn log(first: u64, lsns: &[u64]) -> Vec<u8> {
        let mut b = encode_header(first, IndexId::UNKNOWN, 0).to_vec();
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
        let (recs, rep) = read_logs(&dir, IndexId::UNKNOWN, 2, ReplayMode::Strict).unwrap();
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
            let (recs, rep) = read_logs(&dir, IndexId::UNKNOWN, 0, ReplayMode::Strict).unwrap();
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
        let e = read_logs(&dir, IndexId::UNKNOWN, 0, ReplayMode::Strict).unwrap_err();
        assert!(e.is_corrupt(), "{e}");
        assert!(e.to_string().contains(&file_name(1)), "{e}");
        let (recs, rep) = read_logs(&dir, IndexId::UNKNOWN, 0, ReplayMode::Lenient).unwrap();
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
        let (recs, rep) = read_logs(&dir, IndexId::UNKNOWN, 0, ReplayMode::Strict).unwrap();
        assert_eq!(lsns(&recs), vec![1, 2]);
        assert_eq!(rep.torn.len(), 1);
    }

    #[test]
    fn rollback_voids_its_range() {
        let mut b = encode_header(1, IndexId::UNKNOWN, 0).to_vec();
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
        let (recs, rep) = read_logs(&dir, IndexId::UNKNOWN, 1, ReplayMode::Strict).unwrap();
        assert_eq!(lsns(&recs), vec![2, 6]);
        assert_eq!(rep.rolled_back, 2);
    }

    fn log_of(id: IndexId, first: u64, lsns: &[u64]) -> Vec<u8> {
        let mut b = encode_header(first, id, 1).to_vec();
        for &l in lsns {
            Record::Delete {
                lsn: l,
                key: vec![l as u8],
            }
            .encode_into(&mut b);
        }
        b
    }

    #[test]
    fn a_log_of_another_index_is_never_replayed() {
        let (ours, theirs) = (IndexId::fresh(), IndexId::fresh());
        let dir = RamDirectory::new();
        write_file(&dir, &file_name(1), &log_of(ours, 1, &[1, 2])).unwrap();
        write_file(&dir, &file_name(3), &log_of(theirs, 3, &[3, 4, 5])).unwrap();
        // Our records 3.. may be gone (replaced by the foreign file).
        let e = read_logs(&dir, ours, 0, ReplayMode::Strict).unwrap_err();
        assert!(e.to_string().contains("another index"), "{e}");
        // Covered by a commit at 5, it is harmless.
        let (recs, rep) = read_logs(&dir, ours, 5, ReplayMode::Strict).unwrap();
        assert!(recs.is_empty());
        assert_eq!(rep.foreign.len(), 1);
        let (recs, rep) = read_logs(&dir, ours, 0, ReplayMode::Lenient).unwrap();
        assert_eq!(lsns(&recs), vec![1, 2]);
        assert_eq!(rep.foreign.len(), 1);
        assert_eq!(rep.foreign[0].index_id, theirs);
        // A gap between two files of ours is missing records.
        let dir = RamDirectory::new();
        write_file(&dir, &file_name(1), &log_of(ours, 1, &[1, 2])).unwrap();
        write_file(&dir, &file_name(5), &log_of(ours, 5, &[5])).unwrap();
        let e = read_logs(&dir, ours, 0, ReplayMode::Strict).unwrap_err();
        assert!(e.to_string().contains("3..=4"), "{e}");
        assert!(read_logs(&dir, ours, 4, ReplayMode::Strict).is_ok());
    }

    #[test]
    fn damage_a_commit_covers_is_harmless() {
        let id = IndexId::fresh();
        let mut b = log_of(id, 1, &[1, 2, 3]);
        b[HEADER_LEN + FRAME_LEN + 2] ^= 0x40; // record 1's body
        let dir = RamDirectory::new();
        write_file(&dir, &file_name(1), &b).unwrap();
        write_file(&dir, &file_name(4), &log_of(id, 4, &[4, 5])).unwrap();
        // Covered: the commit is at 3 (or at 1: the record after it is 2).
        for after in [1, 3] {
            let (recs, rep) = read_logs(&dir, id, after, ReplayMode::Strict).unwrap();
            assert_eq!(
                lsns(&recs).first(),
                Some(&(after + 1).max(4).min(after + 1))
            );
            assert_eq!(rep.covered_damage.len(), 1, "after {after}");
            assert_eq!(rep.covered_damage[0].lsns, Some((1, 1)));
        }
        // Not covered from position 0.
        assert!(read_logs(&dir, id, 0, ReplayMode::Strict).is_err());
    }

    #[test]
    fn a_damaged_end_followed_by_a_later_file_is_damage_not_a_torn_tail() {
        let id = IndexId::fresh();
        let mut b = log_of(id, 1, &[1, 2, 3]);
        let last = b.len() - 1;
        b[last] ^= 1; // record 3, which a commit at 3 then a roll to 4 followed
        let dir = RamDirectory::new();
        write_file(&dir, &file_name(1), &b).unwrap();
        write_file(&dir, &file_name(4), &log_of(id, 4, &[4])).unwrap();
        let e = read_logs(&dir, id, 2, ReplayMode::Strict).unwrap_err();
        assert!(e.to_string().contains("3..=3"), "{e}");
        let (_, rep) = read_logs(&dir, id, 3, ReplayMode::Strict).unwrap();
        assert_eq!(rep.covered_damage.len(), 1);
        // A crash's torn tail: the next session starts right after the
        // last intact record.
        let dir = RamDirectory::new();
        write_file(&dir, &file_name(1), &b).unwrap();
        write_file(&dir, &file_name(3), &log_of(id, 3, &[3])).unwrap();
        let (recs, rep) = read_logs(&dir, id, 0, ReplayMode::Strict).unwrap();
        assert_eq!(lsns(&recs), vec![1, 2, 3]);
        assert_eq!(rep.torn.len(), 1);
    }

    #[test]
    fn a_damaged_length_is_found_past_not_taken_for_a_torn_tail() {
        let id = IndexId::fresh();
        let mut b = log_of(id, 1, &[1, 2, 3]);
        b[HEADER_LEN + 3] = 0x7f; // record 1's length: runs past the end
        let dir = RamDirectory::new();
        write_file(&dir, &file_name(1), &b).unwrap();
        assert!(read_logs(&dir, id, 0, ReplayMode::Strict).is_err());
        let (recs, rep) = read_logs(&dir, id, 0, ReplayMode::Lenient).unwrap();
        assert_eq!(lsns(&recs), vec![2, 3]);
        assert_eq!(rep.skipped.len(), 1);
        assert!(rep.torn.is_empty());
    }

    #[test]
    fn the_header_names_the_newest_commit() {
        let id = IndexId::fresh();
        let dir = RamDirectory::new();
        write_file(&dir, &file_name(1), &encode_header(1, id, 4)).unwrap();
        write_file(&dir, &file_name(9), &encode_header(9, id, 6)).unwrap();
        write_file(
            &dir,
            &file_name(20),
            &encode_header(20, IndexId::fresh(), 60),
        )
        .unwrap();
        let seen = newest_commit_in_logs(&dir, id).unwrap().unwrap();
        assert_eq!((seen.0, seen.1), (6, 8));
    }
}
