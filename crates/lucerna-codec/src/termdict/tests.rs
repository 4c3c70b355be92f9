//! Model tests of the term dictionary and its behaviour on forged bytes.

use super::*;
use crate::postings::TermInfo;
use lucerna_store::{Directory, EnvelopeHeader, EnvelopeWriter, RamDirectory, Result};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::ops::Bound;

const SEG: [u8; 16] = [9; 16];

fn write(dir: &dyn Directory, name: &str, terms: &BTreeMap<Vec<u8>, TermInfo>) {
    let mut w = TermDictWriter::new(dir, SEG, name).unwrap();
    for (k, v) in terms {
        w.insert(k, v).unwrap();
    }
    assert_eq!(w.num_terms(), terms.len() as u64);
    w.finish().unwrap();
}

fn collect(it: Result<TermIter>) -> Result<Vec<(Vec<u8>, TermInfo)>> {
    it?.collect()
}

fn in_bounds(k: &[u8], lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> bool {
    let above = match lo {
        Bound::Included(l) => k >= l.as_slice(),
        Bound::Excluded(l) => k > l.as_slice(),
        Bound::Unbounded => true,
    };
    let below = match hi {
        Bound::Included(h) => k <= h.as_slice(),
        Bound::Excluded(h) => k < h.as_slice(),
        Bound::Unbounded => true,
    };
    above && below
}

fn as_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(k) => Bound::Included(k),
        Bound::Excluded(k) => Bound::Excluded(k),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// Keys over a small alphabet, so they share prefixes and blocks fill up.
fn key() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![Just(0u8), Just(b'a'), Just(b'b'), Just(0xff)],
        0..10,
    )
}

fn info() -> impl Strategy<Value = TermInfo> {
    (1u32.., any::<u64>(), any::<u64>()).prop_map(|(doc_freq, doc_off, pos_off)| TermInfo {
        doc_freq,
        doc_off,
        pos_off,
    })
}

fn bound() -> impl Strategy<Value = Bound<Vec<u8>>> {
    prop_oneof![
        key().prop_map(Bound::Included),
        key().prop_map(Bound::Excluded),
        Just(Bound::Unbounded),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn agrees_with_a_btreemap(
        terms in proptest::collection::btree_map(key(), info(), 0..400),
        probes in proptest::collection::vec(key(), 0..60),
        ranges in proptest::collection::vec((bound(), bound()), 0..12),
    ) {
        let dir = RamDirectory::new();
        write(&dir, "t", &terms);
        let d = TermDict::open(&dir, "t", SEG).unwrap();
        prop_assert_eq!(d.num_terms(), terms.len() as u64);
        for (k, v) in &terms {
            prop_assert_eq!(d.get(k).unwrap(), Some(*v));
        }
        for p in &probes {
            prop_assert_eq!(d.get(p).unwrap(), terms.get(p).copied());
        }
        let all: Vec<_> = terms.iter().map(|(k, v)| (k.clone(), *v)).collect();
        prop_assert_eq!(&collect(d.prefix(b"")).unwrap(), &all);
        prop_assert_eq!(&collect(d.range(Bound::Unbounded, Bound::Unbounded)).unwrap(), &all);
        // Prefixes: probes, and every prefix of a few keys.
        let mut prefixes = probes.clone();
        for k in terms.keys().step_by(37) {
            prefixes.extend((0..=k.len()).map(|n| k[..n].to_vec()));
        }
        for p in &prefixes {
            let want: Vec<_> = all.iter().filter(|(k, _)| k.starts_with(p)).cloned().collect();
            prop_assert_eq!(collect(d.prefix(p)).unwrap(), want, "prefix {:?}", p);
        }
        for (lo, hi) in &ranges {
            let want: Vec<_> = all.iter().filter(|(k, _)| in_bounds(k, lo, hi)).cloned().collect();
            let got = collect(d.range(as_ref(lo), as_ref(hi))).unwrap();
            prop_assert_eq!(got, want, "range {:?}..{:?}", lo, hi);
        }
    }

    #[test]
    fn random_payloads_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..200)) {
        check_payload(&payload, &[]);
    }
}

