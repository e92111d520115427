//! Training data: the pipeline run over history, one row per clean tick, labelled by the
//! models crate's [`Labeller`] — which sees only ticks after a row's time and which the
//! pipeline's stages never call.
//!
//! Rows hold *model inputs*: each feature in the unit a model sees ([`ModelInputs`]), so
//! training, the backtest, the live runner and the model server all transform features
//! with this one code.

use std::collections::VecDeque;

use tickloop_core::{Engine, EngineError, NANOS_PER_SECOND, Outputs, Sink, SinkError, Source, Tick, Timestamp};
use tickloop_features::{FeatureSpec, Scale};
use tickloop_models::{Dataset, Labeller, ModelCard, ModelError, Reference};

use crate::{Pipeline, PipelineConfig};

/// Turns a pipeline feature row into a model's input row: picks the model's columns and
/// takes price-valued features relative to the close (see [`Scale`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInputs {
    columns: Vec<usize>,
    scales: Vec<Scale>,
}

impl ModelInputs {
    /// All of the pipeline's features, in its order.
    pub fn all(specs: &[FeatureSpec]) -> Self {
        ModelInputs { columns: (0..specs.len()).collect(), scales: specs.iter().map(|s| s.scale()).collect() }
    }

    /// The inputs of `card`'s model from a pipeline computing `specs`; an error names the
    /// features the model needs and the pipeline lacks.
    pub fn for_model(card: &ModelCard, specs: &[FeatureSpec]) -> Result<Self, ModelError> {
        let names: Vec<String> = specs.iter().map(ToString::to_string).collect();
        let columns = card.columns_in(&names)?;
        let scales = columns.iter().map(|&c| specs[c].scale()).collect();
        Ok(ModelInputs { columns, scales })
    }

    pub fn width(&self) -> usize {
        self.columns.len()
    }

    /// Appends the model inputs of one pipeline feature row at `close` to `out`.
    pub fn write(&self, features: &[f64], close: f64, out: &mut Vec<f64>) {
        out.extend(self.columns.iter().zip(&self.scales).map(|(&c, s)| s.relative_to(features[c], close)));
    }
}

/// The past-only quantities the baselines need, per symbol: the closes of the last horizon.
#[derive(Debug, Clone)]
struct ReferenceTracker {
    horizon_nanos: i64,
    closes: VecDeque<(Timestamp, f64)>,
    sum: f64,
}

impl ReferenceTracker {
    fn new(horizon_secs: u32) -> Self {
        ReferenceTracker {
            horizon_nanos: i64::from(horizon_secs) * NANOS_PER_SECOND,
            closes: VecDeque::new(),
            sum: 0.0,
        }
    }

    fn push(&mut self, ts: Timestamp, close: f64) -> Reference {
        // The close at or before ts − horizon anchors the past return; keep exactly one.
        let anchor_limit = ts.as_nanos() - self.horizon_nanos;
        while self.closes.len() >= 2 && self.closes[1].0.as_nanos() <= anchor_limit {
            let (_, c) = self.closes.pop_front().expect("len >= 2");
            self.sum -= c;
        }
        let past_return = match self.closes.front() {
            Some(&(t, c)) if t.as_nanos() <= anchor_limit => (close / c).ln(),
            _ => f64::NAN,
        };
        self.closes.push_back((ts, close));
        self.sum += close;
        Reference { past_return, ma_gap: close - self.sum / self.closes.len() as f64 }
    }
}

/// Runs a fresh pipeline over `source` and collects `(model inputs, label)` rows for every
/// pipeline feature, label = the log return over the next `horizon_secs`, keeping every
/// `stride`-th clean tick of each symbol as a row (every tick still feeds the features,
/// labels and baselines). Rows whose horizon the data does not reach keep a `NaN` label
/// ([`Dataset::complete_rows`] drops them, and rows still warming up). The pipeline runs in
/// the [`Engine`], as in a backtest.
pub fn collect_dataset(
    config: &PipelineConfig,
    source: &mut dyn Source,
    horizon_secs: u32,
    stride: usize,
) -> Result<Dataset, EngineError> {
    // Alerts play no part in a dataset: skip them (and any baseline they would load).
    let pipeline = Pipeline::new(&PipelineConfig { alerts: crate::AlertConfig::none(), ..config.clone() });
    let specs = pipeline.features().specs().to_vec();
    let mut rows = RowCollector {
        horizon_secs,
        stride: stride.max(1),
        inputs: ModelInputs::all(&specs),
        data: Dataset::new(specs.iter().map(ToString::to_string).collect()),
        labellers: Vec::new(),
        references: Vec::new(),
        seen: Vec::new(),
        labelled: Vec::new(),
        row: Vec::with_capacity(specs.len()),
    };
    Engine::new(pipeline).run(source, &mut [&mut rows])?;
    Ok(rows.data)
}

/// The sink that turns the pipeline's outputs into labelled rows.
struct RowCollector {
    horizon_secs: u32,
    stride: usize,
    inputs: ModelInputs,
    data: Dataset,
    /// Per symbol: its labeller, its reference baselines, and clean ticks seen so far.
    labellers: Vec<Labeller>,
    references: Vec<ReferenceTracker>,
    seen: Vec<usize>,
    labelled: Vec<(usize, f64)>,
    row: Vec<f64>,
}

