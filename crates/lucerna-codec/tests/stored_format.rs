//! Stored fields: roundtrips over block boundaries, the record encoding,
//! bounded decompression and corruption handling.

use lucerna_codec::stored::{
    decode_record, encode_record, StoredOptions, StoredReader, StoredValue, StoredWriter,
};
use proptest::prelude::*;

mod harness;
use harness::*;
use lucerna_store::{Directory, EnvelopeReader, FileSlice, RamDirectory};

const SEG: [u8; 16] = [3; 16];

fn decode_all(data: FileSlice) -> lucerna_store::Result<()> {
    let r = StoredReader::from_slice("f", data, &SEG)?;
    let n = r.num_docs();
    let mut first_err = None;
    for d in 0..n.min(2000) {
        if let Err(e) = r.get(d) {
            first_err.get_or_insert(e);
        }
    }
    for rec in r.iter().take(2000) {
        if let Err(e) = rec {
            first_err.get_or_insert(e);
        }
    }
    if let Err(e) = r.check() {
        first_err.get_or_insert(e);
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn write(dir: &RamDirectory, name: &str, records: &[Vec<u8>], options: StoredOptions) {
    let mut w = StoredWriter::create(dir, name, &SEG, "", options).unwrap();
    for (i, r) in records.iter().enumerate() {
        assert_eq!(w.add(r).unwrap(), i as u32);
    }
    assert_eq!(w.num_docs() as usize, records.len());
    w.finish().unwrap();
}

fn stored_value() -> impl Strategy<Value = StoredValue> {
    prop_oneof![
        ".{0,20}".prop_map(StoredValue::Str),
        proptest::collection::vec(any::<u8>(), 0..20).prop_map(StoredValue::Bytes),
        any::<i64>().prop_map(StoredValue::I64),
        any::<u64>().prop_map(StoredValue::U64),
        any::<f64>().prop_map(StoredValue::F64),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn roundtrip(
        records in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..60),
        block_size in 1usize..2000,
        max_docs in 1u32..20,
        level in 1i32..4,
        order in proptest::collection::vec(any::<u32>(), 0..40),
    ) {
        let dir = RamDirectory::new();
        let options = StoredOptions { level, block_size, max_docs_per_block: max_docs };
        write(&dir, "s", &records, options);
        let r = StoredReader::open(&dir, "s", &SEG).unwrap();
        prop_assert_eq!(r.num_docs() as usize, records.len());
        let all: Vec<Vec<u8>> = r.iter().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(&all, &records);
        for (d, rec) in records.iter().enumerate() {
            prop_assert_eq!(&r.get(d as u32).unwrap(), rec);
        }
        // Random access in a scattered order (cache misses and hits).
        if !records.is_empty() {
            for o in order {
                let d = o % records.len() as u32;
                prop_assert_eq!(&r.get(d).unwrap(), &records[d as usize]);
            }
        }
        prop_assert!(r.get(records.len() as u32).is_err());
        r.check().unwrap();
    }

    #[test]
    fn record_roundtrip(values in proptest::collection::vec((any::<u32>(), stored_value()), 0..10)) {
        let mut rec = Vec::new();
        encode_record(&values, &mut rec);
        let back = decode_record(&rec).unwrap();
        prop_assert_eq!(back.len(), values.len());
        for ((f1, v1), (f2, v2)) in back.iter().zip(&values) {
            prop_assert_eq!(f1, f2);
            match (v1, v2) {
                (StoredValue::F64(a), StoredValue::F64(b)) => prop_assert_eq!(a.to_bits(), b.to_bits()),
                _ => prop_assert_eq!(v1, v2),
            }
        }
    }

    #[test]
    fn record_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = decode_record(&bytes);
    }

    #[test]
    fn random_payload_never_panics(payload in proptest::collection::vec(any::<u8>(), 0..96)) {
        let header = lucerna_store::EnvelopeHeader::new("stored", 1, SEG, "");
        decode_random_payload(&header, &payload, 4096, &decode_all);
    }
}

#[test]
fn reader_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<StoredReader>();
}

