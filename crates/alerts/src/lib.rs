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

mod level;
mod quality;
mod seasonal;
mod window;

use serde::{Deserialize, Serialize};
use tickloop_core::{Alert, AlertKind, NANOS_PER_SECOND, Span, Tick, Timestamp};
use tickloop_features::RollingMoments;

pub use quality::{AlertQuality, AlertRates, LabelledEvent, RuleQuality};
pub use seasonal::{
    BASELINE_FORMAT, BaselineError, FitSummary, PROFILES_FILE, Profile, SEASONAL_KIND, SeasonalBaseline, SeasonalCard,
    SeasonalFitter, SeasonalParams, fit_source,
};
use window::{EventTimeVariance, TrailingMax, TrailingQuantiles};

/// A volume spike: volume far above what is usual for this symbol now, on several ticks in a
/// row, so one odd print pages nobody.
///
/// "Usual" is the median of log(1 + volume) over the trailing `window` — after removing the
/// time-of-day season when a seasonal baseline is loaded, so the open's surge is expected
/// rather than alarming. Log volume, a median and quartiles: the heavy tail of ordinary
/// volume and the spike itself barely move the yardstick, which a mean and standard
/// deviation of raw volume cannot say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VolumeSpikeRule {
    /// A tick counts when its volume is at least this many times the usual.
    pub min_ratio: f64,
    /// … and its log volume at least this many robust spreads above the usual (the
    /// trailing window's interquartile range, or the baseline's interval); `None`: the
    /// ratio alone.
    pub min_sigmas: Option<f64>,
    /// The trailing span whose median is the usual volume.
    pub window: Span,
    /// Fire when `persist` of the last `of` ticks count.
    pub persist: u32,
    pub of: u32,
    /// Also fire on any tick of at least this many shares (the original design's
    /// 1,000,000); off by default: on daily bars it fires every day.
    pub absolute: Option<f64>,
}

impl Default for VolumeSpikeRule {
    fn default() -> Self {
        VolumeSpikeRule {
            min_ratio: 4.0,
            min_sigmas: Some(3.0),
            window: Span::secs(300),
            persist: 3,
            of: 3,
            absolute: None,
        }
    }
}

/// A price drop: the close has fallen from its high of the trailing `window` by at least
/// `sigmas` times the move the symbol's volatility makes usual over that span, and by at
/// least `min_pct` percent — so a calm stock's 2 % slide alerts and a volatile stock's
/// ordinary wiggle does not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PriceDropRule {
    pub window: Span,
    pub sigmas: f64,
    pub min_pct: f64,
    /// Time constant of the volatility estimate (exponentially weighted in event time;
    /// with a baseline, never below the season's usual volatility for the time of day).
    pub volatility_window: Span,
}

