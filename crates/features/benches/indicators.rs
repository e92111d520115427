//! Nanoseconds per tick for each indicator of the default feature set, and for the whole
//! set. `cargo bench -p tickloop-features --bench indicators` (part of `cargo xtask bench`).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tickloop_features::batch::Columns;
use tickloop_features::{FeatureSet, FeatureSetDef, FeatureSpec, Ohlcv};

const TICKS: usize = 100_000;

/// A deterministic random walk with realistic spreads and volumes.
fn series(seed: u64) -> Vec<Ohlcv> {
    let mut state = seed;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut close = 100.0;
    (0..TICKS)
        .map(|i| {
            close *= 1.0 + (next() - 0.5) * 0.002;
            let spread = next() * 0.001;
            Ohlcv {
                ts_nanos: 1_700_000_000_000_000_000 + i as i64 * 1_000_000_000,
                open: close,
                high: close * (1.0 + spread),
                low: close * (1.0 - spread),
                close,
                volume: (next() * 1000.0).round(),
            }
        })
        .collect()
}

fn run(set: &mut FeatureSet, xs: &[Ohlcv], out: &mut Vec<f64>) {
    for x in xs {
        out.clear();
        set.update(x, out);
        black_box(&out);
    }
}

/// One symbol's series as columns, fed to [`FeatureSet::update_run`] in runs of `run` ticks
/// (a replay block gives each symbol ~65 ticks at a time with 1,000 symbols).
fn runs(set: &mut FeatureSet, columns: &[Vec<f64>; 5], ts: &[i64], run: usize, rows: &mut [f64]) {
    let width = set.specs().len();
    let series = Columns {
        ts_nanos: ts,
        open: &columns[0],
        high: &columns[1],
        low: &columns[2],
        close: &columns[3],
        volume: &columns[4],
    };
    for start in (0..ts.len()).step_by(run) {
        let end = (start + run).min(ts.len());
        set.update_run(&series.slice(start..end), &mut rows[..(end - start) * width]);
        black_box(&rows);
    }
}

/// Two symbols' series fed to [`FeatureSet::update_runs`] side by side, in runs of `run`
/// ticks each (how a replay block computes its symbols, two at a time).
fn run_pairs(sets: [&mut FeatureSet; 2], series: [&Columns<'_>; 2], run: usize, rows: [&mut [f64]; 2]) {
    let [a, b] = sets;
    let [rows_a, rows_b] = rows;
    let width = a.specs().len();
    for start in (0..series[0].close.len()).step_by(run) {
        let end = (start + run).min(series[0].close.len());
        let len = (end - start) * width;
        FeatureSet::update_runs(
            [&mut *a, &mut *b],
            [&series[0].slice(start..end), &series[1].slice(start..end)],
            [&mut rows_a[..len], &mut rows_b[..len]],
        );
        black_box(&rows_a);
        black_box(&rows_b);
    }
}

fn as_columns(xs: &[Ohlcv]) -> [Vec<f64>; 5] {
    [
        xs.iter().map(|x| x.open).collect(),
        xs.iter().map(|x| x.high).collect(),
        xs.iter().map(|x| x.low).collect(),
        xs.iter().map(|x| x.close).collect(),
        xs.iter().map(|x| x.volume).collect(),
    ]
}

fn as_series<'a>(c: &'a [Vec<f64>; 5], ts: &'a [i64]) -> Columns<'a> {
    Columns { ts_nanos: ts, open: &c[0], high: &c[1], low: &c[2], close: &c[3], volume: &c[4] }
}

fn indicators(c: &mut Criterion) {
    let xs = series(0x2545_f491_4f6c_dd1d);
    let columns = as_columns(&xs);
    let other = as_columns(&series(0x9e37_79b9_7f4a_7c15));
    let ts: Vec<i64> = xs.iter().map(|x| x.ts_nanos).collect();
    let default = FeatureSetDef::builtin("default").expect("default set");
    let mut group = c.benchmark_group("features");
    group.throughput(Throughput::Elements(TICKS as u64));
    group.sample_size(20);
    let mut out = Vec::with_capacity(64);
    group.bench_function("default_set", |b| {
        b.iter(|| run(&mut FeatureSet::new(&default.features), &xs, &mut out));
    });
    for run in [64, 4096] {
        let mut rows = vec![0.0; run * default.features.len()];
        group.bench_function(BenchmarkId::new("default_set_runs", run), |b| {
            b.iter(|| runs(&mut FeatureSet::new(&default.features), &columns, &ts, run, &mut rows));
        });
        let mut other_rows = rows.clone();
        let pair = [as_series(&columns, &ts), as_series(&other, &ts)];
        group.throughput(Throughput::Elements(2 * TICKS as u64));
        group.bench_function(BenchmarkId::new("default_set_pairs", run), |b| {
            b.iter(|| {
                let (mut a, mut b) = (FeatureSet::new(&default.features), FeatureSet::new(&default.features));
                run_pairs([&mut a, &mut b], [&pair[0], &pair[1]], run, [&mut rows, &mut other_rows]);
            });
        });
        group.throughput(Throughput::Elements(TICKS as u64));
    }
    for spec in &default.features {
        group.bench_with_input(BenchmarkId::new("single", spec), spec, |b, &spec: &FeatureSpec| {
            b.iter(|| run(&mut FeatureSet::new(&[spec]), &xs, &mut out));
        });
        let mut rows = vec![0.0; 4096];
        group.bench_with_input(BenchmarkId::new("single_runs", spec), spec, |b, &spec: &FeatureSpec| {
            b.iter(|| runs(&mut FeatureSet::new(&[spec]), &columns, &ts, 4096, &mut rows));
        });
    }
    group.finish();
}

criterion_group!(benches, indicators);
criterion_main!(benches);
