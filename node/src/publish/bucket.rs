//! The S3-compatible bucket the read path is published to, through `object_store`.
//!
//! Configuration is the AWS SDK's usual environment (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT` /
//! `AWS_ENDPOINT_URL` for a non-AWS service, `AWS_ALLOW_HTTP=true` for plain HTTP,
//! `AWS_VIRTUAL_HOSTED_STYLE_REQUEST`), plus the URL `s3://BUCKET[/PREFIX]` naming where
//! the log's paths go. Nothing here decides anything: it stores bytes under names.

use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{Attribute, Attributes, ObjectStore, PutOptions, PutPayload};

/// Why the bucket could not be configured or written.
#[derive(Debug, thiserror::Error)]
pub enum BucketError {
    /// The `--publish-s3-url` value is not `s3://BUCKET[/PREFIX]`.
    #[error("publish URL {url:?}: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The object store client could not be built (bad environment, bad endpoint...).
    #[error("configuring the S3 client for {url}: {source}")]
    Config {
        /// The URL as given.
        url: String,
        /// The client's error.
        source: object_store::Error,
    },
    /// A PUT failed (the caller retries).
    #[error("uploading {path}: {source}")]
    Put {
        /// Object path within the bucket.
        path: String,
        /// The client's error.
        source: object_store::Error,
    },
}

/// Cache-Control of objects that never change (full tiles and bundles).
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Cache-Control of partial tiles and bundles, as the node serves them.
pub const PARTIAL: &str = "public, max-age=60";
/// Cache-Control of the checkpoint: readers must always see the newest.
pub const NO_CACHE: &str = "no-cache";

/// A bucket plus the prefix the log's paths live under.
#[derive(Debug, Clone)]
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    url: String,
}

impl Bucket {
    /// The bucket named by `url` (`s3://BUCKET[/PREFIX]`), credentials and endpoint from
    /// the environment.
    pub fn from_url(url: &str) -> Result<Bucket, BucketError> {
        let bad = |reason: &str| BucketError::BadUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| bad("must start with s3://"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(bad("names no bucket"));
        }
        let prefix = prefix.trim_matches('/');
        if prefix
            .split('/')
            .any(|seg| seg == "." || seg == ".." || (seg.is_empty() && !prefix.is_empty()))
        {
            return Err(bad("prefix must not contain empty, '.' or '..' segments"));
        }
        let store = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()
            .map_err(|source| BucketError::Config {
                url: url.to_owned(),
                source,
            })?;
        Ok(Bucket {
            store: Arc::new(store),
            prefix: prefix.to_owned(),
            url: url.to_owned(),
        })
    }

    /// The URL this bucket was made from.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn path(&self, name: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(name)
        } else {
            ObjectPath::from(format!("{}/{name}", self.prefix))
        }
    }

    /// Stores `data` at `name` (a tlog-tiles path such as `tile/0/001`) with the content
    /// type and cache control the node serves it with.
    pub async fn put(
        &self,
        name: &str,
        data: Vec<u8>,
        content_type: &'static str,
        cache_control: &'static str,
    ) -> Result<(), BucketError> {
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::ContentType, content_type.into());
        attributes.insert(Attribute::CacheControl, cache_control.into());
        let opts = PutOptions {
            attributes,
            ..PutOptions::default()
        };
        let path = self.path(name);
        self.store
            .put_opts(&path, PutPayload::from(data), opts)
            .await
            .map(|_| ())
            .map_err(|source| BucketError::Put {
                path: path.to_string(),
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        for bad in [
            "http://b/p",
            "s3://",
            "s3:///p",
            "s3://b/a//c",
            "s3://b/../x",
            "s3://b/./x",
        ] {
            let e = Bucket::from_url(bad).unwrap_err();
            assert!(matches!(e, BucketError::BadUrl { .. }), "{bad}: {e}");
        }
        let b = Bucket::from_url("s3://bucket/some/prefix/").unwrap();
        assert_eq!(b.path("checkpoint").as_ref(), "some/prefix/checkpoint");
        let b = Bucket::from_url("s3://bucket").unwrap();
        assert_eq!(b.path("tile/0/000").as_ref(), "tile/0/000");
    }
}
