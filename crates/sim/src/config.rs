use serde::{Deserialize, Serialize};
use tickloop_core::Timestamp;

/// Parameters of the synthetic market. The defaults look like a US equity session: prices
/// of $20–$500, 15–60 % annual volatility, U-shaped volume between 14:30 and 21:00 UTC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MarketConfig {
    pub seed: u64,
    pub symbols: usize,
    /// Regular session open, seconds after UTC midnight (14:30 = US open in winter).
    pub session_open_secs: i64,
    pub session_secs: i64,
    pub price_min: f64,
    pub price_max: f64,
    pub tick_size: f64,
    pub annual_vol_min: f64,
    pub annual_vol_max: f64,
    /// Stationary standard deviation of the log-volatility factor.
    pub vol_of_vol: f64,
    pub vol_half_life_secs: f64,
    /// Expected volatility-regime switches per symbol per session; 0 disables them.
    pub regime_shifts_per_session: f64,
    /// Volatility multiplier while in the high-volatility regime.
    pub high_vol_regime: f64,
    /// Share of return variance explained by the market-wide factor.
    pub market_share: f64,
    /// Loading of each second's return on a latent, persistent signal (in units of that
    /// second's volatility): the predictable part models can learn.
    pub signal_strength: f64,
    pub signal_half_life_secs: f64,
    pub volume_min: f64,
    pub volume_max: f64,
    /// Volume multiplier outside the regular session.
    pub off_session_volume: f64,
    pub volume_spikes_per_session: f64,
    pub price_drops_per_session: f64,
    pub exchange: String,
    pub currency: String,
}

impl Default for MarketConfig {
    fn default() -> Self {
        MarketConfig {
            seed: 42,
            symbols: 100,
            session_open_secs: 14 * 3600 + 30 * 60,
            session_secs: 23_400,
            price_min: 20.0,
            price_max: 500.0,
            tick_size: 0.01,
            annual_vol_min: 0.15,
            annual_vol_max: 0.60,
            vol_of_vol: 0.3,
            vol_half_life_secs: 1_800.0,
            regime_shifts_per_session: 0.5,
            high_vol_regime: 2.0,
            market_share: 0.3,
            signal_strength: 0.02,
            signal_half_life_secs: 300.0,
            volume_min: 50.0,
            volume_max: 5_000.0,
            off_session_volume: 0.05,
            volume_spikes_per_session: 1.0,
            price_drops_per_session: 0.5,
            exchange: "XNAS".to_owned(),
            currency: "USD".to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid market config: {0}")]
pub struct ConfigError(pub String);

impl MarketConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let check = |ok: bool, what: &str| {
            if ok { Ok(()) } else { Err(ConfigError(what.to_owned())) }
        };
        check(self.symbols > 0, "symbols must be at least 1")?;
        check(self.symbols <= 400_000, "at most 400,000 symbols (4-letter tickers run out)")?;
        check(0.0 < self.price_min && self.price_min <= self.price_max, "need 0 < price_min <= price_max")?;
        check(self.tick_size >= 0.0 && self.tick_size < self.price_min, "need 0 <= tick_size < price_min")?;
        check(
            0.0 < self.annual_vol_min && self.annual_vol_min <= self.annual_vol_max,
            "need 0 < annual_vol_min <= annual_vol_max",
        )?;
        check((0.0..1.0).contains(&self.market_share), "market_share must be in [0, 1)")?;
        check(self.session_secs > 0 && self.session_secs <= 86_400, "session_secs must be in 1..=86400")?;
        check(self.vol_half_life_secs > 0.0 && self.signal_half_life_secs > 0.0, "half-lives must be positive")?;
        check(0.0 < self.volume_min && self.volume_min <= self.volume_max, "need 0 < volume_min <= volume_max")?;
        check(self.high_vol_regime >= 1.0, "high_vol_regime must be >= 1")?;
        Ok(())
    }

    /// Per-second volatility from an annual one, over 252 sessions of `session_secs`.
    pub fn per_second_vol(&self, annual: f64) -> f64 {
        annual / (252.0 * self.session_secs as f64).sqrt()
    }

    /// Position in the regular session in `[0, 1)`, or `None` outside it.
    pub fn session_fraction(&self, ts: Timestamp) -> Option<f64> {
        let into = ts.second_of_day() - self.session_open_secs;
        (0..self.session_secs).contains(&into).then(|| into as f64 / self.session_secs as f64)
    }

    /// The best directional accuracy and R² any model can reach on next-`horizon_secs`
    /// log returns, if it knew the latent signal exactly (an oracle). Models are judged
    /// against this ceiling, not against 100 %.
    pub fn predictability_ceiling(&self, horizon_secs: u32) -> Ceiling {
        let rho = signal_rho(self.signal_half_life_secs);
        let a = self.signal_strength;
        let h = f64::from(horizon_secs);
        // Sum over the horizon of rho^k: the oracle's expected loading on today's signal.
        let loading: f64 = (1..=horizon_secs).map(|k| rho.powi(k as i32)).sum();
        let explained = a * a * loading * loading;
        // Variance of the horizon return in units of sigma²: noise plus the signal path.
        let mut signal_var = 0.0;
        for i in 1..=horizon_secs {
            for j in 1..=horizon_secs {
                signal_var += rho.powi((i as i32 - j as i32).abs());
            }
        }
        let total = h + a * a * signal_var;
        let r2 = explained / total;
        Ceiling { horizon_secs, r2, directional_accuracy: 0.5 + r2.sqrt().asin() / std::f64::consts::PI }
    }
}

/// See [`MarketConfig::predictability_ceiling`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ceiling {
    pub horizon_secs: u32,
    pub r2: f64,
    pub directional_accuracy: f64,
}

pub(crate) fn signal_rho(half_life_secs: f64) -> f64 {
    (-std::f64::consts::LN_2 / half_life_secs).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_ceiling_is_weak_but_real() {
        let c = MarketConfig::default().predictability_ceiling(60);
        assert!(c.r2 > 0.005 && c.r2 < 0.1, "{c:?}");
        assert!(c.directional_accuracy > 0.52 && c.directional_accuracy < 0.6, "{c:?}");
        let none = MarketConfig { signal_strength: 0.0, ..MarketConfig::default() }.predictability_ceiling(60);
        assert_eq!(none.directional_accuracy, 0.5);
    }
}
