//! The rules on real data: SPY's minute bars (January 2011, UTC), untouched and with volume
//! spikes and price drops planted at seeded random times. The seasonal baseline is fitted on
//! the first half of the sessions and the rules are judged on the second half only.

use tickloop_alerts::{
    AlertConfig, AlertQuality, LabelledEvent, PriceDropRule, Season, SeasonalBaseline, SeasonalCard, SeasonalFitter,
    SeasonalParams, SymbolAlerts, VolumeSpikeRule,
};
use tickloop_core::{Alert, AlertKind, NANOS_PER_SECOND, Price, Rng, Span, SymbolId, Tick, Timestamp, Volume};

/// Minute bars stamped at the minute's end, UTC: `YYYYMMDD HHMMSS;open;high;low;close;volume`.
fn spy() -> Vec<Tick> {
    let path = tickloop_testkit::manifest_dir().join("../cli/tests/data/spy-minute-2011.csv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split(';').collect();
            let (d, t) = f[0].split_once(' ').unwrap();
            let n = |s: &str, a: usize, b: usize| s[a..b].parse::<u32>().unwrap();
            let ts =
                Timestamp::from_civil(n(d, 0, 4) as i32, n(d, 4, 6), n(d, 6, 8), n(t, 0, 2), n(t, 2, 4), n(t, 4, 6));
            let p = |i: usize| Price(f[i].parse().unwrap());
            Tick {
                symbol: SymbolId::new(0),
                ts_event: ts,
                ts_recv: ts,
                open: p(1),
                high: p(2),
                low: p(3),
                close: p(4),
                volume: Volume(f[5].parse().unwrap()),
            }
        })
        .collect()
}

/// Rules for minute bars: the same rules as the default, with windows long enough to hold
/// several bars (a one-minute drop window would hold one).
fn minute_rules() -> AlertConfig {
    AlertConfig {
        volume_spike: Some(VolumeSpikeRule {
            window: Span::secs(3600),
            persist: 2,
            of: 3,
            ..VolumeSpikeRule::default()
        }),
        price_drop: Some(PriceDropRule {
            window: Span::secs(600),
            volatility_window: Span::secs(7200),
            ..PriceDropRule::default()
        }),
        model_anomaly: None,
        cooldown_secs: 1800,
        baseline: None,
    }
}

fn sessions(ticks: &[Tick]) -> Vec<i64> {
    let mut days: Vec<i64> = ticks.iter().map(|t| t.ts_event.day_number()).collect();
    days.dedup();
    days
}

fn fit(ticks: &[Tick]) -> SeasonalBaseline {
    let mut fitter = SeasonalFitter::new(SeasonalParams::default());
    for t in ticks {
        fitter.push(t);
    }
    let data = tickloop_models::DataRange {
        source: "spy".into(),
        from: "2011-01-03".into(),
        to: "2011-01-19".into(),
        rows: ticks.len(),
        symbols: 1,
    };
    let card = SeasonalCard::new("seasonal", 1, data, SeasonalParams::default());
    fitter.finish(|_| "SPY".to_owned(), card).unwrap()
}

fn run(config: &AlertConfig, baseline: &SeasonalBaseline, ticks: &[Tick]) -> Vec<Alert> {
    let mut state = SymbolAlerts::new(config);
    let season = Season { baseline: "seasonal/v1", profile: baseline.profile("SPY").unwrap() };
    let mut out = Vec::new();
    for t in ticks {
        state.on_tick(t, Some(season), &mut out);
    }
    out
}

