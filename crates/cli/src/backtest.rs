use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::Args;
use serde::Serialize;
use tickloop_backtest::{
    AlertQuality, ExperimentConfig, Report, generate_sample, run_backtest_with_model, write_report,
};
use tickloop_core::{Source, Timestamp};
use tickloop_lake::{Dataset, DeadLetterFile, LakeSource, OutputFile};

use tickloop_sim::AnomalyLabel;

use crate::lake_args::S3Args;

/// An alert up to this long after a planted event still counts for it: the rules look at
/// rolling windows and fire when the event shows in them.
const LABEL_GRACE_SECS: u32 = 60;
use crate::progress::{ProgressSink, tick_bar};

#[derive(Debug, Args)]
pub struct BacktestArgs {
    /// Experiment file (TOML): data range, pipeline, strategy, costs.
    #[arg(long, default_value = "experiments/default.toml")]
    experiment: PathBuf,
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
}

/// Run metadata that differs between runs, kept out of report.json.
#[derive(Serialize)]
struct RunInfo<'a> {
    run_id: &'a str,
    experiment_file: &'a Path,
    lake: &'a str,
    #[serde(with = "tickloop_core::rfc3339")]
    started_at: Timestamp,
    wall_secs: f64,
    ticks_per_sec: f64,
    tickloop_version: &'static str,
    git_commit: Option<String>,
}

pub fn run(args: BacktestArgs) -> anyhow::Result<()> {
    let config = ExperimentConfig::load(&args.experiment)?;
    let lake_root = args.lake.clone().unwrap_or_else(|| config.data.lake.to_string_lossy().into_owned());
    let lake = args.s3.open(&lake_root)?;
    let (start, end) = (config.data.start, config.data.end);

    if lake.partitions(Dataset::RawTicks, start, end)?.is_empty() {
        match (&config.sim, args.generate_missing) {
            (Some(sim), true) => {
                eprintln!(
                    "lake {} has no ticks for {start} .. {end}: simulating {} symbols first",
                    lake_root, sim.symbols
                );
                let bar = tick_bar(0, "sim     ");
                let summary = generate_sample(&lake, sim, start, end, |done, total| {
                    bar.set_length(total);
                    bar.set_position(done);
                })?;
                bar.finish();
                eprintln!("wrote {} ticks in {} partitions", summary.ticks, summary.partitions);
            }
            (Some(_), false) => bail!(
                "lake {} has no ticks for {start} .. {end}; rerun with --generate-missing to simulate them, or `tickloop sim`",
                lake_root
            ),
            (None, _) => bail!(
                "lake {} has no ticks for {start} .. {end}, and the experiment has no [sim] section to generate them",
                lake_root
            ),
        }
    }

    let wall_start = SystemTime::now();
    let started = Instant::now();
    let started_at =
        Timestamp::from_nanos(wall_start.duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or_default());
    let run_id = unique_run_id(&args.runs_dir, &config.name, started_at);
    let dir = args.runs_dir.join(&run_id);

    let mut source = LakeSource::open(&lake, start, end).with_context(|| format!("opening lake {}", lake_root))?;
    let mut progress = ProgressSink::new(tick_bar(source.remaining_hint().unwrap_or(0), "backtest"));
    let mut dead_letters = DeadLetterFile::new(dir.join("rejects.jsonl"), source.symbols().clone());
    let mut alerts = OutputFile::alerts(dir.join("alerts.jsonl"), source.symbols().clone());
    let mut predictions = OutputFile::predictions(dir.join("predictions.jsonl"), source.symbols().clone());
    let model = match &config.model {
        Some(m) => {
            let model = crate::train::load_model(&m.path)
                .with_context(|| format!("loading the experiment's model {}", m.path.display()))?;
            eprintln!("predicting with {} every {} s", model.card().id(), m.predict_every_secs);
            Some(std::sync::Arc::from(model))
        }
        None => None,
    };
    let mut report = run_backtest_with_model(
        &config,
        &mut source,
        &mut [&mut progress, &mut dead_letters, &mut alerts, &mut predictions],
        model,
    )?;
    let labels: Vec<AnomalyLabel> = lake.read_json_lines(Dataset::AnomalyLabels, start, end)?;
    if !labels.is_empty() {
        report.alert_quality =
            Some(AlertQuality::score(&report.alert_marks, &labels, source.symbols(), LABEL_GRACE_SECS));
    }
    let wall_secs = started.elapsed().as_secs_f64();
    write_report(&dir, &config, &report)?;
    let info = RunInfo {
        run_id: &run_id,
        experiment_file: &args.experiment,
        lake: &lake_root,
        started_at,
        wall_secs,
        ticks_per_sec: report.data.ticks as f64 / wall_secs.max(1e-9),
        tickloop_version: env!("CARGO_PKG_VERSION"),
        git_commit: git_commit(),
    };
    let mut run_json = serde_json::to_vec_pretty(&info)?;
    run_json.push(b'\n');
    std::fs::write(dir.join("run.json"), run_json)
        .with_context(|| format!("writing {}", dir.join("run.json").display()))?;

    print_summary(&report, &info, &dir);
    Ok(())
}

fn unique_run_id(runs_dir: &Path, name: &str, at: Timestamp) -> String {
    let stamp: String = at.to_string().chars().take(19).filter(|c| c.is_ascii_digit() || *c == 'T').collect();
    let slug: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    let base = format!("{slug}-{stamp}");
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

fn print_summary(report: &Report, info: &RunInfo<'_>, dir: &Path) {
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
    if let Some(q) = &report.alert_quality {
        let rule = |r: &tickloop_backtest::RuleQuality| {
            format!("precision {:.0} %, recall {:.0} % ({} events)", r.precision * 100.0, r.recall * 100.0, r.events)
        };
        let at = rows.iter().position(|(k, _)| *k == "alerts").map_or(rows.len(), |i| i + 1);
        rows.insert(at, ("  vs planted", format!("spikes {}; drops {}", rule(&q.volume_spike), rule(&q.price_drop))));
    }
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    println!();
    for (k, v) in rows {
        println!("  {k:<width$}  {v}");
    }
}
