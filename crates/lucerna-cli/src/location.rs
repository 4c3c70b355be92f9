//! Where an index or a replica lives: a local directory, or a bucket
//! given as `s3://bucket/prefix` (credentials, region and endpoint from
//! the usual `AWS_*` environment variables). Files fetched from a bucket
//! are cached locally in `$LUCERNA_CACHE_DIR/<bucket>/<prefix>` (default:
//! `lucerna-cache` in the system's temporary directory).

use lucerna::store::{Directory, FsDirectory};
use lucerna_object::{Bucket, BucketUrl, ObjectDirectory};
use std::path::{Path, PathBuf};
use std::sync::Arc;

type BoxError = Box<dyn std::error::Error>;

/// The bucket URL `path` spells, if it spells one (`s3://…`).
pub fn bucket_url(path: &Path) -> Result<Option<BucketUrl>, BoxError> {
    let Some(s) = path.to_str() else {
        return Ok(None);
    };
    if !BucketUrl::is_url(s) {
        return Ok(None);
    }
    BucketUrl::parse(s)
        .map(Some)
        .ok_or_else(|| format!("not a valid s3://bucket/prefix URL: {s}").into())
}

/// The local cache directory of bucket `u`.
pub fn cache_dir(u: &BucketUrl) -> PathBuf {
    let root = std::env::var_os("LUCERNA_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("lucerna-cache"));
    let mut p = root.join(&u.bucket);
    for part in u.prefix.split('/').filter(|p| !p.is_empty()) {
        p.push(part);
    }
    p.join("_cache")
}

/// `path` opened for reading: a local index directory (which must
/// exist), or a read-only view of a bucket.
pub fn open_read(path: &Path) -> Result<Arc<dyn Directory>, BoxError> {
    match bucket_url(path)? {
        Some(u) => {
            let b = Bucket::from_url(&u.to_string())?;
            Ok(Arc::new(ObjectDirectory::read_only(b, &cache_dir(&u))?))
        }
        None => {
            if !path.is_dir() {
                return Err(format!("{} is not a directory", path.display()).into());
            }
            Ok(Arc::new(FsDirectory::open(path)?))
        }
    }
}

/// `path` opened as a replica a writer keeps current: a local directory
/// (created if missing) or a bucket (the writer publishes its commits
/// there, fencing any older writer of that prefix).
pub fn open_replica(path: &Path) -> Result<Arc<dyn Directory>, BoxError> {
    match bucket_url(path)? {
        Some(u) => {
            let b = Bucket::from_url(&u.to_string())?;
            Ok(Arc::new(ObjectDirectory::replica(b, &cache_dir(&u))?))
        }
        None => Ok(Arc::new(FsDirectory::open(path)?)),
    }
}

/// Fails for a bucket URL: `what` needs a local index directory.
pub fn require_local(path: &Path, what: &str) -> Result<(), BoxError> {
    if bucket_url(path)?.is_some() {
        return Err(format!(
            "{what} works on a local index directory; a bucket ({}) is read-only here \
             (use it as --replica, or take the index over with the library's BucketWriter)",
            path.display()
        )
        .into());
    }
    Ok(())
}
