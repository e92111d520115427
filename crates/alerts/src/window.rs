//! Rolling statistics over spans of event time, the building blocks of the rules.
//!
//! Each keeps what it needs to answer in O(1) per tick (amortised; a pass over one window
//! for the rare tick whose answer needs the window's keys themselves) and
//! serialises into the pipeline's snapshot, so a restored runner continues exactly where the
//! crashed one stopped.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// The values of a trailing span of event time, for their median and quartiles: a location
/// and spread that a few huge prints (the spike being looked for) barely move, unlike a mean
/// and standard deviation.
///
/// Values are kept as `u16` keys in steps of [`QUANTUM`] (log volume to a thousandth: a
/// tenth of a percent of volume), in arrival order, with a count of the keys in each of 256
/// buckets (a key's high byte). The rules ask one question of almost every tick — is this
/// value at least some margin above the median? — and that is a count, not a sort: the
/// median is at most a bound exactly when more than its rank of the keys are. A cursor sits
/// at the median's bucket, with the count of the keys below it; a push or an eviction moves
/// the median by one key, so the cursor moves rarely and by a bucket. A bound in another
/// bucket than the median's is then above or below it outright; only a bound in the
/// median's own bucket needs the keys themselves counted. (The cursor followed the bound
/// before, a walk of a few buckets every tick, as a tick's level jumps, and a mispredicted
/// branch for its length.) Keeping the keys sorted instead cost two binary searches and a
/// shift of a third of the window per tick; counting all of them every tick, a pass over
/// the window.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "SavedQuantiles", into = "SavedQuantiles")]
pub(crate) struct TrailingQuantiles {
    span: i64,
    /// The first timestamp ever pushed: the window is warm once it spans `span`.
    first: Option<i64>,
    /// Arrival times and keys, front to back oldest first (apart: counts read only keys).
    times: VecDeque<i64>,
    keys: VecDeque<u16>,
    /// How many keys have each high byte.
    buckets: [u32; 256],
    /// The median's bucket (any bucket while the window is empty), and how many keys lie in
    /// the buckets below it.
    cursor: u8,
    below: usize,
}

/// Two windows are equal when they hold the same values: the rest follows from them.
impl PartialEq for TrailingQuantiles {
    fn eq(&self, other: &Self) -> bool {
        (self.span, self.first, &self.times, &self.keys) == (other.span, other.first, &other.times, &other.keys)
    }
}

/// The step of the keys, and the value of key 0: keys cover [-32, 33.5).
pub(crate) const QUANTUM: f64 = 1e-3;
const OFFSET: f64 = 32.0;

/// `((x + OFFSET) / QUANTUM).round()` clamped to the keys, without libm's `round` (a call:
/// baseline x86-64 has no rounding instruction): clamping first to the keys' whole-number
/// ends changes nothing, and above zero rounding half away is the truncation plus one when
/// the fraction (exact: `y - trunc(y)` loses no bits) is at least a half. `NaN` is key 0.
///
/// The quotient is taken as a product by `1 / QUANTUM` (a division's latency was a fifth of
/// a push): the two differ by an ulp or two (below 1e-11 for keys' magnitudes), which can
/// change the rounding only for a fraction within that of a half; such fractions are
/// settled by the division itself, so every key is the division's.
fn key(x: f64) -> u16 {
    let rounded = |y: f64| {
        let y = y.clamp(0.0, f64::from(u16::MAX));
        let whole = y as u16;
        (whole, y - f64::from(whole))
    };
    let mut split = rounded((x + OFFSET) * (1.0 / QUANTUM));
    if (split.1 - 0.5).abs() < 1e-6 {
        split = rounded((x + OFFSET) / QUANTUM);
    }
    let (whole, fraction) = split;
    whole + u16::from(fraction >= 0.5)
}

fn value(key: u16) -> f64 {
    f64::from(key) * QUANTUM - OFFSET
}

fn bucket(key: u16) -> u8 {
    (key >> 8) as u8
}

