//! # lucerna-merge
//!
//! Merge policy, merge scheduling, IO throttling and writer backpressure.
//! Works on segment descriptors and a "merge these" callback; knows nothing
//! of postings.
