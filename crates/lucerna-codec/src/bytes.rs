//! Little-endian and variable-length integer encoding, and a bounds-checked
//! reader that turns every overrun into a [`StoreError::Corrupt`].

use lucerna_store::{Result, StoreError};

/// Appends little-endian integers and LEB128 varints to a `Vec<u8>`.
#[derive(Debug, Default, Clone)]
pub struct ByteWriter {
    /// The bytes written so far.
    pub buf: Vec<u8>,
}

impl ByteWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }
    /// Appends one byte.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    /// Appends a little-endian u16.
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Appends a little-endian u32.
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Appends a little-endian u64.
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Appends a LEB128 varint (1..=10 bytes).
    pub fn vint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }
    /// Appends raw bytes.
    pub fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    /// Appends a varint length and the bytes.
    pub fn len_bytes(&mut self, b: &[u8]) {
        self.vint(b.len() as u64);
        self.bytes(b);
    }
    /// Bytes written.
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// A cursor over bytes read from a file. Every read is bounds-checked; an
/// overrun or a malformed value is a [`StoreError::Corrupt`] naming the file
/// and the absolute offset (`base` + position).
///
/// ```
/// use lucerna_codec::{ByteReader, ByteWriter};
/// let mut w = ByteWriter::new();
/// w.vint(300);
/// w.u32(7);
/// let mut r = ByteReader::new("f", 0, &w.buf);
/// assert_eq!(r.vint().unwrap(), 300);
/// assert_eq!(r.u32().unwrap(), 7);
/// assert!(r.u8().is_err()); // past the end: an error, not a panic
/// ```
#[derive(Debug, Clone)]
pub struct ByteReader<'a> {
    file: &'a str,
    base: u64,
    data: &'a [u8],
    pos: usize,
}

impl<'a> ByteReader<'a> {
    /// A reader over `data`, which starts at absolute offset `base` of `file`.
    pub fn new(file: &'a str, base: u64, data: &'a [u8]) -> Self {
        ByteReader {
            file,
            base,
            data,
            pos: 0,
        }
    }

