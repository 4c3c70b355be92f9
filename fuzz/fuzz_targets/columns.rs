//! Fuzz target `columns`: see `lucerna_fuzz::fuzz_columns`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lucerna_fuzz::fuzz_columns(data));
