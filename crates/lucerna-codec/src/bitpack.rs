//! Fixed-width bit packing of blocks of [`BLOCK`] (128) `u32` values, the
//! unit of postings encoding, in two layouts. Both take exactly `16 × b`
//! bytes for a block of width `b` (0 ..= 32); width 0 encodes a block of
//! zeros in no bytes.
//!
//! * Sequential ([`pack`], [`unpack`]; postings version 1): value `i`
//!   occupies bits `i·b .. (i+1)·b` of a little-endian bit stream. Our own
//!   scalar code.
//! * Four lanes ([`pack4`], [`unpack4`], [`unpack4_sorted`]; postings
//!   version 2): the layout of the `bitpacking` crate's `BitPacker4x`
//!   (simdcomp's), which decodes with SSE3 where the CPU has it (detected at
//!   run time) and with scalar code elsewhere. Value `i` belongs to lane
//!   `i mod 4`; each lane packs its 32 values as a little-endian bit stream
//!   of `b` 32-bit words, and word `w` of lane `l` is the little-endian
//!   `u32` at index `4·w + l` of the block.
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

use bitpacking::{BitPacker, BitPacker4x};

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
    pack_bits(vals, bits, out);
}

/// Appends any number of values packed at width `bits` in the sequential
/// layout, in `⌈len·bits / 8⌉` bytes (the last byte's high bits zero);
/// values wider than `bits` lose their high bits.
///
/// # Panics
/// Only on caller error: `bits > 32`.
pub fn pack_bits(vals: &[u32], bits: u8, out: &mut Vec<u8>) {
    assert!(bits <= 32, "width above 32 bits");
    if bits == 0 {
        return;
    }
    let mask = (1u64 << bits) - 1;
    let mut acc: u64 = 0;
    let mut nacc: u32 = 0;
    for &v in vals {
        acc |= (v as u64 & mask) << nacc;
        nacc += bits as u32;
        while nacc >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            nacc -= 8;
        }
    }
    if nacc > 0 {
        out.push(acc as u8);
    }
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

/// Appends the [`BLOCK`] values of `vals` packed at width `bits` in the
/// four-lane layout to `out`.
///
/// # Panics
/// Only on caller error: `vals.len() != BLOCK`, `bits > 32`, or a value
/// wider than `bits`.
pub fn pack4(vals: &[u32], bits: u8, out: &mut Vec<u8>) {
    assert_eq!(vals.len(), BLOCK, "pack takes exactly one block");
    assert!(bits <= 32, "width above 32 bits");
    debug_assert!(bits_needed(vals) <= bits, "a value wider than the block");
    let start = out.len();
    out.resize(start + packed_len(bits), 0);
    let n = BitPacker4x::new().compress(vals, &mut out[start..], bits);
    debug_assert_eq!(n, packed_len(bits));
}

/// Unpacks one four-lane block of width `bits` from the first
/// `16 × bits` bytes of `src` into `out`.
///
/// # Panics
/// Only on caller error, as [`unpack`].
#[inline]
pub fn unpack4(src: &[u8], bits: u8, out: &mut [u32; BLOCK]) {
    assert!(bits <= 32, "width above 32 bits");
    BitPacker4x::new().decompress(&src[..packed_len(bits)], out, bits);
}

/// Unpacks one four-lane block of deltas and turns it into the running sum
/// from `initial` (wrapping at 2³²): `out[i] = initial + Σ deltas[..=i]`.
///
/// # Panics
/// Only on caller error, as [`unpack`].
#[inline]
pub fn unpack4_sorted(initial: u32, src: &[u8], bits: u8, out: &mut [u32; BLOCK]) {
    assert!(bits <= 32, "width above 32 bits");
    BitPacker4x::new().decompress_sorted(initial, &src[..packed_len(bits)], out, bits);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The four-lane layout written out bit by bit, as documented above:
    /// it pins the on-disk format independently of the crate.
    fn reference_pack4(vals: &[u32], bits: u8) -> Vec<u8> {
        let b = bits as usize;
        let mut words = vec![0u32; 4 * b];
        for (i, &v) in vals.iter().enumerate() {
            let (lane, j) = (i % 4, i / 4);
            for k in 0..b {
                if v >> k & 1 == 1 {
                    let bit = j * b + k;
                    words[4 * (bit / 32) + lane] |= 1 << (bit % 32);
                }
            }
        }
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

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

        #[test]
        fn four_lane_roundtrip_and_layout(
            vals in proptest::collection::vec(any::<u32>(), BLOCK),
            shift in 0u32..=32,
            initial in any::<u32>(),
        ) {
            let vals: Vec<u32> = vals.iter().map(|&v| v.checked_shr(shift).unwrap_or(0)).collect();
            let b = bits_needed(&vals);
            let mut out = vec![0xAA];
            pack4(&vals, b, &mut out);
            prop_assert_eq!(out.len(), 1 + packed_len(b));
            prop_assert_eq!(&out[1..], &reference_pack4(&vals, b)[..]);
            out.extend_from_slice(&[0x55; 8]);
            let mut back = [7u32; BLOCK];
            unpack4(&out[1..], b, &mut back);
            prop_assert_eq!(&back[..], &vals[..]);
            unpack4_sorted(initial, &out[1..], b, &mut back);
            let mut acc = initial;
            for (i, &v) in vals.iter().enumerate() {
                acc = acc.wrapping_add(v);
                prop_assert_eq!(back[i], acc);
            }
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
            // The four-lane layout, from a slice holding the block only.
            let mut out = Vec::new();
            pack4(&vals, b, &mut out);
            assert_eq!(out, reference_pack4(&vals, b), "width {b}");
            let mut back = [7u32; BLOCK];
            unpack4(&out, b, &mut back);
            assert_eq!(&back[..], &vals[..], "width {b}");
        }
    }
}
