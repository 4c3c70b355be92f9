//! [`TermIter`]: ordered iteration over a key range, block by block.

use super::infos::Infos;
use super::reader::TermDict;
use crate::postings::TermInfo;
use lucerna_store::Result;
use std::ops::{Bound, Range};

/// Where an iteration stops.
pub(super) enum Upper {
    /// At the end of the dictionary.
    None,
    /// At the first key not starting with this prefix.
    Prefix(Vec<u8>),
    /// After this key.
    Included(Vec<u8>),
    /// At this key.
    Excluded(Vec<u8>),
}

/// Iterator over a key range of a [`TermDict`], in key order; owns what it
/// needs (a clone of the dictionary, which shares the file bytes).
///
/// Decoding checks that keys strictly increase, within a block and from
/// one block to the next, and that each block's key section ends right
/// after its last key (the info section's length is checked exactly
/// when a block is loaded).
/// After an error the iterator ends.
pub struct TermIter {
    dict: TermDict,
    /// The block to load when the current one is done.
    next_block: usize,
    /// The current block's key section (payload range) and info section.
    keys: Range<usize>,
    infos: Infos,
    /// Position of the next term's key within the key section.
    key_pos: usize,
    /// The next term's position in the block, and the block's term count.
    nth: usize,
    num_terms: usize,
    /// The last decoded key (valid when `loaded`).
    key: Vec<u8>,
    /// True once a block was loaded.
    loaded: bool,
    /// Keys before this bound are skipped; unbounded once one passed.
    lower: Bound<Vec<u8>>,
    upper: Upper,
    done: bool,
}

impl TermIter {
    pub(super) fn new(dict: TermDict, lower: Bound<&[u8]>, upper: Upper) -> Result<Self> {
        let first_block = match lower {
            Bound::Included(k) | Bound::Excluded(k) => {
                dict.find_block(dict.data(), k)?.map_or(0, |(i, _)| i)
            }
            Bound::Unbounded => 0,
        };
        Ok(TermIter {
            dict,
            next_block: first_block,
            keys: 0..0,
            infos: Infos::default(),
            key_pos: 0,
            nth: 0,
            num_terms: 0,
            key: Vec::new(),
            loaded: false,
            lower: lower.map(|k| k.to_vec()),
            upper,
            done: false,
        })
    }

    /// Decodes the next term into `self.key`; `None` at the end of the
    /// dictionary.
    fn step(&mut self) -> Result<Option<TermInfo>> {
        let dict = &self.dict;
        let data = dict.data();
        if self.nth >= self.num_terms {
            if self.loaded && self.key_pos != self.keys.len() {
                return Err(dict.corrupt_value(
                    self.keys.start + self.key_pos,
                    self.keys.len() as u64,
                    self.key_pos as u64,
                    "key section holds bytes after its last term",
                ));
            }
            if self.next_block >= dict.num_blocks() {
                return Ok(None);
            }
            let i = self.next_block;
            let (range, num_terms) = dict.block_range(data, i)?;
            let first = dict.first_key(data, i)?;
            if self.loaded && first <= self.key.as_slice() {
                return Err(dict.corrupt_value(
                    range.start,
                    0,
                    0,
                    "block's first key not above the previous block's last",
                ));
            }
            let (keys, infos) = dict.sections(data, range, num_terms)?;
            let info = dict.info(data, &infos, 0)?;
            self.key.clear();
            self.key.extend_from_slice(first);
            self.keys = keys;
            self.infos = infos;
            self.key_pos = 0;
            self.nth = 1;
            self.num_terms = num_terms as usize;
            self.next_block = i + 1;
            self.loaded = true;
            return Ok(Some(info));
        }
        let mut cur = dict.cursor(data, self.keys.clone(), self.key_pos)?;
        let at = cur.offset();
        let (shared, suffix) = cur.key_delta(self.key.len())?;
        if let (Some(old), Some(new)) = (self.key.get(shared), suffix.first()) {
            if new <= old {
                return Err(lucerna_store::StoreError::corrupt(
                    dict.name(),
                    at,
                    *old as u64,
                    *new as u64,
                    "keys not strictly increasing",
                ));
            }
        }
        let info = dict.info(data, &self.infos, self.nth)?;
        self.key_pos = cur.pos();
        self.key.truncate(shared);
        self.key.extend_from_slice(suffix);
        self.nth += 1;
        Ok(Some(info))
    }

    fn below_lower(&self) -> bool {
        match &self.lower {
            Bound::Included(l) => self.key < *l,
            Bound::Excluded(l) => self.key <= *l,
            Bound::Unbounded => false,
        }
    }

    fn beyond_upper(&self) -> bool {
        match &self.upper {
            Upper::None => false,
            Upper::Prefix(p) => !self.key.starts_with(p),
            Upper::Included(u) => self.key > *u,
            Upper::Excluded(u) => self.key >= *u,
        }
    }
}

impl TermIter {
    /// Moves to the next term of the range and returns its info, without
    /// copying its key out: [`key`](Self::key) is the term's key until the
    /// next call. `Ok(None)` at the end of the range; after an error the
    /// iteration ends. What a merge walks millions of terms with; the
    /// [`Iterator`] implementation, which hands out owned keys, is built on
    /// it.
    ///
    /// ```
    /// use lucerna_codec::postings::TermInfo;
    /// use lucerna_codec::termdict::{TermDict, TermDictWriter};
    /// use lucerna_store::RamDirectory;
    /// # fn main() -> Result<(), lucerna_store::StoreError> {
    /// let dir = RamDirectory::new();
    /// let mut w = TermDictWriter::new(&dir, [1; 16], "t.dict")?;
    /// for (i, k) in ["apple", "banana"].iter().enumerate() {
    ///     let info = TermInfo { doc_freq: 1, doc_off: 100 + i as u64, pos_off: 0 };
    ///     w.insert(k.as_bytes(), &info)?;
    /// }
    /// w.finish()?;
    /// let dict = TermDict::open(&dir, "t.dict", [1; 16])?;
    /// let mut it = dict.prefix(b"")?;
    /// assert_eq!(it.next_term()?.map(|i| i.doc_off), Some(100));
    /// assert_eq!(it.key(), b"apple");
    /// assert_eq!(it.next_term()?.map(|i| i.doc_off), Some(101));
    /// assert_eq!(it.key(), b"banana");
    /// assert!(it.next_term()?.is_none());
    /// # Ok(()) }
    /// ```
    pub fn next_term(&mut self) -> Result<Option<TermInfo>> {
        while !self.done {
            match self.step() {
                Ok(Some(info)) => {
                    if self.below_lower() {
                        continue;
                    }
                    self.lower = Bound::Unbounded;
                    if self.beyond_upper() {
                        break;
                    }
                    return Ok(Some(info));
                }
                Ok(None) => break,
                Err(e) => {
                    self.done = true;
                    return Err(e);
                }
            }
        }
        self.done = true;
        Ok(None)
    }

    /// The key of the term [`next_term`](Self::next_term) moved to.
    pub fn key(&self) -> &[u8] {
        &self.key
    }
}

impl Iterator for TermIter {
    type Item = Result<(Vec<u8>, TermInfo)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_term()
            .map(|t| t.map(|info| (self.key.clone(), info)))
            .transpose()
    }
}
