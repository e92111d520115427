//! tickloop-alerts: the rules that turn clean ticks (and model errors) into alerts.
//!
//! Rules run inside the pipeline, on event time only, so a backtest over the lake and the
//! live runner over Kafka raise the same alerts at the same `ts_event`s. Each alert is
//! identified by `(symbol, kind, ts_event)`, and a per-symbol, per-rule cooldown (in event
//! time) suppresses repeats: a spike that lasts a minute is one alert, not sixty, and a
//! replay after a crash re-raises exactly the alerts it raised before, which downstream
//! consumers de-duplicate by that key.
//!
//! Where alerts go (Kafka, SNS, a webhook, the log) is the runner's business; this crate
//! decides only *whether* and *what*.

use serde::{Deserialize, Serialize};
use tickloop_core::{Alert, AlertKind, NANOS_PER_SECOND, Tick, Timestamp};
use tickloop_features::{Extreme, Indicator, RollingExtreme, RollingMoments, VolumeZScore};

/// A volume spike: one tick's volume above an absolute level (the original design's
/// 1,000,000 shares) or far above its recent baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VolumeSpikeRule {
    /// Fire when a tick's volume reaches this many shares; `None` turns the check off.
    pub absolute: Option<f64>,
    /// Fire when volume is this many standard deviations above the previous `window`
    /// ticks' mean; `None` turns the check off.
    pub zscore: Option<f64>,
    pub window: usize,
}

impl Default for VolumeSpikeRule {
    fn default() -> Self {
        VolumeSpikeRule { absolute: Some(1_000_000.0), zscore: Some(6.0), window: 300 }
    }
}

/// A price drop: the close is `pct` percent or more below the highest close of the last
/// `window` ticks (the current one included). Quiet until a symbol has `window` ticks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PriceDropRule {
    pub pct: f64,
    pub window: usize,
}

impl Default for PriceDropRule {
    fn default() -> Self {
        PriceDropRule { pct: 2.0, window: 300 }
    }
}

/// A model anomaly: a prediction's absolute error is `sigmas` standard deviations above the
/// mean absolute error of that symbol's previous `window` predictions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelAnomalyRule {
    pub sigmas: f64,
    pub window: usize,
}

impl Default for ModelAnomalyRule {
    fn default() -> Self {
        ModelAnomalyRule { sigmas: 5.0, window: 500 }
    }
}

/// Which rules run, and the cooldown between two alerts of one rule for one symbol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertConfig {
    pub volume_spike: Option<VolumeSpikeRule>,
    pub price_drop: Option<PriceDropRule>,
    pub model_anomaly: Option<ModelAnomalyRule>,
    /// Event-time seconds after an alert during which the same rule stays quiet for that
    /// symbol.
    pub cooldown_secs: u32,
}

