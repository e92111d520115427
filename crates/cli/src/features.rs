use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use tickloop_features::{FeatureSetDef, FeatureSpec};
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
    let file = std::fs::File::create(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let mut out = std::io::BufWriter::new(file);
    input.write_with_features(&specs, &mut out).with_context(|| format!("writing {}", args.out.display()))?;
    println!("wrote {} rows × {} features to {}", input.bars.len(), specs.len(), args.out.display());
    Ok(())
}
