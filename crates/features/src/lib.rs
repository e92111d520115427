//! Incremental indicators. Every indicator updates in O(1) time and memory per value and
//! never allocates after construction, so the same object serves a backtest over billions
//! of ticks and a live stream. Values are `NaN` until the indicator has enough history.

mod returns;
mod sma;
mod spec;

pub use returns::LogReturn;
pub use sma::Sma;
pub use spec::{FeatureIndex, FeatureSpec, FeatureState, UnknownFeature};

/// An indicator over one scalar series (usually closes).
pub trait Indicator {
    /// Feeds the next value and returns the indicator's value after it (`NaN` while warming up).
    fn update(&mut self, x: f64) -> f64;

    /// The latest value without feeding anything.
    fn value(&self) -> f64;
}
