use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::Indicator;

/// Which extreme a [`RollingExtreme`] tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Extreme {
    Min,
    Max,
}

/// Rolling minimum or maximum of the last `n` values (TA-Lib's MIN/MAX, first value at
/// `n − 1`) with a monotonic deque: amortised O(1), and the deque never outgrows `n`, so
/// it allocates once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollingExtreme {
    window: usize,
    extreme: Extreme,
    seen: u64,
    /// `(index, value)`, values monotonic from front (the extreme) to back.
    deque: VecDeque<(u64, f64)>,
}

impl RollingExtreme {
    pub fn new(window: usize, extreme: Extreme) -> Self {
        assert!(window > 0, "window must be at least 1");
        RollingExtreme { window, extreme, seen: 0, deque: VecDeque::with_capacity(window) }
    }

    fn dominates(&self, a: f64, b: f64) -> bool {
        match self.extreme {
            Extreme::Min => a <= b,
            Extreme::Max => a >= b,
        }
    }
}

impl Indicator for RollingExtreme {
    fn update(&mut self, x: f64) -> f64 {
        let i = self.seen;
        self.seen += 1;
        while self.deque.back().is_some_and(|&(_, v)| self.dominates(x, v)) {
            self.deque.pop_back();
        }
        self.deque.push_back((i, x));
        while self.deque.front().is_some_and(|&(j, _)| j + self.window as u64 <= i) {
            self.deque.pop_front();
        }
        self.value()
    }

    fn value(&self) -> f64 {
        if self.seen >= self.window as u64 { self.deque.front().map_or(f64::NAN, |&(_, v)| v) } else { f64::NAN }
    }
}

/// A ring of the last `n` values with their running sum, re-added exactly from the ring
/// every `n` pushes so rounding drift stays bounded (amortised O(1)). Counts the non-zero
/// values so an all-zero window is known exactly, whatever the rounding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RollingSum {
    ring: Vec<f64>,
    next: usize,
    seen: usize,
    sum: f64,
    nonzero: usize,
}

impl RollingSum {
    pub(crate) fn new(window: usize) -> Self {
        assert!(window > 0, "window must be at least 1");
        RollingSum { ring: vec![0.0; window], next: 0, seen: 0, sum: 0.0, nonzero: 0 }
    }

    pub(crate) fn push(&mut self, x: f64) {
        let n = self.ring.len();
        let old = std::mem::replace(&mut self.ring[self.next], x);
        if self.seen >= n {
            self.sum -= old;
            self.nonzero -= usize::from(old != 0.0);
        }
        self.sum += x;
        self.nonzero += usize::from(x != 0.0);
        self.next = if self.next + 1 == n { 0 } else { self.next + 1 };
        self.seen += 1;
        if self.next == 0 {
            self.sum = self.ring.iter().sum();
        }
    }

    pub(crate) fn is_full(&self) -> bool {
        self.seen >= self.ring.len()
    }

    pub(crate) fn sum(&self) -> f64 {
        if self.nonzero == 0 { 0.0 } else { self.sum }
    }

    pub(crate) fn window(&self) -> usize {
        self.ring.len()
    }
}

/// Mean and population variance of the last `n` values: a sliding Welford update, an exact
/// two-pass recomputation every `n` pushes (amortised O(1)) or when the variance collapses
/// by seven orders of magnitude within the window, and an exact test for a
/// constant window (the trailing run of equal values), where rounding would otherwise
/// invent a tiny variance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollingMoments {
    ring: Vec<f64>,
    next: usize,
    seen: usize,
    mean: f64,
    m2: f64,
    run: usize,
}

impl RollingMoments {
    pub fn new(window: usize) -> Self {
        assert!(window > 0, "window must be at least 1");
        RollingMoments { ring: vec![0.0; window], next: 0, seen: 0, mean: 0.0, m2: 0.0, run: 0 }
    }

    pub fn push(&mut self, x: f64) {
        let n = self.ring.len();
        let last = self.ring[if self.next == 0 { n - 1 } else { self.next - 1 }];
        self.run = if self.seen > 0 && x == last { self.run + 1 } else { 1 };
        let old = std::mem::replace(&mut self.ring[self.next], x);
        if self.seen >= n {
            let mean = self.mean + (x - old) / n as f64;
            self.m2 += (x - old) * (x - mean + old - self.mean);
            self.mean = mean;
        } else {
            let count = (self.seen + 1) as f64;
            let d = x - self.mean;
            self.mean += d / count;
            self.m2 += d * (x - self.mean);
        }
        self.next = if self.next + 1 == n { 0 } else { self.next + 1 };
        self.seen += 1;
        // Recompute exactly once per window, and whenever the variance has collapsed far
        // below the size of the values that moved (where the sliding update's rounding
        // would dominate what is left).
        let collapsed = self.m2 <= 1e-7 * (old * old + x * x) * n as f64;
        if self.next == 0 || (self.seen > n && collapsed) {
            self.mean = self.ring.iter().sum::<f64>() / n as f64;
            self.m2 = self.ring.iter().map(|v| (v - self.mean) * (v - self.mean)).sum();
        }
    }

    pub fn is_full(&self) -> bool {
        self.seen >= self.ring.len()
    }

    /// `Some(value)` when every value in the window is the same.
    pub fn constant(&self) -> Option<f64> {
        let n = self.ring.len();
        (self.run >= n).then(|| self.ring[if self.next == 0 { n - 1 } else { self.next - 1 }])
    }

    /// Mean and population variance of the window.
    pub fn mean_var(&self) -> (f64, f64) {
        (self.mean, (self.m2 / self.ring.len() as f64).max(0.0))
    }
}

/// Realised volatility: `sqrt(mean(r²))` over the last `n` log returns (no mean removed,
/// the usual high-frequency convention). First value at index `n`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RealizedVol {
    prev: Option<f64>,
    squares: RollingSum,
    value: f64,
}

impl RealizedVol {
    pub fn new(window: usize) -> Self {
        RealizedVol { prev: None, squares: RollingSum::new(window), value: f64::NAN }
    }
}

impl Indicator for RealizedVol {
    fn update(&mut self, x: f64) -> f64 {
        if let Some(prev) = self.prev.replace(x) {
            let r = (x / prev).ln();
            self.squares.push(r * r);
            if self.squares.is_full() {
                self.value = (self.squares.sum() / self.squares.window() as f64).max(0.0).sqrt();
            }
        }
        self.value
    }

    fn value(&self) -> f64 {
        self.value
    }
}

/// How unusual this volume is: `(v − mean) / sd` against the previous `n` volumes (the
/// current one is not part of its own baseline, so a spike does not dampen itself).
/// Population standard deviation. Against a constant baseline any change is ±∞ and no
/// change is 0. First value at index `n`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolumeZScore {
    baseline: RollingMoments,
    value: f64,
}

impl VolumeZScore {
    pub fn new(window: usize) -> Self {
        VolumeZScore { baseline: RollingMoments::new(window), value: f64::NAN }
    }
}

impl Indicator for VolumeZScore {
    fn update(&mut self, v: f64) -> f64 {
        if self.baseline.is_full() {
            self.value = match self.baseline.constant() {
                Some(level) if v == level => 0.0,
                Some(level) => (v - level).signum() * f64::INFINITY,
                None => {
                    let (mean, var) = self.baseline.mean_var();
                    (v - mean) / var.sqrt()
                }
            };
        }
        self.baseline.push(v);
        self.value
    }

    fn value(&self) -> f64 {
        self.value
    }
}
