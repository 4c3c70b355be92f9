//! Numeric columns ("fast fields"): per segment, one file holding several
//! columns of `u64` values addressed by doc id, with O(1) random access.
//!
//! Columns are identified by a `u32` field ordinal. Signed integers, floats
//! and timestamps are mapped to `u64` by the order-preserving transforms
//! [`i64_to_u64`] and [`f64_to_u64`] (inverses [`u64_to_i64`],
//! [`u64_to_f64`]), so comparisons and range pruning on the `u64`s agree with
//! the original order.
//!
//! Each column stores `(value - min) / gcd` bit-packed with the smallest
//! sufficient bit width. Documents without a value are recorded in a presence
//! bitset (present only when at least one document lacks a value); their
//! packed slot holds 0, so [`Column::get`] returns `min_value()` for them and
//! [`Column::get_opt`] returns `None`.
//!
//! # File layout
//!
//! Envelope format `columns`, version 1, id = segment id, suffix as given by
//! the caller (usually empty). All integers little-endian.
//!
//! ```text
//! payload:
//!   num_docs     u32
//!   num_columns  u32                 C
//!   C column entries of 40 bytes, field ordinals strictly increasing:
//!     field        u32
//!     bits         u8                0..=64
//!     flags        u8                bit 0: has a presence bitset; others 0
//!     reserved     u16               0
//!     num_present  u32               documents with a value
//!     reserved     u32               0
//!     min          u64               smallest value (0 if none present)
//!     max          u64               largest value  (0 if none present)
//!     gcd          u64               >= 1; divides max - min
//!   C column bodies, back to back in entry order:
//!     presence     ceil(num_docs / 64) u64 words, only when flags bit 0;
//!                  bit (d % 64) of word (d / 64) = 1 when doc d has a value;
//!                  bits at and past num_docs are 0
//!     data         ceil(num_docs × bits / 64) u64 words; the value of doc d
//!                  occupies bits [d × bits, (d + 1) × bits) of the
//!                  little-endian bit stream formed by the words (bit i of
//!                  the stream is bit i % 64 of word i / 64); unused bits 0
//! ```
//!
//! Decoded value of doc `d` = `min + packed(d) × gcd`.
//!
//! # Validation at open
//!
//! Entries must be sorted and distinct, reserved fields and unknown flags
//! zero; `bits ≤ 64`, `gcd ≥ 1`, `min ≤ max`, `(max − min) % gcd = 0` and
//! `bits` is exactly the width of `(max − min) / gcd` (a column with no
//! value has `min = max = 0`, `gcd = 1`, `bits = 0`); the presence bitset's
//! popcount equals `num_present` and its bits past `num_docs` are zero (no
//! bitset ⇒ `num_present = num_docs`); and the bodies fill the rest of the
//! payload exactly. After that, reads cannot go out of bounds; a corrupt
//! packed value decodes to some wrong `u64` (wrapping arithmetic), which only
//! the CRC can catch.
//!
//! # Example
//!
//! ```
//! use lucerna_codec::columns::{i64_to_u64, u64_to_i64, ColumnsReader, ColumnsWriter};
//! use lucerna_store::RamDirectory;
//! # fn main() -> Result<(), lucerna_store::StoreError> {
//! let dir = RamDirectory::new();
//! let seg = [2u8; 16];
//! let mut w = ColumnsWriter::new(3);
//! w.add_dense(0, &[1_700_000_000, 1_700_000_060, 1_700_000_120])?;
//! w.add_column(1, &[Some(i64_to_u64(-5)), None, Some(i64_to_u64(9))])?;
//! w.write(&dir, "seg.col", &seg, "")?;
//!
//! let r = ColumnsReader::open(&dir, "seg.col", &seg)?;
//! let ts = r.column(0).unwrap();
//! assert_eq!(ts.bits(), 2); // (v - min) / 60 ∈ {0, 1, 2}
//! assert_eq!(ts.get(2), 1_700_000_120);
//! assert_eq!(ts.max_value(), 1_700_000_120);
//! let c = r.column(1).unwrap();
//! assert_eq!(c.get_opt(0).map(u64_to_i64), Some(-5));
//! assert_eq!(c.get_opt(1), None);
//! let mut buf = [0u64; 2];
//! ts.get_range(1, &mut buf);
//! assert_eq!(buf, [1_700_000_060, 1_700_000_120]);
//! # Ok(()) }
//! ```

