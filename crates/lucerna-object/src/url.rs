//! `s3://bucket/prefix` URLs and the S3 client settings.
//!
//! Credentials, region and endpoint come from the usual environment
//! variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`, `AWS_REGION` or `AWS_DEFAULT_REGION`,
//! `AWS_ENDPOINT_URL` or `AWS_ENDPOINT`; `AWS_ALLOW_HTTP=true` for a plain
//! HTTP endpoint such as a local test server).

use crate::bucket::Bucket;
use crate::error::{ObjectError, Result};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::{ClientConfigKey, ObjectStore, RetryConfig};
use std::sync::Arc;
use std::time::Duration;

/// A parsed `s3://bucket/prefix` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketUrl {
    /// The bucket name.
    pub bucket: String,
    /// The key prefix (may be empty; no leading or trailing slash).
    pub prefix: String,
}

impl BucketUrl {
    /// Parses `s3://bucket[/prefix]`; `None` for anything else (a local
    /// path, another scheme, an empty bucket name).
    pub fn parse(url: &str) -> Option<BucketUrl> {
        let rest = url.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid = !bucket.is_empty()
            && bucket.len() <= 63
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        let prefix = prefix.trim_matches('/');
        let prefix_ok = prefix
            .split('/')
            .all(|p| p.is_empty() || (p != "." && p != ".."))
            && !prefix.contains("//");
        (valid && prefix_ok).then(|| BucketUrl {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }

    /// True when `s` looks like a bucket URL (`s3://…`), valid or not.
    pub fn is_url(s: &str) -> bool {
        s.starts_with("s3://")
    }
}

impl std::fmt::Display for BucketUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// Explicit S3 client settings (what the environment would give).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Options {
    /// Endpoint URL (`None`: AWS).
    pub endpoint: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// Access key id.
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<String>,
    /// Allow plain HTTP (a local test server).
    pub allow_http: bool,
}

impl Bucket {
    /// The bucket of `url` (`s3://bucket/prefix`), configured from the
    /// environment (see the module docs).
    pub fn from_url(url: &str) -> Result<Bucket> {
        let u = BucketUrl::parse(url)
            .ok_or_else(|| ObjectError::Config(format!("not an s3://bucket/prefix URL: {url}")))?;
        let b = AmazonS3Builder::from_env().with_bucket_name(&u.bucket);
        Self::build_s3_url(b, &u)
    }

    /// The S3 bucket `bucket` under `prefix` with explicit settings.
    pub fn s3(bucket: &str, prefix: &str, opts: &S3Options) -> Result<Bucket> {
        let u = BucketUrl {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
        };
        Bucket::new(s3_store(bucket, opts)?, &u.prefix, &u.to_string())
    }
}

/// The `object_store` client of S3 bucket `bucket` with explicit settings
/// (for wrapping it, e.g. in a test's fault injector, before
/// [`Bucket::new`]).
pub fn s3_store(bucket: &str, opts: &S3Options) -> Result<Arc<dyn ObjectStore>> {
    {
        let mut b = AmazonS3Builder::new().with_bucket_name(bucket);
        if let Some(e) = &opts.endpoint {
            b = b.with_endpoint(e);
        }
        if let Some(r) = &opts.region {
            b = b.with_region(r);
        }
        if let Some(k) = &opts.access_key_id {
            b = b.with_access_key_id(k);
        }
        if let Some(s) = &opts.secret_access_key {
            b = b.with_secret_access_key(s);
        }
        b = b.with_allow_http(opts.allow_http);
        build_s3(b)
    }
}

impl Bucket {
    fn build_s3_url(b: AmazonS3Builder, u: &BucketUrl) -> Result<Bucket> {
        Bucket::new(build_s3(b)?, &u.prefix, &u.to_string())
    }
}

fn build_s3(b: AmazonS3Builder) -> Result<Arc<dyn ObjectStore>> {
    {
        // Retries are ours (RetryPolicy), so that every failure is counted
        // and bounded in one place; the client only times out.
        let store = b
            .with_retry(RetryConfig {
                max_retries: 0,
                retry_timeout: Duration::from_secs(60),
                ..RetryConfig::default()
            })
            .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::Timeout), "60s")
            .with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
                "5s",
            )
            .build()
            .map_err(|e| ObjectError::Config(e.to_string()))?;
        Ok(Arc::new(store))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = BucketUrl::parse("s3://logs/idx/a/").unwrap();
        assert_eq!((u.bucket.as_str(), u.prefix.as_str()), ("logs", "idx/a"));
        assert_eq!(u.to_string(), "s3://logs/idx/a");
        assert_eq!(BucketUrl::parse("s3://logs").unwrap().prefix, "");
        assert!(BucketUrl::parse("/tmp/x").is_none());
        assert!(BucketUrl::parse("s3://").is_none());
        assert!(BucketUrl::parse("s3://Bad_Name/x").is_none());
        assert!(BucketUrl::parse("s3://b/../x").is_none());
    }
}
