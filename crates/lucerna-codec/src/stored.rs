//! Stored fields: one opaque byte record per document, compressed in zstd
//! blocks, with a doc → block index at the end of the file.
//!
//! The engine serializes a document's stored values into a record (the
//! [`StoredValue`] helpers [`encode_record`] / [`decode_record`] give one
//! encoding); this module only stores and returns the bytes.
//!
//! # File layout
//!
//! Envelope format `stored`, version 1, id = segment id, suffix as given by
//! the caller (usually empty). All integers little-endian; offsets are
//! relative to the start of the payload.
//!
//! ```text
//! payload:
//!   block 0 .. block B-1        zstd frames, back to back from offset 0;
//!                               each frame records its content size and
//!                               carries zstd's content checksum
//!   index:
//!     num_docs     u32          documents in the file (doc ids 0..num_docs)
//!     num_blocks   u32          B
//!     B entries of 20 bytes:
//!       first_doc        u32    first doc id of the block
//!       offset           u64    payload offset of the block's zstd frame
//!       compressed_len   u32    length of the frame (>= 1)
//!       uncompressed_len u32    decompressed length (<= 64 MiB)
//!   trailer:
//!     index_offset u64          payload offset of `index`
//!                               (= sum of the compressed lengths)
//! ```
//!
//! A decompressed block holding `n` documents (`n` = next block's
//! `first_doc` − this one's, or `num_docs` − `first_doc` for the last) is
//!
//! ```text
//!   n × record length   LEB128 varint
//!   n × record bytes    concatenated, in doc order
//! ```
//!
//! and the record lengths add up exactly to the rest of the block.
//!
//! # Validation
//!
//! At open, the index must fill exactly the bytes between `index_offset` and
//! the trailer (`8 + 20 × B` bytes); block 0 starts at offset 0 and doc 0,
//! every block starts where the previous one ends, first doc ids strictly
//! increase and stay below `num_docs`, the blocks end exactly at
//! `index_offset`, and `B = 0` if and only if `num_docs = 0`. Before a block
//! is decompressed its zstd frame header must announce exactly
//! `uncompressed_len` bytes (at most [`MAX_BLOCK_LEN`]) and the block must
//! hold at least one byte per document, so a corrupt file can never make the
//! reader allocate more than the block it describes.
//!
//! # Example
//!
//! ```
//! use lucerna_codec::stored::{StoredOptions, StoredReader, StoredWriter};
//! use lucerna_store::RamDirectory;
//! # fn main() -> Result<(), lucerna_store::StoreError> {
//! let dir = RamDirectory::new();
//! let seg = [1u8; 16];
//! let mut w = StoredWriter::create(&dir, "seg.sto", &seg, "", StoredOptions::default())?;
//! assert_eq!(w.add(b"first document")?, 0);
//! assert_eq!(w.add(b"second")?, 1);
//! w.finish()?;
//!
//! let r = StoredReader::open(&dir, "seg.sto", &seg)?;
//! assert_eq!(r.num_docs(), 2);
//! assert_eq!(r.get(1)?, b"second");
//! let all: Vec<Vec<u8>> = r.iter().collect::<Result<_, _>>()?;
//! assert_eq!(all[0], b"first document");
//! # Ok(()) }
//! ```

use crate::bytes::{ByteReader, ByteWriter};
use lucerna_store::envelope::ID_LEN;
use lucerna_store::{
    Directory, EnvelopeHeader, EnvelopeReader, EnvelopeWriter, FileMeta, FileSlice, Result,
    StoreError,
};
use std::sync::Mutex;

/// Envelope format name of stored-fields files.
pub const FORMAT: &str = "stored";
/// Current format version.
pub const VERSION: u32 = 1;
/// Largest uncompressed block (and so largest record) the format allows:
/// 64 MiB.
pub const MAX_BLOCK_LEN: usize = 64 << 20;
/// Default zstd compression level.
pub const DEFAULT_LEVEL: i32 = 3;
/// Default target size of an uncompressed block (16 KiB).
pub const DEFAULT_BLOCK_SIZE: usize = 16 << 10;
/// Default cap on documents per block.
pub const DEFAULT_MAX_DOCS_PER_BLOCK: u32 = 1024;

const ENTRY_LEN: u64 = 20;
const TRAILER_LEN: usize = 8;
const INDEX_HEAD_LEN: usize = 8;
/// Longest varint of a record length (the length is below 2^28).
const MAX_VINT_LEN: usize = 5;

