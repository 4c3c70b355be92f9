//! Envelope integrity: every bit flip and every truncation is detected;
//! round trips; random bytes never panic.

use lucerna_store::rng::SplitMix64;
use lucerna_store::{
    Directory, EnvelopeHeader, EnvelopeReader, EnvelopeWriter, FileSlice, RamDirectory, StoreError,
};
use proptest::prelude::*;

fn build(payload: &[u8]) -> Vec<u8> {
    let dir = RamDirectory::new();
    let mut w = EnvelopeWriter::create(
        &dir,
        "f",
        &EnvelopeHeader::new("test-format", 3, [0xAB; 16], "sfx"),
    )
    .unwrap();
    // Stream in uneven chunks so the running CRC is exercised.
    for chunk in payload.chunks(997) {
        w.write_all(chunk).unwrap();
    }
    w.finish().unwrap();
    dir.open("f").unwrap().to_vec()
}

/// Opens and fully verifies; Ok only when both pass.
fn check(name: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
    let r = EnvelopeReader::open_checked(name, FileSlice::from_vec(bytes))?;
    r.verify_full()
}

fn assert_corrupt_naming(res: Result<(), StoreError>, name: &str, what: &str) {
    match res {
        Err(StoreError::Corrupt { file, .. }) => assert_eq!(file, name, "{what}"),
        Err(e) => panic!("{what}: expected Corrupt, got {e}"),
        Ok(()) => panic!("{what}: corruption went undetected"),
    }
}

fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = SplitMix64::new(seed);
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

#[test]
fn every_bit_flip_of_a_4k_file_is_detected() {
    let file = build(&payload(4096 - 60, 1));
    assert!(file.len() >= 4000);
    check("four-k", file.clone()).expect("pristine file verifies");
    let mut cases = 0u64;
    let mut bytes = file.clone();
    for pos in 0..bytes.len() {
        for bit in 0..8 {
            bytes[pos] ^= 1 << bit;
            assert_corrupt_naming(
                check("four-k", bytes.clone()),
                "four-k",
                &format!("flip byte {pos} bit {bit}"),
            );
            bytes[pos] ^= 1 << bit;
            cases += 1;
        }
    }
    println!("4 KiB file: {cases} single-bit flips, all detected");
}

#[test]
fn every_truncation_of_a_4k_file_is_detected() {
    let file = build(&payload(4096 - 60, 2));
    for len in 0..file.len() {
        assert_corrupt_naming(
            check("four-k", file[..len].to_vec()),
            "four-k",
            &format!("truncate to {len}"),
        );
    }
    println!("4 KiB file: {} truncations, all detected", file.len());
}

#[test]
fn seeded_bit_flips_of_a_1mib_file_are_detected() {
    let seed = 0x5EED_0001;
    let file = build(&payload(1 << 20, seed));
    let r = EnvelopeReader::open_checked("one-m", FileSlice::from_vec(file.clone())).unwrap();
    r.verify_full().unwrap();
    let mut rng = SplitMix64::new(seed);
    let mut bytes = file;
    for case in 0..20_000 {
        let pos = rng.below(bytes.len() as u64) as usize;
        let bit = rng.below(8) as u8;
        bytes[pos] ^= 1 << bit;
        // Detection must not depend on copying; use a shared slice view.
        let res = EnvelopeReader::open_checked("one-m", FileSlice::from_vec(bytes.clone()))
            .and_then(|r| r.verify_full());
        match res {
            Err(StoreError::Corrupt { file, .. }) => assert_eq!(file, "one-m"),
            other => panic!("seed {seed:#x} case {case}: flip {pos}/{bit} gave {other:?}"),
        }
        bytes[pos] ^= 1 << bit;
    }
    // Truncations at seeded lengths, too.
    for _ in 0..2_000 {
        let len = rng.below(bytes.len() as u64) as usize;
        assert_corrupt_naming(check("one-m", bytes[..len].to_vec()), "one-m", "truncation");
    }
}

