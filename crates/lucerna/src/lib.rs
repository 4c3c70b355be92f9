//! # Lucerna
//!
//! An embedded, Lucene-style full-text search engine. This crate is the
//! facade users link; today it re-exports the storage layer
//! ([`store`]), on which segments, commits and recovery are built.

pub use lucerna_store as store;
