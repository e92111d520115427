//! Fitting each model kind on rows the pipeline collected, and scoring it out of sample.

use linfa::prelude::Fit;
use tickloop_core::{Source, Timestamp};
use tickloop_features::{FeatureSetDef, FeatureSpec};
use tickloop_gbm::{GbmModel, GbmParams};
use tickloop_lake::{Lake, LakeSource};
use tickloop_lstm::{LstmModel, LstmParams, Sequences, TrainEvent};
use tickloop_models::{
    CARD_FORMAT, DataRange, Dataset, Evaluation, ModelCard, ModelKind, Normalizer, Predictor, Target, TrainConfig,
    TrainedSpan,
};
use tickloop_pipeline::{AlertConfig, PipelineConfig, collect_dataset};

use crate::RegistryError;
use crate::progress::{ProgressSource, tick_bar};

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
pub struct TrainSpec {
    kind: ModelKind,
    features: Vec<FeatureSpec>,
    horizon: u32,
    stride: usize,
    window: usize,
    max_samples: usize,
    seed: u64,
    params: Params,
}

/// A dataset and where it came from.
#[derive(Debug)]
pub struct Collected {
    pub data: Dataset,
    pub range: DataRange,
    /// Ticks the pipeline read to collect it.
    pub ticks: u64,
    /// The symbols `data`'s ids refer to.
    pub symbols: tickloop_core::SymbolTable,
}

impl std::fmt::Display for Collected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} rows of {} features from {} ticks of {} symbols",
            self.data.len(),
            self.data.width(),
            self.ticks,
            self.range.symbols
        )
    }
}

/// Both kinds default to the `trend` set: trends at three scales normalised by volatility,
/// and the volatility itself (which also scales the target). Price levels, oscillators and
/// bands describe the same recent path less directly, and on a weak signal every extra
/// noisy column is one more thing a model can overfit.
fn default_features() -> Vec<FeatureSpec> {
    FeatureSetDef::builtin("trend").expect("built-in set").features
}

fn default_stride(kind: ModelKind) -> usize {
    match kind {
        ModelKind::Lstm => 30,
        ModelKind::Gbm => 10,
    }
}

impl TrainSpec {
    /// The spec of an experiment's `[walk_forward.train]` (or of `train`'s flags); fails on
    /// hyperparameters the model kind does not have.
    pub fn from_config(train: &TrainConfig) -> Result<TrainSpec, RegistryError> {
        let kind = train.model;
        let params = Params::from_table(kind, train.params.clone(), train.seed)?;
        Ok(TrainSpec {
            kind,
            features: if train.features.is_empty() { default_features() } else { train.features.clone() },
            horizon: train.horizon_secs,
            stride: train.stride.unwrap_or(default_stride(kind)),
            window: train.window,
            max_samples: train.max_samples,
            seed: train.seed,
            params,
        })
    }

    pub fn kind(&self) -> ModelKind {
        self.kind
    }

    /// The label horizon (seconds): also the purge between training and test rows.
    pub fn horizon_secs(&self) -> u32 {
        self.horizon
    }

    /// Command-line overrides of the hyperparameters; those of another kind are ignored.
    /// `lstm_threads` only sets how the LSTM runs (0 = every core), not what it learns.
    pub fn override_params(
        &mut self,
        epochs: Option<usize>,
        hidden: Option<usize>,
        iterations: Option<usize>,
        lstm_threads: usize,
    ) {
        match &mut self.params {
            Params::Lstm(p) => {
                p.epochs = epochs.unwrap_or(p.epochs);
                p.hidden = hidden.unwrap_or(p.hidden);
                p.threads = lstm_threads;
            }
            Params::Gbm(p) => p.iterations = iterations.unwrap_or(p.iterations),
        }
    }

