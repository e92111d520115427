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
    /// Walk-forward mode: a model is trained per test window (`[walk_forward]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub walk_forward: Option<crate::WalkForwardConfig>,
    /// A parameter grid: the experiment runs once per combination (`[sweep.grid]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepConfig>,
}

/// `[sweep]`: every combination of the grid's values is one backtest; the results are
/// ranked by `rank_by`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepConfig {
    /// A metric of `report.json` (`sharpe`, `sortino`, `calmar`, `total_return`,
    /// `hit_rate`…) or an alert score (`alert_f1`, `volume_spike_f1`, `price_drop_f1`:
    /// F1 against planted anomalies, to tune alert rules); higher ranks first, except for
    /// drawdown, volatility, fees and turnover.
    #[serde(default = "default_rank_by")]
    pub rank_by: String,
    /// Dotted paths into this file (`"strategy.fast"`, `"execution.slippage_bps"`) and the
    /// values each takes.
    pub grid: std::collections::BTreeMap<String, Vec<toml::Value>>,
}

fn default_rank_by() -> String {
    "sharpe".into()
}

/// One combination of a sweep: its parameters (`path=value` pairs) and the experiment
/// they give, or why that combination is invalid.
#[derive(Debug, Clone)]
pub struct SweepPoint {
    pub index: usize,
    pub params: Vec<(String, toml::Value)>,
    pub config: Result<ExperimentConfig, String>,
}

impl SweepPoint {
    /// `strategy.fast=30 strategy.slow=300`.
    pub fn label(&self) -> String {
        self.params.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
    }
}

impl SweepConfig {
    /// Whether a larger value of the ranking metric is better.
    pub fn higher_is_better(&self) -> bool {
        !matches!(
            self.rank_by.as_str(),
            "max_drawdown" | "max_drawdown_secs" | "annualized_volatility" | "fees_paid" | "turnover"
        )
    }

    pub fn combinations(&self) -> usize {
        self.grid.values().map(Vec::len).product()
    }
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
    /// Caps each symbol's target at this fraction of its allocation (capital over the
    /// number of symbols), long or short.
    pub max_symbol_weight: Option<f64>,
    /// Caps gross exposure (Σ |position × price|) at this multiple of equity: an order that
    /// would exceed it is cut to what fits (orders that reduce exposure always go through).
    pub max_gross_exposure: Option<f64>,
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
            max_symbol_weight: None,
            max_gross_exposure: None,
        }
    }
}

