use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use tickloop_lake::Lake;

/// Land newline-delimited JSON ticks in the lake as cleaned parquet (ETL job 1).
#[derive(Debug, Args)]
pub struct LandArgs {
    /// Input files or directories of `*.ndjson` / `*.jsonl` (one tick per line, the Kafka
    /// wire format). Inputs unchanged since the last run are skipped.
    #[arg(long = "input", required = true)]
    inputs: Vec<PathBuf>,
    /// Lake root.
    #[arg(long, env = "TICKLOOP_LAKE", default_value = "data/lake")]
    lake: PathBuf,
}

pub fn run(args: LandArgs) -> anyhow::Result<()> {
    let lake = Lake::local(&args.lake);
    let summary = tickloop_lake::land_ndjson(&lake, &args.inputs)
        .with_context(|| format!("landing into {}", args.lake.display()))?;
    println!(
        "landed {} input(s) ({} unchanged, skipped): {} rows in {} hourly files, {} rejected (see {}/rejects/)",
        summary.landed.len(),
        summary.skipped_unchanged.len(),
        summary.rows_written,
        summary.partitions_written,
        summary.rows_rejected,
        args.lake.display()
    );
    Ok(())
}
