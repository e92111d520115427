use serde::{Deserialize, Serialize};

use crate::run::{Vacant, reciprocal};

use crate::Indicator;

/// Which extreme a [`RollingExtreme`] tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Extreme {
    Min,
    Max,
}

/// Rolling minimum or maximum of the last `n` values (TA-Lib's MIN/MAX, first value at
/// `n − 1`), by van Herk/Gil-Werman blocks: values are cut into blocks of `n`; the window is
/// a tail of the previous block (whose suffix extremes are computed once, when it fills)
/// plus the head of the current one (a running extreme). Two comparisons per value and an
/// O(n) pass every n values, with no data-dependent loop: a monotonic deque spent ~30 ns per
/// value in a 1,000-symbol replay, mostly on mispredicted branches.
///
/// Snapshots keep the deque's shape (the values no later one dominates, oldest first), so
/// checkpoints written before stay readable, and a restored extreme continues exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "SavedExtreme", from = "SavedExtreme")]
pub struct RollingExtreme {
    window: usize,
    extreme: Extreme,
    seen: u64,
    /// The current block's values in `block[..filled]` (`window` long; the rest is left
    /// from the block before). Written by index, never pushed: growing a vector is a call
    /// out of line that would see this extreme's address, and a run keeps its copy of the
    /// extreme in registers only while nothing does.
    block: Vec<f64>,
    filled: usize,
    /// `suffix[i]` is the extreme of the previous block's values from position `i` on,
    /// once `suffix_ready` (a block has filled); `NaN` until then.
    suffix: Vec<f64>,
    suffix_ready: bool,
    /// The extreme of `block[..filled]` (meaningless while it is empty).
    running: f64,
}

/// The snapshot form: `(index, value)` of the window's values that no later value in the
/// window equals or beats, oldest first.
#[derive(Serialize, Deserialize)]
struct SavedExtreme {
    window: usize,
    extreme: Extreme,
    seen: u64,
    deque: Vec<(u64, f64)>,
}

impl From<RollingExtreme> for SavedExtreme {
    fn from(r: RollingExtreme) -> Self {
        let (w, seen) = (r.window as u64, r.seen);
        let block = &r.block[..r.filled];
        let block_start = seen - block.len() as u64;
        let mut deque = Vec::new();
        // Newest first, keeping a value only if it beats everything after it.
        let mut best: Option<f64> = None;
        let mut keep = |index: u64, v: f64, deque: &mut Vec<(u64, f64)>| {
            if best.is_none_or(|b| r.beats(v, b)) {
                deque.push((index, v));
                best = Some(v);
            }
        };
        for (j, &v) in block.iter().enumerate().rev() {
            keep(block_start + j as u64, v, &mut deque);
        }
        if r.suffix_ready {
            // The previous block's positions still in the window; where the suffix extreme
            // changes, the value there is the suffix extreme itself.
            // Position p of that block is in the window when p >= block.len().
            for p in (block.len()..r.window).rev() {
                if p + 1 == r.window || r.beats(r.suffix[p], r.suffix[p + 1]) {
                    keep(block_start - w + p as u64, r.suffix[p], &mut deque);
                }
            }
        }
        deque.reverse();
        SavedExtreme { window: r.window, extreme: r.extreme, seen, deque }
    }
}

impl From<SavedExtreme> for RollingExtreme {
    fn from(saved: SavedExtreme) -> Self {
        // Values the deque dropped are dominated by a later value still in the window, so
        // they can never be the extreme again: a neutral value stands in for them.
        let mut r = RollingExtreme::new(saved.window.max(1), saved.extreme);
        let neutral = match r.extreme {
            Extreme::Min => f64::INFINITY,
            Extreme::Max => f64::NEG_INFINITY,
        };
        let w = r.window as u64;
        let start = saved.seen.saturating_sub(w);
        let mut values = vec![neutral; (saved.seen - start) as usize];
        for (index, v) in saved.deque {
            if let Some(slot) = index.checked_sub(start).and_then(|k| values.get_mut(k as usize)) {
                *slot = v;
            }
        }
        // Replay the window from its first block boundary, padding the earlier part of
        // that block (outside the window) with neutral values.
        let padding = start % w;
        r.seen = start - padding;
        for v in std::iter::repeat_n(neutral, padding as usize).chain(values) {
            r.push(v);
        }
        r
    }
}

