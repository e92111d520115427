use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use tickloop_core::Timestamp;
use tickloop_lake::LakeTable;
use tickloop_sql::{LakeTables, OutputFormat, TABLES};

use crate::lake_args::LakeArgs;

/// Run SQL over the lake (polars SQL).
///
/// Tables: ticks (raw/ticks), features (processed/features), predictions and alerts
/// (processed/…). Every table has the partition columns `date` (DATE) and `hour` (integer):
/// filter on them to read only the partitions needed, e.g.
///
///   tickloop sql "SELECT symbol, SUM(close*volume)/SUM(volume) AS vwap FROM ticks
///                 WHERE date = '2024-01-02' AND hour = 15 GROUP BY symbol ORDER BY symbol"
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct SqlArgs {
    /// The query.
    query: String,
    #[command(flatten)]
    lake: LakeArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Most rows a table shows (csv, json and parquet write all rows).
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// Write the result to this file instead of standard output (needed for parquet on a terminal).
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Print the optimised query plan instead of running it (shows partition pruning).
    #[arg(long)]
    explain: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Csv,
    Json,
    Parquet,
}

pub fn run(args: SqlArgs) -> anyhow::Result<()> {
    let lake = args.lake.open()?;
    let mut present = Vec::new();
    for (name, prefix) in TABLES {
        let dataset = dataset_of(prefix);
        if !lake.partitions(dataset, Timestamp::MIN, Timestamp::MAX)?.is_empty() {
            present.push(name);
        }
    }
    let tables = LakeTables::new(&args.lake.lake, present, &args.lake.s3.options());
    if args.explain {
        let plan = tables.plan(&args.query)?;
        println!("{}", plan.describe_optimized_plan().context("optimising the plan")?);
        return Ok(());
    }
    let mut df = tables.query(&args.query)?;
    let format = match args.format {
        Format::Table => OutputFormat::Table,
        Format::Csv => OutputFormat::Csv,
        Format::Json => OutputFormat::Json,
        Format::Parquet => OutputFormat::Parquet,
    };
    match &args.out {
        Some(path) => {
            let mut file = std::io::BufWriter::new(
                std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
            );
            tickloop_sql::write_result(&mut df, format, args.limit, &mut file)?;
            file.flush().with_context(|| format!("writing {}", path.display()))?;
            eprintln!("{} rows written to {}", df.height(), path.display());
        }
        None => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            tickloop_sql::write_result(&mut df, format, args.limit, &mut out)?;
            out.flush()?;
        }
    }
    Ok(())
}

fn dataset_of(prefix: &str) -> LakeTable {
    [LakeTable::RawTicks, LakeTable::Features, LakeTable::Predictions, LakeTable::Alerts]
        .into_iter()
        .find(|d| d.prefix() == prefix)
        .expect("every SQL table is a lake dataset")
}