fn info_n(i: u64) -> TermInfo {
    TermInfo {
        doc_freq: 1 + (i % 7) as u32,
        doc_off: 1 + i * 13,
        pos_off: i * 29,
    }
}

#[test]
fn empty_dictionary() {
    let dir = RamDirectory::new();
    write(&dir, "t", &BTreeMap::new());
    let d = TermDict::open(&dir, "t", SEG).unwrap();
    assert_eq!(d.num_terms(), 0);
    assert_eq!(d.get(b"").unwrap(), None);
    assert_eq!(d.get(b"x").unwrap(), None);
    assert!(collect(d.prefix(b"")).unwrap().is_empty());
}

#[test]
fn empty_and_long_keys() {
    let mut terms = BTreeMap::new();
    terms.insert(Vec::new(), info_n(0));
    for i in 0..40u64 {
        // Long keys close blocks by size before they reach BLOCK_TERMS.
        let mut k = vec![b'a' + i as u8];
        k.extend(std::iter::repeat_n(b'k', 1000 + i as usize));
        terms.insert(k, info_n(i + 1));
    }
    let max = vec![0xffu8; MAX_KEY_LEN];
    terms.insert(max.clone(), info_n(99));
    let dir = RamDirectory::new();
    write(&dir, "t", &terms);
    let d = TermDict::open(&dir, "t", SEG).unwrap();
    assert!(d.num_blocks() > 2, "blocks cut by size");
    for (k, v) in &terms {
        assert_eq!(d.get(k).unwrap(), Some(*v));
    }
    let all = collect(d.prefix(b"")).unwrap();
    assert_eq!(all.len(), terms.len());
    assert_eq!(d.get(&[0xff; MAX_KEY_LEN + 1]).unwrap(), None);

    let mut w = TermDictWriter::new(&dir, SEG, "u").unwrap();
    assert!(w.insert(&vec![0; MAX_KEY_LEN + 1], &info_n(0)).is_err());
}

/// A small dictionary of several blocks: keys with shared prefixes.
fn small_terms() -> BTreeMap<Vec<u8>, TermInfo> {
    let words = ["", "a", "ab", "abc", "abd", "b", "ba", "bab", "c", "zz"];
    let mut terms = BTreeMap::new();
    let mut i = 0;
    for field in 0u8..3 {
        for w in words {
            for n in 0..3u8 {
                let mut k = vec![field];
                k.extend_from_slice(w.as_bytes());
                if n > 0 {
                    k.push(b'0' + n);
                }
                terms.insert(k, info_n(i));
                i += 1;
            }
        }
    }
    terms
}

/// The payload of `terms`' dictionary file.
fn payload_of(terms: &BTreeMap<Vec<u8>, TermInfo>) -> Vec<u8> {
    let dir = RamDirectory::new();
    write(&dir, "t", terms);
    let env = lucerna_store::EnvelopeReader::open(&dir, "t").unwrap();
    env.payload().to_vec()
}

/// How far a forged payload got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Outcome {
    OpenFailed,
    IterationFailed,
    Read,
}

/// Wraps `payload` in a valid envelope (a forged file: its CRC matches)
/// and reads it every way. Must not panic; when open and a full iteration
/// succeed, lookups and prefix iterations must agree with the iteration.
fn check_payload(payload: &[u8], probes: &[Vec<u8>]) -> Outcome {
    let dir = RamDirectory::new();
    let header = EnvelopeHeader::new(FORMAT, VERSION, SEG, "");
    let mut w = EnvelopeWriter::create(&dir, "t", &header).unwrap();
    w.write_all(payload).unwrap();
    w.finish().unwrap();
    let Ok(d) = TermDict::open(&dir, "t", SEG) else {
        return Outcome::OpenFailed;
    };
    for p in probes {
        let _ = d.get(p);
        let _ = d.prefix(p).map(|it| it.take(100).count());
        let _ = d
            .range(Bound::Excluded(p), Bound::Unbounded)
            .map(|it| it.take(100).count());
    }
    let Ok(all) = collect(d.prefix(b"")) else {
        return Outcome::IterationFailed;
    };
    assert_eq!(
        all.len() as u64,
        d.num_terms(),
        "iteration yields num_terms"
    );
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0), "keys increase");
    for (k, v) in &all {
        assert_eq!(
            d.get(k).ok(),
            Some(Some(*v)),
            "lookup of {k:?} agrees with iteration"
        );
        let p = &k[..k.len().min(2)];
        let want: Vec<_> = all
            .iter()
            .filter(|(k, _)| k.starts_with(p))
            .cloned()
            .collect();
        assert_eq!(
            collect(d.prefix(p)).ok(),
            Some(want),
            "prefix {p:?} agrees with iteration"
        );
    }
    Outcome::Read
}