    /// The file name.
    pub fn file(&self) -> &'a str {
        self.file
    }

    /// Position within `data`.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Absolute offset in the file of the current position.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// Moves to `pos` (within `data`).
    pub fn seek(&mut self, pos: usize) -> Result<()> {
        if pos > self.data.len() {
            return Err(self.err_at(pos, "seek past the end"));
        }
        self.pos = pos;
        Ok(())
    }

    /// A corruption error at the current position.
    pub fn err(&self, reason: impl Into<String>) -> StoreError {
        self.err_at(self.pos, reason)
    }

    /// A corruption error at position `pos`.
    pub fn err_at(&self, pos: usize, reason: impl Into<String>) -> StoreError {
        StoreError::corrupt(self.file, self.base + pos as u64, 0, 0, reason.into())
    }

    /// A corruption error carrying expected and actual values.
    pub fn err_value(&self, expected: u64, actual: u64, reason: impl Into<String>) -> StoreError {
        StoreError::corrupt(self.file, self.offset(), expected, actual, reason.into())
    }

    /// Takes `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        match self.pos.checked_add(n) {
            Some(end) if end <= self.data.len() => {
                let s = &self.data[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            _ => Err(StoreError::corrupt(
                self.file,
                self.offset(),
                n as u64,
                self.remaining() as u64,
                "read past the end of the data",
            )),
        }
    }

    /// Reads one byte.
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    /// Reads a little-endian u16.
    pub fn u16(&mut self) -> Result<u16> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    /// Reads a little-endian u32.
    pub fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// Reads a little-endian u64.
    pub fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    /// Reads a LEB128 varint of at most 10 bytes.
    pub fn vint(&mut self) -> Result<u64> {
        let start = self.pos;
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = match self.data.get(self.pos) {
                Some(b) => *b,
                None => return Err(self.err_at(start, "varint runs past the end")),
            };
            self.pos += 1;
            if i == 9 && b > 1 {
                return Err(self.err_at(start, "varint overflows 64 bits"));
            }
            v |= ((b & 0x7f) as u64) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.err_at(start, "varint longer than 10 bytes"))
    }
    /// Skips `n` varints without decoding them (each ends at a byte below
    /// 0x80): the fast path past the positions of documents a phrase does
    /// not need.
    pub fn skip_vints(&mut self, n: u64) -> Result<()> {
        if n == 0 {
            return Ok(());
        }
        let start = self.pos;
        let data = &self.data[self.pos.min(self.data.len())..];
        let mut left = n;
        // Eight bytes at a time while they cannot hold the last varint's
        // end: a byte below 0x80 ends a varint, so a word holds as many
        // ends as it has bytes with the high bit clear.
        let mut at = 0;
        while let Some(word) = data.get(at..at + 8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            let ends = 8 - u64::from((u64::from_le_bytes(w) & 0x8080_8080_8080_8080).count_ones());
            if ends >= left {
                break;
            }
            left -= ends;
            at += 8;
        }
        for (i, &b) in data[at..].iter().enumerate() {
            left -= (b < 0x80) as u64;
            if left == 0 {
                self.pos += at + i + 1;
                return Ok(());
            }
        }
        Err(self.err_at(start, "varints run past the end"))
    }
    /// Reads a varint that must fit `max` (a count or length from disk).
    pub fn vint_max(&mut self, max: u64, what: &str) -> Result<u64> {
        let at = self.offset();
        let v = self.vint()?;
        if v > max {
            return Err(StoreError::corrupt(
                self.file,
                at,
                max,
                v,
                format!("{what} out of range"),
            ));
        }
        Ok(v)
    }
    /// Reads a varint as usize bounded by the bytes remaining (a length of
    /// something that follows in the data).
    pub fn len_prefix(&mut self) -> Result<usize> {
        let rem = self.remaining() as u64;
        Ok(self.vint_max(rem, "length")? as usize)
    }
    /// Reads a varint length and that many bytes.
    pub fn len_bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.len_prefix()?;
        self.take(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Skipping `n` varints lands where decoding `n` of them does, or
        /// fails as decoding runs out, from any start, over any bytes (the
        /// word-at-a-time count must never pass the last varint's end).
        #[test]
        fn skip_vints_stops_where_decoding_does(
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
            start in 0usize..40,
            n in 0u64..60,
        ) {
            let start = start.min(bytes.len());
            let ends: Vec<usize> = bytes[start..]
                .iter()
                .enumerate()
                .filter(|(_, &b)| b < 0x80)
                .map(|(i, _)| start + i + 1)
                .collect();
            let mut r = ByteReader::new("t", 0, &bytes);
            r.seek(start).unwrap();
            let got = r.skip_vints(n);
            if n == 0 {
                prop_assert!(got.is_ok());
                prop_assert_eq!(r.pos(), start);
            } else if let Some(&end) = ends.get(n as usize - 1) {
                prop_assert!(got.is_ok());
                prop_assert_eq!(r.pos(), end);
            } else {
                prop_assert!(got.is_err());
            }
        }

        #[test]
        fn vint_roundtrip(vs in proptest::collection::vec(any::<u64>(), 0..50)) {
            let mut w = ByteWriter::new();
            for &v in &vs { w.vint(v); }
            let mut r = ByteReader::new("t", 0, &w.buf);
            for &v in &vs { prop_assert_eq!(r.vint().unwrap(), v); }
            prop_assert_eq!(r.remaining(), 0);
        }

        #[test]
        fn random_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut r = ByteReader::new("t", 0, &b);
            while r.remaining() > 0 {
                if r.vint().is_err() { break; }
                if r.len_bytes().is_err() { break; }
            }
        }
    }
}
