//! Fuzz target `index`: see `lucerna_fuzz::fuzz_index`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lucerna_fuzz::fuzz_index(data));