impl Default for PriceDropRule {
    fn default() -> Self {
        PriceDropRule { window: Span::secs(60), sigmas: 6.0, min_pct: 1.5, volatility_window: Span::secs(1800) }
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

/// Which rules run, the cooldown between two alerts of one rule for one symbol, and the
/// seasonal baseline they consult.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertConfig {
    pub volume_spike: Option<VolumeSpikeRule>,
    pub price_drop: Option<PriceDropRule>,
    pub model_anomaly: Option<ModelAnomalyRule>,
    /// Event-time seconds after an alert during which the same rule stays quiet for that
    /// symbol.
    pub cooldown_secs: u32,
    /// A seasonal baseline (`models/seasonal`, or one version of it), fitted by `tickloop
    /// train --model seasonal`; without one the rules judge by trailing windows alone.
    pub baseline: Option<std::path::PathBuf>,
}

impl Default for AlertConfig {
    fn default() -> Self {
        AlertConfig {
            volume_spike: Some(VolumeSpikeRule::default()),
            price_drop: Some(PriceDropRule::default()),
            model_anomaly: Some(ModelAnomalyRule::default()),
            cooldown_secs: 300,
            baseline: None,
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
        AlertConfig { volume_spike: None, price_drop: None, model_anomaly: None, cooldown_secs: 0, baseline: None }
    }

    pub fn validate(&self) -> Result<(), InvalidAlertConfig> {
        let bad = |rule, reason: &str| Err(InvalidAlertConfig { rule, reason: reason.to_owned() });
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if let Some(r) = &self.volume_spike {
            if !(r.min_ratio.is_finite() && r.min_ratio > 1.0) {
                return bad("volume_spike", "min_ratio must be above 1 (times the usual volume)");
            }
            if r.absolute.is_some_and(|a| !positive(a)) || r.min_sigmas.is_some_and(|z| !positive(z)) {
                return bad("volume_spike", "absolute and min_sigmas must be positive");
            }
            if r.persist == 0 || r.persist > r.of || r.of > 64 {
                return bad("volume_spike", "needs 1 <= persist <= of <= 64");
            }
        }
        if let Some(r) = &self.price_drop
            && !(positive(r.sigmas) && r.min_pct > 0.0 && r.min_pct < 100.0)
        {
            return bad("price_drop", "needs sigmas > 0 and 0 < min_pct < 100");
        }
        if let Some(r) = &self.model_anomaly
            && (r.window < 2 || !(r.sigmas.is_finite() && r.sigmas > 0.0))
        {
            return bad("model_anomaly", "needs window >= 2 and sigmas > 0");
        }
        Ok(())
    }
}

/// A symbol's volume-spike state: the trailing usual level and which recent ticks counted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct VolumeState {
    rule: VolumeSpikeRule,
    /// Log volume less the season (when a baseline is loaded).
    usual: TrailingQuantiles,
    /// Bit i: whether the tick i ticks ago counted.
    recent: u64,
    /// ln(min_ratio), once.
    log_ratio: f64,
}

/// A symbol's price-drop state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct DropState {
    rule: PriceDropRule,
    high: TrailingMax,
    volatility: EventTimeVariance,
}

/// One symbol's rule state. Cheap to clone (the pipeline clones a template per new symbol)
/// and serialisable (it is part of the pipeline's snapshot).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SymbolAlerts {
    volume: Option<VolumeState>,
    drop: Option<DropState>,
    errors: Option<(ModelAnomalyRule, RollingMoments)>,
    cooldown_nanos: i64,
    /// Last firing per rule, indexed like [`kind_index`].
    last_fired: [Option<Timestamp>; 3],
}

/// The seasonal profile a symbol's rules consult, and the baseline's id (named in alerts).
#[derive(Debug, Clone, Copy)]
pub struct Season<'a> {
    pub baseline: &'a str,
    pub profile: &'a Profile,
}

/// `HH:MM UTC` of an event time.
fn clock_time(ts: Timestamp) -> String {
    let s = ts.second_of_day();
    format!("{:02}:{:02} UTC", s / 3600, s % 3600 / 60)
}

/// A price with its cents (or four places below a dollar).
fn price(x: f64) -> String {
    if x.abs() >= 1.0 { format!("{x:.2}") } else { format!("{x:.4}") }
}

