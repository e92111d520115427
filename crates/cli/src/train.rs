//! `tickloop train` and `tickloop evaluate`: datasets from the one pipeline over a lake date
//! range, a model fitted on the training window, scored out of sample beside the baselines.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use linfa::prelude::{Fit, Predict};
use serde::Serialize;
use tickloop_core::{NANOS_PER_SECOND, Source, Timestamp};
use tickloop_features::{FeatureSetDef, FeatureSpec};
use tickloop_gbm::{GbmModel, GbmParams};
use tickloop_lake::LakeSource;
use tickloop_lstm::{LstmModel, LstmParams, Sequences};
use tickloop_models::{
    CARD_FORMAT, DataRange, Dataset, Evaluation, Fold, ModelCard, ModelKind, Normalizer, Predictor, walk_forward,
};
use tickloop_pipeline::{AlertConfig, PipelineConfig, collect_dataset};

use crate::lake_args::LakeArgs;
use crate::progress::tick_bar;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    Lstm,
    Gbm,
    /// The alert rules' seasonal baseline (expected volume and volatility by time of day).
    Seasonal,
}

impl KindArg {
    /// The predictor kind; the seasonal baseline predicts no returns.
    fn predictor(self) -> anyhow::Result<ModelKind> {
        match self {
            KindArg::Lstm => Ok(ModelKind::Lstm),
            KindArg::Gbm => Ok(ModelKind::Gbm),
            KindArg::Seasonal => bail!(
                "the seasonal baseline predicts no returns: `tickloop train --model seasonal` fits it, and a backtest with [pipeline.alerts] baseline = \"models/seasonal\" scores the alerts it shapes"
            ),
        }
    }
}

/// What data and which model: shared by `train` and `evaluate`.
#[derive(Debug, Args)]
pub struct ModelDataArgs {
    /// lstm (Candle, windows of per-second rows), gbm (gradient-boosted trees, one row) or
    /// seasonal (the alert rules' baseline of volume and volatility by time of day).
    #[arg(long, value_enum)]
    pub(crate) model: KindArg,
    #[command(flatten)]
    pub(crate) lake: LakeArgs,
    /// First UTC day (YYYY-MM-DD).
    #[arg(long, default_value = "2024-01-02")]
    pub(crate) from: String,
    /// Last UTC day, inclusive.
    #[arg(long, default_value = "2024-01-02")]
    pub(crate) to: String,
    /// Input features, comma-separated [default: lstm: log_return,sma_20,sma_60,rsi_14,
    /// volume_z_300; gbm: the `default` feature set].
    #[arg(long, value_delimiter = ',')]
    features: Vec<FeatureSpec>,
    /// Label horizon: predict the log return over the next N seconds.
    #[arg(long, default_value_t = 60)]
    horizon: u32,
    /// Use every Nth row of each symbol [default: lstm 30, gbm 10] (neighbouring seconds
    /// share almost all of their label window).
    #[arg(long)]
    stride: Option<usize>,
    /// LSTM window: rows (seconds) per input sequence.
    #[arg(long, default_value_t = 60)]
    window: usize,
    /// Train on at most this many windows/rows (evenly thinned; 0 = all).
    #[arg(long, default_value_t = 0)]
    max_samples: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Hyperparameters as TOML (see GbmParams / LstmParams / SeasonalParams in the docs);
    /// flags override.
    #[arg(long)]
    pub(crate) params: Option<PathBuf>,
    /// LSTM: maximum epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// LSTM: hidden units.
    #[arg(long)]
    hidden: Option<usize>,
    /// GBM: maximum boosting rounds.
    #[arg(long)]
    iterations: Option<usize>,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub(crate) data: ModelDataArgs,
    /// Model directory; versions go to <out>/v1, v2, … [default: models/<model>].
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Share of the time span held out at the end for the validation metrics.
    #[arg(long, default_value_t = 0.2)]
    test_fraction: f64,
}

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    #[command(flatten)]
    data: ModelDataArgs,
    /// Walk-forward folds (expanding window; purge = horizon).
    #[arg(long, default_value_t = 4)]
    folds: usize,
    /// Seconds dropped at the start of each test window.
    #[arg(long, default_value_t = 60)]
    embargo: u32,
    /// Also write the evaluation as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Model hyperparameters after defaults, file and flags.
