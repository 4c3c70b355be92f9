//! Term dictionary: every term key of a segment (field byte + term bytes)
//! mapped to its [`TermInfo`] (document frequency and where its postings
//! start), as a finite-state transducer from the [`fst`] crate.
//!
//! # File layout
//!
//! Envelope format `termdict`, version 1, id = segment id, empty suffix.
//! All integers little-endian.
//!
//! ```text
//! payload:
//!   num_terms   u64
//!   fst_len     u64
//!   fst         fst_len bytes     key → offset of the term's record in `infos`
//!   infos       the rest          per term, in key order:
//!                                   vint doc_freq   (≥ 1)
//!                                   vint doc_off    (into the .doc payload)
//!                                   vint pos_off    (into the .pos payload)
//! ```
//!
//! # Integrity
//!
//! The fst carries its own CRC32C, which [`TermDict::open`] verifies before
//! the fst is used: the `fst` crate's traversal trusts its bytes, so a
//! damaged dictionary must never reach it. That check is proportional to the
//! dictionary's size (the postings, much larger, are checked lazily). Term
//! records are decoded through [`ByteReader`], bounds-checked.
//!
//! # Example
//!
//! ```
//! use lucerna_codec::postings::TermInfo;
//! use lucerna_codec::termdict::{TermDict, TermDictWriter};
//! use lucerna_store::RamDirectory;
//! # fn main() -> Result<(), lucerna_store::StoreError> {
//! let dir = RamDirectory::new();
//! let seg = [3u8; 16];
//! let mut w = TermDictWriter::new(&dir, seg, "s.tdi")?;
//! w.insert(b"\0apple", &TermInfo { doc_freq: 2, doc_off: 0, pos_off: 0 })?;
//! w.insert(b"\0apricot", &TermInfo { doc_freq: 1, doc_off: 9, pos_off: 4 })?;
//! w.insert(b"\0banana", &TermInfo { doc_freq: 5, doc_off: 12, pos_off: 7 })?;
//! w.finish()?;
//!
//! let d = TermDict::open(&dir, "s.tdi", seg)?;
//! assert_eq!(d.get(b"\0apricot")?.unwrap().doc_freq, 1);
//! assert!(d.get(b"\0cherry")?.is_none());
//! let ap: Vec<Vec<u8>> = d.prefix(b"\0ap")?.map(|t| t.map(|(k, _)| k)).collect::<Result<_, _>>()?;
//! assert_eq!(ap, vec![b"\0apple".to_vec(), b"\0apricot".to_vec()]);
//! # Ok(()) }
//! ```

use crate::bytes::{ByteReader, ByteWriter};
use crate::postings::TermInfo;
use fst::{IntoStreamer, Streamer};
use lucerna_store::envelope::ID_LEN;
use lucerna_store::{
    Directory, EnvelopeHeader, EnvelopeReader, EnvelopeWriter, FileMeta, FileSlice, Result,
    StoreError,
};
use std::sync::Arc;

/// Envelope format name of term dictionary files.
pub const FORMAT: &str = "termdict";
/// Current format version.
pub const VERSION: u32 = 1;

/// Longest key accepted (field byte + term), so a key always fits a
/// stack-friendly bound; analyzers drop longer terms well before this.
pub const MAX_KEY_LEN: usize = 1 << 15;

/// Builds a term dictionary in memory; keys must arrive in strictly
/// increasing byte order.
pub struct TermDictWriter<'a> {
    dir: &'a dyn Directory,
    id: [u8; ID_LEN],
    name: String,
    fst: fst::MapBuilder<Vec<u8>>,
    infos: ByteWriter,
    last: Option<Vec<u8>>,
    num_terms: u64,
}

impl<'a> TermDictWriter<'a> {
    /// A writer for the file `name` of segment `id` in `dir` (created on
    /// [`finish`](Self::finish)).
    pub fn new(dir: &'a dyn Directory, id: [u8; ID_LEN], name: &str) -> Result<Self> {
        Ok(TermDictWriter {
            dir,
            id,
            name: name.to_string(),
            fst: fst::MapBuilder::memory(),
            infos: ByteWriter::new(),
            last: None,
            num_terms: 0,
        })
    }

    fn invalid(&self, reason: impl Into<String>) -> StoreError {
        StoreError::InvalidArgument {
            file: self.name.clone(),
            reason: reason.into(),
        }
    }

