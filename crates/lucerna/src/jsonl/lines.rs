//! The JSON-lines reader: one document per line, numbered from 1.
//!
//! Every input is read through [`LineReader`] and each line turned into a
//! document with [`parse_document`](super::parse_document):
//!
//! * a line's own end (`\n`, or `\r\n`) is not part of it;
//! * a blank line (only spaces, tabs and carriage returns) is skipped, in
//!   the line count like any other;
//! * a line that is not valid UTF-8, or longer than [`MAX_LINE_BYTES`], is
//!   rejected on its own with its line number, and reading goes on;
//! * only a failure to read the input itself (an IO error) ends the read.

use std::io::{self, BufRead, Read};

/// Longest line accepted, in bytes (without its line end). A longer line
/// is rejected without being held in memory whole.
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// One non-blank line of the input.
#[derive(Debug)]
pub enum InputLine {
    /// The line's text, without its line end.
    Text(String),
    /// The line cannot be a document (not UTF-8, too long): why.
    Rejected(String),
}

/// Reads numbered lines from a JSON-lines input.
pub struct LineReader<R> {
    inner: R,
    lineno: u64,
    bytes_read: u64,
    buf: Vec<u8>,
}

impl<R: BufRead> LineReader<R> {
    /// A reader over `inner`.
    pub fn new(inner: R) -> Self {
        LineReader {
            inner,
            lineno: 0,
            bytes_read: 0,
            buf: Vec::new(),
        }
    }

    /// Bytes consumed so far (line ends included).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The next non-blank line with its 1-based number, `None` at the end
    /// of the input. Errors only when the input cannot be read.
    pub fn next_line(&mut self) -> io::Result<Option<(u64, InputLine)>> {
        Ok(self.next_line_ref()?.map(|(n, line)| {
            (
                n,
                match line {
                    Ok(t) => InputLine::Text(t.to_string()),
                    Err(why) => InputLine::Rejected(why),
                },
            )
        }))
    }

    /// As [`next_line`](Self::next_line), the text borrowed from the
    /// reader's buffer (no allocation per line): `Ok(text)` for a line
    /// that may be a document, `Err(why)` for one that cannot be.
    ///
    /// ```
    /// use lucerna::jsonl::LineReader;
    ///
    /// let mut r = LineReader::new(&b"{\"id\": 1}\r\n\n\xff\n"[..]);
    /// assert_eq!(r.next_line_ref().unwrap(), Some((1, Ok("{\"id\": 1}"))));
    /// assert!(matches!(r.next_line_ref().unwrap(), Some((3, Err(_)))));
    /// assert_eq!(r.next_line_ref().unwrap(), None);
    /// ```
    pub fn next_line_ref(&mut self) -> io::Result<Option<(u64, Result<&str, String>)>> {
        let len = loop {
            self.buf.clear();
            let limit = MAX_LINE_BYTES as u64 + 2; // room for "\r\n"
            let n = (&mut self.inner)
                .take(limit)
                .read_until(b'\n', &mut self.buf)?;
            if n == 0 {
                return Ok(None);
            }
            self.bytes_read += n as u64;
            self.lineno += 1;
            let ended = self.buf.last() == Some(&b'\n');
            if !ended && n as u64 == limit {
                // Over the limit: skip the rest of the line unread.
                self.bytes_read += self.skip_rest_of_line()?;
                return Ok(Some((
                    self.lineno,
                    Err(format!(
                        "the line is longer than the limit of {} MiB",
                        MAX_LINE_BYTES >> 20
                    )),
                )));
            }
            let mut line = &self.buf[..];
            if let Some(l) = line.strip_suffix(b"\n") {
                line = l;
            }
            if let Some(l) = line.strip_suffix(b"\r") {
                line = l;
            }
            if line.len() > MAX_LINE_BYTES {
                return Ok(Some((
                    self.lineno,
                    Err(format!(
                        "the line is longer than the limit of {} MiB",
                        MAX_LINE_BYTES >> 20
                    )),
                )));
            }
            if line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
                continue;
            }
            break line.len();
        };
        match std::str::from_utf8(&self.buf[..len]) {
            Ok(text) => Ok(Some((self.lineno, Ok(text)))),
            Err(e) => Ok(Some((
                self.lineno,
                Err(format!(
                    "not valid UTF-8 (byte {} of the line)",
                    e.valid_up_to() + 1
                )),
            ))),
        }
    }

    /// Discards input up to and including the next `\n`; returns the bytes
    /// skipped.
    fn skip_rest_of_line(&mut self) -> io::Result<u64> {
        let mut skipped = 0u64;
        loop {
            let chunk = match self.inner.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                return Ok(skipped);
            }
            match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.inner.consume(i + 1);
                    return Ok(skipped + i as u64 + 1);
                }
                None => {
                    let len = chunk.len();
                    self.inner.consume(len);
                    skipped += len as u64;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> Vec<(u64, Result<String, String>)> {
        let mut r = LineReader::new(input);
        let mut out = Vec::new();
        while let Some((n, l)) = r.next_line().unwrap() {
            out.push((
                n,
                match l {
                    InputLine::Text(t) => Ok(t),
                    InputLine::Rejected(m) => Err(m),
                },
            ));
        }
        assert_eq!(r.bytes_read(), input.len() as u64);
        out
    }

    #[test]
    fn line_ends_blank_lines_and_numbers() {
        let got = lines(b"a\r\n\n  \t\r\nb\n\xff\xfe\nc");
        assert_eq!(got[0], (1, Ok("a".into())));
        assert_eq!(got[1], (4, Ok("b".into())));
        assert_eq!(got[2].0, 5);
        assert!(got[2].1.as_ref().unwrap_err().contains("UTF-8 (byte 1"));
        assert_eq!(got[3], (6, Ok("c".into())));
        assert_eq!(got.len(), 4);
    }

    #[test]
    fn a_long_line_is_rejected_alone() {
        let mut input = vec![b'x'; MAX_LINE_BYTES + 10];
        input.extend_from_slice(b"\n{}\n");
        let got = lines(&input);
        assert_eq!(got.len(), 2);
        assert!(got[0].1.as_ref().unwrap_err().contains("longer than"));
        assert_eq!(got[1], (2, Ok("{}".into())));
        // Exactly at the limit, with a CRLF end: accepted.
        let mut input = vec![b'y'; MAX_LINE_BYTES];
        input.extend_from_slice(b"\r\n");
        assert!(lines(&input)[0].1.is_ok());
    }
}
