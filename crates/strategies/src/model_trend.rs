//! Trading on a model's predictions: long when the predicted next-horizon return clears a
//! threshold, short (or flat) when it is below minus the threshold, flat in between; the
//! position is full size, or scaled with the size of the predicted move.

use tickloop_core::{CalledFor, Outputs, Strategy, SymbolId, Tick};

/// See the module docs. Predictions reach the strategy when the pipeline emits them, which
/// is never before the prediction's own event time; orders are placed then and filled by
/// the broker after its latency, so a prediction cannot trade on the bar that produced it.
#[derive(Debug, Clone)]
pub struct ModelTrend {
    threshold: f64,
    allow_short: bool,
    /// The predicted return that earns a full position; `None`: every position is full.
    full_size: Option<f64>,
}

impl ModelTrend {
    /// `threshold_bps`: the predicted log return, in basis points, needed to hold a position.
    pub fn new(threshold_bps: f64, allow_short: bool) -> Self {
        ModelTrend { threshold: threshold_bps / 10_000.0, allow_short, full_size: None }
    }

    /// Sizes positions in proportion to the predicted return: a prediction of
    /// `full_size_bps` or more holds a full position, half that a half one.
    pub fn sized(mut self, full_size_bps: f64) -> Self {
        self.full_size = Some(full_size_bps / 10_000.0);
        self
    }

    fn weight(&self, predicted: f64) -> f64 {
        let size = |p: f64| self.full_size.map_or(1.0, |full| (p.abs() / full).min(1.0));
        if predicted >= self.threshold {
            size(predicted)
        } else if predicted <= -self.threshold && self.allow_short {
            -size(predicted)
        } else {
            0.0
        }
    }
}

impl Strategy for ModelTrend {
    fn on_tick(&mut self, _tick: &Tick, _out: &Outputs) -> Option<f64> {
        None
    }

    fn on_outputs(&mut self, _tick: &Tick, out: &Outputs, targets: &mut Vec<(SymbolId, f64)>) {
        targets.extend(out.predictions.iter().map(|p| (p.symbol, self.weight(p.value))));
    }

    fn reads_features(&self) -> bool {
        false
    }

    fn called_for(&self) -> CalledFor {
        CalledFor::PREDICTIONS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickloop_core::{Prediction, Timestamp};

    #[test]
    fn predictions_become_targets_for_their_own_symbols() {
        let mut s = ModelTrend::new(5.0, true);
        let prediction = |symbol: u32, value: f64| Prediction {
            symbol: SymbolId::new(symbol),
            ts_event: Timestamp::from_secs(0),
            model_version: "m/v1".into(),
            value,
            prob_up: None,
        };
        let out = Outputs {
            predictions: vec![prediction(3, 0.001), prediction(4, -0.0006), prediction(5, 0.0001)],
            ..Outputs::default()
        };
        let tick = Tick::at_price(SymbolId::new(0), Timestamp::from_secs(1), 10.0, 1.0);
        let mut targets = Vec::new();
        s.on_outputs(&tick, &out, &mut targets);
        assert_eq!(targets, [(SymbolId::new(3), 1.0), (SymbolId::new(4), -1.0), (SymbolId::new(5), 0.0)]);
        let mut long_only = ModelTrend::new(5.0, false);
        targets.clear();
        long_only.on_outputs(&tick, &out, &mut targets);
        assert_eq!(targets[1], (SymbolId::new(4), 0.0));
        let mut sized = ModelTrend::new(5.0, true).sized(20.0);
        targets.clear();
        sized.on_outputs(&tick, &out, &mut targets);
        let weights: Vec<f64> = targets.iter().map(|t| t.1).collect();
        assert!((weights[0] - 0.5).abs() < 1e-12 && (weights[1] + 0.3).abs() < 1e-12, "{weights:?}");
        assert_eq!(weights[2], 0.0, "below the threshold: flat");
    }
}
