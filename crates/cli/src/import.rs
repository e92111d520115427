use std::path::PathBuf;

use crate::lake_args::LakeArgs;
use anyhow::Context;
use clap::Args;
use tickloop_lake::csv::{CsvFormat, Zone, read_ohlcv_csv};

/// Import an OHLCV CSV (daily or intraday) into the lake as one symbol's ticks.
#[derive(Debug, Args)]
pub struct ImportCsvArgs {
    /// The symbol the rows belong to.
    #[arg(long)]
    symbol: String,
    /// The CSV: headed (Date,Open,High,Low,Close,Volume[,Adj Close], any case) or headerless
    /// `YYYYMMDD HHMMSS;open;high;low;close;volume`.
    #[arg(long)]
    csv: PathBuf,
    #[command(flatten)]
    lake: LakeArgs,
    /// Time zone of times without an offset: UTC, +HH:MM, or an IANA name (America/New_York).
    #[arg(long, default_value = "UTC", value_parser = Zone::parse)]
    tz: Zone,
    /// yahoo (headed, ',') or ninja (headerless, ';'); detected when omitted.
    #[arg(long)]
    format: Option<CsvFormat>,
    #[arg(long, default_value = "")]
    exchange: String,
    #[arg(long, default_value = "USD")]
    currency: String,
}

pub fn run(args: ImportCsvArgs) -> anyhow::Result<()> {
    let csv = read_ohlcv_csv(&args.csv, args.format, &args.tz)?;
    let lake = args.lake.open()?;
    let summary = tickloop_lake::import_csv(&lake, &csv, &args.symbol, &args.exchange, &args.currency)
        .with_context(|| format!("importing {} into {}", args.csv.display(), args.lake.lake))?;
    for row in summary.rejected.iter().take(20) {
        eprintln!("{}:{}: {} ({})", args.csv.display(), row.line, row.reason, row.detail);
    }
    if summary.rejected.len() > 20 {
        eprintln!("… and {} more rejected rows", summary.rejected.len() - 20);
    }
    println!(
        "imported {} of {} rows of {} ({:?} format) into {} hourly files under {}; {} rejected",
        summary.written,
        summary.rows,
        args.symbol,
        csv.format,
        summary.files.len(),
        args.lake.lake,
        summary.rejected.len()
    );
    Ok(())
}
