use serde::{Deserialize, Serialize};

use crate::run::Vacant;

use crate::Indicator;

/// `trend_z_<n>`: how far the log close sits above its exponential average over `n` ticks,
/// in units of that distance's own typical size — a volatility-normalised trend.
///
/// `(ln c − m) / (σ · sqrt(n / 2))`, where `m` is the EWMA of `ln c` with weight `1/n` and
/// `σ²` the bias-corrected EWMA of squared one-tick log returns with weight `1/(4n)`. The
/// numerator is an exponentially weighted sum of past returns (decay `1 − 1/n`), which is
/// what the Kalman filter of a persistent AR(1) drift reduces to in steady state; dividing
/// by `σ · sqrt(n/2)` (its standard deviation when returns are noise) puts a calm and a wild
/// symbol on one scale, about N(0, 1), so one model serves both. `NaN` for the first `n`
/// values; 0 while the price has not moved at all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendZ {
    period: usize,
    seen: usize,
    last_log: f64,
    mean_log: f64,
    /// EWMA of squared returns, and `(1 − β)^returns` for its bias correction.
    square: f64,
    decay_pow: f64,
    value: f64,
}

impl TrendZ {
    pub fn new(period: usize) -> Self {
        assert!(period > 0, "trend period must be at least 1");
        TrendZ { period, seen: 0, last_log: f64::NAN, mean_log: f64::NAN, square: 0.0, decay_pow: 1.0, value: f64::NAN }
    }

    /// The weights of the average (`1/n`) and of the variance (`1/(4n)`).
    pub(crate) fn weights(period: usize) -> (f64, f64) {
        (1.0 / period as f64, 1.0 / (4.0 * period as f64))
    }

    /// The normalised distance from the average, once `period` returns are in.
    pub(crate) fn score(period: usize, returns: usize, deviation: f64, variance: f64) -> f64 {
        if returns < period {
            return f64::NAN;
        }
        let scale = (variance * period as f64 / 2.0).sqrt();
        if scale > 0.0 { deviation / scale } else { 0.0 }
    }

    /// [`Indicator::update`] given the close's `ln`: a replay takes the logs of a run's
    /// closes once for every trend of the set.
    #[inline]
    pub(crate) fn step(&mut self, l: f64) -> f64 {
        let (alpha, beta) = TrendZ::weights(self.period);
        if self.seen == 0 {
            self.mean_log = l;
        } else {
            let r = l - self.last_log;
            self.mean_log += alpha * (l - self.mean_log);
            self.square += beta * (r * r - self.square);
            self.decay_pow *= 1.0 - beta;
        }
        self.last_log = l;
        self.seen += 1;
        let variance = if self.seen > 1 { self.square / (1.0 - self.decay_pow) } else { 0.0 };
        self.value = TrendZ::score(self.period, self.seen - 1, l - self.mean_log, variance);
        self.value
    }
}

impl Indicator for TrendZ {
    #[inline]
    fn update(&mut self, close: f64) -> f64 {
        self.step(close.ln())
    }

    fn value(&self) -> f64 {
        self.value
    }
}

impl Vacant for TrendZ {
    const VACANT: Self = TrendZ {
        period: 1,
        seen: 0,
        last_log: f64::NAN,
        mean_log: f64::NAN,
        square: 0.0,
        decay_pow: 1.0,
        value: f64::NAN,
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steady_climb_scores_positive_a_fall_negative_and_a_flat_price_zero() {
        let mut up = TrendZ::new(5);
        let mut down = TrendZ::new(5);
        let mut flat = TrendZ::new(5);
        for i in 0..5 {
            assert!(up.update(100.0 + i as f64).is_nan(), "warming up at {i}");
            down.update(100.0 - i as f64);
            flat.update(100.0);
        }
        assert!(up.update(105.0) > 0.0);
        assert!(down.update(95.0) < 0.0);
        assert_eq!(flat.update(100.0), 0.0);
    }

    #[test]
    fn noise_scores_about_unit_variance_whatever_its_volatility() {
        for vol in [1e-4, 1e-2] {
            let mut rng = tickloop_core::Rng::new(7, 1);
            let mut z = TrendZ::new(60);
            let (mut lp, mut sum2, mut n) = (0.0f64, 0.0, 0);
            for i in 0..200_000 {
                lp += vol * rng.normal();
                let v = z.update(100.0 * lp.exp());
                if i > 2_000 {
                    sum2 += v * v;
                    n += 1;
                }
            }
            let var = sum2 / n as f64;
            assert!((var - 1.0).abs() < 0.1, "vol {vol}: variance {var}");
        }
    }
}