/// A number as people write it: 52,300 or 3.69.
fn readable(x: f64) -> String {
    if x.abs() >= 1000.0 {
        let digits = format!("{:.0}", x.abs());
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        if x < 0.0 { format!("-{out}") } else { out }
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
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

/// A one-line ASCII headline of at most 100 characters (what an SNS subject may hold):
/// `AAPL volume spike: volume 52,300 is 14.2x its usual 3,690 for 15:32 UTC`.
pub fn alert_summary(symbol: &str, alert: &Alert) -> String {
    let headline = alert.message.split(" (rule").next().unwrap_or_default();
    let kind = kind_name(alert.kind).replace('_', " ");
    let text = format!("{symbol} {kind}: {headline}").replace('×', "x").replace('σ', "sigma");
    let ascii: String = text.chars().map(|c| if c.is_ascii() && !c.is_ascii_control() { c } else { '?' }).collect();
    match ascii.char_indices().nth(100) {
        Some((cut, _)) => ascii[..cut].to_owned(),
        None => ascii,
    }
}

/// An alert as JSON, the same wherever it is published (Kafka, the backtest's
/// `alerts.jsonl`, webhooks): id, symbol, ts_event, kind, value, threshold, summary (a
/// headline for subjects and chat), message (what was seen, what was expected, the rule).
pub fn alert_json(symbol: &str, alert: &Alert) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::{Value, json};
    let mut map = serde_json::Map::new();
    map.insert("id".into(), json!(alert_id(symbol, alert)));
    map.insert("symbol".into(), json!(symbol));
    map.insert("ts_event".into(), json!(alert.ts_event.to_string()));
    map.insert("kind".into(), json!(kind_name(alert.kind)));
    map.insert("value".into(), if alert.value.is_finite() { json!(alert.value) } else { Value::Null });
    map.insert("threshold".into(), json!(alert.threshold));
    map.insert("summary".into(), json!(alert_summary(symbol, alert)));
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
            volume: config.volume_spike.clone().map(|rule| VolumeState {
                usual: TrailingQuantiles::new(rule.window.as_nanos()),
                log_ratio: rule.min_ratio.ln(),
                rule,
                recent: 0,
            }),
            drop: config.price_drop.clone().map(|rule| DropState {
                high: TrailingMax::new(rule.window.as_nanos()),
                volatility: EventTimeVariance::new(f64::from(rule.volatility_window.as_secs()), 4.0),
                rule,
            }),
            errors: config.model_anomaly.clone().map(|r| {
                let m = RollingMoments::new(r.window);
                (r, m)
            }),
            cooldown_nanos: i64::from(config.cooldown_secs) * NANOS_PER_SECOND,
            last_fired: [None; 3],
        }
    }

    /// The rules in two parts that share nothing but the cooldown's length, so two threads
    /// can drive them at once: those fed the symbol's own ticks (volume, drop) and the
    /// model-anomaly rule, fed predictions' outcomes in tick order.
    pub fn split(&mut self) -> (TickRules<'_>, PredictionRule<'_>) {
        let [volume_fired, drop_fired, model_fired] = &mut self.last_fired;
        let cooldown_nanos = self.cooldown_nanos;
        (
            TickRules {
                volume: &mut self.volume,
                drop: &mut self.drop,
                cooldown_nanos,
                last_fired: [volume_fired, drop_fired],
            },
            PredictionRule { errors: &mut self.errors, cooldown_nanos, last_fired: model_fired },
        )
    }

    /// Feeds one clean tick of this symbol ([`TickRules::on_tick`]).
    pub fn on_tick(&mut self, tick: &Tick, season: Option<Season<'_>>, out: &mut Vec<Alert>) {
        self.split().0.on_tick(tick, season, out);
    }

    /// Feeds the outcome of one prediction ([`PredictionRule::on_prediction_error`]).
    pub fn on_prediction_error(&mut self, tick: &Tick, predicted: f64, realized: f64, out: &mut Vec<Alert>) {
        self.split().1.on_prediction_error(tick, predicted, realized, out);
    }
}

/// Raises `alert` unless its rule, last fired at `slot`, is cooling down for this symbol.
fn fire(slot: &mut Option<Timestamp>, cooldown_nanos: i64, alert: Alert, out: &mut Vec<Alert>) {
    if cooling(*slot, cooldown_nanos, alert.ts_event) {
        return;
    }
    *slot = Some(alert.ts_event);
    out.push(alert);
}

/// Whether a rule last fired at `last` is still cooling down at `ts`: an alert it raises
/// then is dropped.
fn cooling(last: Option<Timestamp>, cooldown_nanos: i64, ts: Timestamp) -> bool {
    last.is_some_and(|last| ts.as_nanos() - last.as_nanos() < cooldown_nanos)
}

/// A symbol's rules fed its own ticks: volume spikes and price drops ([`SymbolAlerts::split`]).
#[derive(Debug)]
pub struct TickRules<'a> {
    volume: &'a mut Option<VolumeState>,
    drop: &'a mut Option<DropState>,
    cooldown_nanos: i64,
    /// Last firing of the volume and the drop rule.
    last_fired: [&'a mut Option<Timestamp>; 2],
}

