//! Live docs: roundtrips, validation at open and corruption handling.

use lucerna_codec::livedocs::LiveDocs;
use proptest::prelude::*;
use std::collections::BTreeSet;

// ---- corruption harness (shared verbatim by the codec's format tests) ----

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

fn note(size: usize) {
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
fn decode_bounded(
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
struct Sweep {
    flips: usize,
    flips_decoded_ok: usize,
    truncations: usize,
}

/// The whole corruption sweep over a valid file `file`:
///
/// * every single-bit flip of the payload, decoded without a CRC check:
///   never a panic, never an allocation above `max_alloc`;
/// * every single-bit flip anywhere: `open_checked` + `verify_full` fails;
/// * every truncation of the file: decoding fails (the envelope notices);
/// * every truncation of the payload re-wrapped in a valid envelope (so the
///   decoder itself sees short data): never a panic, bounded allocation.
fn corruption_sweep(
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
        let mut w = EnvelopeWriter::create(&dir, &name, env.header()).unwrap();
        w.write_all(&payload[..len]).unwrap();
        w.finish().unwrap();
        let bytes = dir.open(&name).unwrap().to_vec();
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
fn decode_random_payload(
    header: &lucerna_store::EnvelopeHeader,
    payload: &[u8],
    max_alloc: usize,
    decode: &dyn Fn(FileSlice) -> lucerna_store::Result<()>,
) {
    let dir = RamDirectory::new();
    let mut w = EnvelopeWriter::create(&dir, "r", header).unwrap();
    w.write_all(payload).unwrap();
    w.finish().unwrap();
    let bytes = dir.open("r").unwrap().to_vec();
    decode_bounded("random payload", bytes, max_alloc, decode);
}

// ---- end of harness ----

const SEG: [u8; 16] = [5; 16];

fn decode_all(data: FileSlice) -> lucerna_store::Result<()> {
    let l = LiveDocs::from_slice("f", data, &SEG, 3, 130)?;
    let live: u32 = l.iter_live().count() as u32;
    assert_eq!(live, l.num_live());
    for d in 0..l.max_doc().saturating_add(2) {
        std::hint::black_box(l.is_live(d));
    }
    Ok(())
}

proptest! {
    #[test]
    fn roundtrip(max_doc in 0u32..400, deletes in proptest::collection::vec(any::<u32>(), 0..100), gen in any::<u64>()) {
        let mut live = LiveDocs::all(max_doc);
        prop_assert_eq!(live.num_live(), max_doc);
        let mut deleted = BTreeSet::new();
        for d in deletes {
            let d = if max_doc > 0 { d % (max_doc + 1) } else { d % 2 };
            let was = live.delete(d);
            prop_assert_eq!(was, d < max_doc && deleted.insert(d));
        }
        prop_assert_eq!(live.num_deleted() as usize, deleted.len());
        let dir = RamDirectory::new();
        live.write(&dir, "l", &SEG, gen).unwrap();
        let back = LiveDocs::open(&dir, "l", &SEG, gen, max_doc).unwrap();
        prop_assert_eq!(&back, &live);
        prop_assert!(LiveDocs::open(&dir, "l", &SEG, gen, max_doc + 1).unwrap_err().is_corrupt());
        for d in 0..max_doc + 64 {
            prop_assert_eq!(back.is_live(d), d < max_doc && !deleted.contains(&d));
        }
        let expected: Vec<u32> = (0..max_doc).filter(|d| !deleted.contains(d)).collect();
        prop_assert_eq!(back.iter_live().collect::<Vec<_>>(), expected);
        // The wrong generation is refused.
        prop_assert!(LiveDocs::open(&dir, "l", &SEG, gen.wrapping_add(1), max_doc).unwrap_err().is_corrupt());
    }

    #[test]
    fn random_payload_never_panics(payload in proptest::collection::vec(any::<u8>(), 0..64)) {
        let header = lucerna_store::EnvelopeHeader::new("livedocs", 1, SEG, "");
        decode_random_payload(&header, &payload, 4096, &decode_all);
    }
}

#[test]
fn all_has_no_trailing_bits() {
    for max_doc in [0u32, 1, 63, 64, 65, 127, 128, 1000] {
        let l = LiveDocs::all(max_doc);
        assert_eq!(l.words().len(), (max_doc as usize).div_ceil(64));
        let ones: u32 = l.words().iter().map(|w| w.count_ones()).sum();
        assert_eq!(ones, max_doc);
        assert!(!l.is_live(max_doc));
    }
}

/// Builds a file with a valid envelope around a hand-made payload.
fn with_payload(payload: &[u8]) -> FileSlice {
    let dir = RamDirectory::new();
    let header = lucerna_store::EnvelopeHeader::new("livedocs", 1, SEG, "");
    let mut w = EnvelopeWriter::create(&dir, "x", &header).unwrap();
    w.write_all(payload).unwrap();
    w.finish().unwrap();
    dir.open("x").unwrap()
}

#[test]
fn validation_at_open() {
    let good = |max_doc: u32, live: u32, word: u64| {
        let mut p = Vec::new();
        p.extend_from_slice(&max_doc.to_le_bytes());
        p.extend_from_slice(&live.to_le_bytes());
        p.extend_from_slice(&3u64.to_le_bytes());
        p.extend_from_slice(&word.to_le_bytes());
        p
    };
    assert!(LiveDocs::from_slice("x", with_payload(&good(10, 10, 0x3ff)), &SEG, 3, 10).is_ok());
    // Live count differs from the popcount.
    let e = LiveDocs::from_slice("x", with_payload(&good(10, 9, 0x3ff)), &SEG, 3, 10).unwrap_err();
    assert!(e.is_corrupt(), "{e}");
    // A bit set past max_doc.
    let e = LiveDocs::from_slice("x", with_payload(&good(10, 10, 0x7fe)), &SEG, 3, 10).unwrap_err();
    assert!(e.to_string().contains("past max_doc"), "{e}");
    // Bitset too long / too short for max_doc.
    assert!(LiveDocs::from_slice("x", with_payload(&good(65, 10, 0x3ff)), &SEG, 3, 65).is_err());
    assert!(LiveDocs::from_slice("x", with_payload(&good(0, 0, 0)), &SEG, 3, 0).is_err());
    // More live than max_doc.
    assert!(LiveDocs::from_slice("x", with_payload(&good(10, 11, 0x3ff)), &SEG, 3, 10).is_err());
}

#[test]
fn corruption() {
    let dir = RamDirectory::new();
    let mut l = LiveDocs::all(130);
    for d in [0, 5, 64, 129] {
        l.delete(d);
    }
    l.write(&dir, "l", &SEG, 3).unwrap();
    let file = dir.open("l").unwrap().to_vec();
    let s = corruption_sweep(&file, 4096, &decode_all);
    eprintln!("corruption sweep: {s:?}");
    // Any flip of a bitset bit breaks the popcount, of a count breaks the
    // count check: every single flip of the payload is refused.
    assert_eq!(s.flips_decoded_ok, 0, "{s:?}");
}
