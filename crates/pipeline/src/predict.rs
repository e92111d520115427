//! The prediction stage: each clean tick's model inputs go into its symbol's window; once a
//! bar interval, a symbol with a full window is queued, and queued windows are predicted
//! together — all symbols of one event second in one batch, the way an LSTM wants them.
//!
//! A batch is predicted when event time moves past its second (deterministic: replay and
//! live see the same ticks in the same order), or when the caller flushes (the live runner
//! does after each poll, so a prediction is not held back waiting for the next second).
//! Either way a prediction's value and key (symbol, `ts_event`, model version) are the same;
//! only which call's outputs carry it differs.

use std::collections::VecDeque;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tickloop_core::{NANOS_PER_SECOND, Prediction, SymbolId, Tick, Timestamp};
use tickloop_features::FeatureSpec;
use tickloop_models::{ModelError, Predictor, WindowBuffer};

use crate::ModelInputs;

/// What the stage carries across a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PredictionState {
    windows: WindowBuffer,
    /// Per symbol: the next event time a prediction is due.
    next_due: Vec<i64>,
    /// Windows waiting for their batch: (symbol, event time, close).
    queue: Vec<(SymbolId, Timestamp, f64)>,
    queued: Vec<f64>,
    /// Per symbol, predictions waiting for their horizon: (due, close then, predicted).
    pending: Vec<VecDeque<(i64, f64, f64)>>,
    /// How the matured predictions fared.
    pub(crate) accuracy: AccuracySums,
}

/// Running sums over predictions whose horizon has passed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct AccuracySums {
    matured: u64,
    abs_error: f64,
    /// Matured predictions whose realised return was not exactly zero, and those of them
    /// whose predicted sign was right.
    moved: u64,
    right_direction: u64,
}

impl AccuracySums {
    pub fn add(&mut self, predicted: f64, realized: f64) {
        self.matured += 1;
        self.abs_error += (predicted - realized).abs();
        if realized != 0.0 {
            self.moved += 1;
            self.right_direction += u64::from(predicted * realized > 0.0);
        }
    }

    pub fn summary(&self) -> ModelAccuracy {
        let ratio = |a: f64, n: u64| if n == 0 { 0.0 } else { a / n as f64 };
        ModelAccuracy {
            matured: self.matured,
            mae: ratio(self.abs_error, self.matured),
            directional_accuracy: ratio(self.right_direction as f64, self.moved),
            moved: self.moved,
        }
    }
}

/// How a model's predictions compared with what happened over their horizon, counted as
/// each one matures (the same comparison the model-anomaly rule makes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelAccuracy {
    /// Predictions whose horizon has passed.
    pub matured: u64,
    /// Mean absolute error of the predicted log return.
    pub mae: f64,
    /// Share of matured predictions (with a non-zero realised return) whose sign was right.
    pub directional_accuracy: f64,
    /// Matured predictions whose realised return was not zero (the direction's sample).
    #[serde(default)]
    pub moved: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct PredictionStage {
    model: Arc<dyn Predictor>,
    inputs: ModelInputs,
    every_nanos: i64,
    horizon_nanos: i64,
    model_id: String,
    row: Vec<f64>,
    /// Rows per window (the model card's).
    window: usize,
    pub(crate) state: PredictionState,
    pub(crate) predicted: u64,
    pub(crate) failed: u64,
}

impl PredictionStage {
    pub(crate) fn new(model: Arc<dyn Predictor>, specs: &[FeatureSpec], every_secs: u32) -> Result<Self, ModelError> {
        let card = model.card();
        let inputs = ModelInputs::for_model(card, specs)?;
        let state = PredictionState {
            windows: WindowBuffer::new(card.window.max(1), card.features.len().max(1)),
            next_due: Vec::new(),
            queue: Vec::new(),
            queued: Vec::new(),
            pending: Vec::new(),
            accuracy: AccuracySums::default(),
        };
        Ok(PredictionStage {
            model_id: card.id(),
            inputs,
            every_nanos: i64::from(every_secs.max(1)) * NANOS_PER_SECOND,
            horizon_nanos: i64::from(card.horizon_secs) * NANOS_PER_SECOND,
            window: card.window.max(1),
            model,
            row: Vec::new(),
            state,
            predicted: 0,
            failed: 0,
        })
    }