    /// Runs the pipeline over `[start, end)` of the lake and collects the rows. Rows whose
    /// label horizon reaches past `end` keep no label: the data cannot leak past it.
    pub fn dataset(
        &self,
        lake: &Lake,
        lake_name: &str,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Collected, RegistryError> {
        let mut source = LakeSource::open(lake, start, end)?;
        let total = source.remaining_hint().unwrap_or(0);
        if total == 0 {
            return Err(RegistryError::Data(format!(
                "lake {lake_name} has no ticks from {start} to {end}: run `cargo xtask backtest` (it simulates the sample lake) or `tickloop sim`"
            )));
        }
        let table = source.symbols().clone();
        let symbols = table.len();
        let config =
            PipelineConfig { features: self.features.clone(), alerts: AlertConfig::none(), ..Default::default() };
        let bar = tick_bar(total, "features");
        let mut counted = ProgressSource::new(&mut source, &bar);
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
        Ok(Collected { data, range, ticks: total, symbols: table })
    }
}

/// Every `n`th of each symbol's `rows`, as the GBM's rows are collected: symbols that tick
/// together keep the same timestamps, so the kept rows still form cross-sections.
fn every_nth_of_each_symbol(data: &Dataset, rows: Vec<usize>, n: usize) -> Vec<usize> {
    let mut seen: Vec<usize> = Vec::new();
    rows.into_iter()
        .filter(|&i| {
            let s = data.symbols[i].index();
            if s >= seen.len() {
                seen.resize(s + 1, 0);
            }
            seen[s] += 1;
            (seen[s] - 1).is_multiple_of(n.max(1))
        })
        .collect()
}

/// Targets in volatility units are clipped to ± this many: a planted crash or a jump is 20
/// to 50 units, and under a squared loss one such row outweighs thousands of ordinary ones.
const TARGET_CLIP: f64 = 4.0;

/// Volatility units when the inputs carry a realised volatility (the first `realized_vol_N`
/// column), the raw return otherwise.
fn volatility_target(features: &[String]) -> Target {
    features
        .iter()
        .position(|f| matches!(f.parse(), Ok(FeatureSpec::RealizedVol(_))))
        .map_or(Target::Return, |column| Target::VolatilityUnits { column })
}

/// Evenly keeps at most `max` of `rows` (0 = all).
fn at_most(rows: Vec<usize>, max: usize) -> Vec<usize> {
    if max == 0 || rows.len() <= max {
        return rows;
    }
    let step = rows.len() as f64 / max as f64;
    (0..max).map(|k| rows[(k as f64 * step) as usize]).collect()
}

/// The rows of a dataset a model was scored on, and what it predicted for each.
#[derive(Debug, Clone, Default)]
pub struct Scored {
    pub rows: Vec<usize>,
    pub predictions: Vec<f64>,
}

/// A fitted model and its out-of-sample evaluation.
pub struct Fitted {
    pub model: Box<dyn Predictor>,
    pub evaluation: Evaluation,
    /// The test rows behind `evaluation` (none without a test set).
    pub scored: Scored,
    /// Complete rows (gbm) or windows (lstm) the model was fitted on.
    pub fitted_on: usize,
    /// How fitting went, in a line (rounds boosted, epochs trained).
    pub summary: String,
}

impl std::fmt::Debug for Fitted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fitted").field("model", &self.model.card().id()).field("summary", &self.summary).finish()
    }
}

