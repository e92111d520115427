use serde::{Deserialize, Serialize};

use crate::run::{Vacant, reciprocal};
use crate::{Indicator, Sma};

/// Bollinger bands: SMA(n) ± k × population standard deviation, computed as TA-Lib does
/// (running sums of squares; a variance below 1e-8 counts as zero). First value at `n − 1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bollinger {
    middle: Sma,
    k: f64,
    /// Sum of squares of the newest `n − 1` values once warmed up.
    squares: f64,
    bands: (f64, f64, f64),
}

impl Bollinger {
    pub fn new(window: usize, k: f64) -> Self {
        Bollinger { middle: Sma::new(window), k, squares: 0.0, bands: (f64::NAN, f64::NAN, f64::NAN) }
    }

    /// Feeds a value; returns `(upper, middle, lower)`.
    #[inline]
    pub fn update(&mut self, x: f64) -> (f64, f64, f64) {
        let n = self.middle.window();
        let mean = self.middle.update(x);
        self.squares += x * x;
        if mean.is_nan() {
            // Warming up, or a non-finite value in the window: no bands and no middle, `NaN`
            // like the SMA itself (a set's `sma_<n>` reads the middle).
            self.bands = (f64::NAN, f64::NAN, f64::NAN);
            return self.bands;
        }
        let mut variance = self.squares * reciprocal(n);
        let oldest = self.middle.oldest().unwrap_or(x);
        self.squares -= oldest * oldest;
        variance -= mean * mean;
        let sd = if variance < 0.000_000_01 { 0.0 } else { variance.sqrt() };
        let width = sd * self.k;
        self.bands = (mean + width, mean, mean - width);
        self.bands
    }
}

impl Vacant for Bollinger {
    const VACANT: Self = Bollinger { middle: Sma::VACANT, k: 0.0, squares: 0.0, bands: (f64::NAN, f64::NAN, f64::NAN) };
}
