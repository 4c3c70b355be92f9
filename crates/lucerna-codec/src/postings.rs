//! Postings: for each term, its documents (ascending ids), the term's
//! frequency in each, and optionally its positions, in blocks of 128
//! documents with per-block skip data and block-max impacts for dynamic
//! pruning (block-max WAND / MaxScore).
//!
//! # Files
//!
//! `<base>.doc` (envelope format `postings-docs`) and, when positions are
//! indexed, `<base>.pos` (format `postings-positions`); id = segment id,
//! empty suffix. [`TermInfo`] (kept in the term dictionary) gives each
//! term's document frequency and where its data starts in each payload.
//!
//! ```text
//! .doc payload:
//!   flags   u8                       bit 0: positions indexed
//!   per term, at TermInfo::doc_off:
//!     when the term has more than one block (doc_freq > 128):
//!       skip_len  vint               bytes of the skip entries below
//!       per block (⌈doc_freq / 128⌉ entries):
//!         vint  last_doc − previous block's last_doc (the first: last_doc)
//!         vint  block_bytes          encoded length of the block
//!         vint  pos_bytes            its positions' length (if positions)
//!         u8    n_impacts            1 ..= 8
//!         n_impacts × (vint freq, u8 norm)   the block's impacts
//!     blocks, each of 128 documents but the last, which may be shorter:
//!       full block:  u8 doc_bits, 128 doc deltas packed (16 × doc_bits
//!                    bytes), u8 freq_bits, 128 (freq − 1) packed
//!       short block: per document vint (delta << 1 | freq == 1), then
//!                    vint freq when freq != 1
//! .pos payload:
//!   per document, in postings order: freq × vint position delta (the
//!   first of each document absolute)
//! ```
//!
//! A block's *impacts* bound the BM25 score of its documents for any
//! collection statistics, as Lucene's: the Pareto frontier of the block's
//! (term frequency, norm byte) pairs — no document of the block has a
//! higher frequency *and* a smaller norm than every listed pair — sorted by
//! norm, both strictly increasing. A frontier longer than 8 is shortened by
//! merging neighbours `(f₁, n₁), (f₂, n₂)` into `(f₂, n₁)`, which dominates
//! both, so the list stays an upper bound.
//!
//! A doc delta is the difference to the previous document of the term (the
//! first document's delta is its id). Bit packing: [`crate::bitpack`].
//!
//! # Integrity
//!
//! Every count and offset is checked before use: `doc_freq ≤ max_doc`, so
//! the skip table allocates at most `max_doc / 128` entries; doc ids must be
//! strictly increasing and below `max_doc`; a block's decoded last document
//! and length must agree with its skip entry. Violations are
//! [`StoreError::Corrupt`] naming the file and offset.
//!
//! # Example
//!
//! ```
//! use lucerna_codec::postings::{PostingsReader, PostingsWriter, TERMINATED};
//! use lucerna_store::RamDirectory;
//! # fn main() -> Result<(), lucerna_store::StoreError> {
//! let dir = RamDirectory::new();
//! let seg = [9u8; 16];
//! let mut w = PostingsWriter::new(&dir, seg, "s", true)?;
//! w.start_term();
//! for doc in (0..1000).step_by(3) {
//!     w.add_doc(doc, 2, &[1, 5], 10)?;
//! }
//! let info = w.finish_term()?;
//! w.finish()?;
//!
//! let r = PostingsReader::open(&dir, "s", seg, 1000)?;
//! let mut p = r.postings(&info)?;
//! assert_eq!(p.doc(), 0);
//! assert_eq!(p.seek(500)?, 501);
//! let mut pos = Vec::new();
//! p.positions(&mut pos)?;
//! assert_eq!(pos, vec![1, 5]);
//! assert_eq!(p.seek(999)?, 999);
//! assert_eq!(p.advance()?, TERMINATED);
//! # Ok(()) }
//! ```

use crate::bitpack::{self, BLOCK};
use crate::bytes::{ByteReader, ByteWriter};
use lucerna_store::envelope::ID_LEN;
use lucerna_store::{
    Directory, EnvelopeHeader, EnvelopeReader, EnvelopeWriter, FileMeta, FileSlice, Result,
    StoreError,
};
use std::sync::Arc;

