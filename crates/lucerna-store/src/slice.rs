//! [`FileSlice`]: cheap, clonable, zero-copy views into file contents.

use std::fmt;
use std::ops::{Deref, Range};
use std::sync::Arc;

/// Read-only bytes of a whole file (a memory map or a heap buffer).
pub trait FileBytes: Send + Sync + 'static {
    /// The bytes.
    fn bytes(&self) -> &[u8];
}

impl FileBytes for Vec<u8> {
    fn bytes(&self) -> &[u8] {
        self
    }
}

impl FileBytes for memmap2::Mmap {
    fn bytes(&self) -> &[u8] {
        self
    }
}

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
    start: usize,
    end: usize,
}

impl FileSlice {
    /// Wraps an owner of bytes.
    pub fn new(owner: Arc<dyn FileBytes>) -> Self {
        let end = owner.bytes().len();
        FileSlice {
            owner,
            start: 0,
            end,
        }
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
        self.end - self.start
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// A sub-slice, or `None` when `range` is not within bounds.
    pub fn slice(&self, range: Range<usize>) -> Option<FileSlice> {
        if range.start > range.end || range.end > self.len() {
            return None;
        }
        Some(FileSlice {
            owner: self.owner.clone(),
            start: self.start + range.start,
            end: self.start + range.end,
        })
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.owner.bytes()[self.start..self.end]
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
