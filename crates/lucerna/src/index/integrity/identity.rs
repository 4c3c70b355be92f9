//! [`IndexId`]: the identity every file of an index carries.
//!
//! An index gets a random 16-byte id when it is created. Every commit
//! manifest (format version 3 on) and every write-ahead-log file (format
//! version 2 on) records it, so a file copied in from another index is
//! recognised as foreign: it is never replayed or trusted, and `check`
//! reports it. Segment files are tied to their commit by their own
//! segment id, recorded in the manifest.
//!
//! Indexes written before identities existed have the [`unknown`]
//! (all-zero) id until their next writer commits: that writer gives the
//! index a fresh id.
//!
//! [`unknown`]: IndexId::UNKNOWN

use std::fmt;

/// The random identity of an index.
///
/// ```
/// use lucerna::index::IndexId;
/// let a = IndexId::fresh();
/// let b = IndexId::fresh();
/// assert!(a.is_known() && a != b);
/// assert!(!IndexId::UNKNOWN.is_known());
/// assert_eq!(a.to_string().len(), 32);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct IndexId(pub [u8; 16]);

impl IndexId {
    /// The id of an index written before identities existed.
    pub const UNKNOWN: IndexId = IndexId([0; 16]);

    /// A new random id (never [`UNKNOWN`](Self::UNKNOWN)).
    pub fn fresh() -> IndexId {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let local = 0u8;
        let seed = t
            ^ (std::process::id() as u64).rotate_left(32)
            ^ COUNTER
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (&local as *const u8 as u64).rotate_left(17);
        let mut rng = lucerna_store::rng::SplitMix64::new(seed);
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
        id[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
        if id == [0; 16] {
            id[0] = 1;
        }
        IndexId(id)
    }

    /// False for [`UNKNOWN`](Self::UNKNOWN).
    pub fn is_known(&self) -> bool {
        *self != Self::UNKNOWN
    }

    /// Whether a file naming `other` may belong to an index named `self`:
    /// the same id, or either side unknown (files of older formats).
    pub fn accepts(&self, other: IndexId) -> bool {
        !self.is_known() || !other.is_known() || *self == other
    }
}

impl fmt::Display for IndexId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for IndexId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IndexId({self})")
    }
}
