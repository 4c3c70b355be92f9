//! [`FaultyStore`]: an `ObjectStore` wrapper that injects the failures a
//! real bucket shows: a lost response to a successful put, 5xx answers,
//! requests that hang past the timeout, truncated and corrupted bodies.
//! Each fault is armed for the next `n` matching requests.

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Armed faults (counts of requests still to hit).
#[derive(Debug, Default)]
pub struct Faults {
    /// Puts whose key contains `lost_response_key` succeed, then answer
    /// with an error.
    pub lost_responses: AtomicU64,
    /// Key substring for `lost_responses`.
    pub lost_response_key: Mutex<String>,
    /// Requests answered with a 503 (nothing done).
    pub server_errors: AtomicU64,
    /// Gets that hang for `hang_for`.
    pub hangs: AtomicU64,
    /// How long a hang lasts.
    pub hang_for: Mutex<Duration>,
    /// Gets whose body is cut in half.
    pub truncations: AtomicU64,
    /// Gets whose body has one byte flipped.
    pub corruptions: AtomicU64,
    /// Puts whose key contains `fail_key` answered with a 503 (nothing
    /// done).
    pub key_failures: AtomicU64,
    /// Key substring for `key_failures`.
    pub fail_key: Mutex<String>,
    /// Every request seen.
    pub requests: AtomicU64,
}

fn take(c: &AtomicU64) -> bool {
    c.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

fn err503(path: &Path) -> object_store::Error {
    object_store::Error::Generic {
        store: "faulty",
        source: format!("injected: 503 Service Unavailable for {path}").into(),
    }
}

/// The wrapper.
#[derive(Debug)]
pub struct FaultyStore {
    inner: Arc<dyn ObjectStore>,
    /// The armed faults.
    pub faults: Arc<Faults>,
}

impl FaultyStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn ObjectStore>) -> FaultyStore {
        FaultyStore {
            inner,
            faults: Arc::default(),
        }
    }
}

impl std::fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Faulty({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.faults.requests.fetch_add(1, Ordering::SeqCst);
        if take(&self.faults.server_errors) {
            return Err(err503(location));
        }
        let fail = self.faults.fail_key.lock().unwrap().clone();
        if !fail.is_empty()
            && location.as_ref().contains(fail.as_str())
            && take(&self.faults.key_failures)
        {
            return Err(err503(location));
        }
        let key = self.faults.lost_response_key.lock().unwrap().clone();
        let r = self.inner.put_opts(location, payload, opts).await?;
        if location.as_ref().contains(key.as_str()) && take(&self.faults.lost_responses) {
            return Err(object_store::Error::Generic {
                store: "faulty",
                source: format!("injected: connection reset after the put of {location}").into(),
            });
        }
        Ok(r)
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.faults.requests.fetch_add(1, Ordering::SeqCst);
        if take(&self.faults.server_errors) {
            return Err(err503(location));
        }
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.faults.requests.fetch_add(1, Ordering::SeqCst);
        if take(&self.faults.server_errors) {
            return Err(err503(location));
        }
        if take(&self.faults.hangs) {
            let d = *self.faults.hang_for.lock().unwrap();
            tokio::time::sleep(d).await;
        }
        let truncate = take(&self.faults.truncations);
        let corrupt = !truncate && take(&self.faults.corruptions);
        let r = self.inner.get_opts(location, options).await?;
        if !(truncate || corrupt) {
            return Ok(r);
        }
        let GetResult {
            meta,
            range,
            attributes,
            extensions,
            payload,
        } = r;
        let full = GetResult {
            meta: meta.clone(),
            range: range.clone(),
            attributes: attributes.clone(),
            extensions: extensions.clone(),
            payload,
        }
        .bytes()
        .await?;
        let body = if truncate {
            full.slice(..full.len() / 2)
        } else {
            let mut v = full.to_vec();
            if let Some(b) = v.get_mut(full.len() / 2) {
                *b ^= 0x40;
            }
            v.into()
        };
        Ok(GetResult {
            meta,
            range,
            attributes,
            extensions,
            payload: GetResultPayload::Stream(
                futures::stream::once(async move { Ok(body) }).boxed(),
            ),
        })
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.faults.requests.fetch_add(1, Ordering::SeqCst);
        if take(&self.faults.server_errors) {
            let p = prefix.cloned().unwrap_or_default();
            return futures::stream::once(async move { Err(err503(&p)) }).boxed();
        }
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}