/// Tuning of a [`StoredWriter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredOptions {
    /// zstd compression level (default 3); must be within
    /// [`zstd::compression_level_range`].
    pub level: i32,
    /// A block is closed once its uncompressed size reaches this many bytes
    /// (default 16 KiB; 1..=[`MAX_BLOCK_LEN`]).
    pub block_size: usize,
    /// ... or once it holds this many documents (default 1024; >= 1).
    pub max_docs_per_block: u32,
}

impl Default for StoredOptions {
    fn default() -> Self {
        StoredOptions {
            level: DEFAULT_LEVEL,
            block_size: DEFAULT_BLOCK_SIZE,
            max_docs_per_block: DEFAULT_MAX_DOCS_PER_BLOCK,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct BlockMeta {
    first_doc: u32,
    offset: u64,
    clen: u32,
    ulen: u32,
}

/// Writes a stored-fields file, one record per document in doc-id order.
///
/// See the [module documentation](crate::stored) for the file layout and
/// an example.
pub struct StoredWriter {
    out: EnvelopeWriter,
    compressor: zstd::bulk::Compressor<'static>,
    options: StoredOptions,
    lens: ByteWriter,
    data: Vec<u8>,
    block_docs: u32,
    num_docs: u32,
    index: Vec<BlockMeta>,
    offset: u64,
}

impl StoredWriter {
    /// Creates `name` in `dir` for segment `segment_id`.
    pub fn create(
        dir: &dyn Directory,
        name: &str,
        segment_id: &[u8; ID_LEN],
        suffix: &str,
        options: StoredOptions,
    ) -> Result<Self> {
        let invalid = |reason: String| StoreError::InvalidArgument {
            file: name.to_string(),
            reason,
        };
        if !zstd::compression_level_range().contains(&options.level) {
            return Err(invalid(format!(
                "zstd level {} out of range",
                options.level
            )));
        }
        if options.block_size == 0 || options.block_size > MAX_BLOCK_LEN {
            return Err(invalid(format!(
                "block size {} not in 1..={MAX_BLOCK_LEN}",
                options.block_size
            )));
        }
        if options.max_docs_per_block == 0 {
            return Err(invalid("max_docs_per_block must be at least 1".into()));
        }
        let mut compressor = zstd::bulk::Compressor::new(options.level)
            .map_err(|e| StoreError::io("zstd init", name, e))?;
        compressor
            .set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))
            .map_err(|e| StoreError::io("zstd init", name, e))?;
        let header = EnvelopeHeader::new(FORMAT, VERSION, *segment_id, suffix);
        let out = EnvelopeWriter::create(dir, name, &header)?;
        Ok(StoredWriter {
            out,
            compressor,
            options,
            lens: ByteWriter::new(),
            data: Vec::new(),
            block_docs: 0,
            num_docs: 0,
            index: Vec::new(),
            offset: 0,
        })
    }

    /// Appends the record of the next document and returns its doc id.
    ///
    /// Fails with [`StoreError::InvalidArgument`] when the record is longer
    /// than [`MAX_BLOCK_LEN`] minus a few bytes, or when the file already
    /// holds `u32::MAX` documents.
    pub fn add(&mut self, record: &[u8]) -> Result<u32> {
        if record.len() > MAX_BLOCK_LEN - MAX_VINT_LEN {
            return Err(StoreError::InvalidArgument {
                file: self.out.name().to_string(),
                reason: format!("stored record of {} bytes is too large", record.len()),
            });
        }
        if self.num_docs == u32::MAX {
            return Err(StoreError::InvalidArgument {
                file: self.out.name().to_string(),
                reason: "too many documents".into(),
            });
        }
        if self.block_len() + record.len() + MAX_VINT_LEN > MAX_BLOCK_LEN {
            self.flush_block()?;
        }
        let doc = self.num_docs;
        self.lens.vint(record.len() as u64);
        self.data.extend_from_slice(record);
        self.block_docs += 1;
        self.num_docs += 1;
        if self.block_len() >= self.options.block_size
            || self.block_docs >= self.options.max_docs_per_block
        {
            self.flush_block()?;
        }
        Ok(doc)
    }

    /// Documents added so far.
    pub fn num_docs(&self) -> u32 {
        self.num_docs
    }

    fn block_len(&self) -> usize {
        self.lens.len() + self.data.len()
    }

    fn flush_block(&mut self) -> Result<()> {
        if self.block_docs == 0 {
            return Ok(());
        }
        let mut block = std::mem::take(&mut self.lens.buf);
        block.extend_from_slice(&self.data);
        self.data.clear();
        let frame = self
            .compressor
            .compress(&block)
            .map_err(|e| StoreError::io("zstd compress", self.out.name(), e))?;
        self.out.write_all(&frame)?;
        self.index.push(BlockMeta {
            first_doc: self.num_docs - self.block_docs,
            offset: self.offset,
            clen: frame.len() as u32,
            ulen: block.len() as u32,
        });
        self.offset += frame.len() as u64;
        self.block_docs = 0;
        block.clear();
        self.lens.buf = block;
        Ok(())
    }

    /// Flushes the last block, writes the index and the envelope footer.
    pub fn finish(mut self) -> Result<FileMeta> {
        self.flush_block()?;
        let mut w = ByteWriter::new();
        w.u32(self.num_docs);
        w.u32(self.index.len() as u32);
        for b in &self.index {
            w.u32(b.first_doc);
            w.u64(b.offset);
            w.u32(b.clen);
            w.u32(b.ulen);
        }
        w.u64(self.offset);
        self.out.write_all(&w.buf)?;
        self.out.finish()
    }
}

/// A decompressed block: its bytes and the start of each record.
struct DecodedBlock {
    index: usize,
    data: Vec<u8>,
    /// `n + 1` offsets into `data`; record `i` is `starts[i]..starts[i + 1]`.
    starts: Vec<usize>,
}

impl DecodedBlock {
    fn record(&self, i: usize) -> &[u8] {
        &self.data[self.starts[i]..self.starts[i + 1]]
    }
    fn len(&self) -> usize {
        self.starts.len() - 1
    }
}

#[derive(Default)]
struct Cache {
    decompressor: Option<zstd::bulk::Decompressor<'static>>,
    block: Option<DecodedBlock>,
}

/// Reads a stored-fields file. `Send + Sync`: concurrent [`get`](Self::get)
/// calls share a one-block cache behind a mutex.
///
/// See the [module documentation](crate::stored) for the file layout and
/// an example.
pub struct StoredReader {
    name: String,
    payload: FileSlice,
    base: u64,
    num_docs: u32,
    blocks: Vec<BlockMeta>,
    cache: Mutex<Cache>,
}

impl std::fmt::Debug for StoredReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredReader")
            .field("name", &self.name)
            .field("num_docs", &self.num_docs)
            .field("num_blocks", &self.blocks.len())
            .finish()
    }
}

