//! Rolling statistics over spans of event time, the building blocks of the rules.
//!
//! Each keeps what it needs to answer in O(1) (or a memmove of one window) per tick and
//! serialises into the pipeline's snapshot, so a restored runner continues exactly where the
//! crashed one stopped.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// The values of a trailing span of event time, kept sorted for their median and quartiles:
/// a location and spread that a few huge prints (the spike being looked for) barely move,
/// unlike a mean and standard deviation.
///
/// Values are kept as `u16` keys in steps of [`QUANTUM`] (log volume to a thousandth: a
/// tenth of a percent of volume), so that the sorted window of five minutes of seconds is
/// 600 bytes and an insertion moves a few hundred bytes, not kilobytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "SavedQuantiles", into = "SavedQuantiles")]
pub(crate) struct TrailingQuantiles {
    span: i64,
    /// The first timestamp ever pushed: the window is warm once it spans `span`.
    first: Option<i64>,
    /// `(ts, key)` in arrival order.
    entries: VecDeque<(i64, u16)>,
    /// The same keys, ascending, plus at most one evicted key still in place (`stale`).
    sorted: Vec<u16>,
    /// Where an evicted key still sits in `sorted`. At a steady pace every tick evicts one
    /// key and pushes one, and the pair is one shift of the keys between the two positions
    /// (a third of the window on average) where a removal and an insertion shifted the
    /// whole tail twice. Quantiles read around it.
    stale: Option<usize>,
}

/// Two windows are equal when they hold the same values: `sorted` follows from `entries`.
impl PartialEq for TrailingQuantiles {
    fn eq(&self, other: &Self) -> bool {
        (self.span, self.first, &self.entries) == (other.span, other.first, &other.entries)
    }
}

/// The step of the keys, and the value of key 0: keys cover [-32, 33.5).
pub(crate) const QUANTUM: f64 = 1e-3;
const OFFSET: f64 = 32.0;

fn key(x: f64) -> u16 {
    ((x + OFFSET) / QUANTUM).round().clamp(0.0, f64::from(u16::MAX)) as u16
}

fn value(key: u16) -> f64 {
    f64::from(key) * QUANTUM - OFFSET
}

#[derive(Serialize, Deserialize)]
pub(crate) struct SavedQuantiles {
    span: i64,
    first: Option<i64>,
    entries: VecDeque<(i64, u16)>,
}

impl From<SavedQuantiles> for TrailingQuantiles {
    fn from(s: SavedQuantiles) -> Self {
        let mut sorted: Vec<u16> = s.entries.iter().map(|&(_, k)| k).collect();
        sorted.sort_unstable();
        TrailingQuantiles { span: s.span, first: s.first, entries: s.entries, sorted, stale: None }
    }
}

impl From<TrailingQuantiles> for SavedQuantiles {
    fn from(q: TrailingQuantiles) -> Self {
        SavedQuantiles { span: q.span, first: q.first, entries: q.entries }
    }
}

impl TrailingQuantiles {
    pub(crate) fn new(span_nanos: i64) -> Self {
        TrailingQuantiles { span: span_nanos, first: None, entries: VecDeque::new(), sorted: Vec::new(), stale: None }
    }

    /// Drops the values at or before `ts - span`.
    pub(crate) fn evict(&mut self, ts: i64) {
        while let Some(&(t, k)) = self.entries.front() {
            if t > ts - self.span {
                break;
            }
            self.entries.pop_front();
            if let Some(stale) = self.stale.take() {
                self.sorted.remove(stale);
            }
            self.stale = Some(self.sorted.partition_point(|&v| v < k));
        }
    }

    /// Adds `x` (non-finite values count as the ends of the key range).
    pub(crate) fn push(&mut self, ts: i64, x: f64) {
        self.first.get_or_insert(ts);
        let k = key(x);
        self.entries.push_back((ts, k));
        let at = self.sorted.partition_point(|&v| v <= k);
        match self.stale.take() {
            None => self.sorted.insert(at, k),
            // The new key goes after the stale one: the keys between move down over it.
            Some(stale) if at > stale => {
                self.sorted.copy_within(stale + 1..at, stale);
                self.sorted[at - 1] = k;
            }
            // At or before it: the keys between move up over it.
            Some(stale) => {
                self.sorted.copy_within(at..stale, at + 1);
                self.sorted[at] = k;
            }
        }
    }

