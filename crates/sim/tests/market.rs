//! Statistical and determinism checks of the synthetic market.

use proptest::prelude::*;
use tickloop_core::{AlertKind, Source, SymbolId, Tick, Timestamp};
use tickloop_sim::{MarketConfig, MarketSim};

fn session_start() -> Timestamp {
    Timestamp::parse("2024-01-02T14:30:00Z").unwrap()
}

fn drain(sim: &mut MarketSim) -> Vec<Tick> {
    std::iter::from_fn(|| sim.next_tick().unwrap()).collect()
}

fn by_blocks(sim: &mut MarketSim, secs: i64) -> Vec<Tick> {
    let mut all = Vec::new();
    while sim.next_block(secs, |_, ticks| all.extend_from_slice(ticks)).is_some() {}
    all.sort_by_key(Tick::replay_key);
    all
}

fn bits(ticks: &[Tick]) -> Vec<[u64; 6]> {
    ticks
        .iter()
        .map(|t| {
            [
                t.ts_event.as_nanos() as u64,
                t.symbol.index() as u64,
                t.open.0.to_bits(),
                t.high.0.to_bits(),
                t.close.0.to_bits(),
                t.volume.0.to_bits(),
            ]
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn symbol_major_blocks_equal_time_major_replay(seed in 0u64..1000, symbols in 1usize..8, secs in 1i64..200, block in 1i64..90) {
        let cfg = MarketConfig { seed, symbols, volume_spikes_per_session: 2000.0, price_drops_per_session: 2000.0, ..MarketConfig::default() };
        let start = session_start().add_nanos(-30 * tickloop_core::NANOS_PER_SECOND);
        let end = start.add_nanos(secs * tickloop_core::NANOS_PER_SECOND);
        let mut a = MarketSim::new(cfg.clone(), start, end).unwrap();
        let mut b = MarketSim::new(cfg, start, end).unwrap();
        prop_assert_eq!(bits(&drain(&mut a)), bits(&by_blocks(&mut b, block)));
        prop_assert_eq!(a.take_labels(), b.take_labels());
    }
}

#[test]
fn same_seed_same_ticks_other_seed_other_ticks() {
    let end = session_start().add_nanos(600 * tickloop_core::NANOS_PER_SECOND);
    let run = |seed| {
        drain(
            &mut MarketSim::new(MarketConfig { seed, symbols: 5, ..Default::default() }, session_start(), end).unwrap(),
        )
    };
    assert_eq!(bits(&run(1)), bits(&run(1)));
    assert_ne!(bits(&run(1)), bits(&run(2)));
}

#[test]
fn ticks_are_well_formed() {
    let end = session_start().add_nanos(3600 * tickloop_core::NANOS_PER_SECOND);
    let mut sim = MarketSim::new(MarketConfig { symbols: 20, ..Default::default() }, session_start(), end).unwrap();
    let ticks = drain(&mut sim);
    assert_eq!(ticks.len(), 20 * 3600);
    for t in &ticks {
        assert!(t.low.0 > 0.0 && t.low <= t.open && t.low <= t.close && t.high >= t.open && t.high >= t.close, "{t:?}");
        assert!(t.volume.0 >= 0.0 && t.volume.0.fract() == 0.0);
        assert_eq!((t.close.0 * 100.0).round() / 100.0, t.close.0, "prices sit on the cent grid");
    }
    assert!(ticks.windows(2).all(|w| w[0].replay_key() < w[1].replay_key()));
}

#[test]
fn realised_volatility_matches_each_symbols_parameter() {
    let cfg = MarketConfig {
        symbols: 30,
        tick_size: 0.0,
        regime_shifts_per_session: 0.0,
        volume_spikes_per_session: 0.0,
        price_drops_per_session: 0.0,
        ..Default::default()
    };
    let end = session_start().add_nanos(2 * 23_400 * tickloop_core::NANOS_PER_SECOND);
    let mut sim = MarketSim::new(cfg, session_start(), end).unwrap();
    let sigmas: Vec<f64> = sim.params().map(|p| p.sigma_per_sec).collect();
    let mut sums = vec![(0.0f64, 0u64); sigmas.len()];
    let mut prev = vec![f64::NAN; sigmas.len()];
    for t in drain(&mut sim) {
        let i = t.symbol.index();
        let r = (t.close.0 / prev[i]).ln();
        if r.is_finite() {
            sums[i].0 += r * r;
            sums[i].1 += 1;
        }
        prev[i] = t.close.0;
    }
    let ratios: Vec<f64> = sums.iter().zip(&sigmas).map(|((ss, n), s)| (ss / *n as f64).sqrt() / s).collect();
    let mean = ratios.iter().sum::<f64>() / ratios.len() as f64;
    assert!((mean - 1.0).abs() < 0.05, "pooled realised/param vol {mean:.3}");
    for (i, r) in ratios.iter().enumerate() {
        assert!((r - 1.0).abs() < 0.3, "symbol {i}: realised/param {r:.3}");
    }
}

#[test]
fn planted_anomalies_are_labelled_and_visible_in_the_data() {
    let cfg = MarketConfig { symbols: 100, ..Default::default() };
    let end = session_start().add_nanos(23_400 * tickloop_core::NANOS_PER_SECOND);
    let mut sim = MarketSim::new(cfg, session_start(), end).unwrap();
    let ticks = drain(&mut sim);
    let labels = sim.take_labels();
    let spikes: Vec<_> = labels.iter().filter(|l| l.kind == AlertKind::VolumeSpike).collect();
    let drops: Vec<_> = labels.iter().filter(|l| l.kind == AlertKind::PriceDrop).collect();
    // Expected 100 and 50 (Poisson); the bounds are ±4 standard deviations.
    assert!((60..=140).contains(&spikes.len()), "{} spikes", spikes.len());
    assert!((22..=80).contains(&drops.len()), "{} drops", drops.len());

    let symbols = sim.symbols().clone();
    let series = |name: &str| -> Vec<&Tick> {
        let id: SymbolId = symbols.get(name).unwrap();
        ticks.iter().filter(|t| t.symbol == id).collect()
    };
    for spike in spikes.iter().take(20) {
        let s = series(&spike.symbol);
        let mut vols: Vec<f64> = s.iter().map(|t| t.volume.0).collect();
        vols.sort_by(f64::total_cmp);
        let median = vols[vols.len() / 2];
        let at = s.iter().find(|t| t.ts_event == spike.start).unwrap();
        assert!(at.volume.0 > 3.0 * median, "spike {spike:?}: volume {} vs median {median}", at.volume.0);
    }
    for drop in drops.iter().take(20) {
        let s = series(&drop.symbol);
        let before = s.iter().rev().find(|t| t.ts_event < drop.start).map_or(s[0].open.0, |t| t.close.0);
        let Some(after) = s.iter().rev().find(|t| t.ts_event < drop.end) else {
            continue;
        };
        assert!((after.close.0 / before).ln() < -0.01, "drop {drop:?}: {before} -> {}", after.close.0);
    }
}

#[test]
fn intraday_volume_is_u_shaped() {
    let cfg = MarketConfig {
        symbols: 20,
        volume_spikes_per_session: 0.0,
        price_drops_per_session: 0.0,
        ..Default::default()
    };
    let end = session_start().add_nanos(23_400 * tickloop_core::NANOS_PER_SECOND);
    let mut sim = MarketSim::new(cfg, session_start(), end).unwrap();
    let (mut edge, mut middle) = ((0.0, 0u64), (0.0, 0u64));
    for t in drain(&mut sim) {
        let into = (t.ts_event.as_nanos() - session_start().as_nanos()) / tickloop_core::NANOS_PER_SECOND;
        if !(1_800..21_600).contains(&into) {
            edge.0 += t.volume.0;
            edge.1 += 1;
        } else if (10_800..12_600).contains(&into) {
            middle.0 += t.volume.0;
            middle.1 += 1;
        }
    }
    let ratio = (edge.0 / edge.1 as f64) / (middle.0 / middle.1 as f64);
    assert!(ratio > 1.8, "open/close volume only {ratio:.2}x midday");
}

/// The measured ceiling is the same whichever order the market is drawn in (rows settle
/// as soon as every symbol has passed their horizon), and on a loud signal the filter that
/// knows the model finds it.
#[test]
fn the_measured_ceiling_is_order_independent_and_finds_a_loud_signal() {
    let cfg = MarketConfig { symbols: 20, signal_strength: 0.2, ..MarketConfig::default() };
    let start = session_start();
    let end = start.add_nanos(2_400 * tickloop_core::NANOS_PER_SECOND);
    let mut a = MarketSim::new(cfg.clone(), start, end).unwrap();
    let mut b = MarketSim::new(cfg.clone(), start, end).unwrap();
    drain(&mut a);
    by_blocks(&mut b, 170);
    let (ma, mb) = (a.measured_ceilings(), b.measured_ceilings());
    assert_eq!(ma, mb);
    // Rows every 10 s from 900 s in while the label's minute ends before 2,400 s.
    assert_eq!(ma.own_prices.rows, 20 * 144);
    let closed = cfg.observable_ceiling(60, true);
    assert!(ma.market_neutral.directional_accuracy > 0.55, "{ma:?} (closed form {closed:?})");
    assert!(ma.market_neutral.information_coefficient > 0.1, "{ma:?}");
    assert!(ma.market_neutral.directional_accuracy >= ma.own_prices.directional_accuracy - 0.02, "{ma:?}");
}

#[test]
fn kept_ceiling_predictions_are_the_ones_the_measured_ceiling_scores() {
    let cfg = MarketConfig { symbols: 12, signal_strength: 0.2, ..MarketConfig::default() };
    let start = session_start();
    let end = start.add_nanos(1_500 * tickloop_core::NANOS_PER_SECOND);
    let mut a = MarketSim::new(cfg.clone(), start, end).unwrap();
    let mut b = MarketSim::new(cfg, start, end).unwrap();
    a.keep_ceiling_predictions();
    b.keep_ceiling_predictions();
    let ticks = drain(&mut a);
    by_blocks(&mut b, 170);
    let (pa, pb) = (a.ceiling_predictions().unwrap(), b.ceiling_predictions().unwrap());
    // Score the kept predictions on the measured ceiling's rows, from the ticks themselves.
    let close = |symbol: usize, ts: Timestamp| {
        let t = ticks.iter().find(|t| t.symbol.index() == symbol && t.ts_event == ts).unwrap();
        t.close.get()
    };
    let (mut right, mut moved) = (0u64, 0u64);
    for symbol in 0..12 {
        for secs in (900..1_500 - 60).step_by(10) {
            let ts = start.add_nanos(secs * tickloop_core::NANOS_PER_SECOND);
            let predicted = pa.at(symbol, ts).unwrap();
            assert_eq!(Some(predicted), pb.at(symbol, ts), "the same in either order");
            let realised = (close(symbol, ts.add_nanos(60 * tickloop_core::NANOS_PER_SECOND)) / close(symbol, ts)).ln();
            if realised != 0.0 {
                moved += 1;
                right += u64::from(predicted[0].signum() == realised.signum());
            }
        }
    }
    let measured = a.measured_ceilings().own_prices;
    assert_eq!(measured.rows, 12 * 54);
    assert!((measured.directional_accuracy - right as f64 / moved as f64).abs() < 1e-12, "{measured:?}");
    assert!(pa.at(0, start).is_some(), "kept from the first second");
    assert_eq!(pa.at(0, end), None, "nothing past the end");
    assert_eq!(pa.at(0, start.add_nanos(1)), None, "only whole seconds");
}
