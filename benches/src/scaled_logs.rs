//! Real log lines scaled up: the scale benchmark's corpus.
//!
//! The peers' `logs-big` corpus cycles 32,000 real lines, so every term
//! repeats and the term dictionary stops growing after the first cycle.
//! Real logs do not: pids, ports, addresses, request ids and clock times
//! change from line to line. [`ScaledLogs`] cycles the same real lines
//! with distinct ids and increasing timestamps, and re-draws the numbers
//! inside each line (seeded, same length), so the dictionary grows with
//! the data as it does in production.
//!
//! What is re-drawn, in each run of ASCII letters and digits that holds a
//! digit:
//! - a run of digits only (`1702`, `2005`, the parts of `16:13:38.811`,
//!   `10.250.19.102`): every digit;
//! - a run with two digits or more (`t761`, `R02`, `blk_3587` is `blk` and
//!   `3587`): every digit, letters kept;
//! - a hexadecimal run of at least six characters with a digit
//!   (`9f4ef63`, `de9231d`): every character, as a hexadecimal digit of
//!   the same kind (digit, lowercase or uppercase letter);
//! - a word with a single digit (`ssh2`, `log4j`, `u0`) is kept.
//!
//! Everything else (words, punctuation, non-ASCII text) is kept byte for
//! byte, so each line keeps its length and shape.
//!
//! ```
//! use lucerna_benches::scaled_logs::{ScaledLogs, SourceLine};
//! let src = vec![SourceLine::new("sshd[1702]: port 2395 from 10.0.0.1", "{}")];
//! let mut logs = ScaledLogs::new(src, 7);
//! let mut out = Vec::new();
//! logs.write_line(0, &mut out).unwrap();
//! let line: serde_json::Value = serde_json::from_slice(&out).unwrap();
//! let body = line["body"].as_str().unwrap();
//! assert_eq!(body.len(), 35);
//! assert!(body.starts_with("sshd["));
//! assert_eq!(line["id"], 0);
//! ```

use lucerna_store::rng::SplitMix64;
use std::io::{self, Write};

/// The first timestamp of the stream (2024-01-01T00:00:00Z), as the peers'
/// corpora.
pub const START_MS: u64 = 1_704_067_200_000;

/// Milliseconds between two lines' timestamps, as the peers' corpora.
pub const STEP_MS: u64 = 250;

/// How one byte of a body is re-drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Redraw {
    Digit,
    HexLower,
    HexUpper,
}

/// One real line: its body, the positions to re-draw, and the rest of its
/// JSON object.
#[derive(Debug, Clone)]
pub struct SourceLine {
    body: Vec<u8>,
    redraw: Vec<(u32, Redraw)>,
    /// The object's other fields, serialized: `,"source":"…"}` (or `}`).
    tail: String,
}

impl SourceLine {
    /// A line with `body` and `rest`, a JSON object of its other fields
    /// (`{}` for none) written after `id`, `timestamp` and `body`.
    pub fn new(body: &str, rest: &str) -> SourceLine {
        let rest = rest.trim();
        let inner = rest
            .strip_prefix('{')
            .and_then(|r| r.strip_suffix('}'))
            .unwrap_or("")
            .trim();
        let tail = if inner.is_empty() {
            "}".to_string()
        } else {
            format!(",{inner}}}")
        };
        SourceLine {
            body: body.as_bytes().to_vec(),
            redraw: positions(body.as_bytes()),
            tail,
        }
    }

    /// A line of a peers corpus (`{"id","timestamp","body",…}`): its
    /// `body` and every field but `id` and `timestamp`.
    pub fn from_json(line: &str) -> Result<SourceLine, String> {
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
        let obj = v.as_object().ok_or("not a JSON object")?;
        let body = obj
            .get("body")
            .and_then(|b| b.as_str())
            .ok_or("no string `body`")?;
        let rest: serde_json::Map<String, serde_json::Value> = obj
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "id" | "timestamp" | "body"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(SourceLine::new(
            body,
            &serde_json::Value::Object(rest).to_string(),
        ))
    }
}

/// The positions of `body` to re-draw (see the module docs).
fn positions(body: &[u8]) -> Vec<(u32, Redraw)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < body.len() {
        if !body[i].is_ascii_alphanumeric() {
            i += 1;
            continue;
        }
        let start = i;
        while i < body.len() && body[i].is_ascii_alphanumeric() {
            i += 1;
        }
        let run = &body[start..i];
        let digits = run.iter().filter(|b| b.is_ascii_digit()).count();
        if digits == 0 || (digits == 1 && run.len() > 1) {
            continue;
        }
        let hex = run.len() >= 6 && run.iter().all(u8::is_ascii_hexdigit);
        for (k, &b) in run.iter().enumerate() {
            let how = match b {
                b'0'..=b'9' => Redraw::Digit,
                b'a'..=b'f' if hex => Redraw::HexLower,
                b'A'..=b'F' if hex => Redraw::HexUpper,
                _ => continue,
            };
            out.push(((start + k) as u32, how));
        }
    }
    out
}

/// An endless stream of scaled log lines: line `i` is source line
/// `i % n` with id `i`, timestamp `START_MS + i × STEP_MS` and its numbers
/// re-drawn from a generator seeded once, so the stream is the same for
/// the same seed and the first `n` lines of a longer stream are a shorter
/// one's.
pub struct ScaledLogs {
    lines: Vec<SourceLine>,
    rng: SplitMix64,
    next: u64,
    body: Vec<u8>,
}

impl ScaledLogs {
    /// A stream over `lines` (at least one) from `seed`.
    pub fn new(lines: Vec<SourceLine>, seed: u64) -> ScaledLogs {
        assert!(!lines.is_empty(), "a stream needs a source line");
        ScaledLogs {
            lines,
            rng: SplitMix64::new(seed ^ 0x5CA1_E106),
            next: 0,
            body: Vec::new(),
        }
    }

