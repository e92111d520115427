use serde::{Deserialize, Serialize};

use crate::run::Vacant;

use crate::rolling::RollingSum;

/// Volume-weighted average price of the typical price `(high + low + close) / 3`.
///
/// TA-Lib has no VWAP, so this is our convention: `Session` accumulates from the first tick
/// of each UTC day (the day of `ts_event − session_offset`, so a session that spans UTC
/// midnight can be kept whole), `Rolling(n)` over the last `n` ticks. `NaN` while the
/// volume in the window is zero.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vwap(Kind);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Kind {
    Session { day: Option<i64>, pv: f64, volume: f64, offset_ns: i64 },
    Rolling { pv: RollingSum, volume: RollingSum },
}

/// `(high + low + close) / 3`, the price a VWAP weighs by volume.
#[inline]
pub(crate) fn typical_price(high: f64, low: f64, close: f64) -> f64 {
    (high + low + close) / 3.0
}

const NANOS_PER_DAY: i64 = 86_400_000_000_000;

impl Vwap {
    pub fn session(offset_secs: i64) -> Self {
        Vwap(Kind::Session { day: None, pv: 0.0, volume: 0.0, offset_ns: offset_secs * 1_000_000_000 })
    }

    pub fn rolling(window: usize) -> Self {
        Vwap(Kind::Rolling { pv: RollingSum::new(window), volume: RollingSum::new(window) })
    }

    #[inline]
    pub fn update(&mut self, ts_nanos: i64, high: f64, low: f64, close: f64, v: f64) -> f64 {
        self.step(ts_nanos, typical_price(high, low, close), v)
    }

    /// [`Vwap::update`] with the typical price already computed (a run computes it once for
    /// every VWAP of the set).
    #[inline]
    pub(crate) fn step(&mut self, ts_nanos: i64, typical: f64, v: f64) -> f64 {
        match &mut self.0 {
            Kind::Session { day, pv, volume, offset_ns } => {
                // Still the day of the last tick (almost always): two comparisons, where
                // finding the day is a 64-bit division.
                let local = ts_nanos - *offset_ns;
                let same_day = day.is_some_and(|d| {
                    let start = d.wrapping_mul(NANOS_PER_DAY);
                    local >= start && local - start < NANOS_PER_DAY
                });
                if !same_day {
                    *day = Some(local.div_euclid(NANOS_PER_DAY));
                    *pv = 0.0;
                    *volume = 0.0;
                }
                *pv += typical * v;
                *volume += v;
                if *volume > 0.0 { *pv / *volume } else { f64::NAN }
            }
            Kind::Rolling { pv, volume } => {
                pv.push(typical * v);
                volume.push(v);
                let total = volume.sum();
                if volume.is_full() && total > 0.0 { pv.sum() / total } else { f64::NAN }
            }
        }
    }
}

impl Vacant for Vwap {
    const VACANT: Self = Vwap(Kind::Session { day: None, pv: 0.0, volume: 0.0, offset_ns: 0 });
}
