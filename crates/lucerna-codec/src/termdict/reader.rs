//! [`TermDict`]: opens a term dictionary, validates its index, and looks
//! keys up in place.

use super::block::{common_prefix, KeyCursor};
use super::infos::Infos;
use super::iter::{TermIter, Upper};
use super::{key_head, ENTRY_LEN, FORMAT, HEADER_LEN, MAX_KEY_LEN, MIN_TERM_BYTES, VERSION};
use crate::bytes::ByteReader;
use crate::postings::TermInfo;
use lucerna_store::envelope::ID_LEN;
use lucerna_store::{Directory, EnvelopeReader, FileSlice, Result, StoreError};
use std::cmp::Ordering;
use std::ops::{Bound, Range};
use std::sync::Arc;

/// A read-only term dictionary; cheap to clone (shares the file bytes).
#[derive(Clone)]
pub struct TermDict {
    name: Arc<str>,
    payload: FileSlice,
    /// Offset of the payload in the file.
    base: u64,
    num_terms: u64,
    num_blocks: usize,
    /// End of the blocks area in the payload (it starts at `HEADER_LEN`).
    blocks_end: usize,
    /// Start of the index in the payload (= `blocks_end`).
    index_start: usize,
    /// Start of the first-keys area in the payload (it ends with it).
    keys_start: usize,
}

impl std::fmt::Debug for TermDict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TermDict")
            .field("name", &self.name)
            .field("num_terms", &self.num_terms)
            .field("num_blocks", &self.num_blocks)
            .finish()
    }
}

/// One index entry as stored.
struct Entry {
    block_end: u64,
    key_end: u32,
    num_terms: u32,
    key_head: u64,
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(s.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(s.try_into().ok()?))
}

impl TermDict {
    /// Gives the resident pages of this file's bytes back to the operating
    /// system (see [`FileSlice::release_pages`]); the reader stays usable.
    /// Merges call it as they go, so that reading a whole segment does not
    /// leave it all in the process's resident memory.
    pub fn release_pages(&self) {
        self.payload.release_pages();
    }

    /// Opens `name` of segment `id`: envelope structure, format, version,
    /// id, and the dictionary's header and index (see the
    /// [module documentation](super)).
    pub fn open(dir: &dyn Directory, name: &str, id: [u8; ID_LEN]) -> Result<Self> {
        let env = EnvelopeReader::open_checked(name, dir.open(name)?)?;
        env.expect_format(FORMAT, VERSION..=VERSION)?;
        env.expect_id(&id)?;
        Self::from_envelope(&env)
    }

    /// Like [`open`](Self::open), for a file whose whole-file CRC32 the
    /// caller has just verified against a trusted record. The format has no
    /// checksum of its own to skip (version 1 had one), so this does the
    /// same checks as `open`: they are structural, O(blocks), and what
    /// stands between a forged file and a wrong answer.
    pub fn open_verified(dir: &dyn Directory, name: &str, id: [u8; ID_LEN]) -> Result<Self> {
        Self::open(dir, name, id)
    }

    /// Decodes an already opened envelope (format and id not checked here).
    pub fn from_envelope(env: &EnvelopeReader) -> Result<Self> {
        let payload = env.payload();
        let base = env.payload_offset();
        let name = env.name();
        let data: &[u8] = &payload;
        let mut r = ByteReader::new(name, base, data);
        let num_terms = r.u64()?;
        let num_blocks = r.u32()? as usize;
        let blocks_len = r.u64()?;
        let corrupt = |at: usize, expected: u64, actual: u64, reason: &str| {
            StoreError::corrupt(name, base + at as u64, expected, actual, reason)
        };
        let rest = (data.len() - HEADER_LEN) as u64;
        if blocks_len > rest {
            return Err(corrupt(12, rest, blocks_len, "blocks longer than the file"));
        }
        let blocks_end = HEADER_LEN + blocks_len as usize;
        let index_len = num_blocks as u64 * ENTRY_LEN as u64;
        let rest = (data.len() - blocks_end) as u64;
        if index_len > rest {
            return Err(corrupt(
                8,
                rest / ENTRY_LEN as u64,
                num_blocks as u64,
                "block index longer than the file",
            ));
        }
        let keys_start = blocks_end + index_len as usize;
        let dict = TermDict {
            name: name.into(),
            payload: payload.clone(),
            base,
            num_terms,
            num_blocks,
            blocks_end,
            index_start: blocks_end,
            keys_start,
        };
        dict.validate_index(data)?;
        Ok(dict)
    }

