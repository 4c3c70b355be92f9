//! JSON lines in: one document per line, numbered from 1, each line
//! accepted or rejected on its own.
//!
//! * [`LineReader`] splits an input into numbered lines (blank lines
//!   skipped, line ends removed, invalid UTF-8 and over-long lines
//!   rejected alone); only a failure to read the input ends it.
//! * [`parse_document`] turns one line into a [`Document`](crate::Document)
//!   of a schema, or says why the line is rejected (the field, what was
//!   expected, or the column of a syntax error).
//!
//! `lucerna index`, `lucerna add` and the `lucerna-server` bulk endpoint
//! read their input through these two, so they accept and refuse exactly
//! the same lines with the same messages.
//!
//! ```
//! use lucerna::jsonl::{parse_document, InputLine, LineReader};
//! use lucerna::schema::Schema;
//! let schema = Schema::log_lines(true);
//! let input = b"{\"id\": 1, \"body\": \"disk full\"}\n\n{\"id\": \"x\"}\n";
//! let mut lines = LineReader::new(&input[..]);
//! let mut results = Vec::new();
//! while let Some((n, line)) = lines.next_line().unwrap() {
//!     let r = match line {
//!         InputLine::Text(t) => parse_document(&schema, &t).map(|_| ()),
//!         InputLine::Rejected(why) => Err(why),
//!     };
//!     results.push((n, r.is_ok()));
//! }
//! assert_eq!(results, vec![(1, true), (3, false)]);
//! ```

mod document;
mod lines;

pub use document::parse_document;
pub use lines::{InputLine, LineReader, MAX_LINE_BYTES};
