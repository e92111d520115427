//! The feature set over two simulated symbols' days in runs, one symbol at a time and two at
//! a time (lanes), best of many repetitions: a quick A/B of the run kernels on a noisy
//! machine, where the minimum is what interference leaves alone.
//!
//! `cargo run --release -p tickloop-features --example runs_best_of -- [RUN] [FEATURES]`
//! (`RUN` ticks a run, 512 by default; `FEATURES` comma-separated, the default set if none).

#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::time::Instant;

use tickloop_features::batch::Columns;
use tickloop_features::{FeatureSet, FeatureSetDef, FeatureSpec};

const TICKS: usize = 23_400;
const REPETITIONS: usize = 100;

/// A day of a random walk: open, high, low, close, volume.
fn day(seed: u64) -> [Vec<f64>; 5] {
    let mut state = seed;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut close = 100.0;
    let mut columns: [Vec<f64>; 5] = Default::default();
    for _ in 0..TICKS {
        close *= 1.0 + (next() - 0.5) * 0.002;
        let spread = next() * 0.001;
        let volume = (next() * 1000.0).round();
        for (column, v) in
            columns.iter_mut().zip([close, close * (1.0 + spread), close * (1.0 - spread), close, volume])
        {
            column.push(v);
        }
    }
    columns
}

fn as_columns<'a>(day: &'a [Vec<f64>; 5], ts: &'a [i64]) -> Columns<'a> {
    Columns { ts_nanos: ts, open: &day[0], high: &day[1], low: &day[2], close: &day[3], volume: &day[4] }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let run: usize = args.next().map_or(Ok(512), |a| a.parse())?;
    let features: Vec<FeatureSpec> = match args.next() {
        Some(list) => list.split(',').map(str::parse).collect::<Result<_, _>>()?,
        None => FeatureSetDef::builtin("default").ok_or("the default set")?.features,
    };
    let ts: Vec<i64> = (0..TICKS as i64).map(|i| 1_700_000_000_000_000_000 + i * 1_000_000_000).collect();
    let days = [day(1), day(2)];
    let [a, b] = [as_columns(&days[0], &ts), as_columns(&days[1], &ts)];
    let width = features.len();
    let (mut rows_a, mut rows_b) = (vec![0.0; run * width], vec![0.0; run * width]);
    let (mut one, mut two) = (f64::MAX, f64::MAX);
    let per_tick = |started: Instant| started.elapsed().as_secs_f64() * 1e9 / (2 * TICKS) as f64;
    for _ in 0..REPETITIONS {
        let started = Instant::now();
        for symbol in [&a, &b] {
            let mut set = FeatureSet::new(&features);
            for start in (0..TICKS).step_by(run) {
                let end = (start + run).min(TICKS);
                set.update_run(&symbol.slice(start..end), &mut rows_a[..(end - start) * width]);
                black_box(&rows_a);
            }
        }
        one = one.min(per_tick(started));
        let started = Instant::now();
        let (mut set_a, mut set_b) = (FeatureSet::new(&features), FeatureSet::new(&features));
        for start in (0..TICKS).step_by(run) {
            let end = (start + run).min(TICKS);
            let len = (end - start) * width;
            FeatureSet::update_runs(
                [&mut set_a, &mut set_b],
                [&a.slice(start..end), &b.slice(start..end)],
                [&mut rows_a[..len], &mut rows_b[..len]],
            );
            black_box((&rows_a, &rows_b));
        }
        two = two.min(per_tick(started));
    }
    println!("{width} features, runs of {run}: one symbol at a time {one:.1} ns/tick, two at a time {two:.1} ns/tick");
    Ok(())
}
