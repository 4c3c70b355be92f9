//! The checksummed file envelope that wraps every file Lucerna writes.
//!
//! ```text
//! header:  magic u32 = 0x4E43554C ("LUCN")
//!          format-name length u8 (1..=64), format name (ASCII)
//!          format version u32
//!          id [u8; 16]            (segment or commit id)
//!          suffix length u8 (0..=64), suffix (ASCII)
//! payload: format-specific bytes
//! footer:  footer magic u32 = !magic (0xB1BCAAB3)
//!          algorithm id u32 = 1 (CRC-32/ISO-HDLC, the zlib CRC)
//!          file length u64    (of the whole file, footer included)
//!          checksum u32       (CRC32 of every byte before this field)
//! ```
//!
//! All integers are little-endian. [`EnvelopeReader::open_checked`] validates
//! header and footer structure in O(1) (a truncated or extended file fails the
//! length check); [`EnvelopeReader::verify_full`] recomputes the CRC.
//!
//! ```
//! use lucerna_store::{Directory, RamDirectory, EnvelopeHeader, EnvelopeWriter, EnvelopeReader};
//! # fn main() -> Result<(), lucerna_store::StoreError> {
//! let dir = RamDirectory::new();
//! let header = EnvelopeHeader::new("postings", 1, [7; 16], "body");
//! let mut w = EnvelopeWriter::create(&dir, "seg.pst", &header)?;
//! w.write_all(b"payload")?;
//! let meta = w.finish()?;
//! let r = EnvelopeReader::open_checked("seg.pst", dir.open("seg.pst")?)?;
//! r.verify_full()?;
//! r.expect_format("postings", 1..=1)?;
//! assert_eq!(&*r.payload(), b"payload");
//! assert_eq!(r.checksum(), meta.checksum);
//! # Ok(()) }
//! ```

use crate::directory::{Directory, FileWrite};
use crate::error::{Result, StoreError};
use crate::slice::FileSlice;
use std::ops::RangeInclusive;

/// Header magic, the bytes `LUCN`.
pub const MAGIC: u32 = u32::from_le_bytes(*b"LUCN");
/// Footer magic: the bitwise complement of [`MAGIC`].
pub const FOOTER_MAGIC: u32 = !MAGIC;
/// Algorithm id of CRC32 (IEEE polynomial, as zlib and crc32fast).
pub const ALGO_CRC32: u32 = 1;
/// Footer length in bytes.
pub const FOOTER_LEN: usize = 20;
/// Longest format name and suffix.
pub const MAX_NAME_LEN: usize = 64;
/// Length of file ids.
pub const ID_LEN: usize = 16;
/// Bytes hashed between two page releases in
/// [`EnvelopeReader::verify_full`].
const VERIFY_CHUNK: usize = 1 << 20;

/// The header fields of an envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeHeader {
    /// Format name, for example `postings` (1..=64 printable ASCII bytes).
    pub format: String,
    /// Format version.
    pub version: u32,
    /// The id of the segment or commit the file belongs to.
    pub id: [u8; ID_LEN],
    /// A suffix distinguishing files of one format within a segment
    /// (0..=64 printable ASCII bytes).
    pub suffix: String,
}

impl EnvelopeHeader {
    /// Builds a header.
    pub fn new(format: &str, version: u32, id: [u8; ID_LEN], suffix: &str) -> Self {
        EnvelopeHeader {
            format: format.to_string(),
            version,
            id,
            suffix: suffix.to_string(),
        }
    }

    /// Encoded length in bytes.
    pub fn encoded_len(&self) -> usize {
        4 + 1 + self.format.len() + 4 + ID_LEN + 1 + self.suffix.len()
    }