impl Default for AlertConfig {
    fn default() -> Self {
        AlertConfig {
            volume_spike: Some(VolumeSpikeRule::default()),
            price_drop: Some(PriceDropRule::default()),
            model_anomaly: Some(ModelAnomalyRule::default()),
            cooldown_secs: 300,
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("alert rule {rule}: {reason}")]
pub struct InvalidAlertConfig {
    pub rule: &'static str,
    pub reason: String,
}

impl AlertConfig {
    /// No rules at all (a pipeline that only computes features).
    pub fn none() -> Self {
        AlertConfig { volume_spike: None, price_drop: None, model_anomaly: None, cooldown_secs: 0 }
    }

    pub fn validate(&self) -> Result<(), InvalidAlertConfig> {
        let bad = |rule, reason: &str| Err(InvalidAlertConfig { rule, reason: reason.to_owned() });
        if let Some(r) = &self.volume_spike {
            if r.window < 2 {
                return bad("volume_spike", "window must be at least 2 ticks");
            }
            let positive = |x: f64| x.is_finite() && x > 0.0;
            if r.absolute.is_some_and(|a| !positive(a)) || r.zscore.is_some_and(|z| !positive(z)) {
                return bad("volume_spike", "absolute and zscore must be positive");
            }
        }
        if let Some(r) = &self.price_drop
            && (r.window < 2 || !(r.pct > 0.0 && r.pct < 100.0))
        {
            return bad("price_drop", "needs window >= 2 and 0 < pct < 100");
        }
        if let Some(r) = &self.model_anomaly
            && (r.window < 2 || !(r.sigmas.is_finite() && r.sigmas > 0.0))
        {
            return bad("model_anomaly", "needs window >= 2 and sigmas > 0");
        }
        Ok(())
    }
}

/// One symbol's rule state. Cheap to clone (the pipeline clones a template per new symbol)
/// and serialisable (it is part of the pipeline's snapshot).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SymbolAlerts {
    volume: Option<(VolumeSpikeRule, VolumeZScore)>,
    drop: Option<(PriceDropRule, RollingExtreme)>,
    errors: Option<(ModelAnomalyRule, RollingMoments)>,
    cooldown_nanos: i64,
    /// Last firing per rule, indexed like [`kind_index`].
    last_fired: [Option<Timestamp>; 3],
}

/// The alert's identity, `alerts/<symbol>/<kind>/<ts_event>`: a replay raises the same ids.
pub fn alert_id(symbol: &str, alert: &Alert) -> String {
    format!("alerts/{symbol}/{}/{}", kind_name(alert.kind), alert.ts_event)
}

/// The snake_case name of a kind, as in JSON.
pub fn kind_name(kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::VolumeSpike => "volume_spike",
        AlertKind::PriceDrop => "price_drop",
        AlertKind::ModelAnomaly => "model_anomaly",
    }
}

/// An alert as JSON, the same wherever it is published (Kafka, the backtest's
/// `alerts.jsonl`, webhooks): id, symbol, ts_event, kind, value, threshold, message.
pub fn alert_json(symbol: &str, alert: &Alert) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::{Value, json};
    let mut map = serde_json::Map::new();
    map.insert("id".into(), json!(alert_id(symbol, alert)));
    map.insert("symbol".into(), json!(symbol));
    map.insert("ts_event".into(), json!(alert.ts_event.to_string()));
    map.insert("kind".into(), json!(kind_name(alert.kind)));
    map.insert("value".into(), if alert.value.is_finite() { json!(alert.value) } else { Value::Null });
    map.insert("threshold".into(), json!(alert.threshold));
    map.insert("message".into(), json!(alert.message));
    map
}

/// How many alerts of each kind were raised.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertCounts {
    pub volume_spike: u64,
    pub price_drop: u64,
    pub model_anomaly: u64,
}

impl AlertCounts {
    pub fn merge(&mut self, other: &AlertCounts) {
        self.volume_spike += other.volume_spike;
        self.price_drop += other.price_drop;
        self.model_anomaly += other.model_anomaly;
    }

    pub fn count(&mut self, alerts: &[Alert]) {
        for alert in alerts {
            *match alert.kind {
                AlertKind::VolumeSpike => &mut self.volume_spike,
                AlertKind::PriceDrop => &mut self.price_drop,
                AlertKind::ModelAnomaly => &mut self.model_anomaly,
            } += 1;
        }
    }
}

fn kind_index(kind: AlertKind) -> usize {
    match kind {
        AlertKind::VolumeSpike => 0,
        AlertKind::PriceDrop => 1,
        AlertKind::ModelAnomaly => 2,
    }
}

impl SymbolAlerts {
    pub fn new(config: &AlertConfig) -> Self {
        SymbolAlerts {
            volume: config.volume_spike.clone().map(|r| {
                let z = VolumeZScore::new(r.window);
                (r, z)
            }),
            drop: config.price_drop.clone().map(|r| {
                let max = RollingExtreme::new(r.window, Extreme::Max);
                (r, max)
            }),
            errors: config.model_anomaly.clone().map(|r| {
                let m = RollingMoments::new(r.window);
                (r, m)
            }),
            cooldown_nanos: i64::from(config.cooldown_secs) * NANOS_PER_SECOND,
            last_fired: [None; 3],
        }
    }

