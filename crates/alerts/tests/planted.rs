//! The default rules against the simulator's planted anomalies, on the sample session's
//! market and on markets with other seeds: what the README promises a new user.

use tickloop_alerts::{AlertConfig, AlertQuality, LabelledEvent, SymbolAlerts};
use tickloop_core::{NANOS_PER_SECOND, Source, Timestamp};
use tickloop_sim::{MarketConfig, MarketSim};

/// Runs `config` over one simulated session of `symbols` symbols and scores it.
fn session(seed: u64, symbols: usize, config: &AlertConfig) -> AlertQuality {
    let start = Timestamp::parse("2024-01-02T14:30:00Z").unwrap();
    let end = start.add_nanos(23_400 * NANOS_PER_SECOND);
    let mut sim = MarketSim::new(MarketConfig { seed, symbols, ..MarketConfig::default() }, start, end).unwrap();
    let mut states: Vec<SymbolAlerts> = (0..symbols).map(|_| SymbolAlerts::new(config)).collect();
    let mut alerts = Vec::new();
    while sim.next_block(600, |symbol, ticks| {
        for t in ticks {
            states[symbol.index()].on_tick(t, None, &mut alerts);
        }
    })
    .is_some()
    {}
    let events: Vec<LabelledEvent> = sim
        .take_labels()
        .into_iter()
        .map(|l| LabelledEvent { symbol: sim.symbols().get(&l.symbol).unwrap(), kind: l.kind, start: l.start, end: l.end })
        .collect();
    if std::env::var("PLANTED_DEBUG").is_ok() {
        for a in &alerts {
            let hit = events.iter().any(|e| e.symbol == a.symbol && a.ts_event >= e.start && a.ts_event.as_nanos() < e.end.as_nanos() + 60 * NANOS_PER_SECOND);
            if !hit {
                eprintln!("false: {} {:?} {}", a.ts_event, a.kind, a.message);
            }
        }
        for e in &events {
            let hit = alerts.iter().any(|a| e.symbol == a.symbol && a.kind == e.kind && a.ts_event >= e.start && a.ts_event.as_nanos() < e.end.as_nanos() + 60 * NANOS_PER_SECOND);
            if !hit {
                eprintln!("missed: {:?} {} .. {}", e.kind, e.start, e.end);
            }
        }
    }
    AlertQuality::score(alerts.iter().map(|a| (a.symbol, a.kind, a.ts_event)), &events, 60)
}

#[test]
fn default_rules_find_the_planted_anomalies_and_little_else() {
    let symbols: usize = std::env::var("PLANTED_SYMBOLS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    let seeds: Vec<u64> = match std::env::var("PLANTED_SEEDS") {
        Ok(s) => s.split(',').map(|x| x.parse().unwrap()).collect(),
        Err(_) => vec![42, 7, 2024],
    };
    let config = match std::env::var("PLANTED_CONFIG") {
        Ok(json) => serde_json::from_str(&json).unwrap(),
        Err(_) => AlertConfig::default(),
    };
    for seed in seeds {
        let q = session(seed, symbols, &config);
        for (name, r) in [("volume spikes", &q.volume_spike), ("price drops", &q.price_drop)] {
            eprintln!(
                "seed {seed}: {name}: precision {:.3} ({} of {}), recall {:.3} ({} of {}), delay p50 {:?} p95 {:?}",
                r.precision, r.true_alerts, r.alerts, r.recall, r.detected_events, r.events, r.delay_p50_secs, r.delay_p95_secs
            );
        }
    }
}