/// Fits on `train` rows and scores on `test` rows of `data` (no score when `test` is
/// empty); `card` is completed here.
pub fn fit_and_score(
    args: &TrainSpec,
    data: &Dataset,
    train: &[usize],
    test: &[usize],
    mut card: ModelCard,
) -> Result<Fitted, RegistryError> {
    let complete = |rows: &[usize]| -> Vec<usize> {
        rows.iter()
            .copied()
            .filter(|&i| data.labels[i].is_finite() && data.row(i).iter().all(|x| x.is_finite()))
            .collect()
    };
    card.target = volatility_target(&data.feature_names);
    // What the model fits: the label in the units the card's target names, less the
    // cross-section's common move in those units (fewer symbols than a cross-section, as in
    // one symbol's history, only lose the sample's drift). Rows without a volatility to
    // scale by cannot teach.
    let targets: Vec<f64> = match card.target {
        Target::Return => data.excess_labels(train, tickloop_core::MIN_CROSS_SECTION),
        Target::VolatilityUnits { column } => {
            let units: Vec<f64> = (0..data.len())
                .map(|i| {
                    let sigma = data.row(i)[column] * f64::from(args.horizon).sqrt();
                    if sigma > 0.0 { data.labels[i] / sigma } else { f64::NAN }
                })
                .collect();
            let excess = data.excess(&units, train, tickloop_core::MIN_CROSS_SECTION);
            excess.into_iter().map(|z| z.clamp(-TARGET_CLIP, TARGET_CLIP)).collect()
        }
    };
    let train_rows: Vec<usize> = complete(train).into_iter().filter(|&i| targets[i].is_finite()).collect();
    if train_rows.len() < 100 {
        return Err(RegistryError::Data(format!(
            "only {} complete training rows: use a longer date range or a shorter horizon",
            train_rows.len()
        )));
    }
    let normalizer = Normalizer::fit(&data.select(&train_rows));
    let label_scale = data.select(&train_rows).label_scale();
    card.normalizer = normalizer.clone();
    card.trained_on = trained_span(data, &train_rows, args.horizon);
    match args.params.clone() {
        Params::Gbm(params) => {
            let train_rows = at_most(train_rows, args.max_samples);
            let x = normalised(data, &train_rows, &normalizer);
            let y = train_rows.iter().map(|&i| targets[i]).collect();
            let gbm = params.fit(&linfa::Dataset::new(x, y))?;
            let summary = format!("boosted {} rounds", gbm.rounds);
            card.params = serde_json::json!({ "gbm": params, "rounds": gbm.rounds });
            card.window = 1;
            card.weights = tickloop_gbm::WEIGHTS_FILE.into();
            let model = GbmModel::new(card, gbm);
            // Score through the interface every mode uses: raw rows in, returns out.
            let test_rows = complete(test);
            let (evaluation, scored) = if test_rows.is_empty() {
                (unscored(), Scored::default())
            } else {
                let raw: Vec<f64> = test_rows.iter().flat_map(|&i| data.row(i).to_vec()).collect();
                let predictions = model.predict(&raw)?;
                let evaluation = Evaluation::of(&predictions, &data.select(&test_rows), label_scale);
                (evaluation, Scored { rows: test_rows, predictions })
            };
            let (mut card, gbm) = model.into_parts();
            card.validation = evaluation.clone();
            Ok(Fitted {
                model: Box::new(GbmModel::new(card, gbm)),
                evaluation,
                scored,
                fitted_on: train_rows.len(),
                summary,
            })
        }
        Params::Lstm(params) => {
            let stride = args.stride;
            let thin = |rows: Vec<usize>| every_nth_of_each_symbol(data, rows, stride);
            let label_std = {
                let ys: Vec<f64> = train_rows.iter().map(|&i| targets[i]).collect();
                let m = ys.iter().sum::<f64>() / ys.len() as f64;
                (ys.iter().map(|y| (y - m) * (y - m)).sum::<f64>() / ys.len() as f64).sqrt().max(1e-12)
            };
            let train_rows = at_most(thin(train_rows), args.max_samples);
            let (mut seqs, used) = Sequences::from_dataset(data, &train_rows, args.window, &normalizer, label_std);
            for (y, &i) in seqs.y.iter_mut().zip(&used) {
                *y = (targets[i] / label_std) as f32;
            }
            let device = tickloop_lstm::device();
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "lstm     [{elapsed_precise}] {bar:40.cyan/blue} epoch {msg} batch {pos}/{len} (eta {eta})",
                )
                .expect("valid template"),
            );
            let started = std::time::Instant::now();
            let mut epoch_started = started;
            let (lstm, report) = tickloop_lstm::train(&params, &seqs, &device, &mut |event| match event {
                TrainEvent::Batch { epoch, done, total } => {
                    bar.set_length(total as u64);
                    bar.set_position(done as u64);
                    bar.set_message(epoch.to_string());
                }
                TrainEvent::Epoch { epoch, validation_loss } => {
                    let secs = std::mem::replace(&mut epoch_started, std::time::Instant::now()).elapsed().as_secs_f64();
                    let line = format!("lstm epoch {epoch}: {secs:.2} s, validation loss {validation_loss:.4}");
                    bar.suspend(|| eprintln!("{line}"));
                }
            })?;
            bar.finish_and_clear();
            let train_secs = started.elapsed().as_secs_f64();
            let summary = format!(
                "trained {} epochs on {} windows in {train_secs:.1} s, {:.2} s per epoch (best epoch {}, validation loss {:.4} in label std units)",
                report.epochs,
                report.train_windows,
                train_secs / report.epochs as f64,
                report.best_epoch,
                report.validation_loss[report.best_epoch - 1]
            );
            let outputs = lstm.predict(&seqs.x, args.window, &device).map_err(tickloop_lstm::LstmError::from)?;
            let output_offset = median(outputs);
            card.params = serde_json::json!({
                "lstm": params,
                "target_scale": label_std,
                "output_offset": output_offset,
                "training": report
            });
            card.window = args.window;
            card.weights = tickloop_lstm::WEIGHTS_FILE.into();
            let model = LstmModel::new(card, lstm, label_std)?;
            // Score through the same interface the live runner uses: raw windows in.
            let test_rows = complete(test);
            let (evaluation, scored) = if test_rows.is_empty() {
                (unscored(), Scored::default())
            } else {
                let identity = Normalizer { mean: vec![0.0; data.width()], std: vec![1.0; data.width()] };
                let (raw, used) = Sequences::from_dataset(data, &thin(test_rows), args.window, &identity, 1.0);
                let x: Vec<f64> = raw.x.iter().map(|&v| f64::from(v)).collect();
                let predictions = model.predict(&x)?;
                let evaluation = Evaluation::of(&predictions, &data.select(&used), label_scale);
                (evaluation, Scored { rows: used, predictions })
            };
            let mut card = model.card().clone();
            card.validation = evaluation.clone();
            let lstm = model.lstm().clone();
            Ok(Fitted {
                model: Box::new(LstmModel::new(card, lstm, label_std)?),
                evaluation,
                scored,
                fitted_on: report.train_windows,
                summary,
            })
        }
    }
}

