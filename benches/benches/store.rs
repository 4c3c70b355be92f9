//! Storage-layer micro-benchmarks: full CRC verification of a large
//! memory-mapped envelope file.
#![forbid(unsafe_code)]
// criterion's macros generate undocumented public functions.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lucerna_store::{Directory, EnvelopeHeader, EnvelopeReader, EnvelopeWriter, FsDirectory};

fn verify_full(c: &mut Criterion) {
    const SIZE: usize = 256 << 20;
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = FsDirectory::open(tmp.path()).expect("open dir");
    let mut w = EnvelopeWriter::create(&dir, "big", &EnvelopeHeader::new("bench", 1, [1; 16], ""))
        .expect("create");
    let chunk: Vec<u8> = (0..(1 << 20)).map(|i| (i * 31 + 7) as u8).collect();
    for _ in 0..(SIZE >> 20) {
        w.write_all(&chunk).expect("write");
    }
    w.finish().expect("finish");
    dir.sync(&["big"]).expect("sync");
    let reader = EnvelopeReader::open(&dir, "big").expect("open");
    let mut g = c.benchmark_group("crc");
    g.throughput(Throughput::Bytes(reader.len()));
    g.sample_size(20);
    g.bench_function("verify_full_256MiB_mmap", |b| {
        b.iter(|| reader.verify_full().expect("verify"))
    });
    g.finish();
}

criterion_group!(benches, verify_full);
criterion_main!(benches);