    /// Checks every index entry against its neighbours and the areas, and
    /// the term count; O(blocks + first-key bytes).
    fn validate_index(&self, data: &[u8]) -> Result<()> {
        let keys_len = data.len() - self.keys_start;
        let blocks_len = self.blocks_end - HEADER_LEN;
        let mut block_start = 0u64;
        let mut key_start = 0u64;
        let mut terms = 0u64;
        let mut prev_key: &[u8] = &[];
        for i in 0..self.num_blocks {
            let at = self.index_start + i * ENTRY_LEN;
            let e = self.entry(data, i)?;
            let err = |off: usize, expected: u64, actual: u64, reason: &str| {
                self.corrupt_value(at + off, expected, actual, reason)
            };
            if e.block_end <= block_start || e.block_end > blocks_len as u64 {
                return Err(err(
                    0,
                    blocks_len as u64,
                    e.block_end,
                    "block end out of order",
                ));
            }
            let key_end = e.key_end as u64;
            if key_end < key_start || key_end > keys_len as u64 {
                return Err(err(
                    8,
                    keys_len as u64,
                    key_end,
                    "first key end out of order",
                ));
            }
            if key_end - key_start > MAX_KEY_LEN as u64 {
                return Err(err(
                    8,
                    MAX_KEY_LEN as u64,
                    key_end - key_start,
                    "first key too long",
                ));
            }
            let block_len = e.block_end - block_start;
            let most = block_len / MIN_TERM_BYTES as u64;
            if e.num_terms == 0 || e.num_terms as u64 > most {
                return Err(err(
                    12,
                    most,
                    e.num_terms as u64,
                    "block term count out of range",
                ));
            }
            let key = data
                .get(self.keys_start + key_start as usize..self.keys_start + key_end as usize)
                .ok_or_else(|| err(8, keys_len as u64, key_end, "first key range"))?;
            if i > 0 && key <= prev_key {
                return Err(err(8, 0, 0, "first keys of blocks not strictly increasing"));
            }
            if e.key_head != key_head(key) {
                return Err(err(
                    16,
                    key_head(key),
                    e.key_head,
                    "first key head differs from the key",
                ));
            }
            terms += e.num_terms as u64;
            prev_key = key;
            block_start = e.block_end;
            key_start = key_end;
        }
        if block_start != blocks_len as u64 {
            return Err(self.corrupt_value(
                12,
                blocks_len as u64,
                block_start,
                "blocks do not end where the index says",
            ));
        }
        if key_start != keys_len as u64 {
            return Err(self.corrupt_value(
                self.keys_start,
                keys_len as u64,
                key_start,
                "first keys do not fill the rest of the file",
            ));
        }
        if terms != self.num_terms {
            return Err(self.corrupt_value(
                0,
                self.num_terms,
                terms,
                "term count differs from the blocks' sum",
            ));
        }
        Ok(())
    }

    /// Number of terms.
    pub fn num_terms(&self) -> u64 {
        self.num_terms
    }

    /// The file name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The payload bytes.
    pub(super) fn data(&self) -> &[u8] {
        &self.payload
    }

    /// Number of blocks.
    pub(super) fn num_blocks(&self) -> usize {
        self.num_blocks
    }

    /// A corruption error at payload position `at`.
    pub(super) fn corrupt_value(
        &self,
        at: usize,
        expected: u64,
        actual: u64,
        reason: &str,
    ) -> StoreError {
        StoreError::corrupt(&*self.name, self.base + at as u64, expected, actual, reason)
    }

