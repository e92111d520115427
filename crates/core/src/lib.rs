//! tickloop-core: the vocabulary every other crate speaks.
//!
//! Everything the engine runs is pure: no I/O, no wall clock, no hash-map iteration order.
//! (The wall clock is here for the edges only: [`WallClock`], and [`Paced`], which slows a
//! replay to market speed.) Time comes
//! from events ([`Timestamp`] on each [`Tick`]), symbols are dense interned ids
//! ([`SymbolId`]) so per-symbol state lives in `Vec`s, and the [`Engine`] drives any
//! [`Source`] through one [`Component`] (the pipeline) into any number of [`Sink`]s.

mod clock;
mod component;
mod engine;
mod hex;
mod market;
mod pace;
mod prefetch;
mod rng;
mod span;
mod stats;
mod strategy;
mod symbol;
mod time;

pub use clock::{Clock, EventClock, WallClock};
pub use component::{Component, Outputs, Snapshot, SnapshotError};
pub use engine::{
    CalledFor, DEFAULT_BLOCK_TICKS, Engine, EngineError, EngineStats, Sink, SinkError, Source, SourceError, VecSource,
};
pub use hex::hex;
pub use market::{Alert, AlertKind, Bar, MaturedPrediction, Prediction, Price, RejectReason, Rejection, Tick, Volume};
pub use pace::Paced;
pub use prefetch::Prefetched;
pub use rng::Rng;
pub use span::{Span, SpanParseError};
pub use stats::{MIN_CROSS_SECTION, rank_correlation};
pub use strategy::Strategy;
pub use symbol::{SymbolId, SymbolMeta, SymbolTable, SymbolTableError};
pub use time::{
    NANOS_PER_HOUR, NANOS_PER_MINUTE, NANOS_PER_SECOND, Rfc3339Text, Timestamp, TimestampParseError, rfc3339,
};
