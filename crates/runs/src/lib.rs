//! tickloop-runs: experiments as reproducible runs.
//!
//! [`execute`] runs one experiment into a run directory — `report.json`, `report.html`,
//! `config.toml`, `manifest.json` (what it ran on: commit, config and data hashes, model
//! hash, wall time) and the alerts, predictions and rejects as JSON lines; a walk-forward
//! experiment fits a model per fold ([`tickloop_registry`]) and stitches the out-of-sample
//! folds. [`reproduce`] re-runs a run directory and says whether `report.json` came out
//! byte-identical, and if not which input changed. [`run_sweep`] runs a `[sweep]` grid in
//! parallel and ranks it. The CLI maps its arguments to these calls and prints what they
//! return.

mod provenance;
mod ranking_html;
mod run;
mod shard;
mod summary;
mod sweep;
mod walk_forward;

use std::path::PathBuf;

pub use provenance::{git_commit, hash_dir, run_id, sha256_hex, slug};
pub use run::{
    LABEL_GRACE_SECS, Manifest, Reproduction, RunOutcome, Share, Window, backtest_window, ensure_data, execute,
    reproduce,
};
pub use shard::{
    MergeOutcome, RunPrefix, SHARD_INDEX_VARIABLES, Shard, ShardRecord, ShardRow, ShardWork, merge, run_shard,
};
pub use summary::summary_rows;
pub use sweep::{SweepOutcome, SweepRow, run_sweep};
pub use walk_forward::FoldOutput;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    Backtest(#[from] tickloop_backtest::BacktestError),
    #[error(transparent)]
    Lake(#[from] tickloop_lake::LakeError),
    #[error(transparent)]
    Model(#[from] tickloop_models::ModelError),
    #[error(transparent)]
    Registry(#[from] tickloop_registry::RegistryError),
    /// The experiment cannot run as written; the message says what to change.
    #[error("{0}")]
    Config(String),
    /// A sharded run cannot be merged yet.
    #[error(
        "{prefix}: shards {missing} of {count} have not finished (no record under shards/); run them (again) with --shard I"
    )]
    MissingShards { prefix: String, count: usize, missing: String },
    #[error("fold {fold}: {what}: {source}")]
    Fold {
        fold: usize,
        what: &'static str,
        #[source]
        source: Box<RunError>,
    },
}

impl RunError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> RunError {
        let path = path.into();
        move |source| RunError::Io { path, source }
    }
}
