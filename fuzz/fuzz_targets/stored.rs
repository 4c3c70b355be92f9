//! Fuzz target `stored`: see `lucerna_fuzz::fuzz_stored`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lucerna_fuzz::fuzz_stored(data));
