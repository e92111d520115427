//! Alert precision and recall against the simulator's planted anomalies: how many alerts
//! point at a real event, and how many events raised an alert.

use serde::{Deserialize, Serialize};
use tickloop_core::{AlertKind, NANOS_PER_SECOND, SymbolTable};
use tickloop_sim::AnomalyLabel;

use crate::AlertMark;

/// One rule's score.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleQuality {
    pub alerts: u64,
    /// Alerts that fell inside a planted event of their kind on their symbol (or within
    /// the grace period after it).
    pub true_alerts: u64,
    pub events: u64,
    /// Planted events that raised at least one alert.
    pub detected_events: u64,
    /// true_alerts / alerts (0 without alerts).
    pub precision: f64,
    /// detected_events / events (0 without events).
    pub recall: f64,
}

/// Precision and recall of the rules that have planted labels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertQuality {
    /// Seconds after an event's end during which an alert still counts for it (rules see
    /// an event through a rolling window, so they may fire a little late).
    pub grace_secs: u32,
    pub volume_spike: RuleQuality,
    pub price_drop: RuleQuality,
}

impl RuleQuality {
    fn with_ratios(mut self) -> Self {
        let ratio = |a: u64, n: u64| if n == 0 { 0.0 } else { a as f64 / n as f64 };
        self.precision = ratio(self.true_alerts, self.alerts);
        self.recall = ratio(self.detected_events, self.events);
        self
    }

    fn merge(&mut self, other: &RuleQuality) {
        self.alerts += other.alerts;
        self.true_alerts += other.true_alerts;
        self.events += other.events;
        self.detected_events += other.detected_events;
        *self = self.with_ratios();
    }
}

impl AlertQuality {
    /// Scores of separate runs (walk-forward folds) as one: counts summed, ratios recomputed.
    pub fn pooled<'a>(scores: impl IntoIterator<Item = &'a AlertQuality>) -> Option<AlertQuality> {
        let mut scores = scores.into_iter();
        let mut total = *scores.next()?;
        for q in scores {
            total.volume_spike.merge(&q.volume_spike);
            total.price_drop.merge(&q.price_drop);
        }
        Some(total)
    }

    /// Scores `alerts` against `labels`. Labels of symbols the run never saw are ignored,
    /// so a run over a subset of a lake's symbols is judged on its own symbols.
    pub fn score(alerts: &[AlertMark], labels: &[AnomalyLabel], symbols: &SymbolTable, grace_secs: u32) -> Self {
        let grace = i64::from(grace_secs) * NANOS_PER_SECOND;
        let labels: Vec<(u32, &AnomalyLabel)> =
            labels.iter().filter_map(|l| symbols.get(&l.symbol).map(|id| (id.index() as u32, l))).collect();
        let rule = |kind: AlertKind| {
            let events: Vec<&(u32, &AnomalyLabel)> = labels.iter().filter(|(_, l)| l.kind == kind).collect();
            let mut detected = vec![false; events.len()];
            let mut q = RuleQuality::default();
            for a in alerts.iter().filter(|a| a.kind == kind) {
                q.alerts += 1;
                let mut hit = false;
                for (i, (symbol, l)) in events.iter().enumerate() {
                    let t = a.ts.as_nanos();
                    if *symbol == a.symbol.index() as u32 && t >= l.start.as_nanos() && t < l.end.as_nanos() + grace {
                        detected[i] = true;
                        hit = true;
                    }
                }
                q.true_alerts += u64::from(hit);
            }
            q.events = events.len() as u64;
            q.detected_events = detected.iter().filter(|&&d| d).count() as u64;
            q.with_ratios()
        };
        AlertQuality { grace_secs, volume_spike: rule(AlertKind::VolumeSpike), price_drop: rule(AlertKind::PriceDrop) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickloop_core::{SymbolId, Timestamp};

    fn label(symbol: &str, kind: AlertKind, start: i64, end: i64) -> AnomalyLabel {
        AnomalyLabel {
            symbol: symbol.into(),
            kind,
            start: Timestamp::from_secs(start),
            end: Timestamp::from_secs(end),
            magnitude: 1.0,
        }
    }

    fn mark(symbol: u32, kind: AlertKind, ts: i64) -> AlertMark {
        AlertMark { symbol: SymbolId::new(symbol), ts: Timestamp::from_secs(ts), kind }
    }

    #[test]
    fn alerts_inside_an_event_or_its_grace_count_and_others_do_not() {
        let symbols = SymbolTable::from_names(["AAA", "BBB"]).unwrap();
        use AlertKind::*;
        let labels = [
            label("AAA", VolumeSpike, 100, 110),
            label("BBB", VolumeSpike, 200, 205),
            label("BBB", PriceDrop, 300, 360),
            label("ZZZ", PriceDrop, 300, 360), // not in this run
        ];
        let alerts = [
            mark(0, VolumeSpike, 105), // in AAA's spike
            mark(0, VolumeSpike, 114), // within 5 s grace
            mark(0, VolumeSpike, 200), // BBB's spike, wrong symbol
            mark(1, PriceDrop, 365),   // 5 s after the drop ends: outside the grace
            mark(1, VolumeSpike, 50),  // nothing planted
        ];
        let q = AlertQuality::score(&alerts, &labels, &symbols, 5);
        assert_eq!((q.volume_spike.alerts, q.volume_spike.true_alerts), (4, 2));
        assert_eq!((q.volume_spike.events, q.volume_spike.detected_events), (2, 1));
        assert_eq!((q.volume_spike.precision, q.volume_spike.recall), (0.5, 0.5));
        assert_eq!((q.price_drop.alerts, q.price_drop.true_alerts, q.price_drop.events), (1, 0, 1));
        assert_eq!(q.price_drop.recall, 0.0);
    }
}
