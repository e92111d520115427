use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::Args;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tickloop_backtest::{Backtest, ExperimentConfig, Report, generate_sample, score_alerts, write_report};
use tickloop_core::{Source, Timestamp};
use tickloop_lake::{Dataset, DeadLetterFile, Lake, LakeSource, OutputFile};
use tickloop_sim::AnomalyLabel;

use crate::lake_args::S3Args;
use crate::progress::{ProgressSink, tick_bar};

/// An alert up to this long after a planted event still counts for it: the rules look at
/// rolling windows and fire when the event shows in them.
pub(crate) const LABEL_GRACE_SECS: u32 = 60;

#[derive(Debug, Args)]
pub struct BacktestArgs {
    /// Experiment file (TOML): data range, pipeline, strategy, costs, and optionally a
    /// [sweep] grid.
    #[arg(long, default_value = "experiments/default.toml")]
    experiment: PathBuf,
    /// Re-run a finished run from its directory (its config.toml and manifest.json) and
    /// check that the new report.json is byte-identical.
    #[arg(long, value_name = "RUN_DIR", conflicts_with = "experiment")]
    reproduce: Option<PathBuf>,
    /// Lake root (a directory or s3://bucket/prefix); overrides the experiment's data.lake.
    #[arg(long, env = "TICKLOOP_LAKE")]
    lake: Option<String>,
    #[command(flatten)]
    s3: S3Args,
    /// Where run directories are created.
    #[arg(long, default_value = "experiments/runs")]
    runs_dir: PathBuf,
    /// If the lake has no ticks in the experiment's range, generate them first from the
    /// experiment's [sim] section.
    #[arg(long)]
    generate_missing: bool,
    /// Backtests run at once in a sweep [default: the number of cores].
    #[arg(long)]
    jobs: Option<usize>,
}

/// Everything needed to reproduce a run, and what it ran on. Unlike report.json, it also
/// holds what differs between runs (wall times, paths).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub run_id: String,
    pub experiment: String,
    pub experiment_file: Option<PathBuf>,
    pub lake: String,
    pub git_commit: Option<String>,
    pub tickloop_version: String,
    /// SHA-256 of the resolved config (config.toml).
    pub config_sha256: String,
    /// The data fingerprint from report.json: a hash of every accepted tick.
    pub data_fingerprint: String,
    pub ticks: u64,
    /// The simulator's seed when the data was simulated from the experiment.
    pub sim_seed: Option<u64>,
    /// The model version and a SHA-256 over its files, when the experiment has a model.
    pub model: Option<String>,
    pub model_sha256: Option<String>,
    pub model_seed: Option<u64>,
    /// SHA-256 of report.json: `--reproduce` must produce the same.
    pub report_sha256: String,
    #[serde(with = "tickloop_core::rfc3339")]
    pub started_at: Timestamp,
    pub wall_secs: f64,
    pub ticks_per_sec: f64,
}

pub fn run(args: BacktestArgs) -> anyhow::Result<()> {
    if let Some(run_dir) = &args.reproduce {
        return reproduce(&args, run_dir);
    }
    let config = ExperimentConfig::load(&args.experiment)?;
    let lake_root = args.lake.clone().unwrap_or_else(|| config.data.lake.to_string_lossy().into_owned());
    let lake = args.s3.open(&lake_root)?;
    ensure_data(&config, &lake, &lake_root, args.generate_missing)?;
    if config.sweep.is_some() {
        return crate::sweep::run(&config, &args.experiment, &lake, &lake_root, &args.runs_dir, args.jobs);
    }
    let dir = args.runs_dir.join(unique_run_id(&args.runs_dir, &config.name, wall_now()));
    let (report, manifest) = execute(&config, Some(&args.experiment), &lake, &lake_root, &dir, true)?;
    print_summary(&report, &manifest, &dir);
    Ok(())
}

/// Makes sure the lake has ticks for the experiment's range, simulating them when allowed.
fn ensure_data(config: &ExperimentConfig, lake: &Lake, lake_root: &str, generate: bool) -> anyhow::Result<()> {
    let (start, end) = (config.data.start, config.data.end);
    if !lake.partitions(Dataset::RawTicks, start, end)?.is_empty() {
        return Ok(());
    }
    match (&config.sim, generate) {
        (Some(sim), true) => {
            eprintln!("lake {lake_root} has no ticks for {start} .. {end}: simulating {} symbols first", sim.symbols);
            let bar = tick_bar(0, "sim     ");
            let summary = generate_sample(lake, sim, start, end, |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })?;
            bar.finish();
            eprintln!("wrote {} ticks in {} partitions", summary.ticks, summary.partitions);
            Ok(())
        }
        (Some(_), false) => bail!(
            "lake {lake_root} has no ticks for {start} .. {end}; rerun with --generate-missing to simulate them, or `tickloop sim`"
        ),
        (None, _) => bail!(
            "lake {lake_root} has no ticks for {start} .. {end}, and the experiment has no [sim] section to generate them"
        ),
    }
}

