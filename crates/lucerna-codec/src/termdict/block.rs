//! The key section of a block: every key after the block's first as the
//! length of the prefix it shares with the key before it and its suffix.

use super::MAX_KEY_LEN;
use crate::bytes::ByteReader;
use lucerna_store::{Result, StoreError};

/// Length of the longest common prefix of `a` and `b`.
#[inline]
pub(super) fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Reads a block's key section (or the length that starts a block). Every
/// read is bounds-checked: one-byte varints (nearly all of them, as key
/// lengths are small) take an inlined path, the rest and every error go
/// through [`ByteReader`].
pub(super) struct KeyCursor<'a> {
    file: &'a str,
    /// Offset of `data` in the file.
    base: u64,
    data: &'a [u8],
    pos: usize,
}

impl<'a> KeyCursor<'a> {
    /// A cursor over `data` (at `base` in `file`) at `pos`.
    pub fn new(file: &'a str, base: u64, data: &'a [u8], pos: usize) -> Self {
        KeyCursor {
            file,
            base,
            data,
            pos,
        }
    }

    /// Position within the data.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Absolute file offset of the position.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    #[cold]
    fn err(&self, at: usize, expected: u64, actual: u64, reason: &str) -> StoreError {
        StoreError::corrupt(self.file, self.base + at as u64, expected, actual, reason)
    }

    #[inline(always)]
    fn vint(&mut self) -> Result<u64> {
        match self.data.get(self.pos) {
            Some(&b) if b < 0x80 => {
                self.pos += 1;
                Ok(b as u64)
            }
            _ => self.vint_slow(),
        }
    }

    #[cold]
    #[inline(never)]
    fn vint_slow(&mut self) -> Result<u64> {
        let mut r = ByteReader::new(self.file, self.base, self.data);
        r.seek(self.pos)?;
        let v = r.vint()?;
        self.pos = r.pos();
        Ok(v)
    }

    /// Reads the length of the key section that starts a block: at most
    /// the bytes left.
    pub fn section_len(&mut self) -> Result<usize> {
        let at = self.pos;
        let len = self.vint()?;
        let left = self.data.len().saturating_sub(self.pos) as u64;
        if len > left {
            return Err(self.err(at, left, len, "key section longer than its block"));
        }
        Ok(len as usize)
    }

    /// Reads the key of a term after the first: the length of the prefix
    /// it shares with the previous key (of `prev_len` bytes), and its
    /// suffix, at least one byte, the whole key at most [`MAX_KEY_LEN`].
    #[inline(always)]
    pub fn key_delta(&mut self, prev_len: usize) -> Result<(usize, &'a [u8])> {
        let at = self.pos;
        let prefix = self.vint()?;
        if prefix > prev_len as u64 {
            return Err(self.err(
                at,
                prev_len as u64,
                prefix,
                "shared prefix longer than the previous key",
            ));
        }
        let prefix = prefix as usize;
        let len = self.vint()?;
        let max = MAX_KEY_LEN.saturating_sub(prefix) as u64;
        if len == 0 || len > max {
            return Err(self.err(
                at,
                max,
                len,
                "key suffix length out of range (1 ..= key limit)",
            ));
        }
        let start = self.pos;
        match start
            .checked_add(len as usize)
            .and_then(|end| Some((end, self.data.get(start..end)?)))
        {
            Some((end, suffix)) => {
                self.pos = end;
                Ok((prefix, suffix))
            }
            None => Err(self.err(
                start,
                len,
                self.data.len().saturating_sub(start) as u64,
                "key suffix runs past its section",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::ByteWriter;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn vints_agree_with_byte_reader(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut c = KeyCursor::new("t", 0, &bytes, 0);
            let mut r = ByteReader::new("t", 0, &bytes);
            loop {
                match (c.vint(), r.vint()) {
                    (Ok(a), Ok(b)) => {
                        prop_assert_eq!(a, b);
                        prop_assert_eq!(c.pos(), r.pos());
                    }
                    (Err(_), Err(_)) => break,
                    (a, b) => prop_assert!(false, "{:?} vs {:?}", a, b),
                }
            }
        }

        #[test]
        fn key_deltas_read_as_written(
            deltas in proptest::collection::vec((0usize..300, proptest::collection::vec(any::<u8>(), 1..200)), 0..20),
        ) {
            let mut w = ByteWriter::new();
            for (p, s) in &deltas {
                w.vint(*p as u64);
                w.len_bytes(s);
            }
            let mut c = KeyCursor::new("t", 0, &w.buf, 0);
            for (p, s) in &deltas {
                prop_assert_eq!(c.key_delta(usize::MAX).unwrap(), (*p, &s[..]));
            }
            prop_assert!(c.key_delta(usize::MAX).is_err());
        }
    }

    #[test]
    fn bad_key_deltas_are_errors() {
        // prefix 3 after a key of 2 bytes; suffix length 0; suffix past the end.
        assert!(KeyCursor::new("t", 0, &[3, 1, b'a'], 0)
            .key_delta(2)
            .is_err());
        assert!(KeyCursor::new("t", 0, &[0, 0], 0).key_delta(2).is_err());
        assert!(KeyCursor::new("t", 0, &[0, 5, b'a'], 0)
            .key_delta(2)
            .is_err());
        assert!(KeyCursor::new("t", 0, &[0x80, 0x80, 0x04, 1, b'a'], 0)
            .key_delta(usize::MAX)
            .is_err());
    }
}
