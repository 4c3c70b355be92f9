//! Fuzz target `query_parser`: see `lucerna_fuzz::fuzz_query_parser`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lucerna_fuzz::fuzz_query_parser(data));
