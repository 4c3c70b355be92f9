//! [`Bucket`]: a synchronous, retrying, verifying face of an
//! [`ObjectStore`] under a key prefix.
//!
//! Lucerna is synchronous; `object_store` is async. A `Bucket` owns a small
//! tokio runtime (two worker threads) and blocks on it, so nothing outside
//! this crate sees a runtime. Its methods must not be called from inside
//! another tokio runtime's worker thread (use `spawn_blocking` there).
//!
//! Every read is checked: a body shorter or longer than the object (or
//! range) it answers is a transient error and retried, as are 5xx answers
//! and timeouts ([`RetryPolicy`]); what still fails surfaces as a clear
//! [`ObjectError::Bucket`] naming the key and the attempts.

use crate::error::{ObjectError, Result};
use crate::retry::{is_transient, RetryPolicy};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{
    GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
};
use std::future::Future;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::runtime::Runtime;

/// Objects at least this large are uploaded in parts (S3's smallest part
/// is 5 MiB).
pub const MULTIPART_THRESHOLD: usize = 8 << 20;
/// Size of one part of a multipart upload.
pub const PART_SIZE: usize = 8 << 20;

/// The result of a create-if-absent upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// The object was created by this call.
    New,
    /// The object already held exactly these bytes (an earlier attempt of
    /// ours whose answer was lost, or the same file uploaded twice).
    Identical,
}

/// One object found by [`Bucket::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Its key, relative to the bucket's prefix.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// Last modification, seconds since the Unix epoch.
    pub modified_secs: i64,
}

/// Counters of a [`Bucket`] (shared by its clones).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BucketStats {
    /// Attempts of every operation.
    pub requests: u64,
    /// Attempts that were retries after a transient failure.
    pub retries: u64,
    /// Bytes read from objects.
    pub bytes_read: u64,
    /// Bytes uploaded.
    pub bytes_written: u64,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
}

/// Why one attempt failed.
enum Attempt {
    /// Do not retry.
    Permanent(ObjectError),
    /// Retry (the message says what happened).
    Transient(String),
}

fn classify(op: &'static str, key: &str, e: object_store::Error) -> Attempt {
    match e {
        object_store::Error::NotFound { .. } => Attempt::Permanent(ObjectError::NotFound {
            key: key.to_string(),
        }),
        object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. } => {
            Attempt::Permanent(ObjectError::Conflict {
                key: key.to_string(),
            })
        }
        e if is_transient(&e) => Attempt::Transient(e.to_string()),
        e => Attempt::Permanent(ObjectError::Bucket {
            op,
            key: key.to_string(),
            attempts: 1,
            message: e.to_string(),
        }),
    }
}

/// A bucket (an [`ObjectStore`]) under a key prefix, with a synchronous
/// API. Cheap to clone.
#[derive(Clone)]
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    label: String,
    rt: Arc<Runtime>,
    retry: RetryPolicy,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bucket({})", self.label)
    }
}

impl std::fmt::Display for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label)
    }
}

