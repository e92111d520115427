//! Engine throughput: replaying the lake, and the pipeline + backtest on ticks in memory.
//!
//! `cargo xtask bench` (or `cargo bench -p tickloop-backtest --bench engine`).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tickloop_backtest::{DataConfig, ExperimentConfig, generate_sample, run_backtest};
use tickloop_core::{DEFAULT_BLOCK_TICKS, NANOS_PER_HOUR, Source, SymbolId, Tick, Timestamp, VecSource};
use tickloop_lake::{Lake, LakeSource, LakeTable, TickFileReader};
use tickloop_sim::MarketConfig;

const SYMBOLS: usize = 100;

fn experiment(lake: &std::path::Path, start: Timestamp, end: Timestamp) -> ExperimentConfig {
    ExperimentConfig {
        name: "bench".into(),
        description: String::new(),
        data: DataConfig { lake: lake.to_owned(), start, end },
        sim: None,
        pipeline: Default::default(),
        strategy: Default::default(),
        model: None,
        execution: Default::default(),
        report: Default::default(),
        walk_forward: None,
        sweep: None,
    }
}

fn engine(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let lake = Lake::local(dir.path());
    let start = Timestamp::parse("2024-01-02T14:00:00Z").unwrap();
    let end = start.add_nanos(NANOS_PER_HOUR);
    let market = MarketConfig { symbols: SYMBOLS, ..MarketConfig::default() };
    let summary = generate_sample(&lake, &market, start, end, |_, _| {}).expect("sample");
    let config = experiment(dir.path(), start, end);

    let mut group = c.benchmark_group("engine");
    group.sample_size(10);
    group.throughput(Throughput::Elements(summary.ticks));

    // Decoding alone: every run of the hour, symbol by symbol, no merge.
    group.bench_function("lake_decode_only", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for p in lake.partitions(LakeTable::RawTicks, start, end).unwrap() {
                for file in lake.partition_files(LakeTable::RawTicks, p, ".parquet").unwrap() {
                    let mut reader = TickFileReader::open(&lake.object_at(file.key)).unwrap();
                    for i in 0..reader.runs().len() {
                        let mut run = reader.open_run(i, SymbolId::new(i as u32)).unwrap();
                        while let Some(t) = run.next_tick() {
                            black_box(&t);
                            n += 1;
                        }
                    }
                }
            }
            assert_eq!(n, summary.ticks);
        })
    });

    // What a replay reads: decoded and merged into event order, in the engine's blocks.
    group.bench_function("lake_replay_only", |b| {
        let mut block = Vec::new();
        b.iter(|| {
            let mut source = LakeSource::open(&lake, start, end).unwrap();
            let mut n = 0u64;
            loop {
                source.next_block(&mut block, DEFAULT_BLOCK_TICKS).unwrap();
                if block.is_empty() {
                    break;
                }
                black_box(&block);
                n += block.len() as u64;
            }
            assert_eq!(n, summary.ticks);
        })
    });

    group.bench_function("lake_replay_pipeline_backtest", |b| {
        b.iter(|| {
            let mut source = LakeSource::open(&lake, start, end).unwrap();
            black_box(run_backtest(&config, &mut source, &mut []).unwrap())
        })
    });

    let mut source = LakeSource::open(&lake, start, end).unwrap();
    let symbols = source.symbols().clone();
    let ticks: Vec<Tick> = std::iter::from_fn(|| source.next_tick().unwrap()).collect();
    group.bench_function("memory_pipeline_backtest", |b| {
        b.iter(|| {
            let mut source = VecSource::new(symbols.clone(), ticks.clone());
            black_box(run_backtest(&config, &mut source, &mut []).unwrap())
        })
    });
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
