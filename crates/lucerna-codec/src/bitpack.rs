//! Fixed-width bit packing of blocks of [`BLOCK`] (128) `u32` values, the
//! unit of postings encoding.
//!
//! A block of width `b` (0 ..= 32) takes exactly `16 × b` bytes: value `i`
//! occupies bits `i·b .. (i+1)·b` of a little-endian bit stream. Width 0
//! encodes a block of zeros in no bytes.
//!
//! ```
//! use lucerna_codec::bitpack::{bits_needed, pack, unpack, BLOCK};
//! let vals: Vec<u32> = (0..BLOCK as u32).map(|i| i * 3 % 17).collect();
//! let b = bits_needed(&vals);
//! assert_eq!(b, 5);
//! let mut out = Vec::new();
//! pack(&vals, b, &mut out);
//! assert_eq!(out.len(), 16 * b as usize);
//! let mut back = [0u32; BLOCK];
//! unpack(&out, b, &mut back);
//! assert_eq!(&back[..], &vals[..]);
//! ```

/// Values per packed block.
pub const BLOCK: usize = 128;

/// Bytes of a packed block of width `bits`.
#[inline]
pub const fn packed_len(bits: u8) -> usize {
    16 * bits as usize
}

/// The smallest width that holds every value of `vals`.
#[inline]
pub fn bits_needed(vals: &[u32]) -> u8 {
    let or = vals.iter().fold(0u32, |a, &v| a | v);
    (32 - or.leading_zeros()) as u8
}

/// Appends the [`BLOCK`] values of `vals` packed at width `bits` to `out`.
///
/// # Panics
/// Only on caller error: `vals.len() != BLOCK` or `bits > 32` (never on
/// data from disk).
pub fn pack(vals: &[u32], bits: u8, out: &mut Vec<u8>) {
    assert_eq!(vals.len(), BLOCK, "pack takes exactly one block");
    assert!(bits <= 32, "width above 32 bits");
    if bits == 0 {
        return;
    }
    let mut acc: u64 = 0;
    let mut nacc: u32 = 0;
    for &v in vals {
        acc |= (v as u64) << nacc;
        nacc += bits as u32;
        while nacc >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            nacc -= 8;
        }
    }
    debug_assert_eq!(nacc, 0, "16 × bits bytes always end on a byte");
}

#[inline(always)]
fn unpack_from<const B: usize>(buf: &[u8], out: &mut [u32; BLOCK]) {
    let mask: u64 = if B == 32 {
        u32::MAX as u64
    } else {
        (1u64 << B) - 1
    };
    for (i, o) in out.iter_mut().enumerate() {
        let bit = i * B;
        let byte = bit >> 3;
        let mut w = [0u8; 8];
        w.copy_from_slice(&buf[byte..byte + 8]);
        *o = ((u64::from_le_bytes(w) >> (bit & 7)) & mask) as u32;
    }
}

#[inline(always)]
fn unpack_width<const B: usize>(src: &[u8], out: &mut [u32; BLOCK]) {
    // Every 8-byte window read ends at most 8 bytes past the block: read
    // in place when the source has them (bytes past the block are masked
    // out), else from a zero-padded copy.
    if src.len() >= 16 * B + 8 {
        unpack_from::<B>(src, out);
    } else {
        let mut buf = [0u8; 16 * 32 + 8];
        buf[..16 * B].copy_from_slice(&src[..16 * B]);
        unpack_from::<B>(&buf, out);
    }
}

/// Unpacks one block of width `bits` from the first `16 × bits` bytes of
/// `src` into `out`. `src` may extend past the block (it is faster when at
/// least 8 more bytes follow); those bytes do not affect the result.
///
/// # Panics
/// Only on caller error: `bits > 32` or `src` shorter than
/// [`packed_len(bits)`](packed_len); decoders check both against the file
/// first.
pub fn unpack(src: &[u8], bits: u8, out: &mut [u32; BLOCK]) {
    macro_rules! widths {
        ($($w:literal)*) => {
            match bits {
                0 => out.fill(0),
                $($w => unpack_width::<$w>(src, out),)*
                _ => panic!("width above 32 bits"),
            }
        };
    }
    widths!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn roundtrip(vals in proptest::collection::vec(any::<u32>(), BLOCK), shift in 0u32..32) {
            let vals: Vec<u32> = vals.iter().map(|v| v >> shift).collect();
            let b = bits_needed(&vals);
            let mut out = Vec::new();
            pack(&vals, b, &mut out);
            prop_assert_eq!(out.len(), packed_len(b));
            let mut back = [0u32; BLOCK];
            unpack(&out, b, &mut back);
            prop_assert_eq!(&back[..], &vals[..]);
        }
    }

    #[test]
    fn every_width_roundtrips_its_maximum() {
        for b in 0..=32u8 {
            let max = if b == 32 { u32::MAX } else { (1u32 << b) - 1 };
            let vals: Vec<u32> = (0..BLOCK as u32)
                .map(|i| if i % 3 == 0 { max } else { i & max })
                .collect();
            assert_eq!(bits_needed(&vals), b);
            let mut out = Vec::new();
            pack(&vals, b, &mut out);
            let mut back = [7u32; BLOCK];
            unpack(&out, b, &mut back);
            assert_eq!(&back[..], &vals[..], "width {b}");
        }
    }
}
