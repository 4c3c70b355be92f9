//! Reader leases and named snapshots: what keeps a commit's objects from
//! the garbage collector besides being among the newest.
//!
//! A lease `leases/<reader>-<generation>` says "a reader uses this commit
//! until `expires`"; a snapshot `snapshots/<name>` says "keep this commit
//! until the snapshot is deleted". Both are small create-only objects:
//!
//! ```text
//! "LLSE" | u32 version (1) | u64 generation | i64 expires (Unix seconds; snapshots: i64::MAX) | u32 CRC32
//! ```

use crate::bucket::Bucket;
use crate::error::{ObjectError, Result};
use crate::keys::{lease_key, snapshot_key};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const MAGIC: &[u8; 4] = b"LLSE";
const VERSION: u32 = 1;
const LEN: usize = 4 + 4 + 8 + 8 + 4;

/// A decoded lease or snapshot record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    /// The generation held.
    pub generation: u64,
    /// Until when (Unix seconds).
    pub expires: i64,
}

impl Hold {
    /// The object's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(LEN);
        v.extend_from_slice(MAGIC);
        v.extend_from_slice(&VERSION.to_le_bytes());
        v.extend_from_slice(&self.generation.to_le_bytes());
        v.extend_from_slice(&self.expires.to_le_bytes());
        let crc = crc32fast::hash(&v);
        v.extend_from_slice(&crc.to_le_bytes());
        v
    }

    /// Decodes object `key`'s bytes.
    pub fn decode(key: &str, b: &[u8]) -> Result<Hold> {
        if b.len() != LEN {
            return Err(ObjectError::corrupt(
                key,
                0,
                LEN as u64,
                b.len() as u64,
                "hold record length",
            ));
        }
        let stored = u32::from_le_bytes(b[LEN - 4..].try_into().unwrap_or_default());
        let actual = crc32fast::hash(&b[..LEN - 4]);
        if stored != actual || &b[..4] != MAGIC {
            return Err(ObjectError::corrupt(
                key,
                (LEN - 4) as u64,
                stored as u64,
                actual as u64,
                "hold record CRC32 or magic mismatch",
            ));
        }
        let version = u32::from_le_bytes(b[4..8].try_into().unwrap_or_default());
        if version != VERSION {
            return Err(ObjectError::corrupt(
                key,
                4,
                VERSION as u64,
                version as u64,
                "unsupported hold record version",
            ));
        }
        Ok(Hold {
            generation: u64::from_le_bytes(b[8..16].try_into().unwrap_or_default()),
            expires: i64::from_le_bytes(b[16..24].try_into().unwrap_or_default()),
        })
    }
}

/// Seconds since the Unix epoch now.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A reader's hold on one commit: the garbage collector keeps that
/// commit's objects while the lease is live. Released (deleted) on drop;
/// a crashed reader's lease expires.
#[derive(Debug)]
pub struct ReaderLease {
    bucket: Bucket,
    key: String,
    hold: Hold,
}

impl ReaderLease {
    /// Takes a lease of reader `reader` on `generation` for `ttl`.
    pub fn acquire(
        bucket: &Bucket,
        reader: u64,
        generation: u64,
        ttl: Duration,
    ) -> Result<ReaderLease> {
        let key = lease_key(reader, generation);
        let hold = Hold {
            generation,
            expires: now_secs().saturating_add(ttl.as_secs().min(i64::MAX as u64) as i64),
        };
        match bucket.create(&key, &hold.encode()) {
            Ok(_) => {}
            // A lease of ours from before: take it over with the new term
            // (leases are the one object kind that is replaced).
            Err(ObjectError::Conflict { .. }) => {
                bucket.delete(&key)?;
                bucket.create(&key, &hold.encode())?;
            }
            Err(e) => return Err(e),
        }
        Ok(ReaderLease {
            bucket: bucket.clone(),
            key,
            hold,
        })
    }

    /// The generation held.
    pub fn generation(&self) -> u64 {
        self.hold.generation
    }

    /// Releases the lease now.
    pub fn release(self) -> Result<()> {
        self.bucket.delete(&self.key)
    }
}

impl Drop for ReaderLease {
    fn drop(&mut self) {
        let _ = self.bucket.delete(&self.key);
    }
}

/// Creates snapshot `name` of `generation` (create-only: a snapshot of
/// that name must not exist).
pub fn create_snapshot(bucket: &Bucket, name: &str, generation: u64) -> Result<()> {
    let key = snapshot_key(name)
        .ok_or_else(|| ObjectError::Config(format!("invalid snapshot name `{name}`")))?;
    let hold = Hold {
        generation,
        expires: i64::MAX,
    };
    bucket.create(&key, &hold.encode()).map(|_| ())
}

/// Deletes snapshot `name`.
pub fn delete_snapshot(bucket: &Bucket, name: &str) -> Result<()> {
    let key = snapshot_key(name)
        .ok_or_else(|| ObjectError::Config(format!("invalid snapshot name `{name}`")))?;
    bucket.delete(&key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_another_version_is_refused() {
        let h = Hold {
            generation: 4,
            expires: 1_900_000_000,
        };
        let mut b = h.encode();
        assert_eq!(Hold::decode("k", &b).unwrap(), h);
        // Version 2 with a valid CRC: not read as version 1.
        b[4] = 2;
        let n = b.len() - 4;
        let crc = crc32fast::hash(&b[..n]);
        b[n..].copy_from_slice(&crc.to_le_bytes());
        let e = Hold::decode("k", &b).unwrap_err().to_string();
        assert!(e.contains("version"), "{e}");
    }
}
