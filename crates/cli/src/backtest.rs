//! `tickloop backtest`: an experiment file in, a run directory out (`tickloop_runs`), and its
//! summary printed; `--reproduce` re-runs a run directory and checks it byte for byte.

use std::path::PathBuf;

use anyhow::bail;
use clap::Args;
use tickloop_backtest::ExperimentConfig;
use tickloop_core::{Clock, WallClock};
use tickloop_runs::{
    Manifest, Reproduction, RunPrefix, Share, execute, reproduce, run_id, run_shard, run_sweep, summary_rows,
};

use crate::lake_args::S3Args;

#[derive(Debug, Args)]
pub struct BacktestArgs {
    /// Experiment file (TOML): data range, pipeline, strategy, costs, and optionally a
    /// [sweep] grid.
    #[arg(long, default_value = "experiments/default.toml")]
    experiment: PathBuf,
    /// Re-run a finished run from its directory (its config.toml and manifest.json) and
    /// check that the new report.json is byte-identical.
    #[arg(long, value_name = "RUN_DIR", conflicts_with = "experiment")]
    reproduce: Option<PathBuf>,
    /// Lake root (a directory or s3://bucket/prefix); overrides the experiment's data.lake.
    #[arg(long, env = "TICKLOOP_LAKE")]
    lake: Option<String>,
    #[command(flatten)]
    s3: S3Args,
    /// Where run directories are created.
    #[arg(long, default_value = "experiments/runs")]
    runs_dir: PathBuf,
    /// If the lake has no ticks in the experiment's range, generate them first from the
    /// experiment's [sim] section.
    #[arg(long)]
    generate_missing: bool,
    /// Backtests run at once in a sweep [default: the number of cores].
    #[arg(long)]
    jobs: Option<usize>,
    /// Threads for one backtest's replay: decoding the lake, cleaning, and features, alert
    /// rules and bars symbol by symbol beside the event-order stages (predictions, strategy,
    /// broker); with more than one, the lake is also read a block ahead [default: the
    /// number of cores]. The report is the same on any number.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
    #[command(flatten)]
    shards: crate::runs::ShardArgs,
    /// Where every shard of the run writes (a directory or s3://bucket/prefix): one prefix
    /// per run, the same for all its shards. A retried shard replaces its own outputs.
    #[arg(long, value_name = "RUN_PREFIX", requires = "shards")]
    run_prefix: Option<String>,
}

pub fn run(args: BacktestArgs) -> anyhow::Result<()> {
    if let Some(run_dir) = &args.reproduce {
        let original = Manifest::read(run_dir)?;
        let lake_root = args.lake.clone().unwrap_or_else(|| original.lake.clone());
        let lake = args.s3.open(&lake_root)?;
        if original.git_commit.is_some() && original.git_commit != tickloop_runs::git_commit() {
            eprintln!(
                "note: the run was made at commit {}, this is {}",
                original.git_commit.as_deref().unwrap_or("?"),
                tickloop_runs::git_commit().as_deref().unwrap_or("not a git checkout")
            );
        }
        return checked(reproduce(run_dir, original, &lake, &lake_root, &args.runs_dir)?, run_dir);
    }
    let config = ExperimentConfig::load(&args.experiment)?;
    let lake_root = args.lake.clone().unwrap_or_else(|| config.data.lake.to_string_lossy().into_owned());
    let lake = args.s3.open(&lake_root)?;
    tickloop_runs::ensure_data(&config, &lake, &lake_root, args.generate_missing)?;
    if args.shards.shards.is_some() && args.run_prefix.is_none() {
        bail!("--shards needs --run-prefix: the one place (a directory or s3://bucket/prefix) all shards write to");
    }
    if let (Some(shard), Some(root)) = (args.shards.resolve()?, &args.run_prefix) {
        let prefix = RunPrefix::new(args.s3.store(root)?, root.clone());
        let record = run_shard(&config, &lake, &lake_root, &prefix, shard, args.jobs)?;
        let items = record.work.items();
        println!(
            "{shard}: ran {} ({}) in {:.1} s, wrote {} files under {root}; merge with `tickloop runs merge {root}` \
             once every shard has finished",
            if config.sweep.is_some() { "grid points" } else { "folds" },
            items.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
            record.wall_secs,
            record.files.len() + 1,
        );
        return Ok(());
    }
    if config.sweep.is_some() {
        let sweep = run_sweep(&config, &lake, &lake_root, &args.runs_dir, args.jobs)?;
        println!("\n{}", sweep.table);
        let failed = sweep.rows.iter().filter(|r| r.error.is_some()).count();
        println!(
            "{} backtests ({failed} failed) from {}; ranking in {}",
            sweep.rows.len(),
            args.experiment.display(),
            sweep.dir.join("ranking.md").display()
        );
        return Ok(());
    }
    let dir = args.runs_dir.join(run_id(&args.runs_dir, &config.name, WallClock.now()));
    let share = args.threads.map_or_else(Share::alone, |t| Share::Alone { threads: usize::from(t) });
    let (report, manifest) = execute(&config, Some(&args.experiment), &lake, &lake_root, &dir, share)?;
    print_summary(summary_rows(&report, &manifest, &dir));
    Ok(())
}

/// Prints a reproduction's summary and fails unless report.json came out byte-identical.
fn checked(again: Reproduction, run_dir: &std::path::Path) -> anyhow::Result<()> {
    print_summary(summary_rows(&again.report, &again.manifest, &again.dir));
    if again.identical() {
        println!(
            "\nreproduced: report.json is byte-identical to {} (sha256 {})",
            run_dir.display(),
            again.manifest.report_sha256
        );
        return Ok(());
    }
    bail!(
        "not reproduced: report.json differs from {} ({} vs {}): {}",
        run_dir.display(),
        again.manifest.report_sha256,
        again.original.report_sha256,
        again.differences.join("; ")
    )
}

fn print_summary(rows: Vec<(&'static str, String)>) {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    println!();
    for (k, v) in rows {
        println!("  {k:<width$}  {v}");
    }
}
