//! The engine's `tracing` events (flushes, merges, backpressure,
//! corruption, heals and repairs, replication, log replay, commits) on
//! standard error, as text or JSON lines, filtered by `RUST_LOG`. Default
//! filter `warn`: a normal run prints only what needs attention (damage
//! found, a repair, a stall, a failed replica); `RUST_LOG=lucerna=debug`
//! shows every flush and merge.

use clap::ValueEnum;
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// How events are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the process's subscriber (the library never installs one).
pub fn install(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
