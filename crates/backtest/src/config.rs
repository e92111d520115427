use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tickloop_core::Timestamp;
use tickloop_pipeline::PipelineConfig;
use tickloop_sim::MarketConfig;
use tickloop_strategies::StrategyConfig;

use crate::BacktestError;

/// An experiment file (`experiments/*.toml`): data, pipeline, strategy, costs. Everything a
/// run needs to be reproduced is in here; the resolved copy is saved with each run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub data: DataConfig,
    /// How to generate the data with the simulator when the lake has none for the range.
    #[serde(default)]
    pub sim: Option<MarketConfig>,
    #[serde(default)]
    pub pipeline: PipelineConfig,
    #[serde(default)]
    pub strategy: StrategyConfig,
    /// A trained model whose predictions join the pipeline (`[model] path = "models/gbm"`).
    #[serde(default)]
    pub model: Option<ModelConfig>,
    #[serde(default)]
    pub execution: ExecutionConfig,
    #[serde(default)]
    pub report: ReportConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Lake root; relative paths are relative to the working directory.
    #[serde(default = "default_lake")]
    pub lake: PathBuf,
    /// First instant replayed (inclusive).
    #[serde(with = "tickloop_core::rfc3339")]
    pub start: Timestamp,
    /// End of the replay (exclusive).
    #[serde(with = "tickloop_core::rfc3339")]
    pub end: Timestamp,
}

fn default_lake() -> PathBuf {
    PathBuf::from("data/lake")
}

/// Which model an experiment runs, and how often it predicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// A model directory (its latest version) or a version directory (`models/gbm/v3`).
    pub path: PathBuf,
    /// Predict each symbol once per this many event seconds.
    #[serde(default = "default_predict_every")]
    pub predict_every_secs: u32,
}

fn default_predict_every() -> u32 {
    60
}

/// The simulated broker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExecutionConfig {
    pub initial_capital: f64,
    /// Commission in basis points of traded notional.
    pub fee_bps: f64,
    /// Commission per share traded (added to `fee_bps`), as US brokers charge.
    pub fee_per_share: f64,
    /// Price concession in basis points, paid on every fill.
    pub slippage_bps: f64,
    /// Extra concession as a share of the fill tick's high–low range: a spread and
    /// volatility proxy, so fills in wide, fast markets cost more (0.5 ≈ half the range).
    pub slippage_range_share: f64,
    /// At most this share of a tick's volume fills; the rest of the order keeps working on
    /// later ticks (partial fills). Unlimited when unset.
    pub max_participation: Option<f64>,
    /// Time from a decision to the order reaching the market.
    pub latency_ms: u64,
}

impl Default for ExecutionConfig {
    fn default() -> Self {
        ExecutionConfig {
            initial_capital: 1_000_000.0,
            fee_bps: 0.5,
            fee_per_share: 0.0,
            slippage_bps: 1.0,
            slippage_range_share: 0.0,
            max_participation: None,
            latency_ms: 100,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportConfig {
    /// Equity is sampled every this many seconds of event time (for returns and charts).
    pub sample_secs: u32,
    /// Samples per year, for annualising Sharpe: 252 sessions × 390 minutes by default.
    pub periods_per_year: f64,
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig { sample_secs: 60, periods_per_year: 252.0 * 390.0 }
    }
}

impl ExperimentConfig {
    pub fn load(path: &Path) -> Result<Self, BacktestError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| BacktestError::Io { path: path.to_owned(), source })?;
        Self::parse(&text).map_err(|e| match e {
            BacktestError::Config { reason, .. } => BacktestError::Config { path: path.to_owned(), reason },
            other => other,
        })
    }

    pub fn parse(text: &str) -> Result<Self, BacktestError> {
        let config: ExperimentConfig =
            toml::from_str(text).map_err(|e| BacktestError::Config { path: PathBuf::new(), reason: e.to_string() })?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), BacktestError> {
        let fail = |reason: String| Err(BacktestError::Config { path: PathBuf::new(), reason });
        if self.data.end <= self.data.start {
            return fail(format!("data.end ({}) must be after data.start ({})", self.data.end, self.data.start));
        }
        let e = &self.execution;
        if !(e.initial_capital.is_finite() && e.initial_capital > 0.0) {
            return fail("execution.initial_capital must be positive".into());
        }
        if !(e.fee_bps >= 0.0 && e.fee_per_share >= 0.0 && e.slippage_bps >= 0.0 && e.slippage_range_share >= 0.0) {
            return fail("execution fees and slippage must be >= 0".into());
        }
        if e.max_participation.is_some_and(|p| !(p > 0.0 && p <= 1.0)) {
            return fail("execution.max_participation must be in (0, 1]".into());
        }
        if self.report.sample_secs == 0 || self.report.periods_per_year <= 0.0 {
            return fail("report.sample_secs and periods_per_year must be positive".into());
        }
        if let Err(e) = self.pipeline.clone().resolve() {
            return fail(format!("pipeline.feature_set: {e}"));
        }
        if let Err(e) = self.pipeline.alerts.validate() {
            return fail(format!("pipeline.alerts: {e}"));
        }
        if self.strategy.needs_model() && self.model.is_none() {
            return fail("the strategy trades a model's predictions: add [model] path = \"models/<name>\"".into());
        }
        if self.model.as_ref().is_some_and(|m| m.predict_every_secs == 0) {
            return fail("model.predict_every_secs must be at least 1".into());
        }
        if let Some(sim) = &self.sim {
            sim.validate().map_err(|e| BacktestError::Config { path: PathBuf::new(), reason: e.to_string() })?;
        }
        Ok(())
    }

    /// The pipeline config with the named feature set expanded and every feature the
    /// strategy reads added (validated at load, so this cannot fail afterwards).
    pub fn resolved_pipeline(&self) -> PipelineConfig {
        let mut pipeline = self.pipeline.clone();
        pipeline.resolve().expect("feature set checked by validate()");
        pipeline.require(&self.strategy.required_features());
        pipeline
    }

    /// The config as it ran (strategy features added), in TOML: saved next to each report.
    pub fn resolved_toml(&self) -> String {
        let mut resolved = self.clone();
        resolved.pipeline = self.resolved_pipeline();
        toml::to_string_pretty(&resolved).expect("experiment config serialises")
    }
}
