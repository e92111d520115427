use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use tickloop_core::{NANOS_PER_SECOND, Paced, Source, Timestamp};
use tickloop_kafka::{TickPublisher, ensure_topic};
use tickloop_lake::LakeSource;
use tickloop_sim::{MarketConfig, MarketSim};

/// Publish the synthetic market (or replay the lake) to Kafka in (scaled) real time: key =
/// symbol, JSON values.
#[derive(Debug, Args)]
pub struct FeedArgs {
    #[command(flatten)]
    kafka: crate::kafka_args::KafkaArgs,
    #[arg(long, default_value = "ticks")]
    topic: String,
    /// Partitions for the topic if it has to be created.
    #[arg(long, default_value_t = 6)]
    partitions: i32,
    #[arg(long, default_value_t = 1000)]
    symbols: usize,
    /// Market seconds per wall-clock second (1 = real time: each symbol ticks at 1 Hz).
    #[arg(long, visible_alias = "speed", default_value_t = 1.0)]
    rate: f64,
    /// Replay recorded ticks from this lake (a directory or s3://…) over
    /// [--start, --start + --duration) instead of simulating.
    #[arg(long)]
    replay: Option<String>,
    #[command(flatten)]
    s3: crate::lake_args::S3Args,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// First market second (RFC 3339).
    #[arg(long, default_value = "2024-01-02T14:30:00Z", value_parser = crate::sim::parse_ts)]
    start: Timestamp,
    /// How much market time to publish: 90s, 15m, 6h30m…
    #[arg(long, default_value = "1m", value_parser = crate::duration::parse_secs)]
    duration: i64,
}

pub fn run(args: FeedArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.rate > 0.0, "--rate must be positive");
    args.kafka.configure()?;
    ensure_topic(&args.kafka.brokers, &args.topic, args.partitions)?;
    let end = args.start.add_nanos(args.duration * NANOS_PER_SECOND);
    let sim: Box<dyn Source> = match &args.replay {
        Some(root) => {
            let lake = args.s3.open(root)?;
            let source = LakeSource::open(&lake, args.start, end).with_context(|| format!("opening {root}"))?;
            anyhow::ensure!(!source.symbols().is_empty(), "{root} has no ticks in {} .. {end}", args.start);
            Box::new(source)
        }
        None => {
            let config = MarketConfig { symbols: args.symbols, seed: args.seed, ..MarketConfig::default() };
            Box::new(MarketSim::new(config, args.start, end)?)
        }
    };
    let symbols = sim.symbols().clone();
    let mut publisher = TickPublisher::new(&args.kafka.brokers, &args.topic)?;
    let wall_start = Instant::now();
    // Paced by market second: each second's ticks go out once the wall clock reaches it.
    let mut paced = Paced::new(sim, args.rate);
    while let Some(tick) = paced.next_tick()? {
        publisher.publish(&tick, &symbols)?;
    }
    publisher.flush(Duration::from_secs(60)).context("waiting for the broker to acknowledge")?;
    let secs = wall_start.elapsed().as_secs_f64();
    println!(
        "published {} ticks of {} symbols to {}/{} in {secs:.1} s ({:.0} ticks/s)",
        publisher.sent(),
        symbols.len(),
        args.kafka.brokers,
        args.topic,
        publisher.sent() as f64 / secs
    );
    Ok(())
}
