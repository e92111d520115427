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
    /// A tick that traded at one price (open = high = low = close), received when it
    /// happened: a trade print, or a test fixture.
    pub fn at_price(symbol: SymbolId, ts: Timestamp, price: f64, volume: f64) -> Tick {
        let p = Price(price);
        Tick { symbol, ts_event: ts, ts_recv: ts, open: p, high: p, low: p, close: p, volume: Volume(volume) }
    }

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

/// A prediction whose horizon has passed, beside what happened: the pipeline emits one when
/// the first tick at or after the horizon arrives.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MaturedPrediction {
    pub symbol: SymbolId,
    /// When the prediction was made.
    pub predicted_at: Timestamp,
    /// The predicted log return over the horizon.
    pub predicted: f64,
    /// The log return that happened (close at the horizon's tick over close then).
    pub realized: f64,
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

/// Why the cleaning stage refused (or repaired) a record. Machine-readable: it is the
/// `reason` header of a dead letter and the key of the per-reason counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// A required field is absent or null.
    MissingField,
    /// A field is not a number where one is required, or a timestamp does not parse.
    Malformed,
    /// A price or volume is NaN or infinite.
    NotFinite,
    /// A price is zero or negative.
    NonPositivePrice,
    NegativeVolume,
    /// `high < low`.
    HighBelowLow,
    /// Open or close outside `[low, high]`.
    OutsideRange,
    /// The same `(symbol, ts_event)` was seen already.
    Duplicate,
    /// `ts_event` is later than `ts_recv` plus the allowed clock skew.
    FutureTimestamp,
    /// Older than the symbol's latest tick by more than the allowed lateness.
    Late,
    /// The symbol name is not acceptable (empty, too long, odd characters).
    BadSymbol,
}

impl RejectReason {
    pub const ALL: [RejectReason; 11] = [
        RejectReason::MissingField,
        RejectReason::Malformed,
        RejectReason::NotFinite,
        RejectReason::NonPositivePrice,
        RejectReason::NegativeVolume,
        RejectReason::HighBelowLow,
        RejectReason::OutsideRange,
        RejectReason::Duplicate,
        RejectReason::FutureTimestamp,
        RejectReason::Late,
        RejectReason::BadSymbol,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::MissingField => "missing_field",
            RejectReason::Malformed => "malformed",
            RejectReason::NotFinite => "not_finite",
            RejectReason::NonPositivePrice => "non_positive_price",
            RejectReason::NegativeVolume => "negative_volume",
            RejectReason::HighBelowLow => "high_below_low",
            RejectReason::OutsideRange => "outside_range",
            RejectReason::Duplicate => "duplicate",
            RejectReason::FutureTimestamp => "future_timestamp",
            RejectReason::Late => "late",
            RejectReason::BadSymbol => "bad_symbol",
        }
    }
}

impl std::fmt::Display for RejectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A record the cleaning stage refused, with why: what goes to the dead-letter sink.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejection {
    pub reason: RejectReason,
    /// Human-readable detail naming the field and value (`"close = -1"`).
    pub detail: String,
    /// The record as it arrived, when it was a tick.
    pub tick: Option<Tick>,
    /// The raw record (truncated to 4 KiB) when it could not be decoded into a tick.
    pub raw: Option<String>,
}
