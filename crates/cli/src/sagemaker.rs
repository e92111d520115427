//! `tickloop export-sagemaker` and `tickloop serve-model`: a model version packed the way
//! SageMaker unpacks it into /opt/ml/model, and the inference container's HTTP contract.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tickloop_serve::{ModelServer, ModelServerConfig};

use tickloop_registry::load as load_model;

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// A model version directory (models/<name>/vN), or a model directory (its latest).
    #[arg(long)]
    model: PathBuf,
    /// The archive to write (gzip-compressed tar, artifacts at its root).
    #[arg(long, default_value = "model.tar.gz")]
    out: PathBuf,
}

pub fn export(args: ExportArgs) -> anyhow::Result<()> {
    // Loading proves the artifacts are whole before anything is shipped.
    let model = load_model(&args.model)?;
    let dir = tickloop_models::resolve(&args.model)?;
    let card = model.card();
    let files = [tickloop_models::CARD_FILE, card.weights.as_str()];
    tickloop_serve::write_model_archive(&dir, &files, &args.out)
        .with_context(|| format!("writing {} from {}", args.out.display(), dir.display()))?;
    println!("wrote {} ({} {}) to {}", card.id(), card.kind, files.join(" + "), args.out.display());
    Ok(())
}

#[derive(Debug, Args)]
pub struct ServeModelArgs {
    /// The model: a version directory or a model directory (its latest version). SageMaker
    /// unpacks model.tar.gz into /opt/ml/model.
    #[arg(long, default_value = "/opt/ml/model")]
    model_dir: PathBuf,
    /// Address to listen on; the port defaults to SAGEMAKER_BIND_TO_PORT, else 8080.
    #[arg(long)]
    addr: Option<String>,
    /// Bearer token required on every request (needed to listen beyond loopback).
    #[arg(long, env = "TICKLOOP_MODEL_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Listen beyond loopback without a token, because the network in front authenticates
    /// (a SageMaker endpoint; the container's `serve` entrypoint sets this).
    #[arg(long)]
    behind_gateway: bool,
    /// Largest request body in bytes (SageMaker's own limit is 6 MB).
    #[arg(long, default_value_t = 6 * 1024 * 1024)]
    max_body: usize,
}

pub fn serve(args: ServeModelArgs) -> anyhow::Result<()> {
    let model =
        load_model(&args.model_dir).with_context(|| format!("loading the model from {}", args.model_dir.display()))?;
    let addr = args.addr.unwrap_or_else(|| {
        let port = std::env::var("SAGEMAKER_BIND_TO_PORT").unwrap_or_else(|_| "8080".into());
        let host = if args.behind_gateway { "0.0.0.0" } else { "127.0.0.1" };
        format!("{host}:{port}")
    });
    let id = model.card().id();
    let config = ModelServerConfig {
        addr,
        token: args.token,
        open_behind_gateway: args.behind_gateway,
        max_body: args.max_body,
        ..ModelServerConfig::default()
    };
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, stop.clone()).context("installing signal handlers")?;
    }
    let server = ModelServer::start(Arc::from(model), config)?;
    eprintln!("serving {id} on http://{} (GET /ping, POST /invocations)", server.addr());
    while !stop.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left = server.shutdown();
    if left > 0 {
        anyhow::bail!("stopped with {left} requests still running after the drain timeout");
    }
    eprintln!("stopped cleanly");
    Ok(())
}
