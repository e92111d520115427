//! The cleaning stage: the first stage of every pipeline. It rejects or repairs, per
//! policy, records no later stage should see, and says why for each one.

use serde::{Deserialize, Serialize};
use tickloop_core::{NANOS_PER_SECOND, Price, RejectReason, Rejection, SymbolId, Tick, Timestamp};

/// What to reject and what to repair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CleaningPolicy {
    /// Repair `high < low` (swap them) and an open or close outside `[low, high]` (widen the
    /// range to include it) instead of rejecting the tick.
    pub repair_ranges: bool,
    /// How far `ts_event` may run ahead of `ts_recv` (feed clock skew) before the tick is
    /// rejected as from the future.
    pub max_future_secs: f64,
    /// How far behind the newest tick of any symbol (the watermark) a tick may arrive. Older
    /// ticks are dead-lettered as late: cross-symbol steps have already run past them.
    pub allowed_lateness_secs: f64,
}

impl Default for CleaningPolicy {
    fn default() -> Self {
        CleaningPolicy { repair_ranges: true, max_future_secs: 5.0, allowed_lateness_secs: 60.0 }
    }
}

/// Counters per reason: what was rejected, and what was repaired and let through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleaningStats {
    pub accepted: u64,
    pub rejected: [u64; RejectReason::ALL.len()],
    pub repaired: [u64; RejectReason::ALL.len()],
}

impl CleaningStats {
    /// Adds another run's counts (walk-forward folds report one total).
    pub fn merge(&mut self, other: &CleaningStats) {
        self.accepted += other.accepted;
        for (a, b) in self.rejected.iter_mut().zip(other.rejected) {
            *a += b;
        }
        for (a, b) in self.repaired.iter_mut().zip(other.repaired) {
            *a += b;
        }
    }

    pub fn rejected(&self, reason: RejectReason) -> u64 {
        self.rejected[reason as usize]
    }

    pub fn repaired(&self, reason: RejectReason) -> u64 {
        self.repaired[reason as usize]
    }

    pub fn total_rejected(&self) -> u64 {
        self.rejected.iter().sum()
    }

    /// Adds counts produced elsewhere (at decoding, before a tick exists).
    pub fn count_rejection(&mut self, reason: RejectReason) {
        self.rejected[reason as usize] += 1;
    }
}

/// Per-symbol and global state of the cleaning stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cleaner {
    policy: CleaningPolicy,
    last_ts: Vec<Option<Timestamp>>,
    watermark_ts: Option<Timestamp>,
    stats: CleaningStats,
}

/// Rejections are boxed: they are rare, and a small `Result` keeps the accept path fast.
fn reject(reason: RejectReason, detail: String, tick: &Tick) -> Box<Rejection> {
    Box::new(Rejection { reason, detail, tick: Some(*tick), raw: None })
}

impl Cleaner {
    pub fn new(policy: CleaningPolicy) -> Self {
        Cleaner { policy, last_ts: Vec::new(), watermark_ts: None, stats: CleaningStats::default() }
    }

    pub fn stats(&self) -> &CleaningStats {
        &self.stats
    }

    pub fn stats_mut(&mut self) -> &mut CleaningStats {
        &mut self.stats
    }

    /// Checks `tick`; returns it (repaired where the policy allows) or why it was refused.
    /// A refused tick changes no state, so the good ticks around it are unaffected.
    pub fn check(&mut self, tick: &Tick) -> Result<Tick, Box<Rejection>> {
        self.verdict(tick).map(|repaired| repaired.unwrap_or(*tick))
    }

    /// [`Cleaner::check`] that says whether the tick was repaired instead of copying it:
    /// `Ok(None)` when it is accepted as it came (a replay block keeps the verdicts of half
    /// a million ticks, and most are that).
    pub fn verdict(&mut self, tick: &Tick) -> Result<Option<Tick>, Box<Rejection>> {
        let checked = if self.passes_as_is(tick) { Ok(None) } else { self.validate(tick) };
        match checked {
            Ok(repaired) => {
                self.stats.accepted += 1;
                // Repairs touch prices only: the event time is the tick's.
                let ts = tick.ts_event;
                let i = tick.symbol.index();
                if i >= self.last_ts.len() {
                    self.last_ts.resize(i + 1, None);
                }
                self.last_ts[i] = Some(ts);
                self.watermark_ts = Some(self.watermark_ts.map_or(ts, |w| w.max(ts)));
                Ok(repaired)
            }
            Err(rejection) => {
                self.stats.rejected[rejection.reason as usize] += 1;
                Err(rejection)
            }
        }
    }