#[derive(Debug, Clone)]
enum Params {
    Lstm(LstmParams),
    Gbm(GbmParams),
}

impl Params {
    /// `table` over the kind's defaults; `seed` always wins (it is part of the run's config).
    fn from_table(kind: ModelKind, table: toml::Table, seed: u64) -> Result<Params, toml::de::Error> {
        Ok(match kind {
            ModelKind::Lstm => Params::Lstm(LstmParams { seed, ..table.try_into()? }),
            ModelKind::Gbm => Params::Gbm(GbmParams { seed, ..table.try_into()? }),
        })
    }
}

/// What to fit and on which rows: from `train`/`evaluate` flags, or from an experiment's
/// `[walk_forward.train]`.
#[derive(Debug, Clone)]
pub(crate) struct TrainSpec {
    kind: ModelKind,
    features: Vec<FeatureSpec>,
    horizon: u32,
    stride: usize,
    window: usize,
    max_samples: usize,
    seed: u64,
    params: Params,
}

fn default_features(kind: ModelKind) -> Vec<FeatureSpec> {
    match kind {
        ModelKind::Lstm => ["log_return", "sma_20", "sma_60", "rsi_14", "volume_z_300"]
            .iter()
            .map(|n| n.parse().expect("built-in feature"))
            .collect(),
        ModelKind::Gbm => FeatureSetDef::builtin("default").expect("built-in set").features,
    }
}

fn default_stride(kind: ModelKind) -> usize {
    match kind {
        ModelKind::Lstm => 30,
        ModelKind::Gbm => 10,
    }
}

impl ModelDataArgs {
    fn spec(&self) -> anyhow::Result<TrainSpec> {
        let kind = self.model.predictor()?;
        let text = match &self.params {
            Some(p) => std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            None => String::new(),
        };
        let what = || self.params.as_ref().map_or("params".to_owned(), |p| p.display().to_string());
        let table: toml::Table = toml::from_str(&text).with_context(what)?;
        let config = tickloop_backtest::TrainConfig {
            model: kind,
            features: self.features.clone(),
            horizon_secs: self.horizon,
            stride: self.stride,
            window: self.window,
            max_samples: self.max_samples,
            seed: self.seed,
            params: table,
        };
        let mut spec = TrainSpec::from_config(&config).with_context(what)?;
        match &mut spec.params {
            Params::Lstm(p) => {
                p.epochs = self.epochs.unwrap_or(p.epochs);
                p.hidden = self.hidden.unwrap_or(p.hidden);
            }
            Params::Gbm(p) => p.iterations = self.iterations.unwrap_or(p.iterations),
        }
        Ok(spec)
    }

    /// `[--from 00:00, the day after --to)`.
    pub(crate) fn range(&self) -> anyhow::Result<(Timestamp, Timestamp)> {
        let day = |d: &str| {
            Timestamp::parse(&format!("{d}T00:00:00Z")).with_context(|| format!("{d:?} is not a day (YYYY-MM-DD)"))
        };
        let (start, end) = (day(&self.from)?, day(&self.to)?);
        if end < start {
            bail!("--to {} is before --from {}", self.to, self.from);
        }
        Ok((start, Timestamp::from_nanos(end.as_nanos() + 86_400 * NANOS_PER_SECOND)))
    }

    /// The spec and its dataset over the flags' date range.
    fn dataset(&self) -> anyhow::Result<(TrainSpec, Dataset, DataRange)> {
        let (start, end) = self.range()?;
        let spec = self.spec()?;
        let lake = self.lake.open()?;
        let (data, mut range) = spec.dataset(&lake, &self.lake.lake, start, end)?;
        range.from.clone_from(&self.from);
        range.to.clone_from(&self.to);
        Ok((spec, data, range))
    }
}

