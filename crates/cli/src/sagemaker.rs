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

#[derive(Debug, Args)]
pub struct TrainJobArgs {
    /// The SageMaker container tree: hyperparameters in input/config/hyperparameters.json,
    /// channels in input/data/<channel>/, the model to model/, the failure reason to
    /// output/failure.
    #[arg(long, env = "TICKLOOP_ML_ROOT", default_value = "/opt/ml")]
    ml_root: PathBuf,
}

/// Hyperparameters that pick where things are rather than passing through to `train`.
const CHANNEL_KEY: &str = "channel";
const NAME_KEY: &str = "name";

/// A SageMaker training job (`docker run <image> train`): the hyperparameters are the flags
/// of `tickloop train` (`{"model": "gbm", "iterations": "300", "from": "2024-01-02"}`), the
/// lake is the `training` channel (or `lake`: an `s3://` prefix), and the model lands in
/// `/opt/ml/model` as `serve-model` loads it. On failure SageMaker shows the first lines of
/// `/opt/ml/output/failure` as the job's reason, so the whole error goes there too.
pub fn train_job(args: TrainJobArgs) -> anyhow::Result<()> {
    let result = run_train_job(&args.ml_root);
    if let Err(e) = &result {
        let failure = args.ml_root.join("output/failure");
        let written = failure
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&failure, format!("{e:#}\n")));
        if let Err(io) = written {
            eprintln!("could not write {}: {io}", failure.display());
        }
    }
    result
}

fn run_train_job(root: &std::path::Path) -> anyhow::Result<()> {
    let path = root.join("input/config/hyperparameters.json");
    let mut hyperparameters = match std::fs::read(&path) {
        Ok(bytes) => hyperparameters(&bytes).with_context(|| format!("reading {}", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::collections::BTreeMap::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let channel = hyperparameters.remove(CHANNEL_KEY).unwrap_or_else(|| "training".into());
    let name = hyperparameters.remove(NAME_KEY);
    if !hyperparameters.contains_key("lake") {
        let lake = root.join("input/data").join(&channel);
        anyhow::ensure!(
            lake.is_dir(),
            "no lake: the {channel:?} channel ({}) is missing; give the job that input channel, or a `lake` \
             hyperparameter (s3://bucket/prefix)",
            lake.display()
        );
        hyperparameters.insert("lake".into(), lake.display().to_string());
    }
    hyperparameters.entry("model".into()).or_insert_with(|| "gbm".into());
    anyhow::ensure!(
        !hyperparameters.contains_key("out"),
        "the model always goes to {}: drop the `out` hyperparameter",
        root.join("model").display()
    );
    let mut argv = vec!["train".to_owned()];
    for (key, value) in &hyperparameters {
        argv.push(format!("--{}", key.replace('_', "-")));
        argv.push(value.clone());
    }
    #[derive(clap::Parser)]
    struct Train {
        #[command(flatten)]
        args: crate::train::TrainArgs,
    }
    let train = <Train as clap::Parser>::try_parse_from(&argv).map_err(|e| {
        anyhow::anyhow!("the hyperparameters as `tickloop {}`: {}", argv.join(" "), e.render().to_string().trim())
    })?;
    println!("training job: tickloop {}", argv.join(" "));
    let model = root.join("model");
    let name = name.unwrap_or_else(|| hyperparameters["model"].clone());
    crate::train::train_into(&train.args, &name, 1, &model)?;
    println!("model written to {}", model.display());
    Ok(())
}

/// SageMaker's hyperparameters: a JSON object of strings (the Python SDK JSON-encodes each
/// value, so `"\"gbm\""` means `gbm`); its own `sagemaker_*` entries are not ours.
fn hyperparameters(bytes: &[u8]) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(bytes).context("not a JSON object")?;
    let mut out = std::collections::BTreeMap::new();
    for (key, value) in object {
        if key.starts_with("sagemaker_") {
            continue;
        }
        let text = match value {
            serde_json::Value::String(s) => match serde_json::from_str::<serde_json::Value>(&s) {
                Ok(serde_json::Value::String(inner)) => inner,
                _ => s,
            },
            serde_json::Value::Array(items) => items
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join(","),
            other => other.to_string(),
        };
        out.insert(key, text);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyperparameters_are_strings_whatever_encoding_the_caller_used() {
        let parsed = hyperparameters(
            br#"{"model": "\"gbm\"", "iterations": "300", "seed": 7, "features": ["log_return", "volume_z_300"],
                 "sagemaker_region": "\"us-east-1\""}"#,
        )
        .unwrap();
        assert_eq!(parsed["model"], "gbm");
        assert_eq!(parsed["iterations"], "300");
        assert_eq!(parsed["seed"], "7");
        assert_eq!(parsed["features"], "log_return,volume_z_300");
        assert!(!parsed.contains_key("sagemaker_region"));
        assert!(hyperparameters(b"[1]").is_err());
    }
}