#[test]
fn extension_is_detected() {
    let mut file = build(b"abc");
    file.extend_from_slice(&[0u8; 7]);
    assert_corrupt_naming(check("x", file), "x", "appended bytes");
}

#[test]
fn header_fields_and_expectations() {
    let file = build(b"payload");
    let r = EnvelopeReader::open_checked("f", FileSlice::from_vec(file)).unwrap();
    assert_eq!(r.header().format, "test-format");
    assert_eq!(r.header().version, 3);
    assert_eq!(r.header().id, [0xAB; 16]);
    assert_eq!(r.header().suffix, "sfx");
    assert!(r.expect_format("test-format", 1..=3).is_ok());
    // An intact file of another version or format is an incompatibility,
    // never corruption.
    let e = r.expect_format("test-format", 4..=5).unwrap_err();
    assert!(e.is_incompatible() && !e.is_corrupt(), "{e}");
    assert!(e.to_string().contains("older Lucerna"), "{e}");
    let e = r.expect_format("test-format", 1..=2).unwrap_err();
    assert!(e.to_string().contains("newer Lucerna"), "{e}");
    let e = r.expect_format("other", 1..=3).unwrap_err();
    assert!(e.is_incompatible() && !e.is_corrupt(), "{e}");
    // The same header with a damaged version is corrupt.
    let mut damaged = build(b"payload");
    let at = 5 + "test-format".len();
    damaged[at] ^= 4;
    let r = EnvelopeReader::open_checked("f", FileSlice::from_vec(damaged)).unwrap();
    assert!(r
        .expect_format("test-format", 1..=3)
        .unwrap_err()
        .is_corrupt());
    assert!(r.expect_id(&[0xAB; 16]).is_ok());
    assert!(r.expect_id(&[0; 16]).unwrap_err().is_corrupt());
}

#[test]
fn invalid_header_arguments_are_errors() {
    let dir = RamDirectory::new();
    let long = "x".repeat(65);
    for h in [
        EnvelopeHeader::new("", 1, [0; 16], ""),
        EnvelopeHeader::new(&long, 1, [0; 16], ""),
        EnvelopeHeader::new("ok", 1, [0; 16], &long),
        EnvelopeHeader::new("sp ace", 1, [0; 16], ""),
    ] {
        assert!(matches!(
            EnvelopeWriter::create(&dir, "f", &h),
            Err(StoreError::InvalidArgument { .. })
        ));
    }
    assert!(
        dir.list().unwrap().is_empty(),
        "nothing created on bad args"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_payload_round_trips(
        data in proptest::collection::vec(any::<u8>(), 0..20_000),
        version in any::<u32>(),
        id in any::<[u8; 16]>(),
    ) {
        let dir = RamDirectory::new();
        let mut w = EnvelopeWriter::create(&dir, "p", &EnvelopeHeader::new("fmt", version, id, "s")).unwrap();
        w.write_all(&data).unwrap();
        let meta = w.finish().unwrap();
        let r = EnvelopeReader::open(&dir, "p").unwrap();
        r.verify_full().unwrap();
        let p = r.payload();
        prop_assert_eq!(p.as_slice(), data.as_slice());
        prop_assert_eq!(r.meta(), meta);
        prop_assert_eq!(r.header().version, version);
        prop_assert_eq!(r.header().id, id);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_are_an_error_never_a_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        let res = EnvelopeReader::open_checked("rnd", FileSlice::from_vec(data))
            .and_then(|r| { r.verify_full()?; Ok(r) });
        prop_assert!(res.is_err());
    }

    #[test]
    fn random_bytes_behind_a_valid_magic_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut bytes = b"LUCN".to_vec();
        bytes.extend_from_slice(&data);
        let _ = EnvelopeReader::open_checked("rnd", FileSlice::from_vec(bytes))
            .and_then(|r| { r.verify_full()?; let _ = r.payload(); Ok(()) });
    }
}