/// How many of `keys` are at most `bound`, counted in `u16` lanes (chunks short enough
/// that a lane cannot wrap) so the loop vectorises eight keys a step.
fn count_at_most(keys: &[u16], bound: u16) -> usize {
    keys.chunks(usize::from(u16::MAX))
        .map(|chunk| usize::from(chunk.iter().fold(0u16, |n, &k| n.wrapping_add(u16::from(k <= bound)))))
        .sum()
}

/// The byte whose `counts` reach past `rank`, and the rank within that byte's count.
fn walk(counts: &[u32; 256], mut rank: usize) -> (u16, usize) {
    for (byte, &n) in (0u16..).zip(counts) {
        match rank.checked_sub(n as usize) {
            Some(rest) => rank = rest,
            None => return (byte, rank),
        }
    }
    unreachable!("a rank below the count of keys")
}

/// A trailing window as snapshots hold it: its span, its first timestamp, and `(ts, value)`
/// pairs oldest first — for [`TrailingQuantiles`] every key (a form unchanged since the
/// window was kept sorted), for [`TrailingMax`] the values that can still be the maximum
/// (that of the monotone deque it replaced).
#[derive(Serialize, Deserialize)]
pub(crate) struct SavedWindow<V> {
    span: i64,
    first: Option<i64>,
    entries: Vec<(i64, V)>,
}

type SavedQuantiles = SavedWindow<u16>;
type SavedMax = SavedWindow<f64>;

impl From<SavedQuantiles> for TrailingQuantiles {
    fn from(s: SavedQuantiles) -> Self {
        let mut q = TrailingQuantiles::new(s.span);
        q.first = s.first;
        for (ts, k) in s.entries {
            q.push_key(ts, k);
        }
        q
    }
}

impl From<TrailingQuantiles> for SavedQuantiles {
    fn from(q: TrailingQuantiles) -> Self {
        SavedQuantiles { span: q.span, first: q.first, entries: q.times.into_iter().zip(q.keys).collect() }
    }
}

impl TrailingQuantiles {
    pub(crate) fn new(span_nanos: i64) -> Self {
        TrailingQuantiles {
            span: span_nanos,
            first: None,
            times: VecDeque::new(),
            keys: VecDeque::new(),
            buckets: [0; 256],
            cursor: 0,
            below: 0,
        }
    }

    /// Drops the values at or before `ts - span`.
    pub(crate) fn evict(&mut self, ts: i64) {
        while self.times.front().is_some_and(|&t| t <= ts - self.span) {
            self.times.pop_front();
            let k = self.keys.pop_front().expect("a key per time");
            self.buckets[usize::from(bucket(k))] -= 1;
            self.below -= usize::from(bucket(k) < self.cursor);
        }
        self.recenter();
    }

    /// Adds `x` (non-finite values count as the ends of the key range).
    pub(crate) fn push(&mut self, ts: i64, x: f64) {
        self.first.get_or_insert(ts);
        self.push_key(ts, key(x));
    }

    fn push_key(&mut self, ts: i64, k: u16) {
        self.times.push_back(ts);
        self.keys.push_back(k);
        self.buckets[usize::from(bucket(k))] += 1;
        self.below += usize::from(bucket(k) < self.cursor);
        self.recenter();
    }

    /// Moves the cursor to the median's bucket: the one where the keys below it are at most
    /// the median's rank and those up to its end more.
    #[inline]
    fn recenter(&mut self) {
        if self.keys.is_empty() {
            return;
        }
        let rank = self.rank(2);
        while self.below > rank {
            self.cursor -= 1;
            self.below -= self.buckets[usize::from(self.cursor)] as usize;
        }
        while self.below + self.buckets[usize::from(self.cursor)] as usize <= rank {
            self.below += self.buckets[usize::from(self.cursor)] as usize;
            self.cursor += 1;
        }
    }

    /// How many values the window holds.
    fn len(&self) -> usize {
        self.keys.len()
    }

