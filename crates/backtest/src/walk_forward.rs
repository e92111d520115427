//! Walk-forward backtests: the experiment's span is cut into consecutive test windows; for
//! each, a model is trained on data that ends before the window (purge and embargo), and the
//! strategy trades the window with that model. Only the test windows count: their equity
//! curves are chained into one out-of-sample curve and every metric is computed on it.
//!
//! Training itself happens in the caller (`tickloop-registry` fits the models); this module owns
//! the calendar — which data each fold may learn from and trade on — and the stitching.

use serde::{Deserialize, Serialize};
use tickloop_core::{NANOS_PER_SECOND, Timestamp};
use tickloop_models::TrainConfig;
use tickloop_pipeline::ModelAccuracy;

use crate::metrics::{EquityPoint, Metrics, Trading};
use crate::{DataSummary, PAIR_SAMPLE, Report, SymbolResult};

/// `[walk_forward]` in an experiment file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalkForwardConfig {
    /// Test windows: the span is cut into `folds + 1` equal blocks and blocks 2.. are
    /// tested, so the first block only ever trains.
    #[serde(default = "default_folds")]
    pub folds: usize,
    /// Training window length; unset = expanding (from `data.start`).
    #[serde(default)]
    pub train_secs: Option<u64>,
    /// Gap between the end of the training data and the test window, on top of the purge
    /// (the training data ends there, so no training label reaches past it).
    #[serde(default = "default_embargo")]
    pub embargo_secs: u64,
    /// Data replayed before each test window to warm the features up; nothing trades and
    /// nothing is scored in it.
    #[serde(default = "default_warmup")]
    pub warmup_secs: u64,
    /// Predict each symbol once per this many event seconds.
    #[serde(default = "default_predict_every")]
    pub predict_every_secs: u32,
    pub train: TrainConfig,
}

fn default_folds() -> usize {
    4
}
fn default_embargo() -> u64 {
    60
}
fn default_warmup() -> u64 {
    900
}
fn default_predict_every() -> u32 {
    60
}

/// One fold's calendar. All ranges are half-open `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoldWindow {
    #[serde(with = "tickloop_core::rfc3339")]
    pub train_from: Timestamp,
    /// The training data ends here: labels of rows within a horizon of it are unknown and
    /// dropped (the purge).
    #[serde(with = "tickloop_core::rfc3339")]
    pub train_to: Timestamp,
    /// Replay starts here (features warm up), trading at `test_from`.
    #[serde(with = "tickloop_core::rfc3339")]
    pub replay_from: Timestamp,
    #[serde(with = "tickloop_core::rfc3339")]
    pub test_from: Timestamp,
    #[serde(with = "tickloop_core::rfc3339")]
    pub test_to: Timestamp,
}

impl WalkForwardConfig {
    /// The folds over `[start, end)`, or why this calendar cannot work.
    pub fn windows(&self, start: Timestamp, end: Timestamp) -> Result<Vec<FoldWindow>, String> {
        if self.folds == 0 {
            return Err("walk_forward.folds must be at least 1".into());
        }
        let span = end.as_nanos() - start.as_nanos();
        let block = |k: usize| start.as_nanos() + ((span as i128 * k as i128) / (self.folds as i128 + 1)) as i64;
        let secs = |s: u64| s as i64 * NANOS_PER_SECOND;
        let horizon = i64::from(self.train.horizon_secs) * NANOS_PER_SECOND;
        (0..self.folds)
            .map(|k| {
                let (test_from, test_to) = (block(k + 1), block(k + 2));
                let train_to = test_from - secs(self.embargo_secs);
                let train_from = self.train_secs.map_or(start.as_nanos(), |t| (train_to - secs(t)).max(start.as_nanos()));
                if train_to - train_from <= horizon {
                    return Err(format!(
                        "fold {}: the training window {} .. {} is not longer than the label horizon ({} s); use fewer folds, a shorter embargo or a longer range",
                        k + 1,
                        Timestamp::from_nanos(train_from),
                        Timestamp::from_nanos(train_to),
                        self.train.horizon_secs
                    ));
                }
                Ok(FoldWindow {
                    train_from: Timestamp::from_nanos(train_from),
                    train_to: Timestamp::from_nanos(train_to),
                    replay_from: Timestamp::from_nanos((test_from - secs(self.warmup_secs)).max(start.as_nanos())),
                    test_from: Timestamp::from_nanos(test_from),
                    test_to: Timestamp::from_nanos(test_to),
                })
            })
            .collect()
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.predict_every_secs == 0 {
            return Err("walk_forward.predict_every_secs must be at least 1".into());
        }
        if self.train.horizon_secs == 0 {
            return Err("walk_forward.train.horizon_secs must be at least 1".into());
        }
        if self.train_secs == Some(0) {
            return Err("walk_forward.train_secs must be positive (leave it out for an expanding window)".into());
        }
        Ok(())
    }
}