/// The simulator's session and the sample data trade on New York's clock.
pub const DEFAULT_TIME_ZONE: &str = "America/New_York";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportConfig {
    /// Equity is sampled every this many seconds of event time (for returns and charts).
    pub sample_secs: u32,
    /// Samples per year, for annualising Sharpe: 252 sessions × 390 minutes by default.
    pub periods_per_year: f64,
    /// The symbol to buy and hold as the benchmark (an index ETF, say); unset, an equal
    /// weight of every symbol the run can trade.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub benchmark: Option<String>,
    /// The market's time zone, for the report's clocks, time axes and calendar days: an
    /// IANA name (`America/New_York`, `Europe/London`) or `UTC`. The lake stays in UTC.
    pub time_zone: String,
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            sample_secs: 60,
            periods_per_year: 252.0 * 390.0,
            benchmark: None,
            time_zone: DEFAULT_TIME_ZONE.to_owned(),
        }
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
        if e.max_symbol_weight.is_some_and(|w| !(w > 0.0 && w <= 1.0)) {
            return fail("execution.max_symbol_weight must be in (0, 1]".into());
        }
        if e.max_gross_exposure.is_some_and(|g| !(g > 0.0 && g.is_finite())) {
            return fail("execution.max_gross_exposure must be positive".into());
        }
        if self.report.sample_secs == 0 || self.report.periods_per_year <= 0.0 {
            return fail("report.sample_secs and periods_per_year must be positive".into());
        }
        if let Err(reason) = tickloop_lake::csv::Zone::parse(&self.report.time_zone) {
            return fail(format!("[report] time_zone: {reason}"));
        }
        if let Err(e) = self.pipeline.clone().resolve() {
            return fail(format!("pipeline.feature_set: {e}"));
        }
        if let Err(e) = self.pipeline.alerts.validate() {
            return fail(format!("pipeline.alerts: {e}"));
        }
        if let Some(wf) = &self.walk_forward {
            if self.model.is_some() {
                return fail("[walk_forward] trains its own model per fold: remove [model]".into());
            }
            wf.validate().or_else(fail)?;
            wf.windows(self.data.start, self.data.end).map(drop).or_else(fail)?;
        } else if self.strategy.needs_model() && self.model.is_none() {
            return fail("the strategy trades a model's predictions: add [model] path = \"models/<name>\" (or [walk_forward] to train one per fold)".into());
        }
        if self.model.as_ref().is_some_and(|m| m.predict_every_secs == 0) {
            return fail("model.predict_every_secs must be at least 1".into());
        }
        if let Some(sweep) = &self.sweep {
            if sweep.grid.is_empty() || sweep.grid.values().any(Vec::is_empty) {
                return fail("sweep.grid needs at least one path with at least one value".into());
            }
            if crate::Metrics::default().get(&sweep.rank_by).is_none()
                && !crate::ALERT_SCORES.contains(&sweep.rank_by.as_str())
            {
                return fail(format!(
                    "sweep.rank_by = {:?} is not a metric; one of: {}, {}",
                    sweep.rank_by,
                    crate::Metrics::names().join(", "),
                    crate::ALERT_SCORES.join(", ")
                ));
            }
            let mut probe = toml::Value::try_from(self).expect("experiment config serialises");
            for (path, values) in &sweep.grid {
                set_path(&mut probe, path, values[0].clone()).or_else(fail)?;
            }
        }
        if let Some(sim) = &self.sim {
            sim.validate().map_err(|e| BacktestError::Config { path: PathBuf::new(), reason: e.to_string() })?;
        }
        Ok(())
    }

    /// How often the model predicts each symbol, from `[model]` or `[walk_forward]`.
    pub fn predict_every_secs(&self) -> u32 {
        match (&self.model, &self.walk_forward) {
            (Some(m), _) => m.predict_every_secs,
            (None, Some(wf)) => wf.predict_every_secs,
            (None, None) => 60,
        }
    }

    /// The pipeline config with the named feature set expanded and every feature the
    /// strategy reads added (validated at load, so this cannot fail afterwards).
    pub fn resolved_pipeline(&self) -> PipelineConfig {
        let mut pipeline = self.pipeline.clone();
        pipeline.resolve().expect("feature set checked by validate()");
        pipeline.require(&self.strategy.required_features());
        pipeline
    }

    /// Every combination of the sweep's grid, in a fixed order (the grid's keys sorted, the
    /// last key varying fastest); the experiment itself when it has no sweep.
    pub fn sweep_points(&self) -> Vec<SweepPoint> {
        let Some(sweep) = &self.sweep else {
            return vec![SweepPoint { index: 0, params: Vec::new(), config: Ok(self.clone()) }];
        };
        let mut base = self.clone();
        base.sweep = None;
        let base = toml::Value::try_from(&base).expect("experiment config serialises");
        let keys: Vec<&String> = sweep.grid.keys().collect();
        let total = sweep.combinations();
        (0..total)
            .map(|index| {
                let mut rest = index;
                let mut params = vec![(String::new(), toml::Value::Boolean(false)); keys.len()];
                for (k, key) in keys.iter().enumerate().rev() {
                    let values = &sweep.grid[*key];
                    params[k] = ((*key).clone(), values[rest % values.len()].clone());
                    rest /= values.len();
                }
                let mut value = base.clone();
                let config = params
                    .iter()
                    .try_for_each(|(path, v)| set_path(&mut value, path, v.clone()))
                    .and_then(|()| value.try_into::<ExperimentConfig>().map_err(|e| e.to_string()))
                    .and_then(|c| c.validate().map(|()| c).map_err(|e| e.to_string()));
                SweepPoint { index, params, config }
            })
            .collect()
    }

    /// The config as it ran (strategy features added), in TOML: saved next to each report.
    pub fn resolved_toml(&self) -> String {
        let mut resolved = self.clone();
        resolved.pipeline = self.resolved_pipeline();
        toml::to_string_pretty(&resolved).expect("experiment config serialises")
    }

    /// SHA-256 of [`ExperimentConfig::resolved_toml`]: the config's identity in reports and
    /// manifests.
    pub fn config_sha256(&self) -> String {
        use sha2::{Digest, Sha256};
        tickloop_core::hex(&Sha256::digest(self.resolved_toml().as_bytes()))
    }
}

