//! tickloop-sim: a seeded synthetic stock market at 1-second resolution.
//!
//! What makes it useful for testing a trading-ML stack, rather than a random walk:
//! per-symbol price levels and volatilities, a stochastic-volatility factor, occasional
//! volatility-regime shifts, a market-wide factor, U-shaped intraday volume, a weak but
//! real predictable component with a known ceiling ([`MarketConfig::predictability_ceiling`]),
//! and planted anomalies (volume spikes, sharp price drops) with labels ([`AnomalyLabel`])
//! to score alert rules against. Same config and seed ⇒ the same ticks, bit for bit.

mod config;
mod market;
mod path;

pub use config::{Ceiling, Ceilings, ConfigError, MarketConfig};
pub use market::MarketSim;
pub use path::{AnomalyLabel, SymbolParams};
pub use tickloop_core::Rng;