    fn entry(&self, data: &[u8], i: usize) -> Result<Entry> {
        let at = i
            .checked_mul(ENTRY_LEN)
            .and_then(|o| o.checked_add(self.index_start))
            .unwrap_or(usize::MAX);
        match (
            u64_at(data, at),
            u32_at(data, at.saturating_add(8)),
            u32_at(data, at.saturating_add(12)),
            self.head(data, i),
        ) {
            (Some(block_end), Some(key_end), Some(num_terms), Some(key_head)) => Ok(Entry {
                block_end,
                key_end,
                num_terms,
                key_head,
            }),
            _ => Err(self.corrupt_value(self.index_start, 0, i as u64, "index entry range")),
        }
    }

    /// The `key_head` field of index entry `i` (big-endian).
    #[inline]
    fn head(&self, data: &[u8], i: usize) -> Option<u64> {
        let at = self
            .index_start
            .checked_add(i.checked_mul(ENTRY_LEN)?)?
            .checked_add(16)?;
        let s = data.get(at..at.checked_add(8)?)?;
        Some(u64::from_be_bytes(s.try_into().ok()?))
    }

    /// The `key_end` field of index entry `i`.
    #[inline]
    fn key_end(&self, data: &[u8], i: usize) -> Option<usize> {
        let at = self
            .index_start
            .checked_add(i.checked_mul(ENTRY_LEN)?)?
            .checked_add(8)?;
        u32_at(data, at).map(|v| v as usize)
    }

