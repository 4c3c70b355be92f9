//! The codec's corruption harness, shared by every format test: a tracking
//! allocator that bounds the largest single allocation a decoder makes, and
//! sweeps of bit flips and truncations over a valid file.
#![allow(dead_code)]

use lucerna_store::{Directory, EnvelopeReader, EnvelopeWriter, FileSlice, RamDirectory};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Wraps the system allocator and records, per thread, the largest single
/// allocation, so a decoder fed corrupt bytes can be shown never to allocate
/// from an unchecked length.
struct TrackingAlloc;

thread_local! {
    static MAX_ALLOC: Cell<usize> = const { Cell::new(0) };
}

pub fn note(size: usize) {
    let _ = MAX_ALLOC.try_with(|m| {
        if size > m.get() {
            m.set(size)
        }
    });
}

// SAFETY: every method forwards to `System` with the caller's arguments; the
// bookkeeping touches only a const-initialised thread-local `Cell`, which
// never allocates.
unsafe impl GlobalAlloc for TrackingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: TrackingAlloc = TrackingAlloc;

/// Runs `decode` on `bytes`; fails the test on a panic or on a single
/// allocation above `max_alloc` bytes. Returns whether decoding succeeded.
pub fn decode_bounded(
    what: &str,
    bytes: Vec<u8>,
    max_alloc: usize,
    decode: &dyn Fn(FileSlice) -> lucerna_store::Result<()>,
) -> bool {
    let slice = FileSlice::from_vec(bytes);
    MAX_ALLOC.with(|m| m.set(0));
    let res = catch_unwind(AssertUnwindSafe(|| decode(slice)));
    let peak = MAX_ALLOC.with(|m| m.get());
    match res {
        Err(_) => panic!("{what}: decoder panicked"),
        Ok(r) => {
            assert!(
                peak <= max_alloc,
                "{what}: decoder allocated {peak} bytes at once (bound {max_alloc})"
            );
            r.is_ok()
        }
    }
}

/// Statistics of a corruption sweep.
#[derive(Debug, Default)]
pub struct Sweep {
    pub flips: usize,
    pub flips_decoded_ok: usize,
    pub truncations: usize,
}

/// The whole corruption sweep over a valid file `file`:
///
/// * every single-bit flip of the payload, decoded without a CRC check:
///   never a panic, never an allocation above `max_alloc`;
/// * every single-bit flip anywhere: `open_checked` + `verify_full` fails;
/// * every truncation of the file: decoding fails (the envelope notices);
/// * every truncation of the payload re-wrapped in a valid envelope (so the
///   decoder itself sees short data): never a panic, bounded allocation.
pub fn corruption_sweep(
    file: &[u8],
    max_alloc: usize,
    decode: &dyn Fn(FileSlice) -> lucerna_store::Result<()>,
) -> Sweep {
    let mut sweep = Sweep::default();
    let env = EnvelopeReader::open_checked("orig", FileSlice::from_vec(file.to_vec()))
        .expect("valid file");
    env.verify_full().expect("valid checksum");
    assert!(
        decode(FileSlice::from_vec(file.to_vec())).is_ok(),
        "original decodes"
    );
    let start = env.payload_offset() as usize;
    let payload = env.payload().to_vec();
    let end = start + payload.len();

    for byte in 0..file.len() {
        for bit in 0..8 {
            let mut m = file.to_vec();
            m[byte] ^= 1 << bit;
            let detected = EnvelopeReader::open_checked("f", FileSlice::from_vec(m.clone()))
                .and_then(|e| e.verify_full())
                .is_err();
            assert!(
                detected,
                "flip of bit {bit} of byte {byte} not detected by the CRC"
            );
            if (start..end).contains(&byte) {
                sweep.flips += 1;
                let what = format!("flip bit {bit} of byte {byte}");
                if decode_bounded(&what, m, max_alloc, decode) {
                    sweep.flips_decoded_ok += 1;
                }
            }
        }
    }

    for len in 0..file.len() {
        sweep.truncations += 1;
        let ok = decode_bounded(
            &format!("file truncated to {len}"),
            file[..len].to_vec(),
            max_alloc,
            decode,
        );
        assert!(!ok, "file truncated to {len} bytes was accepted");
    }

    let dir = RamDirectory::new();
    for len in 0..payload.len() {
        let name = format!("t{len}");
        let bytes = envelope_file(&dir, &name, env.header(), &payload[..len]).to_vec();
        decode_bounded(
            &format!("payload truncated to {len}"),
            bytes,
            max_alloc,
            decode,
        );
    }
    sweep
}

/// Random payload bytes in a valid envelope: never a panic.
pub fn decode_random_payload(
    header: &lucerna_store::EnvelopeHeader,
    payload: &[u8],
    max_alloc: usize,
    decode: &dyn Fn(FileSlice) -> lucerna_store::Result<()>,
) {
    let bytes = envelope_file(&RamDirectory::new(), "r", header, payload).to_vec();
    decode_bounded("random payload", bytes, max_alloc, decode);
}

/// Writes `payload` as file `name` of `dir` in an envelope with `header`
/// (a valid checksum around whatever bytes a test hands in); returns the
/// file.
pub fn envelope_file(
    dir: &RamDirectory,
    name: &str,
    header: &lucerna_store::EnvelopeHeader,
    payload: &[u8],
) -> FileSlice {
    let mut w = EnvelopeWriter::create(dir, name, header).unwrap();
    w.write_all(payload).unwrap();
    w.finish().unwrap();
    dir.open(name).unwrap()
}
