use serde::{Deserialize, Serialize};

use crate::run::Vacant;

/// Average true range with Wilder smoothing, as TA-Lib: true ranges from index 1, the first
/// ATR (index `n`) is their plain mean, then `atr = (atr × (n − 1) + tr) / n`.
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
            self.value = (self.value * (n - 1.0) + tr) / n;
        }
        self.value
    }

    pub fn value(&self) -> f64 {
        self.value
    }
}

impl Vacant for Atr {
    const VACANT: Self = Atr { period: 1, prev_close: None, ranges: 0, total: 0.0, value: f64::NAN };
}
