//! The `default` feature set (21 features) over a whole lake range, compute only, the way
//! `xtask/py/features_peers.py` times TA-Lib and pandas on the same ticks: the data is loaded
//! first and not timed.
//!
//! Three ways: streaming in event order (one `FeatureSet` per symbol, ticks interleaved
//! across symbols, what the live runner does), streaming symbol by symbol (each symbol's
//! ticks in a row: the order a replay block computes features in, taken to the whole day)
//! and batch (the batch twin over each symbol's columns, what TA-Lib does); and in runs, as
//! a replay block computes them (the best of three passes). Prints one JSON object.
//!
//! `cargo run --release -p tickloop-backtest --example features_day -- LAKE START END`

#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::time::Instant;

use tickloop_core::{Source, Timestamp};
use tickloop_features::batch::{Columns, compute};
use tickloop_features::{FeatureSet, FeatureSetDef, Ohlcv};
use tickloop_lake::{Lake, LakeSource};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [lake, start, end] = args.as_slice() else {
        return Err("usage: features_day LAKE START END (RFC 3339)".into());
    };
    let lake = Lake::local(lake);
    let (start, end) = (Timestamp::parse(start)?, Timestamp::parse(end)?);
    let loading = Instant::now();
    let mut source = LakeSource::open(&lake, start, end)?;
    let symbols = source.symbols().len();
    let capacity = source.remaining_hint().unwrap_or(0) as usize;
    let (mut ticks, mut ids) = (Vec::with_capacity(capacity), Vec::with_capacity(capacity));
    while let Some(tick) = source.next_tick()? {
        ticks.push(Ohlcv::from(&tick));
        ids.push(tick.symbol.index() as u32);
    }
    let load_secs = loading.elapsed().as_secs_f64();
    let def = FeatureSetDef::builtin("default").expect("built-in set");

    // Streaming, in event order across symbols.
    let mut sets: Vec<FeatureSet> = (0..symbols).map(|_| FeatureSet::new(&def.features)).collect();
    let mut out = Vec::with_capacity(def.features.len());
    let started = Instant::now();
    for (x, &id) in ticks.iter().zip(&ids) {
        out.clear();
        sets[id as usize].update(x, &mut out);
        black_box(&out);
    }
    let streaming = started.elapsed().as_secs_f64();

    // Gathered by symbol (untimed), for the two symbol-major ways.
    let mut by_symbol: Vec<[Vec<f64>; 5]> = (0..symbols).map(|_| Default::default()).collect();
    let mut times: Vec<Vec<i64>> = vec![Vec::new(); symbols];
    for (x, &id) in ticks.iter().zip(&ids) {
        let s = &mut by_symbol[id as usize];
        for (col, v) in s.iter_mut().zip([x.open, x.high, x.low, x.close, x.volume]) {
            col.push(v);
        }
        times[id as usize].push(x.ts_nanos);
    }
    // Streaming, symbol by symbol.
    let started = Instant::now();
    for (cols, ts) in by_symbol.iter().zip(&times) {
        let mut set = FeatureSet::new(&def.features);
        for (k, &ts_nanos) in ts.iter().enumerate() {
            let x = Ohlcv {
                ts_nanos,
                open: cols[0][k],
                high: cols[1][k],
                low: cols[2][k],
                close: cols[3][k],
                volume: cols[4][k],
            };
            out.clear();
            set.update(&x, &mut out);
            black_box(&out);
        }
    }
    let symbol_major = started.elapsed().as_secs_f64();

    // Runs, symbol by symbol: each symbol's day in runs of RUN ticks, whose rows stay in the
    // core's cache while each indicator passes over them (a whole day's rows would not), two
    // symbols at a time as a replay block computes them (`FeatureSet::update_runs`).
    const RUN: usize = 512;
    let width = def.features.len();
    let mut rows = [vec![0.0; RUN * width], vec![0.0; RUN * width]];
    let days: Vec<Columns<'_>> = by_symbol
        .iter()
        .zip(&times)
        .map(|(cols, ts)| Columns {
            ts_nanos: ts,
            open: &cols[0],
            high: &cols[1],
            low: &cols[2],
            close: &cols[3],
            volume: &cols[4],
        })
        .collect();
    // Best of three passes, as `features_peers.py` times TA-Lib: one pass is about a second,
    // and this machine's speed moves by more than the gap being measured within a minute.
    let mut runs = f64::INFINITY;
    for _ in 0..3 {
        let started = Instant::now();
        for pair in days.chunks(2) {
            let mut sets = pair.iter().map(|_| FeatureSet::new(&def.features)).collect::<Vec<_>>();
            let len = pair.iter().map(|day| day.close.len()).max().unwrap_or(0);
            for start in (0..len).step_by(RUN) {
                // Each symbol's next run (empty once its day is over).
                let [rows_a, rows_b] = &mut rows;
                match (pair, sets.as_mut_slice()) {
                    ([a, b], [set_a, set_b]) => {
                        let (run_a, run_b) = (run_from(a, start, RUN), run_from(b, start, RUN));
                        FeatureSet::update_runs(
                            [set_a, set_b],
                            [&run_a, &run_b],
                            [&mut rows_a[..run_a.close.len() * width], &mut rows_b[..run_b.close.len() * width]],
                        );
                    }
                    ([a], [set]) => {
                        let run_a = run_from(a, start, RUN);
                        set.update_run(&run_a, &mut rows_a[..run_a.close.len() * width]);
                    }
                    _ => unreachable!("chunks of one or two symbols, one set each"),
                }
                black_box(&rows);
            }
        }
        runs = runs.min(started.elapsed().as_secs_f64());
    }

    // Batch: every feature over each symbol's columns.
    let started = Instant::now();
    for (cols, ts) in by_symbol.iter().zip(&times) {
        let columns =
            Columns { ts_nanos: ts, open: &cols[0], high: &cols[1], low: &cols[2], close: &cols[3], volume: &cols[4] };
        for &spec in &def.features {
            black_box(compute(spec, &columns));
        }
    }
    let batch = started.elapsed().as_secs_f64();
    let n = ticks.len() as f64;
    println!(
        "{{\"ticks\": {}, \"symbols\": {symbols}, \"features\": {}, \"load_secs\": {load_secs:.3}, \"streaming_secs\": {streaming:.4}, \"streaming_ns_per_tick\": {:.2}, \"symbol_major_ns_per_tick\": {:.2}, \"runs_ns_per_tick\": {:.2}, \"batch_secs\": {batch:.4}, \"batch_ns_per_tick\": {:.2}}}",
        ticks.len(),
        def.features.len(),
        streaming * 1e9 / n,
        symbol_major * 1e9 / n,
        runs * 1e9 / n,
        batch * 1e9 / n
    );
    Ok(())
}

/// The run of up to `len` inputs of `day` from `start` on (empty once the day is over).
fn run_from<'a>(day: &Columns<'a>, start: usize, len: usize) -> Columns<'a> {
    let n = day.close.len();
    day.slice(start.min(n)..(start + len).min(n))
}