impl Sink for RowCollector {
    fn on_outputs(&mut self, _input: &Tick, out: &Outputs) -> Result<(), SinkError> {
        let Some(clean) = out.tick else { return Ok(()) };
        let i = clean.symbol.index();
        if i >= self.labellers.len() {
            self.labellers.resize_with(i + 1, || Labeller::new(self.horizon_secs));
            self.references.resize_with(i + 1, || ReferenceTracker::new(self.horizon_secs));
            self.seen.resize(i + 1, 0);
        }
        let close = clean.close.get();
        let reference = self.references[i].push(clean.ts_event, close);
        let row = self.seen[i].is_multiple_of(self.stride).then(|| {
            self.row.clear();
            self.inputs.write(&out.features, close, &mut self.row);
            self.data.push(clean.ts_event, clean.symbol, &self.row, f64::NAN, reference);
            self.data.len() - 1
        });
        self.seen[i] += 1;
        self.labellers[i].push(row, clean.ts_event, close, &mut self.labelled);
        for (row, label) in self.labelled.drain(..) {
            self.data.labels[row] = label;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tickloop_core::{SymbolId, SymbolTable, Tick, Timestamp, VecSource};

    fn ticks(moves: &[(u8, f64, f64)]) -> Vec<Tick> {
        let mut px = [100.0, 50.0];
        moves
            .iter()
            .enumerate()
            .map(|(i, &(s, m, v))| {
                let s = usize::from(s % 2);
                px[s] *= 1.0 + m / 100.0;
                Tick::at_price(SymbolId::new(s as u32), Timestamp::from_secs(1_704_205_800 + i as i64), px[s], v)
            })
            .collect()
    }

    fn collect(ticks: Vec<Tick>) -> Dataset {
        let config = PipelineConfig {
            features: ["log_return", "sma_5", "rsi_3", "volume_z_4", "bb_upper_5_2"]
                .iter()
                .map(|n| n.parse().unwrap())
                .collect(),
            ..PipelineConfig::default()
        };
        let symbols = SymbolTable::from_names(["AAA", "BBB"]).unwrap();
        collect_dataset(&config, &mut VecSource::new(symbols, ticks), 5, 1).unwrap()
    }

    #[test]
    fn baseline_inputs_look_one_horizon_back() {
        // Symbol 0 only: closes 100, 101, … one second apart; horizon 5 s.
        let moves: Vec<(u8, f64, f64)> = (0..20).map(|_| (0, 1.0, 10.0)).collect();
        let d = collect(ticks(&moves));
        let closes: Vec<f64> = (0..20).map(|k| 100.0 * 1.01f64.powi(k + 1)).collect();
        assert!(d.references[4].past_return.is_nan(), "no close 5 s before the fifth tick");
        let r = d.references[10].past_return;
        assert!((r - (closes[10] / closes[5]).ln()).abs() < 1e-12, "{r}");
        let mean: f64 = closes[5..=10].iter().sum::<f64>() / 6.0;
        assert!((d.references[10].ma_gap - (closes[10] - mean)).abs() < 1e-9);
    }

    #[test]
    fn model_inputs_take_price_levels_relative_to_the_close() {
        let specs: Vec<FeatureSpec> = ["sma_5", "rsi_3", "atr_3"].iter().map(|n| n.parse().unwrap()).collect();
        let mut out = Vec::new();
        ModelInputs::all(&specs).write(&[110.0, 70.0, 2.0], 100.0, &mut out);
        assert!((out[0] - 0.1).abs() < 1e-12 && out[1] == 70.0 && (out[2] - 0.02).abs() < 1e-12);
    }

    proptest! {
        /// Point in time: a row's features are the same whether or not anything after it
        /// exists, and its label is a function of later ticks only (removing everything
        /// after the row's horizon leaves it unchanged).
        #[test]
        fn no_feature_sees_the_future_and_labels_see_only_it(
            moves in proptest::collection::vec((0u8..2, -2.0f64..2.0, 1.0f64..1000.0), 10..200),
            cut in 0usize..200,
        ) {
            let all = ticks(&moves);
            let cut = cut.min(all.len());
            let full = collect(all.clone());
            let past = collect(all[..cut].to_vec());
            prop_assert_eq!(past.len(), cut);
            for i in 0..cut {
                let bits = |d: &Dataset| d.row(i).iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                prop_assert_eq!(bits(&past), bits(&full), "row {} changed when the future was removed", i);
                let refs = |d: &Dataset| (d.references[i].past_return.to_bits(), d.references[i].ma_gap.to_bits());
                prop_assert_eq!(refs(&past), refs(&full), "row {}'s baseline inputs changed", i);
                let horizon_end = full.ts[i].as_nanos() + 5 * tickloop_core::NANOS_PER_SECOND;
                // Labelled once a tick of the same symbol reaches the horizon.
                let covered =
                    all[..cut].iter().any(|t| t.symbol == full.symbols[i] && t.ts_event.as_nanos() >= horizon_end);
                if covered {
                    prop_assert_eq!(past.labels[i].to_bits(), full.labels[i].to_bits());
                } else {
                    prop_assert!(past.labels[i].is_nan(), "row {} labelled without its future", i);
                }
            }
        }
    }
}
