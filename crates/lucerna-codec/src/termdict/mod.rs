//! Term dictionary: every term key of a segment (field byte + term bytes)
//! mapped to its [`TermInfo`] (document frequency and where its postings
//! start), in a block format of our own that every read bounds-checks.
//!
//! # File layout
//!
//! Envelope format `termdict`, version 2, id = segment id, empty suffix.
//! All fixed-width integers little-endian; vints are LEB128.
//!
//! ```text
//! payload:
//!   header      num_terms    u64
//!               num_blocks   u32
//!               blocks_len   u64
//!   blocks      blocks_len bytes; the terms in key order, cut into blocks
//!               of at most BLOCK_TERMS terms (fewer when a key section
//!               reaches BLOCK_BYTES bytes); per block:
//!                 vint keys_len        bytes of the key section
//!                 key section, per term j ≥ 1 (term 0's key is in `keys`):
//!                   vint prefix_len    bytes shared with term j-1's key
//!                   vint suffix_len    ≥ 1
//!                   suffix             suffix_len bytes
//!                 info section (see `infos.rs`): three bit widths, the
//!                   first term's doc_off and pos_off, then per term
//!                   doc_freq, doc_off − first and pos_off − first,
//!                   bit-packed at those widths
//!   index       num_blocks entries of 24 bytes:
//!                 block_end  u64   end of the block in `blocks`
//!                 key_end    u32   end of its first key in `keys`
//!                 num_terms  u32   terms in the block (≥ 1)
//!                 key_head   u64   big-endian: the first key's first 8
//!                                  bytes, zero-padded
//!   keys        the rest: the first key of every block, back to back
//! ```
//!
//! A lookup binary-searches the index's first keys in place (fixed-width
//! entries, no allocation; the key heads decide most comparisons without
//! touching the keys), then scans one block's key section, comparing the
//! target with each key's suffix without rebuilding the keys; the info of
//! a key found is read directly at its fixed-width slot. Iteration decodes
//! block after block.
//!
//! # Integrity
//!
//! Every length, offset and count read from the file is checked against the
//! bytes that hold it before it is used; a corrupt or forged dictionary is
//! an error, never a panic, and nothing is allocated from an unchecked
//! length (keys are at most [`MAX_KEY_LEN`] bytes). [`TermDict::open`]
//! validates the header and the whole index in O(blocks): block and key
//! ranges within their areas and contiguous, first keys strictly
//! increasing and matching their heads, term counts bounded by the block
//! sizes and summing to `num_terms`. Blocks are checked as they are
//! decoded: the info section's length exactly, every key length read, and,
//! in iteration, that keys strictly increase within and across blocks and
//! that the key section ends right after the block's last key.
//!
//! # Example
//!
//! ```
//! use lucerna_codec::postings::TermInfo;
//! use lucerna_codec::termdict::{TermDict, TermDictWriter};
//! use lucerna_store::RamDirectory;
//! # fn main() -> Result<(), lucerna_store::StoreError> {
//! let dir = RamDirectory::new();
//! let seg = [3u8; 16];
//! let mut w = TermDictWriter::new(&dir, seg, "s.tdi")?;
//! w.insert(b"\0apple", &TermInfo { doc_freq: 2, doc_off: 0, pos_off: 0 })?;
//! w.insert(b"\0apricot", &TermInfo { doc_freq: 1, doc_off: 9, pos_off: 4 })?;
//! w.insert(b"\0banana", &TermInfo { doc_freq: 5, doc_off: 12, pos_off: 7 })?;
//! w.finish()?;
//!
//! let d = TermDict::open(&dir, "s.tdi", seg)?;
//! assert_eq!(d.get(b"\0apricot")?.unwrap().doc_freq, 1);
//! assert!(d.get(b"\0cherry")?.is_none());
//! let ap: Vec<Vec<u8>> = d.prefix(b"\0ap")?.map(|t| t.map(|(k, _)| k)).collect::<Result<_, _>>()?;
//! assert_eq!(ap, vec![b"\0apple".to_vec(), b"\0apricot".to_vec()]);
//! # Ok(()) }
//! ```
//!
//! [`TermInfo`]: crate::postings::TermInfo

mod block;
mod infos;
mod iter;
mod reader;
mod writer;

#[cfg(test)]
mod tests;

pub use iter::TermIter;
pub use reader::TermDict;
pub use writer::TermDictWriter;

/// Envelope format name of term dictionary files.
pub const FORMAT: &str = "termdict";
/// Current format version (1 was an `fst` map; no longer read).
pub const VERSION: u32 = 2;

/// Longest key accepted (field byte + term), so a key always fits a
/// stack-friendly bound; analyzers drop longer terms well before this.
pub const MAX_KEY_LEN: usize = 1 << 15;

/// Most terms the writer puts in one block.
pub const BLOCK_TERMS: usize = 16;
/// The writer closes a block once its key section reaches this size (long
/// keys).
pub const BLOCK_BYTES: usize = 4096;

/// Bytes of the payload header: `num_terms`, `num_blocks`, `blocks_len`.
const HEADER_LEN: usize = 8 + 4 + 8;
/// Bytes of one index entry: `block_end`, `key_end`, `num_terms`,
/// `key_head`.
const ENTRY_LEN: usize = 8 + 4 + 4 + 8;

/// The head of a key: its first 8 bytes as a big-endian u64, zero-padded.
/// Heads order like the keys they come from (ties aside), so most
/// comparisons of a binary search need no more.
#[inline]
fn key_head(key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = key.len().min(8);
    b[..n].copy_from_slice(&key[..n]);
    u64::from_be_bytes(b)
}
/// Fewest bytes per term of a block: every term after the first takes at
/// least 3 in the key section (two lengths, a suffix byte), and the first
/// more than 3 (the key section's length, the info section's header).
const MIN_TERM_BYTES: usize = 3;
