//! Market records: the 1-second [`Tick`] that flows in, and the [`Bar`], [`Prediction`] and
//! [`Alert`] that flow out.

use serde::{Deserialize, Serialize};

use crate::{SymbolId, Timestamp};

/// A price in the quote currency. A newtype so a price is never added to a volume.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Price(pub f64);

impl Price {
    pub const fn get(self) -> f64 {
        self.0
    }

    /// Finite and strictly positive: the only prices the pipeline accepts.
    pub fn is_valid(self) -> bool {
        self.0.is_finite() && self.0 > 0.0
    }
}

/// A traded quantity (shares, contracts, coins).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Volume(pub f64);

impl Volume {
    pub const fn get(self) -> f64 {
        self.0
    }

    pub fn is_valid(self) -> bool {
        self.0.is_finite() && self.0 >= 0.0
    }
}

/// One second of trading in one symbol.
///
/// `ts_event` is the feed's time and the only time decisions use; `ts_recv` is when we
/// received the record and exists for latency accounting. Exchange and currency live in
/// [`crate::SymbolMeta`] so a tick stays `Copy`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Tick {
    pub symbol: SymbolId,
    pub ts_event: Timestamp,
    pub ts_recv: Timestamp,
    pub open: Price,
    pub high: Price,
    pub low: Price,
    pub close: Price,
    pub volume: Volume,
}

impl Tick {
    /// The replay order of the engine: event time, then symbol.
    pub fn replay_key(&self) -> (Timestamp, SymbolId) {
        (self.ts_event, self.symbol)
    }
}

/// An aggregate of ticks over `[ts_open, ts_close)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bar {
    pub symbol: SymbolId,
    pub ts_open: Timestamp,
    pub ts_close: Timestamp,
    pub open: Price,
    pub high: Price,
    pub low: Price,
    pub close: Price,
    pub volume: Volume,
    pub vwap: Price,
    pub tick_count: u32,
}

/// A model's output for one symbol at one event time. `model_version` is part of the
/// record's identity so outputs of different model versions never de-duplicate each other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub symbol: SymbolId,
    pub ts_event: Timestamp,
    pub model_version: String,
    /// Predicted next-horizon log return.
    pub value: f64,
    /// Probability that the return is positive, where the model gives one.
    pub prob_up: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    VolumeSpike,
    PriceDrop,
    ModelAnomaly,
}

/// A rule firing for one symbol at one event time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub symbol: SymbolId,
    pub ts_event: Timestamp,
    pub kind: AlertKind,
    /// The measured value that crossed the rule's threshold (a z-score, a return…).
    pub value: f64,
    pub threshold: f64,
    pub message: String,
}
