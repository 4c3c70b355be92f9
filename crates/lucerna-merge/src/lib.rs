//! # lucerna-merge
//!
//! Merge policy, merge scheduling, IO throttling and writer backpressure for
//! Lucerna. This crate works on segment descriptors and "merge these"
//! callbacks; it knows nothing of postings or files.
//!
//! * [`TieredMergePolicy`] (module [`tiered`]) decides which segments to
//!   merge: Lucene's tiered policy, re-derived, with the same knobs and
//!   defaults. [`NoMergePolicy`] never merges.
//! * [`MergeScheduler`] (module [`scheduler`]) runs merges of many indexes
//!   on a bounded thread pool, smallest first within an index and by
//!   deficit round robin across indexes.
//! * [`RateLimiter`] (module [`rate_limiter`]) throttles merge writes at a
//!   fixed or automatically adjusted rate.
//! * [`Backpressure`] (module [`backpressure`]) admits an index's writers
//!   freely, at a rate its merges absorb (a [`TokenBucket`], module
//!   [`token_bucket`], whose rate a [`RateController`], module
//!   [`rate_control`], adjusts), or not at all past a hard limit, from the
//!   index's merge and flush backlog.
//! * Time goes through a [`Clock`]; tests use a [`ManualClock`].
//!
//! A typical loop after each flush of an index:
//!
//! 1. `policy.find_merges(&segments, &merging)` → merges;
//! 2. for each, `scheduler.submit(handle, MergeTask::new(m.total_bytes, ...))`,
//!    marking its segments as merging; on `QueueFull`, keep the merge for
//!    later;
//! 3. feed `Backpressure` with the scheduler's
//!    [`IndexMergeMetrics::backlog_bytes`], the segment count versus
//!    [`MergePolicy::segment_budget`] and the unflushed bytes, and with
//!    each finished merge and flush ([`Backpressure::record_merge`],
//!    [`Backpressure::record_flush`]); let writers
//!    [`Backpressure::admit`] each document's bytes.

#![forbid(unsafe_code)]

pub mod backpressure;
pub mod clock;
mod error;
pub mod fresh;
pub mod policy;
pub mod rate_control;
pub mod rate_limiter;
pub mod scheduler;
pub mod tiered;
pub mod token_bucket;

pub use backpressure::{
    hard_limit_reached, pressure, Backlog, Backpressure, BackpressureConfig, BackpressureError,
    BackpressureStats, Decision, StallReason, MIN_SLEEP,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::MergeError;
pub use fresh::fresh_merges;
pub use policy::{MergeKind, MergePolicy, NoMergePolicy, OneMerge, SegmentDescriptor};
pub use rate_control::RateController;
pub use rate_limiter::{AutoThrottle, RateLimiter, RateLimiterStats};
pub use scheduler::{
    default_threads, IndexHandle, IndexMergeMetrics, MergeContext, MergeFn, MergeId,
    MergeScheduler, MergeTask, SchedulerConfig, SchedulerStats, ShutdownMode, SubmitError,
};
pub use tiered::{
    MergeScore, SegmentBudget, TieredMergePolicy, TieredMergePolicyBuilder, GIB, MIB,
};
pub use token_bucket::TokenBucket;
