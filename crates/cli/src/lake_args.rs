//! Where the lake is: one set of flags shared by every subcommand that reads or writes it.

#[cfg(feature = "s3")]
use anyhow::Context;
use clap::Args;
use tickloop_lake::Lake;

#[derive(Debug, Clone, Args)]
pub struct LakeArgs {
    /// Lake root: a directory, or s3://bucket/prefix (credentials from the standard AWS
    /// chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, or an instance role).
    #[arg(long, env = "TICKLOOP_LAKE", default_value = "data/lake")]
    pub lake: String,
    #[command(flatten)]
    pub s3: S3Args,
}

/// How to reach S3 or an S3-compatible server (ignored for a local lake).
#[derive(Debug, Clone, Default, Args)]
pub struct S3Args {
    /// An S3-compatible endpoint, e.g. http://127.0.0.1:8333 (AWS when unset).
    #[arg(long, env = "S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// Region (default: the AWS chain's, else us-east-1).
    #[arg(long, env = "AWS_REGION")]
    pub s3_region: Option<String>,
    /// Use virtual-hosted-style URLs even with --s3-endpoint (path style is the default
    /// there, as most S3-compatible servers need it; virtual-hosted is the default on AWS).
    #[arg(long)]
    pub s3_virtual_hosted: bool,
    /// Attempts per S3 request before giving up (retries back off exponentially, with
    /// jitter); a run that still cannot read or write then fails, naming the object.
    #[arg(long, default_value_t = tickloop_lake::S3Options::DEFAULT_MAX_ATTEMPTS, value_parser = clap::value_parser!(u32).range(1..))]
    pub s3_max_attempts: u32,
    /// Time one S3 request attempt may take before it is abandoned and retried (a stalled
    /// server): 500ms, 30s, 2m…
    #[arg(long, default_value = "60s", value_parser = crate::duration::parse_duration)]
    pub s3_attempt_timeout: std::time::Duration,
}

impl S3Args {
    #[cfg_attr(not(any(feature = "s3", feature = "sql")), allow(dead_code))]
    pub fn options(&self) -> tickloop_lake::S3Options {
        tickloop_lake::S3Options {
            region: self.s3_region.clone(),
            endpoint: self.s3_endpoint.clone(),
            path_style: self.s3_endpoint.is_some() && !self.s3_virtual_hosted,
            max_attempts: self.s3_max_attempts,
            attempt_timeout: self.s3_attempt_timeout,
        }
    }

    /// Opens the lake at `root`: S3 for `s3://` URLs, a local directory otherwise.
    pub fn open(&self, root: &str) -> anyhow::Result<Lake> {
        Ok(Lake::on(self.store(root)?, root))
    }

    /// The object store at `root` (a lake, a sharded run's prefix): S3 for `s3://` URLs, a
    /// local directory otherwise.
    pub fn store(&self, root: &str) -> anyhow::Result<std::sync::Arc<dyn tickloop_lake::ObjectStore>> {
        if !root.starts_with("s3://") {
            return Ok(std::sync::Arc::new(tickloop_lake::LocalStore::new(root)));
        }
        #[cfg(feature = "s3")]
        {
            let location = tickloop_s3::S3Location::parse(root)?;
            let store =
                tickloop_s3::S3Store::connect(location, &self.options()).with_context(|| format!("opening {root}"))?;
            Ok(std::sync::Arc::new(store))
        }
        #[cfg(not(feature = "s3"))]
        anyhow::bail!("{root}: this tickloop was built without S3 support (cargo feature `s3`)")
    }
}

impl LakeArgs {
    pub fn open(&self) -> anyhow::Result<Lake> {
        self.s3.open(&self.lake)
    }
}
