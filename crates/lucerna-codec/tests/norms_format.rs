//! Norms: the Lucene `SmallFloat.intToByte4` encoding, file roundtrips and
//! corruption handling.

use lucerna_codec::norms::{
    length_to_norm, norm_to_length, NormsReader, NormsWriter, NORM_TO_LENGTH, NUM_FREE_VALUES,
};
use proptest::prelude::*;

mod harness;
use harness::*;
use lucerna_store::Directory;

const SEG: [u8; 16] = [9; 16];

/// A reference implementation written independently from the crate's, from
/// the description of Lucene's algorithm (4 significant bits after 24 free
/// values), used to cross-check every length in a sample.
fn reference_encode(len: u32) -> u8 {
    let len = len.min(i32::MAX as u32) as u64;
    if len < 24 {
        return len as u8;
    }
    let x = len - 24;
    if x < 8 {
        return (24 + x) as u8;
    }
    let mut exp = 0u64;
    let mut m = x;
    while m >= 16 {
        m >>= 1;
        exp += 1;
    }
    // m in 8..16: mantissa with implicit leading bit.
    (24 + (exp + 1) * 8 + (m - 8)) as u8
}

#[test]
fn num_free_values_is_lucenes() {
    assert_eq!(NUM_FREE_VALUES, 24);
}

#[test]
fn known_values() {
    // (length, norm byte, decoded length), computed from Lucene's algorithm.
    let table: &[(u32, u8, u32)] = &[
        (41, 40, 40),
        (42, 41, 42),
        (43, 41, 42),
        (47, 43, 46),
        (48, 44, 48),
        (100, 57, 96),
        (255, 70, 248),
        (1000, 87, 984),
        (4096, 103, 3864),
        (1_000_000, 167, 983_064),
        (i32::MAX as u32, 255, 2_013_265_944),
        (u32::MAX, 255, 2_013_265_944),
    ];
    for &(len, byte, decoded) in table {
        assert_eq!(length_to_norm(len), byte, "length {len}");
        assert_eq!(norm_to_length(byte), decoded, "byte {byte}");
    }
    // Lossless up to 40.
    for len in 0..=40u32 {
        assert_eq!(length_to_norm(len) as u32, len, "length {len}");
        assert_eq!(norm_to_length(length_to_norm(len)), len, "length {len}");
    }
    // Every 17th entry of the decode table.
    let sampled: Vec<u32> = (0..256).step_by(17).map(|b| NORM_TO_LENGTH[b]).collect();
    assert_eq!(
        sampled,
        [
            0, 17, 34, 68, 216, 856, 3608, 15384, 65560, 294936, 1310744, 5767192, 25165848,
            109051928, 469762072, 2013265944
        ]
    );
}

#[test]
fn table_is_consistent_and_monotone() {
    for b in 0..=255u8 {
        assert_eq!(NORM_TO_LENGTH[b as usize], norm_to_length(b));
        // Decoding then encoding is the identity on bytes.
        assert_eq!(length_to_norm(norm_to_length(b)), b, "byte {b}");
        if b > 0 {
            assert!(NORM_TO_LENGTH[b as usize] > NORM_TO_LENGTH[b as usize - 1]);
        }
    }
    let mut prev = 0u8;
    for len in 0..100_000u32 {
        let n = length_to_norm(len);
        assert!(n >= prev, "not monotone at {len}");
        assert!(norm_to_length(n) <= len);
        assert_eq!(n, reference_encode(len), "length {len}");
        prev = n;
    }
}