    /// Raises the alert unless its rule is cooling down for this symbol.
    fn fire(&mut self, alert: Alert, out: &mut Vec<Alert>) {
        let slot = &mut self.last_fired[kind_index(alert.kind)];
        if slot.is_some_and(|last| alert.ts_event.as_nanos() - last.as_nanos() < self.cooldown_nanos) {
            return;
        }
        *slot = Some(alert.ts_event);
        out.push(alert);
    }

    /// Feeds one clean tick of this symbol; pushes the alerts it raises.
    pub fn on_tick(&mut self, tick: &Tick, out: &mut Vec<Alert>) {
        let base = |kind, value, threshold, message| Alert {
            symbol: tick.symbol,
            ts_event: tick.ts_event,
            kind,
            value,
            threshold,
            message,
        };
        let mut raised = None;
        if let Some((rule, z)) = &mut self.volume {
            let v = tick.volume.get();
            let score = z.update(v);
            if let Some(level) = rule.absolute.filter(|&a| v >= a) {
                raised = Some(base(AlertKind::VolumeSpike, v, level, format!("volume {v} at or above {level} shares")));
            } else if let Some(limit) = rule.zscore.filter(|&l| score >= l) {
                raised = Some(base(
                    AlertKind::VolumeSpike,
                    score,
                    limit,
                    format!("volume {v} is {score:.1} sd above the previous {} ticks", rule.window),
                ));
            }
        }
        if let Some(alert) = raised.take() {
            self.fire(alert, out);
        }
        if let Some((rule, max)) = &mut self.drop {
            let close = tick.close.get();
            let high = max.update(close);
            let drop_pct = (high - close) / high * 100.0;
            if drop_pct >= rule.pct {
                raised = Some(base(
                    AlertKind::PriceDrop,
                    drop_pct,
                    rule.pct,
                    format!("close {close} is {drop_pct:.2}% below the {}-tick high {high}", rule.window),
                ));
            }
        }
        if let Some(alert) = raised {
            self.fire(alert, out);
        }
    }