    /// How many values the window holds.
    fn len(&self) -> usize {
        self.sorted.len() - usize::from(self.stale.is_some())
    }

    /// True once the values seen span the whole window and there are at least three of them.
    pub(crate) fn is_warm(&self, ts: i64) -> bool {
        self.first.is_some_and(|f| ts - f >= self.span) && self.len() >= 3
    }

    /// The `quarters / 4` quantile (nearest rank, halves rounded up), `quarters` in 0..=4.
    /// In integers: `((n - 1) as f64 * q).round()` is the same rank, but a call to libm's
    /// `round` a tick (baseline x86-64 has no rounding instruction).
    fn quantile(&self, quarters: usize) -> f64 {
        let n = self.len();
        let rank = (((n - 1) * quarters + 2) / 4).min(n - 1);
        // Skip the stale key: ranks at or past it sit one further on.
        let at = if self.stale.is_some_and(|s| rank >= s) { rank + 1 } else { rank };
        value(self.sorted[at])
    }

    pub(crate) fn median(&self) -> f64 {
        self.quantile(2)
    }

    /// The interquartile range scaled to a normal standard deviation (IQR / 1.349).
    pub(crate) fn spread(&self) -> f64 {
        (self.quantile(3) - self.quantile(1)) / 1.349
    }
}

/// The highest value over a trailing span of event time (a monotone deque: amortised O(1)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct TrailingMax {
    span: i64,
    first: Option<i64>,
    /// Candidates for the maximum, values strictly decreasing from the front.
    entries: VecDeque<(i64, f64)>,
}

impl TrailingMax {
    pub(crate) fn new(span_nanos: i64) -> Self {
        TrailingMax { span: span_nanos, first: None, entries: VecDeque::new() }
    }

    /// Adds `x` at `ts` and returns the maximum over `(ts - span, ts]`.
    pub(crate) fn push(&mut self, ts: i64, x: f64) -> f64 {
        self.first.get_or_insert(ts);
        while self.entries.back().is_some_and(|&(_, v)| v <= x) {
            self.entries.pop_back();
        }
        self.entries.push_back((ts, x));
        while self.entries.front().is_some_and(|&(t, _)| t <= ts - self.span) {
            self.entries.pop_front();
        }
        self.entries.front().expect("x was just pushed").1
    }

    /// True once the values seen span the whole window.
    pub(crate) fn is_warm(&self, ts: i64) -> bool {
        self.first.is_some_and(|f| ts - f >= self.span)
    }
}

/// The variance of log returns per second, exponentially weighted in event time (time
/// constant `tau`), each squared return winsorised at `clip²` times its expected size so that
/// the crash being looked for does not teach the estimate that crashes are normal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct EventTimeVariance {
    tau_secs: f64,
    clip: f64,
    /// Σ w·r² and Σ w·dt, with w decaying as exp(-age / tau).
    sum_r2: f64,
    sum_dt: f64,
    returns: u32,
    last: Option<(i64, f64)>,
    /// exp(-dt / tau) for the last dt seen: ticks come at a steady pace, so this saves the
    /// `exp` on almost every tick.
    decay_for: (i64, f64),
}

/// Returns needed before the estimate is trusted.
const MIN_RETURNS: u32 = 30;

impl EventTimeVariance {
    pub(crate) fn new(tau_secs: f64, clip: f64) -> Self {
        EventTimeVariance { tau_secs, clip, sum_r2: 0.0, sum_dt: 0.0, returns: 0, last: None, decay_for: (0, 1.0) }
    }

    /// Variance per second of log returns, once `MIN_RETURNS` returns were seen.
    pub(crate) fn rate(&self) -> Option<f64> {
        (self.returns >= MIN_RETURNS && self.sum_dt > 0.0).then(|| self.sum_r2 / self.sum_dt)
    }

