//! The info section of a block: the [`TermInfo`] of each of its terms,
//! bit-packed at fixed widths, so a lookup reads the info of the term it
//! found directly, without decoding the terms before it.
//!
//! ```text
//! u8   freq_bits   1 ..= 32
//! u8   doc_bits    0 ..= 64
//! u8   pos_bits    0 ..= 64
//! vint doc_base    doc_off of the block's first term
//! vint pos_base    pos_off of the block's first term
//! packed           ⌈num_terms × (freq_bits + doc_bits + pos_bits) / 8⌉ bytes:
//!                  per term, from bit 0 of byte 0 up (little-endian):
//!                    doc_freq                 (freq_bits)
//!                    doc_off − doc_base       (doc_bits, wrapping)
//!                    pos_off − pos_base       (pos_bits, wrapping)
//! ```

use crate::bytes::{ByteReader, ByteWriter};
use crate::postings::TermInfo;
use lucerna_store::{Result, StoreError};
use std::ops::Range;

/// Bits needed for `v`.
fn width(v: u64) -> u32 {
    64 - v.leading_zeros()
}

/// Appends values of given bit widths, low bits first.
#[derive(Default)]
struct BitWriter {
    out: Vec<u8>,
    acc: u128,
    bits: u32,
}

impl BitWriter {
    fn push(&mut self, v: u64, width: u32) {
        if width == 0 {
            return;
        }
        let v = if width >= 64 {
            v
        } else {
            v & ((1 << width) - 1)
        };
        self.acc |= (v as u128) << self.bits;
        self.bits += width;
        while self.bits >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.bits -= 8;
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.bits > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

/// Appends the info section of a block of terms with `infos`.
pub(super) fn write_infos(w: &mut ByteWriter, infos: &[TermInfo]) {
    let (doc_base, pos_base) = infos.first().map_or((0, 0), |i| (i.doc_off, i.pos_off));
    let mut bits = (1u32, 0u32, 0u32);
    for i in infos {
        bits.0 = bits.0.max(width(i.doc_freq as u64));
        bits.1 = bits.1.max(width(i.doc_off.wrapping_sub(doc_base)));
        bits.2 = bits.2.max(width(i.pos_off.wrapping_sub(pos_base)));
    }
    w.u8(bits.0 as u8);
    w.u8(bits.1 as u8);
    w.u8(bits.2 as u8);
    w.vint(doc_base);
    w.vint(pos_base);
    let mut bw = BitWriter::default();
    for i in infos {
        bw.push(i.doc_freq as u64, bits.0);
        bw.push(i.doc_off.wrapping_sub(doc_base), bits.1);
        bw.push(i.pos_off.wrapping_sub(pos_base), bits.2);
    }
    w.bytes(&bw.finish());
}

/// `width` bits (≤ 64) of `data` from bit `bit` on; bytes past the end
/// read as 0.
#[inline(always)]
fn bits_at(data: &[u8], bit: usize, width: u32) -> u64 {
    let byte = bit / 8;
    let word = match data.get(byte..byte.saturating_add(16)) {
        Some(s) => {
            let mut b = [0u8; 16];
            b.copy_from_slice(s);
            u128::from_le_bytes(b)
        }
        None => {
            let mut b = [0u8; 16];
            let rest = data.get(byte..).unwrap_or_default();
            let n = rest.len().min(16);
            b[..n].copy_from_slice(&rest[..n]);
            u128::from_le_bytes(b)
        }
    };
    let v = (word >> (bit % 8)) as u64;
    if width >= 64 {
        v
    } else {
        v & ((1 << width) - 1)
    }
}

/// The layout of a block's info section, as parsed (positions in the
/// dictionary's payload).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Infos {
    /// Payload offset of the packed bits.
    start: usize,
    end: usize,
    freq_bits: u32,
    doc_bits: u32,
    pos_bits: u32,
    doc_base: u64,
    pos_base: u64,
    num_terms: u32,
}

impl Infos {
    /// Parses the info section at `section` of `payload` (at `base` in
    /// `file`), of a block of `num_terms` terms: widths in range, and the
    /// packed bits exactly the rest of the section.
    pub fn parse(
        file: &str,
        base: u64,
        payload: &[u8],
        section: Range<usize>,
        num_terms: u32,
    ) -> Result<Self> {
        let start = section.start;
        let data = payload
            .get(section)
            .ok_or_else(|| StoreError::corrupt(file, base + start as u64, 0, 0, "info section"))?;
        let mut r = ByteReader::new(file, base + start as u64, data);
        let (freq_bits, doc_bits, pos_bits) = (r.u8()? as u32, r.u8()? as u32, r.u8()? as u32);
        if !(1..=32).contains(&freq_bits) || doc_bits > 64 || pos_bits > 64 {
            return Err(r.err_at(0, "info bit widths out of range"));
        }
        let doc_base = r.vint()?;
        let pos_base = r.vint()?;
        let stride = (freq_bits + doc_bits + pos_bits) as u64;
        let need = (num_terms as u64 * stride).div_ceil(8);
        if need != r.remaining() as u64 {
            return Err(r.err_value(need, r.remaining() as u64, "packed infos length"));
        }
        Ok(Infos {
            start: start + r.pos(),
            end: start + data.len(),
            freq_bits,
            doc_bits,
            pos_bits,
            doc_base,
            pos_base,
            num_terms,
        })
    }