    /// Adds `key` with its postings location. Keys must be strictly
    /// increasing; `doc_freq` must be at least 1.
    pub fn insert(&mut self, key: &[u8], info: &TermInfo) -> Result<()> {
        if key.len() > MAX_KEY_LEN {
            return Err(self.invalid(format!("term key of {} bytes", key.len())));
        }
        if info.doc_freq == 0 {
            return Err(self.invalid("term with no documents"));
        }
        if let Some(last) = &self.last {
            if key <= last.as_slice() {
                return Err(self.invalid("term keys not strictly increasing"));
            }
        }
        let off = self.infos.len() as u64;
        self.fst
            .insert(key, off)
            .map_err(|e| self.invalid(format!("fst insert: {e}")))?;
        self.infos.vint(info.doc_freq as u64);
        self.infos.vint(info.doc_off);
        self.infos.vint(info.pos_off);
        self.last = Some(key.to_vec());
        self.num_terms += 1;
        Ok(())
    }

    /// Number of terms inserted so far.
    pub fn num_terms(&self) -> u64 {
        self.num_terms
    }

    /// Writes the file (not synced).
    pub fn finish(self) -> Result<FileMeta> {
        let name = self.name.clone();
        let fst = self
            .fst
            .into_inner()
            .map_err(|e| StoreError::InvalidArgument {
                file: name.clone(),
                reason: format!("fst finish: {e}"),
            })?;
        let header = EnvelopeHeader::new(FORMAT, VERSION, self.id, "");
        let mut out = EnvelopeWriter::create(self.dir, &name, &header)?;
        let mut head = ByteWriter::new();
        head.u64(self.num_terms);
        head.u64(fst.len() as u64);
        out.write_all(&head.buf)?;
        out.write_all(&fst)?;
        out.write_all(&self.infos.buf)?;
        out.finish()
    }
}

/// A read-only term dictionary; cheap to clone (shares the file bytes).
#[derive(Clone)]
pub struct TermDict {
    name: Arc<str>,
    fst: fst::Map<FileSlice>,
    infos: FileSlice,
    infos_base: u64,
    num_terms: u64,
}

impl std::fmt::Debug for TermDict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TermDict")
            .field("name", &self.name)
            .field("num_terms", &self.num_terms)
            .finish()
    }
}

impl TermDict {
    /// Opens `name` of segment `id`: envelope structure, format, id, layout,
    /// and the fst's own checksum.
    pub fn open(dir: &dyn Directory, name: &str, id: [u8; ID_LEN]) -> Result<Self> {
        Self::open_inner(dir, name, id, true)
    }

    /// Like [`open`](Self::open), for a file whose whole-file CRC32 the
    /// caller has just verified against a trusted record: the fst's own
    /// checksum pass, which would read the same bytes again, is skipped
    /// (damage cannot have reached them unnoticed).
    pub fn open_verified(dir: &dyn Directory, name: &str, id: [u8; ID_LEN]) -> Result<Self> {
        Self::open_inner(dir, name, id, false)
    }

    fn open_inner(
        dir: &dyn Directory,
        name: &str,
        id: [u8; ID_LEN],
        check_fst: bool,
    ) -> Result<Self> {
        let env = EnvelopeReader::open_checked(name, dir.open(name)?)?;
        env.expect_format(FORMAT, VERSION..=VERSION)?;
        env.expect_id(&id)?;
        Self::decode_envelope(&env, check_fst)
    }

    /// Decodes an already opened envelope (format and id not checked here).
    pub fn from_envelope(env: &EnvelopeReader) -> Result<Self> {
        Self::decode_envelope(env, true)
    }