/// Plants one volume spike (25–60× for 3–6 bars: SPY's minute volume scatters far more than
/// the simulator's seconds — one minute is often 10–20× the next within a quiet hour, about
/// one standard deviation of its log — so a spike has to stand ~3.5–4.5 σ clear of that to be
/// an anomaly at all) and one drop (1.5–3 % over 3–10 bars, on
/// three times the volume, the price staying down afterwards) into each session's regular
/// hours (14:30–21:00 UTC), at seeded random times an hour or more apart.
fn plant(ticks: &mut [Tick], seed: u64) -> Vec<LabelledEvent> {
    let mut rng = Rng::new(seed, 99);
    let mut events = Vec::new();
    for day in sessions(ticks) {
        let midnight = day * 86_400;
        let in_day: Vec<usize> = (0..ticks.len()).filter(|&i| ticks[i].ts_event.day_number() == day).collect();
        let last = *in_day.last().unwrap();
        let first_after = |at: i64| in_day.iter().copied().find(|&i| ticks[i].ts_event.as_secs() >= midnight + at);
        let (mult, spike_bars) = (rng.uniform_in(25.0, 60.0), rng.uniform_in(3.0, 6.99) as usize);
        let (size, drop_bars) = (rng.uniform_in(0.015, 0.03), rng.uniform_in(3.0, 10.99) as usize);
        let mut tries = 0;
        let found = loop {
            tries += 1;
            if tries > 1000 {
                break None; // no regular session in the file that day
            }
            let a = rng.uniform_in(15.0 * 3600.0, 20.5 * 3600.0) as i64;
            let b = rng.uniform_in(15.0 * 3600.0, 20.5 * 3600.0) as i64;
            if (a - b).abs() < 3600 {
                continue;
            }
            if let (Some(s), Some(d)) = (first_after(a), first_after(b))
                && s + spike_bars <= last
                && d + drop_bars <= last
            {
                break Some((s, d));
            }
        };
        let Some((s, d)) = found else { continue };
        for t in &mut ticks[s..s + spike_bars] {
            t.volume = Volume(t.volume.get() * mult);
        }
        let end = ticks[s + spike_bars - 1].ts_event.add_nanos(60 * NANOS_PER_SECOND);
        events.push(LabelledEvent {
            symbol: SymbolId::new(0),
            kind: AlertKind::VolumeSpike,
            start: ticks[s].ts_event,
            end,
        });
        for (k, i) in (d..=last).enumerate() {
            let fall = size * ((k + 1) as f64 / drop_bars as f64).min(1.0);
            let t = &mut ticks[i];
            for p in [&mut t.open, &mut t.high, &mut t.low, &mut t.close] {
                *p = Price(p.get() * (1.0 - fall));
            }
            if k < drop_bars {
                t.volume = Volume(t.volume.get() * 3.0);
            }
        }
        let end = ticks[d + drop_bars - 1].ts_event.add_nanos(60 * NANOS_PER_SECOND);
        events.push(LabelledEvent {
            symbol: SymbolId::new(0),
            kind: AlertKind::PriceDrop,
            start: ticks[d].ts_event,
            end,
        });
    }
    events
}

#[test]
fn on_real_minute_bars_the_rules_are_quiet_and_find_what_is_planted() {
    let ticks = spy();
    let days = sessions(&ticks);
    assert_eq!(days.len(), 25, "the file's sessions");
    let split = days[12];
    let (history, judged): (Vec<Tick>, Vec<Tick>) = ticks.iter().partition(|t| t.ts_event.day_number() < split);
    let baseline = fit(&history);
    let config = minute_rules();
    // Trading sessions: UTC days with regular hours (the file's Saturdays hold Friday
    // evening's after-hours prints alone).
    let judged_sessions = sessions(&judged)
        .iter()
        .filter(|&&d| judged.iter().filter(|t| t.ts_event.day_number() == d).count() > 300)
        .count() as f64;

    let untouched = run(&config, &baseline, &judged);
    for a in &untouched {
        eprintln!("untouched: {} {}", a.ts_event, a.message);
    }
    let per_session = untouched.len() as f64 / judged_sessions;
    eprintln!("untouched: {} alerts over {judged_sessions} sessions", untouched.len());
    assert!(per_session <= 1.0, "{per_session:.2} alerts per session on untouched bars");

    // Without the season, the open's surge is what the volume rule sees.
    let seasonless = {
        let mut state = SymbolAlerts::new(&config);
        let mut out = Vec::new();
        for t in &judged {
            state.on_tick(t, None, &mut out);
        }
        out.iter().filter(|a| a.kind == AlertKind::VolumeSpike).count()
    };
    eprintln!("untouched, no season: {seasonless} volume alerts");

    // Ten sessions plant ten events of each kind per seed: the verdict pools three seeds.
    let mut scores = Vec::new();
    for seed in [1, 2, 3] {
        let mut planted = judged.clone();
        let events = plant(&mut planted, seed);
        let alerts = run(&config, &baseline, &planted);
        let q = AlertQuality::score(alerts.iter().map(|a| (a.symbol, a.kind, a.ts_event)), &events, 120);
        for (name, r) in [("spikes", &q.volume_spike), ("drops", &q.price_drop)] {
            eprintln!("seed {seed}: {name}: {}", r.summary());
        }
        scores.push(q);
    }
    let pooled = AlertQuality::pooled(&scores).unwrap();
    for (name, r) in [("spikes", &pooled.volume_spike), ("drops", &pooled.price_drop)] {
        eprintln!("pooled: {name}: {}", r.summary());
        assert!(r.precision >= 0.9 && r.recall >= 0.9, "{name}: {}", r.summary());
    }
}
