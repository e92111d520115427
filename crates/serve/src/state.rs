//! What the dashboard shows, updated by whoever runs the pipeline (the live runner or a
//! replay) and read by the page through JSON snapshots.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;
use serde_json::{Value, json};
use tickloop_core::{Alert, Tick, Timestamp};
use tickloop_features::Bollinger;

/// Points kept per symbol for the detail chart.
const HISTORY: usize = 900;
/// Alerts kept for the feed.
const FEED: usize = 200;

#[derive(Debug, Clone, Serialize)]
struct Point {
    ts: String,
    close: f64,
    /// Bollinger(20, 2): lower, middle (SMA 20), upper; null while warming up.
    lower: Option<f64>,
    middle: Option<f64>,
    upper: Option<f64>,
}

#[derive(Debug, Clone)]
struct SymbolView {
    first_close: f64,
    last: Tick,
    volume: f64,
    ticks: u64,
    alerts: u64,
    last_alert: Option<String>,
    prediction: Option<f64>,
    bands: Bollinger,
    history: VecDeque<Point>,
}

/// Throughput and latency as the runner measures them.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Health {
    pub ticks_per_sec: f64,
    pub e2e_p50_ms: f64,
    pub e2e_p99_ms: f64,
    pub consumer_lag: u64,
    pub dead_letters: u64,
}

/// One symbol's line in the overview.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub symbol: String,
    #[serde(serialize_with = "as_text")]
    pub ts: Timestamp,
    pub price: f64,
    pub change_pct: f64,
    pub volume: f64,
    pub prediction: Option<f64>,
    pub alerts: u64,
    pub last_alert: Option<String>,
}

/// What the overview page renders, as of one version of the state.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub version: u64,
    #[serde(serialize_with = "as_text")]
    pub market_time: Timestamp,
    pub ticks: u64,
    pub symbols: Vec<Row>,
    pub alerts: Vec<Value>,
    pub health: Health,
}

fn as_text<S: serde::Serializer>(ts: &Timestamp, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(ts)
}

/// The dashboard's model of the market.
#[derive(Debug, Default)]
pub struct DashboardState {
    symbols: BTreeMap<String, SymbolView>,
    feed: VecDeque<Value>,
    health: Health,
    ticks: u64,
    /// Bumped on every change, so the page can tell whether anything moved.
    version: u64,
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

impl DashboardState {
    /// Records one clean tick of `symbol` and the alerts it raised.
    pub fn on_tick(&mut self, symbol: &str, tick: &Tick, alerts: &[Alert]) {
        let view = self.symbols.entry(symbol.to_owned()).or_insert_with(|| SymbolView {
            first_close: tick.close.get(),
            last: *tick,
            volume: 0.0,
            ticks: 0,
            alerts: 0,
            last_alert: None,
            prediction: None,
            bands: Bollinger::new(20, 2.0),
            history: VecDeque::with_capacity(HISTORY),
        });
        let (upper, middle, lower) = view.bands.update(tick.close.get());
        if view.history.len() == HISTORY {
            view.history.pop_front();
        }
        view.history.push_back(Point {
            ts: tick.ts_event.to_string(),
            close: tick.close.get(),
            lower: finite(lower),
            middle: finite(middle),
            upper: finite(upper),
        });
        view.last = *tick;
        view.volume += tick.volume.get();
        view.ticks += 1;
        for alert in alerts {
            view.alerts += 1;
            let mut item = tickloop_alerts::alert_json(symbol, alert);
            let kind = item["kind"].as_str().unwrap_or_default().to_owned();
            view.last_alert = Some(kind);
            item.remove("id");
            if self.feed.len() == FEED {
                self.feed.pop_back();
            }
            self.feed.push_front(Value::Object(item));
        }
        self.ticks += 1;
        self.version += 1;
    }

    /// Records a model's latest prediction (next-horizon log return) for `symbol`.
    pub fn on_prediction(&mut self, symbol: &str, value: f64) {
        if let Some(view) = self.symbols.get_mut(symbol) {
            view.prediction = finite(value);
            self.version += 1;
        }
    }

    pub fn set_health(&mut self, health: Health) {
        self.health = health;
        self.version += 1;
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    /// Every symbol's row, the alert feed and health: what the overview renders. A copy, so
    /// that whoever takes it can serialise it after letting go of the lock the runner takes
    /// per tick.
    pub fn overview(&self) -> Overview {
        let symbols = self
            .symbols
            .iter()
            .map(|(name, v)| {
                let close = v.last.close.get();
                Row {
                    symbol: name.clone(),
                    ts: v.last.ts_event,
                    price: close,
                    change_pct: (close / v.first_close - 1.0) * 100.0,
                    volume: v.volume,
                    prediction: v.prediction,
                    alerts: v.alerts,
                    last_alert: v.last_alert.clone(),
                }
            })
            .collect();
        let market_time = self.symbols.values().map(|v| v.last.ts_event).max().unwrap_or(Timestamp::from_nanos(0));
        Overview {
            version: self.version,
            market_time,
            ticks: self.ticks,
            symbols,
            alerts: self.feed.iter().cloned().collect(),
            health: self.health,
        }
    }

    /// One symbol's recent history (price with Bollinger bands) and alerts, or `None`.
    pub fn detail(&self, symbol: &str) -> Option<Value> {
        let v = self.symbols.get(symbol)?;
        let alerts: Vec<&Value> = self.feed.iter().filter(|a| a["symbol"] == symbol).collect();
        Some(json!({ "symbol": symbol, "points": v.history, "alerts": alerts, "prediction": v.prediction }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickloop_core::{AlertKind, SymbolId};

    fn tick(sec: i64, close: f64) -> Tick {
        Tick::at_price(SymbolId::new(0), Timestamp::from_secs(1_704_205_800 + sec), close, 10.0)
    }

    #[test]
    fn the_overview_tracks_prices_changes_and_alerts() {
        let mut s = DashboardState::default();
        s.on_tick("AAA", &tick(0, 100.0), &[]);
        let alert = Alert {
            symbol: SymbolId::new(0),
            ts_event: tick(1, 0.0).ts_event,
            kind: AlertKind::PriceDrop,
            value: 2.5,
            threshold: 2.0,
            message: "down".into(),
        };
        s.on_tick("AAA", &tick(1, 97.5), std::slice::from_ref(&alert));
        let o = serde_json::to_value(s.overview()).unwrap();
        assert_eq!(o["symbols"][0]["price"], 97.5);
        assert!((o["symbols"][0]["change_pct"].as_f64().unwrap() + 2.5).abs() < 1e-9);
        assert_eq!(o["symbols"][0]["last_alert"], "price_drop");
        assert_eq!(o["alerts"][0]["symbol"], "AAA");
        let d = s.detail("AAA").unwrap();
        assert_eq!(d["points"].as_array().unwrap().len(), 2);
        assert!(s.detail("ZZZ").is_none());
    }
}
