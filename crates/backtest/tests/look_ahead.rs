//! Look-ahead canaries: what a strategy can see, and when its orders fill.
//!
//! A strategy is called by the engine with one tick and what the pipeline produced for it,
//! in event order; it has no handle on the source, and the outputs it is lent cannot be
//! kept (see the `compile_fail` example on `tickloop_core::Strategy`). So "peeking one tick
//! ahead" cannot be written; these tests pin down the rest: every call sees nothing newer
//! than its tick, and an order decided on a bar fills at a later bar's open, after the
//! configured latency, whatever price the signal bar closed at.

use std::sync::{Arc, Mutex};

use tickloop_backtest::{Backtest, ExperimentConfig};
use tickloop_core::{CalledFor, Outputs, Price, Strategy, SymbolId, SymbolTable, Tick, Timestamp, VecSource, Volume};

const START: i64 = 1_704_205_800; // 2024-01-02T14:30:00Z

/// One symbol; second k opens at 1000 + k and closes half a dollar higher, so every
/// candidate fill price (the signal bar's open or close, a later bar's open) is distinct.
fn ticks(seconds: i64) -> Vec<Tick> {
    (0..seconds)
        .map(|k| {
            let open = 1000.0 + k as f64;
            Tick {
                symbol: SymbolId::new(0),
                ts_event: Timestamp::from_secs(START + k),
                ts_recv: Timestamp::from_secs(START + k),
                open: Price(open),
                high: Price(open + 0.5),
                low: Price(open),
                close: Price(open + 0.5),
                volume: Volume(1_000.0),
            }
        })
        .collect()
}

fn experiment(latency_ms: u64) -> ExperimentConfig {
    let mut config = ExperimentConfig::parse(&format!(
        r#"
name = "canary"
[data]
start = "2024-01-02T14:30:00Z"
end = "2024-01-02T15:00:00Z"
[pipeline]
features = ["log_return"]
[pipeline.alerts]
cooldown_secs = 60
[execution]
initial_capital = 100000.0
fee_bps = 0.0
slippage_bps = 0.0
latency_ms = {latency_ms}
[report]
sample_secs = 1
"#
    ))
    .unwrap();
    config.pipeline.alerts.volume_spike = None;
    config.pipeline.alerts.price_drop = None;
    config.pipeline.alerts.model_anomaly = None;
    config
}

/// Goes all in on the bar stamped `signal_secs` after the start: a strategy that "knows"
/// this bar closes high and wants its close.
struct BuyOnBar {
    signal: Timestamp,
    /// Every (tick time, newest time visible in the outputs) the strategy was shown.
    seen: Arc<Mutex<Vec<(Timestamp, Timestamp)>>>,
}

impl Strategy for BuyOnBar {
    fn on_tick(&mut self, tick: &Tick, out: &Outputs) -> Option<f64> {
        let newest = out
            .tick
            .iter()
            .map(|t| t.ts_event)
            .chain(out.predictions.iter().map(|p| p.ts_event))
            .chain(out.alerts.iter().map(|a| a.ts_event))
            .chain(out.bars.iter().map(|b| b.ts_close))
            .max()
            .unwrap_or(tick.ts_event);
        self.seen.lock().unwrap().push((tick.ts_event, newest));
        (tick.ts_event == self.signal).then_some(1.0)
    }
}

fn final_equity(latency_ms: u64, signal_secs: i64, seconds: i64) -> (f64, Vec<(Timestamp, Timestamp)>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let strategy = BuyOnBar { signal: Timestamp::from_secs(START + signal_secs), seen: seen.clone() };
    let config = experiment(latency_ms);
    let mut source = VecSource::new(SymbolTable::from_names(["CANARY"]).unwrap(), ticks(seconds));
    let report = Backtest::new(&config).strategy(Box::new(strategy)).run(&mut source, &mut []).unwrap();
    let seen = seen.lock().unwrap().clone();
    (report.metrics.final_equity, seen)
}

