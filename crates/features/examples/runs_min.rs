//! Scratch: min-of-N timing of the default set in runs (single and pairs).
#![allow(clippy::print_stdout)]
use std::hint::black_box;
use std::time::Instant;
use tickloop_features::batch::Columns;
use tickloop_features::{FeatureSet, FeatureSetDef};

fn series(seed: u64, n: usize) -> [Vec<f64>; 5] {
    let mut state = seed;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut close = 100.0;
    let mut c: [Vec<f64>; 5] = Default::default();
    for _ in 0..n {
        close *= 1.0 + (next() - 0.5) * 0.002;
        let spread = next() * 0.001;
        for (col, v) in
            c.iter_mut().zip([close, close * (1.0 + spread), close * (1.0 - spread), close, (next() * 1000.0).round()])
        {
            col.push(v);
        }
    }
    c
}

fn main() {
    let n = 23_400;
    let run: usize = std::env::args().nth(1).map_or(64, |a| a.parse().unwrap());
    let ts: Vec<i64> = (0..n as i64).map(|i| 1_700_000_000_000_000_000 + i * 1_000_000_000).collect();
    let a = series(1, n);
    let b = series(2, n);

    fn unsafe_cols<'a>(c: &'a [Vec<f64>; 5], ts: &'a [i64]) -> Columns<'a> {
        Columns { ts_nanos: ts, open: &c[0], high: &c[1], low: &c[2], close: &c[3], volume: &c[4] }
    }
    let (ca, cb) = (unsafe_cols(&a, &ts), unsafe_cols(&b, &ts));
    let mut def = FeatureSetDef::builtin("default").unwrap();
    if let Some(list) = std::env::args().nth(2) {
        def.features = list.split(',').map(|f| f.parse().unwrap()).collect();
    }
    let width = def.features.len();
    let mut ra = vec![0.0; run * width];
    let mut rb = vec![0.0; run * width];
    let (mut single, mut pairs) = (f64::MAX, f64::MAX);
    for _ in 0..100 {
        let t = Instant::now();
        for c in [&ca, &cb] {
            let mut set = FeatureSet::new(&def.features);
            for s in (0..n).step_by(run) {
                let e = (s + run).min(n);
                set.update_run(&c.slice(s..e), &mut ra[..(e - s) * width]);
                black_box(&ra);
            }
        }
        single = single.min(t.elapsed().as_secs_f64() * 1e9 / (2 * n) as f64);
        let t = Instant::now();
        let (mut sa, mut sb) = (FeatureSet::new(&def.features), FeatureSet::new(&def.features));
        for s in (0..n).step_by(run) {
            let e = (s + run).min(n);
            FeatureSet::update_runs(
                [&mut sa, &mut sb],
                [&ca.slice(s..e), &cb.slice(s..e)],
                [&mut ra[..(e - s) * width], &mut rb[..(e - s) * width]],
            );
            black_box(&ra);
            black_box(&rb);
        }
        pairs = pairs.min(t.elapsed().as_secs_f64() * 1e9 / (2 * n) as f64);
    }
    let name = std::env::args().nth(2).unwrap_or_default();
    println!("{name} run {run}: single {single:.1} ns/tick, pairs {pairs:.1} ns/tick");
}
