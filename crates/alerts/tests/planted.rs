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
    while sim
        .next_block(600, |symbol, ticks| {
            for t in ticks {
                states[symbol.index()].on_tick(t, None, &mut alerts);
            }
        })
        .is_some()
    {}
    let events: Vec<LabelledEvent> = sim
        .take_labels()
        .into_iter()
        .map(|l| LabelledEvent {
            symbol: sim.symbols().get(&l.symbol).unwrap(),
            kind: l.kind,
            start: l.start,
            end: l.end,
        })
        .collect();
    AlertQuality::score(alerts.iter().map(|a| (a.symbol, a.kind, a.ts_event)), &events, 60)
}

#[test]
fn default_rules_find_the_planted_anomalies_and_little_else() {
    // 100 symbols a seed: ~100 events of each kind, enough for a 95 % bar to mean something.
    let symbols: usize = std::env::var("PLANTED_SYMBOLS").ok().and_then(|s| s.parse().ok()).unwrap_or(100);
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
            eprintln!("seed {seed}: {name}: {}", r.summary());
            assert!(r.precision >= 0.95 && r.recall >= 0.95, "seed {seed}: {name}: {}", r.summary());
        }
        assert!(q.volume_spike.delay_p50_secs.unwrap() <= 5.0, "{}", q.volume_spike.summary());
        assert!(q.price_drop.delay_p50_secs.unwrap() <= 15.0, "{}", q.price_drop.summary());
    }
}
