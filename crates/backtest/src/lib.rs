//! tickloop-backtest: the pipeline over a history source, a strategy, a simulated broker,
//! metrics and a report.
//!
//! A backtest is just another [`Sink`] of the engine: the pipeline and the features are the
//! same objects live mode runs. Everything in [`Report`] is a function of the experiment
//! and the data, so two runs give byte-identical `report.json`; run metadata (wall time,
//! paths, git commit) goes to the run's `manifest.json`, written by the CLI.

mod alert_quality;
mod benchmark;
mod broker;
mod config;
mod html;
mod metrics;
mod png;
mod sample;
mod walk_forward;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tickloop_core::{CalledFor, Engine, Outputs, Sink, SinkError, Source, Strategy, Tick, Timestamp};
use tickloop_pipeline::{AccuracySums, ModelAccuracy, ModelStage, Pipeline, PipelineStats};

pub use alert_quality::{AlertQuality, AlertRates, RuleQuality, score_alerts};
pub use benchmark::Benchmark;
pub use broker::{Broker, Fill, SymbolTrading};
pub use config::{DataConfig, ExecutionConfig, ExperimentConfig, ModelConfig, ReportConfig, SweepConfig, SweepPoint};
pub use html::{AlertMark, Chart, axis_label, escape, nice_ticks, render_report_html, report_charts, svg_path};
pub use metrics::{EquityPoint, Metrics};
pub use png::render_png;
pub use sample::{SampleSummary, generate_sample};
pub use walk_forward::{FoldResult, FoldWindow, WalkForwardConfig, stitch};

#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("experiment {path}: {reason}")]
    Config { path: PathBuf, reason: String },
    #[error("drawing {path}: {reason}")]
    Chart { path: PathBuf, reason: String },
    #[error(transparent)]
    Lake(#[from] tickloop_lake::LakeError),
    #[error(transparent)]
    Engine(#[from] tickloop_core::EngineError),
    #[error(transparent)]
    Strategy(#[from] tickloop_strategies::StrategyError),
    #[error(transparent)]
    Model(#[from] tickloop_models::ModelError),
    #[error("alert baseline: {0}")]
    Baseline(#[from] tickloop_alerts::BaselineError),
    #[error(transparent)]
    Pipeline(#[from] tickloop_pipeline::AssembleError),
}

/// What the data looked like, so a report says what it was computed on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSummary {
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
    pub symbols: usize,
    pub ticks: u64,
    /// An FNV-style hash over every accepted tick's fields, a word at a time.
    pub fingerprint: String,
    /// (symbol, UTC day) pairs with accepted ticks in the scored part of the run.
    #[serde(default)]
    pub symbol_days: u64,
}

/// Everything `report.json` holds. Deterministic: no wall-clock times, no paths.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub experiment: String,
    /// SHA-256 of the resolved config (`config.toml` of the run).
    pub config_sha256: String,
    pub data: DataSummary,
    pub pipeline: PipelineStats,
    pub metrics: Metrics,
    /// Equity samples per year, which annualised the metrics (`[report] periods_per_year`).
    #[serde(default = "default_periods_per_year")]
    pub periods_per_year: f64,
    /// The market's time zone the page shows times in (`[report] time_zone`).
    #[serde(default = "utc")]
    pub time_zone: String,
    /// The strategy against buying and holding what it could trade.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub benchmark: Option<Benchmark>,
    /// Per symbol, in symbol-name order.
    pub symbols: Vec<SymbolResult>,
    /// How the model's predictions compared with the realised returns over their horizon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_accuracy: Option<ModelAccuracy>,
    /// Alert precision and recall against planted anomalies, when the data has labels (the
    /// simulator writes them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_quality: Option<AlertQuality>,
    /// Alerts per symbol-day: the noise a user would receive, labels or not.
    #[serde(default)]
    pub alert_rates: AlertRates,
    pub equity: Vec<EquityPoint>,
    /// Gross exposure and trading at each equity sample.
    #[serde(default)]
    pub activity: Vec<Activity>,
    /// When each alert fired, for the report's timeline (the alerts themselves go to
    /// `alerts.jsonl`).
    #[serde(skip)]
    pub alert_marks: Vec<AlertMark>,
    /// (predicted, realised) log returns of matured predictions, for the report's chart: a
    /// deterministic thinning to at most [`PAIR_SAMPLE`] pairs.
    #[serde(skip)]
    pub prediction_pairs: Vec<(f64, f64)>,
    /// Every fill, in event order: `trades.csv` and the page's trade table.
    #[serde(skip)]
    pub trades: Vec<Trade>,
    /// The model version whose predictions ran (`name/vN`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Set when the traded window reaches into the model's own training span: the metrics
    /// are then (partly) in-sample and say little about how the model would trade.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_sample: Option<InSample>,
    /// A walk-forward run's folds: the calendar, each fold's model and its metrics alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub walk_forward: Option<Vec<FoldResult>>,
    /// The broker's counts behind the metrics, for stitching folds.
    #[serde(skip)]
    pub(crate) trading: metrics::Trading,
}

/// A [`Report`] with what `report.json` leaves out (alert marks, prediction pairs, fills,
/// the broker's counts): everything [`stitch`] and the report page need, so a fold run on
/// one machine can be stitched and drawn on another exactly as if it had run there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FullReport {
    report: Report,
    alert_marks: Vec<AlertMark>,
    prediction_pairs: Vec<(f64, f64)>,
    trades: Vec<Trade>,
    trading: metrics::Trading,
}

impl From<Report> for FullReport {
    fn from(mut report: Report) -> Self {
        FullReport {
            alert_marks: std::mem::take(&mut report.alert_marks),
            prediction_pairs: std::mem::take(&mut report.prediction_pairs),
            trades: std::mem::take(&mut report.trades),
            trading: std::mem::take(&mut report.trading),
            report,
        }
    }
}

impl From<FullReport> for Report {
    fn from(full: FullReport) -> Self {
        Report {
            alert_marks: full.alert_marks,
            prediction_pairs: full.prediction_pairs,
            trades: full.trades,
            trading: full.trading,
            ..full.report
        }
    }
}

fn utc() -> String {
    "UTC".into()
}

fn default_periods_per_year() -> f64 {
    ReportConfig::default().periods_per_year
}

/// How invested the strategy was at one equity sample, and how much it traded since the
/// previous one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    pub ts: Timestamp,
    /// Σ |position × price| over equity.
    pub exposure: f64,
    /// Notional traded since the previous sample, over initial capital.
    pub turnover: f64,
}

/// One fill, as `trades.csv` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trade {
    pub ts: Timestamp,
    pub symbol: String,
    /// Shares, negative for a sale.
    pub quantity: f64,
    /// The fill price, slippage included.
    pub price: f64,
    pub fee: f64,
}

