//! Fuzz target `livedocs`: see `lucerna_fuzz::fuzz_livedocs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lucerna_fuzz::fuzz_livedocs(data));