    fn encode(&self, file: &str) -> Result<Vec<u8>> {
        let valid = |s: &str, min: usize| {
            s.len() >= min && s.len() <= MAX_NAME_LEN && s.bytes().all(|b| b.is_ascii_graphic())
        };
        if !valid(&self.format, 1) || !valid(&self.suffix, 0) {
            return Err(StoreError::InvalidArgument {
                file: file.to_string(),
                reason: format!(
                    "format name and suffix must be printable ASCII of at most {MAX_NAME_LEN} bytes"
                ),
            });
        }
        let mut out = Vec::with_capacity(self.encoded_len());
        out.extend_from_slice(&MAGIC.to_le_bytes());
        out.push(self.format.len() as u8);
        out.extend_from_slice(self.format.as_bytes());
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&self.id);
        out.push(self.suffix.len() as u8);
        out.extend_from_slice(self.suffix.as_bytes());
        Ok(out)
    }
}

/// Length and checksum of a finished envelope file, as recorded in manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileMeta {
    /// Total file length, footer included.
    pub len: u64,
    /// The CRC32 stored in the footer.
    pub checksum: u32,
}

/// Writes an envelope file: header on creation, CRC computed while
/// streaming, footer on [`finish`](EnvelopeWriter::finish).
pub struct EnvelopeWriter {
    name: String,
    out: Box<dyn FileWrite>,
    hasher: crc32fast::Hasher,
    written: u64,
    header_len: u64,
}

impl EnvelopeWriter {
    /// Creates `name` in `dir` and writes the header.
    pub fn create(dir: &dyn Directory, name: &str, header: &EnvelopeHeader) -> Result<Self> {
        let head = header.encode(name)?;
        let out = dir.create(name)?;
        let mut w = EnvelopeWriter {
            name: name.to_string(),
            out,
            hasher: crc32fast::Hasher::new(),
            written: 0,
            header_len: head.len() as u64,
        };
        w.put(&head)?;
        Ok(w)
    }

    fn put(&mut self, buf: &[u8]) -> Result<()> {
        self.out.write_all(buf)?;
        self.hasher.update(buf);
        self.written += buf.len() as u64;
        Ok(())
    }

    /// Appends payload bytes.
    pub fn write_all(&mut self, buf: &[u8]) -> Result<()> {
        self.put(buf)
    }

    /// Payload bytes written so far (header excluded).
    pub fn payload_len(&self) -> u64 {
        self.written - self.header_len
    }

    /// The file name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Writes the footer and closes the file (no fsync).
    pub fn finish(mut self) -> Result<FileMeta> {
        let len = self.written + FOOTER_LEN as u64;
        let mut foot = [0u8; FOOTER_LEN - 4];
        foot[0..4].copy_from_slice(&FOOTER_MAGIC.to_le_bytes());
        foot[4..8].copy_from_slice(&ALGO_CRC32.to_le_bytes());
        foot[8..16].copy_from_slice(&len.to_le_bytes());
        self.put(&foot)?;
        let checksum = self.hasher.clone().finalize();
        self.out.write_all(&checksum.to_le_bytes())?;
        self.out.finish()?;
        Ok(FileMeta { len, checksum })
    }
}

impl std::io::Write for EnvelopeWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.put(buf).map_err(std::io::Error::other)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A structurally valid envelope file, open for reading.
#[derive(Debug, Clone)]
pub struct EnvelopeReader {
    name: String,
    data: FileSlice,
    header: EnvelopeHeader,
    header_len: usize,
    checksum: u32,
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at.checked_add(4)?)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at.checked_add(8)?).map(|s| {
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        u64::from_le_bytes(a)
    })
}

