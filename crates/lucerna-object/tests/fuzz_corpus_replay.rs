//! Replays every checked-in input of the fuzz target `bucket`
//! (`fuzz/corpus/bucket/*`) through the target's own logic
//! (`fuzz/src/bucket.rs`, included below), as an ordinary test on the
//! stable toolchain: a damaged or hostile object must give an error, never
//! a panic or an answer that contradicts what the bucket holds. Crash
//! inputs found by fuzzing stay in the corpus (`crash-*`) as regressions.
//! (The other targets are replayed by `crates/lucerna/tests/fuzz_replay.rs`;
//! this one lives here because it needs `lucerna-object`.)
//!
//! Regenerate the seed inputs (`seed-*` files; the others are kept) with
//! `cargo test -p lucerna-object --test fuzz_corpus_replay -- --ignored write_seed_corpus`.

#[path = "../../../fuzz/src/bucket.rs"]
mod bucket_logic;

use std::path::{Path, PathBuf};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/bucket")
}

/// Every file of `fuzz/corpus/bucket/`, sorted.
fn inputs() -> Vec<PathBuf> {
    let dir = corpus_dir();
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

#[test]
fn replay_bucket_corpus() {
    let files = inputs();
    assert!(!files.is_empty(), "no corpus for target bucket");
    for path in &files {
        let data = std::fs::read(path).expect("corpus file");
        // A panic fails the test and names the input.
        let r = std::panic::catch_unwind(|| bucket_logic::fuzz_bucket(&data));
        assert!(r.is_ok(), "target bucket panicked on {}", path.display());
    }
    println!("bucket: {} inputs replayed", files.len());
}

/// Every seed input the generator makes is checked in, and the decoding
/// seeds still decode (a format change must regenerate them).
#[test]
fn seed_corpus_is_checked_in() {
    for (name, bytes) in bucket_logic::seed_corpus() {
        let path = corpus_dir().join(&name);
        assert!(
            path.is_file(),
            "{} is missing: run the ignored test write_seed_corpus",
            path.display()
        );
        bucket_logic::fuzz_bucket(&bytes);
    }
}

/// Every prefix of every seed input (the truncations a fuzzer tries
/// first, and what a bucket's truncated body would hand a decoder).
#[test]
fn replay_seed_truncations() {
    let mut n = 0;
    for (_, bytes) in bucket_logic::seed_corpus() {
        // Bucket scenarios are slow (a runtime per run): every 7th prefix.
        let step = if bytes.first().is_some_and(|b| b & 0x3f == 5) {
            7
        } else {
            1
        };
        for len in (0..bytes.len()).step_by(step) {
            bucket_logic::fuzz_bucket(&bytes[..len]);
            n += 1;
        }
    }
    println!("{n} truncated inputs replayed");
}

#[test]
#[ignore = "writes fuzz/corpus/bucket/seed-*; run by hand"]
fn write_seed_corpus() {
    let dir = corpus_dir();
    std::fs::create_dir_all(&dir).expect("corpus directory");
    for (name, bytes) in bucket_logic::seed_corpus() {
        std::fs::write(dir.join(&name), bytes).expect("seed file");
    }
}
