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

/// A ring of the last `n` values with their running sum and sum of squares, shifted by the
/// first value seen to keep the subtraction in `E[x²] − E[x]²` well conditioned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RollingMoments {
    ring: Vec<f64>,
    next: usize,
    seen: usize,
    shift: Option<f64>,
    sum: f64,
    sum_sq: f64,
}

impl RollingMoments {
    pub(crate) fn new(window: usize) -> Self {
        assert!(window > 0, "window must be at least 1");
        RollingMoments { ring: vec![0.0; window], next: 0, seen: 0, shift: None, sum: 0.0, sum_sq: 0.0 }
    }

    pub(crate) fn push(&mut self, x: f64) {
        let shift = *self.shift.get_or_insert(x);
        let y = x - shift;
        let n = self.ring.len();
        if self.seen >= n {
            let old = self.ring[self.next];
            self.sum -= old;
            self.sum_sq -= old * old;
        }
        self.ring[self.next] = y;
        self.next = (self.next + 1) % n;
        self.seen += 1;
        self.sum += y;
        self.sum_sq += y * y;
    }

    pub(crate) fn is_full(&self) -> bool {
        self.seen >= self.ring.len()
    }

    /// Mean and population variance of the window.
    pub(crate) fn mean_var(&self) -> (f64, f64) {
        let n = self.ring.len() as f64;
        let mean = self.sum / n;
        let var = (self.sum_sq / n - mean * mean).max(0.0);
        (mean + self.shift.unwrap_or(0.0), var)
    }

    /// Turns off shifting, so `sum` is the plain sum of the window.
    pub(crate) fn set_unshifted(&mut self) {
        self.shift = Some(0.0);
    }

    pub(crate) fn sum(&self) -> f64 {
        self.sum
    }

    /// Mean of squares of the raw (unshifted) values: only valid when the shift is 0.
    pub(crate) fn mean_square(&self) -> f64 {
        self.sum_sq / self.ring.len() as f64
    }
}

/// Realised volatility: `sqrt(mean(r²))` over the last `n` log returns (no mean removed,
/// the usual high-frequency convention). First value at index `n`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RealizedVol {
    prev: Option<f64>,
    squares: RollingMoments,
    value: f64,
}

impl RealizedVol {
    pub fn new(window: usize) -> Self {
        let mut squares = RollingMoments::new(window);
        squares.set_unshifted();
        RealizedVol { prev: None, squares, value: f64::NAN }
    }
}

impl Indicator for RealizedVol {
    fn update(&mut self, x: f64) -> f64 {
        if let Some(prev) = self.prev.replace(x) {
            self.squares.push((x / prev).ln());
            if self.squares.is_full() {
                self.value = self.squares.mean_square().sqrt();
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
/// Population standard deviation. Against a perfectly flat baseline any change is ±∞ and
/// no change is 0. First value at index `n`.
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
            let (mean, var) = self.baseline.mean_var();
            let sd = var.sqrt();
            self.value = if sd > 0.0 {
                (v - mean) / sd
            } else if v == mean {
                0.0
            } else {
                (v - mean).signum() * f64::INFINITY
            };
        }
        self.baseline.push(v);
        self.value
    }

    fn value(&self) -> f64 {
        self.value
    }
}
