//! Packed positions (`.pos` version 2): the positions of one postings block
//! (up to 128 documents) as bit-packed chunks that can be read at any
//! document without decoding those before it.
//!
//! A block's *values* are its documents' positions in postings order, each
//! document's first as it is and every next one as the difference to the
//! previous. With `n` values (the sum of the block's term frequencies) in
//! `C = ⌈n / 128⌉` chunks:
//!
//! ```text
//!   C × u8          the width w (0 ..= 32) of each chunk
//!   per chunk c:    its m = min(128, n − 128·c) values at width w,
//!                   ⌈m·w / 8⌉ bytes; value i at bits i·w .. (i+1)·w of the
//!                   little-endian bit stream
//! ```
//!
//! So a document's positions are found from its value index alone (the sum
//! of the frequencies before it in the block): its chunk by the widths,
//! then each value by one unaligned 8-byte read. Version 1 stored one
//! varint per value, so reaching a document meant reading past the
//! positions of every document before it in its block.
//!
//! ```
//! use lucerna_codec::positions::{encode_block, to_absolute, PackedBlock};
//! let values: Vec<u32> = (0..300).map(|i| i % 7).collect();
//! let mut bytes = Vec::new();
//! encode_block(&values, &mut bytes);
//! let mut block = PackedBlock::open("f.pos", 0, &bytes, 0, values.len() as u64)?;
//! assert_eq!(block.end(), bytes.len());
//! let mut out = Vec::new();
//! block.values(&bytes, 129, 3, &mut out);
//! assert_eq!(out, vec![3, 4, 5]);
//! to_absolute(&mut out).expect("fits 32 bits");
//! assert_eq!(out, vec![3, 3 + 4, 3 + 4 + 5]);
//! # Ok::<(), lucerna_store::StoreError>(())
//! ```

use crate::bitpack::{self, bits_needed, BLOCK};
use lucerna_store::{Result, StoreError};

/// Appends the packed encoding of one block's position values to `out`.
pub fn encode_block(values: &[u32], out: &mut Vec<u8>) {
    let chunks = values.chunks(BLOCK);
    let widths_at = out.len();
    out.extend(chunks.clone().map(bits_needed));
    for (c, chunk) in chunks.enumerate() {
        let w = out[widths_at + c];
        bitpack::pack_bits(chunk, w, out);
    }
}

/// Bytes of a chunk of `m` values at width `w`.
#[inline]
fn chunk_len(m: u64, w: u8) -> u64 {
    (m * w as u64).div_ceil(8)
}

/// One block's packed positions, located and checked: the widths are at
/// most 32 and every chunk lies within the data. Nothing is allocated
/// (a forged block may announce a chunk per byte of the file): a chunk's
/// offset is found by walking the widths from a cursor that follows the
/// reads, which move forward within a block.
#[derive(Debug, Clone, Default)]
pub struct PackedBlock {
    /// Payload offset of the widths.
    widths: usize,
    /// Values in the block.
    n: u64,
    /// Payload offset just past the last chunk.
    end: usize,
    /// Chunk `cur` starts at payload offset `cur_at`.
    cur: usize,
    cur_at: usize,
}

impl PackedBlock {
    /// Locates the block of `n` values starting at payload offset `start`
    /// of `data` (file `file`, whose payload starts at file offset `base`).
    pub fn open(file: &str, base: u64, data: &[u8], start: usize, n: u64) -> Result<Self> {
        let mut b = PackedBlock::default();
        b.reopen(file, base, data, start, n)?;
        Ok(b)
    }

    /// As [`open`](Self::open), in place.
    pub fn reopen(
        &mut self,
        file: &str,
        base: u64,
        data: &[u8],
        start: usize,
        n: u64,
    ) -> Result<()> {
        let corrupt = |at: usize, expected: u64, actual: u64, reason: &str| {
            StoreError::corrupt(file, base + at as u64, expected, actual, reason.to_string())
        };
        let num_chunks = n.div_ceil(BLOCK as u64);
        let len = data.len() as u64;
        let widths_end = (start as u64).saturating_add(num_chunks);
        if widths_end > len {
            return Err(corrupt(
                start,
                widths_end,
                len,
                "position widths run past the end of the file",
            ));
        }
        let mut at = widths_end;
        for c in 0..num_chunks as usize {
            let w = data[start + c];
            if w > 32 {
                return Err(corrupt(start + c, 32, w as u64, "position width above 32"));
            }
            at += chunk_len(chunk_values(n, c), w);
            if at > len {
                return Err(corrupt(
                    start + c,
                    len,
                    at,
                    "packed positions run past the end of the file",
                ));
            }
        }
        *self = PackedBlock {
            widths: start,
            n,
            end: at as usize,
            cur: 0,
            cur_at: widths_end as usize,
        };
        Ok(())
    }

    /// Payload offset just past the block.
    pub fn end(&self) -> usize {
        self.end
    }

