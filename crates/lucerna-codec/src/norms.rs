//! Field norms: one byte per document per text field, encoding the field's
//! length in tokens exactly as Lucene's `SmallFloat.intToByte4` does (the
//! norm Lucene's BM25 similarity stores).
//!
//! # The encoding
//!
//! Lengths `0..=23` are stored as themselves. A length `l >= 24` is stored
//! as `24 + int4(l - 24)`, where `int4(x)` is a tiny float: for `x < 8`,
//! `x` itself; otherwise, with `b` = the bit length of `x` and
//! `shift = b - 4`, the three bits below the leading one,
//! `(x >> shift) & 7`, plus `(shift + 1) << 3`. So the byte keeps 4
//! significant bits (the leading one is implicit) and rounds down. Decoding
//! `24 + e`: `e < 8` → `24 + e`; otherwise
//! `24 + ((e & 7) | 8) << ((e >> 3) - 1)`.
//!
//! Lengths `0..=31` round-trip exactly; the encoding is monotone
//! (`a <= b` ⇒ `length_to_norm(a) <= length_to_norm(b)`) and decoding
//! never exceeds the encoded length. Lengths above `i32::MAX` (which Lucene
//! cannot represent) are clamped to `i32::MAX`, whose byte is 255
//! (decoded: 2 013 265 944).
//!
//! # File layout
//!
//! Envelope format `norms`, version 1, id = segment id, suffix as given by
//! the caller (usually empty). All integers little-endian.
//!
//! ```text
//! payload:
//!   max_doc     u32
//!   num_fields  u32                   F
//!   F × field   u32                   field ordinals, strictly increasing
//!   F × norms   max_doc bytes each    in field order; byte d = norm of doc d
//! ```
//!
//! At open the payload must be exactly `8 + 4 F + F × max_doc` bytes and the
//! field ordinals strictly increasing; any byte value is a valid norm.
//! Reads are zero-copy slices of the file.
//!
//! # Example
//!
//! ```
//! use lucerna_codec::norms::{length_to_norm, norm_to_length, NormsReader, NormsWriter};
//! use lucerna_store::RamDirectory;
//! # fn main() -> Result<(), lucerna_store::StoreError> {
//! assert_eq!(norm_to_length(length_to_norm(20)), 20);
//! assert_eq!(norm_to_length(length_to_norm(1000)), 984);
//!
//! let dir = RamDirectory::new();
//! let seg = [4u8; 16];
//! let mut w = NormsWriter::new(3);
//! w.add_lengths(0, &[5, 0, 1000])?;
//! w.write(&dir, "seg.nrm", &seg, "")?;
//!
//! let r = NormsReader::open(&dir, "seg.nrm", &seg)?;
//! assert_eq!(r.get(0, 0), 5);
//! assert_eq!(r.get(0, 2), length_to_norm(1000));
//! assert_eq!(r.get(7, 0), 0); // no norms for field 7
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

/// Envelope format name of norms files.
pub const FORMAT: &str = "norms";
/// Current format version.
pub const VERSION: u32 = 1;

const fn long_to_int4(x: u64) -> u32 {
    let bits = 64 - x.leading_zeros();
    if bits < 4 {
        x as u32
    } else {
        let shift = bits - 4;
        (((x >> shift) as u32) & 7) | ((shift + 1) << 3)
    }
}

const fn int4_to_long(e: u32) -> u64 {
    let mantissa = (e & 7) as u64;
    let exp = e >> 3;
    if exp == 0 {
        mantissa
    } else {
        (mantissa | 8) << (exp - 1)
    }
}

/// Lengths below this are stored exactly as themselves (24, as in Lucene:
/// 255 minus the 4-bit float of `i32::MAX`).
pub const NUM_FREE_VALUES: u32 = 255 - long_to_int4(i32::MAX as u64);

/// Encodes a field length (number of tokens) into a norm byte, as Lucene's
/// `SmallFloat.intToByte4` (lengths above `i32::MAX` clamp to it).
pub const fn length_to_norm(len: u32) -> u8 {
    let len = if len > i32::MAX as u32 {
        i32::MAX as u32
    } else {
        len
    };
    if len < NUM_FREE_VALUES {
        len as u8
    } else {
        (NUM_FREE_VALUES + long_to_int4((len - NUM_FREE_VALUES) as u64)) as u8
    }
}

const fn decode(b: u8) -> u32 {
    let b = b as u32;
    if b < NUM_FREE_VALUES {
        b
    } else {
        // At most 24 + 15 << 27 < i32::MAX.
        NUM_FREE_VALUES + int4_to_long(b - NUM_FREE_VALUES) as u32
    }
}

const fn build_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = decode(i as u8);
        i += 1;
    }
    t
}

/// Decoded length of every norm byte: `NORM_TO_LENGTH[b] ==
/// norm_to_length(b)`.
pub static NORM_TO_LENGTH: [u32; 256] = build_table();

/// Decodes a norm byte into the (rounded-down) field length, as Lucene's
/// `SmallFloat.byte4ToInt`.
#[inline]
pub fn norm_to_length(norm: u8) -> u32 {
    NORM_TO_LENGTH[norm as usize]
}

/// Builds a norms file in memory and writes it in one go.
///
/// See the [module documentation](crate::norms) for the file layout and
/// an example.
#[derive(Debug, Default)]
pub struct NormsWriter {
    max_doc: u32,
    fields: BTreeMap<u32, Vec<u8>>,
}