    /// Takes one clean tick and its feature row (which may be empty where
    /// [`PredictionStage::reads_row`] says no); calls `realized(predicted at, predicted,
    /// realised log return)` for each of the symbol's predictions whose horizon this tick
    /// reaches.
    pub(crate) fn on_tick(
        &mut self,
        clean: &Tick,
        features: &[f64],
        out: &mut Vec<Prediction>,
        mut realized: impl FnMut(Timestamp, f64, f64),
    ) {
        let ts = clean.ts_event;
        if let Some(pending) = self.state.pending.get_mut(clean.symbol.index()) {
            while let Some(&(due, close, predicted)) = pending.front() {
                if ts.as_nanos() < due {
                    break;
                }
                pending.pop_front();
                let actual = (clean.close.get() / close).ln();
                self.state.accuracy.add(predicted, actual);
                realized(Timestamp::from_nanos(due - self.horizon_nanos), predicted, actual);
            }
        }
        if let Some(&(_, first, _)) = self.state.queue.first()
            && ts.as_nanos().div_euclid(NANOS_PER_SECOND) > first.as_nanos().div_euclid(NANOS_PER_SECOND)
        {
            self.flush(out);
        }
        let due = self.due(clean);
        let i = clean.symbol.index();
        let s = &mut self.state;
        if i >= s.next_due.len() {
            s.next_due.resize(i + 1, i64::MIN);
        }
        // A one-row window (the GBM's) is the current row alone, so only a due tick needs
        // its inputs: skipping the others saved ~5 % of a 1,000-symbol GBM replay. The
        // buffer then holds a stale row between due ticks, which nothing reads.
        if due || self.window > 1 {
            self.row.clear();
            self.inputs.write(features, clean.close.get(), &mut self.row);
            s.windows.push(i, &self.row);
        }
        if due && s.windows.write_window(i, &mut s.queued) {
            s.queue.push((clean.symbol, ts, clean.close.get()));
            s.next_due[i] = (ts.as_nanos().div_euclid(self.every_nanos) + 1) * self.every_nanos;
        }
    }

    /// Whether `clean`'s symbol is due a prediction at `clean`'s time: its first tick, or
    /// the first in a later prediction interval.
    fn due(&self, clean: &Tick) -> bool {
        self.state.next_due.get(clean.symbol.index()).is_none_or(|&next| clean.ts_event.as_nanos() >= next)
    }

    /// Whether every tick's feature row goes into the windows (those of more than one row).
    pub(crate) fn reads_every_row(&self) -> bool {
        self.window > 1
    }

    /// Whether [`PredictionStage::on_tick`] reads `clean`'s feature row; the others it may
    /// be given without one.
    pub(crate) fn reads_row(&self, clean: &Tick) -> bool {
        self.reads_every_row() || self.due(clean)
    }

