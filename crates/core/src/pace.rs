//! A replay slowed to market speed (times a factor), for demos: the dashboard over the lake.

use std::time::{Duration, Instant};

use crate::{NANOS_PER_SECOND, Source, SourceError, SymbolTable, Tick, Timestamp};

/// Hands out `inner`'s ticks no faster than `speed` event seconds per wall second, and in
/// blocks of one event second each, so the engine's block path still runs while a viewer
/// sees the market move second by second. Only the timing changes: the ticks, their order
/// and so every output are the source's.
#[derive(Debug)]
pub struct Paced<S> {
    inner: S,
    speed: f64,
    /// The first tick's event time and the wall instant it was handed out.
    origin: Option<(Timestamp, Instant)>,
    /// A tick read past the end of the last block (the next second's first).
    pending: Option<Tick>,
    /// The event time last waited for.
    waited: Option<Timestamp>,
}

impl<S: Source> Paced<S> {
    /// `speed`: event seconds per wall second (must be positive and finite).
    pub fn new(inner: S, speed: f64) -> Self {
        assert!(speed > 0.0 && speed.is_finite(), "a replay's speed must be positive, not {speed}");
        Paced { inner, speed, origin: None, pending: None, waited: None }
    }

    /// Waits until `ts` is due.
    fn wait_for(&mut self, ts: Timestamp) {
        let (start, wall) = *self.origin.get_or_insert((ts, Instant::now()));
        let market = (ts.as_nanos() - start.as_nanos()) as f64 / NANOS_PER_SECOND as f64;
        if let Some(wait) = Duration::from_secs_f64((market / self.speed).max(0.0)).checked_sub(wall.elapsed()) {
            std::thread::sleep(wait);
        }
    }

    fn next(&mut self) -> Result<Option<Tick>, SourceError> {
        match self.pending.take() {
            Some(tick) => Ok(Some(tick)),
            None => self.inner.next_tick(),
        }
    }
}

impl<S: Source> Source for Paced<S> {
    fn next_tick(&mut self) -> Result<Option<Tick>, SourceError> {
        let tick = self.next()?;
        if let Some(t) = &tick
            && self.waited != Some(t.ts_event)
        {
            // Once per event second: the rest of the second's ticks are due already.
            self.waited = Some(t.ts_event);
            self.wait_for(t.ts_event);
        }
        Ok(tick)
    }

    /// The ticks of the next event second (at most `max`), once that second is due.
    fn next_block(&mut self, block: &mut Vec<Tick>, max: usize) -> Result<(), SourceError> {
        block.clear();
        let Some(first) = self.next()? else { return Ok(()) };
        self.waited = Some(first.ts_event);
        self.wait_for(first.ts_event);
        block.push(first);
        while block.len() < max {
            match self.inner.next_tick()? {
                Some(tick) if tick.ts_event == first.ts_event => block.push(tick),
                other => {
                    self.pending = other;
                    break;
                }
            }
        }
        Ok(())
    }

    fn symbols(&self) -> &SymbolTable {
        self.inner.symbols()
    }

    fn remaining_hint(&self) -> Option<u64> {
        self.inner.remaining_hint().map(|n| n + u64::from(self.pending.is_some()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SymbolId, VecSource};

    fn ticks() -> Vec<Tick> {
        let at = |sym: u32, sec: i64| Tick::at_price(SymbolId::new(sym), Timestamp::from_secs(1_000 + sec), 10.0, 1.0);
        vec![at(0, 0), at(1, 0), at(0, 1), at(0, 2), at(1, 2), at(2, 2)]
    }

    #[test]
    fn blocks_are_event_seconds_and_arrive_at_market_speed() {
        let mut paced = Paced::new(VecSource::new(SymbolTable::new(), ticks()), 50.0);
        let started = Instant::now();
        let mut block = Vec::new();
        let mut sizes = Vec::new();
        loop {
            paced.next_block(&mut block, 100).unwrap();
            if block.is_empty() {
                break;
            }
            assert!(block.iter().all(|t| t.ts_event == block[0].ts_event), "one second per block");
            sizes.push(block.len());
        }
        assert_eq!(sizes, [2, 1, 3]);
        // Two event seconds at 50x: 40 ms at least.
        assert!(started.elapsed() >= Duration::from_millis(40), "{:?}", started.elapsed());
    }

    #[test]
    fn pacing_changes_no_tick_and_no_order() {
        let mut paced = Paced::new(VecSource::new(SymbolTable::new(), ticks()), 1e6);
        let mut block = Vec::new();
        let mut seen = Vec::new();
        paced.next_block(&mut block, 2).unwrap();
        seen.extend_from_slice(&block);
        while let Some(t) = paced.next_tick().unwrap() {
            seen.push(t);
        }
        assert_eq!(seen, ticks());
    }
}
