use serde::{Deserialize, Serialize};

use crate::Indicator;

/// Simple moving average over the last `window` values, kept as a running sum over a ring
/// buffer (TA-Lib's own method), so each update is one add and one subtract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sma {
    ring: Vec<f64>,
    next: usize,
    filled: usize,
    sum: f64,
}

impl Sma {
    /// # Panics
    /// When `window` is 0: a zero-length average is a configuration error caught at parse time.
    pub fn new(window: usize) -> Self {
        assert!(window > 0, "SMA window must be at least 1");
        Sma { ring: vec![0.0; window], next: 0, filled: 0, sum: 0.0 }
    }

    pub fn window(&self) -> usize {
        self.ring.len()
    }
}

impl Indicator for Sma {
    fn update(&mut self, x: f64) -> f64 {
        let old = std::mem::replace(&mut self.ring[self.next], x);
        self.next = (self.next + 1) % self.ring.len();
        if self.filled == self.ring.len() {
            self.sum += x - old;
        } else {
            self.sum += x;
            self.filled += 1;
        }
        self.value()
    }

    fn value(&self) -> f64 {
        if self.filled == self.ring.len() { self.sum / self.ring.len() as f64 } else { f64::NAN }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn incremental_equals_batch_mean(xs in proptest::collection::vec(1.0f64..1000.0, 1..300), window in 1usize..40) {
            let mut sma = Sma::new(window);
            for (i, &x) in xs.iter().enumerate() {
                let got = sma.update(x);
                if i + 1 < window {
                    prop_assert!(got.is_nan());
                } else {
                    let batch: f64 = xs[i + 1 - window..=i].iter().sum::<f64>() / window as f64;
                    prop_assert!((got - batch).abs() <= 1e-9 * batch.abs(), "at {i}: {got} vs {batch}");
                }
            }
        }
    }
}
