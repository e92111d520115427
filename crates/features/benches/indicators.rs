//! Nanoseconds per tick for each indicator of the default feature set, and for the whole
//! set. `cargo bench -p tickloop-features --bench indicators` (part of `cargo xtask bench`).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tickloop_features::{FeatureSet, FeatureSetDef, FeatureSpec, Ohlcv};

const TICKS: usize = 100_000;

/// A deterministic random walk with realistic spreads and volumes.
fn series() -> Vec<Ohlcv> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
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

fn indicators(c: &mut Criterion) {
    let xs = series();
    let default = FeatureSetDef::builtin("default").expect("default set");
    let mut group = c.benchmark_group("features");
    group.throughput(Throughput::Elements(TICKS as u64));
    group.sample_size(20);
    let mut out = Vec::with_capacity(64);
    group.bench_function("default_set", |b| {
        b.iter(|| run(&mut FeatureSet::new(&default.features), &xs, &mut out));
    });
    for spec in &default.features {
        group.bench_with_input(BenchmarkId::new("single", spec), spec, |b, &spec: &FeatureSpec| {
            b.iter(|| run(&mut FeatureSet::new(&[spec]), &xs, &mut out));
        });
    }
    group.finish();
}

criterion_group!(benches, indicators);
criterion_main!(benches);
