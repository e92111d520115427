//! tickloop-features: the feature code shared by backtests, training-data generation, the
//! batch ETL job and live mode — train/serve parity by construction.
//!
//! Every indicator updates in O(1) time per value (amortised for rolling min/max) and never
//! allocates after construction, so one object serves a backtest over billions of ticks and
//! a live stream. Values are `NaN` until an indicator has enough history. Where TA-Lib
//! defines an indicator, values and first valid index match TA-Lib's (tested against golden
//! vectors TA-Lib produced, to 1e-9).

mod atr;
mod bars;
pub mod batch;
mod bollinger;
mod clean;
mod ema;
mod macd;
mod returns;
mod rolling;
mod rsi;
mod run;
mod sets;
mod sma;
mod spec;
mod trend;
mod vwap;
mod wire;

pub use atr::Atr;
pub use bars::BarAggregator;
pub use bollinger::Bollinger;
pub use clean::{Cleaner, CleaningPolicy, CleaningStats};
pub use ema::Ema;
pub use macd::Macd;
pub use returns::{Return, ReturnKind};
pub use rolling::{Extreme, RealizedVol, RollingExtreme, RollingMoments, VolumeZScore};
pub use rsi::Rsi;
pub use sets::FeatureSetDef;
pub use sma::Sma;
pub use spec::{Band, FeatureIndex, FeatureSet, FeatureSpec, MacdOutput, Scale, UnknownFeature};
pub use trend::TrendZ;
pub use vwap::Vwap;
pub use wire::{decode_json_tick, encode_json_tick};

/// An indicator over one scalar series (usually closes).
pub trait Indicator {
    /// Feeds the next value and returns the indicator's value after it (`NaN` while warming up).
    fn update(&mut self, x: f64) -> f64;

    /// The latest value without feeding anything.
    fn value(&self) -> f64;
}

/// One input to the feature set: a tick or a bar, reduced to what indicators read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ohlcv {
    pub ts_nanos: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

impl From<&tickloop_core::Tick> for Ohlcv {
    fn from(t: &tickloop_core::Tick) -> Self {
        Ohlcv {
            ts_nanos: t.ts_event.as_nanos(),
            open: t.open.get(),
            high: t.high.get(),
            low: t.low.get(),
            close: t.close.get(),
            volume: t.volume.get(),
        }
    }
}

impl From<&tickloop_core::Bar> for Ohlcv {
    fn from(b: &tickloop_core::Bar) -> Self {
        Ohlcv {
            ts_nanos: b.ts_close.as_nanos(),
            open: b.open.get(),
            high: b.high.get(),
            low: b.low.get(),
            close: b.close.get(),
            volume: b.volume.get(),
        }
    }
}