    /// The first key of block `i`.
    #[inline]
    pub(super) fn first_key<'d>(&self, data: &'d [u8], i: usize) -> Result<&'d [u8]> {
        let start = match i.checked_sub(1) {
            Some(p) => self.key_end(data, p),
            None => Some(0),
        };
        let key = match (start, self.key_end(data, i)) {
            (Some(start), Some(end)) => self
                .keys_start
                .checked_add(start)
                .zip(self.keys_start.checked_add(end))
                .and_then(|(s, e)| data.get(s..e)),
            _ => None,
        };
        key.ok_or_else(|| self.corrupt_value(self.index_start, 0, i as u64, "first key range"))
    }

    /// The payload range of block `i` and its term count.
    pub(super) fn block_range(&self, data: &[u8], i: usize) -> Result<(Range<usize>, u32)> {
        let e = self.entry(data, i)?;
        let start = match i.checked_sub(1) {
            Some(p) => self.entry(data, p)?.block_end,
            None => 0,
        };
        let blocks_len = (self.blocks_end - HEADER_LEN) as u64;
        if start > e.block_end || e.block_end > blocks_len {
            return Err(self.corrupt_value(
                self.index_start,
                blocks_len,
                e.block_end,
                "block range",
            ));
        }
        Ok((
            HEADER_LEN + start as usize..HEADER_LEN + e.block_end as usize,
            e.num_terms,
        ))
    }

    /// A key cursor over `range` of the payload, at `pos` within it.
    pub(super) fn cursor<'d>(
        &'d self,
        data: &'d [u8],
        range: Range<usize>,
        pos: usize,
    ) -> Result<KeyCursor<'d>> {
        let start = range.start;
        let bytes = data
            .get(range)
            .ok_or_else(|| self.corrupt_value(start, 0, 0, "block range"))?;
        Ok(KeyCursor::new(
            &self.name,
            self.base + start as u64,
            bytes,
            pos,
        ))
    }

    /// The block that holds `key` if any does: the last block whose first
    /// key is ≤ `key`, and whether it is equal; `None` when `key` sorts
    /// before every block.
    pub(super) fn find_block(&self, data: &[u8], key: &[u8]) -> Result<Option<(usize, bool)>> {
        // Invariant: first keys of blocks < lo are ≤ key, of blocks ≥ hi > key.
        let (mut lo, mut hi) = (0, self.num_blocks);
        let head = key_head(key);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let h = self.head(data, mid).ok_or_else(|| {
                self.corrupt_value(self.index_start, 0, mid as u64, "index entry range")
            })?;
            // Heads order like keys; equal heads need the keys.
            let ord = match h.cmp(&head) {
                Ordering::Equal => self.first_key(data, mid)?.cmp(key),
                o => o,
            };
            match ord {
                Ordering::Less => lo = mid + 1,
                Ordering::Equal => return Ok(Some((mid, true))),
                Ordering::Greater => hi = mid,
            }
        }
        Ok(lo.checked_sub(1).map(|i| (i, false)))
    }

    /// The payload range of the key section of a block (`range` from
    /// [`block_range`](Self::block_range)), and its info section, parsed.
    pub(super) fn sections(
        &self,
        data: &[u8],
        range: Range<usize>,
        num_terms: u32,
    ) -> Result<(Range<usize>, Infos)> {
        let (start, end) = (range.start, range.end);
        let mut c = self.cursor(data, range, 0)?;
        let len = c.section_len()?;
        // Within the block: checked by `section_len`.
        let keys = start + c.pos()..start + c.pos() + len;
        let infos = Infos::parse(&self.name, self.base, data, keys.end..end, num_terms)?;
        Ok((keys, infos))
    }

    /// The info of term `nth` of a block.
    pub(super) fn info(&self, data: &[u8], infos: &Infos, nth: usize) -> Result<TermInfo> {
        infos.get(data, nth).ok_or_else(|| {
            self.corrupt_value(
                infos.start(),
                0,
                nth as u64,
                "term info out of range or with document frequency 0",
            )
        })
    }

    /// The entry of `key`, if present.
    pub fn get(&self, key: &[u8]) -> Result<Option<TermInfo>> {
        let data = self.data();
        let Some((i, exact)) = self.find_block(data, key)? else {
            return Ok(None);
        };
        let (range, num_terms) = self.block_range(data, i)?;
        let (keys, infos) = self.sections(data, range, num_terms)?;
        let nth = if exact {
            0
        } else {
            match self.scan_keys(data, i, keys, num_terms, key)? {
                Some(nth) => nth,
                None => return Ok(None),
            }
        };
        Ok(Some(self.info(data, &infos, nth)?))
    }

    /// Looks for `key` among the terms of block `i` after the first (which
    /// sorts before `key`): its position in the block, if present.
    fn scan_keys(
        &self,
        data: &[u8],
        i: usize,
        keys: Range<usize>,
        num_terms: u32,
        key: &[u8],
    ) -> Result<Option<usize>> {
        let mut cur = self.cursor(data, keys, 0)?;
        // Keep the previous key only as its length and the length of its
        // common prefix with `key`: it sorts before `key`, so where both
        // go on, its byte is the smaller.
        let first = self.first_key(data, i)?;
        let mut matched = common_prefix(first, key);
        let mut prev_len = first.len();
        for nth in 1..num_terms as usize {
            let (shared, suffix) = cur.key_delta(prev_len)?;
            prev_len = shared + suffix.len();
            match shared.cmp(&matched) {
                // Shares more with the previous key than `key` does:
                // still smaller than `key`, same common prefix.
                Ordering::Greater => continue,
                // Differs from the previous key where that equals `key`,
                // by a greater byte: past `key`.
                Ordering::Less => return Ok(None),
                Ordering::Equal => {}
            }
            let rest = key.get(matched..).unwrap_or_default();
            let c = common_prefix(suffix, rest);
            match (suffix.get(c), rest.get(c)) {
                (None, None) => return Ok(Some(nth)),
                // `key` is a proper prefix of this key: past it.
                (Some(_), None) => return Ok(None),
                (Some(a), Some(b)) if a > b => return Ok(None),
                // A proper prefix of `key`, or smaller at byte `c`.
                _ => matched += c,
            }
        }
        Ok(None)
    }

    /// Every `(key, info)` whose key starts with `prefix`, in key order
    /// (an empty prefix lists the whole dictionary).
    pub fn prefix(&self, prefix: &[u8]) -> Result<TermIter> {
        TermIter::new(
            self.clone(),
            Bound::Included(prefix),
            Upper::Prefix(prefix.to_vec()),
        )
    }

    /// Every `(key, info)` with `lower` ≤ key ≤ `upper` (each bound
    /// inclusive, exclusive or absent), in key order.
    pub fn range(&self, lower: Bound<&[u8]>, upper: Bound<&[u8]>) -> Result<TermIter> {
        let upper = match upper {
            Bound::Included(u) => Upper::Included(u.to_vec()),
            Bound::Excluded(u) => Upper::Excluded(u.to_vec()),
            Bound::Unbounded => Upper::None,
        };
        TermIter::new(self.clone(), lower, upper)
    }
}