impl TickRules<'_> {
    fn fire(&mut self, alert: Alert, out: &mut Vec<Alert>) {
        fire(self.last_fired[kind_index(alert.kind)], self.cooldown_nanos, alert, out);
    }

    /// Feeds one clean tick of this symbol; pushes the alerts it raises. `season` is the
    /// symbol's seasonal profile when a baseline is loaded.
    pub fn on_tick(&mut self, tick: &Tick, season: Option<Season<'_>>, out: &mut Vec<Alert>) {
        self.step(tick, || tick.close.get().ln(), season, out);
    }

    /// Whether [`TickRules::on_tick_with_log_close`] reads its `log_close` (the drop rule
    /// does): a caller need not compute the logarithms otherwise.
    pub fn reads_log_close(&self) -> bool {
        self.drop.is_some()
    }

    /// [`TickRules::on_tick`] with `tick.close.get().ln()` given, bit for bit: a replay
    /// takes a whole run's logarithms at once (`tickloop_vecmath::ln_into`, ~4× faster
    /// than one call per tick).
    pub fn on_tick_with_log_close(
        &mut self,
        tick: &Tick,
        log_close: f64,
        season: Option<Season<'_>>,
        out: &mut Vec<Alert>,
    ) {
        debug_assert!(
            !self.reads_log_close() || log_close.to_bits() == tick.close.get().ln().to_bits(),
            "log_close is the close's own ln"
        );
        self.step(tick, || log_close, season, out);
    }

    #[inline(always)]
    fn step(&mut self, tick: &Tick, log_close: impl FnOnce() -> f64, season: Option<Season<'_>>, out: &mut Vec<Alert>) {
        let base = |kind, value, threshold, message| Alert {
            symbol: tick.symbol,
            ts_event: tick.ts_event,
            kind,
            value,
            threshold,
            message,
        };
        let ts = tick.ts_event.as_nanos();
        // A condition often holds for many ticks in a row, and while its rule cools down
        // what it raises is dropped: the alert (its message's formatting, most of a raised
        // alert's cost) is built only when it will fire.
        // (Each rule is asked before it fires, so the firings as of this tick's start are
        // the ones to ask about.)
        let (last_fired, cooldown_nanos) = (self.last_fired.each_ref().map(|last| **last), self.cooldown_nanos);
        let cooling_down = |kind| cooling(last_fired[kind_index(kind)], cooldown_nanos, tick.ts_event);
        let mut raised = None;
        if let Some(v) = &mut *self.volume {
            let rule = &v.rule;
            let volume = tick.volume.get().max(0.0);
            let shape = season.map_or(0.0, |s| s.profile.log_volume_shape(tick.ts_event));
            let level = level::volume_level(volume) - shape;
            v.usual.evict(ts);
            let mut judged = None;
            // A tick not the ratio above the median cannot count (the need is never below
            // the ratio): the window answers that without finding its median.
            if v.usual.is_warm(ts) && v.usual.exceeds_median_by(level, v.log_ratio) {
                let (usual, spread) = match season {
                    None => v.usual.median_and_spread(),
                    Some(s) => (v.usual.median(), s.profile.log_volume_spread(tick.ts_event)),
                };
                let excess = level - usual;
                let need = v.log_ratio.max(rule.min_sigmas.map_or(0.0, |z| z * spread));
                judged = Some((excess, need, usual + shape));
            }
            let counted = judged.is_some_and(|(excess, need, _)| excess >= need);
            v.recent = (v.recent << 1) | u64::from(counted);
            v.usual.push(ts, level);
            let mask = if rule.of >= 64 { u64::MAX } else { (1u64 << rule.of) - 1 };
            let spike = judged.filter(|_| counted && (v.recent & mask).count_ones() >= rule.persist);
            let absolute = rule.absolute.filter(|&a| volume >= a);
            if (spike.is_none() && absolute.is_none()) || cooling_down(AlertKind::VolumeSpike) {
                // Nothing raised, or nothing that would fire.
            } else if let Some((excess, need, usual)) = spike {
                let (ratio, usual_volume) = (excess.exp(), usual.exp_m1());
                let adjusted = season.map_or(String::new(), |s| format!(", seasonally adjusted by {}", s.baseline));
                raised = Some(base(
                    AlertKind::VolumeSpike,
                    ratio,
                    need.exp(),
                    format!(
                        "volume {} is {ratio:.1}× its usual {} for {} (rule: ≥ {:.1}× on {} of the last {} ticks; usual: median of the last {}{adjusted})",
                        readable(volume),
                        readable(usual_volume),
                        clock_time(tick.ts_event),
                        need.exp(),
                        rule.persist,
                        rule.of,
                        rule.window,
                    ),
                ));
            } else if let Some(level) = absolute {
                raised = Some(base(
                    AlertKind::VolumeSpike,
                    volume,
                    level,
                    format!(
                        "volume {} at or above {} shares (rule: absolute level)",
                        readable(volume),
                        readable(level)
                    ),
                ));
            }
        }
        if let Some(alert) = raised.take() {
            self.fire(alert, out);
        }
        if let Some(d) = &mut *self.drop {
            let rule = &d.rule;
            let close = tick.close.get();
            let high = d.high.push(ts, close);
            let trailing = d.volatility.rate();
            d.volatility.push_at_rate(ts, log_close(), trailing);
            // The floor first: it rules out almost every tick. Well short of it, a product
            // tells without the percentage's division (a margin of 1e-9 against rounding
            // errors of ~1e-16: the ticks it passes on are those the division would refuse
            // too); the rest take the division, and only a fall past the floor needs σ.
            let well_short = (high - close) * 100.0 < rule.min_pct * high * (1.0 - 1e-9);
            let past_floor = trailing
                .filter(|_| !well_short && d.high.is_warm(ts))
                .map(|trailing| (trailing, (high - close) / high * 100.0))
                .filter(|&(_, drop_pct)| drop_pct >= rule.min_pct);
            if let Some((trailing, drop_pct)) = past_floor {
                let usual = season.and_then(|s| s.profile.variance_rate(tick.ts_event));
                let rate = usual.map_or(trailing, |u| u.max(trailing));
                let sigma = (rate * f64::from(rule.window.as_secs())).sqrt();
                let need_pct = rule.min_pct.max(100.0 * (1.0 - (-rule.sigmas * sigma).exp()));
                if drop_pct >= need_pct && !cooling_down(AlertKind::PriceDrop) {
                    let sigmas = (high / close).ln() / sigma;
                    let seasonal = if usual.is_some_and(|u| u > trailing) { ", the season's usual" } else { "" };
                    raised = Some(base(
                        AlertKind::PriceDrop,
                        drop_pct,
                        need_pct,
                        format!(
                            "close {} is {sigmas:.1} σ / {drop_pct:.2} % below its {} high {} (rule: ≥ {} σ and ≥ {} %; σ over {} = {:.3} %, from the last {}{seasonal})",
                            price(close),
                            rule.window,
                            price(high),
                            rule.sigmas,
                            rule.min_pct,
                            rule.window,
                            100.0 * sigma,
                            rule.volatility_window,
                        ),
                    ));
                }
            }
        }
        if let Some(alert) = raised {
            self.fire(alert, out);
        }
    }
}

