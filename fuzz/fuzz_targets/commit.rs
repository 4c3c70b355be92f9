//! Fuzz target `commit`: see `lucerna_fuzz::fuzz_commit`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lucerna_fuzz::fuzz_commit(data));