/// Checks the footer of the envelope `b` (at least as long as the smallest
/// one): magic, checksum algorithm, the recorded length against the
/// actual one. Returns where the footer starts and the recorded checksum.
fn check_footer(name: &str, b: &[u8]) -> Result<(usize, u32)> {
    let corrupt = |offset: usize, expected: u64, actual: u64, reason: &str| {
        StoreError::corrupt(name, offset as u64, expected, actual, reason)
    };
    let foot = b.len() - FOOTER_LEN;
    let fmagic = u32_at(b, foot).unwrap_or(0);
    if fmagic != FOOTER_MAGIC {
        return Err(corrupt(
            foot,
            FOOTER_MAGIC as u64,
            fmagic as u64,
            "bad footer magic (truncated or extended file?)",
        ));
    }
    let algo = u32_at(b, foot + 4).unwrap_or(0);
    if algo != ALGO_CRC32 {
        return Err(corrupt(
            foot + 4,
            ALGO_CRC32 as u64,
            algo as u64,
            "unknown checksum algorithm",
        ));
    }
    let recorded_len = u64_at(b, foot + 8).unwrap_or(0);
    if recorded_len != b.len() as u64 {
        return Err(corrupt(
            foot + 8,
            recorded_len,
            b.len() as u64,
            "file length differs from the length recorded in the footer",
        ));
    }
    let checksum = u32_at(b, foot + 16).unwrap_or(0);
    Ok((foot, checksum))
}

impl EnvelopeReader {
    /// Validates header fields and footer structure in O(1): magic numbers,
    /// name lengths, algorithm id, and the recorded file length against the
    /// actual one. Does not read the payload.
    pub fn open_checked(name: &str, data: FileSlice) -> Result<Self> {
        let b: &[u8] = &data;
        let corrupt = |offset: usize, expected: u64, actual: u64, reason: &str| {
            StoreError::corrupt(name, offset as u64, expected, actual, reason)
        };
        let min_len = 4 + 1 + 1 + 4 + ID_LEN + 1 + FOOTER_LEN;
        if b.len() < min_len {
            return Err(corrupt(
                0,
                min_len as u64,
                b.len() as u64,
                "file shorter than the smallest envelope (truncated?)",
            ));
        }
        let magic = u32_at(b, 0).unwrap_or(0);
        if magic != MAGIC {
            return Err(corrupt(0, MAGIC as u64, magic as u64, "bad header magic"));
        }
        // Footer first: it is where truncation shows.
        let (foot, checksum) = check_footer(name, b)?;
        // Header fields, every length bounds-checked against the footer start.
        let mut at = 4;
        let flen = b[at] as usize;
        if flen == 0 || flen > MAX_NAME_LEN {
            return Err(corrupt(
                at,
                MAX_NAME_LEN as u64,
                flen as u64,
                "bad format-name length",
            ));
        }
        at += 1;
        let need = at + flen + 4 + ID_LEN + 1;
        if need > foot {
            return Err(corrupt(
                at,
                need as u64,
                foot as u64,
                "header overruns footer",
            ));
        }
        let format = ascii(&b[at..at + flen])
            .ok_or_else(|| corrupt(at, 0, 0, "format name is not printable ASCII"))?;
        at += flen;
        let version = u32_at(b, at).unwrap_or(0);
        at += 4;
        let mut id = [0u8; ID_LEN];
        id.copy_from_slice(&b[at..at + ID_LEN]);
        at += ID_LEN;
        let slen = b[at] as usize;
        if slen > MAX_NAME_LEN {
            return Err(corrupt(
                at,
                MAX_NAME_LEN as u64,
                slen as u64,
                "bad suffix length",
            ));
        }
        at += 1;
        if at + slen > foot {
            return Err(corrupt(
                at,
                (at + slen) as u64,
                foot as u64,
                "header overruns footer",
            ));
        }
        let suffix = ascii(&b[at..at + slen])
            .ok_or_else(|| corrupt(at, 0, 0, "suffix is not printable ASCII"))?;
        at += slen;
        Ok(EnvelopeReader {
            name: name.to_string(),
            data,
            header: EnvelopeHeader {
                format,
                version,
                id,
                suffix,
            },
            header_len: at,
            checksum,
        })
    }

    /// Opens `name` from `dir` with [`open_checked`](Self::open_checked).
    pub fn open(dir: &dyn Directory, name: &str) -> Result<Self> {
        Self::open_checked(name, dir.open(name)?)
    }

