//! What the dashboard shows, updated by whoever runs the pipeline (the live runner or a
//! replay) and read by the page through JSON snapshots.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;
use serde_json::Value;
use tickloop_core::{Alert, MaturedPrediction, NANOS_PER_MINUTE, Tick, Timestamp};
use tickloop_features::{BarAggregator, Bollinger};

/// One-minute candles kept per symbol: a US session.
const CANDLES: usize = 390;
/// Alerts kept per symbol for the chart's markers.
const SYMBOL_ALERTS: usize = 100;
/// Predictions kept per symbol for the chart (at most one a minute is drawn).
const PREDICTIONS: usize = 390;
/// Alerts kept for the feed.
const FEED: usize = 200;

/// A one-minute candle, stamped (`t`, epoch seconds) at its open like every charting
/// library expects, with Bollinger(20, 2) of minute closes as of its close (null while
/// warming up, and on the candle still open).
#[derive(Debug, Clone, Copy, Serialize)]
struct Candle {
    t: i64,
    open: f64,
    high: f64,
    low: f64,
    close: f64,
    volume: f64,
    lower: Option<f64>,
    middle: Option<f64>,
    upper: Option<f64>,
}

impl Candle {
    fn of(bar: &tickloop_core::Bar) -> Self {
        Candle {
            t: bar.ts_open.as_secs(),
            open: bar.open.get(),
            high: bar.high.get(),
            low: bar.low.get(),
            close: bar.close.get(),
            volume: bar.volume.get(),
            lower: None,
            middle: None,
            upper: None,
        }
    }
}

/// An alert as the chart marks it: on the candle whose minute holds it.
#[derive(Debug, Clone, Serialize)]
struct AlertMark {
    /// The open of the candle it falls in (a tick stamped `t` covers `(t − 1 s, t]`).
    t: i64,
    ts_event: String,
    kind: &'static str,
    summary: String,
    message: String,
}

/// A prediction beside what then happened (`realized`, once its horizon has passed).
#[derive(Debug, Clone, Copy, Serialize)]
struct PredictionMark {
    /// The minute it was made in: it forecasts the candles from there on.
    t: i64,
    #[serde(skip)]
    predicted_at: Timestamp,
    predicted: f64,
    realized: Option<f64>,
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
    bars: BarAggregator,
    bands: Bollinger,
    candles: VecDeque<Candle>,
    alert_marks: VecDeque<AlertMark>,
    predictions: VecDeque<PredictionMark>,
    /// Matured predictions, and those whose sign was right, since the start.
    matured: u64,
    hits: u64,
}

impl SymbolView {
    fn new(tick: &Tick) -> Self {
        SymbolView {
            first_close: tick.close.get(),
            last: *tick,
            volume: 0.0,
            ticks: 0,
            alerts: 0,
            last_alert: None,
            prediction: None,
            bars: BarAggregator::new(NANOS_PER_MINUTE),
            bands: Bollinger::new(20, 2.0),
            candles: VecDeque::with_capacity(CANDLES),
            alert_marks: VecDeque::new(),
            predictions: VecDeque::new(),
            matured: 0,
            hits: 0,
        }
    }

    fn add_tick(&mut self, tick: &Tick, completed: &mut Vec<tickloop_core::Bar>) {
        completed.clear();
        self.bars.push(tick, completed);
        for bar in completed.iter() {
            let (upper, middle, lower) = self.bands.update(bar.close.get());
            push_bounded(
                &mut self.candles,
                CANDLES,
                Candle { lower: finite(lower), middle: finite(middle), upper: finite(upper), ..Candle::of(bar) },
            );
        }
        self.last = *tick;
        self.volume += tick.volume.get();
        self.ticks += 1;
    }

    fn add_matured(&mut self, predicted_at: Timestamp, predicted: f64, realized: f64) {
        if !(predicted.is_finite() && realized.is_finite()) {
            return;
        }
        self.matured += 1;
        self.hits += u64::from(predicted * realized > 0.0);
        if let Some(mark) = self.predictions.iter_mut().rev().find(|p| p.predicted_at == predicted_at) {
            mark.realized = Some(realized);
        }
    }
}

fn push_bounded<T>(queue: &mut VecDeque<T>, cap: usize, item: T) {
    if queue.len() == cap {
        queue.pop_front();
    }
    queue.push_back(item);
}

