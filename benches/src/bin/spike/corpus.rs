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

pub(crate) fn corpus_path(args: &Args) -> PathBuf {
    if let Some(p) = &args.corpus {
        return p.clone();
    }
    if std::env::var_os(lucerna_benches::CORPUS_ENV).is_some() {
        return lucerna_benches::corpus_dir().join("logs.jsonl");
    }
    let relative = PathBuf::from(DEFAULT_CORPUS);
    if relative.exists() {
        return relative;
    }
    // `cargo run` from elsewhere: beside this crate's repository.
    lucerna_benches::corpus_dir().join("logs.jsonl")
}

pub(crate) fn load_corpus(path: &Path) -> Result<Vec<Line>, BoxError> {
    let file = std::fs::File::open(path).map_err(|e| {
        format!(
            "cannot read the corpus {}: {e}\n\
             Build it first: run ../shared/peers/corpus/prepare.sh (from the repository \
             root), or pass --corpus PATH to a logs.jsonl file",
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
    let mut freq: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    for l in corpus {
        for t in l
            .body
            .split(|c: char| !c.is_alphanumeric())
            .filter(|t| t.len() >= 3 && t.chars().all(char::is_alphabetic))
        {
            *freq.entry(t.to_lowercase()).or_default() += 1;
        }
    }
    let mut v: Vec<(String, u64)> = freq.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    QUERY_RANKS
        .iter()
        .filter_map(|&r| v.get(r).map(|(t, _)| t.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_corpus_says_how_to_build_it() {
        let e = load_corpus(Path::new("no/such/logs.jsonl"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("prepare.sh"), "{e}");
    }
}