    /// Predicts every queued window now.
    pub(crate) fn flush(&mut self, out: &mut Vec<Prediction>) {
        if self.state.queue.is_empty() {
            return;
        }
        match self.model.predict(&self.state.queued) {
            Ok(values) => {
                self.predicted += values.len() as u64;
                let s = &mut self.state;
                for (&(symbol, ts_event, close), value) in s.queue.iter().zip(values) {
                    let i = symbol.index();
                    if i >= s.pending.len() {
                        s.pending.resize_with(i + 1, VecDeque::new);
                    }
                    s.pending[i].push_back((ts_event.as_nanos() + self.horizon_nanos, close, value));
                    out.push(Prediction {
                        symbol,
                        ts_event,
                        model_version: self.model_id.clone(),
                        value,
                        prob_up: None,
                    });
                }
            }
            Err(e) => {
                self.failed += self.state.queue.len() as u64;
                tracing::error!(model = %self.model_id, error = %e, windows = self.state.queue.len(), "prediction failed");
            }
        }
        self.state.queue.clear();
        self.state.queued.clear();
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Mutex;

    use tickloop_core::{Component, Outputs, Price, Volume};
    use tickloop_models::{DataRange, Evaluation, ModelCard, ModelKind, Normalizer, Score};

    use super::*;
    use crate::{Pipeline, PipelineConfig};

    /// Predicts the sum of each window's values and records batch sizes.
    #[derive(Debug)]
    pub(crate) struct SumModel {
        card: ModelCard,
        batches: Mutex<Vec<usize>>,
    }

    impl Predictor for SumModel {
        fn card(&self) -> &ModelCard {
            &self.card
        }

        fn predict(&self, windows: &[f64]) -> Result<Vec<f64>, ModelError> {
            let n = self.window_count(windows)?;
            self.batches.lock().unwrap().push(n);
            Ok(windows.chunks(self.card.window_len()).map(|w| w.iter().sum()).collect())
        }

        fn save(&self, _: &std::path::Path) -> Result<(), ModelError> {
            Ok(())
        }
    }

    pub(crate) fn model() -> Arc<SumModel> {
        model_of_window(2)
    }

    /// [`model`] reading the last `window` rows.
    pub(crate) fn model_of_window(window: usize) -> Arc<SumModel> {
        let score = Score::of(&[], &[]);
        Arc::new(SumModel {
            card: ModelCard {
                format: tickloop_models::CARD_FORMAT,
                name: "sum".into(),
                version: 3,
                kind: ModelKind::Gbm,
                features: vec!["log_return".into()],
                window,
                horizon_secs: 60,
                normalizer: Normalizer { mean: vec![0.0], std: vec![1.0] },
                weights: String::new(),
                data: DataRange { source: String::new(), from: String::new(), to: String::new(), rows: 0, symbols: 0 },
                seed: 0,
                git_commit: None,
                params: serde_json::Value::Null,
                validation: Evaluation { model: score, baselines: vec![] },
                trained_on: None,
                target: tickloop_models::Target::Return,
            },
            batches: Mutex::new(Vec::new()),
        })
    }

    fn ticks() -> Vec<Tick> {
        let mut out = Vec::new();
        for s in 0..200 {
            for sym in 0..2u32 {
                let close = 100.0 + f64::from(sym) + (f64::from(s as u32) * 0.1).sin();
                let p = Price(close);
                out.push(Tick {
                    symbol: SymbolId::new(sym),
                    ts_event: Timestamp::from_secs(1_704_205_800 + s),
                    ts_recv: Timestamp::from_secs(1_704_205_800 + s),
                    open: p,
                    high: p,
                    low: p,
                    close: p,
                    volume: Volume(10.0),
                });
            }
        }
        out
    }

    fn run(pipeline: &mut Pipeline, ticks: &[Tick], flush_each_second: bool) -> Vec<Prediction> {
        let mut out = Outputs::default();
        let mut all = Vec::new();
        for (i, t) in ticks.iter().enumerate() {
            out.clear();
            pipeline.on_tick(t, &mut out);
            if flush_each_second && ticks.get(i + 1).is_none_or(|n| n.ts_event != t.ts_event) {
                pipeline.flush(&mut out);
            }
            all.extend(out.predictions.iter().cloned());
        }
        out.clear();
        pipeline.flush(&mut out);
        all.extend(out.predictions);
        all
    }

    fn pipeline(m: Arc<SumModel>) -> Pipeline {
        let config = PipelineConfig { features: vec![FeatureSpec::LogReturn], ..PipelineConfig::default() };
        Pipeline::new(&config).with_model(m, 60).unwrap()
    }

    #[test]
    fn each_symbol_is_predicted_once_per_interval_in_per_second_batches() {
        let m = model();
        let all = run(&mut pipeline(m.clone()), &ticks(), false);
        // Warm at the third tick (two log returns), then at each minute boundary.
        let secs: Vec<i64> = all
            .iter()
            .filter(|p| p.symbol == SymbolId::new(0))
            .map(|p| p.ts_event.as_nanos() / NANOS_PER_SECOND - 1_704_205_800)
            .collect();
        assert_eq!(secs, vec![2, 60, 120, 180]);
        assert!(m.batches.lock().unwrap().iter().all(|&n| n == 2), "both symbols of a second in one batch");
        assert_eq!(all[0].model_version, "sum/v3");
        let r = |s: i64| ((100.0 + (s as f64 * 0.1).sin()) / (100.0 + ((s - 1) as f64 * 0.1).sin())).ln();
        assert!((all[0].value - (r(1) + r(2))).abs() < 1e-12, "the window is the last two log returns");
    }

    #[test]
    fn flushing_early_or_restoring_a_snapshot_changes_no_prediction() {
        let ticks = ticks();
        let whole = run(&mut pipeline(model()), &ticks, false);
        assert_eq!(run(&mut pipeline(model()), &ticks, true), whole);

        let mut first = pipeline(model());
        let mut got = run(&mut first, &ticks[..151], false);
        let snapshot = first.snapshot().unwrap();
        let mut resumed = pipeline(model());
        resumed.restore(&snapshot).unwrap();
        got.extend(run(&mut resumed, &ticks[151..], false));
        assert_eq!(got, whole);
    }

    #[test]
    fn accuracy_compares_each_matured_prediction_with_the_return_over_its_horizon() {
        let ticks = ticks();
        let mut whole = pipeline(model());
        let all = run(&mut whole, &ticks, false);
        let close = |symbol: SymbolId, ts: Timestamp| {
            ticks.iter().find(|t| t.symbol == symbol && t.ts_event == ts).map(|t| t.close.get())
        };
        let (mut matured, mut abs_error, mut moved, mut right) = (0u64, 0.0, 0u64, 0u64);
        for p in &all {
            let then = close(p.symbol, p.ts_event).unwrap();
            // Ticks come every second, so the horizon's tick is exactly 60 s later.
            let Some(later) = close(p.symbol, p.ts_event.add_nanos(60 * NANOS_PER_SECOND)) else { continue };
            let realised = (later / then).ln();
            matured += 1;
            abs_error += (p.value - realised).abs();
            moved += u64::from(realised != 0.0);
            right += u64::from(p.value * realised > 0.0);
        }
        assert_eq!(matured, 6, "predictions at 2, 60 and 120 s matured for both symbols; 180 s did not");
        let got = whole.model_accuracy().unwrap();
        assert_eq!(got.matured, matured);
        assert!((got.mae - abs_error / matured as f64).abs() < 1e-15);
        assert_eq!(got.directional_accuracy, right as f64 / moved as f64);

        let mut first = pipeline(model());
        run(&mut first, &ticks[..151], false);
        let mut resumed = pipeline(model());
        resumed.restore(&first.snapshot().unwrap()).unwrap();
        run(&mut resumed, &ticks[151..], false);
        assert_eq!(resumed.model_accuracy(), whole.model_accuracy(), "the sums travel in the snapshot");
    }

    #[test]
    fn a_model_needing_a_feature_the_pipeline_lacks_is_refused_by_name() {
        let config = PipelineConfig { features: vec![FeatureSpec::Sma(5)], ..PipelineConfig::default() };
        let err = Pipeline::new(&config).with_model(model(), 60).unwrap_err().to_string();
        assert!(err.contains("sum/v3 needs features the pipeline does not compute: log_return"), "{err}");
    }
}