    /// Feeds the outcome of one prediction made at `ts_event` (known once its horizon has
    /// passed); raises a model anomaly when the error is far outside the usual.
    pub fn on_prediction_error(&mut self, tick: &Tick, predicted: f64, realized: f64, out: &mut Vec<Alert>) {
        let Some((rule, moments)) = &mut self.errors else { return };
        let error = (predicted - realized).abs();
        if !error.is_finite() {
            return;
        }
        let mut raised = None;
        if moments.is_full() {
            let (mean, var) = moments.mean_var();
            let sd = var.sqrt();
            let sigmas = if sd > 0.0 { (error - mean) / sd } else { 0.0 };
            if sigmas >= rule.sigmas {
                raised = Some(Alert {
                    symbol: tick.symbol,
                    ts_event: tick.ts_event,
                    kind: AlertKind::ModelAnomaly,
                    value: sigmas,
                    threshold: rule.sigmas,
                    message: format!(
                        "prediction error {error:.3e} (predicted {predicted:.3e}, realised {realized:.3e}) is {sigmas:.1} sd above the usual"
                    ),
                });
            }
        }
        moments.push(error);
        if let Some(alert) = raised {
            self.fire(alert, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tickloop_core::SymbolId;

    fn tick(sec: i64, close: f64, volume: f64) -> Tick {
        Tick::at_price(SymbolId::new(3), Timestamp::from_secs(1_704_205_800 + sec), close, volume)
    }

    fn run(config: &AlertConfig, ticks: &[Tick]) -> Vec<Alert> {
        let mut state = SymbolAlerts::new(config);
        let mut out = Vec::new();
        for t in ticks {
            state.on_tick(t, &mut out);
        }
        out
    }

    #[test]
    fn a_volume_spike_fires_once_per_cooldown() {
        let config = AlertConfig { price_drop: None, ..AlertConfig::default() };
        let mut ticks: Vec<Tick> = (0..400).map(|s| tick(s, 100.0, 1000.0 + (s % 10) as f64 * 10.0)).collect();
        for s in 350..360 {
            ticks[s as usize] = tick(s, 100.0, 50_000.0); // a ten-second burst
        }
        ticks[399] = tick(399, 100.0, 2_000_000.0); // above the absolute level, but cooling down
        let alerts = run(&config, &ticks);
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!((alerts[0].kind, alerts[0].ts_event), (AlertKind::VolumeSpike, ticks[350].ts_event));
        assert!(alerts[0].value > 6.0);

        let short = AlertConfig { cooldown_secs: 30, ..config };
        let alerts = run(&short, &ticks);
        assert_eq!(alerts.len(), 2);
        assert_eq!((alerts[1].value, alerts[1].threshold), (2_000_000.0, 1_000_000.0));
    }

    #[test]
    fn a_price_drop_is_measured_from_the_window_high() {
        let rule = PriceDropRule { pct: 2.0, window: 50 };
        let config = AlertConfig { volume_spike: None, price_drop: Some(rule), ..AlertConfig::default() };
        let mut ticks: Vec<Tick> = (0..100).map(|s| tick(s, 100.0, 1000.0)).collect();
        ticks.push(tick(100, 98.5, 1000.0)); // -1.5 %: quiet
        ticks.push(tick(101, 97.9, 1000.0)); // -2.1 %: fires
        ticks.push(tick(102, 97.0, 1000.0)); // deeper, but cooling down
        let alerts = run(&config, &ticks);
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].ts_event, ticks[101].ts_event);
        assert!((alerts[0].value - 2.1).abs() < 1e-9);
    }

    #[test]
    fn model_anomalies_need_an_error_far_above_the_usual() {
        let config = AlertConfig { volume_spike: None, price_drop: None, ..AlertConfig::default() };
        let mut state = SymbolAlerts::new(&config);
        let mut out = Vec::new();
        for s in 0..600 {
            let noise = ((s * 7919) % 101) as f64 * 1e-6;
            state.on_prediction_error(&tick(s, 100.0, 1.0), 0.0, noise, &mut out);
        }
        assert!(out.is_empty());
        state.on_prediction_error(&tick(600, 100.0, 1.0), 0.0, 0.01, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, AlertKind::ModelAnomaly);
    }

    #[test]
    fn invalid_rules_are_refused() {
        let mut c = AlertConfig::default();
        assert!(c.validate().is_ok());
        c.price_drop = Some(PriceDropRule { pct: 0.0, window: 10 });
        assert!(c.validate().unwrap_err().to_string().contains("price_drop"));
    }

    proptest! {
        /// Alerts are a function of the event stream: feeding the same ticks twice gives the
        /// same alerts, and no two alerts of one rule are closer than the cooldown.
        #[test]
        fn alerts_are_deterministic_and_respect_the_cooldown(
            moves in proptest::collection::vec((-3.0f64..3.0, 0.0f64..20.0), 1..600),
            cooldown in 0u32..120,
        ) {
            let config = AlertConfig { cooldown_secs: cooldown, ..AlertConfig::default() };
            let mut px = 100.0;
            let ticks: Vec<Tick> = moves.iter().enumerate().map(|(i, &(m, v))| {
                px = (px * (1.0 + m / 100.0)).max(0.01);
                tick(i as i64, px, 1000.0 * v.exp())
            }).collect();
            let a = run(&config, &ticks);
            prop_assert_eq!(&a, &run(&config, &ticks));
            for kind in [AlertKind::VolumeSpike, AlertKind::PriceDrop] {
                let times: Vec<i64> = a.iter().filter(|x| x.kind == kind).map(|x| x.ts_event.as_nanos()).collect();
                for w in times.windows(2) {
                    prop_assert!(w[1] - w[0] >= i64::from(cooldown) * NANOS_PER_SECOND);
                }
            }
        }
    }
}
