//! The dashboard fed by an engine run (a replay of the lake); the live runner's feed is
//! `tickloop_live::DashboardObserver`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tickloop_core::{Outputs, Sink, SinkError, SymbolTable, Tick};

use crate::{DashboardState, Health};

/// An engine sink that feeds the dashboard from a replay: each clean tick with its alerts
/// and predictions, and once a wall second the throughput and dead letters.
#[derive(Debug)]
pub struct DashboardSink {
    state: Arc<Mutex<DashboardState>>,
    symbols: SymbolTable,
    window_start: Instant,
    window_ticks: u64,
    dead_letters: u64,
}

impl DashboardSink {
    pub fn new(state: Arc<Mutex<DashboardState>>, symbols: SymbolTable) -> Self {
        DashboardSink { state, symbols, window_start: Instant::now(), window_ticks: 0, dead_letters: 0 }
    }

    fn predictions(&self, state: &mut DashboardState, out: &Outputs) {
        for p in &out.predictions {
            state.on_prediction(self.symbols.name(p.symbol), p.ts_event, p.value);
        }
    }
}

impl Sink for DashboardSink {
    fn on_outputs(&mut self, _input: &Tick, out: &Outputs) -> Result<(), SinkError> {
        let mut state = self.state.lock().expect("not poisoned");
        self.dead_letters += out.rejects.len() as u64;
        if let Some(clean) = out.tick {
            let symbol = self.symbols.name(clean.symbol);
            state.on_tick(symbol, &clean, &out.alerts);
            state.on_matured(symbol, &out.matured);
            self.window_ticks += 1;
        }
        self.predictions(&mut state, out);
        let elapsed = self.window_start.elapsed();
        if elapsed >= Duration::from_secs(1) {
            let rate = self.window_ticks as f64 / elapsed.as_secs_f64();
            state.set_health(Health { ticks_per_sec: rate, dead_letters: self.dead_letters, ..Health::default() });
            (self.window_start, self.window_ticks) = (Instant::now(), 0);
        }
        Ok(())
    }

    fn on_flush(&mut self, out: &Outputs) -> Result<(), SinkError> {
        let mut state = self.state.lock().expect("not poisoned");
        self.predictions(&mut state, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickloop_core::{Prediction, RejectReason, Rejection, Timestamp};

    #[test]
    fn clean_ticks_predictions_and_rejects_reach_the_page() {
        let mut symbols = SymbolTable::new();
        let aaa = symbols.intern("AAA").unwrap();
        let state = Arc::new(Mutex::new(DashboardState::default()));
        let mut sink = DashboardSink::new(state.clone(), symbols);
        let tick = Tick::at_price(aaa, Timestamp::from_secs(1_704_205_800), 10.0, 5.0);
        let out = Outputs { tick: Some(tick), ..Outputs::default() };
        sink.on_outputs(&tick, &out).unwrap();
        let rejected = Outputs {
            rejects: vec![Rejection {
                reason: RejectReason::NonPositivePrice,
                detail: "close = -1".into(),
                tick: Some(tick),
                raw: None,
            }],
            ..Outputs::default()
        };
        sink.on_outputs(&tick, &rejected).unwrap();
        let prediction = Prediction {
            symbol: aaa,
            ts_event: tick.ts_event,
            model_version: "m/v1".into(),
            value: 0.25,
            prob_up: None,
        };
        sink.on_flush(&Outputs { predictions: vec![prediction], ..Outputs::default() }).unwrap();
        let overview = serde_json::to_value(state.lock().unwrap().overview()).unwrap();
        assert_eq!(overview["ticks"], 1, "a rejected tick is not shown");
        assert_eq!(overview["symbols"][0]["price"], 10.0);
        assert_eq!(overview["symbols"][0]["prediction"], 0.25);
    }
}
