//! Incremental == batch: each streaming indicator against a direct computation over the
//! whole window, for random series.

use proptest::prelude::*;
use tickloop_features::{Ema, Extreme, Indicator, RealizedVol, RollingExtreme, VolumeZScore, Vwap};

fn close_enough(got: f64, want: f64) -> bool {
    (got.is_nan() && want.is_nan()) || (got - want).abs() <= 1e-9 * want.abs().max(1.0) || got == want
}

fn prices() -> impl Strategy<Value = Vec<f64>> {
    proptest::collection::vec(1.0f64..500.0, 1..250)
}

proptest! {
    #[test]
    fn ema_equals_its_recursive_definition(xs in prices(), n in 1usize..30) {
        let mut ema = Ema::new(n);
        let k = 2.0 / (n as f64 + 1.0);
        let mut batch = f64::NAN;
        for (i, &x) in xs.iter().enumerate() {
            let got = ema.update(x);
            if i + 1 == n {
                batch = xs[..n].iter().sum::<f64>() / n as f64;
            } else if i + 1 > n {
                batch = (x - batch) * k + batch;
            }
            prop_assert!(close_enough(got, batch), "at {}: {} vs {}", i, got, batch);
        }
    }

    #[test]
    fn rolling_min_max_equal_window_extremes(xs in prices(), n in 1usize..40) {
        let mut lo = RollingExtreme::new(n, Extreme::Min);
        let mut hi = RollingExtreme::new(n, Extreme::Max);
        for (i, &x) in xs.iter().enumerate() {
            let (a, b) = (lo.update(x), hi.update(x));
            if i + 1 < n {
                prop_assert!(a.is_nan() && b.is_nan());
            } else {
                let w = &xs[i + 1 - n..=i];
                prop_assert_eq!(a, w.iter().copied().fold(f64::INFINITY, f64::min));
                prop_assert_eq!(b, w.iter().copied().fold(f64::NEG_INFINITY, f64::max));
            }
        }
    }

    #[test]
    fn realized_vol_equals_rms_of_window_log_returns(xs in prices(), n in 1usize..40) {
        let mut rv = RealizedVol::new(n);
        for (i, &x) in xs.iter().enumerate() {
            let got = rv.update(x);
            let want = if i >= n {
                let r: Vec<f64> = (i + 1 - n..=i).map(|j| (xs[j] / xs[j - 1]).ln()).collect();
                (r.iter().map(|v| v * v).sum::<f64>() / n as f64).sqrt()
            } else {
                f64::NAN
            };
            prop_assert!(close_enough(got, want), "at {}: {} vs {}", i, got, want);
        }
    }

    #[test]
    fn volume_z_equals_zscore_against_previous_window(vs in proptest::collection::vec(0.0f64..1e6, 1..200), n in 2usize..30) {
        let mut z = VolumeZScore::new(n);
        for (i, &v) in vs.iter().enumerate() {
            let got = z.update(v);
            let want = if i >= n {
                let w = &vs[i - n..i];
                let mean = w.iter().sum::<f64>() / n as f64;
                let sd = (w.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
                (v - mean) / sd
            } else {
                f64::NAN
            };
            prop_assert!(close_enough(got, want), "at {}: {} vs {}", i, got, want);
        }
    }

    #[test]
    fn vwaps_equal_their_definitions(bars in proptest::collection::vec((1.0f64..500.0, 0.0f64..0.05, 0.0f64..1e5), 1..200), n in 1usize..30, day_len in 10i64..100) {
        let mut session = Vwap::session(0);
        let mut rolling = Vwap::rolling(n);
        let day_ns = 86_400_000_000_000i64;
        for (i, &(c, spread, v)) in bars.iter().enumerate() {
            let (h, l) = (c * (1.0 + spread), c * (1.0 - spread));
            // `day_len` ticks per day, so several session resets happen.
            let ts = (i as i64 / day_len) * day_ns + (i as i64 % day_len) * 1_000_000_000;
            let got_s = session.update(ts, h, l, c, v);
            let got_r = rolling.update(ts, h, l, c, v);
            let tp = |j: usize| { let (c, s, _) = bars[j]; (c * (1.0 + s) + c * (1.0 - s) + c) / 3.0 };
            let day_start = i - (i % day_len as usize);
            let vw = |js: std::ops::RangeInclusive<usize>| {
                let (pv, vol) = js.fold((0.0, 0.0), |(pv, vol), j| (pv + tp(j) * bars[j].2, vol + bars[j].2));
                if vol > 0.0 { pv / vol } else { f64::NAN }
            };
            prop_assert!(close_enough(got_s, vw(day_start..=i)), "session at {}: {} vs {}", i, got_s, vw(day_start..=i));
            let want_r = if i + 1 >= n { vw(i + 1 - n..=i) } else { f64::NAN };
            prop_assert!(close_enough(got_r, want_r), "rolling at {}: {} vs {}", i, got_r, want_r);
        }
    }
}

/// A random series with the awkward parts real data has: flat stretches (a price that does
/// not move for a while), gaps in time (missing seconds, overnight jumps) and zero volumes.
fn market() -> impl Strategy<Value = Vec<(i64, f64, f64, f64, f64)>> {
    proptest::collection::vec(
        (
            prop_oneof![8 => Just(1i64), 1 => 2i64..600, 1 => Just(50_000i64)],
            -0.01f64..0.01,
            0.0f64..0.004,
            prop_oneof![3 => Just(0.0f64), 7 => 1.0f64..1e5],
            prop::bool::weighted(0.3),
        ),
        1..400,
    )
    .prop_map(|steps| {
        let (mut ts, mut close) = (1_700_000_000i64, 100.0f64);
        steps
            .into_iter()
            .map(|(dt, r, spread, volume, flat)| {
                ts += dt;
                if !flat {
                    close = (close * (1.0 + r) * 100.0).round() / 100.0;
                }
                (ts, close, close * (1.0 + spread), close * (1.0 - spread), volume)
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The streaming feature set and the batch twin agree to 1e-9 on every feature of the
    /// default set and first valid index, on random series with gaps and flat prices.
    #[test]
    fn incremental_equals_batch_for_the_default_set(rows in market()) {
        use tickloop_features::{FeatureSet, FeatureSetDef, Ohlcv, batch};
        let set = FeatureSetDef::builtin("default").unwrap();
        let mut short = set.features.clone();
        short.extend(["sma_3", "rsi_2", "atr_3", "volume_z_5", "realized_vol_4", "vwap_7", "min_5", "max_5", "macd_3_6_2", "macd_signal_3_6_2", "macd_hist_3_6_2", "bb_upper_5_1.5", "ema_4", "trend_z_3", "trend_z_20"].iter().map(|s| s.parse::<tickloop_features::FeatureSpec>().unwrap()));
        let ts: Vec<i64> = rows.iter().map(|r| r.0 * 1_000_000_000).collect();
        let close: Vec<f64> = rows.iter().map(|r| r.1).collect();
        let high: Vec<f64> = rows.iter().map(|r| r.2).collect();
        let low: Vec<f64> = rows.iter().map(|r| r.3).collect();
        let volume: Vec<f64> = rows.iter().map(|r| r.4).collect();
        let columns = batch::Columns { ts_nanos: &ts, open: &close, high: &high, low: &low, close: &close, volume: &volume };
        let expected: Vec<Vec<f64>> = short.iter().map(|&spec| batch::compute(spec, &columns)).collect();
        let mut streaming = FeatureSet::new(&short);
        let mut values = Vec::new();
        for i in 0..rows.len() {
            values.clear();
            streaming.update(&Ohlcv { ts_nanos: ts[i], open: close[i], high: high[i], low: low[i], close: close[i], volume: volume[i] }, &mut values);
            for (j, spec) in short.iter().enumerate() {
                let (got, want) = (values[j], expected[j][i]);
                let same = (got.is_nan() && want.is_nan()) || got == want || (got - want).abs() <= 1e-9 * want.abs().max(1.0);
                prop_assert!(same, "{} at row {}: streaming {} vs batch {}", spec, i, got, want);
            }
        }
    }
}

/// Every feature the set knows, at the default set's windows and at short ones (warm-ups
/// and window wrap-arounds inside a short series), with a repeated feature.
fn every_feature() -> Vec<tickloop_features::FeatureSpec> {
    let mut specs = tickloop_features::FeatureSetDef::builtin("default").unwrap().features;
    specs.extend(
        [
            "sma_3",
            "rsi_2",
            "atr_3",
            "volume_z_5",
            "realized_vol_4",
            "vwap_7",
            "min_5",
            "max_5",
            "macd_3_6_2",
            "macd_hist_3_6_2",
            "bb_lower_5_1.5",
            "ema_4",
            "trend_z_3",
            "trend_z_20",
            "sma_20",
            "return",
        ]
        .iter()
        .map(|s| s.parse::<tickloop_features::FeatureSpec>().unwrap()),
    );
    specs
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A run computed indicator by indicator gives the tick-by-tick values bit for bit, and
    /// leaves the same state (the same snapshot bytes), however the series is cut into runs.
    #[test]
    fn runs_give_exactly_the_tick_by_tick_values_and_state(
        rows in market(),
        cuts in proptest::collection::vec(0usize..400, 0..6),
        poison in proptest::collection::vec((0usize..400, 0u8..5), 0..3),
    ) {
        use tickloop_features::{FeatureSet, Ohlcv, batch};
        let specs = every_feature();
        let width = specs.len();
        let ts: Vec<i64> = rows.iter().map(|r| r.0 * 1_000_000_000).collect();
        let close: Vec<f64> = rows.iter().map(|r| r.1).collect();
        let high: Vec<f64> = rows.iter().map(|r| r.2).collect();
        let low: Vec<f64> = rows.iter().map(|r| r.3).collect();
        let mut volume: Vec<f64> = rows.iter().map(|r| r.4).collect();
        let open: Vec<f64> = close.iter().map(|c| c * 1.0001).collect();
        // Inputs the cleaner would have refused: a run must still match tick by tick.
        let mut close = close;
        for &(at, kind) in &poison {
            let at = at.min(rows.len() - 1);
            match kind {
                0 => close[at] = f64::NAN,
                1 => volume[at] = f64::NAN,
                2 => close[at] = 0.0,
                3 => close[at] = -close[at],
                _ => volume[at] = f64::INFINITY,
            }
        }

        let mut streaming = FeatureSet::new(&specs);
        let mut expected = vec![f64::NAN; rows.len() * width];
        for (i, row) in expected.chunks_exact_mut(width).enumerate() {
            let x = Ohlcv { ts_nanos: ts[i], open: open[i], high: high[i], low: low[i], close: close[i], volume: volume[i] };
            streaming.update_into(&x, row);
        }

        let mut bounds: Vec<usize> = cuts.into_iter().map(|c| c.min(rows.len())).collect();
        bounds.extend([0, rows.len()]);
        bounds.sort_unstable();
        let series = batch::Columns { ts_nanos: &ts, open: &open, high: &high, low: &low, close: &close, volume: &volume };
        let mut runs = FeatureSet::new(&specs);
        let mut got = vec![f64::NAN; rows.len() * width];
        for pair in bounds.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            runs.update_run(&series.slice(a..b), &mut got[a * width..b * width]);
        }
        // Rust leaves the sign and payload of a NaN that arithmetic produces to the compiler
        // (the code inlined in two places may differ), so where refused inputs make NaNs the
        // comparison is NaN for NaN; for accepted inputs it is bit for bit, state included.
        let bits = |v: f64| if v.is_nan() && !poison.is_empty() { f64::NAN.to_bits() } else { v.to_bits() };
        for (k, (g, e)) in got.iter().zip(&expected).enumerate() {
            prop_assert_eq!(bits(*g), bits(*e), "{} at row {}: run {} vs tick by tick {}", specs[k % width], k / width, g, e);
        }
        if !poison.is_empty() {
            return Ok(());
        }
        prop_assert_eq!(postcard::to_stdvec(&runs).unwrap(), postcard::to_stdvec(&streaming).unwrap());
        // A restored set goes on by runs exactly like the one that never stopped.
        let mut restored: FeatureSet = postcard::from_bytes(&postcard::to_stdvec(&runs).unwrap()).unwrap();
        let (mut after_restore, mut after_runs) = (vec![f64::NAN; width], vec![f64::NAN; width]);
        let newest = series.slice(rows.len() - 1..rows.len());
        restored.update_run(&newest, &mut after_restore);
        runs.update_run(&newest, &mut after_runs);
        for (k, (a, b)) in after_restore.iter().zip(&after_runs).enumerate() {
            prop_assert_eq!(a.to_bits(), b.to_bits(), "{} after a restore: {} vs {}", specs[k], a, b);
        }
    }
}

/// One series' input columns, from [`market`]'s rows.
struct Inputs {
    ts: Vec<i64>,
    open: Vec<f64>,
    high: Vec<f64>,
    low: Vec<f64>,
    close: Vec<f64>,
    volume: Vec<f64>,
}

impl Inputs {
    fn new(rows: &[(i64, f64, f64, f64, f64)]) -> Self {
        let close: Vec<f64> = rows.iter().map(|r| r.1).collect();
        Inputs {
            ts: rows.iter().map(|r| r.0 * 1_000_000_000).collect(),
            open: close.iter().map(|c| c * 1.0001).collect(),
            high: rows.iter().map(|r| r.2).collect(),
            low: rows.iter().map(|r| r.3).collect(),
            volume: rows.iter().map(|r| r.4).collect(),
            close,
        }
    }

    fn columns(&self) -> tickloop_features::batch::Columns<'_> {
        tickloop_features::batch::Columns {
            ts_nanos: &self.ts,
            open: &self.open,
            high: &self.high,
            low: &self.low,
            close: &self.close,
            volume: &self.volume,
        }
    }

    /// Every feature's row for each input, tick by tick, and the set that computed them.
    fn tick_by_tick(&self, specs: &[tickloop_features::FeatureSpec]) -> (Vec<f64>, tickloop_features::FeatureSet) {
        let mut set = tickloop_features::FeatureSet::new(specs);
        let mut rows = vec![f64::NAN; self.close.len() * specs.len()];
        for (i, row) in rows.chunks_exact_mut(specs.len()).enumerate() {
            let (ts_nanos, open, high, low, close, volume) =
                (self.ts[i], self.open[i], self.high[i], self.low[i], self.close[i], self.volume[i]);
            set.update_into(&tickloop_features::Ohlcv { ts_nanos, open, high, low, close, volume }, row);
        }
        (rows, set)
    }
}

/// Where a series of `len` inputs is cut into runs: `cuts` clamped, with both ends.
fn run_bounds(cuts: Vec<usize>, len: usize) -> Vec<usize> {
    let mut bounds: Vec<usize> = cuts.into_iter().map(|c| c.min(len)).collect();
    bounds.extend([0, len]);
    bounds.sort_unstable();
    bounds
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Two symbols stepped side by side (lanes) each get exactly their own tick-by-tick
    /// values and state, whatever their lengths: runs of different lengths, empty runs, one
    /// symbol finishing its run alone.
    #[test]
    fn lanes_give_each_symbol_exactly_its_own_values_and_state(
        first in market(),
        second in market(),
        cuts_first in proptest::collection::vec(0usize..400, 0..6),
        cuts_second in proptest::collection::vec(0usize..400, 0..6),
    ) {
        use tickloop_features::FeatureSet;
        let specs = every_feature();
        let width = specs.len();
        let inputs = [Inputs::new(&first), Inputs::new(&second)];
        let expected = [inputs[0].tick_by_tick(&specs), inputs[1].tick_by_tick(&specs)];
        let bounds = [run_bounds(cuts_first, first.len()), run_bounds(cuts_second, second.len())];
        let series = [inputs[0].columns(), inputs[1].columns()];
        let (mut a, mut b) = (FeatureSet::new(&specs), FeatureSet::new(&specs));
        let mut got = [vec![f64::NAN; first.len() * width], vec![f64::NAN; second.len() * width]];
        let runs = bounds[0].len().max(bounds[1].len()) - 1;
        // Run k of each symbol (an empty run once a symbol has no more).
        let run = |lane: usize, k: usize| {
            let b = &bounds[lane];
            let end = *b.last().expect("bounds hold both ends");
            (b.get(k).copied().unwrap_or(end), b.get(k + 1).copied().unwrap_or(end))
        };
        for k in 0..runs {
            let ((a0, a1), (b0, b1)) = (run(0, k), run(1, k));
            let [got_a, got_b] = &mut got;
            FeatureSet::update_runs(
                [&mut a, &mut b],
                [&series[0].slice(a0..a1), &series[1].slice(b0..b1)],
                [&mut got_a[a0 * width..a1 * width], &mut got_b[b0 * width..b1 * width]],
            );
        }
        for (lane, set) in [&a, &b].into_iter().enumerate() {
            let (rows, streaming) = &expected[lane];
            for (k, (g, e)) in got[lane].iter().zip(rows).enumerate() {
                prop_assert_eq!(g.to_bits(), e.to_bits(), "lane {} {} at row {}: {} vs {}", lane, specs[k % width], k / width, g, e);
            }
            prop_assert_eq!(postcard::to_stdvec(set).unwrap(), postcard::to_stdvec(streaming).unwrap());
        }
    }
}
