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
    /// log returns, if it knew the latent signal exactly (an oracle). No model can know it:
    /// [`MarketConfig::observable_ceiling`] is the target a model can actually reach.
    pub fn predictability_ceiling(&self, horizon_secs: u32) -> Ceiling {
        self.ceiling_knowing(horizon_secs, 1.0)
    }

    /// The best a model can do from *observed prices*: a Kalman filter that knows the
    /// generative model (signal loading, half-life, each second's volatility) and sees each
    /// second's return, with the market factor's share of the noise removed when
    /// `market_neutral` (what the cross-section of all symbols reveals) or not (one
    /// symbol's prices alone). The filter's estimate explains only part of the signal — the
    /// rest is buried in noise — and that part bounds every model's edge. Price rounding is
    /// left out, so this is an upper bound a little above what the filter reaches on
    /// rounded prices.
    pub fn observable_ceiling(&self, horizon_secs: u32, market_neutral: bool) -> Ceiling {
        let noise = if market_neutral { 1.0 - self.market_share } else { 1.0 };
        let known = filtered_signal_variance(self.signal_strength, signal_rho(self.signal_half_life_secs), noise);
        self.ceiling_knowing(horizon_secs, known)
    }

    /// The ceiling of a predictor whose estimate of the (unit-variance) signal has variance
    /// `known`: 1 for the oracle, less for anyone who must estimate it.
    fn ceiling_knowing(&self, horizon_secs: u32, known: f64) -> Ceiling {
        let rho = signal_rho(self.signal_half_life_secs);
        let a = self.signal_strength;
        let h = f64::from(horizon_secs);
        // Sum over the horizon of rho^k: the expected loading of the horizon return on
        // today's signal.
        let loading: f64 = (1..=horizon_secs).map(|k| rho.powi(k as i32)).sum();
        let explained = a * a * loading * loading * known;
        // Variance of the horizon return in units of sigma²: noise plus the signal path.
        let mut signal_var = 0.0;
        for i in 1..=horizon_secs {
            for j in 1..=horizon_secs {
                signal_var += rho.powi((i as i32 - j as i32).abs());
            }
        }
        let total = h + a * a * signal_var;
        let r2 = explained / total;
        let r = r2.sqrt();
        Ceiling {
            horizon_secs,
            r2,
            // For a prediction and an outcome that are jointly Gaussian with correlation r.
            directional_accuracy: 0.5 + r.asin() / std::f64::consts::PI,
            information_coefficient: 6.0 / std::f64::consts::PI * (r / 2.0).asin(),
        }
    }
}

/// Steady-state variance of the Kalman filter's estimate of a unit-variance AR(1) signal
/// `s' = rho s + sqrt(1 − rho²) w`, observed as `y = a s + v` with `Var(v) = noise`: `1 − P`,
/// `P` the filter's posterior variance at the Riccati equation's fixed point (closed form).
fn filtered_signal_variance(a: f64, rho: f64, noise: f64) -> f64 {
    if a == 0.0 {
        return 0.0;
    }
    let q = 1.0 - rho * rho;
    // The prior variance x solves a² x² + (noise·q − q·a²) x − q·noise = 0.
    let b = noise * q - q * a * a;
    let prior = (-b + (b * b + 4.0 * a * a * q * noise).sqrt()) / (2.0 * a * a);
    let posterior = prior * noise / (a * a * prior + noise);
    1.0 - posterior
}

/// The three ceilings of one horizon, written to `labels/market.json` beside the data.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ceilings {
    /// Knowing the latent signal: what no model can reach.
    pub oracle: Ceiling,
    /// The best estimate from one symbol's own prices: what a per-symbol model can reach.
    pub own_prices: Ceiling,
    /// The best estimate with the market factor taken out using every symbol.
    pub market_neutral: Ceiling,
}

impl MarketConfig {
    pub fn ceilings(&self, horizon_secs: u32) -> Ceilings {
        Ceilings {
            oracle: self.predictability_ceiling(horizon_secs),
            own_prices: self.observable_ceiling(horizon_secs, false),
            market_neutral: self.observable_ceiling(horizon_secs, true),
        }
    }
}

/// See [`MarketConfig::predictability_ceiling`] and [`MarketConfig::observable_ceiling`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ceiling {
    pub horizon_secs: u32,
    pub r2: f64,
    pub directional_accuracy: f64,
    /// Spearman rank correlation of the prediction with the realised return.
    pub information_coefficient: f64,
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

    #[test]
    fn what_prices_reveal_is_far_less_than_the_oracle_knows_and_more_with_the_cross_section() {
        let cfg = MarketConfig::default();
        let oracle = cfg.predictability_ceiling(60);
        let own = cfg.observable_ceiling(60, false);
        let neutral = cfg.observable_ceiling(60, true);
        assert!(0.5 < own.directional_accuracy, "{own:?}");
        assert!(own.directional_accuracy < neutral.directional_accuracy, "{own:?} {neutral:?}");
        assert!(neutral.directional_accuracy < oracle.directional_accuracy, "{neutral:?} {oracle:?}");
        // The default market: about 51.2 % from one symbol's prices, 51.4 % market-neutral.
        assert!((own.directional_accuracy - 0.5124).abs() < 5e-4, "{own:?}");
        assert!((neutral.directional_accuracy - 0.5144).abs() < 5e-4, "{neutral:?}");
        assert!(own.information_coefficient > 0.03 && own.information_coefficient < own.r2.sqrt());
        // A loud signal is almost fully revealed by the prices.
        let loud = MarketConfig { signal_strength: 1.0, ..cfg.clone() };
        let seen = loud.observable_ceiling(60, false).r2 / loud.predictability_ceiling(60).r2;
        assert!(seen > 0.9, "{seen}");
        assert_eq!(MarketConfig { signal_strength: 0.0, ..cfg }.observable_ceiling(60, true).r2, 0.0);
    }

    #[test]
    fn the_closed_form_filter_variance_is_the_riccati_fixed_point() {
        let (a, rho, noise) = (0.02, signal_rho(300.0), 0.7);
        let (q, mut posterior) = (1.0 - rho * rho, 1.0);
        for _ in 0..200_000 {
            let prior = rho * rho * posterior + q;
            posterior = prior * noise / (a * a * prior + noise);
        }
        let closed = filtered_signal_variance(a, rho, noise);
        assert!((closed - (1.0 - posterior)).abs() < 1e-9, "{closed} vs {}", 1.0 - posterior);
    }
}
