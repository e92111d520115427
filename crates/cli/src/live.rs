use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tickloop_backtest::ExperimentConfig;
use tickloop_live::{LiveConfig, LiveRunner};

use crate::lake_args::S3Args;

/// Run the pipeline live: consume ticks in a consumer group, publish features, alerts and
/// dead letters. At-least-once with idempotent ids; see the README's "Live" section.
#[derive(Debug, Args)]
pub struct LiveArgs {
    #[command(flatten)]
    kafka: crate::kafka_args::KafkaArgs,
    /// Consumer group: processes with the same group split the input's partitions.
    #[arg(long, default_value = "tickloop-live")]
    group: String,
    /// The experiment whose [pipeline] section (features, cleaning, alert rules) to run, so
    /// live outputs equal the backtest's.
    #[arg(long, default_value = "experiments/default.toml")]
    experiment: PathBuf,
    #[arg(long, default_value = "ticks")]
    input_topic: String,
    #[arg(long, default_value = "features")]
    features_topic: String,
    #[arg(long, default_value = "predictions")]
    predictions_topic: String,
    /// A trained model (models/<name> = its latest version, or models/<name>/vN): adds
    /// the prediction stage, publishing to the predictions topic. Defaults to the
    /// experiment's [model] path, so live predicts as the backtest does.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Predict each symbol once per this many event seconds [default: the experiment's
    /// predict_every_secs, or 60].
    #[arg(long)]
    predict_every: Option<u32>,
    /// Send windows to this model server (http://host:port, `tickloop serve-model`)
    /// instead of predicting in process; --model (or the experiment's [model]) still names
    /// the card (features, window).
    #[arg(long)]
    model_endpoint: Option<String>,
    /// Bearer token for --model-endpoint.
    #[arg(long, env = "TICKLOOP_MODEL_TOKEN", hide_env_values = true)]
    model_token: Option<String>,
    #[arg(long, default_value = "alerts")]
    alerts_topic: String,
    /// Where refused records go, with the reason in a header.
    #[arg(long, default_value = "ticks.dlq")]
    dead_letter_topic: String,
    /// Where partition state is saved at each checkpoint: a directory or s3://bucket/prefix.
    #[arg(long, env = "TICKLOOP_STATE", default_value = "data/state")]
    state: String,
    /// Also write clean ticks and their features to this lake (a directory or s3://…), in
    /// hourly partitions, exactly once across crashes.
    #[arg(long)]
    lake: Option<String>,
    /// Write a buffered hour at least this often (hours are also written when the stream
    /// moves past them, and on shutdown).
    #[arg(long, default_value = "1m", value_parser = crate::duration::parse_duration)]
    lake_flush_interval: Duration,
    /// How the lake stores feature values: f64 (doubles, exactly as computed) or f32
    /// (floats: about half the bytes, each value within 6e-8 of itself relatively).
    #[arg(long, default_value = "f64")]
    feature_precision: tickloop_lake::FeaturePrecision,
    #[command(flatten)]
    s3: S3Args,
    /// Checkpoint (flush outputs, save state, commit offsets) this often: 500ms, 5s, 1m…
    #[arg(long, default_value = "5s", value_parser = crate::duration::parse_duration)]
    commit_interval: Duration,
    /// Log throughput and latency percentiles this often.
    #[arg(long, default_value = "10s", value_parser = crate::duration::parse_duration)]
    stats_interval: Duration,
    /// Consumer-group session timeout.
    #[arg(long, default_value_t = 10_000)]
    session_timeout_ms: u32,
    /// Stop after this long without input (catch-up jobs, tests); runs until SIGINT/SIGTERM
    /// otherwise. A broker outage or a new partition assignment restarts the clock: input
    /// may be waiting that the runner cannot see yet.
    #[arg(long, value_parser = crate::duration::parse_duration)]
    exit_when_idle: Option<Duration>,
    /// Also POST every alert (JSON, id in X-Tickloop-Alert-Id) to this http(s) URL; repeatable.
    #[arg(long)]
    alert_webhook: Vec<String>,
    /// Bearer token for --alert-webhook.
    #[arg(long, env = "TICKLOOP_WEBHOOK_TOKEN", hide_env_values = true)]
    alert_webhook_token: Option<String>,
    /// Also publish every alert to this SNS topic ARN (credentials from the AWS chain).
    #[cfg(feature = "s3")]
    #[arg(long)]
    alert_sns_topic: Option<String>,
    /// An SNS-compatible endpoint for --alert-sns-topic (AWS when unset).
    #[cfg(feature = "s3")]
    #[arg(long, env = "SNS_ENDPOINT")]
    sns_endpoint: Option<String>,
    /// Serve Prometheus metrics at http://<addr>/metrics.
    #[arg(long)]
    metrics: Option<String>,
    /// Serve the live dashboard at this address (e.g. 127.0.0.1:8080).
    #[arg(long)]
    dashboard: Option<String>,
    #[command(flatten)]
    dashboard_token: crate::dashboard::DashboardAddr,
}

