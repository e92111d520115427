use serde::{Deserialize, Serialize};

use crate::run::Vacant;

/// Average true range with Wilder smoothing, as TA-Lib: true ranges from index 1, the first
/// ATR (index `n`) is their plain mean, then `atr = atr × (n − 1)/n + tr × 1/n`.
///
/// TA-Lib's source divides, `(atr × (n − 1) + tr) / n`, which puts a division (13+ cycles)
/// on the chain every value waits for; its published builds are compiled to multiply by
/// the two constants instead (`vmulsd` and one `vfmadd` in the `ta-lib` 0.8.2 wheel's
/// `TA_ATR`). So does this, without the fused multiply-add (not on every x86-64, and the
/// bits must not depend on the CPU): a multiply and an add on the chain. Within an ulp or
/// two of the division a step, and the smoothing shrinks old errors, so values stay within
/// 1e-9 of TA-Lib's (`tests/talib.rs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Atr {
    period: usize,
    prev_close: Option<f64>,
    ranges: usize,
    total: f64,
    value: f64,
}

impl Atr {
    pub fn new(period: usize) -> Self {
        assert!(period > 0, "ATR period must be at least 1");
        Atr { period, prev_close: None, ranges: 0, total: 0.0, value: f64::NAN }
    }

    #[inline]
    pub fn update(&mut self, high: f64, low: f64, close: f64) -> f64 {
        let Some(prev) = self.prev_close.replace(close) else { return self.value };
        let mut tr = high - low;
        tr = tr.max((prev - high).abs());
        tr = tr.max((prev - low).abs());
        self.ranges += 1;
        let n = self.period as f64;
        if self.ranges < self.period {
            self.total += tr;
        } else if self.ranges == self.period {
            self.total += tr;
            self.value = self.total / n;
        } else {
            let (keep, share) = wilder_weights(n);
            self.value = self.value * keep + tr * share;
        }
        self.value
    }

    pub fn value(&self) -> f64 {
        self.value
    }
}

/// Wilder's weights for a period of `n`: the previous average's, `(n − 1) / n`, and the new
/// value's, `1 / n`. Loop-invariant in a run, where the compiler computes them once.
#[inline(always)]
pub(crate) fn wilder_weights(n: f64) -> (f64, f64) {
    ((n - 1.0) / n, 1.0 / n)
}

impl Vacant for Atr {
    const VACANT: Self = Atr { period: 1, prev_close: None, ranges: 0, total: 0.0, value: f64::NAN };
}
