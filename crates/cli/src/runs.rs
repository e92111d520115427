//! `tickloop runs`: work on runs as a whole; `merge` turns a sharded run's shards (array-job
//! tasks, `tickloop backtest --shards N`) into its ranking or its stitched report.

use clap::{Args, Subcommand};
use tickloop_runs::{RunPrefix, Shard, merge};

use crate::lake_args::S3Args;

/// Which task of an array job this process is: the flags of every command that shards.
#[derive(Debug, Clone, Args)]
pub struct ShardArgs {
    /// Split the work into N shards and do one of them, as one task of an AWS Batch array
    /// job or a Kubernetes Indexed Job (a sweep: every N-th grid point; a walk-forward:
    /// every N-th fold; etl-features: every N-th day).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub shards: Option<u32>,
    /// Which shard this is, from 0 [default: $AWS_BATCH_JOB_ARRAY_INDEX, else
    /// $JOB_COMPLETION_INDEX].
    #[arg(long, value_name = "I", requires = "shards")]
    pub shard: Option<usize>,
}

impl ShardArgs {
    /// The shard to run, `None` when the work is not sharded.
    pub fn resolve(&self) -> anyhow::Result<Option<Shard>> {
        let Some(count) = self.shards else { return Ok(None) };
        Ok(Some(Shard::resolve(self.shard, count as usize, |name| std::env::var(name).ok())?))
    }
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    #[command(subcommand)]
    command: RunsCommand,
}

#[derive(Debug, Subcommand)]
enum RunsCommand {
    /// Rank a sharded sweep (ranking.md/.json/.html, results.jsonl) or stitch a sharded
    /// walk-forward (report.json/.html, manifest.json) at its prefix, from the shards'
    /// records; byte-identical to the same run on one machine. Names unfinished shards.
    Merge(MergeArgs),
}

#[derive(Debug, Args)]
struct MergeArgs {
    /// The run's prefix, as given to its shards' --run-prefix (a directory or
    /// s3://bucket/prefix).
    run_prefix: String,
    #[command(flatten)]
    s3: S3Args,
}

pub fn run(args: RunsArgs) -> anyhow::Result<()> {
    match args.command {
        RunsCommand::Merge(args) => {
            let prefix = RunPrefix::new(args.s3.store(&args.run_prefix)?, args.run_prefix.clone());
            let merged = merge(&prefix)?;
            if let Some(table) = &merged.table {
                println!("{table}");
            }
            if let Some(report) = &merged.report {
                let m = &report.metrics;
                println!(
                    "out of sample, {} folds: total return {:.4} %, sharpe {:.3}, max drawdown {:.4} %, {} trades",
                    report.walk_forward.as_ref().map_or(0, Vec::len),
                    m.total_return * 100.0,
                    m.sharpe,
                    m.max_drawdown * 100.0,
                    m.trades
                );
            }
            println!(
                "merged {} shards of {}: wrote {} under {}",
                merged.shards,
                merged.experiment,
                merged.files.join(", "),
                args.run_prefix
            );
            Ok(())
        }
    }
}
