//! Hyperparameters and errors.

use serde::{Deserialize, Serialize};

/// Hyperparameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LstmParams {
    pub hidden: usize,
    pub dropout: f64,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub batch_size: usize,
    /// Maximum passes over the training windows.
    pub epochs: usize,
    /// Epochs without a better validation loss before training stops (best weights kept).
    pub patience: usize,
    /// The last share of the (time-ordered) training windows held out for early stopping.
    pub validation_fraction: f64,
    pub seed: u64,
}

impl Default for LstmParams {
    fn default() -> Self {
        LstmParams {
            hidden: 128,
            dropout: 0.3,
            learning_rate: 1e-3,
            weight_decay: 1e-4,
            batch_size: 64,
            epochs: 10,
            patience: 3,
            validation_fraction: 0.15,
            seed: 42,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LstmError {
    #[error("invalid parameter: {0}")]
    Param(String),
    #[error("too few windows to train on: {0}")]
    TooFewWindows(usize),
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
}