/// The middle of `values` (the mean of the two middle ones for an even count; 0 if empty).
fn median(mut values: Vec<f32>) -> f64 {
    values.sort_by(f32::total_cmp);
    let n = values.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => f64::from(values[n / 2]),
        _ => (f64::from(values[n / 2 - 1]) + f64::from(values[n / 2])) / 2.0,
    }
}

/// From the first training row to the end of the last one's label horizon (rows are in
/// time order).
fn trained_span(data: &Dataset, rows: &[usize], horizon_secs: u32) -> Option<TrainedSpan> {
    let (first, last) = (data.ts[*rows.first()?], data.ts[*rows.last()?]);
    Some(TrainedSpan { from: first, to: last.add_nanos(i64::from(horizon_secs) * tickloop_core::NANOS_PER_SECOND) })
}

fn normalised(data: &Dataset, rows: &[usize], n: &Normalizer) -> ndarray::Array2<f64> {
    let w = data.width();
    let mut x = Vec::with_capacity(rows.len() * w);
    for &i in rows {
        let mut row = data.row(i).to_vec();
        n.apply(&mut row);
        x.extend(row);
    }
    ndarray::Array2::from_shape_vec((rows.len(), w), x).expect("whole rows")
}

/// The evaluation of a model fitted without a test set (a walk-forward fold is scored by its
/// backtest instead).
fn unscored() -> Evaluation {
    Evaluation { model: tickloop_models::Score::of(&[], &[]), baselines: Vec::new() }
}