    /// Recomputes the CRC32 of the whole file and compares it with the
    /// footer's.
    ///
    /// The pass releases the pages it has read behind it (see
    /// [`FileSlice::release_pages`]), so verifying a large mapped file does
    /// not leave all of it in the process's resident memory.
    pub fn verify_full(&self) -> Result<()> {
        let b: &[u8] = &self.data;
        let end = b.len() - 4;
        let mut hasher = crc32fast::Hasher::new();
        let mut at = 0;
        while at < end {
            let next = end.min(at + VERIFY_CHUNK);
            hasher.update(&b[at..next]);
            if let Some(done) = self.data.slice(at..next) {
                done.release_pages();
            }
            at = next;
        }
        let actual = hasher.finalize();
        if actual != self.checksum {
            return Err(StoreError::corrupt(
                &self.name,
                end as u64,
                self.checksum as u64,
                actual as u64,
                format!("checksum mismatch over bytes 0..{end}"),
            ));
        }
        Ok(())
    }

    /// Checks the format name and that the version is in `versions`. An
    /// intact file (full checksum verified) of another version is
    /// [`StoreError::UnsupportedVersion`], of another format
    /// [`StoreError::WrongFormat`]; a damaged one is
    /// [`StoreError::Corrupt`].
    pub fn expect_format(&self, format: &str, versions: RangeInclusive<u32>) -> Result<()> {
        let format_ok = self.header.format == format;
        if format_ok && versions.contains(&self.header.version) {
            return Ok(());
        }
        // Damage or another format? The full checksum covers the header:
        // when it holds, the header is what was written.
        self.verify_full()?;
        if !format_ok {
            return Err(StoreError::WrongFormat {
                file: self.name.clone(),
                expected: format.to_string(),
                found: self.header.format.clone(),
            });
        }
        Err(StoreError::UnsupportedVersion {
            file: self.name.clone(),
            format: format.to_string(),
            found: self.header.version,
            min: *versions.start(),
            max: *versions.end(),
        })
    }

    /// Checks that the header id equals `id`.
    pub fn expect_id(&self, id: &[u8; ID_LEN]) -> Result<()> {
        if &self.header.id != id {
            let at = 5 + self.header.format.len() as u64 + 4;
            return Err(StoreError::corrupt(
                &self.name,
                at,
                u64::from_le_bytes(id[..8].try_into().unwrap_or([0; 8])),
                u64::from_le_bytes(self.header.id[..8].try_into().unwrap_or([0; 8])),
                "file id does not match its segment or commit",
            ));
        }
        Ok(())
    }

    /// The header.
    pub fn header(&self) -> &EnvelopeHeader {
        &self.header
    }

    /// The file name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The checksum recorded in the footer.
    pub fn checksum(&self) -> u32 {
        self.checksum
    }

    /// Total length of the file.
    pub fn len(&self) -> u64 {
        self.data.len() as u64
    }

    /// Always false: an envelope has at least a header and a footer.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Offset of the payload within the file.
    pub fn payload_offset(&self) -> u64 {
        self.header_len as u64
    }

    /// The payload (zero-copy).
    pub fn payload(&self) -> FileSlice {
        let end = self.data.len() - FOOTER_LEN;
        self.data
            .slice(self.header_len..end)
            .unwrap_or_else(FileSlice::empty)
    }

    /// File metadata (length and checksum).
    pub fn meta(&self) -> FileMeta {
        FileMeta {
            len: self.len(),
            checksum: self.checksum,
        }
    }
}

fn ascii(b: &[u8]) -> Option<String> {
    if b.iter().all(|c| c.is_ascii_graphic()) {
        String::from_utf8(b.to_vec()).ok()
    } else {
        None
    }
}

/// Computes the CRC32 of a file's content (for copy and replication checks).
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}
