//! Alert quality of a backtest: its alerts scored against the simulator's planted
//! anomalies (see [`tickloop_alerts::AlertQuality`] for how an alert is matched to an event).

use tickloop_alerts::LabelledEvent;
pub use tickloop_alerts::{AlertQuality, AlertRates, RuleQuality};
use tickloop_core::SymbolTable;
use tickloop_sim::AnomalyLabel;

use crate::AlertMark;

/// Scores `alerts` against `labels`. Labels of symbols the run never saw are ignored, so a
/// run over a subset of a lake's symbols is judged on its own symbols.
pub fn score_alerts(
    alerts: &[AlertMark],
    labels: &[AnomalyLabel],
    symbols: &SymbolTable,
    grace_secs: u32,
) -> AlertQuality {
    let events: Vec<LabelledEvent> = labels
        .iter()
        .filter_map(|l| {
            Some(LabelledEvent { symbol: symbols.get(&l.symbol)?, kind: l.kind, start: l.start, end: l.end })
        })
        .collect();
    AlertQuality::score(alerts.iter().map(|a| (a.symbol, a.kind, a.ts)), &events, grace_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickloop_core::{AlertKind, SymbolId, Timestamp};

    #[test]
    fn labels_are_matched_by_symbol_name_and_unknown_symbols_are_ignored() {
        let symbols = SymbolTable::from_names(["AAA", "BBB"]).unwrap();
        let label = |symbol: &str, start: i64| AnomalyLabel {
            symbol: symbol.into(),
            kind: AlertKind::VolumeSpike,
            start: Timestamp::from_secs(start),
            end: Timestamp::from_secs(start + 10),
            magnitude: 10.0,
        };
        let labels = [label("BBB", 100), label("ZZZ", 100)];
        let mark = |symbol: u32, ts: i64| AlertMark {
            symbol: SymbolId::new(symbol),
            ts: Timestamp::from_secs(ts),
            kind: AlertKind::VolumeSpike,
        };
        let q = score_alerts(&[mark(1, 103), mark(0, 103)], &labels, &symbols, 0);
        assert_eq!((q.volume_spike.events, q.volume_spike.true_alerts, q.volume_spike.alerts), (1, 1, 2));
        assert_eq!(q.volume_spike.delay_p50_secs, Some(3.0));
    }
}
