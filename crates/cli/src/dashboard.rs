use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use tickloop_backtest::ExperimentConfig;
use tickloop_core::{Component, NANOS_PER_SECOND, Outputs, Source, Tick, Timestamp};
use tickloop_lake::LakeSource;
use tickloop_live::{LatencySummary, LiveObserver, LiveSummary};
use tickloop_pipeline::Pipeline;
use tickloop_serve::{Dashboard, DashboardState, Health};

use crate::lake_args::S3Args;

/// Where the dashboard listens.
#[derive(Debug, Clone, Args)]
pub struct DashboardAddr {
    /// Token required when binding a non-loopback address (`?token=` or `Authorization:
    /// Bearer`).
    #[arg(long, env = "TICKLOOP_DASHBOARD_TOKEN")]
    pub dashboard_token: Option<String>,
}

pub fn serve(addr: &str, token: Option<String>) -> anyhow::Result<Dashboard> {
    let dashboard = Dashboard::serve(addr, token, Arc::new(Mutex::new(DashboardState::default())))?;
    eprintln!("dashboard on http://{}/", dashboard.addr());
    Ok(dashboard)
}

/// Feeds a dashboard from the live runner.
pub struct DashboardObserver(pub Arc<Mutex<DashboardState>>);

impl LiveObserver for DashboardObserver {
    fn on_tick(&mut self, symbol: &str, tick: &Tick, outputs: &Outputs) {
        self.0.lock().expect("not poisoned").on_tick(symbol, tick, &outputs.alerts);
    }

    fn on_prediction(&mut self, symbol: &str, prediction: &tickloop_core::Prediction) {
        self.0.lock().expect("not poisoned").on_prediction(symbol, prediction.value);
    }

    fn on_stats(&mut self, rate: f64, latency: Option<&LatencySummary>, summary: &LiveSummary) {
        let health = Health {
            ticks_per_sec: rate,
            e2e_p50_ms: latency.map_or(0.0, |l| l.e2e_p50_ms),
            e2e_p99_ms: latency.map_or(0.0, |l| l.e2e_p99_ms),
            consumer_lag: summary.consumer_lag,
            dead_letters: summary.dead_letters,
        };
        self.0.lock().expect("not poisoned").set_health(health);
    }
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
    anyhow::ensure!(args.speed > 0.0, "--speed must be positive");
    let experiment = ExperimentConfig::load(&args.experiment)?;
    let lake = args.s3.open(&args.replay)?;
    let (start, end) = (experiment.data.start, experiment.data.end);
    let mut source = LakeSource::open(&lake, start, end).with_context(|| format!("opening {}", args.replay))?;
    anyhow::ensure!(!source.symbols().is_empty(), "{} has no ticks in {start} .. {end}", args.replay);
    let symbols = source.symbols().clone();
    let dashboard = serve(&args.addr, args.token.dashboard_token)?;
    let state = dashboard.state().clone();
    let mut config = experiment.resolved_pipeline();
    let model = args.model.as_deref().map(crate::train::load_model).transpose()?;
    if let Some(m) = &model {
        config.require_model(m.card())?;
    }
    let mut pipeline = Pipeline::open(&config)?;
    pipeline.name_symbols(&symbols);
    if let Some(m) = model {
        pipeline = pipeline.with_model(std::sync::Arc::from(m), args.predict_every)?;
    }
    let mut out = Outputs::default();
    let wall_start = Instant::now();
    let (mut window_start, mut window_ticks) = (Instant::now(), 0u64);
    let mut second: Option<Timestamp> = None;
    while let Some(tick) = source.next_tick()? {
        if second != Some(tick.ts_event) {
            second = Some(tick.ts_event);
            let market = (tick.ts_event.as_nanos() - start.as_nanos()) as f64 / NANOS_PER_SECOND as f64;
            if let Some(wait) = Duration::from_secs_f64(market / args.speed).checked_sub(wall_start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        out.clear();
        pipeline.on_tick(&tick, &mut out);
        let mut state = state.lock().expect("not poisoned");
        if let Some(clean) = out.tick {
            state.on_tick(symbols.name(clean.symbol), &clean, &out.alerts);
            window_ticks += 1;
        }
        for p in &out.predictions {
            state.on_prediction(symbols.name(p.symbol), p.value);
        }
        if window_start.elapsed() >= Duration::from_secs(1) {
            let dead_letters = pipeline.stats().cleaning.total_rejected();
            let rate = window_ticks as f64 / window_start.elapsed().as_secs_f64();
            state.set_health(Health { ticks_per_sec: rate, dead_letters, ..Health::default() });
            (window_start, window_ticks) = (Instant::now(), 0);
        }
    }
    eprintln!("replay finished; the dashboard stays up until Ctrl-C");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