pub(crate) fn wall_now() -> Timestamp {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    Timestamp::from_nanos(since_epoch.as_nanos() as i64)
}

/// What one run produced besides its report: the model behind it, for the manifest.
pub(crate) struct RunOutcome {
    pub report: Report,
    pub model_sha256: Option<String>,
    pub model_seed: Option<u64>,
}

/// Runs one experiment into `dir`: report.json, report.html, config.toml, manifest.json,
/// and the alerts, predictions and rejects as JSON lines (a walk-forward run: one
/// directory per fold, and the out-of-sample report at the top).
pub(crate) fn execute(
    config: &ExperimentConfig,
    experiment_file: Option<&Path>,
    lake: &Lake,
    lake_root: &str,
    dir: &Path,
    show_progress: bool,
) -> anyhow::Result<(Report, Manifest)> {
    let started_at = wall_now();
    let started = Instant::now();
    let outcome = match &config.walk_forward {
        Some(wf) => crate::walk_forward::run(config, wf, lake, lake_root, dir, show_progress)?,
        None => {
            let (model, model_sha256) = match &config.model {
                Some(m) => {
                    let model = crate::train::load_model(&m.path)
                        .with_context(|| format!("loading the experiment's model {}", m.path.display()))?;
                    if show_progress {
                        eprintln!("predicting with {} every {} s", model.card().id(), m.predict_every_secs);
                    }
                    let hash = hash_dir(&tickloop_models::resolve(&m.path)?)?;
                    (Some(std::sync::Arc::from(model)), Some(hash))
                }
                None => (None, None),
            };
            let model_seed = model.as_ref().map(|m: &std::sync::Arc<dyn tickloop_models::Predictor>| m.card().seed);
            let window = Window { replay_from: config.data.start, trade_from: None, end: config.data.end };
            let report = backtest_window(config, lake, lake_root, dir, window, model, show_progress)?;
            RunOutcome { report, model_sha256, model_seed }
        }
    };
    let RunOutcome { report, model_sha256, model_seed } = outcome;
    let wall_secs = started.elapsed().as_secs_f64();
    write_report(dir, config, &report)?;
    let report_bytes = std::fs::read(dir.join("report.json"))?;
    let manifest = Manifest {
        run_id: dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        experiment: config.name.clone(),
        experiment_file: experiment_file.map(Path::to_owned),
        lake: lake_root.to_owned(),
        git_commit: git_commit(),
        tickloop_version: env!("CARGO_PKG_VERSION").to_owned(),
        config_sha256: report.config_sha256.clone(),
        data_fingerprint: report.data.fingerprint.clone(),
        ticks: report.data.ticks,
        sim_seed: config.sim.as_ref().map(|s| s.seed),
        model: report.model.clone(),
        model_sha256,
        model_seed,
        report_sha256: sha256_hex(&report_bytes),
        started_at,
        wall_secs,
        ticks_per_sec: report.data.ticks as f64 / wall_secs.max(1e-9),
    };
    let mut json = serde_json::to_vec_pretty(&manifest)?;
    json.push(b'\n');
    std::fs::write(dir.join("manifest.json"), json)
        .with_context(|| format!("writing {}", dir.join("manifest.json").display()))?;
    Ok((report, manifest))
}

/// The stretch of the lake one backtest replays: `[replay_from, end)`, trading and scoring
/// from `trade_from` (the replay's start when unset).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub replay_from: Timestamp,
    pub trade_from: Option<Timestamp>,
    pub end: Timestamp,
}