/// A symbol's model-anomaly rule ([`SymbolAlerts::split`]).
#[derive(Debug)]
pub struct PredictionRule<'a> {
    errors: &'a mut Option<(ModelAnomalyRule, RollingMoments)>,
    cooldown_nanos: i64,
    last_fired: &'a mut Option<Timestamp>,
}

impl PredictionRule<'_> {
    /// Feeds the outcome of one prediction made at `ts_event` (known once its horizon has
    /// passed); raises a model anomaly when the error is far outside the usual.
    pub fn on_prediction_error(&mut self, tick: &Tick, predicted: f64, realized: f64, out: &mut Vec<Alert>) {
        let Some((rule, moments)) = &mut *self.errors else { return };
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
            fire(self.last_fired, self.cooldown_nanos, alert, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tickloop_core::{Rng, SymbolId};

    fn tick(sec: i64, close: f64, volume: f64) -> Tick {
        Tick::at_price(SymbolId::new(3), Timestamp::from_secs(1_704_205_800 + sec), close, volume)
    }

    fn run(config: &AlertConfig, ticks: &[Tick]) -> Vec<Alert> {
        let mut state = SymbolAlerts::new(config);
        let mut out = Vec::new();
        for t in ticks {
            state.on_tick(t, None, &mut out);
        }
        out
    }

    /// Heavy-tailed ordinary volume around 1,000 and a random walk around 100.
    fn ordinary(secs: i64, seed: u64) -> Vec<Tick> {
        let mut rng = Rng::new(seed, 1);
        let mut px: f64 = 100.0;
        (0..secs)
            .map(|s| {
                px *= (2e-4 * rng.normal()).exp();
                tick(s, px, (1000.0 * (0.5 * rng.normal()).exp()).round())
            })
            .collect()
    }

    fn only_volume() -> AlertConfig {
        AlertConfig { price_drop: None, model_anomaly: None, ..AlertConfig::default() }
    }

    #[test]
    fn a_volume_spike_needs_persistence_and_says_how_many_times_normal() {
        let mut ticks = ordinary(900, 1);
        ticks[500].volume = tickloop_core::Volume(80_000.0); // one odd print
        for t in &mut ticks[700..712] {
            t.volume = tickloop_core::Volume(t.volume.get() * 12.0); // twelve seconds of 12×
        }
        let alerts = run(&only_volume(), &ticks);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let a = &alerts[0];
        assert_eq!(a.kind, AlertKind::VolumeSpike);
        assert!(a.ts_event >= ticks[702].ts_event && a.ts_event <= ticks[705].ts_event, "fires within a few ticks");
        assert!(a.value > 5.0 && a.value < 30.0 && a.threshold >= 4.0, "{a:?}");
        assert!(a.message.contains("× its usual") && a.message.contains("3 of the last 3 ticks"), "{}", a.message);

        let single = AlertConfig {
            volume_spike: Some(VolumeSpikeRule { persist: 1, of: 1, ..VolumeSpikeRule::default() }),
            ..only_volume()
        };
        let alerts = run(&single, &ticks);
        assert_eq!(
            alerts.first().map(|a| a.ts_event),
            Some(ticks[500].ts_event),
            "without persistence one print fires"
        );
    }

    #[test]
    fn summaries_are_short_ascii_headlines() {
        let alert = Alert {
            symbol: SymbolId::new(0),
            ts_event: Timestamp::from_secs(0),
            kind: AlertKind::PriceDrop,
            value: 2.8,
            threshold: 1.5,
            message: "close 97.10 is 7.1 σ / 2.80 % below its 1m high 99.90 (rule: ≥ 6 σ and ≥ 1.5 %)".into(),
        };
        assert_eq!(
            alert_summary("AAPL", &alert),
            "AAPL price drop: close 97.10 is 7.1 sigma / 2.80 % below its 1m high 99.90"
        );
        let long = Alert { message: "x".repeat(300), ..alert };
        assert_eq!(alert_summary("AAPL", &long).len(), 100);
    }

    #[test]
    fn the_absolute_level_is_an_option_off_by_default() {
        let mut ticks = ordinary(400, 2);
        ticks[399].volume = tickloop_core::Volume(2_000_000.0);
        assert!(run(&only_volume(), &ticks).is_empty());
        let absolute = AlertConfig {
            volume_spike: Some(VolumeSpikeRule { absolute: Some(1_000_000.0), ..VolumeSpikeRule::default() }),
            ..only_volume()
        };
        let alerts = run(&absolute, &ticks);
        assert_eq!(alerts.len(), 1);
        assert_eq!((alerts[0].value, alerts[0].threshold), (2_000_000.0, 1_000_000.0));
    }

    #[test]
    fn a_volume_surge_the_season_expects_is_not_a_spike() {
        // Volume quadruples at 14:30 and stays there, as at an open.
        let mut ticks = ordinary(1200, 3);
        for t in &mut ticks[600..] {
            t.volume = tickloop_core::Volume(t.volume.get() * 6.0);
        }
        assert_eq!(run(&only_volume(), &ticks).len(), 1, "without a season the open is a spike");
        let open_bin = (ticks[600].ts_event.second_of_day() / 60) as u32;
        let first_bin = open_bin - 10;
        let profile = Profile {
            first_bin,
            log_volume: (first_bin..open_bin + 10).map(|b| if b < open_bin { 0.0 } else { 6f32.ln() }).collect(),
            ..Profile::flat("AAA", 60, 0.5)
        };
        let season = Season { baseline: "seasonal/v1", profile: &profile };
        let mut state = SymbolAlerts::new(&only_volume());
        let mut out = Vec::new();
        for t in &ticks {
            state.on_tick(t, Some(season), &mut out);
        }
        assert!(out.is_empty(), "{out:#?}");
    }

    #[test]
    fn a_price_drop_is_scaled_by_volatility_with_a_floor() {
        let only_drop = AlertConfig { volume_spike: None, model_anomaly: None, ..AlertConfig::default() };
        // A calm stock slides 2 % in 20 s: alerts.
        let mut calm = ordinary(1200, 4);
        let at = calm[999].close.get();
        for (i, t) in calm[1000..1020].iter_mut().enumerate() {
            *t = tick(1000 + i as i64, at * (1.0 - 0.001 * (i + 1) as f64), 1000.0);
        }
        calm.truncate(1020);
        let alerts = run(&only_drop, &calm);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let a = &alerts[0];
        assert!(a.value >= a.threshold && a.threshold >= 1.0 && a.ts_event >= calm[1005].ts_event, "{a:?}");
        assert!(a.message.contains("σ /") && a.message.contains("below its 1m high"), "{}", a.message);

        // A volatile stock (0.5 % a second) wiggles 2 % all the time: quiet.
        let mut rng = Rng::new(5, 1);
        let mut px: f64 = 100.0;
        let wild: Vec<Tick> = (0..3000)
            .map(|s| {
                px *= (5e-3 * rng.normal()).exp();
                tick(s, px, 1000.0)
            })
            .collect();
        assert!(run(&only_drop, &wild).is_empty());
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
        c.price_drop = Some(PriceDropRule { min_pct: 0.0, ..PriceDropRule::default() });
        assert!(c.validate().unwrap_err().to_string().contains("price_drop"));
        c.price_drop = None;
        c.volume_spike = Some(VolumeSpikeRule { persist: 4, of: 3, ..VolumeSpikeRule::default() });
        assert!(c.validate().unwrap_err().to_string().contains("persist"));
    }

    #[test]
    fn rule_windows_read_as_spans() {
        let c: AlertConfig =
            toml_like(r#"{"volume_spike": {"window": "10m", "persist": 2, "of": 4}, "price_drop": {"window": 120}}"#);
        assert_eq!(c.volume_spike.unwrap().window.as_secs(), 600);
        assert_eq!(c.price_drop.unwrap().window.to_string(), "2m");
    }

    fn toml_like(json: &str) -> AlertConfig {
        serde_json::from_str(json).unwrap()
    }

    proptest! {
        /// Alerts are a function of the event stream: feeding the same ticks twice gives the
        /// same alerts, a state restored from a snapshot midway continues identically, and no
        /// two alerts of one rule are closer than the cooldown.
        #[test]
        fn alerts_are_deterministic_restorable_and_respect_the_cooldown(
            moves in proptest::collection::vec((-3.0f64..3.0, 0.0f64..20.0), 1..600),
            cooldown in 0u32..120,
            cut in 0usize..600,
        ) {
            let rule = VolumeSpikeRule { window: Span::secs(30), ..VolumeSpikeRule::default() };
            let drop = PriceDropRule { window: Span::secs(10), ..PriceDropRule::default() };
            let config = AlertConfig { cooldown_secs: cooldown, volume_spike: Some(rule), price_drop: Some(drop), ..AlertConfig::default() };
            let mut px = 100.0;
            let ticks: Vec<Tick> = moves.iter().enumerate().map(|(i, &(m, v))| {
                px = (px * (1.0 + m / 100.0)).max(0.01);
                tick(i as i64, px, 1000.0 * v.exp())
            }).collect();
            let a = run(&config, &ticks);
            prop_assert_eq!(&a, &run(&config, &ticks));
            let cut = cut.min(ticks.len());
            let mut state = SymbolAlerts::new(&config);
            let mut out = Vec::new();
            for t in &ticks[..cut] {
                state.on_tick(t, None, &mut out);
            }
            let mut restored: SymbolAlerts = serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
            for t in &ticks[cut..] {
                restored.on_tick(t, None, &mut out);
            }
            prop_assert_eq!(&out, &a);
            for kind in [AlertKind::VolumeSpike, AlertKind::PriceDrop] {
                let times: Vec<i64> = a.iter().filter(|x| x.kind == kind).map(|x| x.ts_event.as_nanos()).collect();
                for w in times.windows(2) {
                    prop_assert!(w[1] - w[0] >= i64::from(cooldown) * NANOS_PER_SECOND);
                }
            }
        }
    }
}