impl Trade {
    pub const CSV_HEADER: &'static str = "ts,symbol,side,quantity,price,notional,fee";

    pub fn side(&self) -> &'static str {
        if self.quantity >= 0.0 { "buy" } else { "sell" }
    }

    /// One `trades.csv` line (no newline).
    pub fn csv(&self) -> String {
        let side = self.side();
        format!(
            "{},{},{side},{},{},{:.2},{:.4}",
            self.ts,
            self.symbol,
            self.quantity.abs(),
            self.price,
            (self.quantity * self.price).abs(),
            self.fee
        )
    }
}

/// Where a backtest traded on data its model was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InSample {
    /// The model version (`name/vN`).
    pub model: String,
    /// What the model's training rows covered.
    pub trained_on: tickloop_models::TrainedSpan,
    /// The traded part inside it.
    pub overlap: tickloop_models::TrainedSpan,
    /// The overlap's share of the traded window's duration.
    pub share_of_run: f64,
}

impl InSample {
    /// `card`'s training span against a traded window `[from, to]`.
    pub fn of(card: &tickloop_models::ModelCard, from: Timestamp, to: Timestamp) -> Option<InSample> {
        let overlap = card.overlap_with_training(from, to)?;
        let traded = (to.as_nanos() - from.as_nanos()) as f64;
        let inside = (overlap.to.as_nanos() - overlap.from.as_nanos()) as f64;
        Some(InSample {
            model: card.id(),
            trained_on: card.trained_span()?,
            overlap,
            share_of_run: if traded > 0.0 { (inside / traded).min(1.0) } else { 1.0 },
        })
    }

    /// The warning a summary and a report lead with.
    pub fn warning(&self) -> String {
        format!(
            "IN-SAMPLE: {:.0} % of this run ({} .. {}) lies inside the span model {} was trained on ({} .. {}); its metrics say little about live trading. Train on earlier data, or run a walk_forward experiment, for out-of-sample numbers.",
            self.share_of_run * 100.0,
            self.overlap.from,
            self.overlap.to,
            self.model,
            self.trained_on.from,
            self.trained_on.to
        )
    }
}

