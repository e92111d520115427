//! How good the alerts are: precision, recall, F1 and detection delay against labelled
//! events (the simulator's planted anomalies, or anomalies planted into real data), and the
//! alert rate per symbol-day where nothing is labelled.
//!
//! Matching: an alert matches an event on the same symbol when its event time falls in
//! `[start, end + grace)`. A volume-spike alert also matches a price-drop event (a crash is
//! a real volume anomaly: its volume surges), which makes it a true alert but does not count
//! toward the spike rule's recall. Precision is true alerts over alerts; recall is the
//! events of the rule's kind with at least one matching alert of that kind over all of
//! them; the delay of a detected event runs from its start to its first matching alert.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tickloop_core::{AlertKind, NANOS_PER_SECOND, SymbolId, Timestamp};

/// A labelled anomaly: what a rule should find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelledEvent {
    pub symbol: SymbolId,
    pub kind: AlertKind,
    pub start: Timestamp,
    /// Exclusive.
    pub end: Timestamp,
}

/// One rule's score.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleQuality {
    pub alerts: u64,
    /// Alerts that matched an event.
    pub true_alerts: u64,
    pub events: u64,
    /// Events that raised at least one alert of their kind.
    pub detected_events: u64,
    /// true_alerts / alerts (0 without alerts).
    pub precision: f64,
    /// detected_events / events (0 without events).
    pub recall: f64,
    /// Harmonic mean of precision and recall (0 when both are 0).
    pub f1: f64,
    /// Median and 95th percentile of the detection delay, seconds (`None`: nothing detected).
    pub delay_p50_secs: Option<f64>,
    pub delay_p95_secs: Option<f64>,
    /// Every detected event's delay in seconds, ascending: what pooling folds needs.
    pub delays_secs: Vec<f64>,
}

/// Precision and recall of the rules that events are labelled for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertQuality {
    /// Seconds after an event's end during which an alert still counts for it (rules see
    /// an event through a trailing window, so they may fire a little late).
    pub grace_secs: u32,
    pub volume_spike: RuleQuality,
    pub price_drop: RuleQuality,
}

/// Alerts per symbol-day: the noise figure where nothing is labelled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertRates {
    /// (symbol, UTC day) pairs with at least one clean tick.
    pub symbol_days: u64,
    pub volume_spike: f64,
    pub price_drop: f64,
    pub model_anomaly: f64,
}

impl AlertRates {
    pub fn new(counts: &crate::AlertCounts, symbol_days: u64) -> Self {
        let per = |n: u64| if symbol_days == 0 { 0.0 } else { n as f64 / symbol_days as f64 };
        AlertRates {
            symbol_days,
            volume_spike: per(counts.volume_spike),
            price_drop: per(counts.price_drop),
            model_anomaly: per(counts.model_anomaly),
        }
    }
}

/// The `q` quantile of ascending `sorted` (nearest rank).
fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    (!sorted.is_empty()).then(|| sorted[((sorted.len() - 1) as f64 * q).round() as usize])
}

impl RuleQuality {
    /// One line for summaries and reports: `precision 97.5 % (78 of 80 alerts), recall …`.
    pub fn summary(&self) -> String {
        let delay = match (self.delay_p50_secs, self.delay_p95_secs) {
            (Some(p50), Some(p95)) => format!(", delay p50 {p50:.0} s / p95 {p95:.0} s"),
            _ => String::new(),
        };
        format!(
            "precision {:.1} % ({} of {} alerts), recall {:.1} % ({} of {} events), F1 {:.3}{delay}",
            self.precision * 100.0,
            self.true_alerts,
            self.alerts,
            self.recall * 100.0,
            self.detected_events,
            self.events,
            self.f1
        )
    }

    fn with_ratios(mut self) -> Self {
        let ratio = |a: u64, n: u64| if n == 0 { 0.0 } else { a as f64 / n as f64 };
        self.precision = ratio(self.true_alerts, self.alerts);
        self.recall = ratio(self.detected_events, self.events);
        let sum = self.precision + self.recall;
        self.f1 = if sum > 0.0 { 2.0 * self.precision * self.recall / sum } else { 0.0 };
        self.delays_secs.sort_by(f64::total_cmp);
        self.delay_p50_secs = quantile(&self.delays_secs, 0.5);
        self.delay_p95_secs = quantile(&self.delays_secs, 0.95);
        self
    }

    fn merge(&mut self, other: &RuleQuality) {
        self.alerts += other.alerts;
        self.true_alerts += other.true_alerts;
        self.events += other.events;
        self.detected_events += other.detected_events;
        self.delays_secs.extend_from_slice(&other.delays_secs);
        *self = std::mem::take(self).with_ratios();
    }
}