#[test]
fn an_order_decided_on_a_bar_fills_at_a_later_bars_open_never_at_the_signal_close() {
    let (signal, seconds) = (10, 40);
    let signal_close = 1000.0 + signal as f64 + 0.5;
    let shares = (100_000.0 / signal_close).trunc();
    let last_close = 1000.0 + (seconds - 1) as f64 + 0.5;
    // Equity at the end = capital + shares × (last close − fill price): it names the price.
    let fill_price = |equity: f64| last_close - (equity - 100_000.0) / shares;
    for (latency_ms, expected_bar) in [(0, signal + 1), (999, signal + 2), (1000, signal + 2), (1500, signal + 3)] {
        let (equity, _) = final_equity(latency_ms, signal, seconds);
        let price = fill_price(equity);
        let open_of_expected_bar = 1000.0 + expected_bar as f64;
        assert!(
            (price - open_of_expected_bar).abs() < 1e-6,
            "latency {latency_ms} ms: filled at {price}, expected the open of bar {expected_bar} ({open_of_expected_bar}); \
             the signal bar closed at {signal_close}"
        );
        assert!(price > signal_close, "never at or before the signal bar's close");
    }
}

#[test]
fn the_strategy_never_sees_anything_newer_than_the_tick_it_is_asked_about() {
    let (_, seen) = final_equity(100, 10, 300);
    assert_eq!(seen.len(), 300, "asked once per accepted tick");
    for pair in seen.windows(2) {
        assert!(pair[0].0 <= pair[1].0, "asked in event order");
    }
    for (tick, newest) in seen {
        assert!(newest <= tick, "shown data from {newest} while deciding at {tick}");
    }
}

/// A walk-forward test window replays history before it opens so the features are warm:
/// that history must neither trade nor be scored nor even be shown to the strategy.
#[test]
fn nothing_before_trade_from_is_traded_sampled_or_shown_to_the_strategy() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    // "Buys" on bar 5, inside the warm-up: it must never be asked, so it never buys.
    let strategy = BuyOnBar { signal: Timestamp::from_secs(START + 5), seen: seen.clone() };
    let config = experiment(0);
    let open = Timestamp::from_secs(START + 20);
    let mut source = VecSource::new(SymbolTable::from_names(["CANARY"]).unwrap(), ticks(60));
    let report =
        Backtest::new(&config).strategy(Box::new(strategy)).trade_from(open).run(&mut source, &mut []).unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 40, "asked about the 40 ticks from trade_from on, and no others");
    assert!(seen.iter().all(|(tick, _)| *tick >= open));
    assert_eq!(report.metrics.trades, 0);
    assert_eq!(report.metrics.final_equity, 100_000.0);
    assert!(report.equity.iter().all(|p| p.ts >= open), "no equity sample from the warm-up");
    assert_eq!(report.data.ticks, 60, "the warm-up is replayed (features need it)");

    // The same strategy trading from the start does buy on bar 5: the window is what stops it.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let strategy = BuyOnBar { signal: Timestamp::from_secs(START + 5), seen };
    let mut source = VecSource::new(SymbolTable::from_names(["CANARY"]).unwrap(), ticks(60));
    let report = Backtest::new(&config).strategy(Box::new(strategy)).run(&mut source, &mut []).unwrap();
    assert_eq!(report.metrics.trades, 1);
}

/// [`BuyOnBar`] that asks to be called only for ticks carrying a prediction.
struct OnPredictionsOnly(BuyOnBar);

impl Strategy for OnPredictionsOnly {
    fn on_tick(&mut self, tick: &Tick, out: &Outputs) -> Option<f64> {
        self.0.on_tick(tick, out)
    }

    fn called_for(&self) -> CalledFor {
        CalledFor::PREDICTIONS
    }
}

/// A strategy that trades on predictions is not called for the ticks without one (here, a
/// run without a model: none at all), so it cannot act on them.
#[test]
fn a_strategy_called_only_for_predictions_is_not_asked_about_the_other_ticks() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let strategy = OnPredictionsOnly(BuyOnBar { signal: Timestamp::from_secs(START + 5), seen: seen.clone() });
    let mut source = VecSource::new(SymbolTable::from_names(["CANARY"]).unwrap(), ticks(60));
    let report = Backtest::new(&experiment(0)).strategy(Box::new(strategy)).run(&mut source, &mut []).unwrap();
    assert!(seen.lock().unwrap().is_empty(), "asked about ticks without a prediction");
    assert_eq!(report.metrics.trades, 0);
    assert_eq!(report.data.ticks, 60, "every tick still went through the backtest");
}
