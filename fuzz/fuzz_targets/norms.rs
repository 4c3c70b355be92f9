//! Fuzz target `norms`: see `lucerna_fuzz::fuzz_norms`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lucerna_fuzz::fuzz_norms(data));