fn minute_of(ts: Timestamp) -> i64 {
    ts.add_nanos(-1).floor_to(NANOS_PER_MINUTE).as_secs()
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
    /// The market's IANA time zone, for the page's clocks and axes; `None` shows UTC.
    pub time_zone: Option<String>,
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
    time_zone: Option<String>,
    /// Bumped on every change, so the page can tell whether anything moved.
    version: u64,
    /// Scratch for the bars a tick completes (reused: no allocation per tick).
    completed: Vec<tickloop_core::Bar>,
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// One symbol's chart: what `/api/symbol` returns.
#[derive(Debug, Serialize)]
pub struct Detail<'a> {
    symbol: &'a str,
    time_zone: Option<&'a str>,
    /// One-minute candles, oldest first; the last one is still open.
    candles: Vec<Candle>,
    /// At most one a minute (the minute's last), oldest first.
    predictions: Vec<PredictionMark>,
    /// Predictions whose horizon has passed, and those that had the sign right.
    matured: u64,
    hits: u64,
    alerts: Vec<&'a AlertMark>,
    prediction: Option<f64>,
}

impl DashboardState {
    /// A state whose page shows clocks and axes in `time_zone` (an IANA name).
    pub fn in_time_zone(time_zone: impl Into<String>) -> Self {
        DashboardState { time_zone: Some(time_zone.into()), ..DashboardState::default() }
    }

    /// Records one clean tick of `symbol` and the alerts it raised.
    pub fn on_tick(&mut self, symbol: &str, tick: &Tick, alerts: &[Alert]) {
        let view = match self.symbols.get_mut(symbol) {
            Some(view) => view,
            None => self.symbols.entry(symbol.to_owned()).or_insert_with(|| SymbolView::new(tick)),
        };
        view.add_tick(tick, &mut self.completed);
        for alert in alerts {
            view.alerts += 1;
            let mut item = tickloop_alerts::alert_json(symbol, alert);
            let kind = tickloop_alerts::kind_name(alert.kind);
            view.last_alert = Some(kind.to_owned());
            push_bounded(
                &mut view.alert_marks,
                SYMBOL_ALERTS,
                AlertMark {
                    t: minute_of(alert.ts_event),
                    ts_event: alert.ts_event.to_string(),
                    kind,
                    summary: tickloop_alerts::alert_summary(symbol, alert),
                    message: alert.message.clone(),
                },
            );
            item.remove("id");
            if self.feed.len() == FEED {
                self.feed.pop_back();
            }
            self.feed.push_front(Value::Object(item));
        }
        self.ticks += 1;
        self.version += 1;
    }

    /// Records a model's prediction (next-horizon log return) for `symbol`, made at `ts`.
    pub fn on_prediction(&mut self, symbol: &str, ts: Timestamp, value: f64) {
        if let Some(view) = self.symbols.get_mut(symbol) {
            view.prediction = finite(value);
            if value.is_finite() {
                let mark = PredictionMark {
                    t: ts.floor_to(NANOS_PER_MINUTE).as_secs(),
                    predicted_at: ts,
                    predicted: value,
                    realized: None,
                };
                push_bounded(&mut view.predictions, PREDICTIONS, mark);
            }
            self.version += 1;
        }
    }

    /// Records predictions of `symbol` whose horizon has passed, beside what happened.
    pub fn on_matured(&mut self, symbol: &str, matured: &[MaturedPrediction]) {
        if matured.is_empty() {
            return;
        }
        if let Some(view) = self.symbols.get_mut(symbol) {
            for m in matured {
                view.add_matured(m.predicted_at, m.predicted, m.realized);
            }
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
            time_zone: self.time_zone.clone(),
        }
    }