/// Alert scores a sweep can rank by besides the metrics: F1 against planted anomalies, per
/// rule and their mean.
pub const ALERT_SCORES: [&str; 3] = ["alert_f1", "volume_spike_f1", "price_drop_f1"];

impl Report {
    /// A metric by name, or one of [`ALERT_SCORES`] (`None` without planted labels).
    pub fn score(&self, name: &str) -> Option<f64> {
        let q = self.alert_quality.as_ref();
        match name {
            "alert_f1" => q.map(|q| (q.volume_spike.f1 + q.price_drop.f1) / 2.0),
            "volume_spike_f1" => q.map(|q| q.volume_spike.f1),
            "price_drop_f1" => q.map(|q| q.price_drop.f1),
            _ => self.metrics.get(name),
        }
    }
}

/// At most this many (predicted, realised) pairs are kept for the report's chart.
pub const PAIR_SAMPLE: usize = 4096;

/// Keeps every `stride`-th of a stream of pairs, doubling the stride (and dropping every
/// other kept pair) whenever [`PAIR_SAMPLE`] are held: bounded memory, an even spread over
/// the run, and the same pairs for the same input.
#[derive(Debug, Default)]
struct PairSample {
    pairs: Vec<(f64, f64)>,
    stride: u64,
    seen: u64,
}

impl PairSample {
    fn push(&mut self, pair: (f64, f64)) {
        let stride = self.stride.max(1);
        if self.seen.is_multiple_of(stride) {
            self.pairs.push(pair);
            if self.pairs.len() >= PAIR_SAMPLE {
                let mut i = 0;
                self.pairs.retain(|_| {
                    i += 1;
                    i % 2 == 1
                });
                self.stride = stride * 2;
            }
        }
        self.seen += 1;
    }
}

/// One symbol's part of the portfolio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SymbolResult {
    pub symbol: String,
    /// Realised and unrealised P&L after fees.
    pub pnl: f64,
    /// P&L over the capital allotted to the symbol.
    pub return_on_allocation: f64,
    pub trades: u64,
    pub fees: f64,
    /// Winning closes over closing trades.
    pub hit_rate: f64,
    /// Fills that reduced or closed a position, and those that closed at a profit.
    #[serde(default)]
    pub closing_trades: u64,
    #[serde(default)]
    pub winning_trades: u64,
    pub final_position: f64,
}

/// The backtest as an engine sink: fills due orders, asks the strategy, samples equity.
struct BacktestSink {
    strategy: Box<dyn Strategy + Send>,
    /// The strategy's [`Strategy::called_for`], asked once.
    strategy_calls: CalledFor,
    targets: Vec<(tickloop_core::SymbolId, f64)>,
    broker: Broker,
    sample_step: i64,
    initial_capital: f64,
    next_sample: Option<Timestamp>,
    equity: Vec<EquityPoint>,
    benchmark: benchmark::BuyAndHold,
    benchmark_equity: Vec<EquityPoint>,
    activity: Vec<Activity>,
    /// The broker's traded notional at the previous sample.
    traded_at_sample: f64,
    fills: Vec<Fill>,
    fingerprint: u64,
    alert_marks: Vec<AlertMark>,
    /// Per symbol, the last UTC day it had a scored tick; and how many (symbol, day) pairs.
    last_day: Vec<i64>,
    symbol_days: u64,
    pairs: PairSample,
    accuracy: Option<AccuracySums>,
    /// Ticks before this only warm the pipeline up: no trading, no samples, no scores.
    trade_from: Option<Timestamp>,
}