/// Envelope format name of doc/freq files.
pub const DOC_FORMAT: &str = "postings-docs";
/// Envelope format name of positions files.
pub const POS_FORMAT: &str = "postings-positions";
/// Current format version of both.
pub const VERSION: u32 = 1;
/// The doc id of an exhausted cursor.
pub const TERMINATED: u32 = u32::MAX;

const FLAG_POSITIONS: u8 = 1;
/// Most impacts kept per block.
pub const MAX_IMPACTS: usize = 8;
const HEADER_LEN: u64 = 1;
/// Pending bytes buffered before they go to the file.
const FLUSH_AT: usize = 1 << 20;

/// Where a term's postings are, as stored in the term dictionary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TermInfo {
    /// Number of documents containing the term (≥ 1).
    pub doc_freq: u32,
    /// Offset of the term's data in the `.doc` payload.
    pub doc_off: u64,
    /// Offset of the term's positions in the `.pos` payload.
    pub pos_off: u64,
}

/// File name of the doc/freq file of `base`.
pub fn doc_file(base: &str) -> String {
    format!("{base}.doc")
}

/// File name of the positions file of `base`.
pub fn pos_file(base: &str) -> String {
    format!("{base}.pos")
}

#[derive(Debug, Clone, Copy, Default)]
struct SkipEntry {
    last_doc: u32,
    /// Absolute offset of the block in the `.doc` payload.
    doc_off: u64,
    /// Encoded length of the block.
    block_bytes: u64,
    /// Absolute offset of the block's positions in the `.pos` payload.
    pos_off: u64,
    /// The block's impacts: `impacts[imp_start .. imp_start + imp_len]`.
    imp_start: u32,
    imp_len: u8,
}

/// Appends to `out` the impacts of a block's (freq, norm) `pairs` (sorted
/// in place): see the [module documentation](self).
fn block_impacts(pairs: &mut [(u32, u8)], out: &mut Vec<(u32, u8)>) {
    pairs.sort_unstable_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)));
    let start = out.len();
    let mut best = 0u32;
    for &(f, n) in pairs.iter() {
        if f > best {
            out.push((f, n));
            best = f;
        }
    }
    while out.len() - start > MAX_IMPACTS {
        // Merge the neighbours closest in norm.
        let mut at = start;
        let mut gap = u8::MAX;
        for i in start..out.len() - 1 {
            let g = out[i + 1].1 - out[i].1;
            if g < gap {
                gap = g;
                at = i;
            }
        }
        out[at] = (out[at + 1].0, out[at].1);
        out.remove(at + 1);
    }
}

/// Streams the postings of a segment's terms, in term order, into the
/// `.doc` and `.pos` files.
pub struct PostingsWriter {
    doc_out: EnvelopeWriter,
    pos_out: Option<EnvelopeWriter>,
    doc_pending: Vec<u8>,
    pos_pending: Vec<u8>,
    doc_written: u64,
    pos_written: u64,
    // The current term.
    in_term: bool,
    doc_freq: u32,
    last_doc: Option<u32>,
    block_docs: Vec<u32>,
    block_freqs: Vec<u32>,
    block_pairs: Vec<(u32, u8)>,
    impacts: Vec<(u32, u8)>,
    block_pos_start: u64,
    prev_block_last: u32,
    blocks: Vec<u8>,
    skips: Vec<SkipEntry>,
    term_pos: Vec<u8>,
    scratch: Vec<u32>,
}

impl PostingsWriter {
    /// Creates `<base>.doc` (and `<base>.pos` when `with_positions`) in
    /// `dir` for segment `id`.
    pub fn new(
        dir: &dyn Directory,
        id: [u8; ID_LEN],
        base: &str,
        with_positions: bool,
    ) -> Result<Self> {
        let mut doc_out = EnvelopeWriter::create(
            dir,
            &doc_file(base),
            &EnvelopeHeader::new(DOC_FORMAT, VERSION, id, ""),
        )?;
        doc_out.write_all(&[if with_positions { FLAG_POSITIONS } else { 0 }])?;
        let pos_out = if with_positions {
            Some(EnvelopeWriter::create(
                dir,
                &pos_file(base),
                &EnvelopeHeader::new(POS_FORMAT, VERSION, id, ""),
            )?)
        } else {
            None
        };
        Ok(PostingsWriter {
            doc_out,
            pos_out,
            doc_pending: Vec::new(),
            pos_pending: Vec::new(),
            doc_written: HEADER_LEN,
            pos_written: 0,
            in_term: false,
            doc_freq: 0,
            last_doc: None,
            block_docs: Vec::with_capacity(BLOCK),
            block_freqs: Vec::with_capacity(BLOCK),
            block_pairs: Vec::with_capacity(BLOCK),
            impacts: Vec::new(),
            block_pos_start: 0,
            prev_block_last: 0,
            blocks: Vec::new(),
            skips: Vec::new(),
            term_pos: Vec::new(),
            scratch: Vec::with_capacity(BLOCK),
        })
    }