    /// Whether [`Cleaner::validate`] would accept `tick` as it came: the common case,
    /// decided in a few comparisons that a compiler can run side by side, where `validate`
    /// goes check by check to say which failed first. (Every comparison with NaN is false.)
    fn passes_as_is(&self, tick: &Tick) -> bool {
        let (open, high, low, close) = (tick.open.get(), tick.high.get(), tick.low.get(), tick.close.get());
        // `low` positive, `high` finite, open and close within them: all four finite and
        // positive, and nothing to repair.
        let prices =
            (low > 0.0) & (high < f64::INFINITY) & (low <= open) & (open <= high) & (low <= close) & (close <= high);
        let volume = tick.volume.get();
        let volume = (0.0..f64::INFINITY).contains(&volume);
        let ts = tick.ts_event;
        let not_ahead = ts <= tick.ts_recv.add_nanos(self.skew_nanos());
        let after_last = self.last_ts.get(tick.symbol.index()).copied().flatten().is_none_or(|last| ts > last);
        let not_late = self.watermark_ts.is_none_or(|watermark| ts >= watermark.add_nanos(-self.lateness_nanos()));
        prices & volume & not_ahead & after_last & not_late
    }

    /// How far `ts_event` may run ahead of `ts_recv`.
    fn skew_nanos(&self) -> i64 {
        (self.policy.max_future_secs * NANOS_PER_SECOND as f64) as i64
    }

    /// How far behind the watermark a tick may arrive.
    fn lateness_nanos(&self) -> i64 {
        (self.policy.allowed_lateness_secs * NANOS_PER_SECOND as f64) as i64
    }

    fn validate(&mut self, tick: &Tick) -> Result<Option<Tick>, Box<Rejection>> {
        let prices = [("open", tick.open), ("high", tick.high), ("low", tick.low), ("close", tick.close)];
        for (name, p) in prices {
            if !p.get().is_finite() {
                return Err(reject(RejectReason::NotFinite, format!("{name} = {}", p.get()), tick));
            }
            if p.get() <= 0.0 {
                return Err(reject(RejectReason::NonPositivePrice, format!("{name} = {}", p.get()), tick));
            }
        }
        let v = tick.volume.get();
        if !v.is_finite() {
            return Err(reject(RejectReason::NotFinite, format!("volume = {v}"), tick));
        }
        if v < 0.0 {
            return Err(reject(RejectReason::NegativeVolume, format!("volume = {v}"), tick));
        }
        if tick.ts_event > tick.ts_recv.add_nanos(self.skew_nanos()) {
            return Err(reject(
                RejectReason::FutureTimestamp,
                format!(
                    "ts_event {} is after ts_recv {} + {} s",
                    tick.ts_event, tick.ts_recv, self.policy.max_future_secs
                ),
                tick,
            ));
        }
        let i = tick.symbol.index();
        if i >= self.last_ts.len() {
            self.last_ts.resize(i + 1, None);
        }
        if let Some(last) = self.last_ts[i] {
            if tick.ts_event == last {
                return Err(reject(RejectReason::Duplicate, format!("second tick at {last}"), tick));
            }
            if tick.ts_event < last {
                return Err(reject(
                    RejectReason::Late,
                    format!("ts_event {} is before this symbol's {last}", tick.ts_event),
                    tick,
                ));
            }
        }
        if let Some(watermark) = self.watermark_ts
            && tick.ts_event < watermark.add_nanos(-self.lateness_nanos())
        {
            return Err(reject(
                RejectReason::Late,
                format!(
                    "ts_event {} is more than {} s behind the watermark {watermark}",
                    tick.ts_event, self.policy.allowed_lateness_secs
                ),
                tick,
            ));
        }
        self.check_ranges(tick)
    }

    /// The tick with its high and low repaired, if they needed it and the policy allows.
    fn check_ranges(&mut self, tick: &Tick) -> Result<Option<Tick>, Box<Rejection>> {
        let mut t = *tick;
        let mut repaired = false;
        if t.high < t.low {
            if !self.policy.repair_ranges {
                return Err(reject(RejectReason::HighBelowLow, format!("high {} < low {}", t.high.0, t.low.0), tick));
            }
            std::mem::swap(&mut t.high, &mut t.low);
            self.stats.repaired[RejectReason::HighBelowLow as usize] += 1;
            repaired = true;
        }
        let (lo, hi) =
            (t.low.get().min(t.open.get()).min(t.close.get()), t.high.get().max(t.open.get()).max(t.close.get()));
        if lo < t.low.get() || hi > t.high.get() {
            if !self.policy.repair_ranges {
                return Err(reject(
                    RejectReason::OutsideRange,
                    format!("open {} / close {} outside [{}, {}]", t.open.0, t.close.0, t.low.0, t.high.0),
                    tick,
                ));
            }
            t.low = Price(lo);
            t.high = Price(hi);
            self.stats.repaired[RejectReason::OutsideRange as usize] += 1;
            repaired = true;
        }
        Ok(repaired.then_some(t))
    }

