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
                if sd > 1e-6 * mean.abs().max(1.0) { (v - mean) / sd } else { got }
            } else {
                f64::NAN
            };
            // Tolerance in z units: the rolling sums trade a little precision for O(1).
            prop_assert!((got.is_nan() && want.is_nan()) || (got - want).abs() <= 1e-6 * want.abs().max(1.0), "at {}: {} vs {}", i, got, want);
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