/// Reads the next entry of the block index and checks it against the
/// previous one (`prev`), the document count and where the previous block
/// ended (`next_offset`): first doc ids increasing from 0, blocks
/// contiguous, none empty or over [`MAX_BLOCK_LEN`].
fn read_block_entry(
    r: &mut ByteReader<'_>,
    name: &str,
    prev: Option<&BlockMeta>,
    num_docs: u32,
    next_offset: u64,
) -> Result<BlockMeta> {
    let at = r.offset();
    let first_doc = r.u32()?;
    let offset = r.u64()?;
    let clen = r.u32()?;
    let ulen = r.u32()?;
    let bad = |expected: u64, actual: u64, reason: &str| {
        StoreError::corrupt(name, at, expected, actual, reason)
    };
    match prev {
        None if first_doc != 0 => {
            return Err(bad(
                0,
                first_doc as u64,
                "first stored block must start at doc 0",
            ))
        }
        Some(prev) if first_doc <= prev.first_doc => {
            return Err(bad(
                prev.first_doc as u64 + 1,
                first_doc as u64,
                "stored block first doc ids must increase",
            ))
        }
        _ => {}
    }
    if first_doc >= num_docs {
        return Err(bad(
            num_docs as u64,
            first_doc as u64,
            "stored block starts past the last doc",
        ));
    }
    if offset != next_offset {
        return Err(bad(
            next_offset,
            offset,
            "stored block offset is not contiguous",
        ));
    }
    if clen == 0 {
        return Err(bad(1, 0, "empty compressed stored block"));
    }
    if ulen as usize > MAX_BLOCK_LEN {
        return Err(bad(
            MAX_BLOCK_LEN as u64,
            ulen as u64,
            "stored block too large",
        ));
    }
    Ok(BlockMeta {
        first_doc,
        offset,
        clen,
        ulen,
    })
}

