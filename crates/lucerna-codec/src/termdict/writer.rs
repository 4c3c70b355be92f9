//! [`TermDictWriter`]: builds a term dictionary in memory and writes it on
//! [`finish`](TermDictWriter::finish).

use super::block::common_prefix;
use super::infos::write_infos;
use super::{key_head, BLOCK_BYTES, BLOCK_TERMS, FORMAT, MAX_KEY_LEN, VERSION};
use crate::bytes::ByteWriter;
use crate::postings::TermInfo;
use lucerna_store::envelope::ID_LEN;
use lucerna_store::{Directory, EnvelopeHeader, EnvelopeWriter, FileMeta, Result, StoreError};

/// Builds a term dictionary in memory; keys must arrive in strictly
/// increasing byte order.
pub struct TermDictWriter<'a> {
    dir: &'a dyn Directory,
    id: [u8; ID_LEN],
    name: String,
    /// The blocks area (closed blocks).
    blocks: ByteWriter,
    /// The open block's key section (terms after the first).
    block_keys: ByteWriter,
    /// The infos of the open block's terms.
    block_infos: Vec<TermInfo>,
    /// The index entries of the closed blocks.
    index: ByteWriter,
    /// The first keys of every block, the open one included.
    keys: ByteWriter,
    /// The last key inserted.
    last: Vec<u8>,
    /// Terms in the open block (0: no block open).
    block_terms: usize,
    /// The head of the open block's first key.
    block_head: u64,
    num_blocks: u32,
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
            blocks: ByteWriter::new(),
            block_keys: ByteWriter::new(),
            block_infos: Vec::with_capacity(BLOCK_TERMS),
            index: ByteWriter::new(),
            keys: ByteWriter::new(),
            last: Vec::new(),
            block_terms: 0,
            block_head: 0,
            num_blocks: 0,
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
        if self.num_terms > 0 && key <= self.last.as_slice() {
            return Err(self.invalid("term keys not strictly increasing"));
        }
        if self.block_terms == 0 {
            // A new block: its first key goes to the index.
            if self.keys.len() + key.len() > u32::MAX as usize {
                return Err(self.invalid("first keys of the blocks exceed 4 GiB"));
            }
            if self.num_blocks == u32::MAX {
                return Err(self.invalid("too many blocks"));
            }
            self.keys.bytes(key);
            self.block_head = key_head(key);
        } else {
            let shared = common_prefix(&self.last, key);
            self.block_keys.vint(shared as u64);
            self.block_keys.len_bytes(&key[shared..]);
        }
        self.block_infos.push(*info);
        self.block_terms += 1;
        self.num_terms += 1;
        self.last.clear();
        self.last.extend_from_slice(key);
        if self.block_terms == BLOCK_TERMS || self.block_keys.len() >= BLOCK_BYTES {
            self.close_block();
        }
        Ok(())
    }

    /// Ends the open block (if any) with its index entry.
    fn close_block(&mut self) {
        if self.block_terms == 0 {
            return;
        }
        self.blocks.vint(self.block_keys.len() as u64);
        self.blocks.bytes(&self.block_keys.buf);
        write_infos(&mut self.blocks, &self.block_infos);
        self.block_keys.buf.clear();
        self.block_infos.clear();
        self.index.u64(self.blocks.len() as u64);
        // Checked on insert: the keys area fits u32.
        self.index.u32(self.keys.len() as u32);
        // At most BLOCK_TERMS.
        self.index.u32(self.block_terms as u32);
        self.index.bytes(&self.block_head.to_be_bytes());
        self.num_blocks += 1;
        self.block_terms = 0;
    }

    /// Number of terms inserted so far.
    pub fn num_terms(&self) -> u64 {
        self.num_terms
    }

    /// Writes the file (not synced).
    pub fn finish(mut self) -> Result<FileMeta> {
        self.close_block();
        let header = EnvelopeHeader::new(FORMAT, VERSION, self.id, "");
        let mut out = EnvelopeWriter::create(self.dir, &self.name, &header)?;
        let mut head = ByteWriter::new();
        head.u64(self.num_terms);
        head.u32(self.num_blocks);
        head.u64(self.blocks.len() as u64);
        out.write_all(&head.buf)?;
        out.write_all(&self.blocks.buf)?;
        out.write_all(&self.index.buf)?;
        out.write_all(&self.keys.buf)?;
        out.finish()
    }
}
