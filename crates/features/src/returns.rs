use serde::{Deserialize, Serialize};

use crate::run::Vacant;

use crate::Indicator;

/// Which return a [`Return`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReturnKind {
    /// `x_t / x_{t−1} − 1`
    Simple,
    /// `ln(x_t / x_{t−1})`
    Log,
}

/// One-step return; `NaN` for the first value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Return {
    kind: ReturnKind,
    prev: Option<f64>,
    last: f64,
}

impl Return {
    pub fn new(kind: ReturnKind) -> Self {
        Return { kind, prev: None, last: f64::NAN }
    }
}

impl Indicator for Return {
    #[inline]
    fn update(&mut self, x: f64) -> f64 {
        self.last = match (self.prev.replace(x), self.kind) {
            (None, _) => f64::NAN,
            (Some(p), ReturnKind::Simple) => x / p - 1.0,
            (Some(p), ReturnKind::Log) => (x / p).ln(),
        };
        self.last
    }

    fn value(&self) -> f64 {
        self.last
    }
}

impl Vacant for Return {
    const VACANT: Self = Return { kind: ReturnKind::Simple, prev: None, last: f64::NAN };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_value_is_nan_then_ratio() {
        let mut r = Return::new(ReturnKind::Log);
        assert!(r.update(100.0).is_nan());
        assert!((r.update(110.0) - (1.1f64).ln()).abs() < 1e-15);
        let mut s = Return::new(ReturnKind::Simple);
        s.update(100.0);
        assert!((s.update(110.0) - 0.1).abs() < 1e-15);
    }
}