impl StoredReader {
    /// Gives the resident pages of this file's bytes back to the operating
    /// system (see [`FileSlice::release_pages`]); the reader stays usable.
    /// Merges call it as they go, so that reading a whole segment does not
    /// leave it all in the process's resident memory.
    pub fn release_pages(&self) {
        self.payload.release_pages();
    }

    /// Opens `name` from `dir`: checks the envelope structure (not the CRC),
    /// format, version and segment id, and loads and validates the index.
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
        let r = ByteReader::new(name, base, p);
        if p.len() < TRAILER_LEN + INDEX_HEAD_LEN {
            return Err(r.err_value(
                (TRAILER_LEN + INDEX_HEAD_LEN) as u64,
                p.len() as u64,
                "stored payload too short for index and trailer",
            ));
        }
        let trailer_at = p.len() - TRAILER_LEN;
        let mut t = ByteReader::new(name, base + trailer_at as u64, &p[trailer_at..]);
        let index_offset = t.u64()?;
        let max_index_offset = (trailer_at - INDEX_HEAD_LEN) as u64;
        if index_offset > max_index_offset {
            return Err(StoreError::corrupt(
                name,
                base + trailer_at as u64,
                max_index_offset,
                index_offset,
                "stored index offset past the end of the payload",
            ));
        }
        let index_start = index_offset as usize;
        let mut r = ByteReader::new(name, base + index_start as u64, &p[index_start..trailer_at]);
        let num_docs = r.u32()?;
        let num_blocks = r.u32()?;
        let expected = num_blocks as u64 * ENTRY_LEN;
        if expected != r.remaining() as u64 {
            return Err(r.err_value(
                expected,
                r.remaining() as u64,
                "stored index length does not match its block count",
            ));
        }
        if (num_blocks == 0) != (num_docs == 0) {
            return Err(r.err_value(
                num_docs as u64,
                num_blocks as u64,
                "stored block count inconsistent with document count",
            ));
        }
        // Bounded: `num_blocks * 20` bytes exist in the file.
        let mut blocks: Vec<BlockMeta> = Vec::with_capacity(num_blocks as usize);
        let mut next_offset = 0u64;
        for _ in 0..num_blocks {
            let b = read_block_entry(&mut r, name, blocks.last(), num_docs, next_offset)?;
            next_offset += b.clen as u64;
            if next_offset > index_offset {
                return Err(StoreError::corrupt(
                    name,
                    r.offset() - ENTRY_LEN,
                    index_offset,
                    next_offset,
                    "stored block runs into the index",
                ));
            }
            blocks.push(b);
        }
        if next_offset != index_offset {
            return Err(StoreError::corrupt(
                name,
                base + index_start as u64,
                index_offset,
                next_offset,
                "stored blocks do not end at the index",
            ));
        }
        let reader = StoredReader {
            name: name.to_string(),
            payload,
            base,
            num_docs,
            blocks,
            cache: Mutex::new(Cache::default()),
        };
        for i in 0..reader.blocks.len() {
            let docs = reader.block_docs(i);
            let b = reader.blocks[i];
            if docs > b.ulen as usize {
                return Err(StoreError::corrupt(
                    name,
                    base + index_start as u64 + INDEX_HEAD_LEN as u64 + i as u64 * ENTRY_LEN,
                    docs as u64,
                    b.ulen as u64,
                    "stored block shorter than one byte per document",
                ));
            }
        }
        Ok(reader)
    }

    /// Number of documents (doc ids are `0..num_docs`).
    pub fn num_docs(&self) -> u32 {
        self.num_docs
    }

    /// Number of compressed blocks.
    pub fn num_blocks(&self) -> usize {
        self.blocks.len()
    }

    /// The file name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn block_docs(&self, i: usize) -> usize {
        let end = match self.blocks.get(i + 1) {
            Some(n) => n.first_doc,
            None => self.num_docs,
        };
        (end - self.blocks[i].first_doc) as usize
    }

    fn block_of(&self, doc: u32) -> usize {
        self.blocks.partition_point(|b| b.first_doc <= doc) - 1
    }

    fn decode_block(
        &self,
        i: usize,
        decompressor: &mut Option<zstd::bulk::Decompressor<'static>>,
    ) -> Result<DecodedBlock> {
        let b = self.blocks[i];
        let at = self.base + b.offset;
        let frame = self
            .payload
            .get(b.offset as usize..(b.offset + b.clen as u64) as usize)
            .ok_or_else(|| {
                StoreError::corrupt(
                    &self.name,
                    at,
                    b.clen as u64,
                    0,
                    "stored block out of bounds",
                )
            })?;
        let corrupt = |actual: u64, reason: String| {
            StoreError::corrupt(&self.name, at, b.ulen as u64, actual, reason)
        };
        match zstd::zstd_safe::get_frame_content_size(frame) {
            Ok(Some(n)) if n == b.ulen as u64 => {}
            Ok(Some(n)) => {
                return Err(corrupt(
                    n,
                    "zstd frame size differs from the stored block length".into(),
                ))
            }
            _ => return Err(corrupt(0, "stored block is not a sized zstd frame".into())),
        }
        let d = match decompressor {
            Some(d) => d,
            None => decompressor.insert(
                zstd::bulk::Decompressor::new()
                    .map_err(|e| StoreError::io("zstd init", &self.name, e))?,
            ),
        };
        let data = d
            .decompress(frame, b.ulen as usize)
            .map_err(|e| corrupt(0, format!("zstd: {e}")))?;
        if data.len() != b.ulen as usize {
            return Err(corrupt(
                data.len() as u64,
                "stored block decompressed to the wrong length".into(),
            ));
        }
        let n = self.block_docs(i);
        let mut r = ByteReader::new(&self.name, at, &data);
        // Bounded: validated at open that n <= ulen.
        let mut lens = Vec::with_capacity(n);
        let mut total = 0u64;
        for _ in 0..n {
            let len = r.vint_max(MAX_BLOCK_LEN as u64, "stored record length")?;
            total += len;
            lens.push(len as usize);
        }
        if total != r.remaining() as u64 {
            return Err(r.err_value(
                r.remaining() as u64,
                total,
                "stored record lengths do not add up to the block (offset is the block's; \
                 position within the decompressed block)",
            ));
        }
        let mut starts = Vec::with_capacity(n + 1);
        let mut pos = r.pos();
        starts.push(pos);
        for len in lens {
            pos += len;
            starts.push(pos);
        }
        Ok(DecodedBlock {
            index: i,
            data,
            starts,
        })
    }

    /// The record of `doc`.
    ///
    /// A corrupt block is a [`StoreError::Corrupt`]; a `doc` out of range is
    /// a [`StoreError::InvalidArgument`].
    pub fn get(&self, doc: u32) -> Result<Vec<u8>> {
        if doc >= self.num_docs {
            return Err(StoreError::InvalidArgument {
                file: self.name.clone(),
                reason: format!("doc {doc} out of range (num_docs {})", self.num_docs),
            });
        }
        let i = self.block_of(doc);
        let in_block = (doc - self.blocks[i].first_doc) as usize;
        let mut cache = match self.cache.lock() {
            Ok(c) => c,
            Err(poisoned) => {
                let mut c = poisoned.into_inner();
                *c = Cache::default();
                c
            }
        };
        let cache = &mut *cache;
        if let Some(block) = &cache.block {
            if block.index == i {
                return Ok(block.record(in_block).to_vec());
            }
        }
        cache.block = None;
        let block = self.decode_block(i, &mut cache.decompressor)?;
        let out = block.record(in_block).to_vec();
        cache.block = Some(block);
        Ok(out)
    }

    /// Every record in doc-id order, decompressing each block once (for
    /// merges and checks). The iterator stops after the first error.
    pub fn iter(&self) -> StoredIter<'_> {
        StoredIter {
            reader: self,
            next_block: 0,
            block: None,
            in_block: 0,
            decompressor: None,
            failed: false,
        }
    }

    /// Decompresses and parses every block (for `check`).
    pub fn check(&self) -> Result<()> {
        let mut d = None;
        for i in 0..self.blocks.len() {
            self.decode_block(i, &mut d)?;
        }
        Ok(())
    }
}