    /// True once the values seen span the whole window and there are at least three of them.
    pub(crate) fn is_warm(&self, ts: i64) -> bool {
        self.first.is_some_and(|f| ts - f >= self.span) && self.len() >= 3
    }

    /// The rank of the `quarters / 4` quantile (nearest rank, halves rounded up), `quarters`
    /// in 0..=4. In integers: `((n - 1) as f64 * q).round()` is the same rank, but a call to
    /// libm's `round` (baseline x86-64 has no rounding instruction).
    fn rank(&self, quarters: usize) -> usize {
        let n = self.len();
        (((n - 1) * quarters + 2) / 4).min(n - 1)
    }

    /// The `quarters / 4` quantiles of a non-empty window, each `quarters` in 0..=4: the
    /// buckets find each one's high byte, one count of the low bytes inside those buckets
    /// their keys (a radix select: a walk of the counts each, one pass over the window for
    /// all of them).
    fn quantiles<const N: usize>(&self, quarters: [usize; N]) -> [f64; N] {
        let located = quarters.map(|q| self.locate(self.rank(q)));
        let mut low = [[0u32; 256]; N];
        let (front, back) = self.keys.as_slices();
        for &k in front.iter().chain(back) {
            for (counts, &(high, _)) in low.iter_mut().zip(&located) {
                counts[usize::from(k & 0xff)] += u32::from(k >> 8 == high);
            }
        }
        std::array::from_fn(|i| {
            let (high, rank) = located[i];
            value(high << 8 | walk(&low[i], rank).0)
        })
    }

    /// The bucket holding the key of `rank`, and its rank within the bucket: found from the
    /// cursor, at the median's bucket.
    fn locate(&self, rank: usize) -> (u16, usize) {
        let mut at = usize::from(self.cursor);
        let mut below = self.below;
        while below > rank {
            at -= 1;
            below -= self.buckets[at] as usize;
        }
        while below + self.buckets[at] as usize <= rank {
            below += self.buckets[at] as usize;
            at += 1;
        }
        (at as u16, rank - below)
    }

    pub(crate) fn median(&self) -> f64 {
        self.quantiles([2])[0]
    }

    /// The median, and the interquartile range scaled to a normal standard deviation
    /// (IQR / 1.349), from one pass over the window.
    pub(crate) fn median_and_spread(&self) -> (f64, f64) {
        let [median, q1, q3] = self.quantiles([2, 1, 3]);
        (median, (q3 - q1) / 1.349)
    }

    /// Whether `x - self.median() >= margin`, to the bit, without finding the median (a
    /// non-empty window). The difference falls as the median's key rises, so the keys that
    /// pass are those up to some bound; the median passes when more than its rank do.
    pub(crate) fn exceeds_median_by(&self, x: f64, margin: f64) -> bool {
        let passes = |k: u16| x - value(k) >= margin;
        // The bound's estimate (a product, not the keys' division; truncated: no rounding
        // instruction), then the exact edge.
        let mut bound = ((x - margin + OFFSET) * (1.0 / QUANTUM)).clamp(0.0, f64::from(u16::MAX)) as u16;
        // The edge is within a key of the estimate (their difference is rounding, ~1e-12
        // of a key): two keys below the median's bucket, the answer is no without finding
        // it. Most ticks end here, the volume well short of the margin above the usual.
        if u32::from(bound) + 2 < u32::from(self.cursor) << 8 {
            return false;
        }
        while bound < u16::MAX && passes(bound + 1) {
            bound += 1;
        }
        while !passes(bound) {
            let Some(lower) = bound.checked_sub(1) else { return false };
            bound = lower;
        }
        // Below the median's bucket, the bound is below the median; above it, above; in it,
        // the keys tell.
        match bucket(bound).cmp(&self.cursor) {
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Equal => {
                let (front, back) = self.keys.as_slices();
                count_at_most(front, bound) + count_at_most(back, bound) > self.rank(2)
            }
        }
    }
}

