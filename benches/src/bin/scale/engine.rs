//! One engine behind the peers' command contract (`index` and `query`,
//! see the peers' README), run under GNU `time` for its peak resident set
//! and the bytes it wrote to disk.

use crate::BoxError;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// An engine: a name and the program that follows the contract.
#[derive(Debug, Clone)]
pub(crate) struct Engine {
    pub(crate) name: String,
    pub(crate) program: PathBuf,
}

/// What one `index` run measured.
#[derive(Debug, Clone)]
pub(crate) struct IndexRun {
    pub(crate) docs: u64,
    pub(crate) seconds: f64,
    pub(crate) docs_per_s: f64,
    pub(crate) index_bytes: u64,
    pub(crate) segments: Option<u64>,
    /// The process's peak resident set (GNU time's `%M`).
    pub(crate) peak_rss_bytes: u64,
    /// Bytes the process wrote to disk (GNU time's `%O`, 512-byte blocks:
    /// pages it dirtied, so a file deleted before write-back still counts).
    pub(crate) disk_bytes_written: u64,
    /// Segment bytes written by flushes and by merges, for engines that
    /// report them (Lucerna).
    pub(crate) bytes_flushed: Option<u64>,
    pub(crate) bytes_merged: Option<u64>,
}

impl IndexRun {
    /// Bytes written to disk over the final index's size.
    pub(crate) fn disk_write_amplification(&self) -> f64 {
        self.disk_bytes_written as f64 / self.index_bytes.max(1) as f64
    }

    /// Segment bytes written (flushes and merges) over the bytes flushed:
    /// how many times, on average, merges rewrote a flushed byte, plus one.
    pub(crate) fn merge_write_amplification(&self) -> Option<f64> {
        let (f, m) = (self.bytes_flushed?, self.bytes_merged?);
        Some((f + m) as f64 / f.max(1) as f64)
    }
}

/// Latency percentiles of one query kind, in microseconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Percentiles {
    pub(crate) n: u64,
    pub(crate) p50: f64,
    pub(crate) p99: f64,
}

/// What one `query` run measured.
#[derive(Debug, Clone)]
pub(crate) struct QueryRun {
    /// Per kind (`term`, `and`, `or`, `phrase`).
    pub(crate) kinds: BTreeMap<String, Percentiles>,
    /// Each query's hit count, in file order (`None` in top-K mode).
    pub(crate) counts: Vec<Option<u64>>,
}

impl Engine {
    /// Indexes `input` into `index` (which must not exist).
    pub(crate) fn index(
        &self,
        input: &Path,
        index: &Path,
        threads: usize,
        mem_mb: usize,
        logs: &Path,
    ) -> Result<IndexRun, BoxError> {
        let time_out = logs.join(format!("{}-index.time", self.name));
        let out = Command::new("/usr/bin/time")
            .arg("-f")
            .arg("%M %O")
            .arg("-o")
            .arg(&time_out)
            .arg(&self.program)
            .arg("index")
            .arg("--input")
            .arg(input)
            .arg("--index")
            .arg(index)
            .arg("--threads")
            .arg(threads.to_string())
            .arg("--mem-mb")
            .arg(mem_mb.to_string())
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("cannot run /usr/bin/time (GNU time): {e}"))?;
        if !out.status.success() {
            return Err(format!("{} index failed: {}", self.name, out.status).into());
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with('{'))
            .ok_or_else(|| format!("{} index printed no JSON line", self.name))?;
        let v: Value = serde_json::from_str(line)?;
        let time = std::fs::read_to_string(&time_out)?;
        // GNU time may print "Command exited …" first: the figures are last.
        let mut nums = time
            .lines()
            .last()
            .unwrap_or("")
            .split_whitespace()
            .map(|s| s.parse::<u64>());
        let (rss_kb, blocks) = match (nums.next(), nums.next()) {
            (Some(Ok(r)), Some(Ok(b))) => (r, b),
            _ => return Err(format!("unexpected GNU time output: {time:?}").into()),
        };
        let num = |k: &str| v.get(k).and_then(Value::as_f64);
        let int = |k: &str| v.get(k).and_then(Value::as_u64);
        Ok(IndexRun {
            docs: int("docs").ok_or("no docs")?,
            seconds: num("seconds").ok_or("no seconds")?,
            docs_per_s: num("docs_per_s").ok_or("no docs_per_s")?,
            index_bytes: int("index_bytes").ok_or("no index_bytes")?,
            segments: int("segments"),
            peak_rss_bytes: rss_kb * 1024,
            disk_bytes_written: blocks * 512,
            bytes_flushed: int("bytes_flushed"),
            bytes_merged: int("bytes_merged"),
        })
    }

    /// Runs the query set `queries` on `index` in `mode` (`count` or
    /// `topk`); keeps the raw output in `logs`.
    pub(crate) fn query(
        &self,
        index: &Path,
        queries: &Path,
        repeat: usize,
        top: usize,
        mode: &str,
        raw: &Path,
    ) -> Result<QueryRun, BoxError> {
        let out = Command::new(&self.program)
            .arg("query")
            .arg("--index")
            .arg(index)
            .arg("--queries")
            .arg(queries)
            .arg("--repeat")
            .arg(repeat.to_string())
            .arg("--top")
            .arg(top.to_string())
            .arg("--mode")
            .arg(mode)
            .stderr(Stdio::inherit())
            .output()?;
        if !out.status.success() {
            return Err(format!("{} query --mode {mode} failed: {}", self.name, out.status).into());
        }
        std::fs::write(raw, &out.stdout)?;
        let text = String::from_utf8_lossy(&out.stdout);
        let mut counts = Vec::new();
        let mut kinds = BTreeMap::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: Value = serde_json::from_str(line)?;
            if let Some(summary) = v.get("summary").and_then(Value::as_object) {
                for (kind, s) in summary {
                    let f = |k: &str| s.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
                    kinds.insert(
                        kind.clone(),
                        Percentiles {
                            n: s.get("n").and_then(Value::as_u64).unwrap_or(0),
                            p50: f("p50"),
                            p99: f("p99"),
                        },
                    );
                }
            } else {
                counts.push(v.get("count").and_then(Value::as_u64));
            }
        }
        if kinds.is_empty() {
            return Err(format!("{} query printed no summary line", self.name).into());
        }
        Ok(QueryRun { kinds, counts })
    }
}
