//! [`FileSlice`]: cheap, clonable, zero-copy views into file contents.

use std::fmt;
use std::ops::{Deref, Range};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Read-only bytes of a whole file (a memory map or a heap buffer).
///
/// # Safety
///
/// `bytes` must return the same slice (same address, same length, same
/// contents) every time, for as long as the value lives: [`FileSlice`]
/// caches that address. `release` must never change the bytes seen through
/// it, even for an instant.
pub unsafe trait FileBytes: Send + Sync + 'static {
    /// The bytes.
    fn bytes(&self) -> &[u8];

    /// Gives the pages holding `range` of the bytes back to the operating
    /// system, as a hint: the bytes stay readable and unchanged, a later
    /// read brings them back (from the page cache, for a file). It only
    /// lowers the process's resident memory. The default does nothing
    /// (heap bytes cannot be dropped and re-read).
    fn release(&self, range: Range<usize>) {
        let _ = range;
    }
}

// SAFETY: a Vec's heap buffer does not move while the Vec is not
// mutated, and a `FileBytes` owner is never mutated (it is shared behind an
// `Arc` and only read).
unsafe impl FileBytes for Vec<u8> {
    fn bytes(&self) -> &[u8] {
        self
    }
}

// SAFETY: a read-only mapping stays at one address until it is unmapped on
// drop. (No `release`: a `Mmap` may be a private or anonymous mapping, whose
// pages `MADV_DONTNEED` would zero; only `SharedReadOnlyMap` releases.)
unsafe impl FileBytes for memmap2::Mmap {
    fn bytes(&self) -> &[u8] {
        self
    }
}

/// A read-only, *shared* mapping of a whole write-once file, as
/// [`FsDirectory`](crate::FsDirectory) makes them: the only owner whose
/// pages [`FileBytes::release`] gives back.
pub(crate) struct SharedReadOnlyMap(memmap2::Mmap);

impl SharedReadOnlyMap {
    /// Maps `file` read-only and shared.
    ///
    /// # Safety
    ///
    /// The file must not be written or truncated while mapped (the
    /// directory's write-once rule; see `FsDirectory`).
    pub(crate) unsafe fn map(file: &std::fs::File) -> std::io::Result<Self> {
        // SAFETY: forwarded to the caller. `Mmap::map` maps `PROT_READ`,
        // `MAP_SHARED` (memmap2's unix implementation), which `release`
        // relies on.
        unsafe { memmap2::Mmap::map(file) }.map(SharedReadOnlyMap)
    }
}

// SAFETY: as for `Mmap`: one address until dropped. `release` never changes
// the bytes (see below).
unsafe impl FileBytes for SharedReadOnlyMap {
    fn bytes(&self) -> &[u8] {
        &self.0
    }

    #[cfg(target_os = "linux")]
    fn release(&self, range: Range<usize>) {
        if range.start >= range.end || range.end > self.0.len() {
            return;
        }
        RELEASED_BYTES.fetch_add((range.end - range.start) as u64, Ordering::Relaxed);
        // SAFETY: `MADV_DONTNEED` on a read-only *shared* file mapping (the
        // only kind this type holds, see `map`) only removes pages from
        // this process's page tables: the next read of an address faults
        // the same bytes back in from the page cache or the file, so every
        // `&[u8]` into the map (and every pointer `FileSlice` cached) keeps
        // its address and sees the same contents, also in other threads
        // reading concurrently. The file is write-once and never truncated
        // while mapped (`map`'s contract). Private or anonymous mappings,
        // whose contents it would discard, cannot be wrapped. The range is
        // rounded out to whole pages, which is harmless for the same
        // reason. A failure only leaves the pages resident.
        let _ = unsafe {
            self.0.unchecked_advise_range(
                memmap2::UncheckedAdvice::DontNeed,
                range.start,
                range.end - range.start,
            )
        };
    }
}

