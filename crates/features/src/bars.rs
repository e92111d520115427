//! Bars from ticks, closed by event time.

use serde::{Deserialize, Serialize};
use tickloop_core::{Bar, Price, Tick, Timestamp, Volume};

/// Aggregates one symbol's 1-second ticks into bars of `interval` nanoseconds.
///
/// A tick stamped `t` covers `(t − 1 s, t]`, so a bar covers `(ts_open, ts_close]` with
/// `ts_open` a multiple of the interval: the 14:31:00 tick is the last of the 14:30 minute.
/// A bar is emitted as soon as it is known complete: on its last possible tick (stamped
/// `ts_close`), or on the first tick of a later bar, or when the watermark passes
/// `ts_close` ([`BarAggregator::close_until`]). VWAP is of closes, weighted by volume (the
/// close when the bar had no volume).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BarAggregator {
    interval: i64,
    open: Option<Bar>,
    pv: f64,
}

impl BarAggregator {
    pub fn new(interval_nanos: i64) -> Self {
        assert!(interval_nanos > 0, "bar interval must be positive");
        BarAggregator { interval: interval_nanos, open: None, pv: 0.0 }
    }

    /// Adds a tick (in event-time order); returns the bar it completed, if any.
    pub fn push(&mut self, tick: &Tick, completed: &mut Vec<Bar>) {
        let ts_open = tick.ts_event.add_nanos(-1).floor_to(self.interval);
        if self.open.is_some_and(|b| b.ts_open != ts_open) {
            self.emit(completed);
        }
        let pv = tick.close.get() * tick.volume.get();
        match &mut self.open {
            Some(bar) => {
                bar.high = Price(bar.high.get().max(tick.high.get()));
                bar.low = Price(bar.low.get().min(tick.low.get()));
                bar.close = tick.close;
                bar.volume = Volume(bar.volume.get() + tick.volume.get());
                bar.tick_count += 1;
                self.pv += pv;
            }
            None => {
                self.open = Some(Bar {
                    symbol: tick.symbol,
                    ts_open,
                    ts_close: ts_open.add_nanos(self.interval),
                    open: tick.open,
                    high: tick.high,
                    low: tick.low,
                    close: tick.close,
                    volume: tick.volume,
                    vwap: tick.close,
                    tick_count: 1,
                });
                self.pv = pv;
            }
        }
        if self.open.is_some_and(|b| tick.ts_event >= b.ts_close) {
            self.emit(completed);
        }
    }

    /// The bar still being built, as it stands (its VWAP is not yet computed): what a live
    /// chart draws as its last candle.
    pub fn open(&self) -> Option<&Bar> {
        self.open.as_ref()
    }

    /// Emits the open bar if the watermark has passed its end.
    pub fn close_until(&mut self, watermark: Timestamp, completed: &mut Vec<Bar>) {
        if self.open.is_some_and(|b| b.ts_close <= watermark) {
            self.emit(completed);
        }
    }

    fn emit(&mut self, completed: &mut Vec<Bar>) {
        if let Some(mut bar) = self.open.take() {
            let v = bar.volume.get();
            bar.vwap = if v > 0.0 { Price(self.pv / v) } else { bar.close };
            completed.push(bar);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tickloop_core::{NANOS_PER_MINUTE, NANOS_PER_SECOND, SymbolId};

    fn tick(secs: i64, close: f64, volume: f64) -> Tick {
        Tick {
            symbol: SymbolId::new(0),
            ts_event: Timestamp::from_secs(secs),
            ts_recv: Timestamp::from_secs(secs),
            open: Price(close - 0.5),
            high: Price(close + 1.0),
            low: Price(close - 1.0),
            close: Price(close),
            volume: Volume(volume),
        }
    }

    proptest! {
        /// Streaming bars equal bars computed by grouping all ticks by interval.
        #[test]
        fn streaming_bars_equal_grouped_bars(steps in proptest::collection::vec((1i64..40, 1.0f64..100.0, 0.0f64..1000.0), 1..300)) {
            let mut secs = 0;
            let ticks: Vec<Tick> = steps.iter().map(|&(dt, c, v)| { secs += dt; tick(secs, c, v) }).collect();
            let mut agg = BarAggregator::new(NANOS_PER_MINUTE);
            let mut streamed = Vec::new();
            for t in &ticks {
                agg.push(t, &mut streamed);
            }
            agg.close_until(Timestamp::MAX, &mut streamed);
            let mut grouped: Vec<Vec<&Tick>> = Vec::new();
            for t in &ticks {
                let key = (t.ts_event.as_nanos() - 1).div_euclid(NANOS_PER_MINUTE);
                match grouped.last_mut() {
                    Some(g) if (g[0].ts_event.as_nanos() - 1).div_euclid(NANOS_PER_MINUTE) == key => g.push(t),
                    _ => grouped.push(vec![t]),
                }
            }
            prop_assert_eq!(streamed.len(), grouped.len());
            for (bar, g) in streamed.iter().zip(&grouped) {
                prop_assert_eq!(bar.open, g[0].open);
                prop_assert_eq!(bar.close, g[g.len() - 1].close);
                prop_assert_eq!(bar.high.0, g.iter().map(|t| t.high.0).fold(f64::MIN, f64::max));
                prop_assert_eq!(bar.low.0, g.iter().map(|t| t.low.0).fold(f64::MAX, f64::min));
                prop_assert_eq!(bar.tick_count as usize, g.len());
                let vol: f64 = g.iter().map(|t| t.volume.0).sum();
                prop_assert!((bar.volume.0 - vol).abs() < 1e-6);
                prop_assert!(bar.ts_open < g[0].ts_event && g[g.len() - 1].ts_event <= bar.ts_close);
            }
        }
    }

    #[test]
    fn a_bar_closes_on_its_last_second_not_later() {
        let mut agg = BarAggregator::new(NANOS_PER_MINUTE);
        let mut out = Vec::new();
        agg.push(&tick(1, 10.0, 1.0), &mut out);
        agg.push(&tick(59, 11.0, 3.0), &mut out);
        assert!(out.is_empty());
        agg.push(&tick(60, 12.0, 0.0), &mut out);
        assert_eq!(out.len(), 1, "the 00:01:00 tick completes the first minute");
        assert_eq!(out[0].ts_close, Timestamp::from_nanos(NANOS_PER_MINUTE));
        assert_eq!(out[0].vwap.0, (10.0 + 33.0) / 4.0);
        assert_eq!(out[0].tick_count, 3);
        agg.push(&tick(61, 13.0, 1.0), &mut out);
        agg.close_until(Timestamp::from_nanos(NANOS_PER_MINUTE + 30 * NANOS_PER_SECOND), &mut out);
        assert_eq!(out.len(), 1, "watermark inside the second minute");
        agg.close_until(Timestamp::from_nanos(2 * NANOS_PER_MINUTE), &mut out);
        assert_eq!(out.len(), 2);
    }
}
