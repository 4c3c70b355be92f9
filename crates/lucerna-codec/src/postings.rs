//! Postings: for each term, its documents (ascending ids), the term's
//! frequency in each, and optionally its positions, in blocks of 128
//! documents with per-block skip data and block-max impacts for dynamic
//! pruning (block-max WAND / MaxScore).
//!
//! # Files
//!
//! `<base>.doc` (envelope format `postings-docs`, version 3; versions 1
//! and 2 are still read) and, when positions are indexed, `<base>.pos` (format
//! `postings-positions`, version 2; version 1 is still read); id = segment
//! id, empty suffix.
//! [`TermInfo`] (kept in the term dictionary) gives each term's document
//! frequency and where its data starts in each payload.
//!
//! ```text
//! .doc payload:
//!   flags   u8                       bit 0: positions indexed
//!   per term, at TermInfo::doc_off:
//!     when the term has more than one block (doc_freq > 128):
//!       imp_len   vint               bytes of the impacts area below
//!       skip table: ⌈doc_freq / 128⌉ fixed-width entries of 20 bytes:
//!         u32   last_doc             the block's last document
//!         u32   doc_end              end of the block, from the first block
//!         u64   pos_end              end of its positions, from pos_off
//!         u32   imp_end              end of its impacts in the impacts area
//!       group table (version 3, terms of more than 32 blocks):
//!         ⌈blocks / 32⌉ × u32 imp_end end of the group's impacts in the
//!                                    impacts area
//!       impacts area (imp_len bytes): per block, 1 ..= 8 impacts
//!         (vint freq, u8 norm), norms ascending; then (version 3) per
//!         group of 32 blocks, the impacts bounding all of them
//!     blocks, each of 128 documents but the last, which may be shorter:
//!       full block:  u8 doc_bits, 128 doc deltas packed (16 × doc_bits
//!                    bytes), u8 freq_bits, 128 (freq − 1) packed;
//!                    version 2 packs in the four-lane layout
//!                    (`bitpack::pack4`, SIMD-decoded), version 1 in the
//!                    sequential one (`bitpack::pack`)
//!       short block: per document vint (delta << 1 | freq == 1), then
//!                    vint freq when freq != 1
//! .pos payload:
//!   per term, at TermInfo::pos_off, per block (block k's bytes end at
//!   pos_end[k] from pos_off): its documents' positions, each document's
//!   first as it is and the next ones as differences, bit-packed in chunks
//!   of 128 values ([`crate::positions`]; version 1: one vint each)
//! ```
//!
//! A *group* is 32 consecutive blocks (the last may be shorter); its
//! impacts are the frontier of the union of its blocks' impacts, shortened
//! the same way, so they bound every document of the group. A top-k search
//! walking past blocks that cannot compete checks one group instead of 32
//! blocks (Lucene's level-1 impacts).
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
//! first document's delta is its id). Bit packing: [`crate::bitpack`]; a
//! version 2 block's deltas are unpacked and summed into ids in one SIMD
//! pass.
//!
//! # Integrity
//!
//! Every count and offset is checked before use: `doc_freq ≤ max_doc`; the
//! skip table and impacts area must lie within the file (checked when a
//! cursor opens; the table is then read in place, searched by galloping and
//! binary search, nothing allocated); doc ids must be strictly increasing
//! and below `max_doc`; a block's decoded last document and length must
//! agree with its skip entry, and entries' offsets must not decrease. Violations are
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
use crate::positions::{self, PackedBlock};
use lucerna_store::envelope::ID_LEN;
use lucerna_store::{
    Directory, EnvelopeHeader, EnvelopeReader, EnvelopeWriter, FileMeta, FileSlice, Result,
    StoreError,
};
use std::sync::Arc;

/// Envelope format name of doc/freq files.
pub const DOC_FORMAT: &str = "postings-docs";
/// Whether a term of `doc_freq` documents keeps block impacts: only a term
/// of more than one block has skip data, and impacts are kept there. The
/// `norm` given to [`PostingsWriter::add_doc`] for any other term is never
/// written, so a merge need not look it up.
///
/// ```
/// use lucerna_codec::postings::keeps_impacts;
/// assert!(!keeps_impacts(128));
/// assert!(keeps_impacts(129));
/// ```
pub fn keeps_impacts(doc_freq: u64) -> bool {
    doc_freq > BLOCK as u64
}

/// Envelope format name of positions files.
pub const POS_FORMAT: &str = "postings-positions";
/// Format version of the doc/freq files this code writes: 3, full blocks
/// in the four-lane layout ([`bitpack::pack4`], SIMD-decoded) and impacts
/// per group of 32 blocks.
pub const DOC_VERSION: u32 = 3;
/// Oldest doc/freq version still read: 1, full blocks in the sequential
/// layout ([`bitpack::pack`]); otherwise the same as 2, which has no group
/// impacts.
pub const DOC_VERSION_MIN: u32 = 1;
/// Format version of the positions files this code writes: 2, each
/// block's positions bit-packed ([`crate::positions`]), so a document's
/// are read without reading those before it.
pub const POS_VERSION: u32 = 2;
/// Oldest positions version still read: 1, one varint per position.
pub const POS_VERSION_MIN: u32 = 1;
/// The most positions one document may have for one term (2²⁴): the
/// writer refuses more, and the reader reports a larger frequency as
/// corruption before reading positions, so that a forged frequency cannot
/// make a read allocate more than 64 MiB. (Packed positions of width 0
/// take no bytes, so the file's size alone does not bound them.)
pub const MAX_DOC_POSITIONS: u32 = 1 << 24;
/// The doc id of an exhausted cursor.
pub const TERMINATED: u32 = u32::MAX;

const FLAG_POSITIONS: u8 = 1;
/// Bytes of one skip-table entry.
const SKIP_ENTRY_LEN: usize = 20;

/// Documents after the current one that a seek looks at in place before
/// it searches the block (or the skip table) for its target.
const NEAR: usize = 8;
/// Most impacts kept per block.
pub const MAX_IMPACTS: usize = 8;
/// Blocks per group (version 3): a term of more blocks keeps impacts per
/// group too.
pub const GROUP_BLOCKS: usize = 32;
/// Bytes of one group-table entry.
const GROUP_ENTRY_LEN: usize = 4;

/// Groups of a term of `num_blocks` blocks in a file of version `version`.
fn num_groups(num_blocks: usize, version_3: bool) -> usize {
    if version_3 && num_blocks > GROUP_BLOCKS {
        num_blocks.div_ceil(GROUP_BLOCKS)
    } else {
        0
    }
}
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
    /// Encoded length of the block.
    block_bytes: u64,
    /// Absolute offset of the block's positions in the `.pos` payload.
    pos_off: u64,
    /// The block's impacts: `impacts[imp_start .. imp_start + imp_len]`.
    imp_start: u32,
    imp_len: u8,
}

