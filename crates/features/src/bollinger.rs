use serde::{Deserialize, Serialize};

use crate::run::Vacant;

use crate::Sma;

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
        let n = self.middle.window() as f64;
        if let Some(total) = self.push(x) {
            let mean = self.middle.settle(total);
            if !mean.is_nan() {
                self.bands = self.bands(mean, self.squares / n);
                self.forget_oldest();
            }
        }
        self.bands
    }

    /// Adds `x`; once the window is full, returns its total.
    #[inline(always)]
    fn push(&mut self, x: f64) -> Option<f64> {
        let total = self.middle.push(x);
        self.squares += x * x;
        total
    }

    /// Takes the square of the value that leaves the window next out of the sum.
    #[inline(always)]
    fn forget_oldest(&mut self) {
        let oldest = self.middle.oldest_first().next().unwrap_or(f64::NAN);
        self.squares -= oldest * oldest;
    }

    /// The bands around `mean` from the window's mean square, as TA-Lib computes them.
    #[inline(always)]
    fn bands(&self, mean: f64, mean_square: f64) -> (f64, f64, f64) {
        let variance = mean_square - mean * mean;
        let sd = if variance < 0.000_000_01 { 0.0 } else { variance.sqrt() };
        let width = sd * self.k;
        (mean + width, mean, mean - width)
    }
}

impl Vacant for Bollinger {
    const VACANT: Self = Bollinger { middle: Sma::VACANT, k: 0.0, squares: 0.0, bands: (f64::NAN, f64::NAN, f64::NAN) };
}
