//! tickloop-s3: the lake on S3 or any S3-compatible server (SeaweedFS, MinIO, Ceph).
//!
//! [`S3Store`] implements [`tickloop_lake::ObjectStore`], so every lake job (landing,
//! feature engineering, replay, import) runs unchanged on `s3://bucket/prefix`. Objects are
//! written whole by a single `PutObject` of a finished local file, so readers never see a
//! partial object; reads download an object to a temporary file the parquet reader can seek
//! in (one hour file at a time, so memory stays bounded by the replay, not by the data).
//!
//! Credentials come from the standard AWS chain (environment, profile, instance role) and
//! are never logged. The store owns a small tokio runtime so the synchronous lake API can
//! call the async SDK; called from inside another runtime it runs requests on a scoped
//! thread instead of blocking that runtime's worker.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_s3::Client;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
pub use tickloop_lake::S3Options;
use tickloop_lake::{LakeError, LocalCopy, ObjectMeta, ObjectStore};
use tokio::io::AsyncWriteExt;

/// Where a lake on S3 lives and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// Key prefix without leading or trailing `/`; empty for the bucket's root.
    pub prefix: String,
}

impl S3Location {
    /// Parses `s3://bucket[/prefix]`.
    pub fn parse(url: &str) -> Result<Self, S3Error> {
        let rest = url.strip_prefix("s3://").ok_or_else(|| S3Error::Url(url.to_owned(), "must start with s3://"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(S3Error::Url(url.to_owned(), "names no bucket"));
        }
        Ok(S3Location { bucket: bucket.to_owned(), prefix: prefix.trim_matches('/').to_owned() })
    }

    fn key(&self, key: &str) -> String {
        if self.prefix.is_empty() { key.to_owned() } else { format!("{}/{key}", self.prefix) }
    }
}

impl fmt::Display for S3Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("{0}: {1}")]
    Url(String, &'static str),
    #[error("starting the S3 client's runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// A lake's [`ObjectStore`] on S3.
pub struct S3Store {
    client: Client,
    location: S3Location,
    runtime: tokio::runtime::Runtime,
    scratch: PathBuf,
}

impl fmt::Debug for S3Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Store").field("location", &self.location.to_string()).finish_non_exhaustive()
    }
}

/// The configuration every AWS client of tickloop starts from: credentials from the
/// standard chain (environment, profile, instance role), `region` or the chain's, else
/// us-east-1.
pub fn aws_sdk_config(runtime: &tokio::runtime::Runtime, region: Option<String>) -> aws_config::SdkConfig {
    let shared = runtime.block_on(async move {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(region) = region {
            loader = loader.region(aws_config::Region::new(region));
        }
        loader.load().await
    });
    if shared.region().is_some() {
        return shared;
    }
    shared.into_builder().region(aws_config::Region::from_static("us-east-1")).build()
}

impl S3Store {
    /// Connects lazily (no request is made until the first operation).
    pub fn connect(location: S3Location, options: &S3Options) -> Result<Self, S3Error> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(S3Error::Runtime)?;
        let shared = aws_sdk_config(&runtime, options.region.clone());
        let mut config = aws_sdk_s3::config::Builder::from(&shared);
        if let Some(endpoint) = &options.endpoint {
            config = config.endpoint_url(endpoint);
        }
        config = config.force_path_style(options.path_style);
        // Throttling, 5xx and connection failures are retried (standard mode: exponential
        // backoff with full jitter), and every attempt is bounded in time, so a stopped or
        // hanging server turns into an error naming the object rather than a stuck run.
        config = config
            .retry_config(
                aws_sdk_s3::config::retry::RetryConfig::standard()
                    .with_max_attempts(options.max_attempts.max(1))
                    .with_initial_backoff(std::time::Duration::from_millis(200))
                    .with_max_backoff(std::time::Duration::from_secs(8)),
            )
            .timeout_config(
                aws_sdk_s3::config::timeout::TimeoutConfig::builder()
                    .connect_timeout(std::time::Duration::from_secs(5))
                    .operation_attempt_timeout(options.attempt_timeout)
                    .build(),
            );
        let client = Client::from_conf(config.build());
        tracing::debug!(lake = %location, endpoint = ?options.endpoint, path_style = options.path_style, "S3 lake");
        Ok(S3Store { client, location, runtime, scratch: std::env::temp_dir() })
    }

    pub fn location_url(&self) -> &S3Location {
        &self.location
    }

    /// Runs a request to completion from synchronous code, inside a runtime or not.
    fn block_on<F: Future + Send>(&self, future: F) -> F::Output
    where
        F::Output: Send,
    {
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| s.spawn(|| self.runtime.block_on(future)).join().expect("S3 request panicked"))
        } else {
            self.runtime.block_on(future)
        }
    }

    fn fail(&self, key: &str, what: &str, err: impl std::error::Error) -> LakeError {
        LakeError::storage(self.location(key), format!("{what}: {}", DisplayErrorContext(err)))
    }

    fn scratch_file(&self) -> PathBuf {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        self.scratch.join(format!(".tickloop-s3-{}-{n}.tmp", std::process::id()))
    }
}

