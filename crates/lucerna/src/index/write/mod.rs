//! The write layer: the writer, its in-memory buffers, flushes, merges,
//! deletes by key, and the in-place replacement of an index.
//!
//! Uses the read and integrity layers; never the recover layer. What the
//! writer needs from recovery (healing a damaged merge input, copying
//! commits to replicas) it calls through traits: the integrity layer's
//! heal hook and this layer's `Replicator`, both handed in by `Index`.

pub(crate) mod batch_pipeline;
pub(crate) mod buffer;
pub(crate) mod delete_key;
pub(crate) mod flush;
pub(crate) mod helper_thread;
pub(crate) mod merge_terms;
pub(crate) mod merger;
pub mod replace;
pub(crate) mod sorted_terms;
pub(crate) mod term_queue;
pub(crate) mod term_slots;
pub(crate) mod term_table;
pub mod writer;
