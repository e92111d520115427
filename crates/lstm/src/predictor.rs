//! An LSTM with its card, as the [`Predictor`] every mode loads.

use std::path::Path;

use candle_core::Device;
use tickloop_models::{ModelCard, ModelError, Predictor};

use crate::{InferenceLstm, Lstm, device};

/// An LSTM with its card: the [`Predictor`] the pipeline and the model server use.
#[derive(Debug)]
pub struct LstmModel {
    card: ModelCard,
    lstm: Lstm,
    fast: InferenceLstm,
    /// Model outputs, less `offset`, are multiplied by this to give the target.
    target_scale: f64,
    offset: f64,
    device: Device,
}

impl LstmModel {
    pub fn new(card: ModelCard, lstm: Lstm, target_scale: f64) -> Result<Self, ModelError> {
        let fast = InferenceLstm::from_lstm(&lstm).map_err(|e| ModelError::Backend(e.to_string()))?;
        let offset = output_offset(&card);
        Ok(LstmModel { card, lstm, fast, target_scale, offset, device: device() })
    }

    /// Loads the version in `dir`; the card's `params.target_scale` rescales outputs.
    pub fn load(dir: &Path, card: ModelCard) -> Result<Self, ModelError> {
        let path = dir.join(&card.weights);
        let device = device();
        let lstm = Lstm::load(&path, &device).map_err(|e| ModelError::artifact(&path, e))?;
        if lstm.inputs != card.features.len() {
            return Err(ModelError::artifact(
                &path,
                format!("weights read {} features, the card lists {}", lstm.inputs, card.features.len()),
            ));
        }
        let target_scale = card.params["target_scale"].as_f64().ok_or_else(|| {
            ModelError::artifact(&dir.join(tickloop_models::CARD_FILE), "params.target_scale missing")
        })?;
        let fast = InferenceLstm::from_lstm(&lstm).map_err(|e| ModelError::artifact(&path, e))?;
        let offset = output_offset(&card);
        Ok(LstmModel { card, lstm, fast, target_scale, offset, device })
    }

    pub fn lstm(&self) -> &Lstm {
        &self.lstm
    }
}

/// `params.output_offset`: the median raw output over the training windows, which training
/// measures and prediction subtracts. The target (an excess return) is centred by
/// construction, but a few epochs on a weak signal leave the output layer's bias off by
/// more than the signal's whole range, and a constant offset would then decide the sign of
/// every prediction. The median rather than the mean: the outputs are skewed (a price drop
/// in progress is a large, confident negative), and centring their mean would leave most
/// of the ordinary predictions on one side of zero. Older cards have none (0).
fn output_offset(card: &ModelCard) -> f64 {
    card.params["output_offset"].as_f64().unwrap_or(0.0)
}

impl Predictor for LstmModel {
    fn card(&self) -> &ModelCard {
        &self.card
    }

    fn save(&self, dir: &Path) -> Result<(), ModelError> {
        tickloop_models::save_version(dir, &self.card, |path| self.lstm.save(path).map_err(|e| e.to_string()))
    }

    fn predict(&self, windows: &[f64]) -> Result<Vec<f64>, ModelError> {
        self.window_count(windows)?;
        let width = self.card.features.len();
        let mut x = Vec::with_capacity(windows.len());
        let mut row = vec![0.0; width];
        for raw in windows.chunks(width) {
            row.copy_from_slice(raw);
            self.card.normalizer.apply(&mut row);
            x.extend(row.iter().map(|&v| v as f32));
        }
        // On a GPU the batch goes through Candle; on CPU through the allocation-free path.
        let out = if self.device.is_cpu() {
            self.fast.forward(&x, self.card.window)
        } else {
            self.lstm.predict(&x, self.card.window, &self.device).map_err(|e| ModelError::Backend(e.to_string()))?
        };
        let per = self.card.window_len();
        Ok(out
            .into_iter()
            .zip(windows.chunks(per))
            .map(|(p, w)| self.card.to_return((f64::from(p) - self.offset) * self.target_scale, w))
            .collect())
    }
}