impl TrainSpec {
    /// The spec of an experiment's `[walk_forward.train]` (or of `train`'s flags); fails on
    /// hyperparameters the model kind does not have.
    pub(crate) fn from_config(train: &tickloop_backtest::TrainConfig) -> anyhow::Result<TrainSpec> {
        let kind = train.model;
        let params = Params::from_table(kind, train.params.clone(), train.seed)?;
        Ok(TrainSpec {
            kind,
            features: if train.features.is_empty() { default_features(kind) } else { train.features.clone() },
            horizon: train.horizon_secs,
            stride: train.stride.unwrap_or(default_stride(kind)),
            window: train.window,
            max_samples: train.max_samples,
            seed: train.seed,
            params,
        })
    }

    /// Runs the pipeline over `[start, end)` of the lake and collects the rows. Rows whose
    /// label horizon reaches past `end` keep no label: the data cannot leak past it.
    pub(crate) fn dataset(
        &self,
        lake: &tickloop_lake::Lake,
        lake_name: &str,
        start: Timestamp,
        end: Timestamp,
    ) -> anyhow::Result<(Dataset, DataRange)> {
        let mut source = LakeSource::open(lake, start, end).with_context(|| format!("opening lake {lake_name}"))?;
        let total = source.remaining_hint().unwrap_or(0);
        if total == 0 {
            bail!(
                "lake {lake_name} has no ticks from {start} to {end}: run `cargo xtask backtest` (it simulates the sample lake) or `tickloop sim`"
            );
        }
        let symbols = source.symbols().len();
        let config =
            PipelineConfig { features: self.features.clone(), alerts: AlertConfig::none(), ..Default::default() };
        let bar = tick_bar(total, "features");
        let mut counted = Counting { inner: &mut source, bar: &bar, seen: 0 };
        let stride = match self.kind {
            ModelKind::Lstm => 1, // windows need every second; samples are thinned later
            ModelKind::Gbm => self.stride,
        };
        let data = collect_dataset(&config, &mut counted, self.horizon, stride)?;
        bar.finish_and_clear();
        let range = DataRange {
            source: lake.description().to_owned(),
            from: start.to_string(),
            to: end.to_string(),
            rows: data.len(),
            symbols,
        };
        eprintln!("{} rows of {} features from {} ticks of {} symbols", data.len(), data.width(), total, symbols);
        Ok((data, range))
    }
}

/// A source wrapper that moves a progress bar.
struct Counting<'a> {
    inner: &'a mut LakeSource,
    bar: &'a indicatif::ProgressBar,
    seen: u64,
}

impl tickloop_core::Source for Counting<'_> {
    fn next_tick(&mut self) -> Result<Option<tickloop_core::Tick>, tickloop_core::SourceError> {
        self.seen += 1;
        if self.seen & 0xFFFF == 0 {
            self.bar.set_position(self.seen);
        }
        self.inner.next_tick()
    }

    fn symbols(&self) -> &tickloop_core::SymbolTable {
        self.inner.symbols()
    }
}

/// Evenly keeps at most `max` of `rows` (0 = all).
fn at_most(rows: Vec<usize>, max: usize) -> Vec<usize> {
    if max == 0 || rows.len() <= max {
        return rows;
    }
    let step = rows.len() as f64 / max as f64;
    (0..max).map(|k| rows[(k as f64 * step) as usize]).collect()
}

/// A fitted model and its out-of-sample evaluation.
pub(crate) struct Fitted {
    pub model: Box<dyn Predictor>,
    pub evaluation: Evaluation,
    /// Complete rows (gbm) or windows (lstm) the model was fitted on.
    pub fitted_on: usize,
}

