//! The default experiment (clean, bars, `log_return` + two SMAs, the default alert rules, the
//! MA crossover, the simulated broker) over a lake range, lake decoding included, best of
//! three, on 1 thread and on `THREADS`. Prints one JSON object.
//!
//! `cargo run --release -p tickloop-backtest --example replay_speed -- LAKE START END [THREADS]`

#![allow(clippy::print_stdout)]

use std::time::Instant;

use tickloop_backtest::{Backtest, ExperimentConfig};
use tickloop_core::{Source, Timestamp};
use tickloop_lake::{Lake, LakeSource};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (lake_dir, start, end, threads) = match args.as_slice() {
        [lake, start, end] => (lake, start, end, std::thread::available_parallelism().map_or(1, usize::from)),
        [lake, start, end, threads] => (lake, start, end, threads.parse()?),
        _ => return Err("usage: replay_speed LAKE START END [THREADS] (RFC 3339)".into()),
    };
    let lake = Lake::local(lake_dir);
    let (start, end) = (Timestamp::parse(start)?, Timestamp::parse(end)?);
    let config =
        ExperimentConfig::parse(&format!("name = \"replay_speed\"\n[data]\nstart = \"{start}\"\nend = \"{end}\""))?;
    let mut rates = Vec::new();
    let counts = if threads == 1 { vec![1] } else { vec![1, threads] };
    for threads in counts {
        let mut best = f64::INFINITY;
        let mut ticks = 0;
        for _ in 0..3 {
            let started = Instant::now();
            let mut source = LakeSource::open(&lake, start, end)?.with_threads(threads);
            ticks = source.remaining_hint().unwrap_or(0);
            let report = Backtest::new(&config).threads(threads).run(&mut source, &mut [])?;
            std::hint::black_box(&report);
            best = best.min(started.elapsed().as_secs_f64());
        }
        rates.push(format!("\"{threads}\": {:.0}", ticks as f64 / best));
    }
    println!("{{\"ticks_per_sec_by_threads\": {{{}}}}}", rates.join(", "));
    Ok(())
}
