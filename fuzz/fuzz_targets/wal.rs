//! Fuzz target `wal`: see `lucerna_fuzz::fuzz_wal`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lucerna_fuzz::fuzz_wal(data));
