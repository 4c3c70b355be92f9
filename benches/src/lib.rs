//! Benchmarks of Lucerna: criterion micro-benchmarks live in `benches/`,
//! the ingest-spike, queries-per-second and scale scenarios in `src/bin/`.
//! This library holds what they share: where the shared corpus is, the
//! synthetic log lines used when it is not built, and the real log lines
//! scaled up for the scale benchmark.
#![forbid(unsafe_code)]

pub mod scaled_logs;
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

/// The words of `bodies` as the default analyzer produces them
/// (lowercased alphanumeric runs), keeping those of at least three
/// letters, most frequent first (ties in alphabetical order): where the
/// benchmarks draw their query terms from.
///
/// ```
/// let words = lucerna_benches::words_by_frequency(["Disk full", "disk OK", "no disk 42"]);
/// assert_eq!(words, ["disk", "full"]);
/// ```
pub fn words_by_frequency<'a>(bodies: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut freq: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    for body in bodies {
        for t in body
            .split(|c: char| !c.is_alphanumeric())
            .filter(|t| t.len() >= 3 && t.chars().all(char::is_alphabetic))
        {
            *freq.entry(t.to_lowercase()).or_default() += 1;
        }
    }
    let mut v: Vec<(String, u64)> = freq.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.into_iter().map(|(w, _)| w).collect()
}
