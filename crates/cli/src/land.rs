use std::path::PathBuf;

use crate::lake_args::LakeArgs;
use anyhow::Context;
use clap::Args;

/// Land newline-delimited JSON ticks in the lake as cleaned parquet (ETL job 1).
#[derive(Debug, Args)]
pub struct LandArgs {
    /// Input files or directories of `*.ndjson` / `*.jsonl` (one tick per line, the Kafka
    /// wire format). Inputs unchanged since the last run are skipped.
    #[arg(long = "input", required = true)]
    inputs: Vec<PathBuf>,
    #[command(flatten)]
    lake: LakeArgs,
}

pub fn run(args: LandArgs) -> anyhow::Result<()> {
    let lake = args.lake.open()?;
    let summary =
        tickloop_lake::land_ndjson(&lake, &args.inputs).with_context(|| format!("landing into {}", args.lake.lake))?;
    println!(
        "landed {} input(s) ({} unchanged, skipped): {} rows in {} hourly files, {} rejected (see {}/rejects/)",
        summary.landed.len(),
        summary.skipped_unchanged.len(),
        summary.rows_written,
        summary.partitions_written,
        summary.rows_rejected,
        args.lake.lake
    );
    Ok(())
}

/// Build processed/features from raw/ticks with the batch twin of the feature code (ETL job 2).
#[derive(Debug, Args)]
pub struct EtlFeaturesArgs {
    #[command(flatten)]
    lake: LakeArgs,
    /// Built-in feature set: default or minimal.
    #[arg(long, default_value = "default")]
    set: String,
    /// First instant (RFC 3339); all days when omitted.
    #[arg(long, value_parser = crate::sim::parse_ts)]
    from: Option<tickloop_core::Timestamp>,
    /// End (exclusive, RFC 3339); all days when omitted.
    #[arg(long, value_parser = crate::sim::parse_ts)]
    to: Option<tickloop_core::Timestamp>,
    /// How the values are stored: f64 (doubles, exactly as computed) or f32 (floats: about
    /// half the bytes, each value within 6e-8 of itself relatively). Days built at the
    /// other precision are built again.
    #[arg(long, default_value = "f64")]
    feature_precision: tickloop_lake::FeaturePrecision,
    // Day k since 1970 goes to shard k mod N; the shards write disjoint partitions, so they
    // need no merge.
    #[command(flatten)]
    shards: crate::runs::ShardArgs,
}

pub fn run_features(args: EtlFeaturesArgs) -> anyhow::Result<()> {
    let Some(set) = tickloop_features::FeatureSetDef::builtin(&args.set) else {
        anyhow::bail!(
            "unknown feature set {:?}: built-in sets are {:?}",
            args.set,
            tickloop_features::FeatureSetDef::BUILTIN
        );
    };
    let lake = args.lake.open()?;
    let from = args.from.unwrap_or(tickloop_core::Timestamp::MIN);
    let to = args.to.unwrap_or(tickloop_core::Timestamp::MAX);
    let shard = args.shards.resolve()?;
    let owns = |day: u64| shard.is_none_or(|s| s.owns(day as usize));
    let summary = tickloop_lake::build_features_with(&lake, &set, args.feature_precision, from, to, owns)
        .with_context(|| format!("building features in {}", args.lake.lake))?;
    if let Some(shard) = shard {
        print!("{shard}: ");
    }
    println!(
        "{}@{}: built {} day(s) {:?} ({} rows in {} hourly files); {} day(s) unchanged",
        set.name,
        set.version,
        summary.days_built.len(),
        summary.days_built,
        summary.rows,
        summary.files,
        summary.days_unchanged.len()
    );
    Ok(())
}