/// Sets `path` (`strategy.fast`) in a TOML tree to `value`; the parent tables must exist.
fn set_path(root: &mut toml::Value, path: &str, value: toml::Value) -> Result<(), String> {
    let mut node = root;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let table = node.as_table_mut().ok_or_else(|| format!("sweep path {path}: {part} is not inside a table"))?;
        if parts.peek().is_none() {
            table.insert(part.to_owned(), value);
            return Ok(());
        }
        node = table.get_mut(part).ok_or_else(|| format!("sweep path {path}: the experiment has no [{part}]"))?;
    }
    Err(format!("sweep path {path:?} is empty"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
name = "sweep"
[data]
start = "2024-01-02T14:30:00Z"
end = "2024-01-02T15:00:00Z"
[strategy]
kind = "ma_crossover"
fast = 30
slow = 120
[sweep]
rank_by = "sortino"
[sweep.grid]
"strategy.fast" = [10, 60, 200]
"execution.slippage_bps" = [0.0, 2.5]
"#;

    #[test]
    fn alert_settings_sweep_ranked_by_f1() {
        let text = BASE
            .replace("rank_by = \"sortino\"", "rank_by = \"alert_f1\"")
            .replace("\"strategy.fast\" = [10, 60, 200]", "\"pipeline.alerts.price_drop.sigmas\" = [4.0, 6.0]");
        let config = ExperimentConfig::parse(&text).unwrap();
        let points = config.sweep_points();
        assert_eq!(points.len(), 4);
        let drop = |p: &SweepPoint| p.config.as_ref().unwrap().pipeline.alerts.price_drop.clone().unwrap();
        assert_eq!((drop(&points[0]).sigmas, drop(&points[1]).sigmas), (4.0, 6.0));
        let bad = ExperimentConfig::parse(&BASE.replace("\"sortino\"", "\"f2\"")).unwrap_err().to_string();
        assert!(bad.contains("alert_f1"), "{bad}");
    }

    #[test]
    fn a_grid_expands_to_every_combination_in_a_fixed_order() {
        let config = ExperimentConfig::parse(BASE).unwrap();
        let points = config.sweep_points();
        assert_eq!(points.len(), 6);
        let labels: Vec<String> = points.iter().map(SweepPoint::label).collect();
        assert_eq!(labels[0], "execution.slippage_bps=0.0 strategy.fast=10");
        assert_eq!(labels[1], "execution.slippage_bps=0.0 strategy.fast=60");
        assert_eq!(labels[5], "execution.slippage_bps=2.5 strategy.fast=200");
        let second = points[4].config.as_ref().unwrap();
        assert_eq!(second.execution.slippage_bps, 2.5);
        assert!(matches!(second.strategy, StrategyConfig::MaCrossover { fast: 60, slow: 120, .. }));
        assert!(second.sweep.is_none(), "a point is a plain experiment");
        assert!(points[2].config.is_ok(), "fast ≥ slow is the strategy's to refuse when it is built");
    }

    #[test]
    fn a_grid_naming_a_missing_section_or_field_of_the_wrong_type_is_refused() {
        let bad = BASE.replace("\"strategy.fast\"", "\"strategy.fast\" = [1]\n\"nonsense.x\"");
        let err = ExperimentConfig::parse(&bad).unwrap_err().to_string();
        assert!(err.contains("no [nonsense]"), "{err}");
        let wrong = BASE.replace("[10, 60, 200]", "[\"ten\"]");
        let config = ExperimentConfig::parse(&wrong).unwrap();
        let point = &config.sweep_points()[0];
        assert!(point.config.as_ref().unwrap_err().contains("invalid type"), "{:?}", point.config);
    }

    #[test]
    fn the_report_time_zone_defaults_to_new_york_and_an_unknown_one_is_refused() {
        let config = ExperimentConfig::parse(BASE).unwrap();
        assert_eq!(config.report.time_zone, "America/New_York");
        let base = BASE.replace("[sweep]", "[report]\ntime_zone = \"Asia/Kolkata\"\n[sweep]");
        assert_eq!(ExperimentConfig::parse(&base).unwrap().report.time_zone, "Asia/Kolkata");
        let err = ExperimentConfig::parse(&base.replace("Asia/Kolkata", "Mars/Olympus")).unwrap_err().to_string();
        assert!(err.contains("[report] time_zone") && err.contains("Mars/Olympus"), "{err}");
    }
}
