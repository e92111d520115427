//! The live runner's view for the dashboard.

use std::sync::{Arc, Mutex};

use tickloop_core::{Outputs, Tick};
use tickloop_serve::{DashboardState, Health};

use crate::{LatencySummary, LiveObserver, LiveSummary};

/// Feeds a dashboard from the live runner: every clean tick, prediction and stats window.
#[derive(Debug)]
pub struct DashboardObserver(pub Arc<Mutex<DashboardState>>);

impl LiveObserver for DashboardObserver {
    fn on_tick(&mut self, symbol: &str, tick: &Tick, outputs: &Outputs) {
        let mut state = self.0.lock().expect("not poisoned");
        state.on_tick(symbol, tick, &outputs.alerts);
        state.on_matured(symbol, &outputs.matured);
    }

    fn on_prediction(&mut self, symbol: &str, prediction: &tickloop_core::Prediction) {
        self.0.lock().expect("not poisoned").on_prediction(symbol, prediction.ts_event, prediction.value);
    }

    fn on_stats(&mut self, rate: f64, latency: Option<&LatencySummary>, summary: &LiveSummary) {
        let health = Health {
            ticks_per_sec: rate,
            e2e_p50_ms: latency.map_or(0.0, |l| l.e2e_p50_ms),
            e2e_p99_ms: latency.map_or(0.0, |l| l.e2e_p99_ms),
            consumer_lag: summary.consumer_lag,
            dead_letters: summary.dead_letters,
        };
        self.0.lock().expect("not poisoned").set_health(health);
    }
}