    fn invalid(&self, reason: impl Into<String>) -> StoreError {
        StoreError::InvalidArgument {
            file: self.doc_out.name().to_string(),
            reason: reason.into(),
        }
    }

    /// Starts the postings of the next term.
    pub fn start_term(&mut self) {
        self.in_term = true;
        self.doc_freq = 0;
        self.last_doc = None;
        self.block_docs.clear();
        self.block_freqs.clear();
        self.block_pairs.clear();
        self.impacts.clear();
        self.block_pos_start = 0;
        self.prev_block_last = 0;
        self.blocks.clear();
        self.skips.clear();
        self.term_pos.clear();
    }

    /// Adds a document of the current term: ids strictly increasing,
    /// `freq ≥ 1`, and with positions, exactly `freq` non-decreasing
    /// positions. `norm` is the document's norm byte for the term's field
    /// (kept per block for block-max scoring).
    pub fn add_doc(&mut self, doc: u32, freq: u32, positions: &[u32], norm: u8) -> Result<()> {
        if !self.in_term {
            return Err(self.invalid("add_doc outside a term"));
        }
        if doc == TERMINATED || self.last_doc.is_some_and(|l| doc <= l) {
            return Err(self.invalid(format!("doc {doc} out of order")));
        }
        if freq == 0 {
            return Err(self.invalid("term frequency 0"));
        }
        if self.pos_out.is_some() {
            if positions.len() != freq as usize {
                return Err(self.invalid(format!(
                    "{} positions for frequency {freq}",
                    positions.len()
                )));
            }
            let mut w = ByteWriter::new();
            std::mem::swap(&mut w.buf, &mut self.term_pos);
            let mut prev = 0u32;
            for (i, &p) in positions.iter().enumerate() {
                if i > 0 && p < prev {
                    std::mem::swap(&mut w.buf, &mut self.term_pos);
                    return Err(self.invalid("positions decrease"));
                }
                w.vint((p - prev) as u64);
                prev = p;
            }
            std::mem::swap(&mut w.buf, &mut self.term_pos);
        }
        self.block_docs.push(doc);
        self.block_freqs.push(freq);
        self.block_pairs.push((freq, norm));
        self.last_doc = Some(doc);
        self.doc_freq += 1;
        if self.block_docs.len() == BLOCK {
            self.end_block();
        }
        Ok(())
    }

    fn end_block(&mut self) {
        let n = self.block_docs.len();
        if n == 0 {
            return;
        }
        let start = self.blocks.len();
        let mut prev = self.prev_block_last;
        let first_block = self.skips.is_empty();
        if n == BLOCK {
            self.scratch.clear();
            for (i, &d) in self.block_docs.iter().enumerate() {
                let delta = if first_block && i == 0 { d } else { d - prev };
                self.scratch.push(delta);
                prev = d;
            }
            let b = bitpack::bits_needed(&self.scratch);
            self.blocks.push(b);
            bitpack::pack(&self.scratch, b, &mut self.blocks);
            self.scratch.clear();
            self.scratch.extend(self.block_freqs.iter().map(|f| f - 1));
            let fb = bitpack::bits_needed(&self.scratch);
            self.blocks.push(fb);
            bitpack::pack(&self.scratch, fb, &mut self.blocks);
        } else {
            let mut w = ByteWriter::new();
            std::mem::swap(&mut w.buf, &mut self.blocks);
            for (i, (&d, &f)) in self.block_docs.iter().zip(&self.block_freqs).enumerate() {
                let delta = if first_block && i == 0 { d } else { d - prev };
                w.vint(((delta as u64) << 1) | (f == 1) as u64);
                if f != 1 {
                    w.vint(f as u64);
                }
                prev = d;
            }
            std::mem::swap(&mut w.buf, &mut self.blocks);
        }
        let pos_end = self.term_pos.len() as u64;
        let imp_start = self.impacts.len();
        block_impacts(&mut self.block_pairs, &mut self.impacts);
        self.skips.push(SkipEntry {
            last_doc: prev,
            doc_off: start as u64,
            block_bytes: (self.blocks.len() - start) as u64,
            pos_off: self.block_pos_start,
            imp_start: imp_start as u32,
            imp_len: (self.impacts.len() - imp_start) as u8,
        });
        self.block_pos_start = pos_end;
        self.prev_block_last = prev;
        self.block_docs.clear();
        self.block_freqs.clear();
        self.block_pairs.clear();
    }

