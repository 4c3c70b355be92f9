//! Cache hints: asking the processor to start loading memory that will be
//! read soon, so that several cache misses overlap instead of each
//! stalling its reader in turn.

/// Hints that the bytes at `r` will be read soon. Does nothing where the
/// target has no prefetch instruction; never faults.
///
/// ```
/// let v = vec![1u32, 2, 3];
/// lucerna_store::hint::prefetch(&v[2]);
/// assert_eq!(v[2], 3);
/// ```
#[inline(always)]
pub fn prefetch<T>(r: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing architecturally and cannot fault;
    // `_mm_prefetch` needs only SSE, which every x86_64 processor has.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((r as *const T).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = r;
}