/// One fold's result in the walk-forward report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldResult {
    pub fold: usize,
    pub window: FoldWindow,
    /// The model trained for this fold (`name/vN`).
    pub model: String,
    /// Complete training rows (or windows) it was fitted on.
    pub training_rows: usize,
    /// Metrics of this test window alone.
    pub metrics: Metrics,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_accuracy: Option<ModelAccuracy>,
}

/// The out-of-sample report of a walk-forward run: each fold's test window chained into one
/// equity curve (fold k + 1 starts with the equity fold k ended with, its gains scaled
/// accordingly), metrics over that curve, counts summed. `folds` are the per-fold reports
/// (already restricted to their test windows), `results` their summaries.
pub fn stitch(
    config: &crate::ExperimentConfig,
    folds: &[Report],
    results: Vec<FoldResult>,
    config_sha256: String,
) -> Report {
    let initial = config.execution.initial_capital;
    let mut equity = Vec::new();
    let mut trading = Trading::default();
    let mut symbols: std::collections::BTreeMap<String, SymbolSums> = std::collections::BTreeMap::new();
    let mut pipeline = tickloop_pipeline::PipelineStats::default();
    let mut accuracy: Option<AccuracyPool> = None;
    let mut carried = initial;
    // The benchmark chains the same way, from the same capital.
    let (mut benchmark_equity, mut carried_benchmark) = (Vec::new(), initial);
    let mut fingerprint = crate::FNV_OFFSET;
    let mut pairs = Vec::new();
    // Exposure is a ratio and turnover a share of capital: both chain unscaled.
    let mut activity = Vec::new();
    // Each fold's fills as they happened (in the fold's own capital, not rescaled).
    let mut trades = Vec::new();
    let mut alert_marks = Vec::new();
    for fold in folds {
        let scale = carried / fold.metrics.initial_equity;
        equity.extend(fold.equity.iter().map(|p| EquityPoint { ts: p.ts, equity: p.equity * scale }));
        carried = fold.metrics.final_equity * scale;
        if let Some(b) = &fold.benchmark {
            let scale = carried_benchmark / fold.metrics.initial_equity;
            benchmark_equity.extend(b.equity.iter().map(|p| EquityPoint { ts: p.ts, equity: p.equity * scale }));
            carried_benchmark = b.equity.last().map_or(carried_benchmark, |p| p.equity * scale);
        }
        trading.add_scaled(&fold.trading, scale);
        for s in &fold.symbols {
            symbols.entry(s.symbol.clone()).or_default().add(s, scale);
        }
        pipeline.merge(&fold.pipeline);
        if let Some(a) = &fold.model_accuracy {
            accuracy.get_or_insert_with(AccuracyPool::default).add(a);
        }
        for word in u64::from_str_radix(&fold.data.fingerprint, 16).into_iter().chain([fold.data.ticks]) {
            fingerprint = crate::mix(fingerprint, word);
        }
        pairs.extend_from_slice(&fold.prediction_pairs);
        activity.extend_from_slice(&fold.activity);
        trades.extend_from_slice(&fold.trades);
        alert_marks.extend_from_slice(&fold.alert_marks);
    }
    if pairs.len() > PAIR_SAMPLE {
        let step = pairs.len().div_ceil(PAIR_SAMPLE);
        pairs = pairs.into_iter().step_by(step).collect();
    }
    let allocation = initial / symbols.len().max(1) as f64;
    let metrics = Metrics::compute(initial, &equity, trading.clone(), config.report.periods_per_year);
    let benchmark = folds.iter().all(|f| f.benchmark.is_some()).then(|| {
        let name = folds.first().and_then(|f| f.benchmark.as_ref()).map(|b| b.name.clone()).unwrap_or_default();
        crate::Benchmark::compute(name, initial, &equity, benchmark_equity, config.report.periods_per_year)
    });
    Report {
        experiment: config.name.clone(),
        config_sha256,
        data: DataSummary {
            first_ts: folds.first().and_then(|f| f.data.first_ts),
            last_ts: folds.last().and_then(|f| f.data.last_ts),
            symbols: folds.iter().map(|f| f.data.symbols).max().unwrap_or(0),
            ticks: folds.iter().map(|f| f.data.ticks).sum(),
            fingerprint: format!("{fingerprint:016x}"),
            symbol_days: folds.iter().map(|f| f.data.symbol_days).sum(),
        },
        alert_rates: tickloop_alerts::AlertRates::new(&pipeline.alerts, folds.iter().map(|f| f.data.symbol_days).sum()),
        pipeline,
        metrics,
        periods_per_year: config.report.periods_per_year,
        time_zone: config.report.time_zone.clone(),
        benchmark,
        symbols: symbols.into_iter().map(|(name, s)| s.result(name, allocation)).collect(),
        model_accuracy: accuracy.map(|a| a.summary()),
        alert_quality: crate::AlertQuality::pooled(folds.iter().filter_map(|f| f.alert_quality.as_ref())),
        equity,
        activity,
        alert_marks,
        prediction_pairs: pairs,
        trades,
        model: Some(format!(
            "walk-forward: {}",
            results.iter().map(|r| r.model.as_str()).collect::<Vec<_>>().join(", ")
        )),
        // Each fold's model trained before its test window (the folds' own reports say so
        // if one did not: a fold would carry `in_sample`).
        in_sample: folds.iter().find_map(|f| f.in_sample.clone()),
        walk_forward: Some(results),
        trading,
    }
}

