use serde::{Deserialize, Serialize};

use crate::Indicator;
use crate::run::{Vacant, reciprocal};

/// Simple moving average over the last `window` values.
///
/// As TA-Lib's `TA_SMA` keeps it, a running total of the last `window − 1` values; each
/// update adds the new value and scales, then moves the total on by the new value less the
/// one leaving the window. TA-Lib divides the total by the window and subtracts the leaving
/// value after adding the new one; this multiplies by the window's [`reciprocal`] and adds
/// the difference, so values agree with TA-Lib's to ~5e-15 relative, not to the bit. First
/// value at index `window − 1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sma {
    ring: Vec<f64>,
    next: usize,
    seen: usize,
    /// Sum of the newest `window − 1` values once warmed up.
    total: f64,
    value: f64,
}

impl Sma {
    /// # Panics
    /// When `window` is 0: a zero-length average is a configuration error caught at parse time.
    pub fn new(window: usize) -> Self {
        assert!(window > 0, "SMA window must be at least 1");
        Sma { ring: vec![0.0; window], next: 0, seen: 0, total: 0.0, value: f64::NAN }
    }

    pub fn window(&self) -> usize {
        self.ring.len()
    }

    /// The means of the newest `counts[k]` values of the window (at most its length), each
    /// summed oldest first.
    pub(crate) fn means_of_last(&self, counts: [usize; 2]) -> [f64; 2] {
        means_of_last(&self.ring, self.next, counts)
    }

    /// The oldest value of the window (once it is full: the value that leaves next).
    pub(crate) fn oldest(&self) -> Option<f64> {
        self.ring.get(self.next).copied()
    }

    pub(crate) fn is_ready(&self) -> bool {
        self.seen >= self.ring.len()
    }
}

/// [`Sma::means_of_last`] over a ring whose oldest value is at `next`.
#[inline(never)]
fn means_of_last(ring: &[f64], next: usize, counts: [usize; 2]) -> [f64; 2] {
    let n = ring.len();
    counts.map(|k| {
        let k = k.min(n);
        (n - k..n).map(|i| ring[(next + i) % n]).fold(0.0, |a, b| a + b) / k as f64
    })
}

impl Indicator for Sma {
    #[inline]
    fn update(&mut self, x: f64) -> f64 {
        let n = self.ring.len();
        self.ring[self.next] = x;
        self.next = if self.next + 1 == n { 0 } else { self.next + 1 };
        self.seen = self.seen.saturating_add(1);
        if self.seen >= n {
            self.value = (self.total + x) * reciprocal(n);
            // The slot after the newest holds the oldest of the window: it leaves next time.
            // Added to the total as one difference, so the running total waits on one
            // addition a value, not two (the three SMAs in runs: 5.1 → 3.6 ns a value).
            self.total += x - self.ring[self.next];
        } else {
            self.total += x;
        }
        self.value
    }

    fn value(&self) -> f64 {
        self.value
    }
}

impl Vacant for Sma {
    const VACANT: Self = Sma { ring: Vec::new(), next: 0, seen: 0, total: 0.0, value: f64::NAN };
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
