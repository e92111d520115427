use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tickloop_backtest::ExperimentConfig;
use tickloop_core::{Engine, Paced, Source};
use tickloop_lake::LakeSource;
use tickloop_pipeline::{ModelStage, Pipeline};
use tickloop_serve::{Dashboard, DashboardSink, DashboardState};

use crate::lake_args::S3Args;

/// Where the dashboard listens.
#[derive(Debug, Clone, Args)]
pub struct DashboardAddr {
    /// Token required when binding a non-loopback address (`?token=` or `Authorization:
    /// Bearer`).
    #[arg(long, env = "TICKLOOP_DASHBOARD_TOKEN", hide_env_values = true)]
    pub dashboard_token: Option<String>,
    /// The market's time zone, for the dashboard's clocks and time axes: an IANA name
    /// (America/New_York, Europe/London) or UTC.
    #[arg(long, default_value = "America/New_York", value_parser = market_zone)]
    pub market_tz: String,
}

fn market_zone(name: &str) -> Result<String, String> {
    if name.starts_with(['+', '-']) {
        return Err(format!("{name:?}: name the market's zone (America/New_York), not an offset that DST changes"));
    }
    tickloop_lake::csv::Zone::parse(name).map(|_| name.to_owned())
}

pub fn serve(addr: &str, options: &DashboardAddr) -> anyhow::Result<Dashboard> {
    let state = DashboardState::in_time_zone(&options.market_tz);
    let dashboard = Dashboard::serve(addr, options.dashboard_token.clone(), Arc::new(Mutex::new(state)))?;
    eprintln!("dashboard on http://{}/", dashboard.addr());
    Ok(dashboard)
}

/// Serve the live dashboard over a replay of the lake (demos, no Kafka needed).
#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// The lake to replay (a directory or s3://…).
    #[arg(long, env = "TICKLOOP_LAKE", default_value = "data/lake")]
    replay: String,
    #[command(flatten)]
    s3: S3Args,
    /// The experiment whose data range and [pipeline] (features, alert rules) to run.
    #[arg(long, default_value = "experiments/default.toml")]
    experiment: PathBuf,
    /// Market seconds per wall-clock second.
    #[arg(long, default_value_t = 10.0)]
    speed: f64,
    /// A trained model (models/<name> or models/<name>/vN) whose predictions to show.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Predict each symbol once per this many event seconds.
    #[arg(long, default_value_t = 60)]
    predict_every: u32,
    /// Listen address (loopback by default; elsewhere a token is required).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    #[command(flatten)]
    token: DashboardAddr,
}

pub fn run(args: DashboardArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.speed > 0.0 && args.speed.is_finite(), "--speed must be a positive number");
    let experiment = ExperimentConfig::load(&args.experiment)?;
    let lake = args.s3.open(&args.replay)?;
    let (start, end) = (experiment.data.start, experiment.data.end);
    let source = LakeSource::open(&lake, start, end).with_context(|| format!("opening {}", args.replay))?;
    anyhow::ensure!(!source.symbols().is_empty(), "{} has no ticks in {start} .. {end}", args.replay);
    let symbols = source.symbols().clone();
    let dashboard = serve(&args.addr, &args.token)?;
    let model = args.model.as_deref().map(tickloop_registry::load).transpose()?;
    let stage = model.map(|m| ModelStage { model: Arc::from(m), every_secs: args.predict_every });
    let pipeline = Pipeline::assemble(&experiment.resolved_pipeline(), &symbols, stage.as_ref())?;
    // The backtest's engine and block path, paced to --speed and feeding the page.
    let mut sink = DashboardSink::new(dashboard.state().clone(), symbols);
    Engine::new(pipeline).run(&mut Paced::new(source, args.speed), &mut [&mut sink])?;
    eprintln!("replay finished; the dashboard stays up until Ctrl-C");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
