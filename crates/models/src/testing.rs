//! Stand-ins for tests of code that serves or consumes models (enabled by the `testing`
//! feature): a card with every field filled, and a predictor whose answers are easy to check.

use crate::{CARD_FORMAT, DataRange, Evaluation, ModelCard, ModelError, ModelKind, Normalizer, Predictor, Score};

/// A gradient-boosting card named `m/v1` over `features`, one row per window.
pub fn card(features: &[&str]) -> ModelCard {
    let score = Score { rows: 0, mae: 0.0, rmse: 0.0, directional_accuracy: 0.0, ic: 0.0 };
    ModelCard {
        format: CARD_FORMAT,
        name: "m".into(),
        version: 1,
        kind: ModelKind::Gbm,
        features: features.iter().map(|s| s.to_string()).collect(),
        window: 1,
        horizon_secs: 60,
        normalizer: Normalizer { mean: vec![0.0; features.len()], std: vec![1.0; features.len()] },
        weights: "model.json".into(),
        data: DataRange { source: "x".into(), from: "2024-01-02".into(), to: "2024-01-02".into(), rows: 0, symbols: 0 },
        seed: 7,
        git_commit: None,
        params: serde_json::json!({}),
        validation: Evaluation { model: score, baselines: vec![] },
        trained_on: None,
        target: crate::Target::Return,
    }
}

/// Predicts each window's sum.
#[derive(Debug)]
pub struct SumModel(pub ModelCard);

impl Predictor for SumModel {
    fn card(&self) -> &ModelCard {
        &self.0
    }

    fn predict(&self, windows: &[f64]) -> Result<Vec<f64>, ModelError> {
        self.window_count(windows)?;
        Ok(windows.chunks(self.0.window_len()).map(|w| w.iter().sum()).collect())
    }

    fn save(&self, _: &std::path::Path) -> Result<(), ModelError> {
        Ok(())
    }
}