    /// Ends the current term; returns where its postings are.
    pub fn finish_term(&mut self) -> Result<TermInfo> {
        if !self.in_term {
            return Err(self.invalid("finish_term outside a term"));
        }
        if self.doc_freq == 0 {
            return Err(self.invalid("term with no documents"));
        }
        self.end_block();
        self.in_term = false;
        let info = TermInfo {
            doc_freq: self.doc_freq,
            doc_off: self.doc_written + self.doc_pending.len() as u64,
            pos_off: self.pos_written + self.pos_pending.len() as u64,
        };
        let with_pos = self.pos_out.is_some();
        if self.skips.len() > 1 {
            let mut w = ByteWriter::new();
            let mut prev = 0u32;
            for (i, s) in self.skips.iter().enumerate() {
                w.vint(if i == 0 {
                    s.last_doc
                } else {
                    s.last_doc - prev
                } as u64);
                w.vint(s.block_bytes);
                if with_pos {
                    let end = self
                        .skips
                        .get(i + 1)
                        .map_or(self.term_pos.len() as u64, |n| n.pos_off);
                    w.vint(end - s.pos_off);
                }
                let imps = &self.impacts[s.imp_start as usize..][..s.imp_len as usize];
                w.u8(s.imp_len);
                for &(f, n) in imps {
                    w.vint(f as u64);
                    w.u8(n);
                }
                prev = s.last_doc;
            }
            let mut len = ByteWriter::new();
            len.vint(w.len() as u64);
            self.doc_pending.extend_from_slice(&len.buf);
            self.doc_pending.extend_from_slice(&w.buf);
        }
        self.doc_pending.extend_from_slice(&self.blocks);
        if with_pos {
            self.pos_pending.extend_from_slice(&self.term_pos);
        }
        self.flush_pending(false)?;
        Ok(info)
    }

    fn flush_pending(&mut self, force: bool) -> Result<()> {
        if force || self.doc_pending.len() >= FLUSH_AT {
            self.doc_out.write_all(&self.doc_pending)?;
            self.doc_written += self.doc_pending.len() as u64;
            self.doc_pending.clear();
        }
        if let Some(pos) = self.pos_out.as_mut() {
            if force || self.pos_pending.len() >= FLUSH_AT {
                pos.write_all(&self.pos_pending)?;
                self.pos_written += self.pos_pending.len() as u64;
                self.pos_pending.clear();
            }
        }
        Ok(())
    }

    /// Writes the footers; returns each file's name and metadata (not
    /// synced).
    pub fn finish(mut self) -> Result<Vec<(String, FileMeta)>> {
        if self.in_term {
            return Err(self.invalid("finish inside a term"));
        }
        self.flush_pending(true)?;
        let mut out = Vec::with_capacity(2);
        let name = self.doc_out.name().to_string();
        out.push((name, self.doc_out.finish()?));
        if let Some(pos) = self.pos_out {
            let name = pos.name().to_string();
            out.push((name, pos.finish()?));
        }
        Ok(out)
    }
}

/// The postings files of one segment; hands out cursors per term.
#[derive(Clone)]
pub struct PostingsReader {
    doc_name: Arc<str>,
    doc_data: FileSlice,
    doc_base: u64,
    pos: Option<(Arc<str>, FileSlice, u64)>,
    max_doc: u32,
}

impl std::fmt::Debug for PostingsReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostingsReader")
            .field("doc_file", &self.doc_name)
            .field("positions", &self.pos.is_some())
            .field("max_doc", &self.max_doc)
            .finish()
    }
}

