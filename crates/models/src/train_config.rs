//! What a model is trained on: an experiment's `[walk_forward.train]`, or `tickloop train`'s
//! flags.

use serde::{Deserialize, Serialize};
use tickloop_features::FeatureSpec;

use crate::ModelKind;

/// `[walk_forward.train]`: the model each fold fits, as `tickloop train` would.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    pub model: ModelKind,
    /// Input features [default: the model kind's default inputs].
    #[serde(default)]
    pub features: Vec<FeatureSpec>,
    /// Label: the log return over the next this many seconds.
    #[serde(default = "default_horizon")]
    pub horizon_secs: u32,
    /// Every Nth row of each symbol [default: lstm 30, gbm 10].
    #[serde(default)]
    pub stride: Option<usize>,
    /// LSTM window (rows per sequence).
    #[serde(default = "default_window")]
    pub window: usize,
    /// Train on at most this many rows or windows (0 = all).
    #[serde(default)]
    pub max_samples: usize,
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Hyperparameters, as in `tickloop train --params` (`iterations`, `max_depth`,
    /// `hidden`, `epochs`…).
    #[serde(default)]
    pub params: toml::Table,
}

fn default_horizon() -> u32 {
    60
}
fn default_window() -> usize {
    60
}
fn default_seed() -> u64 {
    42
}