/// Bytes of mapped files given back with [`FileSlice::release_pages`] in
/// this process so far (each release counted whole, resident or not).
pub fn released_bytes() -> u64 {
    RELEASED_BYTES.load(Ordering::Relaxed)
}

static RELEASED_BYTES: AtomicU64 = AtomicU64::new(0);

/// A view of a range of a file's bytes.
///
/// Cloning and slicing never copy: every `FileSlice` of a file shares one
/// owner (a memory map or a heap buffer) through an [`Arc`]; the owner lives
/// as long as the last slice of it. For memory maps this means the mapping
/// stays valid even after the file name is deleted (see
/// [`FsDirectory`](crate::FsDirectory) for the lifetime rules).
///
/// ```
/// use lucerna_store::FileSlice;
/// let s = FileSlice::from_vec(b"hello world".to_vec());
/// let w = s.slice(6..11).unwrap();
/// assert_eq!(&*w, b"world");
/// assert!(s.slice(6..12).is_none()); // out of bounds: no panic
/// ```
#[derive(Clone)]
pub struct FileSlice {
    owner: Arc<dyn FileBytes>,
    /// `owner.bytes()[start..start + len]`, cached: reading a slice is on
    /// every decoder's hot path (a block of postings, a skip entry), and
    /// asking the owner each time is a virtual call plus a bounds check
    /// (measured: 8.7 % of a conjunction query's time on logs-big).
    ptr: *const u8,
    len: usize,
}

// SAFETY: `ptr` points into bytes owned by `owner`, which is `Send + Sync`
// and immutable; the pointer is only read through `as_slice`.
unsafe impl Send for FileSlice {}
// SAFETY: as above: shared access only reads immutable bytes.
unsafe impl Sync for FileSlice {}

impl FileSlice {
    /// Wraps an owner of bytes.
    pub fn new(owner: Arc<dyn FileBytes>) -> Self {
        let bytes = owner.bytes();
        let (ptr, len) = (bytes.as_ptr(), bytes.len());
        FileSlice { owner, ptr, len }
    }

    /// A slice over a heap buffer.
    pub fn from_vec(v: Vec<u8>) -> Self {
        Self::new(Arc::new(v))
    }

    /// An empty slice.
    pub fn empty() -> Self {
        Self::from_vec(Vec::new())
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A sub-slice, or `None` when `range` is not within bounds.
    pub fn slice(&self, range: Range<usize>) -> Option<FileSlice> {
        if range.start > range.end || range.end > self.len {
            return None;
        }
        Some(FileSlice {
            owner: self.owner.clone(),
            // SAFETY: `range.start <= self.len`, so the result stays within
            // (or one past the end of) the owner's bytes.
            ptr: unsafe { self.ptr.add(range.start) },
            len: range.end - range.start,
        })
    }

    /// Releases the resident pages under this slice (see
    /// [`FileBytes::release`]): the bytes stay readable, a later read
    /// faults them back in. Long sequential readers (merges, verification,
    /// copies) call it behind their cursor so that a pass over a large
    /// file does not leave the whole file in the process's resident memory.
    /// Does nothing for heap-backed slices.
    ///
    /// ```
    /// use lucerna_store::FileSlice;
    /// let s = FileSlice::from_vec(b"hello".to_vec());
    /// s.release_pages();
    /// assert_eq!(&*s, b"hello");
    /// ```
    pub fn release_pages(&self) {
        let base = self.owner.bytes().as_ptr() as usize;
        let start = self.ptr as usize - base;
        self.owner.release(start..start + self.len);
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr..ptr + len` lies within `owner.bytes()` (checked when
        // the slice was made); `owner` keeps those bytes alive, unmoved and
        // unchanged for as long as `self` (the `FileBytes` contract), and
        // the returned borrow cannot outlive `self`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Deref for FileSlice {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for FileSlice {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl fmt::Debug for FileSlice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FileSlice({} bytes)", self.len())
    }
}