impl RollingExtreme {
    pub fn new(window: usize, extreme: Extreme) -> Self {
        assert!(window > 0, "window must be at least 1");
        RollingExtreme {
            window,
            extreme,
            seen: 0,
            block: vec![0.0; window],
            filled: 0,
            suffix: vec![f64::NAN; window],
            suffix_ready: false,
            running: f64::NAN,
        }
    }

    pub(crate) fn extreme(&self) -> Extreme {
        self.extreme
    }

    /// Whether `a` is strictly more extreme than `b`.
    fn beats(&self, a: f64, b: f64) -> bool {
        match self.extreme {
            Extreme::Min => beats::<false>(a, b),
            Extreme::Max => beats::<true>(a, b),
        }
    }

    fn push(&mut self, x: f64) {
        match self.extreme {
            Extreme::Min => self.push_as::<false>(x),
            Extreme::Max => self.push_as::<true>(x),
        }
    }

    /// [`Indicator::update`] for the maximum (`MAX`) or the minimum, which must be this
    /// extreme's: a run picks it once, not per value.
    #[inline(always)]
    pub(crate) fn update_as<const MAX: bool>(&mut self, x: f64) -> f64 {
        debug_assert_eq!(MAX, self.extreme == Extreme::Max);
        self.push_as::<MAX>(x);
        self.value_as::<MAX>()
    }

    #[inline(always)]
    fn push_as<const MAX: bool>(&mut self, x: f64) {
        let filled = self.filled;
        self.running = if filled == 0 { x } else { pick::<MAX>(self.running, x) };
        self.block[filled] = x;
        self.filled = filled + 1;
        self.seen += 1;
        if self.filled == self.window {
            // The block is full: it becomes the previous block.
            let last = self.window - 1;
            let mut acc = self.block[last];
            self.suffix[last] = acc;
            for i in (0..last).rev() {
                acc = pick::<MAX>(acc, self.block[i]);
                self.suffix[i] = acc;
            }
            self.suffix_ready = true;
            self.filled = 0;
        }
    }

    /// One expression for every case, no branch: until a block has filled, `suffix` is all
    /// `NaN`, which `pick` keeps; just after one fills (`filled == 0`), `running` is that
    /// block's extreme, which is `suffix[0]`, and `pick` keeps the first of equals.
    #[inline(always)]
    fn value_as<const MAX: bool>(&self) -> f64 {
        pick::<MAX>(self.suffix[self.filled], self.running)
    }
}

/// Whether `a` is strictly more extreme than `b`: greater for the maximum (`MAX`), less
/// for the minimum.
#[inline(always)]
fn beats<const MAX: bool>(a: f64, b: f64) -> bool {
    if MAX { a > b } else { a < b }
}

/// `b` when it is strictly more extreme than `a`, else `a`.
#[inline(always)]
fn pick<const MAX: bool>(a: f64, b: f64) -> f64 {
    if beats::<MAX>(b, a) { b } else { a }
}

impl Indicator for RollingExtreme {
    #[inline]
    fn update(&mut self, x: f64) -> f64 {
        match self.extreme {
            Extreme::Min => self.update_as::<false>(x),
            Extreme::Max => self.update_as::<true>(x),
        }
    }

    fn value(&self) -> f64 {
        match self.extreme {
            Extreme::Min => self.value_as::<false>(),
            Extreme::Max => self.value_as::<true>(),
        }
    }
}

/// A ring of the last `n` values with their running sum, re-added exactly from the ring
/// every `n` pushes so rounding drift stays bounded (amortised O(1)). Counts the non-zero
/// values so an all-zero window is known exactly, whatever the rounding.
///
/// The re-sum adds the ring in order when it wraps, which is when it holds exactly the
/// values pushed since it last wrapped, in the order they came: so those are summed as they
/// arrive (`since_wrap`, the same additions in the same order, the same bits), and the
/// re-sum costs one addition per push instead of a chain of `n` dependent additions every
/// `n`th push, which stalled the loop around it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "SavedRollingSum")]
pub(crate) struct RollingSum {
    ring: Vec<f64>,
    next: usize,
    seen: usize,
    sum: f64,
    nonzero: usize,
    /// `ring[..next]` summed in order from −0.0, as [`Iterator::sum`] does (never saved:
    /// derived from the ring).
    #[serde(skip_serializing)]
    since_wrap: f64,
}

/// The values a ring received since it last wrapped (`ring[..next]`), summed in order from
/// −0.0 as [`Iterator::sum`] does: what a restored window's `since_wrap` must be.
fn sum_since_wrap(ring: &[f64], next: usize) -> f64 {
    ring.get(..next).map_or(-0.0, |pushed| pushed.iter().sum())
}