pub fn run(args: LiveArgs) -> anyhow::Result<()> {
    args.kafka.configure()?;
    let experiment = ExperimentConfig::load(&args.experiment)?;
    let mut config = LiveConfig::new(&args.kafka.brokers, &args.group);
    config.input_topic = args.input_topic;
    config.features_topic = args.features_topic;
    config.predictions_topic = args.predictions_topic;
    config.alerts_topic = args.alerts_topic;
    config.dead_letter_topic = args.dead_letter_topic;
    config.session_timeout_ms = args.session_timeout_ms;
    config.commit_interval = args.commit_interval;
    config.stats_interval = args.stats_interval;
    config.exit_when_idle = args.exit_when_idle;
    config.pipeline = experiment.resolved_pipeline();
    let model_path = args.model.clone().or_else(|| experiment.model.as_ref().map(|m| m.path.clone()));
    let predict_every =
        args.predict_every.or_else(|| experiment.model.as_ref().map(|m| m.predict_every_secs)).unwrap_or(60);
    if model_path.is_none() && args.model_endpoint.is_some() {
        anyhow::bail!(
            "--model-endpoint needs the model's card: pass --model, or give the experiment a [model] section"
        );
    }
    if let Some(path) = &model_path {
        let model: Box<dyn tickloop_models::Predictor> = match &args.model_endpoint {
            Some(url) => {
                let card = tickloop_models::load_card(&tickloop_models::resolve(path)?)?;
                Box::new(tickloop_serve::RemoteModel::new(card, url, args.model_token.clone())?)
            }
            None => tickloop_registry::load(path)?,
        };
        eprintln!("predicting with {} every {predict_every} s", model.card().id());
        config.model = Some(tickloop_pipeline::ModelStage { model: Arc::from(model), every_secs: predict_every });
    }
    config.lake = args.lake.as_deref().map(|root| args.s3.open(root)).transpose()?;
    config.lake_flush_interval = args.lake_flush_interval;
    config.lake_feature_precision = args.feature_precision;
    let state = args.s3.open(&args.state)?;
    let mut runner = LiveRunner::new(config, state).context("starting the live runner")?;
    // Kept until the runner stops: dropping the server stops it.
    let _metrics = match &args.metrics {
        Some(addr) => {
            let server = tickloop_live::serve_metrics(addr, runner.metrics())?;
            eprintln!("metrics on http://{}/metrics", server.addr());
            Some(server)
        }
        None => None,
    };
    if let Some(addr) = &args.dashboard {
        let dashboard = crate::dashboard::serve(addr, &args.dashboard_token)?;
        runner.observe(Box::new(tickloop_live::DashboardObserver(dashboard.state().clone())));
    }
    let mut sinks: Vec<Box<dyn tickloop_notify::AlertSink>> = Vec::new();
    for url in &args.alert_webhook {
        sinks.push(Box::new(tickloop_notify::Webhook::new(url, args.alert_webhook_token.clone())?));
    }
    #[cfg(feature = "s3")]
    if let Some(arn) = &args.alert_sns_topic {
        let region = args.s3.s3_region.as_deref();
        sinks.push(Box::new(tickloop_notify::Sns::new(arn, args.sns_endpoint.as_deref(), region)?));
    }
    if !sinks.is_empty() {
        runner.notify_with(tickloop_notify::Notifier::start(sinks, 10_000, 5));
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone()).context("installing signal handlers")?;
    }
    let summary = runner.run(&stop)?;
    print!("{summary}");
    Ok(())
}
