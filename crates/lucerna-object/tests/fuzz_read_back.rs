//! Fuzz-style properties (seeded, reproducible) over everything the
//! crate reads back from a bucket: manifests, shipped log batches, lease
//! and snapshot records, object names and URLs. Arbitrary bytes and
//! mutated valid objects never panic: they decode, or fail with an error
//! naming the object; a bucket full of garbage makes readers, takeover
//! and GC fail cleanly or skip, never panic or serve wrong data.

use lucerna::index::Commit;
use lucerna::index::IndexId;
use lucerna::schema::Schema;
use lucerna::Document;
use lucerna::Record;
use lucerna_object::keys::{
    manifest_key, parse_lease_key, parse_manifest_key, parse_segment_key, parse_wal_key,
    snapshot_key, wal_key,
};
use lucerna_object::lease::Hold;
use lucerna_object::manifest::Manifest;
use lucerna_object::{
    gc, shiplog, Bucket, BucketDurability, BucketUrl, BucketWriter, Catalog, GcOptions,
    ObjectDirectory,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

fn runner(cases: u32) -> TestRunner {
    TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    )
}

fn valid_manifest() -> Vec<u8> {
    let c = Commit {
        generation: 3,
        index_id: IndexId([9; 16]),
        schema: Schema::logs(),
        segments: Vec::new(),
        next_segment: 0,
        wal_position: 4,
        user_data: vec![("k".into(), "v".into())],
    };
    Manifest::new(&c, 2, 1).unwrap().encode()
}

fn valid_batch() -> Vec<u8> {
    let mut d = Document::new();
    d.add_u64(lucerna::schema::Field(0), 5)
        .add_text(lucerna::schema::Field(2), "failed password");
    shiplog::encode(
        IndexId([9; 16]),
        1,
        &[
            Record::Add {
                lsn: 5,
                doc: d.clone(),
            },
            Record::Delete {
                lsn: 6,
                key: vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 5],
            },
            Record::Update {
                lsn: 7,
                key: vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 5],
                doc: d,
            },
        ],
    )
}

/// A valid object with random damage: flips, a cut, an insertion.
fn mutated(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let n = valid.len();
    (
        proptest::collection::vec((0..n, any::<u8>()), 0..4),
        proptest::option::of(0..n),
        proptest::option::of((0..n, proptest::collection::vec(any::<u8>(), 1..8))),
    )
        .prop_map(move |(flips, cut, ins)| {
            let mut v = valid.clone();
            for (i, x) in flips {
                v[i] ^= x;
            }
            if let Some((at, bytes)) = ins {
                v.splice(at..at, bytes);
            }
            if let Some(c) = cut {
                v.truncate(c);
            }
            v
        })
}

#[test]
fn decoders_never_panic_on_arbitrary_or_damaged_bytes() {
    let bytes = proptest::collection::vec(any::<u8>(), 0..512);
    runner(3000)
        .run(&bytes, |b| {
            let _ = Manifest::decode("m", 3, &b);
            let _ = shiplog::decode("w", &b);
            let _ = Hold::decode("l", &b);
            Ok(())
        })
        .unwrap();
    let good = valid_manifest();
    runner(3000)
        .run(&mutated(good.clone()), |b| {
            match Manifest::decode("m", 3, &b) {
                Ok(m) => prop_assert_eq!(m.encode(), b.clone()),
                Err(e) => prop_assert!(e.to_string().contains("`m`")),
            }
            Ok(())
        })
        .unwrap();
    let batch = valid_batch();
    runner(3000)
        .run(&mutated(batch.clone()), |b| {
            if let Err(e) = shiplog::decode("w", &b) {
                prop_assert!(e.to_string().contains("`w`"), "{}", e);
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn name_parsers_never_panic_and_round_trip() {
    runner(5000)
        .run(&"\\PC{0,80}", |s| {
            let _ = parse_manifest_key(&s);
            let _ = parse_segment_key(&s);
            let _ = parse_wal_key(&s);
            let _ = parse_lease_key(&s);
            let _ = snapshot_key(&s);
            if let Some(u) = BucketUrl::parse(&s) {
                prop_assert_eq!(BucketUrl::parse(&u.to_string()), Some(u));
            }
            Ok(())
        })
        .unwrap();
    runner(2000)
        .run(&(any::<u64>(), any::<u64>()), |(a, b)| {
            prop_assert_eq!(parse_manifest_key(&manifest_key(a)), Some(a));
            prop_assert_eq!(parse_wal_key(&wal_key(a, b)), Some((a, b)));
            Ok(())
        })
        .unwrap();
}

/// A bucket holding damaged or arbitrary objects where manifests, log
/// batches, segment files and leases belong: every reader of it fails
/// cleanly (or reads what verifies), never panics.
#[test]
fn a_bucket_of_garbage_is_refused_cleanly() {
    let good = valid_manifest();
    let batch = valid_batch();
    let strat = (
        mutated(good),
        mutated(batch),
        proptest::collection::vec(any::<u8>(), 0..300),
        "x[a-z0-9_.]{0,12}",
    );
    let tmp = tempfile::tempdir().unwrap();
    let counter = std::sync::atomic::AtomicU32::new(0);
    runner(48)
        .run(&strat, |(m, w, junk, name)| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let b = Bucket::in_memory().unwrap();
            b.put_create(&manifest_key(3), &m).unwrap();
            b.put_create(&wal_key(1, 5), &w).unwrap();
            b.put_create(&format!("segments/{}/seg_{name}", "ab".repeat(16)), &junk)
                .unwrap();
            b.put_create(&format!("leases/{name}"), &junk).unwrap();
            b.put_create(&format!("wal/{name}"), &junk).unwrap();
            let _ = Catalog::new(b.clone()).chain();
            if let Ok(d) = ObjectDirectory::read_only(b.clone(), &tmp.path().join(format!("r{n}")))
            {
                if let Ok(i) = lucerna::Index::open(d) {
                    let _ = i.reader().map(|r| r.searcher().num_docs());
                }
            }
            let _ = gc(
                &b,
                &GcOptions {
                    dry_run: true,
                    ..GcOptions::default()
                },
            );
            let _ = BucketWriter::take_over(
                b,
                &tmp.path().join(format!("t{n}")),
                &tmp.path().join(format!("tc{n}")),
                lucerna::WriterConfig::default(),
                BucketDurability::CommitOnly,
            );
            Ok(())
        })
        .unwrap();
}