impl ObjectStore for S3Store {
    fn location(&self, key: &str) -> PathBuf {
        PathBuf::from(format!("{}/{key}", self.location))
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, LakeError> {
        let full_prefix = self.location.key(prefix);
        let strip = full_prefix.len() - prefix.len();
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let request = self
                .client
                .list_objects_v2()
                .bucket(&self.location.bucket)
                .prefix(&full_prefix)
                .set_continuation_token(token.take());
            let page = self.block_on(request.send()).map_err(|e| self.fail(prefix, "listing", e))?;
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                let relative = &key[strip..];
                if relative.split('/').any(|part| part.starts_with('.')) {
                    continue;
                }
                out.push(ObjectMeta {
                    key: relative.to_owned(),
                    size: object.size().unwrap_or(0).max(0) as u64,
                    version: object.e_tag().unwrap_or_default().to_owned(),
                });
            }
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => break,
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, LakeError> {
        let request = self.client.get_object().bucket(&self.location.bucket).key(self.location.key(key));
        self.block_on(async {
            match request.send().await {
                Ok(output) => {
                    output.body.collect().await.map(|b| Some(b.to_vec())).map_err(|e| self.fail(key, "reading", e))
                }
                Err(e) => match e.into_service_error() {
                    e if e.is_no_such_key() => Ok(None),
                    e => Err(self.fail(key, "getting", e)),
                },
            }
        })
    }

    fn fetch(&self, key: &str) -> Result<LocalCopy, LakeError> {
        let path = self.scratch_file();
        let copy = LocalCopy::temporary(path.clone());
        let request = self.client.get_object().bucket(&self.location.bucket).key(self.location.key(key));
        self.block_on(async {
            let output = request.send().await.map_err(|e| self.fail(key, "getting", e))?;
            let mut body = output.body;
            let mut file = tokio::fs::File::create(&path).await.map_err(|e| self.fail(key, "downloading", e))?;
            while let Some(chunk) = body.try_next().await.map_err(|e| self.fail(key, "downloading", e))? {
                file.write_all(&chunk).await.map_err(|e| self.fail(key, "downloading", e))?;
            }
            file.flush().await.map_err(|e| self.fail(key, "downloading", e))
        })?;
        Ok(copy)
    }

    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), LakeError> {
        let request = self
            .client
            .put_object()
            .bucket(&self.location.bucket)
            .key(self.location.key(key))
            .body(ByteStream::from(bytes.to_vec()));
        self.block_on(request.send()).map_err(|e| self.fail(key, "putting", e))?;
        Ok(())
    }

    fn staging_path(&self, _key: &str) -> Result<PathBuf, LakeError> {
        Ok(self.scratch_file())
    }

    fn commit(&self, staging: &Path, key: &str) -> Result<(), LakeError> {
        let result = self.block_on(async {
            let body = ByteStream::from_path(staging).await.map_err(|e| self.fail(key, "uploading", e))?;
            let request = self.client.put_object().bucket(&self.location.bucket).key(self.location.key(key)).body(body);
            request.send().await.map_err(|e| self.fail(key, "uploading", e)).map(drop)
        });
        let _ = std::fs::remove_file(staging);
        result
    }

    fn delete(&self, key: &str) -> Result<(), LakeError> {
        let request = self.client.delete_object().bucket(&self.location.bucket).key(self.location.key(key));
        self.block_on(request.send()).map_err(|e| self.fail(key, "deleting", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_bucket_and_an_optional_prefix() {
        let loc = S3Location::parse("s3://lake/team/a/").unwrap();
        assert_eq!((loc.bucket.as_str(), loc.prefix.as_str()), ("lake", "team/a"));
        assert_eq!(loc.key("raw/x"), "team/a/raw/x");
        assert_eq!(loc.to_string(), "s3://lake/team/a");
        let root = S3Location::parse("s3://lake").unwrap();
        assert_eq!(root.key("raw/x"), "raw/x");
        assert!(S3Location::parse("s3:///x").is_err());
        assert!(S3Location::parse("/tmp/lake").is_err());
    }
}
