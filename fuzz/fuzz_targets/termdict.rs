//! Fuzz target `termdict`: see `lucerna_fuzz::fuzz_termdict`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lucerna_fuzz::fuzz_termdict(data));