proptest! {
    #[test]
    fn encoding_matches_reference(len in any::<u32>()) {
        let n = length_to_norm(len);
        prop_assert_eq!(n, reference_encode(len));
        prop_assert!(norm_to_length(n) <= len);
        // Rounds down to the largest representable length <= len.
        if n < 255 {
            prop_assert!(norm_to_length(n + 1) > len.min(i32::MAX as u32));
        }
    }

    #[test]
    fn monotone(a in any::<u32>(), b in any::<u32>()) {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        prop_assert!(length_to_norm(lo) <= length_to_norm(hi));
    }

    #[test]
    fn file_roundtrip(
        max_doc in 0u32..200,
        fields in proptest::collection::btree_set(0u32..1000, 0..5),
        seed in any::<u64>(),
    ) {
        let dir = lucerna_store::RamDirectory::new();
        let mut w = NormsWriter::new(max_doc);
        let mut expected = Vec::new();
        for (i, &f) in fields.iter().enumerate() {
            let lengths: Vec<u32> = (0..max_doc)
                .map(|d| (seed.rotate_left(d + i as u32) as u32) % 5000)
                .collect();
            w.add_lengths(f, &lengths).unwrap();
            expected.push((f, lengths));
        }
        w.write(&dir, "n", &SEG, "").unwrap();
        let r = NormsReader::open(&dir, "n", &SEG).unwrap();
        prop_assert_eq!(r.max_doc(), max_doc);
        prop_assert_eq!(r.fields().collect::<Vec<_>>(), fields.iter().copied().collect::<Vec<_>>());
        for (f, lengths) in &expected {
            let fnorms = r.field(*f).unwrap();
            prop_assert_eq!(fnorms.as_bytes().len(), max_doc as usize);
            for (d, &l) in lengths.iter().enumerate() {
                prop_assert_eq!(r.get(*f, d as u32), length_to_norm(l));
                prop_assert_eq!(fnorms.length(d as u32), norm_to_length(length_to_norm(l)));
            }
            prop_assert_eq!(fnorms.get(max_doc), 0);
        }
        prop_assert!(r.field(1000).is_none());
        prop_assert_eq!(r.get(1000, 0), 0);
    }

    #[test]
    fn random_payload_never_panics(payload in proptest::collection::vec(any::<u8>(), 0..64)) {
        let header = lucerna_store::EnvelopeHeader::new("norms", 1, SEG, "");
        decode_random_payload(&header, &payload, 4096, &decode_all);
    }
}

fn decode_all(data: lucerna_store::FileSlice) -> lucerna_store::Result<()> {
    let r = NormsReader::from_slice("f", data, &SEG)?;
    let fields: Vec<u32> = r.fields().collect();
    for f in fields {
        let n = r.field(f).unwrap();
        for d in 0..r.max_doc().min(1000) {
            std::hint::black_box(n.get(d));
        }
        std::hint::black_box(r.get(f, r.max_doc().wrapping_sub(1)));
    }
    Ok(())
}

#[test]
fn corruption() {
    let dir = lucerna_store::RamDirectory::new();
    let mut w = NormsWriter::new(5);
    w.add_lengths(1, &[0, 3, 40, 1000, 7]).unwrap();
    w.add_field(4, &[1, 2, 3, 4, 5]).unwrap();
    w.write(&dir, "n", &SEG, "").unwrap();
    let file = dir.open("n").unwrap().to_vec();
    let s = corruption_sweep(&file, 4096, &decode_all);
    eprintln!("corruption sweep: {s:?}");
    assert!(s.flips > 0 && s.truncations > 0);
}

#[test]
fn writer_rejects_bad_input() {
    let mut w = NormsWriter::new(3);
    assert!(w.add_field(0, &[1, 2]).is_err());
    w.add_field(0, &[1, 2, 3]).unwrap();
    assert!(w.add_lengths(0, &[1, 2, 3]).is_err());
}

#[test]
fn wrong_segment_or_format_is_rejected() {
    let dir = lucerna_store::RamDirectory::new();
    NormsWriter::new(1).write(&dir, "n", &SEG, "").unwrap();
    assert!(NormsReader::open(&dir, "n", &[0; 16])
        .unwrap_err()
        .is_corrupt());
    let r = NormsReader::open(&dir, "n", &SEG).unwrap();
    assert_eq!(r.fields().count(), 0);
    assert!(lucerna_codec::ColumnsReader::open(&dir, "n", &SEG).is_err());
}

#[test]
#[should_panic(expected = "allocated")]
fn harness_detects_large_allocations() {
    decode_bounded("self-test", vec![0; 8], 1024, &|_| {
        std::hint::black_box(vec![0u8; 1 << 20]);
        Ok(())
    });
}

#[test]
#[should_panic(expected = "panicked")]
fn harness_detects_panics() {
    decode_bounded("self-test", vec![0; 8], 1024, &|_| panic!("boom"));
}
