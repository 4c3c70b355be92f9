//! The integrity layer (lowest): what a file of the index is and whether
//! it is intact: the commit manifest, index identities, whole-file
//! verification, corruption markers, file pins, and the evidence of which
//! commit is the newest trusted one.
//!
//! Uses no other layer of `index` (only the crate's codecs, store and
//! write-ahead-log headers); every layer above may use it.

pub mod commit;
pub mod corrupt_marker;
pub mod evidence;
pub(crate) mod file_refs;
pub(crate) mod id_set;
pub mod identity;
pub(crate) mod verify;
