use serde::{Deserialize, Serialize};

use crate::run::Vacant;

use crate::Indicator;

/// TA-Lib's test for "zero" in RSI and Bollinger (`TA_IS_ZERO`): |v| < 1e-8.
pub(crate) fn ta_is_zero(v: f64) -> bool {
    -0.000_000_01 < v && v < 0.000_000_01
}

/// Wilder's relative strength index, as TA-Lib computes it: the first average gain and loss
/// are plain means over the first `n` changes (first value at index `n`), then smoothed
/// with `avg = avg × (n − 1)/n + x × 1/n` (multiplied, not divided, as TA-Lib's published
/// builds do: see [`Atr`](crate::Atr)). A flat window gives 0, as in TA-Lib.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rsi {
    period: usize,
    prev: Option<f64>,
    changes: usize,
    gain: f64,
    loss: f64,
    value: f64,
}

impl Rsi {
    pub fn new(period: usize) -> Self {
        assert!(period > 0, "RSI period must be at least 1");
        Rsi { period, prev: None, changes: 0, gain: 0.0, loss: 0.0, value: f64::NAN }
    }
}

impl Indicator for Rsi {
    #[inline]
    fn update(&mut self, x: f64) -> f64 {
        let Some(prev) = self.prev.replace(x) else { return self.value };
        let change = x - prev;
        let n = self.period as f64;
        self.changes += 1;
        if self.changes <= self.period {
            if change < 0.0 {
                self.loss -= change;
            } else {
                self.gain += change;
            }
            if self.changes < self.period {
                return self.value;
            }
            self.loss /= n;
            self.gain /= n;
        } else {
            // Both sides move every time, one of them by nothing: adding −0 and taking away
            // +0 leave any value exactly as it is, so this is the branch on the sign of the
            // change that TA-Lib takes, without a branch to mispredict on every other tick.
            let (up, down) = if change < 0.0 { (-0.0, change) } else { (change, 0.0) };
            let (keep, share) = crate::atr::wilder_weights(n);
            self.loss = self.loss * keep - down * share;
            self.gain = self.gain * keep + up * share;
        }
        let total = self.gain + self.loss;
        self.value = if ta_is_zero(total) { 0.0 } else { 100.0 * (self.gain / total) };
        self.value
    }

    fn value(&self) -> f64 {
        self.value
    }
}

impl Vacant for Rsi {
    const VACANT: Self = Rsi { period: 1, prev: None, changes: 0, gain: 0.0, loss: 0.0, value: f64::NAN };
}
