//! Fuzz target `writer_ops`: see `lucerna_fuzz::fuzz_writer_ops`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lucerna_fuzz::fuzz_writer_ops(data));