use crate::bytes::{ByteReader, ByteWriter};
use lucerna_store::envelope::ID_LEN;
use lucerna_store::{
    Directory, EnvelopeHeader, EnvelopeReader, EnvelopeWriter, FileMeta, FileSlice, Result,
    StoreError,
};
use std::collections::BTreeMap;
use std::ops::Range;

/// Envelope format name of column files.
pub const FORMAT: &str = "columns";
/// Current format version.
pub const VERSION: u32 = 1;

const HEAD_LEN: usize = 8;
const ENTRY_LEN: u64 = 40;
const FLAG_PRESENCE: u8 = 1;
const SIGN: u64 = 1 << 63;

/// Maps an `i64` to a `u64` preserving order (`a < b` ⇔
/// `i64_to_u64(a) < i64_to_u64(b)`): flips the sign bit.
pub fn i64_to_u64(v: i64) -> u64 {
    (v as u64) ^ SIGN
}

/// Inverse of [`i64_to_u64`].
pub fn u64_to_i64(v: u64) -> i64 {
    (v ^ SIGN) as i64
}

/// Maps an `f64` to a `u64` preserving the IEEE-754 total order: for
/// non-negative floats sets the sign bit, for negative ones inverts all
/// bits. So `-inf < … < -0.0 < +0.0 < … < +inf`, negative NaNs sort below
/// `-inf` and positive NaNs above `+inf`; the mapping is a bijection
/// (NaN payloads survive).
pub fn f64_to_u64(v: f64) -> u64 {
    let bits = v.to_bits();
    if bits & SIGN != 0 {
        !bits
    } else {
        bits | SIGN
    }
}