#[test]
fn every_bit_flip_and_truncation_of_the_payload() {
    let terms = small_terms();
    let payload = payload_of(&terms);
    assert!(payload.len() < 4096);
    let probes: Vec<Vec<u8>> = terms
        .keys()
        .cloned()
        .chain([vec![], vec![0xff; 3], b"\x01abz".to_vec()])
        .collect();
    // The original reads back.
    assert_eq!(check_payload(&payload, &probes), Outcome::Read);
    let mut flips = std::collections::HashMap::new();
    for byte in 0..payload.len() {
        for bit in 0..8 {
            let mut m = payload.clone();
            m[byte] ^= 1 << bit;
            let r = std::panic::catch_unwind(|| check_payload(&m, &probes));
            match r {
                Ok(o) => *flips.entry(o).or_insert(0) += 1,
                Err(_) => panic!("panic with bit {bit} of payload byte {byte} flipped"),
            }
        }
    }
    let mut truncations = std::collections::HashMap::new();
    for len in 0..payload.len() {
        let r = std::panic::catch_unwind(|| check_payload(&payload[..len], &probes));
        match r {
            Ok(o) => *truncations.entry(o).or_insert(0) += 1,
            Err(_) => panic!("panic with the payload truncated to {len} bytes"),
        }
    }
    eprintln!(
        "{} terms, payload {} bytes; flips: {flips:?}; truncations: {truncations:?}",
        terms.len(),
        payload.len()
    );
    // Every truncation changes a length the index accounts for.
    assert_eq!(truncations.get(&Outcome::OpenFailed), Some(&payload.len()));
}

#[test]
fn forged_header_fields_are_errors() {
    let terms = small_terms();
    let payload = payload_of(&terms);
    let fields: [(usize, &[u8]); 6] = [
        (0, &u64::MAX.to_le_bytes()),
        (0, &0u64.to_le_bytes()),
        (8, &u32::MAX.to_le_bytes()),
        (8, &0u32.to_le_bytes()),
        (12, &u64::MAX.to_le_bytes()),
        (12, &0u64.to_le_bytes()),
    ];
    for (at, bytes) in fields {
        let mut m = payload.clone();
        m[at..at + bytes.len()].copy_from_slice(bytes);
        let dir = RamDirectory::new();
        let header = EnvelopeHeader::new(FORMAT, VERSION, SEG, "");
        let mut w = EnvelopeWriter::create(&dir, "t", &header).unwrap();
        w.write_all(&m).unwrap();
        w.finish().unwrap();
        let e = TermDict::open(&dir, "t", SEG).unwrap_err();
        assert!(e.is_corrupt(), "{at}: {e}");
    }
}

#[test]
fn version_1_files_are_rejected() {
    // An intact file of a format version this build no longer reads is an
    // incompatibility (with the remedy), never corruption.
    let dir = RamDirectory::new();
    let header = EnvelopeHeader::new(FORMAT, 1, SEG, "");
    let mut w = EnvelopeWriter::create(&dir, "t", &header).unwrap();
    w.write_all(&[0; 64]).unwrap();
    w.finish().unwrap();
    let e = TermDict::open(&dir, "t", SEG).unwrap_err();
    assert!(e.is_incompatible() && !e.is_corrupt(), "{e}");
    assert!(e.to_string().contains("older Lucerna"), "{e}");
}