    fn decode_envelope(env: &EnvelopeReader, check_fst: bool) -> Result<Self> {
        let payload = env.payload();
        let base = env.payload_offset();
        let mut r = ByteReader::new(env.name(), base, &payload);
        let num_terms = r.u64()?;
        let fst_len = r.u64()?;
        if fst_len > r.remaining() as u64 {
            return Err(r.err_value(r.remaining() as u64, fst_len, "fst longer than the file"));
        }
        let fst_start = r.pos();
        let fst_end = fst_start + fst_len as usize;
        let corrupt = |at: usize, reason: String| {
            StoreError::corrupt(env.name(), base + at as u64, 0, 0, reason)
        };
        let fst_bytes = payload
            .slice(fst_start..fst_end)
            .ok_or_else(|| corrupt(fst_start, "fst range".into()))?;
        let raw = fst::raw::Fst::new(fst_bytes)
            .map_err(|e| corrupt(fst_start, format!("term dictionary fst: {e}")))?;
        if check_fst {
            raw.verify()
                .map_err(|e| corrupt(fst_start, format!("term dictionary fst checksum: {e}")))?;
        }
        if raw.len() as u64 != num_terms {
            return Err(StoreError::corrupt(
                env.name(),
                base,
                num_terms,
                raw.len() as u64,
                "term count differs from the fst's",
            ));
        }
        let infos = payload
            .slice(fst_end..payload.len())
            .ok_or_else(|| corrupt(fst_end, "term records range".into()))?;
        // Each record is at least three bytes.
        if (infos.len() as u64) < num_terms.saturating_mul(3) {
            return Err(StoreError::corrupt(
                env.name(),
                base + fst_end as u64,
                num_terms.saturating_mul(3),
                infos.len() as u64,
                "term records shorter than the term count needs",
            ));
        }
        Ok(TermDict {
            name: env.name().into(),
            fst: fst::Map::from(raw),
            infos,
            infos_base: base + fst_end as u64,
            num_terms,
        })
    }

    /// Number of terms.
    pub fn num_terms(&self) -> u64 {
        self.num_terms
    }

    /// The file name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn decode(&self, off: u64) -> Result<TermInfo> {
        let mut r = ByteReader::new(&self.name, self.infos_base, &self.infos);
        if off > self.infos.len() as u64 {
            return Err(r.err_value(self.infos.len() as u64, off, "term record offset"));
        }
        r.seek(off as usize)?;
        let doc_freq = r.vint_max(u32::MAX as u64, "document frequency")? as u32;
        if doc_freq == 0 {
            return Err(r.err("term with document frequency 0"));
        }
        let doc_off = r.vint()?;
        let pos_off = r.vint()?;
        Ok(TermInfo {
            doc_freq,
            doc_off,
            pos_off,
        })
    }

    /// The entry of `key`, if present.
    pub fn get(&self, key: &[u8]) -> Result<Option<TermInfo>> {
        match self.fst.get(key) {
            Some(off) => Ok(Some(self.decode(off)?)),
            None => Ok(None),
        }
    }

    /// Every `(key, info)` whose key starts with `prefix`, in key order
    /// (an empty prefix lists the whole dictionary).
    pub fn prefix(&self, prefix: &[u8]) -> Result<TermIter> {
        Ok(TermIter {
            dict: self.clone(),
            prefix: prefix.to_vec(),
            last: None,
            buf: Vec::new(),
            done: false,
        })
    }
}

/// Iterator over a key range of a [`TermDict`]; owns what it needs, reading
/// the dictionary in batches.
pub struct TermIter {
    dict: TermDict,
    prefix: Vec<u8>,
    last: Option<Vec<u8>>,
    buf: Vec<(Vec<u8>, u64)>,
    done: bool,
}

const BATCH: usize = 256;

impl TermIter {
    fn refill(&mut self) {
        let map = &self.dict.fst;
        let mut builder = map.range();
        builder = match &self.last {
            Some(l) => builder.gt(l.as_slice()),
            None => builder.ge(self.prefix.as_slice()),
        };
        let mut stream = builder.into_stream();
        let mut got = Vec::with_capacity(BATCH);
        while let Some((k, v)) = stream.next() {
            if !k.starts_with(&self.prefix) {
                self.done = true;
                break;
            }
            got.push((k.to_vec(), v));
            if got.len() == BATCH {
                break;
            }
        }
        if got.len() < BATCH {
            self.done = true;
        }
        if let Some((k, _)) = got.last() {
            self.last = Some(k.clone());
        }
        got.reverse();
        self.buf = got;
    }
}

impl Iterator for TermIter {
    type Item = Result<(Vec<u8>, TermInfo)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() {
            if self.done {
                return None;
            }
            self.refill();
        }
        let (k, off) = self.buf.pop()?;
        Some(self.dict.decode(off).map(|info| (k, info)))
    }
}