impl BacktestSink {
    fn sample(&mut self, ts: Timestamp) {
        self.equity.push(EquityPoint { ts, equity: self.broker.equity() });
        self.benchmark_equity.push(EquityPoint { ts, equity: self.benchmark.value(self.initial_capital) });
        let exposure = self.broker.exposure();
        let traded = self.broker.traded_notional;
        let turnover = (traded - std::mem::replace(&mut self.traded_at_sample, traded)) / self.initial_capital;
        self.activity.push(Activity { ts, exposure, turnover });
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// One word into a data fingerprint (FNV-style, a word at a time; the rotation spreads the
/// high bits of float fields). Every fingerprint in a report mixes this way.
pub(crate) fn mix(fingerprint: u64, word: u64) -> u64 {
    (fingerprint ^ word).wrapping_mul(FNV_PRIME).rotate_left(29)
}

impl BacktestSink {
    fn record_fingerprint(&mut self, tick: &Tick) {
        let fields = [
            tick.symbol.index() as u64,
            tick.ts_event.as_nanos() as u64,
            tick.open.0.to_bits(),
            tick.high.0.to_bits(),
            tick.low.0.to_bits(),
            tick.close.0.to_bits(),
            tick.volume.0.to_bits(),
        ];
        for field in fields {
            self.fingerprint = mix(self.fingerprint, field);
        }
    }
}

impl Sink for BacktestSink {
    fn on_outputs(&mut self, _input: &Tick, out: &Outputs) -> Result<(), SinkError> {
        let Some(tick) = out.tick else { return Ok(()) };
        self.record_fingerprint(&tick);
        if self.trade_from.is_some_and(|from| tick.ts_event < from) {
            return Ok(());
        }
        // Sample equity as of all ticks before the boundary this tick crosses; idle gaps
        // (nights, halts) produce one sample, not a run of flat ones.
        // The boundary (a division) only when a sample is due: most ticks fall before it.
        let boundary = || tick.ts_event.floor_to(self.sample_step);
        match self.next_sample {
            None => self.next_sample = Some(boundary().add_nanos(self.sample_step)),
            Some(next) if tick.ts_event >= next => {
                let boundary = boundary();
                self.sample(boundary);
                self.next_sample = Some(boundary.add_nanos(self.sample_step));
            }
            Some(_) => {}
        }
        let (i, day) = (tick.symbol.index(), tick.ts_event.day_number());
        if i >= self.last_day.len() {
            self.last_day.resize(i + 1, i64::MIN);
        }
        if std::mem::replace(&mut self.last_day[i], day) != day {
            self.symbol_days += 1;
        }
        self.alert_marks.extend(out.alerts.iter().map(|a| AlertMark {
            symbol: a.symbol,
            ts: a.ts_event,
            kind: a.kind,
        }));
        for m in &out.matured {
            // Scored by when the prediction was made: one made during warm-up is not.
            if self.trade_from.is_none_or(|from| m.predicted_at >= from) {
                self.pairs.push((m.predicted, m.realized));
                if let Some(a) = &mut self.accuracy {
                    a.add(m.predicted, m.realized);
                }
            }
        }
        self.fills.extend(self.broker.on_tick(&tick));
        self.benchmark.on_close(tick.symbol, tick.close.get());
        if !self.strategy_calls.wants(out) {
            return Ok(());
        }
        self.targets.clear();
        self.strategy.on_outputs(&tick, out, &mut self.targets);
        for &(symbol, weight) in &self.targets {
            // Decided now, at this tick's time: never earlier than the data behind it.
            self.broker.set_target_at(symbol, tick.ts_event, weight);
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        if let Some(next) = self.next_sample {
            self.sample(next);
        }
        Ok(())
    }

    fn reads_features(&self) -> bool {
        self.strategy.reads_features()
    }
}

/// Runs `config` over `source`. `observers` see every tick too (progress bars, exporters).
pub fn run_backtest(
    config: &ExperimentConfig,
    source: &mut dyn Source,
    observers: &mut [&mut dyn Sink],
) -> Result<Report, BacktestError> {
    Backtest::new(config).run(source, observers)
}

/// A backtest to run: the experiment, plus what the caller supplies that the experiment file
/// only names (the loaded model) or cannot express (a strategy written in Rust).
pub struct Backtest<'a> {
    config: &'a ExperimentConfig,
    model: Option<std::sync::Arc<dyn tickloop_models::Predictor>>,
    strategy: Option<Box<dyn Strategy + Send>>,
    trade_from: Option<Timestamp>,
    threads: usize,
}

impl std::fmt::Debug for Backtest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backtest")
            .field("experiment", &self.config.name)
            .field("model", &self.model.as_ref().map(|m| m.card().id()))
            .field("custom_strategy", &self.strategy.is_some())
            .field("trade_from", &self.trade_from)
            .field("threads", &self.threads)
            .finish()
    }
}

