//! The integrity layer (lowest): what a file of the index is and whether
//! it is intact: the commit manifest, index identities, whole-file
//! verification, corruption markers, file pins, the evidence of which
//! commit is the newest trusted one, and the heal hook through which
//! readers and writers ask the recover layer to restore a damaged segment.
//!
//! Uses no other layer of `index` (only the crate's codecs, store and
//! write-ahead-log headers); every layer above may use it.

pub mod commit;
pub mod corrupt_marker;
pub mod evidence;
pub mod file_kind;
pub(crate) mod file_refs;
pub(crate) mod heal_hook;
pub(crate) mod id_set;
pub mod identity;
pub(crate) mod verify;