/// Sequential iterator over the records of a [`StoredReader`]; see
/// [`StoredReader::iter`].
pub struct StoredIter<'a> {
    reader: &'a StoredReader,
    next_block: usize,
    block: Option<DecodedBlock>,
    in_block: usize,
    decompressor: Option<zstd::bulk::Decompressor<'static>>,
    failed: bool,
}

impl Iterator for StoredIter<'_> {
    type Item = Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            if let Some(b) = &self.block {
                if self.in_block < b.len() {
                    self.in_block += 1;
                    return Some(Ok(b.record(self.in_block - 1).to_vec()));
                }
            }
            if self.next_block >= self.reader.blocks.len() {
                return None;
            }
            match self
                .reader
                .decode_block(self.next_block, &mut self.decompressor)
            {
                Ok(b) => {
                    self.block = Some(b);
                    self.in_block = 0;
                    self.next_block += 1;
                }
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// One stored value of a document field.
#[derive(Debug, Clone, PartialEq)]
pub enum StoredValue {
    /// UTF-8 text.
    Str(String),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// A signed integer.
    I64(i64),
    /// An unsigned integer.
    U64(u64),
    /// A float (stored as its IEEE-754 bits, so NaN payloads survive).
    F64(f64),
}

const TAG_STR: u8 = 0;
const TAG_BYTES: u8 = 1;
const TAG_I64: u8 = 2;
const TAG_U64: u8 = 3;
const TAG_F64: u8 = 4;

/// Appends the record encoding of `values` (pairs of field ordinal and
/// value, in any order, repeats allowed) to `out`.
///
/// ```text
/// record := value*                      (up to the end of the record)
/// value  := field varint (u32), tag u8, body
///   tag 0 Str    body = varint length, UTF-8 bytes
///   tag 1 Bytes  body = varint length, bytes
///   tag 2 I64    body = 8 bytes, little-endian two's complement
///   tag 3 U64    body = 8 bytes, little-endian
///   tag 4 F64    body = 8 bytes, little-endian IEEE-754 bits
/// ```
///
/// ```
/// use lucerna_codec::stored::{decode_record, encode_record, StoredValue};
/// let values = vec![(0, StoredValue::Str("hello".into())), (3, StoredValue::I64(-7))];
/// let mut rec = Vec::new();
/// encode_record(&values, &mut rec);
/// assert_eq!(decode_record(&rec).unwrap(), values);
/// ```
pub fn encode_record(values: &[(u32, StoredValue)], out: &mut Vec<u8>) {
    let mut w = ByteWriter {
        buf: std::mem::take(out),
    };
    for (field, value) in values {
        w.vint(*field as u64);
        match value {
            StoredValue::Str(s) => {
                w.u8(TAG_STR);
                w.len_bytes(s.as_bytes());
            }
            StoredValue::Bytes(b) => {
                w.u8(TAG_BYTES);
                w.len_bytes(b);
            }
            StoredValue::I64(v) => {
                w.u8(TAG_I64);
                w.u64(*v as u64);
            }
            StoredValue::U64(v) => {
                w.u8(TAG_U64);
                w.u64(*v);
            }
            StoredValue::F64(v) => {
                w.u8(TAG_F64);
                w.u64(v.to_bits());
            }
        }
    }
    *out = w.buf;
}

/// Decodes a record written by [`encode_record`]. Malformed input is a
/// [`StoreError::Corrupt`] on the pseudo-file `stored record` whose offset is
/// the position within the record.
pub fn decode_record(record: &[u8]) -> Result<Vec<(u32, StoredValue)>> {
    let mut r = ByteReader::new("stored record", 0, record);
    let mut out = Vec::new();
    while r.remaining() > 0 {
        let field = r.vint_max(u32::MAX as u64, "field ordinal")? as u32;
        let tag_at = r.pos();
        let value = match r.u8()? {
            TAG_STR => {
                let b = r.len_bytes()?;
                let s = std::str::from_utf8(b)
                    .map_err(|_| r.err_at(tag_at, "stored string is not UTF-8"))?;
                StoredValue::Str(s.to_string())
            }
            TAG_BYTES => StoredValue::Bytes(r.len_bytes()?.to_vec()),
            TAG_I64 => StoredValue::I64(r.u64()? as i64),
            TAG_U64 => StoredValue::U64(r.u64()?),
            TAG_F64 => StoredValue::F64(f64::from_bits(r.u64()?)),
            t => return Err(r.err_at(tag_at, format!("unknown stored value tag {t}"))),
        };
        out.push((field, value));
    }
    Ok(out)
}
