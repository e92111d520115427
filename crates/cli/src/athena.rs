use clap::Args;
use tickloop_features::FeatureSetDef;

/// Print Athena DDL (CREATE EXTERNAL TABLE with partition projection) for the lake's tables.
#[derive(Debug, Args)]
pub struct AthenaDdlArgs {
    /// The lake on S3: s3://bucket/prefix.
    #[arg(long, env = "TICKLOOP_LAKE")]
    lake: String,
    /// Glue database to create the tables in.
    #[arg(long, default_value = "tickloop")]
    database: String,
    /// Feature set whose columns the features table has (as written by etl-features).
    #[arg(long, default_value = "default")]
    set: String,
    /// How the features table's values are stored (as `etl-features --feature-precision`
    /// wrote them): f64 (double) or f32 (float).
    #[arg(long, default_value = "f64")]
    feature_precision: tickloop_lake::FeaturePrecision,
    /// First date partition projection enumerates (YYYY-MM-DD).
    #[arg(long, default_value = "2000-01-01")]
    first_date: String,
}

pub fn run(args: AthenaDdlArgs) -> anyhow::Result<()> {
    if !args.lake.starts_with("s3://") {
        anyhow::bail!("Athena reads S3: --lake must be s3://bucket/prefix, not {:?}", args.lake);
    }
    let Some(set) = FeatureSetDef::builtin(&args.set) else {
        anyhow::bail!("unknown feature set {:?}: built-in sets are {:?}", args.set, FeatureSetDef::BUILTIN);
    };
    if tickloop_core::Timestamp::parse(&format!("{}T00:00:00Z", args.first_date)).is_err() {
        anyhow::bail!("--first-date must be YYYY-MM-DD, not {:?}", args.first_date);
    }
    let ddl = tickloop_lake::athena::ddl(
        &args.lake,
        &args.database,
        &set.columns(),
        args.feature_precision,
        &args.first_date,
    );
    print!("{ddl}");
    Ok(())
}