impl<'a> Backtest<'a> {
    pub fn new(config: &'a ExperimentConfig) -> Self {
        Backtest { config, model: None, strategy: None, trade_from: None, threads: 1 }
    }

    /// Runs the pipeline's per-symbol work (features, alert rules) on `threads` threads; the
    /// report is the same bits on any number.
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Trades and scores from `ts` on; earlier ticks only warm the pipeline's features up
    /// (a walk-forward test window replays some history before it opens).
    pub fn trade_from(mut self, ts: Timestamp) -> Self {
        self.trade_from = Some(ts);
        self
    }

    /// The experiment's model, loaded (this crate sees the `Predictor` interface, not the
    /// model crates).
    pub fn model(mut self, model: Option<std::sync::Arc<dyn tickloop_models::Predictor>>) -> Self {
        self.model = model;
        self
    }

    /// Trades `strategy` instead of the experiment's `[strategy]`.
    pub fn strategy(mut self, strategy: Box<dyn Strategy + Send>) -> Self {
        self.strategy = Some(strategy);
        self
    }

    pub fn run(self, source: &mut dyn Source, observers: &mut [&mut dyn Sink]) -> Result<Report, BacktestError> {
        run(self, source, observers)
    }
}

fn run(
    backtest: Backtest<'_>,
    source: &mut dyn Source,
    observers: &mut [&mut dyn Sink],
) -> Result<Report, BacktestError> {
    let Backtest { config, model, strategy, trade_from, threads } = backtest;
    let model_id = model.as_ref().map(|m| m.card().id());
    let card = model.as_ref().map(|m| m.card().clone());
    let stage = model.map(|model| ModelStage { model, every_secs: config.predict_every_secs() });
    let pipeline =
        Pipeline::assemble(&config.resolved_pipeline(), source.symbols(), stage.as_ref())?.with_threads(threads);
    if stage.is_none() && config.strategy.needs_model() && strategy.is_none() {
        return Err(BacktestError::Config {
            path: std::path::PathBuf::new(),
            reason: "the strategy needs the experiment's model, and none was loaded".into(),
        });
    }
    let strategy = match strategy {
        Some(s) => s,
        None => config.strategy.build(pipeline.features())?,
    };
    let symbols = source.symbols().len();
    let symbol_names: Vec<String> =
        (0..symbols).map(|i| source.symbols().name(tickloop_core::SymbolId::new(i as u32)).to_owned()).collect();
    let benchmark_symbol = match &config.report.benchmark {
        None => None,
        Some(name) => Some(source.symbols().get(name).ok_or_else(|| BacktestError::Config {
            path: std::path::PathBuf::new(),
            reason: format!("[report] benchmark = {name:?} is not a symbol of the data"),
        })?),
    };
    let benchmark_name = match &config.report.benchmark {
        Some(name) => format!("buy-and-hold of {name}"),
        None => format!("equal-weight buy-and-hold of {symbols} symbols"),
    };
    let mut sink = BacktestSink {
        strategy_calls: strategy.called_for(),
        strategy,
        targets: Vec::new(),
        broker: Broker::new(config.execution.clone(), symbols),
        sample_step: i64::from(config.report.sample_secs) * tickloop_core::NANOS_PER_SECOND,
        initial_capital: config.execution.initial_capital,
        next_sample: None,
        equity: Vec::new(),
        benchmark: benchmark::BuyAndHold::new(symbols, benchmark_symbol),
        benchmark_equity: Vec::new(),
        activity: Vec::new(),
        traded_at_sample: 0.0,
        fills: Vec::new(),
        fingerprint: FNV_OFFSET,
        alert_marks: Vec::new(),
        last_day: Vec::new(),
        symbol_days: 0,
        pairs: PairSample::default(),
        accuracy: model_id.is_some().then(AccuracySums::default),
        trade_from,
    };
    let block_ticks = pipeline.block_ticks();
    let mut engine = Engine::new(pipeline).with_block_ticks(block_ticks);
    let mut sinks: Vec<&mut dyn Sink> = Vec::with_capacity(observers.len() + 1);
    sinks.push(&mut sink);
    for o in observers.iter_mut() {
        sinks.push(&mut **o);
    }
    let stats = engine.run(source, &mut sinks)?;
    let pipeline_stats = engine.pipeline().stats();
    let broker = &sink.broker;
    let allocation = config.execution.initial_capital / symbols.max(1) as f64;
    let mut trading = metrics::Trading {
        trades: broker.fills,
        fees_paid: broker.fees_paid,
        traded_notional: broker.traded_notional,
        exposure_sum: sink.activity.iter().map(|a| a.exposure).sum(),
        ..metrics::Trading::default()
    };
    let mut per_symbol = Vec::with_capacity(symbols);
    for (i, t) in broker.by_symbol().enumerate() {
        trading.closing_trades += t.closing_fills;
        trading.winning_closes += t.winning_closes;
        let sums = walk_forward::SymbolSums {
            pnl: t.pnl,
            trades: t.fills,
            fees: t.fees,
            closing: t.closing_fills,
            winning: t.winning_closes,
            final_position: t.position,
        };
        per_symbol.push(sums.result(symbol_names.get(i).cloned().unwrap_or_else(|| format!("#{i}")), allocation));
    }
    per_symbol.sort_by(|a, b| a.symbol.cmp(&b.symbol));
    let metrics = Metrics::compute(
        config.execution.initial_capital,
        &sink.equity,
        trading.clone(),
        config.report.periods_per_year,
    );
    let benchmark = Benchmark::compute(
        benchmark_name,
        config.execution.initial_capital,
        &sink.equity,
        std::mem::take(&mut sink.benchmark_equity),
        config.report.periods_per_year,
    );
    let traded_from = trade_from.max(stats.first_ts);
    let in_sample = match (&card, traded_from, stats.last_ts) {
        (Some(card), Some(from), Some(to)) => InSample::of(card, from, to),
        _ => None,
    };
    Ok(Report {
        experiment: config.name.clone(),
        config_sha256: config.config_sha256(),
        data: DataSummary {
            first_ts: stats.first_ts,
            last_ts: stats.last_ts,
            symbols,
            ticks: stats.ticks_accepted,
            fingerprint: format!("{:016x}", sink.fingerprint),
            symbol_days: sink.symbol_days,
        },
        alert_rates: AlertRates::new(&pipeline_stats.alerts, sink.symbol_days),
        pipeline: pipeline_stats,
        metrics,
        periods_per_year: config.report.periods_per_year,
        time_zone: config.report.time_zone.clone(),
        benchmark: Some(benchmark),
        symbols: per_symbol,
        model_accuracy: sink.accuracy.map(|a| a.summary()),
        alert_quality: None,
        equity: sink.equity,
        activity: sink.activity,
        alert_marks: sink.alert_marks,
        prediction_pairs: sink.pairs.pairs,
        trades: sink
            .fills
            .iter()
            .map(|f| Trade {
                ts: f.ts,
                symbol: symbol_names.get(f.symbol.index()).cloned().unwrap_or_else(|| format!("#{}", f.symbol.index())),
                quantity: f.quantity,
                price: f.price,
                fee: f.fee,
            })
            .collect(),
        model: model_id,
        in_sample,
        walk_forward: None,
        trading,
    })
}

