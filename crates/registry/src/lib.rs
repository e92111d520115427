//! tickloop-registry: every model kind behind one door.
//!
//! [`load`] takes a path (a model directory, meaning its latest version, or one version
//! directory) and returns a [`Predictor`], whatever the kind: the backtest, the live runner,
//! the dashboard and the model server all load through it. [`TrainSpec`] says what to fit
//! and on which rows; [`TrainSpec::dataset`] runs the one pipeline over a lake range to
//! collect them, and [`fit_and_score`] fits the kind and scores it out of sample beside the
//! baselines — for `tickloop train`, `tickloop evaluate` and each walk-forward fold alike.
//! [`fit_seasonal`] fits the alert rules' seasonal baseline the same way, and
//! [`planted_ceilings`] says what a simulated lake held to be found, and [`PairedCeiling`]
//! scores the simulator's own best predictor on a model's test rows.

mod ceiling;
mod fit;
mod progress;
mod seasonal;

use std::path::Path;

use tickloop_gbm::GbmModel;
use tickloop_lstm::LstmModel;
use tickloop_models::{ModelError, ModelKind, Predictor};

pub use ceiling::{AgainstCeiling, Paired, PairedCeiling, Planted, planted_ceilings};
pub use fit::{Collected, Fitted, Scored, TrainSpec, blank_card, fit_and_score};
pub use progress::{ProgressSource, tick_bar};
pub use seasonal::{SeasonalFit, fit_seasonal};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("hyperparameters: {0}")]
    Params(#[from] toml::de::Error),
    #[error(transparent)]
    Engine(#[from] tickloop_core::EngineError),
    #[error(transparent)]
    Lake(#[from] tickloop_lake::LakeError),
    #[error(transparent)]
    Source(#[from] tickloop_core::SourceError),
    #[error("training the booster: {0}")]
    Gbm(#[from] tickloop_gbm::GbmError),
    #[error("training the LSTM: {0}")]
    Lstm(#[from] tickloop_lstm::LstmError),
    #[error("seasonal baseline: {0}")]
    Baseline(#[from] tickloop_alerts::BaselineError),
    /// Too little or no data, named with what to do about it.
    #[error("{0}")]
    Data(String),
}

/// Loads the model at `path`: a version directory, or a model directory (its latest
/// version), of any kind.
pub fn load(path: &Path) -> Result<Box<dyn Predictor>, ModelError> {
    let dir = tickloop_models::resolve(path)?;
    let card = tickloop_models::load_card(&dir)?;
    Ok(match card.kind {
        ModelKind::Gbm => Box::new(GbmModel::load(&dir, card)?),
        ModelKind::Lstm => Box::new(LstmModel::load(&dir, card)?),
    })
}