impl NormsWriter {
    /// A writer for `max_doc` documents.
    pub fn new(max_doc: u32) -> Self {
        NormsWriter {
            max_doc,
            fields: BTreeMap::new(),
        }
    }

    /// Adds the norm bytes of `field` (one per document).
    pub fn add_field(&mut self, field: u32, norms: &[u8]) -> Result<()> {
        self.check(field, norms.len())?;
        self.fields.insert(field, norms.to_vec());
        Ok(())
    }

    /// Adds `field` from the token counts of each document.
    pub fn add_lengths(&mut self, field: u32, lengths: &[u32]) -> Result<()> {
        self.check(field, lengths.len())?;
        self.fields
            .insert(field, lengths.iter().map(|&l| length_to_norm(l)).collect());
        Ok(())
    }

    fn check(&self, field: u32, len: usize) -> Result<()> {
        let invalid = |reason: String| StoreError::InvalidArgument {
            file: format!("norms field {field}"),
            reason,
        };
        if len != self.max_doc as usize {
            return Err(invalid(format!(
                "{len} norms for {} documents",
                self.max_doc
            )));
        }
        if self.fields.contains_key(&field) {
            return Err(invalid("norms added twice".into()));
        }
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
        w.u32(self.max_doc);
        w.u32(self.fields.len() as u32);
        for &f in self.fields.keys() {
            w.u32(f);
        }
        out.write_all(&w.buf)?;
        for norms in self.fields.values() {
            out.write_all(norms)?;
        }
        out.finish()
    }
}

/// Reads a norms file; norms are zero-copy slices of the file.
///
/// See the [module documentation](crate::norms) for the file layout and
/// an example.
#[derive(Debug, Clone)]
pub struct NormsReader {
    name: String,
    payload: FileSlice,
    max_doc: u32,
    fields: Vec<(u32, Range<usize>)>,
}

impl NormsReader {
    /// Gives the resident pages of this file's bytes back to the operating
    /// system (see [`FileSlice::release_pages`]); the reader stays usable.
    /// Merges call it as they go, so that reading a whole segment does not
    /// leave it all in the process's resident memory.
    pub fn release_pages(&self) {
        self.payload.release_pages();
    }

    /// Opens `name` from `dir`: checks the envelope structure (not the CRC),
    /// format, version and segment id, and validates the layout.
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
        let payload = env.payload();
        let p: &[u8] = &payload;
        let mut r = ByteReader::new(env.name(), env.payload_offset(), p);
        let max_doc = r.u32()?;
        let num_fields = r.u32()?;
        // Checked: u32::MAX fields of u32::MAX documents overflow u64.
        let expected = (num_fields as u64).checked_mul(4 + max_doc as u64);
        if expected != Some(r.remaining() as u64) {
            return Err(r.err_value(
                expected.unwrap_or(u64::MAX),
                r.remaining() as u64,
                "norms payload length does not match max_doc and field count",
            ));
        }
        let mut start = 8 + 4 * num_fields as usize;
        // Bounded: 4 bytes per field exist.
        let mut fields: Vec<(u32, Range<usize>)> = Vec::with_capacity(num_fields as usize);
        for _ in 0..num_fields {
            let at = r.offset();
            let f = r.u32()?;
            if let Some(&(prev, _)) = fields.last() {
                if f <= prev {
                    return Err(StoreError::corrupt(
                        env.name(),
                        at,
                        prev as u64 + 1,
                        f as u64,
                        "norms fields not strictly increasing",
                    ));
                }
            }
            fields.push((f, start..start + max_doc as usize));
            start += max_doc as usize;
        }
        Ok(NormsReader {
            name: env.name().to_string(),
            payload,
            max_doc,
            fields,
        })
    }

    /// The file name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of documents.
    pub fn max_doc(&self) -> u32 {
        self.max_doc
    }

    /// Field ordinals with norms, ascending.
    pub fn fields(&self) -> impl Iterator<Item = u32> + '_ {
        self.fields.iter().map(|(f, _)| *f)
    }

    /// The norms of `field`, or `None` when the file has none for it.
    pub fn field(&self, field: u32) -> Option<FieldNorms<'_>> {
        let i = self.fields.binary_search_by_key(&field, |(f, _)| *f).ok()?;
        Some(FieldNorms {
            norms: &self.payload[self.fields[i].1.clone()],
        })
    }

    /// The norms of `field` as an owned, zero-copy slice (one byte per doc).
    pub fn field_slice(&self, field: u32) -> Option<FileSlice> {
        let i = self.fields.binary_search_by_key(&field, |(f, _)| *f).ok()?;
        self.payload.slice(self.fields[i].1.clone())
    }

    /// The norm byte of `doc` in `field`; 0 (length 0) when the file has no
    /// norms for `field` or `doc >= max_doc`.
    pub fn get(&self, field: u32, doc: u32) -> u8 {
        self.field(field).map_or(0, |n| n.get(doc))
    }
}

/// The norms of one field: a borrowed byte per document.
#[derive(Debug, Clone, Copy)]
pub struct FieldNorms<'a> {
    norms: &'a [u8],
}

impl<'a> FieldNorms<'a> {
    /// The norm byte of `doc` (0 when out of range).
    #[inline]
    pub fn get(&self, doc: u32) -> u8 {
        self.norms.get(doc as usize).copied().unwrap_or(0)
    }

    /// The decoded field length of `doc`.
    #[inline]
    pub fn length(&self, doc: u32) -> u32 {
        norm_to_length(self.get(doc))
    }

    /// All norm bytes, indexed by doc id.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.norms
    }
}