/// Appends to `out` the impacts of a block's (freq, norm) `pairs`: see the
/// [module documentation](self).
///
/// The largest frequency of each norm, then the norms in increasing order
/// keeping each whose frequency beats every smaller norm's: no sort, two
/// passes over a 256-entry table.
fn block_impacts(pairs: &[(u32, u8)], out: &mut Vec<(u32, u8)>) {
    let mut best_of = [0u32; 256];
    let mut seen = [0u64; 4];
    for &(f, n) in pairs {
        let slot = &mut best_of[n as usize];
        *slot = (*slot).max(f);
        seen[n as usize >> 6] |= 1 << (n & 63);
    }
    let start = out.len();
    let mut best = 0u32;
    for (w, &bits) in seen.iter().enumerate() {
        let mut bits = bits;
        while bits != 0 {
            let n = (w << 6) | bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let f = best_of[n];
            if f > best {
                out.push((f, n as u8));
                best = f;
            }
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
    /// Pack full blocks in the four-lane layout (format version 2).
    four_lane: bool,
    /// Keep group impacts (format version 3).
    groups: bool,
    /// Pack positions per block (positions version 2).
    pos_packed: bool,
    /// The current block's position values, packed when it ends.
    block_pos: Vec<u32>,
    /// A group's impacts, gathered from its blocks'.
    group_pairs: Vec<(u32, u8)>,
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
        Self::with_versions(dir, id, base, with_positions, DOC_VERSION, POS_VERSION)
    }

    /// As [`new`](Self::new), writing doc/freq format `doc_version`
    /// ([`DOC_VERSION_MIN`] ..= [`DOC_VERSION`]): for tests of the older
    /// formats' read path.
    ///
    /// # Panics
    /// When `doc_version` is not one of them.
    #[doc(hidden)]
    pub fn with_doc_version(
        dir: &dyn Directory,
        id: [u8; ID_LEN],
        base: &str,
        with_positions: bool,
        doc_version: u32,
    ) -> Result<Self> {
        Self::with_versions(dir, id, base, with_positions, doc_version, POS_VERSION)
    }

    /// As [`with_doc_version`](Self::with_doc_version), also writing
    /// positions format `pos_version` ([`POS_VERSION_MIN`] ..=
    /// [`POS_VERSION`]).
    ///
    /// # Panics
    /// When either version is not one of them.
    #[doc(hidden)]
    pub fn with_versions(
        dir: &dyn Directory,
        id: [u8; ID_LEN],
        base: &str,
        with_positions: bool,
        doc_version: u32,
        pos_version: u32,
    ) -> Result<Self> {
        assert!(
            (DOC_VERSION_MIN..=DOC_VERSION).contains(&doc_version),
            "no postings format version {doc_version}"
        );
        assert!(
            (POS_VERSION_MIN..=POS_VERSION).contains(&pos_version),
            "no positions format version {pos_version}"
        );
        let mut doc_out = EnvelopeWriter::create(
            dir,
            &doc_file(base),
            &EnvelopeHeader::new(DOC_FORMAT, doc_version, id, ""),
        )?;
        doc_out.write_all(&[if with_positions { FLAG_POSITIONS } else { 0 }])?;
        let pos_out = if with_positions {
            Some(EnvelopeWriter::create(
                dir,
                &pos_file(base),
                &EnvelopeHeader::new(POS_FORMAT, pos_version, id, ""),
            )?)
        } else {
            None
        };
        Ok(PostingsWriter {
            four_lane: doc_version >= 2,
            groups: doc_version >= 3,
            pos_packed: pos_version >= 2,
            block_pos: Vec::new(),
            group_pairs: Vec::new(),
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
        self.block_pos.clear();
    }

    /// Adds a document of the current term: ids strictly increasing,
    /// `freq ≥ 1`, and with positions, exactly `freq` non-decreasing
    /// positions. `norm` is the document's norm byte for the term's field
    /// (kept per block for block-max scoring).
    pub fn add_doc(&mut self, doc: u32, freq: u32, positions: &[u32], norm: u8) -> Result<()> {
        self.check_doc(doc, freq)?;
        if self.pos_out.is_some() {
            self.check_positions_freq(freq)?;
            if positions.len() != freq as usize {
                return Err(self.invalid(format!(
                    "{} positions for frequency {freq}",
                    positions.len()
                )));
            }
            if positions.windows(2).any(|w| w[1] < w[0]) {
                return Err(self.invalid("positions decrease"));
            }
            let mut prev = 0u32;
            let deltas = positions
                .iter()
                .map(|&p| p - std::mem::replace(&mut prev, p));
            self.push_positions(deltas);
        }
        self.push_doc(doc, freq, norm);
        Ok(())
    }

    /// Appends one document's position values (the first position, then
    /// differences) to the current block's: to be packed when it ends, or
    /// (version 1) as varints now.
    fn push_positions(&mut self, values: impl Iterator<Item = u32>) {
        if self.pos_packed {
            self.block_pos.extend(values);
        } else {
            let mut w = ByteWriter::new();
            std::mem::swap(&mut w.buf, &mut self.term_pos);
            for v in values {
                w.vint(v as u64);
            }
            std::mem::swap(&mut w.buf, &mut self.term_pos);
        }
    }

    /// [`add_doc`](Self::add_doc) with the document's positions as stored
    /// (the first position, then the difference of each next one to the
    /// previous), as [`SegmentPostings::position_values`] returns them: a
    /// merge copies them without turning them into positions and back.
    /// There must be exactly `freq` values whose sum fits 32 bits
    /// (checked); without positions they are ignored.
    pub fn add_doc_values(&mut self, doc: u32, freq: u32, values: &[u32], norm: u8) -> Result<()> {
        self.check_doc(doc, freq)?;
        if self.pos_out.is_some() {
            self.check_values(freq, values)?;
            self.push_positions(values.iter().copied());
        }
        self.push_doc(doc, freq, norm);
        Ok(())
    }

    /// Checks one document's stored position values against its
    /// frequency: at most [`MAX_DOC_POSITIONS`], exactly `freq` values, and
    /// their sum (the last position) within 32 bits.
    #[inline]
    fn check_values(&self, freq: u32, values: &[u32]) -> Result<()> {
        self.check_positions_freq(freq)?;
        if values.len() != freq as usize {
            return Err(self.invalid(format!(
                "{} position values for frequency {freq}",
                values.len()
            )));
        }
        // One value is a position of 32 bits already.
        if freq > 1 && values.iter().map(|&v| v as u64).sum::<u64>() > u32::MAX as u64 {
            return Err(self.invalid("a position overflows 32 bits"));
        }
        Ok(())
    }

    /// [`add_doc_values`](Self::add_doc_values) for a run of documents of
    /// the current term: `docs` strictly increasing (and after the term's
    /// last), a frequency of at least 1 per document in `freqs`, and with
    /// positions, the documents' position values end to end in `values`
    /// (as many as the frequencies add up to). `norm` gives a document's
    /// norm byte. Everything is checked before anything is added, so an
    /// error leaves the term as it was.
    ///
    /// The same files as one [`add_doc_values`](Self::add_doc_values) call
    /// per document, with the checks done a run at a time and the run
    /// copied into the current block a slice at a time.
    pub fn add_docs_values(
        &mut self,
        docs: &[u32],
        freqs: &[u32],
        values: &[u32],
        norm: impl Fn(u32) -> u8,
    ) -> Result<()> {
        if docs.len() != freqs.len() {
            return Err(self.invalid(format!(
                "{} documents with {} frequencies",
                docs.len(),
                freqs.len()
            )));
        }
        let Some(&first) = docs.first() else {
            return Ok(());
        };
        self.check_doc(first, 1)?;
        if let Some(w) = docs.windows(2).find(|w| w[1] <= w[0]) {
            return Err(self.invalid(format!("doc {} out of order", w[1])));
        }
        if docs.last() == Some(&TERMINATED) {
            return Err(self.invalid(format!("doc {TERMINATED} out of order")));
        }
        if freqs.contains(&0) {
            return Err(self.invalid("term frequency 0"));
        }
        let with_pos = self.pos_out.is_some();
        if with_pos {
            let total: u64 = freqs.iter().map(|&f| u64::from(f)).sum();
            if total != values.len() as u64 {
                return Err(self.invalid(format!(
                    "{} position values for frequencies adding up to {total}",
                    values.len()
                )));
            }
            let mut at = 0usize;
            for &f in freqs {
                self.check_values(f, &values[at..at + f as usize])?;
                at += f as usize;
            }
            if !self.pos_packed {
                // Version 1 encodes each document's positions as it comes:
                // one document at a time (checked already, so none fails).
                let mut at = 0usize;
                for (&d, &f) in docs.iter().zip(freqs) {
                    self.add_doc_values(d, f, &values[at..at + f as usize], norm(d))?;
                    at += f as usize;
                }
                return Ok(());
            }
        }
        let (mut i, mut at) = (0usize, 0usize);
        while i < docs.len() {
            let take = (BLOCK - self.block_docs.len()).min(docs.len() - i);
            let (run_docs, run_freqs) = (&docs[i..i + take], &freqs[i..i + take]);
            self.block_docs.extend_from_slice(run_docs);
            self.block_freqs.extend_from_slice(run_freqs);
            self.block_pairs
                .extend(run_docs.iter().zip(run_freqs).map(|(&d, &f)| (f, norm(d))));
            if with_pos {
                let n: usize = run_freqs.iter().map(|&f| f as usize).sum();
                self.block_pos.extend_from_slice(&values[at..at + n]);
                at += n;
            }
            self.last_doc = run_docs.last().copied();
            self.doc_freq += take as u32;
            i += take;
            if self.block_docs.len() == BLOCK {
                self.end_block();
            }
        }
        Ok(())
    }

    /// With positions, a document holds at most [`MAX_DOC_POSITIONS`].
    fn check_positions_freq(&self, freq: u32) -> Result<()> {
        if freq > MAX_DOC_POSITIONS {
            return Err(self.invalid(format!(
                "{freq} positions in one document, above {MAX_DOC_POSITIONS}"
            )));
        }
        Ok(())
    }

    /// Checks a document's id and frequency against the current term.
    fn check_doc(&self, doc: u32, freq: u32) -> Result<()> {
        if !self.in_term {
            return Err(self.invalid("add_doc outside a term"));
        }
        if doc == TERMINATED || self.last_doc.is_some_and(|l| doc <= l) {
            return Err(self.invalid(format!("doc {doc} out of order")));
        }
        if freq == 0 {
            return Err(self.invalid("term frequency 0"));
        }
        Ok(())
    }

    /// Adds a checked document to the current block.
    fn push_doc(&mut self, doc: u32, freq: u32, norm: u8) {
        self.block_docs.push(doc);
        self.block_freqs.push(freq);
        self.block_pairs.push((freq, norm));
        self.last_doc = Some(doc);
        self.doc_freq += 1;
        if self.block_docs.len() == BLOCK {
            self.end_block();
        }
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
            let pack = if self.four_lane {
                bitpack::pack4
            } else {
                bitpack::pack
            };
            let b = bitpack::bits_needed(&self.scratch);
            self.blocks.push(b);
            pack(&self.scratch, b, &mut self.blocks);
            self.scratch.clear();
            self.scratch.extend(self.block_freqs.iter().map(|f| f - 1));
            let fb = bitpack::bits_needed(&self.scratch);
            self.blocks.push(fb);
            pack(&self.scratch, fb, &mut self.blocks);
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
        if self.pos_packed && self.pos_out.is_some() {
            positions::encode_block(&self.block_pos, &mut self.term_pos);
            self.block_pos.clear();
        }
        let pos_end = self.term_pos.len() as u64;
        let imp_start = self.impacts.len();
        // A short first block is the term's only one: no skip data, so no
        // impacts to keep (see `keeps_impacts`).
        if !(first_block && n < BLOCK) {
            block_impacts(&self.block_pairs, &mut self.impacts);
        }
        self.skips.push(SkipEntry {
            last_doc: prev,
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
            // Impacts area first (to know each block's end offset in it),
            // then the fixed-width table, then both go before the blocks.
            let mut imps = ByteWriter::new();
            let mut table = Vec::with_capacity(self.skips.len() * SKIP_ENTRY_LEN);
            let mut doc_end = 0u64;
            for (i, s) in self.skips.iter().enumerate() {
                for &(f, n) in &self.impacts[s.imp_start as usize..][..s.imp_len as usize] {
                    imps.vint(f as u64);
                    imps.u8(n);
                }
                doc_end += s.block_bytes;
                let pos_end = if with_pos {
                    self.skips
                        .get(i + 1)
                        .map_or(self.term_pos.len() as u64, |n| n.pos_off)
                } else {
                    0
                };
                let (Ok(doc_end32), Ok(imp_end32)) =
                    (u32::try_from(doc_end), u32::try_from(imps.len()))
                else {
                    return Err(self.invalid("a term's postings exceed 4 GiB"));
                };
                table.extend_from_slice(&s.last_doc.to_le_bytes());
                table.extend_from_slice(&doc_end32.to_le_bytes());
                table.extend_from_slice(&pos_end.to_le_bytes());
                table.extend_from_slice(&imp_end32.to_le_bytes());
            }
            // Group impacts after every block's, their ends after the
            // skip table.
            let mut group_out = Vec::with_capacity(MAX_IMPACTS);
            for group in self
                .skips
                .chunks(GROUP_BLOCKS)
                .take(num_groups(self.skips.len(), self.groups))
            {
                self.group_pairs.clear();
                for s in group {
                    self.group_pairs.extend_from_slice(
                        &self.impacts[s.imp_start as usize..][..s.imp_len as usize],
                    );
                }
                group_out.clear();
                block_impacts(&self.group_pairs, &mut group_out);
                for &(f, n) in &group_out {
                    imps.vint(f as u64);
                    imps.u8(n);
                }
                let Ok(imp_end32) = u32::try_from(imps.len()) else {
                    return Err(self.invalid("a term's postings exceed 4 GiB"));
                };
                table.extend_from_slice(&imp_end32.to_le_bytes());
            }
            let mut len = ByteWriter::new();
            len.vint(imps.len() as u64);
            self.doc_pending.extend_from_slice(&len.buf);
            self.doc_pending.extend_from_slice(&table);
            self.doc_pending.extend_from_slice(&imps.buf);
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
    /// Full blocks in the four-lane layout (format version 2).
    four_lane: bool,
    /// Group impacts (format version 3).
    groups: bool,
    /// Positions packed per block (positions version 2).
    pos_packed: bool,
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
    /// Gives the resident pages of these files' bytes back to the operating
    /// system (see [`FileSlice::release_pages`]); the reader stays usable.
    /// Merges call it as they go, so that reading a whole segment does not
    /// leave it all in the process's resident memory.
    pub fn release_pages(&self) {
        self.doc_data.release_pages();
        if let Some((_, pos, _)) = &self.pos {
            pos.release_pages();
        }
    }

    /// Opens `<base>.doc` (and `<base>.pos` when its flags say positions
    /// are indexed) of segment `id` with `max_doc` documents; checks
    /// envelope structure, formats and ids.
    pub fn open(dir: &dyn Directory, base: &str, id: [u8; ID_LEN], max_doc: u32) -> Result<Self> {
        let dname = doc_file(base);
        let denv = EnvelopeReader::open_checked(&dname, dir.open(&dname)?)?;
        denv.expect_format(DOC_FORMAT, DOC_VERSION_MIN..=DOC_VERSION)?;
        let four_lane = denv.header().version >= 2;
        let groups = denv.header().version >= 3;
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
        let mut pos_packed = false;
        let pos = if flags & FLAG_POSITIONS != 0 {
            let pname = pos_file(base);
            let penv = EnvelopeReader::open_checked(&pname, dir.open(&pname)?)?;
            penv.expect_format(POS_FORMAT, POS_VERSION_MIN..=POS_VERSION)?;
            penv.expect_id(&id)?;
            pos_packed = penv.header().version >= 2;
            Some((
                Arc::from(pname.as_str()),
                penv.payload(),
                penv.payload_offset(),
            ))
        } else {
            None
        };
        Ok(PostingsReader {
            four_lane,
            groups,
            pos_packed,
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

/// The packed bytes of a full block: doc deltas and `freq − 1`, each at
/// its width (the slices may run past the block).
struct FullBlock<'a> {
    docs: &'a [u8],
    doc_bits: u8,
    freqs: &'a [u8],
    freq_bits: u8,
}

/// The impacts area of a doc file: where [`decode_impacts`] reads.
struct ImpactsArea<'a> {
    file: &'a str,
    base: u64,
    data: &'a [u8],
    /// Payload offsets of the area's start and end.
    start: usize,
    end: usize,
}

/// A [`SegmentPostings`]' impacts area, borrowing only the fields it
/// reads, so that a buffer of the same cursor can be decoded into.
macro_rules! impacts_area {
    ($p:expr) => {
        ImpactsArea {
            file: &$p.doc_name,
            base: $p.doc_base,
            data: &$p.doc_data,
            start: $p.imp_area,
            end: $p.blocks_start as usize,
        }
    };
}

/// Decodes the impacts at `range` of the impacts area (the range given by
/// the table entry at payload offset `entry`) into `out`, in place: this
/// runs for every block a top-k query walks past. Returns how many.
fn decode_impacts(
    area: ImpactsArea<'_>,
    range: std::ops::Range<usize>,
    entry: usize,
    out: &mut [(u32, u8); MAX_IMPACTS],
) -> Result<usize> {
    let (start, end) = (range.start, range.end);
    let mut len = 0;
    let mut r = ByteReader::new(area.file, area.base, area.data);
    if start > end || end > area.end.saturating_sub(area.start) {
        return Err(r.err_at(entry, "impacts range outside the impacts area"));
    }
    // Most impacts are a one-byte frequency and a norm byte: read pairs
    // straight from the bytes while they are, else varints.
    let bytes = area
        .data
        .get(area.start + start..area.start + end)
        .unwrap_or_default();
    let mut i = 0;
    while i + 1 < bytes.len() && bytes[i] < 0x80 && len < MAX_IMPACTS {
        out[len] = (u32::from(bytes[i]), bytes[i + 1]);
        len += 1;
        i += 2;
    }
    if i == bytes.len() && len > 0 {
        return Ok(len);
    }
    // The rest (or a range that is not whole pairs, for the checks below
    // to report) as varints.
    r.seek(area.start + start + i)?;
    while r.pos() < area.start + end {
        if len == MAX_IMPACTS {
            return Err(r.err("more than 8 impacts in a block"));
        }
        let f = r.vint_max(u32::MAX as u64, "impact frequency")? as u32;
        let n = r.u8()?;
        out[len] = (f, n);
        len += 1;
    }
    if r.pos() != area.start + end || len == 0 {
        return Err(r.err("impacts do not fill their range"));
    }
    Ok(len)
}

/// A group of blocks, as [`SegmentPostings::shallow_seek_group`] finds it.
#[derive(Debug, Clone, Copy)]
pub struct Group<'a> {
    /// The group's last document ([`TERMINATED`] past the last block).
    pub last_doc: u32,
    /// Impacts bounding every document of the group (empty past the last
    /// block).
    pub impacts: &'a [(u32, u8)],
}

/// The buffers a full block is unpacked into, and how.
struct BlockBuffers<'a> {
    docs: &'a mut [u32; BLOCK],
    freqs: &'a mut [u32; BLOCK],
    four_lane: bool,
    max_doc: u32,
}

/// A forward-only cursor over one term's postings in one segment. A clone
/// is an independent cursor at the same place.
#[derive(Clone)]
pub struct SegmentPostings {
    /// Full blocks in the four-lane layout (format version 2).
    four_lane: bool,
    /// Group impacts (format version 3).
    groups: bool,
    /// Groups of the term (0: none kept), where their table starts, and
    /// the impacts of group `cur_group`: the first `cur_group_len`.
    num_groups: usize,
    group_table: usize,
    cur_group: usize,
    cur_group_impacts: [(u32, u8); MAX_IMPACTS],
    cur_group_len: usize,
    doc_name: Arc<str>,
    doc_data: FileSlice,
    doc_base: u64,
    pos: Option<(Arc<str>, FileSlice, u64)>,
    max_doc: u32,
    doc_freq: u32,
    num_blocks: usize,
    /// Payload offset of the skip table (multi-block terms), of the
    /// impacts area after it, and of the first block.
    table_start: usize,
    imp_area: usize,
    /// Impacts of the block under the block-max cursor, decoded on demand.
    /// The impacts of block `cur_impacts_block`: the first `cur_impacts_len`.
    cur_impacts: [(u32, u8); MAX_IMPACTS],
    cur_impacts_len: usize,
    cur_impacts_block: usize,
    /// Offset of the first block.
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
    /// Positions packed per block (version 2).
    pos_packed: bool,
    /// Version 1: where the positions of document `pos_doc` of the block
    /// start. Version 2: where the block's positions start.
    pos_cursor: u64,
    pos_doc: usize,
    /// Version 1: where the positions of doc `pos_doc - 1` start (to read
    /// them again).
    pos_last_start: u64,
    /// Version 2: the block's packed positions once located (`pos_ready`),
    /// where they must end (from the skip table; `u64::MAX` when the term
    /// has one block), and the index of document `pos_doc`'s first value.
    pos_block: PackedBlock,
    pos_ready: bool,
    pos_block_end: u64,
    pos_value: usize,
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
        let mut p = SegmentPostings {
            four_lane: r.four_lane,
            groups: r.groups,
            num_groups: 0,
            group_table: 0,
            cur_group: usize::MAX,
            cur_group_impacts: [(0, 0); MAX_IMPACTS],
            cur_group_len: 0,
            doc_name: r.doc_name.clone(),
            doc_data: r.doc_data.clone(),
            doc_base: r.doc_base,
            pos: r.pos.clone(),
            max_doc: r.max_doc,
            doc_freq: 0,
            num_blocks: 0,
            table_start: 0,
            imp_area: 0,
            cur_impacts: [(0, 0); MAX_IMPACTS],
            cur_impacts_len: 0,
            cur_impacts_block: usize::MAX,
            blocks_start: 0,
            term_pos_off: 0,
            block: 0,
            docs: [0; BLOCK],
            freqs: [0; BLOCK],
            n: 0,
            i: 0,
            doc: TERMINATED,
            pos_packed: r.pos_packed,
            pos_cursor: 0,
            pos_doc: 0,
            pos_last_start: 0,
            pos_block: PackedBlock::default(),
            pos_ready: false,
            pos_block_end: u64::MAX,
            pos_value: 0,
            shallow: 0,
        };
        p.start_term(info)?;
        Ok(p)
    }

    /// Moves this cursor to the first document of another term of the same
    /// file (what [`PostingsReader::postings`] returns for `info`), reusing
    /// its buffers and file handles: a merge walks millions of terms, most
    /// with a handful of documents, and opening a cursor for each (file
    /// handles to count up and down, buffers to fill) cost more than
    /// reading their postings.
    ///
    /// `r` must be the reader this cursor came from; with another one, the
    /// cursor is rebuilt for it.
    pub fn reset(&mut self, r: &PostingsReader, info: &TermInfo) -> Result<()> {
        if !Arc::ptr_eq(&self.doc_name, &r.doc_name) {
            *self = SegmentPostings::new(r, info)?;
            return Ok(());
        }
        self.start_term(info)
    }

    /// Checks `info` against the file and positions the cursor on the
    /// term's first document.
    fn start_term(&mut self, info: &TermInfo) -> Result<()> {
        let corrupt = |expected: u64, actual: u64, reason: &str| {
            StoreError::corrupt(
                &*self.doc_name,
                self.doc_base,
                expected,
                actual,
                reason.to_string(),
            )
        };
        if info.doc_freq == 0 || info.doc_freq > self.max_doc {
            return Err(corrupt(
                self.max_doc as u64,
                info.doc_freq as u64,
                "document frequency out of range",
            ));
        }
        let len = self.doc_data.len() as u64;
        if info.doc_off < HEADER_LEN || info.doc_off >= len {
            return Err(corrupt(
                len,
                info.doc_off,
                "postings offset outside the file",
            ));
        }
        if let Some((_, pdata, _)) = &self.pos {
            if info.pos_off > pdata.len() as u64 {
                return Err(corrupt(
                    pdata.len() as u64,
                    info.pos_off,
                    "positions offset outside the file",
                ));
            }
        }
        self.doc_freq = info.doc_freq;
        self.num_blocks = (info.doc_freq as usize).div_ceil(BLOCK);
        self.table_start = 0;
        self.imp_area = 0;
        self.num_groups = 0;
        self.group_table = 0;
        self.cur_group = usize::MAX;
        self.cur_group_len = 0;
        self.cur_impacts_len = 0;
        self.cur_impacts_block = usize::MAX;
        self.blocks_start = info.doc_off;
        self.term_pos_off = info.pos_off;
        self.doc = TERMINATED;
        self.pos_last_start = 0;
        self.shallow = 0;
        if self.num_blocks > 1 {
            self.open_skips(info)?;
        }
        self.load_block(0)?;
        self.doc = self.docs[0];
        Ok(())
    }

    fn reader(&self) -> ByteReader<'_> {
        ByteReader::new(&self.doc_name, self.doc_base, &self.doc_data)
    }

    /// Locates the skip table and impacts area of a multi-block term and
    /// checks they lie within the file (entries are checked when used).
    fn open_skips(&mut self, info: &TermInfo) -> Result<()> {
        let data_len = self.doc_data.len();
        let mut r = self.reader();
        r.seek(info.doc_off as usize)?;
        let imp_len = r.len_prefix()?;
        let table_start = r.pos();
        let num_groups = num_groups(self.num_blocks, self.groups);
        let table_len = self.num_blocks * SKIP_ENTRY_LEN + num_groups * GROUP_ENTRY_LEN;
        let end = table_start as u64 + table_len as u64 + imp_len as u64;
        if end > data_len as u64 {
            return Err(r.err_value(
                data_len as u64,
                end,
                "skip table runs past the end of the file",
            ));
        }
        self.table_start = table_start;
        self.num_groups = num_groups;
        self.group_table = table_start + self.num_blocks * SKIP_ENTRY_LEN;
        self.imp_area = table_start + table_len;
        self.blocks_start = end;
        Ok(())
    }

    /// Field `field` (byte offset within an entry) of skip entry `k`; the
    /// table was bounds-checked at open, so reads are in range (an
    /// impossible out-of-range read yields 0, never a panic).
    #[inline]
    fn skip_u32(&self, k: usize, field: usize) -> u32 {
        self.u32_at(self.table_start + k * SKIP_ENTRY_LEN + field)
    }

    /// The little-endian `u32` at payload offset `at` of the doc file, in a
    /// table that was bounds-checked at open (0 out of range, never a
    /// panic).
    #[inline]
    fn u32_at(&self, at: usize) -> u32 {
        self.doc_data
            .get(at..at + 4)
            .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    #[inline]
    fn skip_last_doc(&self, k: usize) -> u32 {
        self.skip_u32(k, 0)
    }

    fn skip_doc_end(&self, k: usize) -> u64 {
        self.skip_u32(k, 4) as u64
    }

    fn skip_pos_end(&self, k: usize) -> u64 {
        let at = self.table_start + k * SKIP_ENTRY_LEN + 8;
        self.doc_data.get(at..at + 8).map_or(0, |b| {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            u64::from_le_bytes(a)
        })
    }

    fn skip_imp_end(&self, k: usize) -> usize {
        self.skip_u32(k, 16) as usize
    }

    /// Decodes the impacts of block `k` into `cur_impacts`.
    fn load_impacts(&mut self, k: usize) -> Result<()> {
        if self.cur_impacts_block == k {
            return Ok(());
        }
        let start = if k == 0 { 0 } else { self.skip_imp_end(k - 1) };
        let end = self.skip_imp_end(k);
        let entry = self.table_start + k * SKIP_ENTRY_LEN + 16;
        // Invalid until decoded whole (an error leaves no stale bound).
        self.cur_impacts_block = usize::MAX;
        self.cur_impacts_len = decode_impacts(
            impacts_area!(self),
            start..end,
            entry,
            &mut self.cur_impacts,
        )?;
        self.cur_impacts_block = k;
        Ok(())
    }

    /// End of group `g`'s impacts in the impacts area.
    fn group_imp_end(&self, g: usize) -> usize {
        self.u32_at(self.group_table + g * GROUP_ENTRY_LEN) as usize
    }

    /// The group of blocks holding the first document ≥ `target` (the
    /// block-max cursor is not moved): its last document, or
    /// [`TERMINATED`] past the last block, and its impacts, which bound
    /// every document of the group. `None` when the term keeps no group
    /// impacts (32 blocks or fewer, or a file older than version 3). The
    /// last group's impacts are cached, so asking again for targets in it
    /// costs a lookup of its block.
    pub fn shallow_seek_group(&mut self, target: u32) -> Result<Option<Group<'_>>> {
        if self.num_groups == 0 {
            return Ok(None);
        }
        let n = self.num_blocks;
        // Gallop from the block-max cursor, or from the start when the
        // target lies before it.
        let at = self.shallow.min(n);
        let from = if at > 0 && self.skip_last_doc(at - 1) >= target {
            0
        } else {
            at
        };
        let k = self.find_block(from, target);
        if k >= n {
            return Ok(Some(Group {
                last_doc: TERMINATED,
                impacts: &[],
            }));
        }
        let g = k / GROUP_BLOCKS;
        if g != self.cur_group {
            let start = if g == 0 {
                self.skip_imp_end(n - 1)
            } else {
                self.group_imp_end(g - 1)
            };
            let end = self.group_imp_end(g);
            let entry = self.group_table + g * GROUP_ENTRY_LEN;
            self.cur_group = usize::MAX;
            self.cur_group_len = decode_impacts(
                impacts_area!(self),
                start..end,
                entry,
                &mut self.cur_group_impacts,
            )?;
            self.cur_group = g;
        }
        let last_block = ((g + 1) * GROUP_BLOCKS).min(n) - 1;
        Ok(Some(Group {
            last_doc: self.skip_last_doc(last_block),
            impacts: &self.cur_group_impacts[..self.cur_group_len],
        }))
    }

    /// Unpacks a full block's doc deltas (to ids, from `prev`) and
    /// frequencies in the layout of the file's version, and checks them.
    /// `r` and `start` only place the errors.
    ///
    /// An associated function over the two buffers, not a method: the
    /// caller's reader borrows the file fields of the cursor meanwhile.
    fn unpack_full_block(
        out: BlockBuffers<'_>,
        packed: &FullBlock<'_>,
        prev: Option<u32>,
        r: &ByteReader<'_>,
        start: usize,
    ) -> Result<()> {
        let BlockBuffers {
            docs: out_docs,
            freqs: out_freqs,
            four_lane,
            max_doc,
        } = out;
        if four_lane {
            // Deltas and their running sum in one SIMD pass. Checks
            // after, as branch-free folds: ids strictly increasing
            // from the previous block's last (the term's very first
            // may be 0), which also catches a sum that wrapped past
            // 2³² (it shows as a decrease), and the last below max_doc.
            bitpack::unpack4_sorted(prev.unwrap_or(0), packed.docs, packed.doc_bits, out_docs);
            bitpack::unpack4(packed.freqs, packed.freq_bits, out_freqs);
            let docs = &*out_docs;
            let first_bad = prev.is_some_and(|p| docs[0] <= p);
            if (1..BLOCK).fold(first_bad, |z, i| z | (docs[i] <= docs[i - 1])) {
                return Err(r.err_at(start, "doc ids not increasing"));
            }
            let last = docs[BLOCK - 1];
            if last >= max_doc {
                return Err(r.err_value(max_doc as u64, last as u64, "doc id ≥ max_doc"));
            }
        } else {
            bitpack::unpack(packed.docs, packed.doc_bits, out_docs);
            bitpack::unpack(packed.freqs, packed.freq_bits, out_freqs);
            // Checks first, as branch-free folds over the block: every
            // delta but the term's very first must be ≥ 1 (strictly
            // increasing ids).
            let zero_from = if prev.is_some() { 0 } else { 1 };
            if out_docs[zero_from..]
                .iter()
                .fold(false, |z, &d| z | (d == 0))
            {
                return Err(r.err_at(start, "doc ids not increasing"));
            }
            // The sum of 128 deltas of ≤ 32 bits fits u64; ids only
            // grow, so checking the last against max_doc checks them
            // all.
            let total: u64 = out_docs.iter().map(|&d| d as u64).sum();
            let last = prev.map_or(0, |p| p as u64) + total;
            if last >= max_doc as u64 {
                return Err(r.err_value(max_doc as u64, last, "doc id ≥ max_doc"));
            }
            let mut acc = prev.unwrap_or(0);
            for d in out_docs.iter_mut() {
                acc += *d;
                *d = acc;
            }
        }
        // No packed `freq − 1` may be u32::MAX.
        if out_freqs.iter().fold(false, |o, &f| o | (f == u32::MAX)) {
            return Err(r.err_at(start, "term frequency overflows"));
        }
        for f in out_freqs.iter_mut() {
            *f += 1;
        }
        Ok(())
    }

    /// Decodes block `k` into `docs`/`freqs`.
    // Long on purpose: decodes one block of doc ids and frequencies, the
    // inner loop of every search. Each bounds check sits next to the read it
    // guards, and the two encodings (bit-packed and varint tail) share the
    // cursor, which a split would have to hand back and forth.
    fn load_block(&mut self, k: usize) -> Result<()> {
        let (off, expected_len, prev, pos_off) = if self.num_blocks == 1 {
            self.pos_block_end = u64::MAX;
            (self.blocks_start, None, None, self.term_pos_off)
        } else {
            self.pos_block_end = self.term_pos_off.saturating_add(self.skip_pos_end(k));
            let start = if k == 0 { 0 } else { self.skip_doc_end(k - 1) };
            let end = self.skip_doc_end(k);
            let pos_start = if k == 0 { 0 } else { self.skip_pos_end(k - 1) };
            if start > end || self.skip_pos_end(k) < pos_start {
                return Err(StoreError::corrupt(
                    &*self.doc_name,
                    self.doc_base + (self.table_start + k * SKIP_ENTRY_LEN) as u64,
                    start,
                    end,
                    "skip entry offsets decrease",
                ));
            }
            let prev = if k == 0 {
                None
            } else {
                Some(self.skip_last_doc(k - 1))
            };
            (
                self.blocks_start + start,
                Some(end - start),
                prev,
                self.term_pos_off.saturating_add(pos_start),
            )
        };
        if off > self.doc_data.len() as u64 {
            return Err(StoreError::corrupt(
                &*self.doc_name,
                self.doc_base,
                self.doc_data.len() as u64,
                off,
                "block offset outside the file",
            ));
        }
        let full = k + 1 < self.num_blocks || (self.doc_freq as usize).is_multiple_of(BLOCK);
        let n = if full {
            BLOCK
        } else {
            self.doc_freq as usize % BLOCK
        };
        let data = &self.doc_data;
        let mut r = ByteReader::new(&self.doc_name, self.doc_base, data);
        r.seek(off as usize)?;
        let start = r.pos();
        let max_doc = self.max_doc;
        if full {
            let b = r.u8()?;
            if b > 32 {
                return Err(r.err_at(start, format!("doc delta width {b} > 32")));
            }
            let docs_at = r.pos();
            r.take(bitpack::packed_len(b))?;
            let fb = r.u8()?;
            if fb > 32 {
                return Err(r.err(format!("freq width {fb} > 32")));
            }
            let freqs_at = r.pos();
            r.take(bitpack::packed_len(fb))?;
            let packed = FullBlock {
                docs: &data[docs_at..],
                doc_bits: b,
                freqs: &data[freqs_at..],
                freq_bits: fb,
            };
            let out = BlockBuffers {
                docs: &mut self.docs,
                freqs: &mut self.freqs,
                four_lane: self.four_lane,
                max_doc,
            };
            Self::unpack_full_block(out, &packed, prev, &r, start)?;
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
            let last = self.skip_last_doc(k);
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
        self.pos_ready = false;
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

    /// The loaded block's documents from the current one on, and their
    /// frequencies (empty when exhausted): what a top-k search scores in
    /// one loop once the block's bound says it may compete. Then
    /// [`next_block`](Self::next_block) moves on.
    pub fn block_rest(&self) -> (&[u32], &[u32]) {
        if self.doc == TERMINATED {
            return (&[], &[]);
        }
        (&self.docs[self.i..self.n], &self.freqs[self.i..self.n])
    }

    /// Moves `k` documents on within the loaded block (onto document `k`
    /// of [`block_rest`](Self::block_rest)); with `k` at or past the
    /// rest's length, to the next block's first document, as
    /// [`next_block`](Self::next_block). Returns the new document.
    #[inline]
    pub fn advance_in_block(&mut self, k: usize) -> Result<u32> {
        if self.doc == TERMINATED {
            return Ok(TERMINATED);
        }
        if self.i + k < self.n {
            self.i += k;
            self.doc = self.docs[self.i];
            return Ok(self.doc);
        }
        self.next_block()
    }

    /// Moves to the first document of the next block (past the rest of the
    /// loaded one); returns it, or [`TERMINATED`].
    pub fn next_block(&mut self) -> Result<u32> {
        if self.doc == TERMINATED {
            return Ok(TERMINATED);
        }
        if self.block + 1 < self.num_blocks {
            self.load_block(self.block + 1)?;
            self.doc = self.docs[0];
        } else {
            self.i = self.n;
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

    /// The first block at index ≥ `from` whose last document is ≥
    /// `target` (`num_blocks` when none): galloping, then binary search
    /// over the skip table.
    fn find_block(&self, from: usize, target: u32) -> usize {
        let n = self.num_blocks;
        if from >= n || self.skip_last_doc(from) >= target {
            return from;
        }
        // skip_last_doc(lo) < target; find hi with skip_last_doc(hi) ≥ target.
        let mut lo = from;
        let mut step = 1usize;
        let mut hi = loop {
            let probe = lo.saturating_add(step);
            if probe >= n {
                break n;
            }
            if self.skip_last_doc(probe) >= target {
                break probe;
            }
            lo = probe;
            step = step.saturating_mul(2);
        };
        // Invariant: last(lo) < target, and hi == n or last(hi) ≥ target.
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.skip_last_doc(mid) < target {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        hi
    }

    /// Moves to the first document ≥ `target`; returns it or
    /// [`TERMINATED`]. Never moves backwards.
    #[inline]
    pub fn seek(&mut self, target: u32) -> Result<u32> {
        if self.doc >= target {
            // Also past the end: TERMINATED is above every target.
            return Ok(self.doc);
        }
        // Most seeks of a dense term land a few documents on in the
        // loaded block: count the next NEAR documents below the target,
        // without a call or a branch per document.
        let next = self.i + 1;
        if let Some(near) = self
            .docs
            .get(next..next + NEAR)
            .filter(|_| next + NEAR <= self.n)
        {
            if near[NEAR - 1] >= target {
                let below: usize = near.iter().map(|&d| usize::from(d < target)).sum();
                self.i = next + below;
                self.doc = self.docs[self.i];
                return Ok(self.doc);
            }
        }
        self.seek_far(target)
    }

    /// [`seek`](Self::seek) past the next [`NEAR`] documents.
    #[inline(never)]
    fn seek_far(&mut self, target: u32) -> Result<u32> {
        if target > self.docs[self.n - 1] {
            let k = if self.num_blocks == 1 {
                1
            } else {
                self.find_block(self.block + 1, target)
            };
            if k >= self.num_blocks {
                self.doc = TERMINATED;
                self.i = self.n;
                return Ok(TERMINATED);
            }
            self.load_block(k)?;
            // A new block: the target may lie anywhere in it, so one
            // bisection of the whole block (its steps are branch-free).
            self.i = self.docs[..self.n].partition_point(|&d| d < target);
        }
        // Within the block: gallop from the cursor (the target is
        // usually a few documents on), then search the last step's range
        // by bisection.
        let docs = &self.docs[..self.n];
        if self.i < docs.len() && docs[self.i] < target {
            let mut lo = self.i;
            let mut step = 1;
            while lo + step < docs.len() && docs[lo + step] < target {
                lo += step;
                step *= 2;
            }
            let hi = (lo + step).min(docs.len());
            self.i = lo + 1 + docs[lo + 1..hi].partition_point(|&d| d < target);
        }
        if self.i == self.n {
            // Only corrupt skip data can send a seek to a block ending
            // before its target (a decoded block always ends at its entry's
            // last document).
            return Err(StoreError::corrupt(
                &*self.doc_name,
                self.doc_base + self.table_start as u64,
                target as u64,
                self.docs[self.n - 1] as u64,
                "skip table sent a seek to a block before its target",
            ));
        }
        self.doc = self.docs[self.i];
        Ok(self.doc)
    }

    /// Moves the block-max cursor to the block holding `target` (without
    /// moving the document cursor); returns that block's last document, or
    /// [`TERMINATED`] when no block holds a document ≥ `target`.
    pub fn shallow_seek(&mut self, target: u32) -> Result<u32> {
        if self.num_blocks == 1 {
            let last = self.docs[self.n - 1];
            self.shallow = if target <= last { 0 } else { 1 };
            return Ok(self.block_last_doc());
        }
        let stays = self.shallow < self.num_blocks
            && self.skip_last_doc(self.shallow) >= target
            && (self.shallow == 0 || self.skip_last_doc(self.shallow - 1) < target);
        if !stays {
            self.shallow = if self.shallow > 0 && self.skip_last_doc(self.shallow - 1) >= target {
                self.find_block(0, target)
            } else {
                self.find_block(self.shallow, target)
            };
        }
        if self.shallow < self.num_blocks {
            self.load_impacts(self.shallow)?;
        }
        Ok(self.block_last_doc())
    }

    /// Last document of the block under the block-max cursor, or
    /// [`TERMINATED`] past the last block.
    pub fn block_last_doc(&self) -> u32 {
        if self.num_blocks == 1 {
            if self.shallow == 0 {
                self.docs[self.n - 1]
            } else {
                TERMINATED
            }
        } else if self.shallow < self.num_blocks {
            self.skip_last_doc(self.shallow)
        } else {
            TERMINATED
        }
    }

    /// The impacts of the block under the block-max cursor (as of the last
    /// [`shallow_seek`](Self::shallow_seek)): (freq, norm) pairs such that
    /// every document of the block has a frequency ≤ and a norm ≥ those of
    /// at least one pair (see the [module documentation](self)). Empty when
    /// no bound is known (a term with a single block has no skip data; past
    /// the last block; before the first `shallow_seek`).
    pub fn block_impacts(&self) -> &[(u32, u8)] {
        if self.num_blocks > 1 && self.cur_impacts_block == self.shallow {
            &self.cur_impacts[..self.cur_impacts_len]
        } else {
            &[]
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
        let start = out.len();
        self.position_values(out)?;
        if positions::to_absolute(&mut out[start..]).is_none() {
            out.truncate(start);
            let (file, at) = match &self.pos {
                Some((pname, _, pbase)) => (&**pname, pbase + self.pos_cursor),
                None => (&*self.doc_name, self.doc_base),
            };
            return Err(StoreError::corrupt(
                file,
                at,
                u32::MAX as u64,
                0,
                "position overflows 32 bits".to_string(),
            ));
        }
        Ok(())
    }

    /// Appends the current document's positions to `out` as they are
    /// stored: the first position, then the difference of each next one
    /// to the previous (`freq` values; none past the last document). What
    /// a merge copies with [`PostingsWriter::add_doc_values`].
    pub fn position_values(&mut self, out: &mut Vec<u32>) -> Result<()> {
        if self.doc == TERMINATED {
            return Ok(());
        }
        self.check_position_freqs(self.i..self.i + 1)?;
        if !self.pos_packed {
            return self.varint_values(out);
        }
        let first = self.packed_value_index()?;
        let freq = self.freqs[self.i] as usize;
        if let Some((_, pdata, _)) = &self.pos {
            self.pos_block.values(pdata, first, freq, out);
        }
        // Stay on this document, so reading it again costs nothing.
        self.pos_doc = self.i;
        self.pos_value = first;
        Ok(())
    }

    /// Appends the position values of the loaded block's documents from
    /// the current one to the block's end, document after document, as
    /// [`position_values`](Self::position_values) gives each (the
    /// frequencies of [`block_rest`](Self::block_rest) add up to their
    /// number); nothing past the last document. What a merge copies a
    /// block at a time with [`PostingsWriter::add_docs_values`]. The cursor
    /// stays on the current document.
    pub fn block_position_values(&mut self, out: &mut Vec<u32>) -> Result<()> {
        if self.doc == TERMINATED {
            return Ok(());
        }
        self.check_position_freqs(self.i..self.n)?;
        if !self.pos_packed {
            // Version 1: one document's varints after another, then the
            // positions cursor back on the current document.
            let saved = (self.i, self.pos_cursor, self.pos_doc, self.pos_last_start);
            let mut result = Ok(());
            for j in saved.0..self.n {
                self.i = j;
                result = self.varint_values(out);
                if result.is_err() {
                    break;
                }
            }
            (self.i, self.pos_cursor, self.pos_doc, self.pos_last_start) = saved;
            return result;
        }
        let first = self.packed_value_index()?;
        let count: usize = self.freqs[self.i..self.n].iter().map(|&f| f as usize).sum();
        if let Some((_, pdata, _)) = &self.pos {
            self.pos_block.values(pdata, first, count, out);
        }
        self.pos_doc = self.i;
        self.pos_value = first;
        Ok(())
    }

    /// Checks that the loaded block's documents `docs` each hold at most
    /// [`MAX_DOC_POSITIONS`] positions (a larger frequency is corrupt).
    fn check_position_freqs(&self, docs: std::ops::Range<usize>) -> Result<()> {
        match self.freqs[docs].iter().find(|&&f| f > MAX_DOC_POSITIONS) {
            Some(&freq) => Err(StoreError::corrupt(
                &*self.doc_name,
                self.doc_base + self.blocks_start,
                MAX_DOC_POSITIONS as u64,
                freq as u64,
                "term frequency above the positions a document may hold".to_string(),
            )),
            None => Ok(()),
        }
    }

    /// Version 2: locates the loaded block's packed positions (once per
    /// block) and returns the index of the current document's first value
    /// among the block's values.
    fn packed_value_index(&mut self) -> Result<usize> {
        let Some((pname, pdata, pbase)) = &self.pos else {
            return Err(self.no_positions());
        };
        if !self.pos_ready {
            let n: u64 = self.freqs[..self.n].iter().map(|&f| f as u64).sum();
            let start = usize::try_from(self.pos_cursor).unwrap_or(usize::MAX);
            self.pos_block.reopen(pname, *pbase, pdata, start, n)?;
            let end = self.pos_block.end() as u64;
            if self.pos_block_end != u64::MAX && end != self.pos_block_end {
                return Err(StoreError::corrupt(
                    &**pname,
                    pbase + self.pos_cursor,
                    self.pos_block_end,
                    end,
                    "block's positions end elsewhere than its skip entry says".to_string(),
                ));
            }
            self.pos_ready = true;
            self.pos_doc = 0;
            self.pos_value = 0;
        }
        if self.pos_doc > self.i {
            // The current document's positions again (or, never in
            // practice, an earlier one's): count from the block's start.
            self.pos_doc = 0;
            self.pos_value = 0;
        }
        let skipped: usize = self.freqs[self.pos_doc..self.i]
            .iter()
            .map(|&f| f as usize)
            .sum();
        Ok(self.pos_value + skipped)
    }

    /// Version 1: reads the current document's `freq` varints.
    fn varint_values(&mut self, out: &mut Vec<u32>) -> Result<()> {
        let Some(start) = self.seek_positions()? else {
            return Ok(());
        };
        let Some((pname, pdata, pbase)) = &self.pos else {
            return Ok(());
        };
        let mut r = ByteReader::new(pname, *pbase, pdata);
        r.seek(start)?;
        for _ in 0..self.freqs[self.i] {
            out.push(r.vint_max(u32::MAX as u64, "position")? as u32);
        }
        self.pos_doc += 1;
        self.pos_cursor = r.pos() as u64;
        Ok(())
    }

    fn no_positions(&self) -> StoreError {
        StoreError::InvalidArgument {
            file: self.doc_name.to_string(),
            reason: "positions are not indexed for this field".into(),
        }
    }

    /// Moves the positions cursor to the start of the current document's
    /// positions (skipping those of the documents passed over since the
    /// last read, or back to the current one's when it was read already)
    /// and returns that offset; `None` past the last document.
    fn seek_positions(&mut self) -> Result<Option<usize>> {
        if self.doc == TERMINATED {
            return Ok(None);
        }
        let Some((pname, pdata, pbase)) = &self.pos else {
            return Err(self.no_positions());
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
        if self.pos_doc < self.i {
            let skip: u64 = self.freqs[self.pos_doc..self.i]
                .iter()
                .map(|&f| f as u64)
                .sum();
            r.skip_vints(skip)?;
            self.pos_doc = self.i;
        }
        self.pos_last_start = r.pos() as u64;
        Ok(Some(r.pos()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition: sorted by norm, the largest frequency first, each
    /// pair kept whose frequency beats every smaller norm's; neighbours
    /// closest in norm merged down to [`MAX_IMPACTS`].
    fn reference(pairs: &[(u32, u8)]) -> Vec<(u32, u8)> {
        let mut sorted = pairs.to_vec();
        sorted.sort_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)));
        let mut out: Vec<(u32, u8)> = Vec::new();
        let mut best = 0;
        for (f, n) in sorted {
            if f > best {
                out.push((f, n));
                best = f;
            }
        }
        while out.len() > MAX_IMPACTS {
            let at = (0..out.len() - 1)
                .min_by_key(|&i| (out[i + 1].1 - out[i].1, i))
                .unwrap();
            out[at] = (out[at + 1].0, out[at].1);
            out.remove(at + 1);
        }
        out
    }

    proptest! {
        /// Block impacts equal the definition's, after whatever `out`
        /// held before, for blocks of any size, norms all alike or spread,
        /// frequencies small or large.
        #[test]
        fn block_impacts_follow_the_definition(
            pairs in prop::collection::vec((1u32..2_000, any::<u8>()), 0..300),
            few_norms in any::<bool>(),
            held in prop::collection::vec((1u32..9, any::<u8>()), 0..3),
        ) {
            let pairs: Vec<(u32, u8)> = pairs
                .into_iter()
                .map(|(f, n)| if few_norms { (f % 7 + 1, n % 4) } else { (f, n) })
                .collect();
            let mut out = held.clone();
            block_impacts(&pairs, &mut out);
            let mut want = held;
            want.extend(reference(&pairs));
            prop_assert_eq!(out, want);
        }
    }
}