#[test]
fn concurrent_gets() {
    let dir = RamDirectory::new();
    let records: Vec<Vec<u8>> = (0..500u32)
        .map(|i| format!("document number {i} {}", "x".repeat(i as usize % 50)).into_bytes())
        .collect();
    write(&dir, "s", &records, StoredOptions::default());
    let r = StoredReader::open(&dir, "s", &SEG).unwrap();
    assert!(r.num_blocks() > 1);
    std::thread::scope(|s| {
        for t in 0..4u32 {
            let (r, records) = (&r, &records);
            s.spawn(move || {
                for i in 0..500u32 {
                    let d = (i * 37 + t * 101) % 500;
                    assert_eq!(r.get(d).unwrap(), records[d as usize]);
                }
            });
        }
    });
}

#[test]
fn large_and_empty_records() {
    let dir = RamDirectory::new();
    let big: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let records = vec![vec![], big.clone(), vec![], b"tail".to_vec(), big];
    write(&dir, "s", &records, StoredOptions::default());
    let r = StoredReader::open(&dir, "s", &SEG).unwrap();
    for (d, rec) in records.iter().enumerate() {
        assert_eq!(&r.get(d as u32).unwrap(), rec);
    }
    let empty = RamDirectory::new();
    write(&empty, "e", &[], StoredOptions::default());
    let r = StoredReader::open(&empty, "e", &SEG).unwrap();
    assert_eq!((r.num_docs(), r.num_blocks()), (0, 0));
    assert_eq!(r.iter().count(), 0);
    assert!(r.get(0).is_err());
}

#[test]
fn compresses() {
    let dir = RamDirectory::new();
    let records: Vec<Vec<u8>> = (0..2000)
        .map(|i| {
            format!("{{\"id\": {i}, \"body\": \"the quick brown fox jumps over the lazy dog\"}}")
                .into_bytes()
        })
        .collect();
    let raw: usize = records.iter().map(Vec::len).sum();
    write(&dir, "s", &records, StoredOptions::default());
    let len = dir.file_len("s").unwrap() as usize;
    assert!(len * 4 < raw, "stored file {len} bytes for {raw} raw bytes");
}

#[test]
fn bad_options_are_rejected() {
    let dir = RamDirectory::new();
    let bad = [
        StoredOptions {
            level: 99,
            ..Default::default()
        },
        StoredOptions {
            block_size: 0,
            ..Default::default()
        },
        StoredOptions {
            max_docs_per_block: 0,
            ..Default::default()
        },
    ];
    for (i, o) in bad.into_iter().enumerate() {
        assert!(StoredWriter::create(&dir, &format!("s{i}"), &SEG, "", o).is_err());
    }
}

#[test]
fn corruption() {
    let dir = RamDirectory::new();
    let records: Vec<Vec<u8>> = vec![
        b"alpha".to_vec(),
        vec![],
        b"gamma gamma gamma gamma".to_vec(),
        b"d".to_vec(),
        b"epsilon".to_vec(),
    ];
    let options = StoredOptions {
        max_docs_per_block: 2,
        ..Default::default()
    };
    write(&dir, "s", &records, options);
    let file = dir.open("s").unwrap().to_vec();
    let s = corruption_sweep(&file, 4096, &decode_all);
    eprintln!("corruption sweep: {s:?}");
    assert!(s.flips > 0);
}

#[test]
fn corrupt_lengths_do_not_allocate() {
    // A block whose recorded uncompressed length is raised to the format's
    // maximum: the frame header disagrees, so nothing large is allocated.
    let dir = RamDirectory::new();
    write(&dir, "s", &[b"hello".to_vec()], StoredOptions::default());
    let mut file = dir.open("s").unwrap().to_vec();
    let env = EnvelopeReader::open_checked("s", FileSlice::from_vec(file.clone())).unwrap();
    let payload_end = env.payload_offset() as usize + env.payload().len();
    // Layout: ... index entry (first_doc u32, offset u64, clen u32, ulen u32), trailer u64.
    let ulen_at = payload_end - 8 - 4;
    file[ulen_at..ulen_at + 4].copy_from_slice(&(64u32 << 20).to_le_bytes());
    let ok = decode_bounded("ulen = 64 MiB", file, 4096, &decode_all);
    assert!(!ok);
}