/// The highest value over a trailing span of event time, `(ts - span, ts]`, by van
/// Herk/Gil-Werman blocks of event time: time is cut into blocks one span long; the window
/// is a tail of the previous block (whose suffix maxima are computed once, when the next
/// block begins) and the head of the current one (a running maximum). Every tick costs the
/// same few steps with no data-dependent loop: a monotone deque pops a number of values
/// that depends on the prices, a branch mispredicted about once a tick.
///
/// Among equal values the newest is the maximum (what a deque that pops values `<=` the
/// new one answers). Values must come in time order (the rule is fed clean ticks).
/// Snapshots keep the deque's form — the values no later one in the window equals or
/// beats, oldest first — so checkpoints written before stay readable.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "SavedMax", into = "SavedMax")]
pub(crate) struct TrailingMax {
    span: i64,
    first: Option<i64>,
    /// Where the current block starts: it holds the values of `[start, start + span)`.
    start: i64,
    /// The current block's times and values, oldest first (`values` empty: no block yet).
    times: Vec<i64>,
    values: Vec<f64>,
    /// The maximum of `values`.
    running: f64,
    /// The block before the current one (one span earlier, or empty): its times, and
    /// `suffix[i]` the maximum of its values from `i` on.
    before: Vec<i64>,
    suffix: Vec<f64>,
    /// The first of `before` still in the window.
    from: usize,
}

impl From<SavedMax> for TrailingMax {
    /// Values the deque dropped are beaten by a later value in the window, so they can never
    /// be the maximum again: the kept ones alone answer every later question the same way.
    fn from(saved: SavedMax) -> Self {
        let mut max = TrailingMax::new(saved.span);
        for (ts, x) in saved.entries {
            max.push(ts, x);
        }
        max.first = saved.first;
        max
    }
}

impl From<TrailingMax> for SavedMax {
    fn from(max: TrailingMax) -> Self {
        SavedMax { span: max.span, first: max.first, entries: max.candidates() }
    }
}

/// Two windows are equal when they would answer alike: the same candidates (where the
/// blocks fall depends on when the window started, or was restored).
impl PartialEq for TrailingMax {
    fn eq(&self, other: &Self) -> bool {
        (self.span, self.first) == (other.span, other.first) && self.candidates() == other.candidates()
    }
}

/// The newer value `b` when it equals or beats the older `a` (or `a` is not a number).
#[inline(always)]
fn newer_max(a: f64, b: f64) -> f64 {
    if a > b { a } else { b }
}

impl TrailingMax {
    pub(crate) fn new(span_nanos: i64) -> Self {
        TrailingMax {
            span: span_nanos,
            first: None,
            start: 0,
            times: Vec::new(),
            values: Vec::new(),
            running: f64::NAN,
            before: Vec::new(),
            suffix: Vec::new(),
            from: 0,
        }
    }

    /// Adds `x` at `ts` and returns the maximum over `(ts - span, ts]`.
    #[inline]
    pub(crate) fn push(&mut self, ts: i64, x: f64) -> f64 {
        self.first.get_or_insert(ts);
        if self.values.is_empty() {
            self.start = ts;
        } else if ts - self.start >= self.span {
            self.next_block(ts);
        }
        self.running = if self.values.is_empty() { x } else { newer_max(self.running, x) };
        self.times.push(ts);
        self.values.push(x);
        let oldest = ts - self.span;
        while self.before.get(self.from).is_some_and(|&t| t <= oldest) {
            self.from += 1;
        }
        match self.suffix.get(self.from) {
            Some(&earlier) => newer_max(earlier, self.running),
            None => self.running,
        }
    }

