//! Fuzz target `postings`: see `lucerna_fuzz::fuzz_postings`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lucerna_fuzz::fuzz_postings(data));