impl Bucket {
    /// `store` under `prefix` (`""`: the whole store; slashes at either
    /// end are ignored), shown as `label` in messages.
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str, label: &str) -> Result<Bucket> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("lucerna-object")
            .enable_all()
            .build()
            .map_err(|e| ObjectError::Runtime(e.to_string()))?;
        Ok(Bucket {
            store,
            prefix: prefix.trim_matches('/').to_string(),
            label: label.to_string(),
            rt: Arc::new(rt),
            retry: RetryPolicy::default(),
            counters: Arc::default(),
        })
    }

    /// An in-memory bucket (object_store's `InMemory`), for tests.
    pub fn in_memory() -> Result<Bucket> {
        Bucket::new(
            Arc::new(object_store::memory::InMemory::new()),
            "",
            "memory://",
        )
    }

    /// The same bucket with another retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Bucket {
        self.retry = retry;
        self
    }

    /// The same store under `<prefix>/<sub>` (sharing the runtime and
    /// counters).
    pub fn child(&self, sub: &str) -> Bucket {
        let sub = sub.trim_matches('/');
        let mut b = self.clone();
        b.prefix = join(&self.prefix, sub);
        b.label = format!("{}/{sub}", self.label.trim_end_matches('/'));
        b
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    /// The key prefix (no leading or trailing slash).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Counters so far.
    pub fn stats(&self) -> BucketStats {
        let c = &self.counters;
        BucketStats {
            requests: c.requests.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            bytes_read: c.bytes_read.load(Ordering::Relaxed),
            bytes_written: c.bytes_written.load(Ordering::Relaxed),
        }
    }

    fn path(&self, key: &str) -> Result<Path> {
        Path::parse(join(&self.prefix, key)).map_err(|e| ObjectError::Config(e.to_string()))
    }

    /// Runs `f` with retries: transient failures and timeouts are retried
    /// with backoff; the last failure surfaces as [`ObjectError::Bucket`].
    fn run<T, F, Fut>(&self, op: &'static str, key: &str, mut f: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<T, Attempt>>,
    {
        let retry = self.retry;
        let counters = self.counters.clone();
        self.rt.block_on(async move {
            let attempts = retry.attempts.max(1);
            let mut last = String::new();
            for attempt in 1..=attempts {
                let pause = retry.backoff(attempt);
                if attempt > 1 {
                    counters.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(pause).await;
                }
                counters.requests.fetch_add(1, Ordering::Relaxed);
                match tokio::time::timeout(retry.op_timeout, f()).await {
                    Ok(Ok(v)) => return Ok(v),
                    Ok(Err(Attempt::Permanent(e))) => return Err(e),
                    Ok(Err(Attempt::Transient(m))) => last = m,
                    Err(_) => last = format!("timed out after {:?}", retry.op_timeout),
                }
            }
            Err(ObjectError::Bucket {
                op,
                key: key.to_string(),
                attempts,
                message: last,
            })
        })
    }

    /// The whole object `key`, its length checked against the object's
    /// size.
    pub fn get(&self, key: &str) -> Result<Vec<u8>> {
        self.get_opts(key, None)
    }

    /// Bytes `range` of object `key`, exactly (a shorter or longer answer
    /// is retried).
    pub fn get_range(&self, key: &str, range: Range<u64>) -> Result<Vec<u8>> {
        if range.start >= range.end {
            return Ok(Vec::new());
        }
        self.get_opts(key, Some(range))
    }

    fn get_opts(&self, key: &str, range: Option<Range<u64>>) -> Result<Vec<u8>> {
        let path = self.path(key)?;
        let store = self.store.clone();
        let counters = self.counters.clone();
        let k = key.to_string();
        self.run("get", key, || {
            let (store, path, range, k, counters) = (
                store.clone(),
                path.clone(),
                range.clone(),
                k.clone(),
                counters.clone(),
            );
            async move {
                let opts = GetOptions::new().with_range(range.clone().map(GetRange::Bounded));
                let r = store
                    .get_opts(&path, opts)
                    .await
                    .map_err(|e| classify("get", &k, e))?;
                let expected = match &range {
                    Some(r) => r.end - r.start,
                    None => r.meta.size,
                };
                let bytes = r.bytes().await.map_err(|e| classify("get", &k, e))?;
                if bytes.len() as u64 != expected {
                    return Err(Attempt::Transient(format!(
                        "body of {} bytes where {expected} were expected (truncated answer)",
                        bytes.len()
                    )));
                }
                counters
                    .bytes_read
                    .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                Ok(bytes.to_vec())
            }
        })
    }

    /// The first `len` bytes of object `key` (its whole length, as a
    /// manifest records it), fetched as [`PART_SIZE`] ranged reads, up to
    /// four at a time, each checked and retried on its own.
    pub fn get_chunked(&self, key: &str, len: u64) -> Result<Vec<u8>> {
        let part = PART_SIZE as u64;
        if len <= part {
            return self.get_range(key, 0..len);
        }
        let ranges: Vec<Range<u64>> = (0..len.div_ceil(part))
            .map(|i| i * part..((i + 1) * part).min(len))
            .collect();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let parts: parking_lot::Mutex<Vec<Option<Vec<u8>>>> =
            parking_lot::Mutex::new(vec![None; ranges.len()]);
        let failed: parking_lot::Mutex<Option<ObjectError>> = parking_lot::Mutex::new(None);
        std::thread::scope(|s| {
            for _ in 0..ranges.len().min(4) {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= ranges.len() || failed.lock().is_some() {
                        return;
                    }
                    match self.get_range(key, ranges[i].clone()) {
                        Ok(b) => parts.lock()[i] = Some(b),
                        Err(e) => {
                            failed.lock().get_or_insert(e);
                            return;
                        }
                    }
                });
            }
        });
        if let Some(e) = failed.into_inner() {
            return Err(e);
        }
        let mut out = Vec::with_capacity(len as usize);
        for p in parts.into_inner() {
            out.extend_from_slice(&p.unwrap_or_default());
        }
        Ok(out)
    }

    /// The size of object `key` (`None`: it does not exist).
    pub fn head(&self, key: &str) -> Result<Option<u64>> {
        let path = self.path(key)?;
        let store = self.store.clone();
        let k = key.to_string();
        let r = self.run("head", key, || {
            let (store, path, k) = (store.clone(), path.clone(), k.clone());
            async move {
                store
                    .head(&path)
                    .await
                    .map(|m| m.size)
                    .map_err(|e| classify("head", &k, e))
            }
        });
        match r {
            Ok(n) => Ok(Some(n)),
            Err(ObjectError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates object `key` holding `bytes` only if it does not exist
    /// (put-if-absent). When it exists, its bytes are read back: the same
    /// bytes are [`Created::Identical`] (an earlier attempt whose answer
    /// was lost: ours), other bytes [`ObjectError::Conflict`].
    pub fn create(&self, key: &str, bytes: &[u8]) -> Result<Created> {
        match self.put_create(key, bytes) {
            Ok(()) => Ok(Created::New),
            Err(ObjectError::Conflict { .. }) => {
                let theirs = self.get(key)?;
                if theirs == bytes {
                    Ok(Created::Identical)
                } else {
                    Err(ObjectError::Conflict {
                        key: key.to_string(),
                    })
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Put-if-absent without reading back: [`ObjectError::Conflict`] when
    /// the object exists (whoever wrote it).
    pub fn put_create(&self, key: &str, bytes: &[u8]) -> Result<()> {
        let path = self.path(key)?;
        let store = self.store.clone();
        let payload = PutPayload::from(bytes.to_vec());
        let k = key.to_string();
        let n = bytes.len() as u64;
        self.run("put", key, || {
            let (store, path, payload, k) =
                (store.clone(), path.clone(), payload.clone(), k.clone());
            async move {
                store
                    .put_opts(&path, payload, PutOptions::from(PutMode::Create))
                    .await
                    .map(|_| ())
                    .map_err(|e| classify("put", &k, e))
            }
        })?;
        self.counters.bytes_written.fetch_add(n, Ordering::Relaxed);
        Ok(())
    }

    /// Uploads `bytes` to `key` in [`PART_SIZE`] parts (a multipart
    /// upload, retried whole). S3 has no create-if-absent for multipart
    /// uploads here: callers check [`head`](Self::head) first and use keys
    /// no other writer can produce (they include a random segment id).
    pub fn put_multipart(&self, key: &str, bytes: &[u8]) -> Result<()> {
        let path = self.path(key)?;
        let store = self.store.clone();
        let parts: Vec<PutPayload> = bytes
            .chunks(PART_SIZE)
            .map(|c| PutPayload::from(c.to_vec()))
            .collect();
        let k = key.to_string();
        self.run("multipart put", key, || {
            let (store, path, parts, k) = (store.clone(), path.clone(), parts.clone(), k.clone());
            async move {
                let mut up = store
                    .put_multipart(&path)
                    .await
                    .map_err(|e| classify("multipart put", &k, e))?;
                for p in parts {
                    if let Err(e) = up.put_part(p).await {
                        let _ = up.abort().await;
                        return Err(classify("multipart put", &k, e));
                    }
                }
                match up.complete().await {
                    Ok(_) => Ok(()),
                    Err(e) => {
                        let _ = up.abort().await;
                        Err(classify("multipart put", &k, e))
                    }
                }
            }
        })?;
        self.counters
            .bytes_written
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Every object under `<prefix>/<sub>` (recursive), keys relative to
    /// the bucket's prefix, sorted.
    pub fn list(&self, sub: &str) -> Result<Vec<Listed>> {
        let full = join(&self.prefix, sub.trim_matches('/'));
        let prefix = if full.is_empty() {
            None
        } else {
            Some(Path::parse(&full).map_err(|e| ObjectError::Config(e.to_string()))?)
        };
        let store = self.store.clone();
        let strip = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let mut v: Vec<Listed> = self.run("list", &full, || {
            let (store, prefix, strip) = (store.clone(), prefix.clone(), strip.clone());
            async move {
                let metas: Vec<object_store::ObjectMeta> = store
                    .list(prefix.as_ref())
                    .try_collect()
                    .await
                    .map_err(|e| classify("list", prefix.as_ref().map_or("", |p| p.as_ref()), e))?;
                Ok(metas
                    .into_iter()
                    .filter_map(|m| {
                        let loc = m.location.as_ref();
                        let key = loc.strip_prefix(strip.as_str())?.to_string();
                        Some(Listed {
                            key,
                            size: m.size,
                            modified_secs: m.last_modified.timestamp(),
                        })
                    })
                    .collect())
            }
        })?;
        v.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(v)
    }

    /// Deletes object `key` (deleting a missing object succeeds).
    pub fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        let store = self.store.clone();
        let k = key.to_string();
        let r = self.run("delete", key, || {
            let (store, path, k) = (store.clone(), path.clone(), k.clone());
            async move {
                store
                    .delete(&path)
                    .await
                    .map_err(|e| classify("delete", &k, e))
            }
        });
        match r {
            Err(ObjectError::NotFound { .. }) => Ok(()),
            r => r,
        }
    }
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}/{b}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_is_put_if_absent_and_recognises_our_bytes() {
        let b = Bucket::in_memory().unwrap().child("p");
        assert_eq!(b.create("a/x", b"one").unwrap(), Created::New);
        assert_eq!(b.create("a/x", b"one").unwrap(), Created::Identical);
        assert!(matches!(
            b.create("a/x", b"two"),
            Err(ObjectError::Conflict { .. })
        ));
        assert_eq!(b.get("a/x").unwrap(), b"one");
        assert_eq!(b.get_range("a/x", 1..3).unwrap(), b"ne");
        assert_eq!(b.head("a/x").unwrap(), Some(3));
        assert_eq!(b.head("a/y").unwrap(), None);
        let l = b.list("a").unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].key, "a/x");
        b.delete("a/x").unwrap();
        b.delete("a/x").unwrap();
        assert!(matches!(b.get("a/x"), Err(ObjectError::NotFound { .. })));
    }
}