/// One backtest over `window` of the lake, its JSON-lines outputs into `dir`, its alerts
/// scored against the planted labels that start in the scored part.
pub(crate) fn backtest_window(
    config: &ExperimentConfig,
    lake: &Lake,
    lake_root: &str,
    dir: &Path,
    window: Window,
    model: Option<std::sync::Arc<dyn tickloop_models::Predictor>>,
    show_progress: bool,
) -> anyhow::Result<Report> {
    let mut source =
        LakeSource::open(lake, window.replay_from, window.end).with_context(|| format!("opening lake {lake_root}"))?;
    let bar = if show_progress {
        tick_bar(source.remaining_hint().unwrap_or(0), "backtest")
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut progress = ProgressSink::new(bar);
    let mut dead_letters = DeadLetterFile::new(dir.join("rejects.jsonl"), source.symbols().clone());
    let mut alerts = OutputFile::alerts(dir.join("alerts.jsonl"), source.symbols().clone());
    let mut predictions = OutputFile::predictions(dir.join("predictions.jsonl"), source.symbols().clone());
    let mut backtest = Backtest::new(config).model(model);
    if let Some(from) = window.trade_from {
        backtest = backtest.trade_from(from);
    }
    let mut report =
        backtest.run(&mut source, &mut [&mut progress, &mut dead_letters, &mut alerts, &mut predictions])?;
    let scored_from = window.trade_from.unwrap_or(window.replay_from);
    let labels: Vec<AnomalyLabel> = lake
        .read_json_lines::<AnomalyLabel>(Dataset::AnomalyLabels, scored_from, window.end)?
        .into_iter()
        .filter(|l| l.start >= scored_from && l.start < window.end)
        .collect();
    if !labels.is_empty() {
        report.alert_quality = Some(score_alerts(&report.alert_marks, &labels, source.symbols(), LABEL_GRACE_SECS));
    }
    Ok(report)
}

/// Re-runs `run_dir`'s config.toml on its manifest's lake and checks that report.json comes
/// out byte-identical; says which input changed when it does not.
fn reproduce(args: &BacktestArgs, run_dir: &Path) -> anyhow::Result<()> {
    let read = |name: &str| {
        let path = run_dir.join(name);
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
    };
    let manifest: Manifest = serde_json::from_str(&read("manifest.json")?).context("manifest.json")?;
    let config = ExperimentConfig::parse(&read("config.toml")?).context("config.toml")?;
    let lake_root = args.lake.clone().unwrap_or_else(|| manifest.lake.clone());
    let lake = args.s3.open(&lake_root)?;
    if manifest.git_commit.is_some() && manifest.git_commit != git_commit() {
        eprintln!(
            "note: the run was made at commit {}, this is {}",
            manifest.git_commit.as_deref().unwrap_or("?"),
            git_commit().as_deref().unwrap_or("not a git checkout")
        );
    }
    let dir = args.runs_dir.join(unique_run_id(&args.runs_dir, &format!("{}-reproduced", config.name), wall_now()));
    let (report, again) = execute(&config, None, &lake, &lake_root, &dir, true)?;
    let mut differences = Vec::new();
    if again.config_sha256 != manifest.config_sha256 {
        differences.push("the resolved config (config.toml) hashes differently".to_owned());
    }
    if again.data_fingerprint != manifest.data_fingerprint || again.ticks != manifest.ticks {
        differences.push(format!(
            "the data changed: {} ticks with fingerprint {}, the run had {} with {}",
            again.ticks, again.data_fingerprint, manifest.ticks, manifest.data_fingerprint
        ));
    }
    if again.model_sha256 != manifest.model_sha256 {
        differences.push(format!("the model's files changed ({:?} → {:?})", manifest.model_sha256, again.model_sha256));
    }
    print_summary(&report, &again, &dir);
    if again.report_sha256 == manifest.report_sha256 {
        println!(
            "\nreproduced: report.json is byte-identical to {} (sha256 {})",
            run_dir.display(),
            again.report_sha256
        );
        return Ok(());
    }
    if differences.is_empty() {
        differences.push("same config, data and model: the code changed (compare git commits)".into());
    }
    bail!(
        "not reproduced: report.json differs from {} ({} vs {}): {}",
        run_dir.display(),
        again.report_sha256,
        manifest.report_sha256,
        differences.join("; ")
    )
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 over a directory's files (names and contents, in name order).
pub(crate) fn hash_dir(dir: &Path) -> anyhow::Result<String> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    let mut hasher = Sha256::new();
    for path in entries {
        hasher.update(path.file_name().map(|n| n.as_encoded_bytes()).unwrap_or_default());
        hasher.update(std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// A name safe in a path: ASCII letters, digits and `-`, anything else `_`.
pub(crate) fn slug(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect()
}

fn unique_run_id(runs_dir: &Path, name: &str, at: Timestamp) -> String {
    let stamp: String = at.to_string().chars().take(19).filter(|c| c.is_ascii_digit() || *c == 'T').collect();
    let base = format!("{}-{stamp}", slug(name));
    let mut id = base.clone();
    let mut n = 2;
    while runs_dir.join(&id).exists() {
        id = format!("{base}-{n}");
        n += 1;
    }
    id
}

pub(crate) fn git_commit() -> Option<String> {
    let out = std::process::Command::new("git").args(["rev-parse", "HEAD"]).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn print_summary(report: &Report, info: &Manifest, dir: &Path) {
    let m = &report.metrics;
    let d = &report.data;
    let span = match (d.first_ts, d.last_ts) {
        (Some(a), Some(b)) => format!("{a} .. {b}"),
        _ => "no data".to_owned(),
    };
    let rows = [
        ("experiment", report.experiment.clone()),
        (
            "model",
            match &report.model {
                Some(id) => format!("{id}: {} predictions (see predictions.jsonl)", report.pipeline.predictions),
                None => "none".into(),
            },
        ),
        ("data", format!("{} ticks, {} symbols, {span}", d.ticks, d.symbols)),
        (
            "cleaning",
            format!(
                "{} rejected (see rejects.jsonl), {} repaired",
                report.pipeline.cleaning.total_rejected(),
                report.pipeline.cleaning.repaired.iter().sum::<u64>()
            ),
        ),
        (
            "alerts",
            format!(
                "{} volume spikes, {} price drops, {} model anomalies (see alerts.jsonl)",
                report.pipeline.alerts.volume_spike,
                report.pipeline.alerts.price_drop,
                report.pipeline.alerts.model_anomaly
            ),
        ),
        ("total return", format!("{:+.4} %", m.total_return * 100.0)),
        ("sharpe (annualised)", format!("{:.3}", m.sharpe)),
        ("max drawdown", format!("{:.4} %", m.max_drawdown * 100.0)),
        ("trades", format!("{} ({} closing, hit rate {:.1} %)", m.trades, m.closing_trades, m.hit_rate * 100.0)),
        ("exposure", format!("{:.1} % of equity on average", m.exposure * 100.0)),
        ("fees paid", format!("{:.2}", m.fees_paid)),
        ("turnover", format!("{:.2}x", m.turnover)),
        ("final equity", format!("{:.2}", m.final_equity)),
        ("speed", format!("{:.2} M ticks/s in {:.2} s", info.ticks_per_sec / 1e6, info.wall_secs)),
        ("report", dir.join("report.json").display().to_string()),
    ];
    let mut rows = rows.to_vec();
    if let Some(a) = &report.model_accuracy {
        rows.insert(
            2,
            (
                "model accuracy",
                format!(
                    "MAE {:.3e}, direction {:.1} % over {} matured predictions",
                    a.mae,
                    a.directional_accuracy * 100.0,
                    a.matured
                ),
            ),
        );
    }
    if let Some(folds) = &report.walk_forward {
        let at = rows.iter().position(|(k, _)| *k == "total return").unwrap_or(rows.len());
        for (i, f) in folds.iter().enumerate() {
            let direction = f
                .model_accuracy
                .map_or(String::new(), |a| format!(", direction {:.1} %", a.directional_accuracy * 100.0));
            rows.insert(
                at + i,
                (
                    "  fold",
                    format!(
                        "{}: trained on {} .. {} ({} rows), tested {} .. {}: {:+.4} %, sharpe {:.2}{direction}",
                        f.fold,
                        f.window.train_from,
                        f.window.train_to,
                        f.training_rows,
                        f.window.test_from,
                        f.window.test_to,
                        f.metrics.total_return * 100.0,
                        f.metrics.sharpe
                    ),
                ),
            );
        }
        rows.insert(at, ("walk-forward", format!("{} folds; the metrics below are out of sample only", folds.len())));
    }
    let at = rows.iter().position(|(k, _)| *k == "alerts").map_or(rows.len(), |i| i + 1);
    let rates = &report.alert_rates;
    rows.insert(
        at,
        (
            "  per symbol-day",
            format!(
                "{:.3} spikes, {:.3} drops over {} symbol-days",
                rates.volume_spike, rates.price_drop, rates.symbol_days
            ),
        ),
    );
    if let Some(q) = &report.alert_quality {
        rows.insert(at + 1, ("  spikes vs planted", q.volume_spike.summary()));
        rows.insert(at + 2, ("  drops vs planted", q.price_drop.summary()));
    }
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    println!();
    for (k, v) in rows {
        println!("  {k:<width$}  {v}");
    }
}