/// Inverse of [`f64_to_u64`].
pub fn u64_to_f64(v: u64) -> f64 {
    if v & SIGN != 0 {
        f64::from_bits(v ^ SIGN)
    } else {
        f64::from_bits(!v)
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn width(v: u64) -> u8 {
    (64 - v.leading_zeros()) as u8
}

fn words_for_bits(bits: u64) -> u64 {
    bits.div_ceil(64)
}

struct EncodedColumn {
    bits: u8,
    num_present: u32,
    min: u64,
    max: u64,
    gcd: u64,
    presence: Option<Vec<u64>>,
    data: Vec<u64>,
}

/// Builds a column file in memory and writes it in one go.
///
/// See the [module documentation](crate::columns) for the file layout and
/// an example.
#[derive(Default)]
pub struct ColumnsWriter {
    num_docs: u32,
    columns: BTreeMap<u32, EncodedColumn>,
}

impl std::fmt::Debug for ColumnsWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ColumnsWriter")
            .field("num_docs", &self.num_docs)
            .field("fields", &self.columns.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl ColumnsWriter {
    /// A writer for columns of `num_docs` documents each.
    pub fn new(num_docs: u32) -> Self {
        ColumnsWriter {
            num_docs,
            columns: BTreeMap::new(),
        }
    }

    /// Number of documents of every column.
    pub fn num_docs(&self) -> u32 {
        self.num_docs
    }

    /// Adds a column in which every document has a value.
    pub fn add_dense(&mut self, field: u32, values: &[u64]) -> Result<()> {
        self.add_iter(field, values.len(), values.iter().map(|&v| Some(v)))
    }

    /// Adds a column; `None` marks documents without a value.
    pub fn add_column(&mut self, field: u32, values: &[Option<u64>]) -> Result<()> {
        self.add_iter(field, values.len(), values.iter().copied())
    }

    /// Adds a column of `len` values given by an iterator, which is cloned
    /// to read the values twice (bounds, then encoding), so a caller can
    /// stream values from elsewhere without collecting them; `None` marks
    /// documents without a value.
    pub fn add_values(
        &mut self,
        field: u32,
        len: usize,
        values: impl Iterator<Item = Option<u64>> + Clone,
    ) -> Result<()> {
        self.add_iter(field, len, values)
    }

    fn add_iter(
        &mut self,
        field: u32,
        len: usize,
        values: impl Iterator<Item = Option<u64>> + Clone,
    ) -> Result<()> {
        let invalid = |reason: String| StoreError::InvalidArgument {
            file: format!("columns field {field}"),
            reason,
        };
        if len != self.num_docs as usize {
            return Err(invalid(format!(
                "{len} values for {} documents",
                self.num_docs
            )));
        }
        if self.columns.contains_key(&field) {
            return Err(invalid("column added twice".into()));
        }
        let mut min = u64::MAX;
        let mut max = 0u64;
        let mut num_present = 0u32;
        for v in values.clone().flatten() {
            min = min.min(v);
            max = max.max(v);
            num_present += 1;
        }
        if num_present == 0 {
            min = 0;
        }
        let mut g = 0u64;
        for v in values.clone().flatten() {
            g = gcd(g, v - min);
            if g == 1 {
                break;
            }
        }
        let g = g.max(1);
        let bits = width((max - min) / g);
        let n = self.num_docs as u64;
        let mut data = vec![0u64; words_for_bits(n * bits as u64) as usize];
        let mut presence = if num_present < self.num_docs {
            Some(vec![0u64; words_for_bits(n) as usize])
        } else {
            None
        };
        for (doc, v) in values.enumerate() {
            let Some(v) = v else { continue };
            if let Some(p) = presence.as_mut() {
                p[doc / 64] |= 1 << (doc % 64);
            }
            if bits == 0 {
                continue;
            }
            let packed = (v - min) / g;
            let pos = doc as u64 * bits as u64;
            let w = (pos / 64) as usize;
            let s = (pos % 64) as u32;
            data[w] |= packed << s;
            if s + bits as u32 > 64 {
                data[w + 1] |= packed >> (64 - s);
            }
        }
        self.columns.insert(
            field,
            EncodedColumn {
                bits,
                num_present,
                min,
                max,
                gcd: g,
                presence,
                data,
            },
        );
        Ok(())
    }

    /// Writes the file `name` into `dir`.
    pub fn write(
        &self,
        dir: &dyn Directory,
        name: &str,
        segment_id: &[u8; ID_LEN],
        suffix: &str,
    ) -> Result<FileMeta> {
        let header = EnvelopeHeader::new(FORMAT, VERSION, *segment_id, suffix);
        let mut out = EnvelopeWriter::create(dir, name, &header)?;
        let mut w = ByteWriter::new();
        w.u32(self.num_docs);
        w.u32(self.columns.len() as u32);
        for (&field, c) in &self.columns {
            w.u32(field);
            w.u8(c.bits);
            w.u8(if c.presence.is_some() {
                FLAG_PRESENCE
            } else {
                0
            });
            w.u16(0);
            w.u32(c.num_present);
            w.u32(0);
            w.u64(c.min);
            w.u64(c.max);
            w.u64(c.gcd);
        }
        out.write_all(&w.buf)?;
        let mut buf = Vec::new();
        for c in self.columns.values() {
            buf.clear();
            for word in c.presence.iter().flatten().chain(c.data.iter()) {
                buf.extend_from_slice(&word.to_le_bytes());
            }
            out.write_all(&buf)?;
        }
        out.finish()
    }
}

#[derive(Debug, Clone)]
struct ColumnMeta {
    field: u32,
    bits: u8,
    num_present: u32,
    min: u64,
    max: u64,
    gcd: u64,
    presence: Option<Range<usize>>,
    data: Range<usize>,
}

/// One entry of the column directory, as read and checked by
/// [`read_entry`].
struct DirEntry {
    field: u32,
    bits: u8,
    has_presence: bool,
    num_present: u32,
    min: u64,
    max: u64,
    gcd: u64,
}

/// Reads the next entry of the column directory and checks it alone and
/// against the previous one (`prev`) and the document count `n`: fields
/// strictly increasing, reserved bytes zero, known flags, a minimal bit
/// width, a gcd dividing the range, no more values than documents.
fn read_entry(
    r: &mut ByteReader<'_>,
    name: &str,
    prev: Option<&ColumnMeta>,
    n: u64,
) -> Result<DirEntry> {
    let at = r.offset();
    let bad = |expected: u64, actual: u64, reason: &str| {
        StoreError::corrupt(name, at, expected, actual, reason)
    };
    let field = r.u32()?;
    let bits = r.u8()?;
    let flags = r.u8()?;
    let reserved16 = r.u16()?;
    let num_present = r.u32()?;
    let reserved32 = r.u32()?;
    if reserved16 != 0 || reserved32 != 0 {
        return Err(bad(
            0,
            reserved16 as u64 | reserved32 as u64,
            "column reserved field not zero",
        ));
    }
    let min = r.u64()?;
    let max = r.u64()?;
    let g = r.u64()?;
    if let Some(prev) = prev {
        if field <= prev.field {
            return Err(bad(
                prev.field as u64 + 1,
                field as u64,
                "column fields not strictly increasing",
            ));
        }
    }
    if flags & !FLAG_PRESENCE != 0 {
        return Err(bad(
            FLAG_PRESENCE as u64,
            flags as u64,
            "unknown column flags",
        ));
    }
    if bits > 64 {
        return Err(bad(64, bits as u64, "column bit width above 64"));
    }
    if g == 0 {
        return Err(bad(1, 0, "column gcd is zero"));
    }
    if min > max {
        return Err(bad(min, max, "column min above max"));
    }
    let range = max - min;
    if range % g != 0 {
        return Err(bad(0, range % g, "column gcd does not divide max - min"));
    }
    if range == 0 && g != 1 {
        return Err(bad(1, g, "constant column must have gcd 1"));
    }
    let need = width(range / g);
    if bits != need {
        return Err(bad(
            need as u64,
            bits as u64,
            "column bit width not minimal",
        ));
    }
    if num_present as u64 > n {
        return Err(bad(
            n,
            num_present as u64,
            "more present values than documents",
        ));
    }
    if num_present == 0 && (min != 0 || max != 0) {
        return Err(bad(0, min.max(max), "empty column with nonzero min/max"));
    }
    let has_presence = flags & FLAG_PRESENCE != 0;
    if !has_presence && num_present as u64 != n {
        return Err(bad(n, num_present as u64, "dense column missing values"));
    }
    Ok(DirEntry {
        field,
        bits,
        has_presence,
        num_present,
        min,
        max,
        gcd: g,
    })
}

/// Checks a column's presence bitmap (`p[pr]`, payload at file offset
/// `base`): as many bits set as `num_present` says, none past document
/// `n - 1`.
fn check_presence(
    name: &str,
    base: u64,
    p: &[u8],
    pr: &Range<usize>,
    num_present: u32,
    n: u64,
) -> Result<()> {
    let bytes = &p[pr.clone()];
    let words = bytes.len() / 8;
    let mut count = 0u64;
    for i in 0..words {
        count += word_at(bytes, i).count_ones() as u64;
    }
    if count != num_present as u64 {
        return Err(StoreError::corrupt(
            name,
            base + pr.start as u64,
            num_present as u64,
            count,
            "column presence popcount differs from num_present",
        ));
    }
    if !n.is_multiple_of(64) {
        let last = word_at(bytes, words - 1);
        if last >> (n % 64) != 0 {
            return Err(StoreError::corrupt(
                name,
                base + (pr.end - 8) as u64,
                0,
                last >> (n % 64),
                "column presence bits set past num_docs",
            ));
        }
    }
    Ok(())
}

/// Reads a column file; columns are borrowed as [`Column`] views.
///
/// See the [module documentation](crate::columns) for the file layout and
/// an example.
#[derive(Debug, Clone)]
pub struct ColumnsReader {
    name: String,
    payload: FileSlice,
    num_docs: u32,
    columns: Vec<ColumnMeta>,
}

fn word_at(b: &[u8], i: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[i * 8..i * 8 + 8]);
    u64::from_le_bytes(a)
}

impl ColumnsReader {
    /// Gives the resident pages of this file's bytes back to the operating
    /// system (see [`FileSlice::release_pages`]); the reader stays usable.
    /// Merges call it as they go, so that reading a whole segment does not
    /// leave it all in the process's resident memory.
    pub fn release_pages(&self) {
        self.payload.release_pages();
    }

    /// Opens `name` from `dir`: checks the envelope structure (not the CRC),
    /// format, version and segment id, and validates every column entry.
    pub fn open(dir: &dyn Directory, name: &str, segment_id: &[u8; ID_LEN]) -> Result<Self> {
        Self::from_slice(name, dir.open(name)?, segment_id)
    }

    /// Like [`open`](Self::open), over the bytes of a whole file.
    pub fn from_slice(name: &str, data: FileSlice, segment_id: &[u8; ID_LEN]) -> Result<Self> {
        let env = EnvelopeReader::open_checked(name, data)?;
        env.expect_format(FORMAT, VERSION..=VERSION)?;
        env.expect_id(segment_id)?;
        Self::from_envelope(&env)
    }

    /// Decodes the payload of an already opened envelope (format and id are
    /// not checked here).
    pub fn from_envelope(env: &EnvelopeReader) -> Result<Self> {
        let name = env.name();
        let payload = env.payload();
        let base = env.payload_offset();
        let p: &[u8] = &payload;
        let mut r = ByteReader::new(name, base, p);
        let num_docs = r.u32()?;
        let num_columns = r.u32()?;
        let n = num_docs as u64;
        if num_columns as u64 * ENTRY_LEN > r.remaining() as u64 {
            return Err(r.err_value(
                num_columns as u64 * ENTRY_LEN,
                r.remaining() as u64,
                "column directory longer than the payload",
            ));
        }
        let mut body = (HEAD_LEN as u64 + num_columns as u64 * ENTRY_LEN) as usize;
        // Bounded: `num_columns * 40` bytes exist.
        let mut columns: Vec<ColumnMeta> = Vec::with_capacity(num_columns as usize);
        for _ in 0..num_columns {
            let at = r.offset();
            let bad = |expected: u64, actual: u64, reason: &str| {
                StoreError::corrupt(name, at, expected, actual, reason)
            };
            let e = read_entry(&mut r, name, columns.last(), n)?;
            let mut take = |words: u64| -> Result<Range<usize>> {
                let len = words * 8;
                if len > (p.len() - body) as u64 {
                    return Err(bad(
                        len,
                        (p.len() - body) as u64,
                        "column body runs past the payload",
                    ));
                }
                let range = body..body + len as usize;
                body += len as usize;
                Ok(range)
            };
            let presence = if e.has_presence {
                Some(take(words_for_bits(n))?)
            } else {
                None
            };
            let data = take(words_for_bits(n * e.bits as u64))?;
            if let Some(pr) = &presence {
                check_presence(name, base, p, pr, e.num_present, n)?;
            }
            columns.push(ColumnMeta {
                field: e.field,
                bits: e.bits,
                num_present: e.num_present,
                min: e.min,
                max: e.max,
                gcd: e.gcd,
                presence,
                data,
            });
        }
        if body != p.len() {
            return Err(StoreError::corrupt(
                name,
                base + body as u64,
                body as u64,
                p.len() as u64,
                "column payload longer than its columns",
            ));
        }
        Ok(ColumnsReader {
            name: name.to_string(),
            payload,
            num_docs,
            columns,
        })
    }

    /// The file name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of documents of every column.
    pub fn num_docs(&self) -> u32 {
        self.num_docs
    }

    /// Field ordinals of the columns, ascending.
    pub fn fields(&self) -> impl Iterator<Item = u32> + '_ {
        self.columns.iter().map(|c| c.field)
    }

    /// The column of `field`, or `None` when the file has none.
    pub fn column(&self, field: u32) -> Option<Column<'_>> {
        let i = self
            .columns
            .binary_search_by_key(&field, |c| c.field)
            .ok()?;
        let m = &self.columns[i];
        let p: &[u8] = &self.payload;
        let mask = if m.bits == 64 {
            u64::MAX
        } else {
            (1u64 << m.bits) - 1
        };
        Some(Column {
            num_docs: self.num_docs,
            bits: m.bits as u32,
            mask,
            min: m.min,
            max: m.max,
            gcd: m.gcd,
            num_present: m.num_present,
            data: &p[m.data.clone()],
            presence: m.presence.clone().map(|r| &p[r]),
        })
    }
}

