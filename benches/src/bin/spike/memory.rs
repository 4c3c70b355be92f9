//! The process's memory: its resident set read from /proc/self/status,
//! and glibc's malloc settings.

use crossbeam_channel::{select, Receiver};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A `Vm*` line of /proc/self/status in bytes (Linux only).
pub(crate) fn proc_status_bytes(key: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line
        .trim_start_matches(key)
        .trim_start_matches(':')
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Fixes glibc's mmap threshold at 256 KiB (which also fixes the trim
/// threshold), before any thread starts. By default glibc raises both
/// thresholds to the size of the largest freed buffer (up to 32 MiB), so
/// memory freed after each flush and merge (buffers of several MiB) stays in
/// the process: with 10 threads it held about twice the live heap. This is
/// the usual setting of memory-bounded services (`MALLOC_MMAP_THRESHOLD_`);
/// returns whether it was applied.
///
/// The arenas are left as they are (one per thread, up to 8 per core).
/// Capping them (`MALLOC_ARENA_MAX=2`) saved no peak memory here and made
/// threads of different tenants wait for each other's arena lock: in the
/// overload case the quiet tenants' add p99 was 4–20× their baseline with
/// two arenas (a spiking writer holding the lock is preempted by the other
/// busy threads), and at baseline without them (docs/benchmarks.md).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub(crate) fn tune_malloc() -> bool {
    // SAFETY: mallopt only changes allocator parameters; it is called from
    // main before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 10) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 10) == 1
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn tune_malloc() -> bool {
    false
}

pub(crate) fn rss_bytes() -> Option<u64> {
    proc_status_bytes("VmRSS")
}

pub(crate) fn peak_rss_bytes() -> Option<u64> {
    proc_status_bytes("VmHWM")
}

/// Keeps the peaks of the anonymous and file-backed parts of the RSS in
/// `peak_anon` and `peak_file`, looking every 10 ms until `stop` is closed
/// (the kernel keeps a high-water mark of the total only).
pub(crate) fn track_peaks(stop: &Receiver<()>, peak_anon: &AtomicU64, peak_file: &AtomicU64) {
    let tick = crossbeam_channel::tick(Duration::from_millis(10));
    loop {
        select! {
            recv(stop) -> _ => break,
            recv(tick) -> _ => {}
        }
        if let Some(a) = proc_status_bytes("RssAnon") {
            peak_anon.fetch_max(a, Ordering::Relaxed);
        }
        if let Some(f) = proc_status_bytes("RssFile") {
            peak_file.fetch_max(f, Ordering::Relaxed);
        }
    }
}
