//! The read layer: segment readers, index readers and the searchers they
//! hand out, snapshots, refreshing readers, and the page budget.
//!
//! Uses the integrity layer; never the write or recover layers. Damage
//! found while opening a segment goes to the integrity layer's heal hook,
//! which the recover layer implements and `Index` hands in.

pub(crate) mod field_stats;
pub mod page_budget;
pub mod reader;
pub mod refresh;
pub mod segment_reader;
pub mod snapshot;