/// A [`RollingSum`] as snapshots hold it.
#[derive(Deserialize)]
struct SavedRollingSum {
    ring: Vec<f64>,
    next: usize,
    seen: usize,
    sum: f64,
    nonzero: usize,
}

impl From<SavedRollingSum> for RollingSum {
    fn from(saved: SavedRollingSum) -> Self {
        let since_wrap = sum_since_wrap(&saved.ring, saved.next);
        let SavedRollingSum { ring, next, seen, sum, nonzero } = saved;
        RollingSum { ring, next, seen, sum, nonzero, since_wrap }
    }
}

impl RollingSum {
    pub(crate) fn new(window: usize) -> Self {
        assert!(window > 0, "window must be at least 1");
        RollingSum { ring: vec![0.0; window], next: 0, seen: 0, sum: 0.0, nonzero: 0, since_wrap: -0.0 }
    }

    #[inline]
    pub(crate) fn push(&mut self, x: f64) {
        let n = self.ring.len();
        let old = std::mem::replace(&mut self.ring[self.next], x);
        if self.seen >= n {
            self.sum -= old;
            self.nonzero -= usize::from(old != 0.0);
        }
        self.sum += x;
        self.since_wrap += x;
        self.nonzero += usize::from(x != 0.0);
        self.next = if self.next + 1 == n { 0 } else { self.next + 1 };
        self.seen += 1;
        if self.next == 0 {
            self.sum = std::mem::replace(&mut self.since_wrap, -0.0);
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
/// two-pass recomputation every `n` pushes (amortised O(1)) or when the variance falls seven
/// orders of magnitude below the square of the largest value the sliding updates have met
/// since the last recomputation (their rounding is relative to those values, so it would
/// dominate what is left: a window of small volumes after a burst of large ones left it),
/// and an exact test for a
/// constant window (the trailing run of equal values), where rounding would otherwise
/// invent a tiny variance.
///
/// The exact recomputation's first pass (the mean) is summed as values arrive, like
/// [`RollingSum`]'s re-sum, whenever it falls on the ring's wrap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "SavedRollingMoments")]
pub struct RollingMoments {
    ring: Vec<f64>,
    next: usize,
    seen: usize,
    mean: f64,
    m2: f64,
    run: usize,
    /// The largest square of a value in the window at the last exact recomputation or
    /// pushed since: the scale of the sliding updates' rounding in `m2`.
    peak: f64,
    /// `ring[..next]` summed in order from −0.0 (never saved: derived from the ring).
    #[serde(skip_serializing)]
    since_wrap: f64,
}

/// A [`RollingMoments`] as snapshots hold it.
#[derive(Deserialize)]
struct SavedRollingMoments {
    ring: Vec<f64>,
    next: usize,
    seen: usize,
    mean: f64,
    m2: f64,
    run: usize,
    /// Absent from snapshots taken before it existed: the test then falls back on the
    /// values pushed after the restore.
    #[serde(default)]
    peak: f64,
}

impl From<SavedRollingMoments> for RollingMoments {
    fn from(saved: SavedRollingMoments) -> Self {
        let since_wrap = sum_since_wrap(&saved.ring, saved.next);
        let SavedRollingMoments { ring, next, seen, mean, m2, run, peak } = saved;
        RollingMoments { ring, next, seen, mean, m2, run, peak, since_wrap }
    }
}

impl RollingMoments {
    pub fn new(window: usize) -> Self {
        assert!(window > 0, "window must be at least 1");
        RollingMoments {
            ring: vec![0.0; window],
            next: 0,
            seen: 0,
            mean: 0.0,
            m2: 0.0,
            run: 0,
            peak: 0.0,
            since_wrap: -0.0,
        }
    }

    #[inline(always)]
    pub fn push(&mut self, x: f64) {
        let n = self.ring.len();
        let last = self.ring[if self.next == 0 { n - 1 } else { self.next - 1 }];
        self.run = if self.seen > 0 && x == last { self.run + 1 } else { 1 };
        let old = std::mem::replace(&mut self.ring[self.next], x);
        if self.seen >= n {
            let mean = self.mean + (x - old) * reciprocal(n);
            self.m2 += (x - old) * (x - mean + old - self.mean);
            self.mean = mean;
        } else {
            let count = (self.seen + 1) as f64;
            let d = x - self.mean;
            self.mean += d / count;
            self.m2 += d * (x - self.mean);
        }
        self.since_wrap += x;
        self.next = if self.next + 1 == n { 0 } else { self.next + 1 };
        self.seen += 1;
        self.peak = self.peak.max(old * old).max(x * x);
        // Recompute exactly once per window, and whenever the variance has collapsed far
        // below the size of the values the sliding updates met (where their rounding
        // would dominate what is left).
        let collapsed = self.m2 <= 1e-7 * self.peak * n as f64;
        if self.next == 0 || (self.seen > n && collapsed) {
            self.recompute();
        }
    }

    /// The exact two-pass recomputation (once a window). Inlined, like the push around it:
    /// a call inside a run's loop makes the compiler keep the window's state in memory for
    /// the whole loop (a call may overwrite every floating-point register), where inlined
    /// it stays in registers (`volume_z_300` in runs: 12.1 → 10.6 ns a tick).
    #[inline(always)]
    fn recompute(&mut self) {
        let n = self.ring.len();
        let total =
            if self.next == 0 { std::mem::replace(&mut self.since_wrap, -0.0) } else { self.ring.iter().sum::<f64>() };
        self.mean = total * reciprocal(n);
        self.m2 = self.ring.iter().map(|v| (v - self.mean) * (v - self.mean)).sum();
        self.peak = self.ring.iter().fold(0.0, |peak, v| peak.max(v * v));
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
        (self.mean, (self.m2 * reciprocal(self.ring.len())).max(0.0))
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

impl RealizedVol {
    /// The input before the next one, if any has been fed.
    pub(crate) fn previous(&self) -> Option<f64> {
        self.prev
    }

    /// [`Indicator::update`], with the log return against the previous input given by
    /// `log_return(previous)` (computed here, or read from a run's shared column).
    #[inline]
    pub(crate) fn step(&mut self, x: f64, log_return: impl FnOnce(f64) -> f64) -> f64 {
        if let Some(prev) = self.prev.replace(x) {
            let r = log_return(prev);
            self.squares.push(r * r);
            if self.squares.is_full() {
                self.value = (self.squares.sum() * reciprocal(self.squares.window())).max(0.0).sqrt();
            }
        }
        self.value
    }
}

impl Indicator for RealizedVol {
    #[inline]
    fn update(&mut self, x: f64) -> f64 {
        self.step(x, |prev| (x / prev).ln())
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
    #[inline(always)]
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

impl Vacant for RollingExtreme {
    const VACANT: Self = RollingExtreme {
        window: 1,
        extreme: Extreme::Min,
        seen: 0,
        block: Vec::new(),
        filled: 0,
        suffix: Vec::new(),
        suffix_ready: false,
        running: f64::NAN,
    };
}

impl Vacant for RollingSum {
    const VACANT: Self = RollingSum { ring: Vec::new(), next: 0, seen: 0, sum: 0.0, nonzero: 0, since_wrap: -0.0 };
}

impl Vacant for RollingMoments {
    const VACANT: Self =
        RollingMoments { ring: Vec::new(), next: 0, seen: 0, mean: 0.0, m2: 0.0, run: 0, peak: 0.0, since_wrap: -0.0 };
}

impl Vacant for RealizedVol {
    const VACANT: Self = RealizedVol { prev: None, squares: RollingSum::VACANT, value: f64::NAN };
}

impl Vacant for VolumeZScore {
    const VACANT: Self = VolumeZScore { baseline: RollingMoments::VACANT, value: f64::NAN };
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use proptest::prelude::*;

    use super::*;

    /// The monotonic deque the extreme used to keep, and its snapshots held: the reference
    /// for the snapshot shape.
    fn deque_after(xs: &[f64], window: usize, extreme: Extreme) -> Vec<(u64, f64)> {
        let dominates = |a: f64, b: f64| match extreme {
            Extreme::Min => a <= b,
            Extreme::Max => a >= b,
        };
        let mut deque: VecDeque<(u64, f64)> = VecDeque::new();
        for (i, &x) in xs.iter().enumerate() {
            let i = i as u64;
            while deque.back().is_some_and(|&(_, v)| dominates(x, v)) {
                deque.pop_back();
            }
            deque.push_back((i, x));
            while deque.front().is_some_and(|&(j, _)| j + window as u64 <= i) {
                deque.pop_front();
            }
        }
        deque.into()
    }

    proptest! {
        /// The re-sum summed as values arrive gives the bits of re-adding the ring when it
        /// wraps (the sum the windows kept before), and a window restored from a snapshot
        /// at any point goes on exactly like one that never stopped.
        #[test]
        fn sums_kept_as_values_arrive_are_the_ring_re_sums_and_survive_a_restore(
            xs in proptest::collection::vec(prop_oneof![Just(0.0f64), Just(-0.0f64), -1e6f64..1e6], 1..200),
            window in 1usize..40,
            cut in 0usize..200,
        ) {
            let cut = cut.min(xs.len());
            let (mut sum, mut moments) = (RollingSum::new(window), RollingMoments::new(window));
            // The re-sum as it was: the ring re-added in order when it wraps.
            let mut ring = vec![0.0f64; window];
            for (i, &x) in xs.iter().enumerate() {
                sum.push(x);
                moments.push(x);
                ring[i % window] = x;
                if (i + 1) % window == 0 {
                    prop_assert_eq!(sum.sum.to_bits(), ring.iter().sum::<f64>().to_bits(), "at {}", i);
                    let mean = ring.iter().sum::<f64>() * reciprocal(window);
                    prop_assert_eq!(moments.mean.to_bits(), mean.to_bits(), "at {}", i);
                }
            }
            let (mut whole_sum, mut whole_moments) = (RollingSum::new(window), RollingMoments::new(window));
            for &x in &xs[..cut] {
                whole_sum.push(x);
                whole_moments.push(x);
            }
            let mut restored_sum: RollingSum = postcard::from_bytes(&postcard::to_stdvec(&whole_sum).unwrap()).unwrap();
            let mut restored_moments: RollingMoments =
                postcard::from_bytes(&postcard::to_stdvec(&whole_moments).unwrap()).unwrap();
            prop_assert_eq!(&restored_sum, &whole_sum);
            prop_assert_eq!(&restored_moments, &whole_moments);
            for &x in &xs[cut..] {
                restored_sum.push(x);
                restored_moments.push(x);
            }
            prop_assert_eq!(&restored_sum, &sum);
            prop_assert_eq!(&restored_moments, &moments);
            // `==` takes −0.0 for 0.0: the bits too.
            prop_assert_eq!(restored_sum.since_wrap.to_bits(), sum.since_wrap.to_bits());
            prop_assert_eq!(restored_moments.since_wrap.to_bits(), moments.since_wrap.to_bits());
            prop_assert_eq!(restored_sum.sum.to_bits(), sum.sum.to_bits());
        }
    }

    proptest! {
        /// Values equal the window's extreme; a snapshot has the deque's shape; a restored
        /// extreme continues exactly like one that never stopped.
        #[test]
        fn blocks_match_the_window_and_snapshots_keep_the_deque_shape(
            xs in proptest::collection::vec((0u8..20).prop_map(f64::from), 1..200),
            window in 1usize..40,
            cut in 0usize..200,
            max in any::<bool>(),
        ) {
            let extreme = if max { Extreme::Max } else { Extreme::Min };
            let cut = cut.min(xs.len());
            let mut whole = RollingExtreme::new(window, extreme);
            let expected: Vec<f64> = xs.iter().map(|&x| whole.update(x)).collect();
            for (i, got) in expected.iter().enumerate() {
                if i + 1 < window {
                    prop_assert!(got.is_nan());
                } else {
                    let w = &xs[i + 1 - window..=i];
                    let want = if max { w.iter().copied().fold(f64::MIN, f64::max) } else { w.iter().copied().fold(f64::MAX, f64::min) };
                    prop_assert_eq!(*got, want, "at {}", i);
                }
            }
            let mut first = RollingExtreme::new(window, extreme);
            for &x in &xs[..cut] {
                first.update(x);
            }
            let bytes = postcard::to_stdvec(&first).unwrap();
            let reference = SavedExtreme { window, extreme, seen: cut as u64, deque: deque_after(&xs[..cut], window, extreme) };
            prop_assert_eq!(&bytes, &postcard::to_stdvec(&reference).unwrap());
            let mut resumed: RollingExtreme = postcard::from_bytes(&bytes).unwrap();
            prop_assert_eq!(resumed.value().to_bits(), first.value().to_bits());
            for (i, &x) in xs.iter().enumerate().skip(cut) {
                prop_assert_eq!(resumed.update(x).to_bits(), expected[i].to_bits(), "at {}", i);
            }
        }
    }
}
