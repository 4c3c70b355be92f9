//! The corpus: log lines read from `logs.jsonl`, and the terms the
//! searchers query.

use crate::args::Args;
use crate::BoxError;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// Where `prepare.sh` writes the logs corpus, relative to the repository
/// root.
const DEFAULT_CORPUS: &str = "../shared/peers/corpus/out/logs.jsonl";
/// Terms every searcher queries (chosen from the corpus at these frequency
/// ranks).
const QUERY_RANKS: [usize; 5] = [0, 5, 30, 150, 800];

/// One corpus line.
pub(crate) struct Line {
    pub(crate) body: String,
    pub(crate) timestamp: u64,
}

/// Where the documents come from.
pub(crate) enum Source {
    /// A JSON-lines file.
    File(PathBuf),
    /// [`lucerna_benches::synthetic`] lines: no corpus was given and the
    /// shared one is not built.
    Synthetic,
}

impl Source {
    /// How the report names it.
    pub(crate) fn name(&self) -> String {
        match self {
            Source::File(p) => p.display().to_string(),
            Source::Synthetic => format!("synthetic ({SYNTHETIC_LINES} generated log lines)"),
        }
    }
}

/// Lines of the synthetic corpus (about the size of the shared one).
const SYNTHETIC_LINES: usize = 32_000;

/// `--corpus` (the word `synthetic` asks for synthetic lines), else
/// `$LUCERNA_BENCH_CORPUS/logs.jsonl`, else the shared corpus when it is
/// built, else synthetic lines.
pub(crate) fn corpus_source(args: &Args) -> Source {
    if let Some(p) = &args.corpus {
        if p.as_os_str() == "synthetic" {
            return Source::Synthetic;
        }
        return Source::File(p.clone());
    }
    if std::env::var_os(lucerna_benches::CORPUS_ENV).is_some() {
        return Source::File(lucerna_benches::corpus_dir().join("logs.jsonl"));
    }
    let relative = PathBuf::from(DEFAULT_CORPUS);
    if relative.exists() {
        return Source::File(relative);
    }
    // `cargo run` from elsewhere: beside this crate's repository.
    let beside = lucerna_benches::corpus_dir().join("logs.jsonl");
    if beside.exists() {
        return Source::File(beside);
    }
    Source::Synthetic
}

/// The documents of `source`.
pub(crate) fn load(source: &Source) -> Result<Vec<Line>, BoxError> {
    match source {
        Source::File(p) => load_corpus(p),
        Source::Synthetic => Ok(lucerna_benches::synthetic::log_lines(SYNTHETIC_LINES, 1)
            .into_iter()
            .map(|l| Line {
                body: l.body,
                timestamp: l.timestamp,
            })
            .collect()),
    }
}

pub(crate) fn load_corpus(path: &Path) -> Result<Vec<Line>, BoxError> {
    let file = std::fs::File::open(path).map_err(|e| {
        format!(
            "cannot read the corpus {}: {e}\n\
             Build it with ../shared/peers/corpus/prepare.sh (from the repository \
             root), pass another logs.jsonl file, or leave --corpus out to run on \
             synthetic lines",
            path.display()
        )
    })?;
    let mut lines = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&line)
            .map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))?;
        let Some(body) = v.get("body").and_then(Value::as_str) else {
            continue;
        };
        lines.push(Line {
            body: body.to_string(),
            timestamp: v.get("timestamp").and_then(Value::as_u64).unwrap_or(0),
        });
    }
    if lines.is_empty() {
        return Err(format!("the corpus {} has no document with a body", path.display()).into());
    }
    Ok(lines)
}

/// Terms at a few frequency ranks of the corpus (lowercased alphanumeric
/// runs, as the default analyzer produces, of at least three letters).
pub(crate) fn query_terms(corpus: &[Line]) -> Vec<String> {
    let words = lucerna_benches::words_by_frequency(corpus.iter().map(|l| l.body.as_str()));
    QUERY_RANKS
        .iter()
        .filter_map(|&r| words.get(r).cloned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_lines_give_queries() {
        let lines = load(&Source::Synthetic).unwrap();
        assert_eq!(lines.len(), SYNTHETIC_LINES);
        assert_eq!(query_terms(&lines).len(), QUERY_RANKS.len());
    }

    #[test]
    fn a_missing_corpus_says_how_to_build_it() {
        let e = load_corpus(Path::new("no/such/logs.jsonl"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("prepare.sh"), "{e}");
    }
}