impl AlertQuality {
    /// Scores of separate runs (walk-forward folds) as one: counts summed, ratios recomputed.
    pub fn pooled<'a>(scores: impl IntoIterator<Item = &'a AlertQuality>) -> Option<AlertQuality> {
        let mut scores = scores.into_iter();
        let mut total = scores.next()?.clone();
        for q in scores {
            total.volume_spike.merge(&q.volume_spike);
            total.price_drop.merge(&q.price_drop);
        }
        Some(total)
    }

    /// Scores `alerts` — `(symbol, kind, ts_event)` — against `events`.
    pub fn score(
        alerts: impl IntoIterator<Item = (SymbolId, AlertKind, Timestamp)>,
        events: &[LabelledEvent],
        grace_secs: u32,
    ) -> Self {
        let grace = i64::from(grace_secs) * NANOS_PER_SECOND;
        let mut by_symbol: BTreeMap<SymbolId, Vec<usize>> = BTreeMap::new();
        for (i, e) in events.iter().enumerate() {
            by_symbol.entry(e.symbol).or_default().push(i);
        }
        // Per event, the earliest matching alert of its own kind.
        let mut first: Vec<Option<i64>> = vec![None; events.len()];
        let mut spikes = RuleQuality::default();
        let mut drops = RuleQuality::default();
        for (symbol, kind, ts) in alerts {
            let rule = match kind {
                AlertKind::VolumeSpike => &mut spikes,
                AlertKind::PriceDrop => &mut drops,
                AlertKind::ModelAnomaly => continue,
            };
            rule.alerts += 1;
            let t = ts.as_nanos();
            let mut matched = false;
            for &i in by_symbol.get(&symbol).map_or(&[][..], Vec::as_slice) {
                let e = &events[i];
                let inside = t >= e.start.as_nanos() && t < e.end.as_nanos().saturating_add(grace);
                let explains = e.kind == kind || (kind == AlertKind::VolumeSpike && e.kind == AlertKind::PriceDrop);
                if inside && explains {
                    matched = true;
                    if e.kind == kind {
                        first[i] = Some(first[i].map_or(t, |f| f.min(t)));
                    }
                }
            }
            rule.true_alerts += u64::from(matched);
        }
        for (e, first) in events.iter().zip(&first) {
            let rule = match e.kind {
                AlertKind::VolumeSpike => &mut spikes,
                AlertKind::PriceDrop => &mut drops,
                AlertKind::ModelAnomaly => continue,
            };
            rule.events += 1;
            if let Some(t) = first {
                rule.detected_events += 1;
                rule.delays_secs.push((t - e.start.as_nanos()) as f64 / NANOS_PER_SECOND as f64);
            }
        }
        AlertQuality { grace_secs, volume_spike: spikes.with_ratios(), price_drop: drops.with_ratios() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AlertKind::*;

    fn event(symbol: u32, kind: AlertKind, start: i64, end: i64) -> LabelledEvent {
        LabelledEvent {
            symbol: SymbolId::new(symbol),
            kind,
            start: Timestamp::from_secs(start),
            end: Timestamp::from_secs(end),
        }
    }

    fn alert(symbol: u32, kind: AlertKind, ts: i64) -> (SymbolId, AlertKind, Timestamp) {
        (SymbolId::new(symbol), kind, Timestamp::from_secs(ts))
    }

    #[test]
    fn alerts_inside_an_event_or_its_grace_count_and_others_do_not() {
        let events = [event(0, VolumeSpike, 100, 110), event(1, VolumeSpike, 200, 205), event(1, PriceDrop, 300, 360)];
        let alerts = [
            alert(0, VolumeSpike, 105), // in AAA's spike, 5 s in
            alert(0, VolumeSpike, 114), // within 5 s grace
            alert(0, VolumeSpike, 200), // BBB's spike, wrong symbol
            alert(1, PriceDrop, 365),   // 5 s after the drop ends: outside the grace
            alert(1, VolumeSpike, 50),  // nothing planted
            alert(1, VolumeSpike, 320), // inside BBB's drop: explained, but not a spike detected
        ];
        let q = AlertQuality::score(alerts, &events, 5);
        let s = &q.volume_spike;
        assert_eq!((s.alerts, s.true_alerts, s.events, s.detected_events), (5, 3, 2, 1));
        assert_eq!((s.precision, s.recall), (0.6, 0.5));
        assert!((s.f1 - 2.0 * 0.6 * 0.5 / 1.1).abs() < 1e-12);
        assert_eq!((s.delay_p50_secs, s.delays_secs.clone()), (Some(5.0), vec![5.0]));
        let d = &q.price_drop;
        assert_eq!((d.alerts, d.true_alerts, d.events, d.recall, d.f1), (1, 0, 1, 0.0, 0.0));
        assert_eq!(d.delay_p50_secs, None);

        let pooled = AlertQuality::pooled([&q, &q]).unwrap();
        assert_eq!((pooled.volume_spike.alerts, pooled.volume_spike.precision), (10, 0.6));
        assert_eq!(pooled.volume_spike.delays_secs, vec![5.0, 5.0]);
    }

    #[test]
    fn the_delay_is_the_first_alert_of_the_events_kind() {
        let events = [event(0, PriceDrop, 0, 60)];
        let q = AlertQuality::score(
            [alert(0, VolumeSpike, 2), alert(0, PriceDrop, 12), alert(0, PriceDrop, 9)],
            &events,
            0,
        );
        assert_eq!(q.price_drop.delay_p50_secs, Some(9.0));
        assert_eq!((q.volume_spike.true_alerts, q.volume_spike.events), (1, 0));
    }
}
