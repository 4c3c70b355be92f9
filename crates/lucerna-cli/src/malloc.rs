//! glibc's malloc thresholds, fixed before any thread starts.
//!
//! By default glibc raises its mmap and trim thresholds to the size of the
//! largest block freed so far (up to 32 MiB), so the memory an indexing
//! buffer frees at each flush stays in the process instead of going back
//! to the system, and the process outgrows its memory budget. Measured
//! with `lucerna index --threads 2 --mem-mb 512` on 20 M scaled log lines
//! (docs/benchmarks.md, "Scale"): peak RSS 622–717 MiB by default, 455 MiB
//! with both thresholds fixed at 256 KiB, the usual setting of
//! memory-bounded services. The spike benchmark does the same.
//!
//! Only the commands that fill indexing buffers (`index`, `add`, `repair`,
//! `demo`) fix them: with the mmap threshold at 256 KiB, every larger
//! short-lived buffer of a search (a disjunction's bit set) costs an mmap
//! and page faults, which doubled the `count` OR p50 on logs-big.
//!
//! An operator who sets `MALLOC_MMAP_THRESHOLD_` or
//! `MALLOC_TRIM_THRESHOLD_` keeps their own settings.

/// The fixed mmap and trim threshold.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const THRESHOLD: libc::c_int = 256 << 10;

/// Fixes both thresholds unless the environment sets either; returns
/// whether it did. Call first in `main`, before any thread exists.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn tune() -> bool {
    let set = |k: &str| std::env::var_os(k).is_some();
    if set("MALLOC_MMAP_THRESHOLD_") || set("MALLOC_TRIM_THRESHOLD_") {
        return false;
    }
    // SAFETY: mallopt only changes allocator parameters; `main` calls this
    // before it starts any other thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, THRESHOLD) == 1
    }
}

/// Elsewhere the allocator is left as it is.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn tune() -> bool {
    false
}
