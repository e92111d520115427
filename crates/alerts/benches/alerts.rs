//! Nanoseconds per tick for the alert stage: the default rules (volume spike, price drop)
//! on one symbol's simulated seconds, without and with a seasonal profile.
//! `cargo bench -p tickloop-alerts --bench alerts` (part of `cargo xtask bench criterion`).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tickloop_alerts::{AlertConfig, Profile, Season, SymbolAlerts};
use tickloop_core::{NANOS_PER_SECOND, Tick, Timestamp};
use tickloop_sim::{MarketConfig, MarketSim};

const SECS: i64 = 23_400;

/// One simulated session of one symbol, spikes and drops included.
fn session() -> Vec<Tick> {
    let start = Timestamp::parse("2024-01-02T14:30:00Z").unwrap();
    let end = start.add_nanos(SECS * NANOS_PER_SECOND);
    let mut sim = MarketSim::new(MarketConfig { symbols: 1, ..MarketConfig::default() }, start, end).unwrap();
    let mut ticks = Vec::new();
    while sim.next_block(3600, |_, block| ticks.extend_from_slice(block)).is_some() {}
    ticks
}

fn alert_stage(c: &mut Criterion) {
    let ticks = session();
    let config = AlertConfig { model_anomaly: None, ..AlertConfig::default() };
    let profile = Profile { log_variance: vec![(1e-8f32).ln(); 288], ..Profile::flat("AAA", 300, 0.5) };
    let seasonal = Season { baseline: "seasonal/v1", profile: &profile };
    let mut group = c.benchmark_group("alerts");
    group.throughput(Throughput::Elements(ticks.len() as u64));
    let volume_only = AlertConfig { price_drop: None, ..config.clone() };
    let drop_only = AlertConfig { volume_spike: None, ..config.clone() };
    let cases = [
        ("default_rules", &config, None),
        ("default_rules_seasonal", &config, Some(seasonal)),
        ("volume_spike_only", &volume_only, None),
        ("price_drop_only", &drop_only, None),
    ];
    for (name, config, season) in cases {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut state = SymbolAlerts::new(config);
                let mut out = Vec::new();
                for t in &ticks {
                    state.on_tick(black_box(t), season, &mut out);
                }
                black_box(out.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, alert_stage);
criterion_main!(benches);
