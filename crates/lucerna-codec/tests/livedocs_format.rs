//! Live docs: roundtrips, validation at open and corruption handling.

use lucerna_codec::livedocs::LiveDocs;
use proptest::prelude::*;
use std::collections::BTreeSet;

mod harness;
use harness::*;
use lucerna_store::{Directory, FileSlice, RamDirectory};

const SEG: [u8; 16] = [5; 16];

fn decode_all(data: FileSlice) -> lucerna_store::Result<()> {
    let l = LiveDocs::from_slice("f", data, &SEG, 3, 130)?;
    let live: u32 = l.iter_live().count() as u32;
    assert_eq!(live, l.num_live());
    for d in 0..l.max_doc().saturating_add(2) {
        std::hint::black_box(l.is_live(d));
    }
    Ok(())
}

proptest! {
    #[test]
    fn roundtrip(max_doc in 0u32..400, deletes in proptest::collection::vec(any::<u32>(), 0..100), gen in any::<u64>()) {
        let mut live = LiveDocs::all(max_doc);
        prop_assert_eq!(live.num_live(), max_doc);
        let mut deleted = BTreeSet::new();
        for d in deletes {
            let d = if max_doc > 0 { d % (max_doc + 1) } else { d % 2 };
            let was = live.delete(d);
            prop_assert_eq!(was, d < max_doc && deleted.insert(d));
        }
        prop_assert_eq!(live.num_deleted() as usize, deleted.len());
        let dir = RamDirectory::new();
        live.write(&dir, "l", &SEG, gen).unwrap();
        let back = LiveDocs::open(&dir, "l", &SEG, gen, max_doc).unwrap();
        prop_assert_eq!(&back, &live);
        prop_assert!(LiveDocs::open(&dir, "l", &SEG, gen, max_doc + 1).unwrap_err().is_corrupt());
        for d in 0..max_doc + 64 {
            prop_assert_eq!(back.is_live(d), d < max_doc && !deleted.contains(&d));
        }
        let expected: Vec<u32> = (0..max_doc).filter(|d| !deleted.contains(d)).collect();
        prop_assert_eq!(back.iter_live().collect::<Vec<_>>(), expected);
        // The wrong generation is refused.
        prop_assert!(LiveDocs::open(&dir, "l", &SEG, gen.wrapping_add(1), max_doc).unwrap_err().is_corrupt());
    }

    #[test]
    fn random_payload_never_panics(payload in proptest::collection::vec(any::<u8>(), 0..64)) {
        let header = lucerna_store::EnvelopeHeader::new("livedocs", 1, SEG, "");
        decode_random_payload(&header, &payload, 4096, &decode_all);
    }
}

#[test]
fn all_has_no_trailing_bits() {
    for max_doc in [0u32, 1, 63, 64, 65, 127, 128, 1000] {
        let l = LiveDocs::all(max_doc);
        assert_eq!(l.words().len(), (max_doc as usize).div_ceil(64));
        let ones: u32 = l.words().iter().map(|w| w.count_ones()).sum();
        assert_eq!(ones, max_doc);
        assert!(!l.is_live(max_doc));
    }
}

/// Builds a file with a valid envelope around a hand-made payload.
fn with_payload(payload: &[u8]) -> FileSlice {
    let header = lucerna_store::EnvelopeHeader::new("livedocs", 1, SEG, "");
    envelope_file(&RamDirectory::new(), "x", &header, payload)
}

#[test]
fn validation_at_open() {
    let good = |max_doc: u32, live: u32, word: u64| {
        let mut p = Vec::new();
        p.extend_from_slice(&max_doc.to_le_bytes());
        p.extend_from_slice(&live.to_le_bytes());
        p.extend_from_slice(&3u64.to_le_bytes());
        p.extend_from_slice(&word.to_le_bytes());
        p
    };
    assert!(LiveDocs::from_slice("x", with_payload(&good(10, 10, 0x3ff)), &SEG, 3, 10).is_ok());
    // Live count differs from the popcount.
    let e = LiveDocs::from_slice("x", with_payload(&good(10, 9, 0x3ff)), &SEG, 3, 10).unwrap_err();
    assert!(e.is_corrupt(), "{e}");
    // A bit set past max_doc.
    let e = LiveDocs::from_slice("x", with_payload(&good(10, 10, 0x7fe)), &SEG, 3, 10).unwrap_err();
    assert!(e.to_string().contains("past max_doc"), "{e}");
    // Bitset too long / too short for max_doc.
    assert!(LiveDocs::from_slice("x", with_payload(&good(65, 10, 0x3ff)), &SEG, 3, 65).is_err());
    assert!(LiveDocs::from_slice("x", with_payload(&good(0, 0, 0)), &SEG, 3, 0).is_err());
    // More live than max_doc.
    assert!(LiveDocs::from_slice("x", with_payload(&good(10, 11, 0x3ff)), &SEG, 3, 10).is_err());
}

#[test]
fn corruption() {
    let dir = RamDirectory::new();
    let mut l = LiveDocs::all(130);
    for d in [0, 5, 64, 129] {
        l.delete(d);
    }
    l.write(&dir, "l", &SEG, 3).unwrap();
    let file = dir.open("l").unwrap().to_vec();
    let s = corruption_sweep(&file, 4096, &decode_all);
    eprintln!("corruption sweep: {s:?}");
    // Any flip of a bitset bit breaks the popcount, of a count breaks the
    // count check: every single flip of the payload is refused.
    assert_eq!(s.flips_decoded_ok, 0, "{s:?}");
}
