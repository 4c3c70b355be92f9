//! Object-storage benchmarks against the local moto server (ignored by
//! default; numbers in docs/benchmarks.md):
//!
//! ```sh
//! LUCERNA_BENCH_DOCS=2000000 cargo test -p lucerna-object --release --test bench -- --ignored --nocapture
//! ```
//!
//! Builds an index of synthetic log lines, then measures replication to
//! the bucket against a verified local copy, opening the index from the
//! bucket with a cold and a warm cache, and healing a corrupt segment of
//! about 50 MB from the bucket.

mod common;

use lucerna::index::recovery::{repair, RepairOptions};
use lucerna::index::replica::{replicate, replicate_with};
use lucerna::store::{Directory, FsDirectory};
use lucerna::{Durability, Index, WriterConfig};
use lucerna_object::ObjectDirectory;
use std::sync::Arc;
use std::time::Instant;

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

#[test]
#[ignore]
fn object_storage_benchmarks() {
    let n: u64 = std::env::var("LUCERNA_BENCH_DOCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000);
    let tmp = tempfile::tempdir().unwrap();
    let local = FsDirectory::open(tmp.path().join("local")).unwrap();
    let t = Instant::now();
    let index = Index::create(local.clone(), lucerna::schema::Schema::logs()).unwrap();
    {
        let w = index
            .writer(
                WriterConfig::default()
                    .durability(Durability::None)
                    .indexing_threads(2)
                    .mem_budget_bytes(256 << 20),
            )
            .unwrap();
        std::thread::scope(|s| {
            for t in 0..2 {
                let (w, schema) = (&w, index.schema());
                s.spawn(move || {
                    let mut i = t;
                    while i < n {
                        w.add_document(common::doc(schema, i)).unwrap();
                        i += 2;
                    }
                });
            }
        });
        w.commit().unwrap();
        w.wait_for_merges().unwrap();
        w.commit().unwrap();
    }
    let commit = index.latest_commit().unwrap();
    let bytes: u64 = commit.segments.iter().map(|s| s.size_bytes()).sum();
    println!(
        "index: {n} docs, {} segments, {:.1} MB, built in {:.1} s",
        commit.segments.len(),
        mb(bytes),
        t.elapsed().as_secs_f64()
    );

    // Replication: a verified local copy, then the bucket.
    let copy = FsDirectory::open(tmp.path().join("copy")).unwrap();
    let t = Instant::now();
    replicate(&local, &copy, &commit).unwrap();
    let s = t.elapsed().as_secs_f64();
    println!(
        "replicate to a local directory: {:.2} s, {:.0} MB/s",
        s,
        mb(bytes) / s
    );
    let name = common::fresh_bucket_name();
    let replica =
        ObjectDirectory::replica(common::client(&name, "bench"), &tmp.path().join("wc")).unwrap();
    let t = Instant::now();
    replicate_with(&local, &replica, &commit, 2).unwrap();
    let s = t.elapsed().as_secs_f64();
    println!(
        "replicate to the bucket: {:.2} s, {:.0} MB/s",
        s,
        mb(bytes) / s
    );

    // Opening from the bucket, cold then warm (a new process's handle
    // on the same cache directory).
    let cache = tmp.path().join("rc");
    let mut answers = None;
    for label in ["cold", "warm"] {
        let t = Instant::now();
        let ro = ObjectDirectory::read_only(common::client(&name, "bench"), &cache).unwrap();
        let idx = Index::open(ro).unwrap();
        let searcher = idx.reader().unwrap().searcher();
        let a = common::answers(&searcher);
        let s = t.elapsed().as_secs_f64();
        println!(
            "open from the bucket ({label} cache) and run {} queries: {:.2} s ({} docs)",
            common::QUERIES.len(),
            s,
            searcher.num_docs()
        );
        if let Some(prev) = &answers {
            assert_eq!(prev, &a);
        }
        answers = Some(a);
    }

    // Heal: an index of one segment of about 50 MB, every file of it
    // corrupted, restored from the bucket by `repair`.
    drop(index);
    let heal_docs = (50e6 / (bytes as f64 / n as f64)) as u64;
    let hdir = FsDirectory::open(tmp.path().join("heal")).unwrap();
    let hindex = Index::create(hdir.clone(), lucerna::schema::Schema::logs()).unwrap();
    {
        let w = hindex
            .writer(
                WriterConfig::default()
                    .durability(Durability::None)
                    .mem_budget_bytes(256 << 20),
            )
            .unwrap();
        for i in 0..heal_docs {
            w.add_document(common::doc(hindex.schema(), i)).unwrap();
        }
        w.commit().unwrap();
        w.force_merge(1).unwrap();
        w.commit().unwrap();
    }
    let hcommit = hindex.latest_commit().unwrap();
    let hname = common::fresh_bucket_name();
    let hrep =
        ObjectDirectory::replica(common::client(&hname, "heal"), &tmp.path().join("hw")).unwrap();
    replicate_with(&hdir, &hrep, &hcommit, 2).unwrap();
    let seg = hcommit.segments[0].clone();
    for f in &seg.files {
        let p = tmp.path().join("heal").join(&f.name);
        let mut b = std::fs::read(&p).unwrap();
        let mid = b.len() / 2;
        b[mid] ^= 0x5a;
        std::fs::write(&p, &b).unwrap();
    }
    drop(hindex);
    let dir: Arc<dyn Directory> = Arc::new(hdir);
    let ro: Arc<dyn Directory> = Arc::new(
        ObjectDirectory::read_only(common::client(&hname, "heal"), &tmp.path().join("hc")).unwrap(),
    );
    let t = Instant::now();
    let r = repair(&dir, &[ro], RepairOptions::default()).unwrap();
    let s = t.elapsed().as_secs_f64();
    assert!(r.healthy(), "{r:?}");
    println!(
        "heal a corrupt {:.1} MB segment ({} docs, {} files, all damaged) from the bucket: {:.2} s (repair with its deep checks), {:.1} MB copied",
        mb(seg.size_bytes()),
        heal_docs,
        seg.files.len(),
        s,
        mb(r.bytes_copied)
    );
}