/// Fits on `train` rows and scores on `test` rows of `data` (no score when `test` is
/// empty); `card` is completed here.
pub(crate) fn fit_and_score(
    args: &TrainSpec,
    data: &Dataset,
    train: &[usize],
    test: &[usize],
    mut card: ModelCard,
) -> anyhow::Result<Fitted> {
    let complete = |rows: &[usize]| -> Vec<usize> {
        rows.iter()
            .copied()
            .filter(|&i| data.labels[i].is_finite() && data.row(i).iter().all(|x| x.is_finite()))
            .collect()
    };
    let train_rows = complete(train);
    if train_rows.len() < 100 {
        bail!("only {} complete training rows: use a longer date range or a shorter horizon", train_rows.len());
    }
    let normalizer = Normalizer::fit(&data.select(&train_rows));
    let label_scale = data.select(&train_rows).label_scale();
    card.normalizer = normalizer.clone();
    match args.params.clone() {
        Params::Gbm(params) => {
            let train_rows = at_most(train_rows, args.max_samples);
            let (x, y) = normalised(data, &train_rows, &normalizer);
            let gbm = params.fit(&linfa::Dataset::new(x, y)).context("training the booster")?;
            eprintln!("boosted {} rounds", gbm.rounds);
            card.params = serde_json::json!({ "gbm": params, "rounds": gbm.rounds });
            card.window = 1;
            card.weights = tickloop_gbm::WEIGHTS_FILE.into();
            let test_rows = complete(test);
            let evaluation = if test_rows.is_empty() {
                unscored()
            } else {
                let (xt, _) = normalised(data, &test_rows, &normalizer);
                let predictions = gbm.predict(&xt).to_vec();
                Evaluation::of(&predictions, &data.select(&test_rows), label_scale)
            };
            card.validation = evaluation.clone();
            Ok(Fitted { model: Box::new(GbmModel::new(card, gbm)), evaluation, fitted_on: train_rows.len() })
        }
        Params::Lstm(params) => {
            let stride = args.stride;
            let thin = |rows: Vec<usize>| -> Vec<usize> { rows.into_iter().step_by(stride).collect() };
            let label_std = {
                let ys: Vec<f64> = train_rows.iter().map(|&i| data.labels[i]).collect();
                let m = ys.iter().sum::<f64>() / ys.len() as f64;
                (ys.iter().map(|y| (y - m) * (y - m)).sum::<f64>() / ys.len() as f64).sqrt().max(1e-12)
            };
            let train_rows = at_most(thin(train_rows), args.max_samples);
            let (seqs, _) = Sequences::from_dataset(data, &train_rows, args.window, &normalizer, label_std);
            let device = tickloop_lstm::device();
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "lstm     [{elapsed_precise}] {bar:40.cyan/blue} epoch {msg} batch {pos}/{len} (eta {eta})",
                )
                .expect("valid template"),
            );
            let (lstm, report) = tickloop_lstm::train(&params, &seqs, &device, &mut |epoch, done, total| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
                bar.set_message(epoch.to_string());
            })
            .context("training the LSTM")?;
            bar.finish_and_clear();
            eprintln!(
                "trained {} epochs on {} windows (best epoch {}, validation MAE {:.4} in label std units)",
                report.epochs,
                report.train_windows,
                report.best_epoch,
                report.validation_mae[report.best_epoch - 1]
            );
            card.params = serde_json::json!({ "lstm": params, "target_scale": label_std, "training": report });
            card.window = args.window;
            card.weights = tickloop_lstm::WEIGHTS_FILE.into();
            let model = LstmModel::new(card, lstm, label_std)?;
            // Score through the same interface the live runner uses: raw windows in.
            let test_rows = complete(test);
            let evaluation = if test_rows.is_empty() {
                unscored()
            } else {
                let identity = Normalizer { mean: vec![0.0; data.width()], std: vec![1.0; data.width()] };
                let (raw, used) = Sequences::from_dataset(data, &thin(test_rows), args.window, &identity, 1.0);
                let x: Vec<f64> = raw.x.iter().map(|&v| f64::from(v)).collect();
                let predictions = model.predict(&x)?;
                Evaluation::of(&predictions, &data.select(&used), label_scale)
            };
            let mut card = model.card().clone();
            card.validation = evaluation.clone();
            let lstm = model.lstm().clone();
            Ok(Fitted {
                model: Box::new(LstmModel::new(card, lstm, label_std)?),
                evaluation,
                fitted_on: report.train_windows,
            })
        }
    }
}