/// A borrowed view of one column: O(1) random access without allocation.
#[derive(Debug, Clone, Copy)]
pub struct Column<'a> {
    num_docs: u32,
    bits: u32,
    mask: u64,
    min: u64,
    max: u64,
    gcd: u64,
    num_present: u32,
    data: &'a [u8],
    presence: Option<&'a [u8]>,
}

impl Column<'_> {
    /// Number of documents.
    pub fn num_docs(&self) -> u32 {
        self.num_docs
    }

    /// Documents that have a value.
    pub fn num_present(&self) -> u32 {
        self.num_present
    }

    /// Smallest value of the column (0 when no document has one).
    pub fn min_value(&self) -> u64 {
        self.min
    }

    /// Largest value of the column (0 when no document has one).
    pub fn max_value(&self) -> u64 {
        self.max
    }

    /// Bits per packed value.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// The common divisor of `value - min` over all values.
    pub fn gcd(&self) -> u64 {
        self.gcd
    }

    /// The value of `doc`; `min_value()` for a document without a value.
    ///
    /// # Panics
    ///
    /// When `doc >= num_docs()`.
    #[inline]
    pub fn get(&self, doc: u32) -> u64 {
        assert!(doc < self.num_docs, "doc {doc} out of range");
        if self.bits == 0 {
            return self.min;
        }
        let pos = doc as u64 * self.bits as u64;
        let w = (pos / 64) as usize;
        let s = (pos % 64) as u32;
        let mut v = word_at(self.data, w) >> s;
        if s + self.bits > 64 {
            v |= word_at(self.data, w + 1) << (64 - s);
        }
        self.min
            .wrapping_add((v & self.mask).wrapping_mul(self.gcd))
    }

    /// True when `doc` has a value (false when `doc >= num_docs()`).
    #[inline]
    pub fn has_value(&self, doc: u32) -> bool {
        if doc >= self.num_docs {
            return false;
        }
        match self.presence {
            None => true,
            Some(p) => word_at(p, doc as usize / 64) >> (doc % 64) & 1 == 1,
        }
    }

    /// The value of `doc`, or `None` when it has none (or is out of range).
    #[inline]
    pub fn get_opt(&self, doc: u32) -> Option<u64> {
        if self.has_value(doc) {
            Some(self.get(doc))
        } else {
            None
        }
    }

    /// Fills `out` with the values of docs `start..start + out.len()`
    /// (missing values read as `min_value()`).
    ///
    /// # Panics
    ///
    /// When the range goes past `num_docs()`.
    pub fn get_range(&self, start: u32, out: &mut [u64]) {
        let end = start as u64 + out.len() as u64;
        assert!(
            end <= self.num_docs as u64,
            "range {start}..{end} out of range"
        );
        if self.bits == 0 {
            out.fill(self.min);
            return;
        }
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.get(start + i as u32);
        }
    }
}