impl PostingsReader {
    /// Opens `<base>.doc` (and `<base>.pos` when its flags say positions
    /// are indexed) of segment `id` with `max_doc` documents; checks
    /// envelope structure, formats and ids.
    pub fn open(dir: &dyn Directory, base: &str, id: [u8; ID_LEN], max_doc: u32) -> Result<Self> {
        let dname = doc_file(base);
        let denv = EnvelopeReader::open_checked(&dname, dir.open(&dname)?)?;
        denv.expect_format(DOC_FORMAT, VERSION..=VERSION)?;
        denv.expect_id(&id)?;
        let doc_data = denv.payload();
        let doc_base = denv.payload_offset();
        let flags = {
            let mut r = ByteReader::new(&dname, doc_base, &doc_data);
            let f = r.u8()?;
            if f & !FLAG_POSITIONS != 0 {
                return Err(r.err_at(0, format!("unknown postings flags {f:#x}")));
            }
            f
        };
        let pos = if flags & FLAG_POSITIONS != 0 {
            let pname = pos_file(base);
            let penv = EnvelopeReader::open_checked(&pname, dir.open(&pname)?)?;
            penv.expect_format(POS_FORMAT, VERSION..=VERSION)?;
            penv.expect_id(&id)?;
            Some((
                Arc::from(pname.as_str()),
                penv.payload(),
                penv.payload_offset(),
            ))
        } else {
            None
        };
        Ok(PostingsReader {
            doc_name: Arc::from(dname.as_str()),
            doc_data,
            doc_base,
            pos,
            max_doc,
        })
    }

    /// True when positions are indexed.
    pub fn has_positions(&self) -> bool {
        self.pos.is_some()
    }

    /// A cursor over the postings of a term, positioned on its first
    /// document.
    pub fn postings(&self, info: &TermInfo) -> Result<SegmentPostings> {
        SegmentPostings::new(self, info)
    }
}

/// A forward-only cursor over one term's postings in one segment.
pub struct SegmentPostings {
    doc_name: Arc<str>,
    doc_data: FileSlice,
    doc_base: u64,
    pos: Option<(Arc<str>, FileSlice, u64)>,
    max_doc: u32,
    doc_freq: u32,
    num_blocks: usize,
    skips: Vec<SkipEntry>,
    impacts: Vec<(u32, u8)>,
    /// Offset of the first block (single-block terms).
    blocks_start: u64,
    term_pos_off: u64,
    // The loaded block.
    block: usize,
    docs: [u32; BLOCK],
    freqs: [u32; BLOCK],
    n: usize,
    i: usize,
    doc: u32,
    // Positions of the loaded block.
    pos_cursor: u64,
    pos_doc: usize,
    /// Where the positions of doc `pos_doc - 1` start (to read them again).
    pos_last_start: u64,
    // Block-max cursor.
    shallow: usize,
}

impl std::fmt::Debug for SegmentPostings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentPostings")
            .field("file", &self.doc_name)
            .field("doc_freq", &self.doc_freq)
            .field("doc", &self.doc)
            .finish()
    }
}

impl SegmentPostings {
    fn new(r: &PostingsReader, info: &TermInfo) -> Result<Self> {
        let corrupt = |expected: u64, actual: u64, reason: &str| {
            StoreError::corrupt(
                &*r.doc_name,
                r.doc_base,
                expected,
                actual,
                reason.to_string(),
            )
        };
        if info.doc_freq == 0 || info.doc_freq > r.max_doc {
            return Err(corrupt(
                r.max_doc as u64,
                info.doc_freq as u64,
                "document frequency out of range",
            ));
        }
        let len = r.doc_data.len() as u64;
        if info.doc_off < HEADER_LEN || info.doc_off >= len {
            return Err(corrupt(
                len,
                info.doc_off,
                "postings offset outside the file",
            ));
        }
        if let Some((_, pdata, _)) = &r.pos {
            if info.pos_off > pdata.len() as u64 {
                return Err(corrupt(
                    pdata.len() as u64,
                    info.pos_off,
                    "positions offset outside the file",
                ));
            }
        }
        let num_blocks = (info.doc_freq as usize).div_ceil(BLOCK);
        let mut p = SegmentPostings {
            doc_name: r.doc_name.clone(),
            doc_data: r.doc_data.clone(),
            doc_base: r.doc_base,
            pos: r.pos.clone(),
            max_doc: r.max_doc,
            doc_freq: info.doc_freq,
            num_blocks,
            skips: Vec::new(),
            impacts: Vec::new(),
            blocks_start: info.doc_off,
            term_pos_off: info.pos_off,
            block: 0,
            docs: [0; BLOCK],
            freqs: [0; BLOCK],
            n: 0,
            i: 0,
            doc: TERMINATED,
            pos_cursor: 0,
            pos_doc: 0,
            pos_last_start: 0,
            shallow: 0,
        };
        if num_blocks > 1 {
            p.read_skips(info)?;
        }
        p.load_block(0)?;
        p.doc = p.docs[0];
        Ok(p)
    }

