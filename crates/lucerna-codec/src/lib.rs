//! # lucerna-codec
//!
//! The on-disk formats of one segment, each file in the checksummed envelope
//! of [`lucerna_store::envelope`]. Writers and readers only: nothing here
//! knows about indexes, commits or threads.
//!
//! Every decoder reads through [`ByteReader`], which bounds-checks every
//! length and offset and reports a [`StoreError::Corrupt`] naming the file and
//! the absolute byte offset; a decoder never trusts a count read from disk.

#![forbid(unsafe_code)]

pub mod bitpack;
pub mod bytes;
pub mod columns;
pub mod livedocs;
pub mod norms;
pub mod positions;
pub mod postings;
pub mod stored;
pub mod termdict;

pub use bytes::{ByteReader, ByteWriter};
pub use columns::{Column, ColumnsReader, ColumnsWriter};
pub use livedocs::LiveDocs;
pub use lucerna_store::{Result, StoreError};
pub use norms::{FieldNorms, NormsReader, NormsWriter};
pub use postings::{PostingsReader, PostingsWriter, SegmentPostings, TermInfo};
pub use stored::{StoredOptions, StoredReader, StoredValue, StoredWriter};
pub use termdict::{TermDict, TermDictWriter};