    /// One symbol's chart (candles with bands, predictions beside outcomes, alerts), or
    /// `None` for a symbol not seen.
    pub fn detail(&self, symbol: &str) -> Option<Detail<'_>> {
        let (symbol, v) = self.symbols.get_key_value(symbol)?;
        let mut candles: Vec<Candle> = v.candles.iter().copied().collect();
        candles.extend(v.bars.open().map(Candle::of));
        let mut predictions: Vec<PredictionMark> = Vec::with_capacity(v.predictions.len());
        for p in &v.predictions {
            match predictions.last_mut() {
                Some(last) if last.t == p.t => *last = *p,
                _ => predictions.push(*p),
            }
        }
        Some(Detail {
            symbol,
            time_zone: self.time_zone.as_deref(),
            candles,
            predictions,
            matured: v.matured,
            hits: v.hits,
            alerts: v.alert_marks.iter().collect(),
            prediction: v.prediction,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickloop_core::{AlertKind, SymbolId};

    /// 2024-01-02 14:30:00 UTC, a minute's open.
    const OPEN: i64 = 1_704_205_800;

    fn tick(sec: i64, close: f64) -> Tick {
        Tick::at_price(SymbolId::new(0), Timestamp::from_secs(OPEN + sec), close, 10.0)
    }

    fn alert(sec: i64) -> Alert {
        Alert {
            symbol: SymbolId::new(0),
            ts_event: Timestamp::from_secs(OPEN + sec),
            kind: AlertKind::PriceDrop,
            value: 2.5,
            threshold: 2.0,
            message: "down 2.5 %".into(),
        }
    }

    #[test]
    fn the_overview_tracks_prices_changes_and_alerts() {
        let mut s = DashboardState::in_time_zone("America/New_York");
        s.on_tick("AAA", &tick(1, 100.0), &[]);
        s.on_tick("AAA", &tick(2, 97.5), &[alert(2)]);
        let o = serde_json::to_value(s.overview()).unwrap();
        assert_eq!(o["symbols"][0]["price"], 97.5);
        assert!((o["symbols"][0]["change_pct"].as_f64().unwrap() + 2.5).abs() < 1e-9);
        assert_eq!(o["symbols"][0]["last_alert"], "price_drop");
        assert_eq!(o["alerts"][0]["symbol"], "AAA");
        assert_eq!(o["time_zone"], "America/New_York");
        assert!(s.detail("ZZZ").is_none());
    }

    #[test]
    fn ticks_become_minute_candles_with_the_open_one_last() {
        let mut s = DashboardState::default();
        // 14:30:01 .. 14:32:30: two whole minutes and half of the third.
        for sec in 1..=150 {
            let close = 100.0 + (sec % 60) as f64 / 10.0;
            s.on_tick("AAA", &tick(sec, close), &[]);
        }
        let d = serde_json::to_value(s.detail("AAA").unwrap()).unwrap();
        let candles = d["candles"].as_array().unwrap();
        assert_eq!(candles.len(), 3);
        // The 14:31:00 tick is the last of the 14:30 minute: it closes that candle.
        assert_eq!(candles[0]["t"], OPEN);
        assert_eq!(candles[0]["open"], 100.1);
        assert_eq!(candles[0]["close"], 100.0);
        assert_eq!(candles[0]["high"], 105.9);
        assert_eq!(candles[0]["volume"], 600.0);
        assert_eq!(candles[2]["t"], OPEN + 120);
        assert_eq!(candles[2]["close"], 103.0, "the open candle as it stands");
        assert_eq!(candles[2]["volume"], 300.0);
        assert!(candles[0]["middle"].is_null(), "bands warm up over 20 minutes");
    }

    #[test]
    fn bands_follow_minute_closes_and_alerts_mark_their_candle() {
        let mut s = DashboardState::default();
        for minute in 0..25 {
            s.on_tick("AAA", &tick(minute * 60 + 60, 100.0 + minute as f64), &[]);
        }
        s.on_tick("AAA", &tick(25 * 60 + 1, 90.0), &[alert(25 * 60 + 1)]);
        let d = serde_json::to_value(s.detail("AAA").unwrap()).unwrap();
        let candles = d["candles"].as_array().unwrap();
        assert!(candles[18]["middle"].is_null());
        // The 20th close's band: SMA of closes 100..=119.
        assert_eq!(candles[19]["middle"], 109.5);
        assert!(candles[19]["upper"].as_f64().unwrap() > 109.5);
        let marks = d["alerts"].as_array().unwrap();
        assert_eq!(marks.len(), 1);
        assert_eq!(marks[0]["t"], OPEN + 25 * 60, "on the candle the alert's tick belongs to");
        assert_eq!(marks[0]["message"], "down 2.5 %");
        assert_eq!(marks[0]["kind"], "price_drop");
    }

    #[test]
    fn predictions_meet_their_outcomes_and_count_hits() {
        let mut s = DashboardState::default();
        s.on_tick("AAA", &tick(60, 100.0), &[]);
        let at = |sec: i64| Timestamp::from_secs(OPEN + sec);
        s.on_prediction("AAA", at(60), 0.002);
        s.on_prediction("AAA", at(90), 0.003);
        s.on_prediction("AAA", at(120), -0.001);
        s.on_prediction("ZZZ", at(120), 0.5);
        let matured = |sec: i64, predicted: f64, realized: f64| MaturedPrediction {
            symbol: SymbolId::new(0),
            predicted_at: at(sec),
            predicted,
            realized,
        };
        s.on_matured("AAA", &[matured(60, 0.002, 0.001), matured(90, 0.003, -0.002)]);
        let d = serde_json::to_value(s.detail("AAA").unwrap()).unwrap();
        let p = d["predictions"].as_array().unwrap();
        assert_eq!(p.len(), 2, "one a minute, the minute's last: {p:?}");
        assert_eq!((p[0]["t"].as_i64(), p[0]["predicted"].as_f64()), (Some(OPEN + 60), Some(0.003)));
        assert_eq!(p[0]["realized"], -0.002);
        assert!(p[1]["realized"].is_null(), "not matured yet");
        assert_eq!((d["matured"].as_u64(), d["hits"].as_u64()), (Some(2), Some(1)));
        assert_eq!(d["prediction"], -0.001);
    }
}