    fn reader(&self) -> ByteReader<'_> {
        ByteReader::new(&self.doc_name, self.doc_base, &self.doc_data)
    }

    fn read_skips(&mut self, info: &TermInfo) -> Result<()> {
        let with_pos = self.pos.is_some();
        let pos_len = self.pos.as_ref().map_or(0, |p| p.1.len() as u64);
        let data_len = self.doc_data.len() as u64;
        let mut r = self.reader();
        r.seek(info.doc_off as usize)?;
        let skip_len = r.len_prefix()?;
        let skip_end = r.pos() + skip_len;
        let mut skips = Vec::with_capacity(self.num_blocks);
        let mut impacts = Vec::with_capacity(self.num_blocks);
        let mut doc_off = skip_end as u64;
        let mut pos_off = info.pos_off;
        let mut last = 0u32;
        for i in 0..self.num_blocks {
            let delta = r.vint_max(self.max_doc as u64, "skip doc delta")? as u32;
            if i > 0 && delta == 0 {
                return Err(r.err("skip entries' last documents not increasing"));
            }
            let last_doc = last + delta;
            if last_doc >= self.max_doc {
                return Err(r.err_value(
                    self.max_doc as u64,
                    last_doc as u64,
                    "skip last document ≥ max_doc",
                ));
            }
            let block_bytes = r.vint_max(data_len, "block length")?;
            let pos_bytes = if with_pos {
                r.vint_max(pos_len, "positions length")?
            } else {
                0
            };
            let imp_len = r.u8()?;
            if imp_len == 0 || imp_len as usize > MAX_IMPACTS {
                return Err(r.err(format!("{imp_len} impacts in a block")));
            }
            let imp_start = impacts.len() as u32;
            for _ in 0..imp_len {
                let f = r.vint_max(u32::MAX as u64, "impact frequency")? as u32;
                let n = r.u8()?;
                impacts.push((f, n));
            }
            skips.push(SkipEntry {
                last_doc,
                doc_off,
                block_bytes,
                pos_off,
                imp_start,
                imp_len,
            });
            doc_off += block_bytes;
            pos_off += pos_bytes;
            last = last_doc;
        }
        if r.pos() != skip_end {
            return Err(r.err_value(skip_end as u64, r.pos() as u64, "skip data length"));
        }
        if doc_off > data_len || pos_off > pos_len {
            return Err(r.err_value(data_len, doc_off, "blocks run past the end of the file"));
        }
        self.skips = skips;
        self.impacts = impacts;
        Ok(())
    }

    /// Decodes block `k` into `docs`/`freqs`.
    fn load_block(&mut self, k: usize) -> Result<()> {
        let (off, expected_len, prev, pos_off) = if self.skips.is_empty() {
            (self.blocks_start, None, None, self.term_pos_off)
        } else {
            let s = self.skips[k];
            let prev = if k == 0 {
                None
            } else {
                Some(self.skips[k - 1].last_doc)
            };
            (s.doc_off, Some(s.block_bytes), prev, s.pos_off)
        };
        let full = k + 1 < self.num_blocks || (self.doc_freq as usize).is_multiple_of(BLOCK);
        let n = if full {
            BLOCK
        } else {
            self.doc_freq as usize % BLOCK
        };
        let name = self.doc_name.clone();
        let data = self.doc_data.clone();
        let mut r = ByteReader::new(&name, self.doc_base, &data);
        r.seek(off as usize)?;
        let start = r.pos();
        let max_doc = self.max_doc;
        if full {
            let b = r.u8()?;
            if b > 32 {
                return Err(r.err_at(start, format!("doc delta width {b} > 32")));
            }
            let packed = r.take(bitpack::packed_len(b))?;
            bitpack::unpack(packed, b, &mut self.docs);
            let fb = r.u8()?;
            if fb > 32 {
                return Err(r.err(format!("freq width {fb} > 32")));
            }
            let packed = r.take(bitpack::packed_len(fb))?;
            bitpack::unpack(packed, fb, &mut self.freqs);
            // Prefix sums, checking order and range.
            let mut acc: u64 = match prev {
                Some(p) => p as u64,
                None => 0,
            };
            for j in 0..BLOCK {
                let d = self.docs[j] as u64;
                if d == 0 && (j > 0 || prev.is_some()) {
                    return Err(r.err_at(start, "doc ids not increasing"));
                }
                acc += d;
                if acc >= max_doc as u64 {
                    return Err(r.err_value(max_doc as u64, acc, "doc id ≥ max_doc"));
                }
                self.docs[j] = acc as u32;
                let f = self.freqs[j];
                if f == u32::MAX {
                    return Err(r.err_at(start, "term frequency overflows"));
                }
                self.freqs[j] = f + 1;
            }
        } else {
            let mut acc: u64 = prev.map_or(0, |p| p as u64);
            for j in 0..n {
                let v = r.vint()?;
                let d = v >> 1;
                if d == 0 && (j > 0 || prev.is_some()) {
                    return Err(r.err("doc ids not increasing"));
                }
                acc += d;
                if acc >= max_doc as u64 {
                    return Err(r.err_value(max_doc as u64, acc, "doc id ≥ max_doc"));
                }
                self.docs[j] = acc as u32;
                self.freqs[j] = if v & 1 == 1 {
                    1
                } else {
                    let f = r.vint_max(u32::MAX as u64, "term frequency")? as u32;
                    if f < 2 {
                        return Err(r.err("explicit term frequency below 2"));
                    }
                    f
                };
            }
        }
        if let Some(len) = expected_len {
            let got = (r.pos() - start) as u64;
            if got != len {
                return Err(r.err_value(len, got, "block length differs from its skip entry"));
            }
            let last = self.skips[k].last_doc;
            if self.docs[n - 1] != last {
                return Err(r.err_value(
                    last as u64,
                    self.docs[n - 1] as u64,
                    "block's last document differs from its skip entry",
                ));
            }
        }
        self.block = k;
        self.n = n;
        self.i = 0;
        self.pos_cursor = pos_off;
        self.pos_doc = 0;
        Ok(())
    }

    /// The current document, or [`TERMINATED`].
    #[inline]
    pub fn doc(&self) -> u32 {
        self.doc
    }

    /// Term frequency in the current document.
    #[inline]
    pub fn freq(&self) -> u32 {
        self.freqs[self.i.min(BLOCK - 1)]
    }

    /// Number of documents of the term.
    pub fn doc_freq(&self) -> u32 {
        self.doc_freq
    }

    /// Moves to the next document; returns it or [`TERMINATED`].
    #[inline]
    pub fn advance(&mut self) -> Result<u32> {
        if self.doc == TERMINATED {
            return Ok(TERMINATED);
        }
        self.i += 1;
        if self.i < self.n {
            self.doc = self.docs[self.i];
        } else if self.block + 1 < self.num_blocks {
            self.load_block(self.block + 1)?;
            self.doc = self.docs[0];
        } else {
            self.doc = TERMINATED;
        }
        Ok(self.doc)
    }

    /// Visits every remaining document, from the current one on, a block
    /// at a time (`f` gets ascending doc ids), then leaves the cursor
    /// exhausted. The fast path for counting and bitset unions: no per-doc
    /// call or block-boundary check.
    pub fn for_each_block(&mut self, mut f: impl FnMut(&[u32])) -> Result<()> {
        if self.doc == TERMINATED {
            return Ok(());
        }
        f(&self.docs[self.i..self.n]);
        while self.block + 1 < self.num_blocks {
            self.load_block(self.block + 1)?;
            f(&self.docs[..self.n]);
        }
        self.i = self.n;
        self.doc = TERMINATED;
        Ok(())
    }

    /// Moves to the first document ≥ `target`; returns it or
    /// [`TERMINATED`]. Never moves backwards.
    pub fn seek(&mut self, target: u32) -> Result<u32> {
        if self.doc == TERMINATED || self.doc >= target {
            return Ok(self.doc);
        }
        if target > self.docs[self.n - 1] {
            // Find the block holding target via the skip entries.
            let from = self.block + 1;
            let k = from
                + self
                    .skips
                    .get(from..)
                    .map_or(0, |s| s.partition_point(|e| e.last_doc < target));
            if k >= self.num_blocks {
                self.doc = TERMINATED;
                self.i = self.n;
                return Ok(TERMINATED);
            }
            self.load_block(k)?;
        }
        while self.docs[self.i] < target {
            self.i += 1;
        }
        self.doc = self.docs[self.i];
        Ok(self.doc)
    }

    /// Moves the block-max cursor to the block holding `target` (without
    /// moving the document cursor); returns that block's last document, or
    /// [`TERMINATED`] when no block holds a document ≥ `target`.
    pub fn shallow_seek(&mut self, target: u32) -> Result<u32> {
        if self.skips.is_empty() {
            let last = self.docs[self.n - 1];
            self.shallow = if target <= last { 0 } else { 1 };
            return Ok(self.block_last_doc());
        }
        while self.shallow > 0 && self.skips[self.shallow - 1].last_doc >= target {
            self.shallow -= 1;
        }
        while self.shallow < self.skips.len() && self.skips[self.shallow].last_doc < target {
            self.shallow += 1;
        }
        Ok(self.block_last_doc())
    }

    /// Last document of the block under the block-max cursor, or
    /// [`TERMINATED`] past the last block.
    pub fn block_last_doc(&self) -> u32 {
        if self.skips.is_empty() {
            if self.shallow == 0 {
                self.docs[self.n - 1]
            } else {
                TERMINATED
            }
        } else {
            self.skips
                .get(self.shallow)
                .map_or(TERMINATED, |s| s.last_doc)
        }
    }

    /// The impacts of the block under the block-max cursor: (freq, norm)
    /// pairs such that every document of the block has a frequency ≤ and a
    /// norm ≥ those of at least one pair (see the
    /// [module documentation](self)). Empty when no bound is known (a term
    /// with a single block has no skip data; past the last block).
    pub fn block_impacts(&self) -> &[(u32, u8)] {
        match self.skips.get(self.shallow) {
            Some(s) => self
                .impacts
                .get(s.imp_start as usize..s.imp_start as usize + s.imp_len as usize)
                .unwrap_or(&[]),
            None => &[],
        }
    }

    /// Largest term frequency in the block under the block-max cursor
    /// (`u32::MAX` when unknown).
    pub fn block_max_freq(&self) -> u32 {
        self.block_impacts().last().map_or(u32::MAX, |i| i.0)
    }

    /// Smallest norm byte in the block under the block-max cursor (0 when
    /// unknown).
    pub fn block_min_norm(&self) -> u8 {
        self.block_impacts().first().map_or(0, |i| i.1)
    }

    /// Appends the positions of the current document to `out`.
    pub fn positions(&mut self, out: &mut Vec<u32>) -> Result<()> {
        if self.doc == TERMINATED {
            return Ok(());
        }
        let Some((pname, pdata, pbase)) = &self.pos else {
            return Err(StoreError::InvalidArgument {
                file: self.doc_name.to_string(),
                reason: "positions are not indexed for this field".into(),
            });
        };
        let mut r = ByteReader::new(pname, *pbase, pdata);
        if self.pos_cursor > pdata.len() as u64 {
            return Err(r.err_value(pdata.len() as u64, self.pos_cursor, "positions offset"));
        }
        if self.pos_doc == self.i + 1 {
            // The current document's positions again.
            self.pos_cursor = self.pos_last_start;
            self.pos_doc = self.i;
        }
        r.seek(self.pos_cursor as usize)?;
        while self.pos_doc < self.i {
            for _ in 0..self.freqs[self.pos_doc] {
                r.vint()?;
            }
            self.pos_doc += 1;
        }
        self.pos_last_start = r.pos() as u64;
        let mut p: u64 = 0;
        for _ in 0..self.freqs[self.i] {
            p += r.vint()?;
            if p > u32::MAX as u64 {
                return Err(r.err("position overflows 32 bits"));
            }
            out.push(p as u32);
        }
        self.pos_doc += 1;
        self.pos_cursor = r.pos() as u64;
        Ok(())
    }
}
