//! Live docs (deletes): a bitset over the `max_doc` documents of a segment,
//! 1 = live. Each deletion generation of a segment writes a new file.
//!
//! # File layout
//!
//! Envelope format `livedocs`, version 1, id = segment id, suffix as given by
//! the caller. All integers little-endian.
//!
//! ```text
//! payload:
//!   max_doc   u32
//!   num_live  u32          number of 1 bits
//!   del_gen   u64          deletion generation the file belongs to
//!   words     ceil(max_doc / 64) × u64
//!             bit (d % 64) of word (d / 64) = 1 when doc d is live;
//!             bits at and past max_doc are 0
//! ```
//!
//! At open `max_doc` must be the segment's (passed by the caller), the
//! payload must be exactly `16 + 8 × ceil(max_doc / 64)` bytes,
//! `del_gen` must be the generation asked for, the popcount of the words
//! must equal `num_live`, and the bits past `max_doc` must be zero.
//!
//! # Example
//!
//! ```
//! use lucerna_codec::livedocs::LiveDocs;
//! use lucerna_store::RamDirectory;
//! # fn main() -> Result<(), lucerna_store::StoreError> {
//! let dir = RamDirectory::new();
//! let seg = [3u8; 16];
//! let mut live = LiveDocs::all(100);
//! assert!(live.delete(42));
//! assert!(!live.delete(42)); // already deleted
//! live.write(&dir, "seg_1.del", &seg, 1)?;
//!
//! let back = LiveDocs::open(&dir, "seg_1.del", &seg, 1, 100)?;
//! assert_eq!(back.num_live(), 99);
//! assert!(!back.is_live(42));
//! assert!(back.is_live(41));
//! # Ok(()) }
//! ```

use crate::bytes::{ByteReader, ByteWriter};
use lucerna_store::envelope::ID_LEN;
use lucerna_store::{
    Directory, EnvelopeHeader, EnvelopeReader, EnvelopeWriter, FileMeta, FileSlice, Result,
    StoreError,
};

/// Envelope format name of live-docs files.
pub const FORMAT: &str = "livedocs";
/// Current format version.
pub const VERSION: u32 = 1;

const HEAD_LEN: usize = 16;

/// The set of live documents of a segment.
///
/// See the [module documentation](crate::livedocs) for the file layout and
/// an example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveDocs {
    max_doc: u32,
    num_live: u32,
    words: Vec<u64>,
}

impl LiveDocs {
    /// Every document `0..max_doc` live.
    pub fn all(max_doc: u32) -> Self {
        let n = (max_doc as usize).div_ceil(64);
        let mut words = vec![u64::MAX; n];
        if !max_doc.is_multiple_of(64) {
            if let Some(last) = words.last_mut() {
                *last = (1u64 << (max_doc % 64)) - 1;
            }
        }
        LiveDocs {
            max_doc,
            num_live: max_doc,
            words,
        }
    }

    /// Marks `doc` deleted; returns whether it was live (false when out of
    /// range).
    pub fn delete(&mut self, doc: u32) -> bool {
        if doc >= self.max_doc {
            return false;
        }
        let w = &mut self.words[doc as usize / 64];
        let bit = 1u64 << (doc % 64);
        if *w & bit == 0 {
            return false;
        }
        *w &= !bit;
        self.num_live -= 1;
        true
    }

    /// True when `doc` is live (false when out of range).
    #[inline]
    pub fn is_live(&self, doc: u32) -> bool {
        doc < self.max_doc && self.words[doc as usize / 64] >> (doc % 64) & 1 == 1
    }

    /// Number of live documents.
    pub fn num_live(&self) -> u32 {
        self.num_live
    }

    /// Number of deleted documents.
    pub fn num_deleted(&self) -> u32 {
        self.max_doc - self.num_live
    }

    /// Number of documents of the segment.
    pub fn max_doc(&self) -> u32 {
        self.max_doc
    }