fn normalised(data: &Dataset, rows: &[usize], n: &Normalizer) -> (ndarray::Array2<f64>, ndarray::Array1<f64>) {
    let w = data.width();
    let mut x = Vec::with_capacity(rows.len() * w);
    for &i in rows {
        let mut row = data.row(i).to_vec();
        n.apply(&mut row);
        x.extend(row);
    }
    (
        ndarray::Array2::from_shape_vec((rows.len(), w), x).expect("whole rows"),
        rows.iter().map(|&i| data.labels[i]).collect(),
    )
}

/// The evaluation of a model fitted without a test set (a walk-forward fold is scored by its
/// backtest instead).
fn unscored() -> Evaluation {
    Evaluation { model: tickloop_models::Score::of(&[], &[]), baselines: Vec::new() }
}

pub(crate) fn blank_card(args: &TrainSpec, name: &str, version: u32, data: &Dataset, range: DataRange) -> ModelCard {
    ModelCard {
        format: CARD_FORMAT,
        name: name.to_owned(),
        version,
        kind: args.kind,
        features: data.feature_names.clone(),
        window: 1,
        horizon_secs: args.horizon,
        normalizer: Normalizer { mean: Vec::new(), std: Vec::new() },
        weights: String::new(),
        data: range,
        seed: args.seed,
        git_commit: crate::backtest::git_commit(),
        params: serde_json::Value::Null,
        validation: unscored(),
    }
}

pub fn train(args: TrainArgs) -> anyhow::Result<()> {
    if args.data.model == KindArg::Seasonal {
        return crate::seasonal::train(&args);
    }
    let (spec, data, range) = args.data.dataset()?;
    let kind = spec.kind;
    let model_dir = args.out.clone().unwrap_or_else(|| PathBuf::from("models").join(kind.to_string()));
    let name = model_dir.file_name().and_then(|n| n.to_str()).unwrap_or("model").to_owned();
    let fold = Fold::holdout(&data.ts, args.test_fraction, spec.horizon);
    let (version, dir) = tickloop_models::next_version(&model_dir);
    let card = blank_card(&spec, &name, version, &data, range);
    let fitted = fit_and_score(&spec, &data, &fold.train, &fold.test, card)?;
    fitted.model.save(&dir).with_context(|| format!("saving the model to {}", dir.display()))?;
    print!("{}", fitted.evaluation.table(&kind.to_string()));
    println!("saved {} to {}", fitted.model.card().id(), dir.display());
    Ok(())
}

/// Loads the model a user names (a version directory, or a model directory = its latest).
pub fn load_model(path: &Path) -> anyhow::Result<Box<dyn Predictor>> {
    let dir = tickloop_models::resolve(path)?;
    let card = tickloop_models::load_card(&dir)?;
    Ok(match card.kind {
        ModelKind::Gbm => Box::new(GbmModel::load(&dir, card)?),
        ModelKind::Lstm => Box::new(LstmModel::load(&dir, card)?),
    })
}

/// The walk-forward report: out-of-sample scores only.
#[derive(Debug, Serialize)]
struct WalkForward {
    model: ModelKind,
    folds: Vec<Evaluation>,
    pooled: Evaluation,
    data: DataRange,
    horizon_secs: u32,
    embargo_secs: u32,
}

pub fn evaluate(args: EvaluateArgs) -> anyhow::Result<()> {
    let (spec, data, range) = args.data.dataset()?;
    let kind = spec.kind;
    let folds = walk_forward(&data.ts, args.folds, spec.horizon, args.embargo);
    let mut evaluations = Vec::new();
    for (k, fold) in folds.iter().enumerate() {
        eprintln!("fold {}/{}: {} training rows, {} test rows", k + 1, folds.len(), fold.train.len(), fold.test.len());
        let card = blank_card(&spec, "walk-forward", (k + 1) as u32, &data, range.clone());
        evaluations.push(fit_and_score(&spec, &data, &fold.train, &fold.test, card)?.evaluation);
    }
    let pooled = Evaluation::pooled(&evaluations).context("no folds")?;
    print!("{}", pooled.table(&kind.to_string()));
    if let Some(path) = &args.json {
        let report = WalkForward {
            model: kind,
            folds: evaluations,
            pooled,
            data: range,
            horizon_secs: spec.horizon,
            embargo_secs: args.embargo,
        };
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