    /// Feeds the log price at `ts` (non-finite values are ignored).
    pub(crate) fn push(&mut self, ts: i64, log_price: f64) {
        if !log_price.is_finite() {
            return;
        }
        let Some((last_ts, last_log)) = self.last.replace((ts, log_price)) else { return };
        let dt_nanos = ts - last_ts;
        if dt_nanos <= 0 {
            return;
        }
        let dt = dt_nanos as f64 / 1e9;
        let mut r2 = (log_price - last_log).powi(2);
        if let Some(rate) = self.rate() {
            r2 = r2.min(self.clip * self.clip * rate * dt);
        }
        if self.decay_for.0 != dt_nanos {
            self.decay_for = (dt_nanos, (-dt / self.tau_secs).exp());
        }
        let decay = self.decay_for.1;
        self.sum_r2 = self.sum_r2 * decay + r2;
        self.sum_dt = self.sum_dt * decay + dt;
        self.returns = self.returns.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: i64 = 1_000_000_000;

    proptest! {
        /// The sorted window is always the multiset of the last span's values, and its
        /// quantiles are those of a sort of that span.
        #[test]
        fn quantiles_are_those_of_the_trailing_span(
            steps in proptest::collection::vec((1i64..5, -10.0f64..10.0), 1..300),
            span in 1i64..40,
        ) {
            let mut q = TrailingQuantiles::new(span * S);
            let mut all = Vec::new();
            let mut ts = 0;
            for (dt, x) in steps {
                ts += dt * S;
                q.evict(ts);
                // Between the eviction and the push, where the rules read the window.
                let mut held: Vec<u16> =
                    all.iter().filter(|(t, _)| *t > ts - span * S).map(|&(_, x)| key(x)).collect();
                held.sort_unstable();
                prop_assert_eq!(q.len(), held.len());
                for quarters in (0..=4).filter(|_| !held.is_empty()) {
                    let rank = ((held.len() - 1) as f64 * quarters as f64 / 4.0).round() as usize;
                    prop_assert_eq!(q.quantile(quarters), value(held[rank]));
                }
                q.push(ts, x);
                all.push((ts, x));
                let mut expected: Vec<f64> = all.iter().filter(|(t, _)| *t > ts - span * S).map(|&(_, x)| x).collect();
                expected.sort_by(f64::total_cmp);
                let keys: Vec<u16> = expected.iter().map(|&x| key(x)).collect();
                let mut held = q.sorted.clone();
                if let Some(stale) = q.stale {
                    held.remove(stale);
                }
                prop_assert_eq!(&held, &keys);
                let median = expected[((expected.len() - 1) as f64 * 0.5).round() as usize];
                prop_assert!((q.median() - median).abs() <= QUANTUM / 2.0 + 1e-12, "{} vs {median}", q.median());
                let restored: TrailingQuantiles = serde_json::from_str(&serde_json::to_string(&q).unwrap()).unwrap();
                prop_assert_eq!(&restored, &q);
            }
        }

        #[test]
        fn the_trailing_max_is_the_max_of_the_span(
            steps in proptest::collection::vec((1i64..5, 0.0f64..100.0), 1..300),
            span in 1i64..40,
        ) {
            let mut m = TrailingMax::new(span * S);
            let mut all = Vec::new();
            let mut ts = 0;
            for (dt, x) in steps {
                ts += dt * S;
                all.push((ts, x));
                let expected = all.iter().filter(|(t, _)| *t > ts - span * S).map(|&(_, x)| x).fold(f64::MIN, f64::max);
                prop_assert_eq!(m.push(ts, x), expected);
            }
        }
    }

    #[test]
    fn the_variance_rate_is_per_second_whatever_the_spacing() {
        // Alternating ±r every `dt` seconds: variance per second r² / dt.
        for dt in [1, 60] {
            let mut v = EventTimeVariance::new(3600.0, 4.0);
            let r = 0.001;
            for i in 0..200 {
                v.push(i * dt * S, if i % 2 == 0 { 0.0 } else { r });
            }
            let rate = v.rate().unwrap();
            assert!((rate - r * r / dt as f64).abs() < 1e-12, "dt {dt}: {rate}");
        }
    }

    #[test]
    fn one_crash_barely_moves_the_variance() {
        let mut v = EventTimeVariance::new(1800.0, 4.0);
        let mut log = 0.0;
        for i in 0..1000 {
            log += if i % 2 == 0 { 1e-4 } else { -1e-4 };
            v.push(i * S, log);
        }
        let before = v.rate().unwrap();
        v.push(1000 * S, log - 0.05);
        assert!(v.rate().unwrap() < before * 1.03, "{before} -> {:?}", v.rate());
    }
}