    /// The bitset words (bit `d % 64` of word `d / 64` = doc `d` live).
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// Live doc ids, ascending.
    pub fn iter_live(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let b = w.trailing_zeros();
                w &= w - 1;
                Some(i as u32 * 64 + b)
            })
        })
    }

    /// Writes the live docs of deletion generation `del_gen` to `name`.
    pub fn write(
        &self,
        dir: &dyn Directory,
        name: &str,
        segment_id: &[u8; ID_LEN],
        del_gen: u64,
    ) -> Result<FileMeta> {
        let header = EnvelopeHeader::new(FORMAT, VERSION, *segment_id, "");
        let mut out = EnvelopeWriter::create(dir, name, &header)?;
        let mut w = ByteWriter::new();
        w.u32(self.max_doc);
        w.u32(self.num_live);
        w.u64(del_gen);
        for &word in &self.words {
            w.u64(word);
        }
        out.write_all(&w.buf)?;
        out.finish()
    }

    /// Opens `name` from `dir`: checks the envelope structure (not the CRC),
    /// format, version, segment id, generation and `max_doc` (the segment's,
    /// as recorded in its segment info), and validates the bitset.
    pub fn open(
        dir: &dyn Directory,
        name: &str,
        segment_id: &[u8; ID_LEN],
        del_gen: u64,
        max_doc: u32,
    ) -> Result<Self> {
        Self::from_slice(name, dir.open(name)?, segment_id, del_gen, max_doc)
    }

    /// Like [`open`](Self::open), over the bytes of a whole file.
    pub fn from_slice(
        name: &str,
        data: FileSlice,
        segment_id: &[u8; ID_LEN],
        del_gen: u64,
        max_doc: u32,
    ) -> Result<Self> {
        let env = EnvelopeReader::open_checked(name, data)?;
        env.expect_format(FORMAT, VERSION..=VERSION)?;
        env.expect_id(segment_id)?;
        let live = Self::from_envelope(&env)?;
        if live.0.max_doc != max_doc {
            return Err(StoreError::corrupt(
                name,
                env.payload_offset(),
                max_doc as u64,
                live.0.max_doc as u64,
                "live docs max_doc differs from the segment's",
            ));
        }
        if live.1 != del_gen {
            return Err(StoreError::corrupt(
                name,
                env.payload_offset() + 8,
                del_gen,
                live.1,
                "live docs belong to another deletion generation",
            ));
        }
        Ok(live.0)
    }

    /// Decodes the payload of an already opened envelope (format and id are
    /// not checked here); returns the live docs and their deletion
    /// generation.
    pub fn from_envelope(env: &EnvelopeReader) -> Result<(Self, u64)> {
        let payload = env.payload();
        let p: &[u8] = &payload;
        let mut r = ByteReader::new(env.name(), env.payload_offset(), p);
        let max_doc = r.u32()?;
        let num_live = r.u32()?;
        let del_gen = r.u64()?;
        let n = (max_doc as u64).div_ceil(64);
        if n * 8 != r.remaining() as u64 {
            return Err(r.err_value(
                n * 8,
                r.remaining() as u64,
                "live-docs bitset length does not match max_doc",
            ));
        }
        if num_live > max_doc {
            return Err(StoreError::corrupt(
                env.name(),
                env.payload_offset() + 4,
                max_doc as u64,
                num_live as u64,
                "more live docs than max_doc",
            ));
        }
        // Bounded: the words exist in the file.
        let mut words = Vec::with_capacity(n as usize);
        let mut count = 0u64;
        for _ in 0..n {
            let w = r.u64()?;
            count += w.count_ones() as u64;
            words.push(w);
        }
        if !max_doc.is_multiple_of(64) {
            let last = words.last().copied().unwrap_or(0);
            if last >> (max_doc % 64) != 0 {
                return Err(StoreError::corrupt(
                    env.name(),
                    env.payload_offset() + HEAD_LEN as u64 + (n - 1) * 8,
                    0,
                    last >> (max_doc % 64),
                    "live-docs bits set past max_doc",
                ));
            }
        }
        if count != num_live as u64 {
            return Err(StoreError::corrupt(
                env.name(),
                env.payload_offset() + 4,
                num_live as u64,
                count,
                "live-docs popcount differs from the stored live count",
            ));
        }
        Ok((
            LiveDocs {
                max_doc,
                num_live,
                words,
            },
            del_gen,
        ))
    }
}