/// Writes `report.json`, `report.html`, a PNG per chart and the resolved `config.toml` into
/// `dir` (created if needed).
pub fn write_report(dir: &Path, config: &ExperimentConfig, report: &Report) -> Result<(), BacktestError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| BacktestError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut json = serde_json::to_vec_pretty(report).expect("report serialises");
    json.push(b'\n');
    let report_path = dir.join("report.json");
    std::fs::write(&report_path, json).map_err(io(&report_path))?;
    let html_path = dir.join("report.html");
    std::fs::write(&html_path, render_report_html(report, &report.alert_marks)).map_err(io(&html_path))?;
    for chart in report_charts(report, &report.alert_marks) {
        let path = dir.join(chart.file);
        let png = render_png(&chart).map_err(|reason| BacktestError::Chart { path: path.clone(), reason })?;
        std::fs::write(&path, png).map_err(io(&path))?;
    }
    let trades_path = dir.join("trades.csv");
    let mut csv = String::with_capacity(64 * (report.trades.len() + 1));
    csv.push_str(Trade::CSV_HEADER);
    csv.push('\n');
    for t in &report.trades {
        csv.push_str(&t.csv());
        csv.push('\n');
    }
    std::fs::write(&trades_path, csv).map_err(io(&trades_path))?;
    let config_path = dir.join("config.toml");
    std::fs::write(&config_path, config.resolved_toml()).map_err(io(&config_path))?;
    Ok(())
}
