//! `tickloop`: every subcommand is a thin call into the library crates.

#![allow(clippy::print_stdout)] // a CLI prints its results

mod athena;
mod backtest;
mod dashboard;
mod duration;
mod features;
mod feed;
mod import;
mod kafka_args;
mod lake_args;
mod land;
mod live;
mod runs;
mod sagemaker;
mod seasonal;
mod sim;
#[cfg(feature = "sql")]
mod sql;
mod train;

use clap::{Parser, Subcommand};

/// Real-time stock-market ML on one deterministic event loop: the same cleaning, features,
/// models and alerts over recorded history or a live stream.
#[derive(Debug, Parser)]
#[command(name = "tickloop", version, propagate_version = true)]
struct Cli {
    /// Log filter (e.g. `info`, `tickloop_lake=debug`); also read from RUST_LOG.
    #[arg(long, global = true, env = "TICKLOOP_LOG", default_value = "warn")]
    log: String,

    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a synthetic market into the lake (ticks, anomaly labels, parameters).
    Sim(sim::SimArgs),
    /// Run an experiment over the lake and write a report under experiments/runs/<id>/.
    Backtest(backtest::BacktestArgs),
    /// Publish the synthetic market to Kafka in real time (or faster).
    Feed(feed::FeedArgs),
    /// Run the pipeline live on Kafka: ticks in, features, alerts and dead letters out.
    Live(live::LiveArgs),
    /// Serve the live dashboard over a replay of the lake (no Kafka needed).
    Dashboard(dashboard::DashboardArgs),
    /// Compute features over an OHLCV CSV (to compare with TA-Lib, pandas…).
    Features(features::FeaturesArgs),
    /// Import an OHLCV CSV (Yahoo-style or NinjaTrader minute bars) into the lake.
    ImportCsv(import::ImportCsvArgs),
    /// Land NDJSON ticks (files or directories) in the lake as cleaned parquet.
    Land(land::LandArgs),
    /// Build processed/features from raw ticks (only days that changed).
    EtlFeatures(land::EtlFeaturesArgs),
    /// Run SQL over the lake (tables ticks, features, predictions, alerts).
    #[cfg(feature = "sql")]
    Sql(sql::SqlArgs),
    /// Print Athena DDL for the lake's tables on S3.
    AthenaDdl(athena::AthenaDdlArgs),
    /// Train a model (lstm or gbm) on a lake date range; saves models/<name>/vN.
    Train(train::TrainArgs),
    /// Walk-forward evaluation: retrain per fold, report out-of-sample scores only.
    Evaluate(train::EvaluateArgs),
    /// Pack a model version as model.tar.gz for a SageMaker endpoint.
    ExportSagemaker(sagemaker::ExportArgs),
    /// Serve a model over HTTP with SageMaker's contract (GET /ping, POST /invocations).
    ServeModel(sagemaker::ServeModelArgs),
    /// Run a SageMaker training job: hyperparameters.json as `train` flags, the lake from
    /// the input channel, the model to /opt/ml/model (the container's `train` entrypoint).
    SagemakerTrain(sagemaker::TrainJobArgs),
    /// Work on runs as a whole: merge a sharded run's shards.
    Runs(runs::RunsArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| cli.log.clone());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Sim(args) => sim::run(args),
        Command::Backtest(args) => backtest::run(args),
        Command::Features(args) => features::run(args),
        Command::Feed(args) => feed::run(args),
        Command::Live(args) => live::run(args),
        Command::Dashboard(args) => dashboard::run(args),
        Command::ImportCsv(args) => import::run(args),
        Command::Land(args) => land::run(args),
        Command::EtlFeatures(args) => land::run_features(args),
        #[cfg(feature = "sql")]
        Command::Sql(args) => sql::run(args),
        Command::AthenaDdl(args) => athena::run(args),
        Command::Train(args) => train::train(args),
        Command::Evaluate(args) => train::evaluate(args),
        Command::ExportSagemaker(args) => sagemaker::export(args),
        Command::ServeModel(args) => sagemaker::serve(args),
        Command::SagemakerTrain(args) => sagemaker::train_job(args),
        Command::Runs(args) => runs::run(args),
    }
}