    /// The symbol's latest accepted event time.
    pub fn last_ts(&self, symbol: SymbolId) -> Option<Timestamp> {
        self.last_ts.get(symbol.index()).copied().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickloop_core::Volume;

    fn tick(symbol: u32, secs: i64, o: f64, h: f64, l: f64, c: f64, v: f64) -> Tick {
        Tick {
            symbol: SymbolId::new(symbol),
            ts_event: Timestamp::from_secs(secs),
            ts_recv: Timestamp::from_secs(secs),
            open: Price(o),
            high: Price(h),
            low: Price(l),
            close: Price(c),
            volume: Volume(v),
        }
    }

    #[test]
    fn each_bad_record_is_refused_with_its_reason_and_the_good_ones_pass() {
        let mut c = Cleaner::new(CleaningPolicy { repair_ranges: false, ..CleaningPolicy::default() });
        let cases = [
            (tick(0, 10, 1.0, 1.0, 1.0, 1.0, 5.0), None),
            (tick(0, 11, 1.0, 1.0, 1.0, f64::NAN, 5.0), Some(RejectReason::NotFinite)),
            (tick(0, 11, 1.0, 1.0, 1.0, -2.0, 5.0), Some(RejectReason::NonPositivePrice)),
            (tick(0, 11, 0.0, 1.0, 1.0, 1.0, 5.0), Some(RejectReason::NonPositivePrice)),
            (tick(0, 11, 1.0, 1.0, 1.0, 1.0, -5.0), Some(RejectReason::NegativeVolume)),
            (tick(0, 11, 1.0, 1.0, 2.0, 1.0, 5.0), Some(RejectReason::HighBelowLow)),
            (tick(0, 11, 1.0, 2.0, 1.5, 1.7, 5.0), Some(RejectReason::OutsideRange)),
            (tick(0, 10, 1.0, 1.0, 1.0, 1.0, 5.0), Some(RejectReason::Duplicate)),
            (tick(0, 9, 1.0, 1.0, 1.0, 1.0, 5.0), Some(RejectReason::Late)),
            (tick(0, 11, 1.0, 1.0, 1.0, 1.0, 5.0), None),
            (tick(1, 5_000, 1.0, 1.0, 1.0, 1.0, 5.0), None),
            (tick(2, 11, 1.0, 1.0, 1.0, 1.0, 5.0), Some(RejectReason::Late)),
        ];
        for (i, (t, expected)) in cases.iter().enumerate() {
            let got = c.check(t).err().map(|r| r.reason);
            assert_eq!(got, *expected, "case {i}: {t:?}");
        }
        let mut future = tick(0, 20, 1.0, 1.0, 1.0, 1.0, 1.0);
        future.ts_recv = Timestamp::from_secs(10);
        assert_eq!(c.check(&future).unwrap_err().reason, RejectReason::FutureTimestamp);
        assert_eq!(c.stats().accepted, 3);
        assert_eq!(c.stats().rejected(RejectReason::Late), 2);
        assert_eq!(c.stats().total_rejected(), 10);
    }

    #[test]
    fn repairs_ranges_when_the_policy_allows() {
        let mut c = Cleaner::new(CleaningPolicy::default());
        let fixed = c.check(&tick(0, 1, 1.0, 1.0, 2.0, 1.5, 1.0)).unwrap();
        assert_eq!((fixed.low.0, fixed.high.0), (1.0, 2.0));
        let widened = c.check(&tick(0, 2, 3.0, 2.0, 1.5, 1.0, 1.0)).unwrap();
        assert_eq!((widened.low.0, widened.high.0), (1.0, 3.0));
        assert_eq!(c.stats().repaired(RejectReason::HighBelowLow), 1);
        assert_eq!(c.stats().repaired(RejectReason::OutsideRange), 1);
    }

    /// Prices and volumes near every edge the checks have: NaN, the infinities, zero and
    /// its negative, and a few close values so that ranges often tie.
    fn edgy() -> impl proptest::strategy::Strategy<Value = f64> {
        use proptest::prelude::*;
        prop_oneof![
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(0.0),
            Just(-0.0),
            Just(-1.0),
            (1u8..5).prop_map(f64::from),
        ]
    }

    proptest::proptest! {
        /// The shortcut for ticks accepted as they came agrees with the checks one by one,
        /// tick after tick (their state moving on), under either policy.
        #[test]
        fn the_shortcut_accepts_exactly_what_the_checks_accept_unrepaired(
            ticks in proptest::collection::vec(
                (0u32..3, 0i64..4, -1i64..8, (edgy(), edgy(), edgy(), edgy(), edgy())),
                1..60,
            ),
            repair in proptest::bool::ANY,
        ) {
            let mut c = Cleaner::new(CleaningPolicy { repair_ranges: repair, allowed_lateness_secs: 2.0, ..CleaningPolicy::default() });
            let mut secs = 100;
            for (symbol, step, ahead, (o, h, l, cl, v)) in ticks {
                secs += step - 1;
                let mut t = tick(symbol, secs, o, h, l, cl, v);
                t.ts_recv = Timestamp::from_secs(secs - ahead);
                let checked = c.clone().validate(&t);
                proptest::prop_assert_eq!(c.passes_as_is(&t), matches!(checked, Ok(None)), "{:?} {:?}", t, checked);
                let _ = c.verdict(&t);
            }
        }
    }
}
