//! Strategies: each turns a tick's pipeline outputs into a target position for its symbol.

mod ma_crossover;
mod model_trend;

pub use ma_crossover::MaCrossover;
pub use model_trend::ModelTrend;

use serde::{Deserialize, Serialize};
use tickloop_core::Strategy;
use tickloop_features::{FeatureIndex, FeatureSpec};

/// Which strategy an experiment runs, and its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum StrategyConfig {
    /// Long when the fast SMA is above the slow one by more than `band_bps`, short (or flat)
    /// when below by more than that.
    MaCrossover {
        fast: u32,
        slow: u32,
        #[serde(default)]
        band_bps: f64,
        #[serde(default)]
        allow_short: bool,
    },
    /// Trades the experiment's `[model]`: long when the predicted next-horizon return is at
    /// least `threshold_bps`, short (if allowed) at or below −`threshold_bps`, else flat.
    /// With `full_size_bps`, positions scale with the predicted return (full at that many
    /// basis points); without it every position is full.
    ModelTrend {
        #[serde(default = "default_threshold_bps")]
        threshold_bps: f64,
        #[serde(default)]
        allow_short: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        full_size_bps: Option<f64>,
    },
}

fn default_threshold_bps() -> f64 {
    2.0
}

impl Default for StrategyConfig {
    fn default() -> Self {
        StrategyConfig::MaCrossover { fast: 60, slow: 300, band_bps: 5.0, allow_short: false }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StrategyError {
    #[error("strategy needs feature {0}, which the pipeline does not compute")]
    MissingFeature(FeatureSpec),
    #[error("invalid strategy parameters: {0}")]
    Invalid(String),
}

impl StrategyConfig {
    /// The features the strategy reads; the pipeline is asked to compute them.
    pub fn required_features(&self) -> Vec<FeatureSpec> {
        match *self {
            StrategyConfig::MaCrossover { fast, slow, .. } => vec![FeatureSpec::Sma(fast), FeatureSpec::Sma(slow)],
            StrategyConfig::ModelTrend { .. } => Vec::new(),
        }
    }

    /// Whether the strategy trades a model's predictions (the experiment needs `[model]`).
    pub fn needs_model(&self) -> bool {
        matches!(self, StrategyConfig::ModelTrend { .. })
    }

    pub fn build(&self, features: &FeatureIndex) -> Result<Box<dyn Strategy + Send>, StrategyError> {
        match *self {
            StrategyConfig::MaCrossover { fast, slow, band_bps, allow_short } => {
                if fast == 0 || fast >= slow {
                    return Err(StrategyError::Invalid(format!("need 0 < fast < slow, got fast={fast} slow={slow}")));
                }
                if !(0.0..10_000.0).contains(&band_bps) {
                    return Err(StrategyError::Invalid(format!("band_bps must be in [0, 10000), got {band_bps}")));
                }
                let find = |spec| features.position(spec).ok_or(StrategyError::MissingFeature(spec));
                Ok(Box::new(MaCrossover::new(
                    find(FeatureSpec::Sma(fast))?,
                    find(FeatureSpec::Sma(slow))?,
                    band_bps,
                    allow_short,
                )))
            }
            StrategyConfig::ModelTrend { threshold_bps, allow_short, full_size_bps } => {
                if !(0.0..10_000.0).contains(&threshold_bps) {
                    return Err(StrategyError::Invalid(format!(
                        "threshold_bps must be in [0, 10000), got {threshold_bps}"
                    )));
                }
                let strategy = ModelTrend::new(threshold_bps, allow_short);
                Ok(Box::new(match full_size_bps {
                    Some(full) if full > 0.0 && full.is_finite() => strategy.sized(full),
                    Some(full) => {
                        return Err(StrategyError::Invalid(format!("full_size_bps must be positive, got {full}")));
                    }
                    None => strategy,
                }))
            }
        }
    }
}
