use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use tickloop_features::{FeatureSet, FeatureSetDef, FeatureSpec, Ohlcv};
use tickloop_lake::csv::{Zone, read_ohlcv_csv};

/// Compute features over an OHLCV CSV, for checking tickloop against other tools.
#[derive(Debug, Args)]
pub struct FeaturesArgs {
    /// Input CSV with a header: date (or ts), open, high, low, close, volume; any case,
    /// extra columns (Adj Close…) are kept and ignored.
    #[arg(long)]
    csv: PathBuf,
    /// Output CSV: the input columns, then one column per feature (empty while warming up).
    #[arg(long)]
    out: PathBuf,
    /// A built-in feature set: default or minimal.
    #[arg(long, default_value = "default", conflicts_with = "features")]
    set: String,
    /// Explicit features instead of a set, comma-separated (e.g. sma_20,rsi_14,macd_12_26_9).
    #[arg(long, value_delimiter = ',')]
    features: Vec<FeatureSpec>,
}

pub fn run(args: FeaturesArgs) -> anyhow::Result<()> {
    let specs = if args.features.is_empty() {
        let Some(set) = FeatureSetDef::builtin(&args.set) else {
            bail!("unknown feature set {:?}: built-in sets are {:?}", args.set, FeatureSetDef::BUILTIN);
        };
        set.features
    } else {
        args.features.clone()
    };
    let input = read_ohlcv_csv(&args.csv, None, &Zone::utc())?;
    let mut set = FeatureSet::new(&specs);
    let file = std::fs::File::create(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let mut header = input.header.join(",");
    for spec in &specs {
        header.push(',');
        header.push_str(&spec.to_string());
    }
    writeln!(out, "{header}")?;
    let mut values = Vec::with_capacity(specs.len());
    for (bar, cells) in input.bars.iter().zip(&input.cells) {
        values.clear();
        let x = Ohlcv {
            ts_nanos: bar.ts.as_nanos(),
            open: bar.open,
            high: bar.high,
            low: bar.low,
            close: bar.close,
            volume: bar.volume,
        };
        set.update(&x, &mut values);
        let mut line = cells.join(",");
        for v in &values {
            line.push(',');
            if !v.is_nan() {
                line.push_str(&v.to_string());
            }
        }
        writeln!(out, "{line}")?;
    }
    out.flush().with_context(|| format!("writing {}", args.out.display()))?;
    println!("wrote {} rows × {} features to {}", input.bars.len(), specs.len(), args.out.display());
    Ok(())
}
