//! tickloop-sim: a seeded synthetic stock market at 1-second resolution.
//!
//! What makes it useful for testing a trading-ML stack, rather than a random walk:
//! per-symbol price levels and volatilities, a stochastic-volatility factor, occasional
//! volatility-regime shifts, a market-wide factor, U-shaped intraday volume, a weak but
//! real predictable component with known ceilings (an oracle's,
//! [`MarketConfig::predictability_ceiling`]; the best estimate from observed prices, in
//! closed form, [`MarketConfig::observable_ceiling`], and measured by a Kalman filter on the
//! generated ticks, [`MarketSim::measured_ceilings`]),
//! and planted anomalies (volume spikes, sharp price drops) with labels ([`AnomalyLabel`])
//! to score alert rules against. Same config and seed ⇒ the same ticks, bit for bit.

mod ceiling;
mod config;
mod market;
mod path;

pub use ceiling::{CeilingPredictions, Measured, MeasuredCeilings};
pub use config::{Ceiling, Ceilings, ConfigError, MarketConfig};
pub use market::MarketSim;
pub use path::{AnomalyLabel, SymbolParams};
pub use tickloop_core::Rng;
