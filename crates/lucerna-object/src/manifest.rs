//! Manifest objects: one commit of the index, as published in the bucket.
//!
//! ```text
//! "LOMF" | u32 version (1) | u64 generation | u64 writer epoch | u64 log epoch
//!        | 16-byte index id | u32 commit length | commit bytes | u32 CRC32 of all before
//! ```
//!
//! The commit bytes are exactly the `commit-<generation>` file Lucerna
//! writes (an envelope with its own CRC). The *writer epoch* is the epoch
//! of the writer that published the manifest; the *log epoch* names the
//! writer whose shipped log the commit's write-ahead-log position counts in
//! (see [`crate::shipper`]). Little-endian throughout. Decoding trusts
//! nothing: every length is bounded, the CRC and the commit are verified,
//! and the generation must match the key.

use crate::error::{ObjectError, Result};
use lucerna::index::Commit;
use lucerna::index::IndexId;
use lucerna::store::{Directory, RamDirectory};

const MAGIC: &[u8; 4] = b"LOMF";
const VERSION: u32 = 1;
/// Bytes before the commit.
const HEAD_LEN: usize = 4 + 4 + 8 + 8 + 8 + 16 + 4;
/// Largest commit accepted (a sanity bound on a length read from a bucket).
const MAX_COMMIT: usize = 256 << 20;

/// A decoded, verified manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The commit's generation.
    pub generation: u64,
    /// Epoch of the writer that published it.
    pub epoch: u64,
    /// Epoch whose shipped log the commit's `wal_position` counts in.
    pub log_epoch: u64,
    /// The commit.
    pub commit: Commit,
    /// The commit file's bytes.
    pub commit_bytes: Vec<u8>,
}

impl Manifest {
    /// A manifest of `commit` published by writer `epoch`, its log
    /// position counted in `log_epoch`'s log.
    pub fn new(commit: &Commit, epoch: u64, log_epoch: u64) -> Result<Manifest> {
        Ok(Manifest {
            generation: commit.generation,
            epoch,
            log_epoch,
            commit_bytes: commit_bytes(commit)?,
            commit: commit.clone(),
        })
    }

    /// The index this manifest belongs to.
    pub fn index_id(&self) -> IndexId {
        self.commit.index_id
    }

    /// The object's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEAD_LEN + self.commit_bytes.len() + 4);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&self.generation.to_le_bytes());
        out.extend_from_slice(&self.epoch.to_le_bytes());
        out.extend_from_slice(&self.log_epoch.to_le_bytes());
        out.extend_from_slice(&self.commit.index_id.0);
        out.extend_from_slice(&(self.commit_bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.commit_bytes);
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes and verifies the manifest object `key` of `generation`.
    pub fn decode(key: &str, generation: u64, bytes: &[u8]) -> Result<Manifest> {
        let bad = |offset: usize, expected: u64, actual: u64, reason: &str| {
            ObjectError::corrupt(key, offset as u64, expected, actual, reason)
        };
        if bytes.len() < HEAD_LEN + 4 {
            return Err(bad(
                0,
                (HEAD_LEN + 4) as u64,
                bytes.len() as u64,
                "manifest shorter than its fixed fields",
            ));
        }
        let end = bytes.len() - 4;
        let stored = u32::from_le_bytes(bytes[end..].try_into().unwrap_or_default());
        let actual = crc32fast::hash(&bytes[..end]);
        if stored != actual {
            return Err(bad(
                end,
                stored as u64,
                actual as u64,
                "manifest CRC32 mismatch",
            ));
        }
        if &bytes[..4] != MAGIC {
            return Err(bad(
                0,
                u32::from_le_bytes(*MAGIC) as u64,
                u32::from_le_bytes(bytes[..4].try_into().unwrap_or_default()) as u64,
                "not a manifest (magic)",
            ));
        }
        let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap_or_default());
        let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap_or_default());
        let version = u32_at(4);
        if version != VERSION {
            return Err(bad(
                4,
                VERSION as u64,
                version as u64,
                "unsupported manifest version",
            ));
        }
        let gen = u64_at(8);
        if gen != generation {
            return Err(bad(8, generation, gen, "generation differs from the key"));
        }
        let epoch = u64_at(16);
        let log_epoch = u64_at(24);
        let mut id = [0u8; 16];
        id.copy_from_slice(&bytes[32..48]);
        let len = u32_at(48) as usize;
        if len > MAX_COMMIT || HEAD_LEN + len != end {
            return Err(bad(
                48,
                (end - HEAD_LEN) as u64,
                len as u64,
                "commit length differs from the object's",
            ));
        }
        let commit_bytes = bytes[HEAD_LEN..end].to_vec();
        let commit = decode_commit(generation, &commit_bytes)
            .map_err(|e| bad(HEAD_LEN, 0, 0, &format!("the commit does not verify: {e}")))?;
        if commit.index_id.0 != id {
            return Err(bad(32, 0, 0, "index id differs from the commit's"));
        }
        Ok(Manifest {
            generation,
            epoch,
            log_epoch,
            commit,
            commit_bytes,
        })
    }
}

/// The bytes of the `commit-<generation>` file of `commit`.
pub fn commit_bytes(commit: &Commit) -> Result<Vec<u8>> {
    let ram = RamDirectory::new();
    commit.write(&ram)?;
    Ok(ram.open(&Commit::file_name(commit.generation))?.to_vec())
}

/// Reads the commit file bytes of `generation` (fully verified).
pub fn decode_commit(generation: u64, bytes: &[u8]) -> lucerna::Result<Commit> {
    let ram = RamDirectory::new();
    lucerna::store::write_file(&ram, &Commit::file_name(generation), bytes)?;
    Commit::read(&ram, generation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lucerna::schema::Schema;

    fn commit(g: u64) -> Commit {
        Commit {
            generation: g,
            index_id: IndexId::fresh(),
            schema: Schema::logs(),
            segments: Vec::new(),
            next_segment: 0,
            wal_position: 9,
            user_data: Vec::new(),
        }
    }

    #[test]
    fn round_trip_and_every_flip_is_caught() {
        let m = Manifest::new(&commit(4), 2, 1).unwrap();
        let bytes = m.encode();
        assert_eq!(Manifest::decode("k", 4, &bytes).unwrap(), m);
        assert!(Manifest::decode("k", 5, &bytes).is_err());
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x10;
            assert!(Manifest::decode("k", 4, &b).is_err(), "flip at {i}");
        }
        for n in 0..bytes.len() {
            assert!(Manifest::decode("k", 4, &bytes[..n]).is_err());
        }
    }
}