    /// Width of chunk `c` (0 past the widths).
    #[inline]
    fn width(&self, data: &[u8], c: usize) -> u8 {
        data.get(self.widths + c).copied().unwrap_or(0)
    }

    /// Payload offset of chunk `c`, walking the widths from the cursor
    /// (from the first chunk when `c` lies behind it).
    fn chunk_at(&mut self, data: &[u8], c: usize) -> usize {
        if c < self.cur {
            self.cur = 0;
            self.cur_at = self.widths + self.n.div_ceil(BLOCK as u64) as usize;
        }
        while self.cur < c {
            let w = self.width(data, self.cur);
            self.cur_at += chunk_len(chunk_values(self.n, self.cur), w) as usize;
            self.cur += 1;
        }
        self.cur_at
    }

    /// Appends values `first .. first + count` (within the block's `n`)
    /// to `out`, as stored: each document's first position, then the
    /// differences.
    pub fn values(&mut self, data: &[u8], first: usize, count: usize, out: &mut Vec<u32>) {
        let end = first + count;
        out.reserve(count);
        let mut i = first;
        while i < end {
            let c = i / BLOCK;
            let stop = end.min((c + 1) * BLOCK);
            let w = self.width(data, c);
            if w == 0 {
                out.extend(std::iter::repeat_n(0, stop - i));
            } else if let Some(src) = (stop - i == BLOCK)
                .then(|| self.chunk_at(data, c))
                .and_then(|off| data.get(off..))
                .filter(|src| src.len() >= bitpack::packed_len(w))
            {
                // A whole chunk (a merge copying a block's values): one
                // unpack at its width. (Its bytes lie within the data,
                // checked at open.)
                let mut chunk = [0u32; BLOCK];
                bitpack::unpack(src, w, &mut chunk);
                out.extend_from_slice(&chunk);
            } else {
                let off = self.chunk_at(data, c);
                let mask = (1u64 << w) - 1;
                let w = w as usize;
                out.extend((i % BLOCK..(stop - 1) % BLOCK + 1).map(|j| {
                    let bit = j * w;
                    ((word_at(data, off + bit / 8) >> (bit % 8)) & mask) as u32
                }));
            }
            i = stop;
        }
    }
}

/// Values in chunk `c` of a block of `n` (128 but in the last chunk).
#[inline]
fn chunk_values(n: u64, c: usize) -> u64 {
    n.saturating_sub((c * BLOCK) as u64).min(BLOCK as u64)
}

/// The little-endian `u64` at `at` of `data`, zero past its end (a chunk's
/// own bytes are within the data, checked at open).
#[inline]
fn word_at(data: &[u8], at: usize) -> u64 {
    match data.get(at..at + 8) {
        Some(b) => u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
        None => {
            let mut buf = [0u8; 8];
            let tail = data.get(at..).unwrap_or_default();
            let k = tail.len().min(8);
            buf[..k].copy_from_slice(&tail[..k]);
            u64::from_le_bytes(buf)
        }
    }
}

/// Turns one document's stored values (`vals`: the first position, then
/// differences) into absolute positions in place; `None` when a position
/// overflows 32 bits.
#[inline]
pub fn to_absolute(vals: &mut [u32]) -> Option<()> {
    let mut p: u64 = 0;
    for v in vals {
        p += *v as u64;
        *v = u32::try_from(p).ok()?;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any range of values reads back as written, whole chunks (one
        /// unpack) and parts of chunks (one value at a time) alike.
        #[test]
        fn any_range_reads_back(
            chunks in proptest::collection::vec((0u32..=32, 1usize..=BLOCK), 1..5),
            seed in any::<u64>(),
            ranges in proptest::collection::vec((0.0f64..1.0, 0.0f64..1.0), 1..8),
        ) {
            // Chunk c holds values below 2^bits; all but the last are full.
            let mut values = Vec::new();
            let mut x = seed | 1;
            for (c, &(bits, len)) in chunks.iter().enumerate() {
                let len = if c + 1 == chunks.len() { len } else { BLOCK };
                for _ in 0..len {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let mask = if bits == 0 { 0 } else { u32::MAX >> (32 - bits) };
                    values.push(x as u32 & mask);
                }
            }
            let mut bytes = vec![0xAA, 0xBB];
            encode_block(&values, &mut bytes);
            let mut block = PackedBlock::open("f.pos", 0, &bytes, 2, values.len() as u64).unwrap();
            prop_assert_eq!(block.end(), bytes.len());
            let mut all = Vec::new();
            block.values(&bytes, 0, values.len(), &mut all);
            prop_assert_eq!(&all, &values);
            for (a, b) in ranges {
                let first = (a * values.len() as f64) as usize;
                let count = (b * (values.len() - first) as f64) as usize;
                let mut out = vec![7];
                block.values(&bytes, first, count, &mut out);
                prop_assert_eq!(out[0], 7);
                prop_assert_eq!(&out[1..], &values[first..first + count]);
            }
        }
    }
}
