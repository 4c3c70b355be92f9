//! Fuzz target `bucket`: see `fuzz/src/bucket.rs` (included here rather
//! than from `lib.rs`, which the `lucerna` crate's tests include and which
//! must not depend on `lucerna-object`).
#![no_main]

#[path = "../src/bucket.rs"]
mod bucket;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bucket::fuzz_bucket(data));
