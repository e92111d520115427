//! tickloop-models: what models learn from and how they are judged.
//!
//! This crate sees datasets, never storage: the pipeline (`tickloop-pipeline`) runs over a
//! history source and hands rows here. Labels come from a separate [`Labeller`] that only
//! looks at ticks after a row's time, and which the pipeline never calls, so features
//! cannot see the future by construction (and a property test checks it).
//!
//! Models themselves (the Candle LSTM and gradient boosting) build on these pieces.

mod dataset;
mod eval;
mod label;

pub use dataset::{Dataset, Fold, Normalizer, walk_forward};
pub use eval::{Baseline, Score};
pub use label::Labeller;