    /// The info of term `j` of the block; `None` when `j` is out of range
    /// or the stored document frequency is 0.
    #[inline]
    pub fn get(&self, payload: &[u8], j: usize) -> Option<TermInfo> {
        if j >= self.num_terms as usize {
            return None;
        }
        let data = payload.get(self.start..self.end)?;
        let stride = (self.freq_bits + self.doc_bits + self.pos_bits) as usize;
        let bit = j.checked_mul(stride)?;
        let doc_freq = bits_at(data, bit, self.freq_bits) as u32;
        let bit = bit + self.freq_bits as usize;
        let doc = bits_at(data, bit, self.doc_bits);
        let pos = bits_at(data, bit + self.doc_bits as usize, self.pos_bits);
        (doc_freq != 0).then_some(TermInfo {
            doc_freq,
            doc_off: self.doc_base.wrapping_add(doc),
            pos_off: self.pos_base.wrapping_add(pos),
        })
    }

    /// Payload offset of the packed bits (for errors).
    pub fn start(&self) -> usize {
        self.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn info() -> impl Strategy<Value = TermInfo> {
        (1u32.., any::<u64>(), any::<u64>(), 0u32..64)
            .prop_map(|(doc_freq, d, p, shift)| TermInfo {
                doc_freq: doc_freq >> (shift % 32),
                doc_off: d >> shift,
                pos_off: p >> shift,
            })
            .prop_filter("doc_freq ≥ 1", |i| i.doc_freq > 0)
    }

    proptest! {
        #[test]
        fn infos_read_as_written(infos in proptest::collection::vec(info(), 1..40)) {
            let mut w = ByteWriter::new();
            w.bytes(b"xx");
            write_infos(&mut w, &infos);
            let len = w.len();
            let parsed = Infos::parse("t", 0, &w.buf, 2..len, infos.len() as u32).unwrap();
            for (j, i) in infos.iter().enumerate() {
                prop_assert_eq!(parsed.get(&w.buf, j), Some(*i));
            }
            prop_assert_eq!(parsed.get(&w.buf, infos.len()), None);
            // Another term count, or the section cut or extended: an error.
            prop_assert!(Infos::parse("t", 0, &w.buf, 2..len - 1, infos.len() as u32).is_err());
            prop_assert!(Infos::parse("t", 0, &w.buf, 2..len, infos.len() as u32 + 9).is_err());
        }
    }

    #[test]
    fn small_offsets_pack_small() {
        let infos: Vec<TermInfo> = (0..32u64)
            .map(|i| TermInfo {
                doc_freq: 1 + (i % 4) as u32,
                doc_off: 1000 + i * 10,
                pos_off: 5000 + i * 20,
            })
            .collect();
        let mut w = ByteWriter::new();
        write_infos(&mut w, &infos);
        // 3 widths, two 2-byte bases, 32 × (3 + 9 + 10) bits.
        assert_eq!(w.len(), 3 + 2 + 2 + 88);
    }
}
