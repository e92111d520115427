use serde::{Deserialize, Serialize};

use crate::Indicator;

/// `ln(x_t / x_{t-1})`; `NaN` for the first value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogReturn {
    prev: Option<f64>,
    last: f64,
}

impl LogReturn {
    pub fn new() -> Self {
        LogReturn { prev: None, last: f64::NAN }
    }
}

impl Indicator for LogReturn {
    fn update(&mut self, x: f64) -> f64 {
        self.last = self.prev.map_or(f64::NAN, |p| (x / p).ln());
        self.prev = Some(x);
        self.last
    }

    fn value(&self) -> f64 {
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_value_is_nan_then_log_ratio() {
        let mut r = LogReturn::new();
        assert!(r.update(100.0).is_nan());
        assert!((r.update(110.0) - (1.1f64).ln()).abs() < 1e-15);
    }
}