/// A symbol's trading totals, in the report's currency.
#[derive(Default)]
pub(crate) struct SymbolSums {
    pub pnl: f64,
    pub trades: u64,
    pub fees: f64,
    pub closing: u64,
    pub winning: u64,
    pub final_position: f64,
}

impl SymbolSums {
    fn add(&mut self, s: &SymbolResult, scale: f64) {
        self.pnl += s.pnl * scale;
        self.fees += s.fees * scale;
        self.trades += s.trades;
        self.closing += s.closing_trades;
        self.winning += s.winning_trades;
        self.final_position = s.final_position;
    }

    pub(crate) fn result(self, symbol: String, allocation: f64) -> SymbolResult {
        SymbolResult {
            symbol,
            pnl: self.pnl,
            return_on_allocation: self.pnl / allocation,
            trades: self.trades,
            fees: self.fees,
            hit_rate: if self.closing == 0 { 0.0 } else { self.winning as f64 / self.closing as f64 },
            closing_trades: self.closing,
            winning_trades: self.winning,
            final_position: self.final_position,
        }
    }
}

/// Pools per-fold accuracies: MAE weighted by matured predictions, direction by those that
/// moved.
#[derive(Default)]
struct AccuracyPool {
    matured: u64,
    abs_error: f64,
    moved: u64,
    right: f64,
}