    /// Writes line `id` as one JSON object and a newline. Lines must be
    /// written in order, from 0.
    pub fn write_line(&mut self, id: u64, out: &mut impl Write) -> io::Result<()> {
        assert_eq!(id, self.next, "scaled lines are written in order");
        self.next += 1;
        let src = &self.lines[(id % self.lines.len() as u64) as usize];
        self.body.clear();
        self.body.extend_from_slice(&src.body);
        for &(at, how) in &src.redraw {
            self.body[at as usize] = match how {
                Redraw::Digit => b'0' + self.rng.below(10) as u8,
                Redraw::HexLower => b"0123456789abcdef"[self.rng.below(16) as usize],
                Redraw::HexUpper => b"0123456789ABCDEF"[self.rng.below(16) as usize],
            };
        }
        // Only ASCII bytes were replaced by ASCII bytes.
        let body = std::str::from_utf8(&self.body).map_err(io::Error::other)?;
        write!(
            out,
            "{{\"id\":{id},\"timestamp\":{},\"body\":",
            START_MS + id * STEP_MS
        )?;
        serde_json::to_writer(&mut *out, body)?;
        out.write_all(src.tail.as_bytes())?;
        out.write_all(b"\n")
    }
}

/// The bodies of the first `n` scaled lines of the corpus's real log
/// lines (`logs.jsonl` in [`crate::corpus_dir`]), seeded with `seed`;
/// `None` when the corpus is not built. What the indexing and merge
/// micro-benchmarks feed: most lines bring new terms, as real logs do.
pub fn corpus_bodies(n: usize, seed: u64) -> Option<Vec<String>> {
    use std::io::BufRead;
    let f = std::fs::File::open(crate::corpus_dir().join("logs.jsonl")).ok()?;
    let src: Vec<SourceLine> = io::BufReader::new(f)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| SourceLine::from_json(&l).ok())
        .collect();
    if src.is_empty() {
        return None;
    }
    let mut logs = ScaledLogs::new(src, seed);
    let mut out = Vec::new();
    (0..n as u64)
        .map(|id| {
            out.clear();
            logs.write_line(id, &mut out).ok()?;
            let v: serde_json::Value = serde_json::from_slice(&out).ok()?;
            Some(v["body"].as_str()?.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(line: &[u8]) -> String {
        let v: serde_json::Value = serde_json::from_slice(line).unwrap();
        v["body"].as_str().unwrap().to_string()
    }

    #[test]
    fn only_numbers_and_hex_ids_change() {
        let text = "03-17 16:13:38.811 t761 ssh2 token=9f4ef63 AB12CD blk_-35 é42 end";
        let mut logs = ScaledLogs::new(vec![SourceLine::new(text, "{}")], 1);
        let mut changed = std::collections::HashSet::new();
        for id in 0..50 {
            let mut out = Vec::new();
            logs.write_line(id, &mut out).unwrap();
            let body = body_of(&out);
            assert_eq!(body.len(), text.len());
            for (i, (a, b)) in text.bytes().zip(body.bytes()).enumerate() {
                if a != b {
                    changed.insert(i);
                    assert!(a.is_ascii_hexdigit() && b.is_ascii_hexdigit(), "{body}");
                }
            }
            // Words and one-digit words stay.
            assert!(
                body.contains(" ssh2 token=") && body.contains(" blk_-") && body.ends_with(" end")
            );
        }
        // Every digit of a number moved at least once in 50 lines.
        for (i, b) in text.bytes().enumerate() {
            let in_word = text.as_bytes()[..i].ends_with(b"ssh");
            if b.is_ascii_digit() && !in_word {
                assert!(changed.contains(&i), "byte {i} of {text:?} never changed");
            }
        }
        // The letters of a hex id change, those of `t761` and `AB12CD` too
        // only where hexadecimal.
        assert!(changed.contains(&text.find("9f4").unwrap()));
        assert!(!changed.contains(&text.find("t761").unwrap()));
        assert!(changed.contains(&text.find("AB12").unwrap()));
    }

    #[test]
    fn the_stream_is_seeded_and_prefixes_agree() {
        let src = || {
            vec![
                SourceLine::from_json(
                    r#"{"id":5,"timestamp":9,"body":"pid 1234 port 80","source":"A"}"#,
                )
                .unwrap(),
                SourceLine::from_json(r#"{"body":"at 10:11:12 \"q\" 77"}"#).unwrap(),
            ]
        };
        let write = |n: u64, seed: u64| {
            let mut logs = ScaledLogs::new(src(), seed);
            let mut out = Vec::new();
            for id in 0..n {
                logs.write_line(id, &mut out).unwrap();
            }
            String::from_utf8(out).unwrap()
        };
        let long = write(10, 3);
        assert!(long.starts_with(&write(4, 3)));
        assert_ne!(long, write(10, 4));
        let lines: Vec<serde_json::Value> = long
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 10);
        for (i, l) in lines.iter().enumerate() {
            assert_eq!(l["id"], i as u64);
            assert_eq!(l["timestamp"], START_MS + i as u64 * STEP_MS);
        }
        assert_eq!(lines[2]["source"], "A");
        assert!(lines[1].get("source").is_none());
        assert!(lines[3]["body"].as_str().unwrap().contains("\"q\""));
        // Distinct numbers, not one repeated line.
        let bodies: std::collections::HashSet<_> =
            lines.iter().map(|l| l["body"].to_string()).collect();
        assert!(bodies.len() >= 9, "{bodies:?}");
    }
}
