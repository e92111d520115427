//! `tickloop train` and `tickloop evaluate`: flags to a [`TrainSpec`], a dataset from the one
//! pipeline over a lake date range, a model fitted on the training window and scored out of
//! sample beside the baselines (`tickloop_registry`).

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use serde::Serialize;
use tickloop_core::{NANOS_PER_SECOND, Timestamp};
use tickloop_features::FeatureSpec;
use tickloop_models::Score;
use tickloop_models::{DataRange, Evaluation, Fold, ModelKind, TrainConfig, walk_forward};
use tickloop_registry::{
    AgainstCeiling, Collected, Fitted, Paired, PairedCeiling, TrainSpec, blank_card, fit_and_score, planted_ceilings,
};

use crate::lake_args::LakeArgs;

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
    /// Input features, comma-separated [default: the `trend` feature set: log_return,
    /// trend_z_60, trend_z_300, trend_z_900, realized_vol_300, volume_z_300]. With a
    /// realized_vol_N column the model learns returns in units of that volatility.
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
    /// LSTM: threads for the fused layer (0 = every core); the weights are the same bits on
    /// any count.
    #[arg(long, default_value_t = 0)]
    threads: usize,
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

impl ModelDataArgs {
    fn spec(&self) -> anyhow::Result<TrainSpec> {
        let kind = self.model.predictor()?;
        let text = match &self.params {
            Some(p) => std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            None => String::new(),
        };
        let what = || self.params.as_ref().map_or("params".to_owned(), |p| p.display().to_string());
        let table: toml::Table = toml::from_str(&text).with_context(what)?;
        let config = TrainConfig {
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
        spec.override_params(self.epochs, self.hidden, self.iterations, self.threads);
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

    /// `score` against the simulator's ceilings when the lake holds a simulated market;
    /// `paired`, the ceiling filter scored on the model's own rows.
    fn against_ceiling(
        &self,
        horizon_secs: u32,
        score: &Score,
        paired: Option<Paired>,
    ) -> anyhow::Result<Option<AgainstCeiling>> {
        let planted = planted_ceilings(&self.lake.open()?, horizon_secs)?;
        Ok(planted.map(|p| AgainstCeiling::of(score, p, paired)))
    }

    /// The simulator replayed for the ceiling filter's per-row predictions (simulated lakes).
    fn paired_ceiling(&self) -> anyhow::Result<Option<PairedCeiling>> {
        Ok(PairedCeiling::replay(&self.lake.open()?)?)
    }

    /// The spec and its dataset over the flags' date range.
    fn dataset(&self) -> anyhow::Result<(TrainSpec, Collected)> {
        let (start, end) = self.range()?;
        let spec = self.spec()?;
        let lake = self.lake.open()?;
        let mut collected = spec.dataset(&lake, &self.lake.lake, start, end)?;
        collected.range.from.clone_from(&self.from);
        collected.range.to.clone_from(&self.to);
        eprintln!("{collected}");
        Ok((spec, collected))
    }
}

pub fn train(args: TrainArgs) -> anyhow::Result<()> {
    if args.data.model == KindArg::Seasonal {
        return crate::seasonal::train(&args);
    }
    let model_dir = match &args.out {
        Some(out) => out.clone(),
        None => PathBuf::from("models").join(args.data.model.predictor()?.to_string()),
    };
    let name = model_dir.file_name().and_then(|n| n.to_str()).unwrap_or("model").to_owned();
    let (version, dir) = tickloop_models::next_version(&model_dir);
    train_into(&args, &name, version, &dir)
}

/// Trains the model of `args` as `name/v{version}` into the directory `dir`.
pub(crate) fn train_into(args: &TrainArgs, name: &str, version: u32, dir: &std::path::Path) -> anyhow::Result<()> {
    let (spec, Collected { data, range, symbols, .. }) = args.data.dataset()?;
    let kind = spec.kind();
    let fold = Fold::holdout(&data.ts, args.test_fraction, spec.horizon_secs());
    let card = blank_card(&spec, name, version, &data, range, tickloop_runs::git_commit());
    let fitted = fit_and_score(&spec, &data, &fold.train, &fold.test, card)?;
    eprintln!("{}", fitted.summary);
    fitted.model.save(dir).with_context(|| format!("saving the model to {}", dir.display()))?;
    print!("{}", fitted.evaluation.table(&kind.to_string()));
    let paired = args.data.paired_ceiling()?.and_then(|c| c.pair(&data, &symbols, spec.horizon_secs(), &fitted.scored));
    if let Some(against) = args.data.against_ceiling(spec.horizon_secs(), &fitted.evaluation.model, paired)? {
        print!("{}", against.describe(&kind.to_string(), &fitted.evaluation.model));
    }
    println!("saved {} to {}", fitted.model.card().id(), dir.display());
    Ok(())
}

/// The walk-forward report: out-of-sample scores only.
#[derive(Debug, Serialize)]
struct WalkForward {
    model: ModelKind,
    folds: Vec<Evaluation>,
    pooled: Evaluation,
    /// The pooled score against the simulator's ceilings (simulated lakes only).
    against_ceiling: Option<AgainstCeiling>,
    data: DataRange,
    horizon_secs: u32,
    embargo_secs: u32,
}

pub fn evaluate(args: EvaluateArgs) -> anyhow::Result<()> {
    let (spec, Collected { data, range, symbols, .. }) = args.data.dataset()?;
    let kind = spec.kind();
    let folds = walk_forward(&data.ts, args.folds, spec.horizon_secs(), args.embargo);
    let ceiling = args.data.paired_ceiling()?;
    let (mut evaluations, mut paired) = (Vec::new(), Vec::new());
    for (k, fold) in folds.iter().enumerate() {
        eprintln!("fold {}/{}: {} training rows, {} test rows", k + 1, folds.len(), fold.train.len(), fold.test.len());
        let card = blank_card(&spec, "walk-forward", (k + 1) as u32, &data, range.clone(), tickloop_runs::git_commit());
        let Fitted { evaluation, scored, summary, .. } = fit_and_score(&spec, &data, &fold.train, &fold.test, card)?;
        eprintln!("{summary}");
        paired.extend(ceiling.as_ref().and_then(|c| c.pair(&data, &symbols, spec.horizon_secs(), &scored)));
        evaluations.push(evaluation);
    }
    let pooled = Evaluation::pooled(&evaluations).context("no folds")?;
    print!("{}", pooled.table(&kind.to_string()));
    // Paired only when every fold could be: a pool of some folds would be other rows.
    let paired = if paired.len() == folds.len() { Paired::pooled(&paired) } else { None };
    let against_ceiling = args.data.against_ceiling(spec.horizon_secs(), &pooled.model, paired)?;
    if let Some(against) = &against_ceiling {
        print!("{}", against.describe(&kind.to_string(), &pooled.model));
    }
    if let Some(path) = &args.json {
        let report = WalkForward {
            model: kind,
            folds: evaluations,
            pooled,
            against_ceiling,
            data: range,
            horizon_secs: spec.horizon_secs(),
            embargo_secs: args.embargo,
        };
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