impl AccuracyPool {
    fn add(&mut self, a: &ModelAccuracy) {
        self.matured += a.matured;
        self.abs_error += a.mae * a.matured as f64;
        self.moved += a.moved;
        self.right += a.directional_accuracy * a.moved as f64;
    }

    fn summary(&self) -> ModelAccuracy {
        let ratio = |x: f64, n: u64| if n == 0 { 0.0 } else { x / n as f64 };
        ModelAccuracy {
            matured: self.matured,
            mae: ratio(self.abs_error, self.matured),
            directional_accuracy: ratio(self.right.round(), self.moved),
            moved: self.moved,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> WalkForwardConfig {
        toml::from_str(text).unwrap()
    }

    const HOUR: i64 = 3600;

    #[test]
    fn folds_train_only_on_data_that_ends_an_embargo_before_their_test_window() {
        let wf = config("folds = 3\nembargo_secs = 120\nwarmup_secs = 600\n[train]\nmodel = \"gbm\"\n");
        let (start, end) = (Timestamp::from_secs(0), Timestamp::from_secs(4 * HOUR));
        let folds = wf.windows(start, end).unwrap();
        assert_eq!(folds.len(), 3);
        for (k, f) in folds.iter().enumerate() {
            let test_from = (k as i64 + 1) * HOUR;
            assert_eq!(f.test_from, Timestamp::from_secs(test_from));
            assert_eq!(f.test_to, Timestamp::from_secs(test_from + HOUR));
            assert_eq!(f.train_from, start, "expanding window");
            assert_eq!(f.train_to, Timestamp::from_secs(test_from - 120));
            assert_eq!(f.replay_from, Timestamp::from_secs(test_from - 600));
            assert!(f.train_to < f.test_from && f.replay_from < f.test_from);
        }
        assert_eq!(folds[2].test_to, end, "the windows tile the span after the first block");
        for pair in folds.windows(2) {
            assert_eq!(pair[0].test_to, pair[1].test_from, "test windows do not overlap");
        }
    }

    #[test]
    fn a_rolling_window_keeps_its_length_and_too_short_windows_are_refused() {
        let wf = config("folds = 3\ntrain_secs = 1800\n[train]\nmodel = \"gbm\"\n");
        let folds = wf.windows(Timestamp::from_secs(0), Timestamp::from_secs(4 * HOUR)).unwrap();
        for f in &folds {
            assert_eq!(f.train_to.as_nanos() - f.train_from.as_nanos(), 1800 * NANOS_PER_SECOND);
        }
        let short = config("folds = 3\nembargo_secs = 0\n[train]\nmodel = \"gbm\"\nhorizon_secs = 3600\n");
        let err = short.windows(Timestamp::from_secs(0), Timestamp::from_secs(4 * HOUR)).unwrap_err();
        assert!(err.contains("fold 1") && err.contains("horizon"), "{err}");
    }

    /// A fold's report with this equity curve (one sample a minute from `from`), traded
    /// counts and per-symbol P&L.
    fn fold(from: i64, curve: &[f64], trades: u64, fees: f64) -> Report {
        let equity: Vec<EquityPoint> = curve
            .iter()
            .enumerate()
            .map(|(i, &e)| EquityPoint { ts: Timestamp::from_secs(from + 60 * i as i64), equity: e })
            .collect();
        let trading = Trading {
            trades,
            closing_trades: trades / 2,
            winning_closes: trades / 4,
            fees_paid: fees,
            ..Trading::default()
        };
        let pnl = curve.last().unwrap() - 100.0;
        // The benchmark gains 1 % a sample.
        let benchmark: Vec<EquityPoint> = equity
            .iter()
            .enumerate()
            .map(|(i, p)| EquityPoint { ts: p.ts, equity: 100.0 * 1.01f64.powi(i as i32) })
            .collect();
        Report {
            experiment: "x".into(),
            config_sha256: String::new(),
            data: DataSummary {
                first_ts: None,
                last_ts: None,
                symbols: 1,
                ticks: 10,
                fingerprint: "00ff".into(),
                symbol_days: 1,
            },
            pipeline: Default::default(),
            metrics: Metrics::compute(100.0, &equity, trading.clone(), 4.0),
            periods_per_year: 4.0,
            time_zone: "UTC".into(),
            benchmark: Some(crate::Benchmark::compute("b".into(), 100.0, &equity, benchmark, 4.0)),
            symbols: vec![SymbolResult {
                symbol: "A".into(),
                pnl,
                return_on_allocation: pnl / 100.0,
                trades,
                fees,
                hit_rate: 0.5,
                closing_trades: trades / 2,
                winning_trades: trades / 4,
                final_position: 0.0,
            }],
            model_accuracy: Some(ModelAccuracy { matured: 10, mae: 0.5, directional_accuracy: 0.6, moved: 10 }),
            alert_quality: None,
            alert_rates: Default::default(),
            equity,
            activity: Vec::new(),
            alert_marks: Vec::new(),
            prediction_pairs: Vec::new(),
            trades: Vec::new(),
            model: None,
            in_sample: None,
            walk_forward: None,
            trading,
        }
    }

    #[test]
    fn folds_chain_into_one_curve_whose_metrics_are_recomputed_not_averaged() {
        let config = crate::ExperimentConfig::parse(
            "name = \"wf\"\n[data]\nstart = \"2024-01-02T14:30:00Z\"\nend = \"2024-01-02T15:00:00Z\"\n[execution]\ninitial_capital = 100.0\n[report]\nperiods_per_year = 4.0\n",
        )
        .unwrap();
        let a = fold(0, &[100.0, 110.0], 8, 1.0);
        let b = fold(3600, &[100.0, 90.0, 99.0], 4, 2.0);
        let report = stitch(&config, &[a, b], Vec::new(), "h".into());
        let chained: Vec<f64> = report.equity.iter().map(|p| p.equity).collect();
        let expected = [100.0, 110.0, 110.0, 99.0, 108.9];
        for (got, want) in chained.iter().zip(expected) {
            assert!((got - want).abs() < 1e-9, "{chained:?}");
        }
        assert!((report.metrics.total_return - (1.1 * 0.99 - 1.0)).abs() < 1e-12, "returns compound");
        let direct = Metrics::compute(
            100.0,
            &report.equity,
            Trading {
                trades: 12,
                closing_trades: 6,
                winning_closes: 3,
                fees_paid: 1.0 + 2.0 * 1.1,
                ..Trading::default()
            },
            4.0,
        );
        assert_eq!(report.metrics, direct, "the metrics of the chained curve");
        assert!((report.metrics.max_drawdown - 0.1).abs() < 1e-12, "fold 2's fall, in chained terms");
        let benchmark = report.benchmark.as_ref().unwrap();
        let chained: Vec<f64> = benchmark.equity.iter().map(|p| p.equity).collect();
        let expected = [100.0, 101.0, 101.0, 102.01, 103.0301];
        for (got, want) in chained.iter().zip(expected) {
            assert!((got - want).abs() < 1e-9, "the benchmark chains like the equity: {chained:?}");
        }
        assert!((benchmark.excess_return - (report.metrics.total_return - 0.030301)).abs() < 1e-12, "{benchmark:?}");
        let symbol = &report.symbols[0];
        assert!((symbol.pnl - (10.0 - 1.1)).abs() < 1e-9, "fold 2's P&L scaled by the carried equity");
        assert!((symbol.pnl - (report.metrics.final_equity - 100.0)).abs() < 1e-9, "P&L adds up to the equity change");
        assert_eq!((symbol.trades, symbol.closing_trades, symbol.winning_trades), (12, 6, 3));
        let accuracy = report.model_accuracy.unwrap();
        assert_eq!((accuracy.matured, accuracy.moved), (20, 20));
        assert!((accuracy.directional_accuracy - 0.6).abs() < 1e-12);
        assert_eq!(report.data.ticks, 20);
    }
}
