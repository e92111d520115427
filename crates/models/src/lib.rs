//! tickloop-models: what models learn from, how they are judged, and what every model
//! shares.
//!
//! This crate sees datasets, never storage: the pipeline (`tickloop-pipeline`) runs over a
//! history source and hands rows here. Labels come from a separate [`Labeller`] that only
//! looks at ticks after a row's time, and which the pipeline never calls, so features
//! cannot see the future by construction (and a property test checks it).
//!
//! The models themselves live in their own crates so their heavy dependencies stay out of
//! everything else: `tickloop-gbm` (gradient-boosted trees) and `tickloop-lstm` (Candle).
//! Both implement [`Predictor`] and save a [`ModelCard`] beside their weights.

mod dataset;
mod eval;
pub mod invocation;
mod label;
mod model;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod train_config;
mod window;

pub use dataset::{Dataset, Fold, Normalizer, Reference, walk_forward};
pub use eval::{Baseline, BaselineScore, Evaluation, Score};
pub use label::Labeller;
pub use model::{
    CARD_FILE, CARD_FORMAT, DataRange, ModelCard, ModelError, ModelKind, PredictionJson, Predictor, Target,
    TrainedSpan, load_card, next_version, prediction_id, prediction_json, resolve, save_card, save_version, versions,
    write_prediction_json,
};
pub use train_config::TrainConfig;
pub use window::WindowBuffer;