    /// Starts the block `ts` falls in: the current one becomes the block before when it is
    /// the one just before, else (a gap of more than a span) nothing before is in the window.
    #[cold]
    fn next_block(&mut self, ts: i64) {
        let blocks = (ts - self.start) / self.span;
        self.start += blocks * self.span;
        self.before.clear();
        self.suffix.clear();
        if blocks == 1 {
            std::mem::swap(&mut self.before, &mut self.times);
            self.suffix.resize(self.values.len(), f64::NAN);
            let mut newer: Option<f64> = None;
            for (slot, &v) in self.suffix.iter_mut().zip(&self.values).rev() {
                let max = newer.map_or(v, |newer| newer_max(v, newer));
                *slot = max;
                newer = Some(max);
            }
        }
        self.times.clear();
        self.values.clear();
        self.from = 0;
    }

    /// The values no later value in the window equals or beats, oldest first, with their
    /// times: the window's possible maxima now and later.
    fn candidates(&self) -> Vec<(i64, f64)> {
        // Newest first; a value is kept when it beats every newer one. In the block before,
        // the suffix maximum at a kept value is that value (it beats all after it).
        let current = self.times.iter().zip(&self.values).rev();
        let before = self.before[self.from..].iter().zip(&self.suffix[self.from..]).rev();
        let mut kept: Vec<(i64, f64)> = Vec::new();
        for (&t, &v) in current.chain(before) {
            if kept.last().is_none_or(|&(_, later)| v > later) {
                kept.push((t, v));
            }
        }
        kept.reverse();
        kept
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

/// `r2.min(bound)`, out of line: the rare path of [`EventTimeVariance::push_at_rate`].
#[cold]
#[inline(never)]
fn clipped(r2: f64, bound: f64) -> f64 {
    r2.min(bound)
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
    #[cfg(test)]
    pub(crate) fn push(&mut self, ts: i64, log_price: f64) {
        self.push_at_rate(ts, log_price, self.rate());
    }

    /// [`EventTimeVariance::push`] with [`EventTimeVariance::rate`] as the caller just read
    /// it (the drop rule does, before each push): one division less a tick.
    pub(crate) fn push_at_rate(&mut self, ts: i64, log_price: f64, rate: Option<f64>) {
        debug_assert_eq!(rate.map(f64::to_bits), self.rate().map(f64::to_bits), "the rate as it stands");
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
        if let Some(rate) = rate {
            // `r2.min(bound)` as a branch, not a select: the clip almost never binds, and
            // a predicted branch takes the rate's division off the sums' tick-to-tick chain.
            let bound = self.clip * self.clip * rate * dt;
            if r2 > bound || r2.is_nan() {
                r2 = clipped(r2, bound);
            }
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
        /// The window is always the multiset of the last span's values, its quantiles are
        /// those of a sort of that span, and its count of keys agrees with its median.
        #[test]
        fn quantiles_are_those_of_the_trailing_span(
            steps in proptest::collection::vec((1i64..5, -10.0f64..10.0), 1..300),
            span in 1i64..40,
            probe in -12.0f64..12.0,
            margin in 0.0f64..3.0,
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
                    prop_assert_eq!(q.quantiles([quarters])[0], value(held[rank]));
                }
                if !held.is_empty() {
                    // Several at once, from one pass, are each the same.
                    let at = |quarters: usize| value(held[((held.len() - 1) as f64 * quarters as f64 / 4.0).round() as usize]);
                    prop_assert_eq!(q.quantiles([4, 0, 2, 1, 3]), [4, 0, 2, 1, 3].map(at));
                    prop_assert_eq!(q.median_and_spread(), (at(2), (at(3) - at(1)) / 1.349));
                }
                q.push(ts, x);
                all.push((ts, x));
                let mut expected: Vec<f64> = all.iter().filter(|(t, _)| *t > ts - span * S).map(|&(_, x)| x).collect();
                expected.sort_by(f64::total_cmp);
                let keys: Vec<u16> = expected.iter().map(|&x| key(x)).collect();
                let mut held: Vec<u16> = q.keys.iter().copied().collect();
                held.sort_unstable();
                prop_assert_eq!(&held, &keys);
                // The count answers what the median would, at the edge to the bit too.
                let m = q.median();
                for margin in [margin, 0.0, -margin] {
                    let edge = m + margin;
                    for x in [probe, edge, edge.next_up(), edge.next_down(), f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                        prop_assert_eq!(q.exceeds_median_by(x, margin), x - m >= margin, "x {} margin {}", x, margin);
                    }
                }
                let median = expected[((expected.len() - 1) as f64 * 0.5).round() as usize];
                prop_assert!((q.median() - median).abs() <= QUANTUM / 2.0 + 1e-12, "{} vs {median}", q.median());
                // The buckets count the keys, and the cursor's sum is that of the buckets below it.
                let mut buckets = [0u32; 256];
                held.iter().for_each(|&k| buckets[usize::from(bucket(k))] += 1);
                prop_assert_eq!(q.buckets, buckets);
                prop_assert_eq!(q.below, buckets[..usize::from(q.cursor)].iter().map(|&n| n as usize).sum::<usize>());
                // … and the cursor is at the median's bucket.
                prop_assert!(q.below <= q.rank(2) && q.rank(2) < q.below + q.buckets[usize::from(q.cursor)] as usize);
                let restored: TrailingQuantiles = serde_json::from_str(&serde_json::to_string(&q).unwrap()).unwrap();
                prop_assert_eq!(&restored, &q);
                prop_assert_eq!(restored.buckets, q.buckets);
            }
        }

        #[test]
        fn keys_are_the_rounded_steps(x in prop_oneof![-40.0f64..40.0, any::<f64>(), (0u32..70_000).prop_map(|k| (f64::from(k) + 0.5) * QUANTUM - OFFSET)]) {
            for x in [x, x.next_up(), x.next_down()] {
                prop_assert_eq!(key(x), ((x + OFFSET) / QUANTUM).round().clamp(0.0, f64::from(u16::MAX)) as u16, "{}", x);
            }
        }

        /// The maximum is that of the span's values; the snapshot holds exactly what the
        /// monotone deque it replaced held (so either reads the other's checkpoints); and a
        /// window restored from it at any step goes on answering as the original does.
        #[test]
        fn the_trailing_max_is_the_max_of_the_span(
            // Steps of 0 (several ticks in one instant) to 5 seconds: gaps longer than the
            // span empty the window; prices on a coarse grid, so ties happen.
            steps in proptest::collection::vec((0i64..6, (0u32..40).prop_map(|p| f64::from(p) / 4.0)), 1..300),
            span in 1i64..40,
            restore_at in 0usize..300,
        ) {
            let mut m = TrailingMax::new(span * S);
            let mut restored: Option<TrailingMax> = None;
            let mut deque: VecDeque<(i64, f64)> = VecDeque::new();
            let mut all = Vec::new();
            let mut ts = 0;
            for (i, (dt, x)) in steps.into_iter().enumerate() {
                ts += dt * S;
                all.push((ts, x));
                let expected = all.iter().filter(|(t, _)| *t > ts - span * S).map(|&(_, x)| x).fold(f64::MIN, f64::max);
                prop_assert_eq!(m.push(ts, x), expected);
                if let Some(r) = &mut restored {
                    prop_assert_eq!(r.push(ts, x), expected);
                    prop_assert_eq!(&*r, &m);
                }
                while deque.back().is_some_and(|&(_, v)| v <= x) {
                    deque.pop_back();
                }
                deque.push_back((ts, x));
                while deque.front().is_some_and(|&(t, _)| t <= ts - span * S) {
                    deque.pop_front();
                }
                prop_assert_eq!(m.candidates(), Vec::from(deque.clone()));
                if i == restore_at {
                    let json = serde_json::to_string(&m).unwrap();
                    let old = serde_json::json!({ "span": span * S, "first": m.first, "entries": deque });
                    prop_assert_eq!(serde_json::from_str::<serde_json::Value>(&json).unwrap(), old, "the snapshot is the deque's");
                    restored = Some(serde_json::from_str(&json).unwrap());
                }
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