/// A card for a model of `args` named `name`/v`version`, fitted on `data` from `range`, made
/// at `git_commit`; [`fit_and_score`] fills in the rest.
pub fn blank_card(
    args: &TrainSpec,
    name: &str,
    version: u32,
    data: &Dataset,
    range: DataRange,
    git_commit: Option<String>,
) -> ModelCard {
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
        git_commit,
        params: serde_json::Value::Null,
        validation: unscored(),
        trained_on: None,
        target: tickloop_models::Target::Return,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickloop_models::Fold;
    use tickloop_sim::{MarketConfig, MarketSim};

    fn config(model: ModelKind, params: &str) -> TrainConfig {
        toml::from_str(&format!("model = \"{model}\"\n[params]\n{params}")).unwrap()
    }

    #[test]
    fn a_spec_takes_the_kinds_defaults_and_refuses_parameters_it_does_not_have() {
        let spec = TrainSpec::from_config(&config(ModelKind::Gbm, "iterations = 7")).unwrap();
        assert_eq!((spec.kind(), spec.stride, spec.horizon_secs()), (ModelKind::Gbm, 10, 60));
        assert_eq!(spec.features, default_features());
        assert!(matches!(&spec.params, Params::Gbm(p) if p.iterations == 7 && p.seed == 42));
        let lstm = TrainSpec::from_config(&config(ModelKind::Lstm, "")).unwrap();
        assert_eq!((lstm.stride, lstm.features.len()), (30, 6));
        let err = TrainSpec::from_config(&config(ModelKind::Gbm, "epochs = 3")).unwrap_err().to_string();
        assert!(err.contains("epochs"), "{err}");
        let mut spec = spec;
        spec.override_params(Some(9), None, Some(3), 0);
        assert!(matches!(&spec.params, Params::Gbm(p) if p.iterations == 3), "the other kind's flags are ignored");
    }

    #[test]
    fn the_median_splits_the_outputs_in_half() {
        assert_eq!(median(vec![]), 0.0);
        assert_eq!(median(vec![3.0, -1.0, 100.0]), 3.0);
        assert_eq!(median(vec![4.0, 1.0, -2.0, 2.0]), 1.5);
    }

    #[test]
    fn at_most_thins_evenly_and_keeps_order() {
        let rows: Vec<usize> = (0..10).collect();
        assert_eq!(at_most(rows.clone(), 0), rows);
        assert_eq!(at_most(rows.clone(), 20), rows);
        assert_eq!(at_most(rows, 4), vec![0, 2, 5, 7]);
    }

    #[test]
    fn a_fitted_model_saves_and_loads_back_through_the_registry_with_the_same_predictions() {
        let start = Timestamp::parse("2024-01-02T14:30:00Z").unwrap();
        let end = start.add_nanos(3_600 * tickloop_core::NANOS_PER_SECOND);
        let mut sim = MarketSim::new(MarketConfig { symbols: 5, ..MarketConfig::default() }, start, end).unwrap();
        let spec = TrainSpec::from_config(&config(ModelKind::Gbm, "iterations = 20")).unwrap();
        let pipeline = PipelineConfig { features: spec.features.clone(), ..PipelineConfig::default() };
        let data = collect_dataset(&pipeline, &mut sim, spec.horizon, spec.stride).unwrap();
        let fold = Fold::holdout(&data.ts, 0.2, spec.horizon);
        let range = DataRange { source: "sim".into(), from: "a".into(), to: "b".into(), rows: data.len(), symbols: 5 };
        let card = blank_card(&spec, "gbm", 1, &data, range, None);
        let fitted = fit_and_score(&spec, &data, &fold.train, &fold.test, card).unwrap();
        assert!(fitted.summary.starts_with("boosted "), "{}", fitted.summary);
        assert!(fitted.evaluation.model.rows > 0, "scored out of sample");

        let dir = tempfile::tempdir().unwrap();
        fitted.model.save(&dir.path().join("v1")).unwrap();
        let loaded = crate::load(dir.path()).unwrap();
        assert_eq!(loaded.card().id(), "gbm/v1");
        let complete = data.complete_rows();
        let windows: Vec<f64> = (0..50).flat_map(|i| complete.row(i).to_vec()).collect();
        assert_eq!(loaded.predict(&windows).unwrap(), fitted.model.predict(&windows).unwrap());
        assert!(crate::load(&dir.path().join("v9")).is_err(), "a missing version is named, not a panic");
    }
}
