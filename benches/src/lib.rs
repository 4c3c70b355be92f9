//! Benchmarks of Lucerna: criterion micro-benchmarks live in `benches/`,
//! the ingest-spike scenario in `src/bin/spike/`. This library holds what
//! they share: where the shared corpus is, and the synthetic log lines
//! used when it is not built.
#![forbid(unsafe_code)]

pub mod synthetic;

use std::path::{Path, PathBuf};

/// Environment variable naming the corpus directory (the `out/` directory
/// that `../shared/peers/corpus/prepare.sh` writes).
pub const CORPUS_ENV: &str = "LUCERNA_BENCH_CORPUS";

/// The corpus directory: `$LUCERNA_BENCH_CORPUS`, else
/// `../shared/peers/corpus/out` beside the repository.
///
/// ```
/// let dir = lucerna_benches::corpus_dir();
/// assert!(dir.ends_with("out") || std::env::var_os(lucerna_benches::CORPUS_ENV).is_some());
/// ```
pub fn corpus_dir() -> PathBuf {
    match std::env::var_os(CORPUS_ENV) {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/peers/corpus/out"),
    }
}
