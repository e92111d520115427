//! One experiment into one run directory, and its reproduction.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tickloop_backtest::{Backtest, ExperimentConfig, Report, generate_sample, score_alerts, write_report};
use tickloop_core::{Clock, Prefetched, Source, Timestamp, WallClock};
use tickloop_lake::{DeadLetterFile, Lake, LakeSource, LakeTable, OutputFile};
use tickloop_models::Predictor;
use tickloop_registry::{ProgressSource, tick_bar};
use tickloop_sim::AnomalyLabel;

use crate::RunError;
use crate::provenance::{git_commit, hash_dir, run_id, sha256_hex};

/// An alert up to this long after a planted event still counts for it: the rules look at
/// rolling windows and fire when the event shows in them.
pub const LABEL_GRACE_SECS: u32 = 60;

/// Everything needed to reproduce a run, and what it ran on. Unlike report.json, it also
/// holds what differs between runs (wall times, paths).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
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

/// Makes sure the lake has ticks for the experiment's range, simulating them from its
/// `[sim]` section when `generate` allows.
pub fn ensure_data(config: &ExperimentConfig, lake: &Lake, lake_root: &str, generate: bool) -> Result<(), RunError> {
    let (start, end) = (config.data.start, config.data.end);
    if !lake.partitions(LakeTable::RawTicks, start, end)?.is_empty() {
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
        (Some(_), false) => Err(RunError::Config(format!(
            "lake {lake_root} has no ticks for {start} .. {end}; rerun with --generate-missing to simulate them, or `tickloop sim`"
        ))),
        (None, _) => Err(RunError::Config(format!(
            "lake {lake_root} has no ticks for {start} .. {end}, and the experiment has no [sim] section to generate them"
        ))),
    }
}

/// What one run produced besides its report: the model behind it, for the manifest.
#[derive(Debug)]
pub struct RunOutcome {
    pub report: Report,
    pub model_sha256: Option<String>,
    pub model_seed: Option<u64>,
}

/// Whether a run has the machine to itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Share {
    /// The only run: progress on stderr, the replay (decoding, features, alert rules) on
    /// `threads` threads. The report is the same bits on any number.
    Alone { threads: usize },
    /// One of several at once (a sweep's workers): quiet, one thread each.
    WithOthers,
}

impl Share {
    /// Alone, on every core.
    pub fn alone() -> Self {
        Share::Alone { threads: std::thread::available_parallelism().map_or(1, usize::from) }
    }

    pub fn shows_progress(self) -> bool {
        matches!(self, Share::Alone { .. })
    }

    /// Threads for the replay.
    pub fn threads(self) -> usize {
        match self {
            Share::Alone { threads } => threads.max(1),
            Share::WithOthers => 1,
        }
    }
}

/// Runs one experiment into `dir`: report.json, report.html, config.toml, manifest.json,
/// and the alerts, predictions and rejects as JSON lines (a walk-forward run: one
/// directory per fold, and the out-of-sample report at the top).
pub fn execute(
    config: &ExperimentConfig,
    experiment_file: Option<&Path>,
    lake: &Lake,
    lake_root: &str,
    dir: &Path,
    share: Share,
) -> Result<(Report, Manifest), RunError> {
    let started_at = WallClock.now();
    let started = Instant::now();
    let outcome = match &config.walk_forward {
        Some(wf) => crate::walk_forward::run(config, wf, lake, lake_root, dir, share)?,
        None => {
            let (model, model_sha256) = match &config.model {
                Some(m) => {
                    let model: Arc<dyn Predictor> = Arc::from(tickloop_registry::load(&m.path)?);
                    if share.shows_progress() {
                        eprintln!("predicting with {} every {} s", model.card().id(), m.predict_every_secs);
                    }
                    let hash = hash_dir(&tickloop_models::resolve(&m.path)?)?;
                    (Some(model), Some(hash))
                }
                None => (None, None),
            };
            let model_seed = model.as_ref().map(|m| m.card().seed);
            let window = Window { replay_from: config.data.start, trade_from: None, end: config.data.end };
            let report = backtest_window(config, lake, lake_root, dir, window, model, share)?;
            RunOutcome { report, model_sha256, model_seed }
        }
    };
    let wall_secs = started.elapsed().as_secs_f64();
    write_report(dir, config, &outcome.report)?;
    let run_id = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let provenance = Provenance { experiment_file, lake_root, run_id, started_at, wall_secs };
    let manifest = write_manifest(dir, config, &outcome, provenance)?;
    Ok((outcome.report, manifest))
}

/// Where and when a run ran: the parts of its manifest that are not in its report.
pub(crate) struct Provenance<'a> {
    pub experiment_file: Option<&'a Path>,
    pub lake_root: &'a str,
    pub run_id: String,
    pub started_at: Timestamp,
    pub wall_secs: f64,
}

/// Writes `dir/manifest.json` for the run whose `report.json` is already in `dir`.
pub(crate) fn write_manifest(
    dir: &Path,
    config: &ExperimentConfig,
    outcome: &RunOutcome,
    at: Provenance<'_>,
) -> Result<Manifest, RunError> {
    let report = &outcome.report;
    let report_path = dir.join("report.json");
    let report_bytes = std::fs::read(&report_path).map_err(RunError::io(&report_path))?;
    let manifest = Manifest {
        run_id: at.run_id,
        experiment: config.name.clone(),
        experiment_file: at.experiment_file.map(Path::to_owned),
        lake: at.lake_root.to_owned(),
        git_commit: git_commit(),
        tickloop_version: env!("CARGO_PKG_VERSION").to_owned(),
        config_sha256: report.config_sha256.clone(),
        data_fingerprint: report.data.fingerprint.clone(),
        ticks: report.data.ticks,
        sim_seed: config.sim.as_ref().map(|s| s.seed),
        model: report.model.clone(),
        model_sha256: outcome.model_sha256.clone(),
        model_seed: outcome.model_seed,
        report_sha256: sha256_hex(&report_bytes),
        started_at: at.started_at,
        wall_secs: at.wall_secs,
        ticks_per_sec: report.data.ticks as f64 / at.wall_secs.max(1e-9),
    };
    let path = dir.join("manifest.json");
    let mut json =
        serde_json::to_vec_pretty(&manifest).map_err(|source| RunError::Json { path: path.clone(), source })?;
    json.push(b'\n');
    std::fs::write(&path, json).map_err(RunError::io(&path))?;
    Ok(manifest)
}

/// The stretch of the lake one backtest replays: `[replay_from, end)`, trading and scoring
/// from `trade_from` (the replay's start when unset).
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub replay_from: Timestamp,
    pub trade_from: Option<Timestamp>,
    pub end: Timestamp,
}

/// One backtest over `window` of the lake, its JSON-lines outputs into `dir`, its alerts
/// scored against the planted labels that start in the scored part.
pub fn backtest_window(
    config: &ExperimentConfig,
    lake: &Lake,
    lake_root: &str,
    dir: &Path,
    window: Window,
    model: Option<Arc<dyn Predictor>>,
    share: Share,
) -> Result<Report, RunError> {
    let lake_source = LakeSource::open(lake, window.replay_from, window.end)
        .map_err(|e| RunError::Config(format!("opening lake {lake_root}: {e}")))?
        .with_threads(share.threads());
    // With threads to spare, the next block is read while the pipeline runs this one (the
    // same ticks in the same order: outputs do not change).
    let mut source: Box<dyn Source> =
        if share.threads() > 1 { Box::new(Prefetched::new(lake_source)) } else { Box::new(lake_source) };
    let bar = if share.shows_progress() {
        tick_bar(source.remaining_hint().unwrap_or(0), "backtest")
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut dead_letters = DeadLetterFile::new(dir.join("rejects.jsonl"), source.symbols().clone());
    let mut alerts = OutputFile::alerts(dir.join("alerts.jsonl"), source.symbols().clone());
    let mut predictions = OutputFile::predictions(dir.join("predictions.jsonl"), source.symbols().clone());
    let mut backtest = Backtest::new(config).model(model).threads(share.threads());
    if let Some(from) = window.trade_from {
        backtest = backtest.trade_from(from);
    }
    let mut report = backtest
        .run(&mut ProgressSource::new(&mut source, &bar), &mut [&mut dead_letters, &mut alerts, &mut predictions])?;
    bar.finish();
    let scored_from = window.trade_from.unwrap_or(window.replay_from);
    let labels: Vec<AnomalyLabel> = lake
        .read_json_lines::<AnomalyLabel>(LakeTable::AnomalyLabels, scored_from, window.end)?
        .into_iter()
        .filter(|l| l.start >= scored_from && l.start < window.end)
        .collect();
    if !labels.is_empty() {
        report.alert_quality = Some(score_alerts(&report.alert_marks, &labels, source.symbols(), LABEL_GRACE_SECS));
    }
    Ok(report)
}

/// A run made again from a run directory, beside what it was.
#[derive(Debug)]
pub struct Reproduction {
    pub report: Report,
    pub manifest: Manifest,
    pub dir: PathBuf,
    pub original: Manifest,
    /// Which inputs changed (config, data, model), when report.json differs.
    pub differences: Vec<String>,
}

impl Reproduction {
    /// report.json came out byte-identical.
    pub fn identical(&self) -> bool {
        self.manifest.report_sha256 == self.original.report_sha256
    }
}

impl Manifest {
    /// The manifest of the run in `run_dir`.
    pub fn read(run_dir: &Path) -> Result<Manifest, RunError> {
        let path = run_dir.join("manifest.json");
        let text = std::fs::read_to_string(&path).map_err(RunError::io(&path))?;
        serde_json::from_str(&text).map_err(|source| RunError::Json { path, source })
    }
}

/// Re-runs `run_dir`'s config.toml on `lake` (its manifest's, unless the lake moved) into a
/// new directory under `runs_dir`, and compares with `original`, its manifest.
pub fn reproduce(
    run_dir: &Path,
    original: Manifest,
    lake: &Lake,
    lake_root: &str,
    runs_dir: &Path,
) -> Result<Reproduction, RunError> {
    let path = run_dir.join("config.toml");
    let config = ExperimentConfig::parse(&std::fs::read_to_string(&path).map_err(RunError::io(&path))?)?;
    let dir = runs_dir.join(run_id(runs_dir, &format!("{}-reproduced", config.name), WallClock.now()));
    let (report, manifest) = execute(&config, None, lake, lake_root, &dir, Share::alone())?;
    let differences = differences(&original, &manifest);
    Ok(Reproduction { report, manifest, dir, original, differences })
}

/// Which of a run's inputs differ between two manifests.
fn differences(original: &Manifest, again: &Manifest) -> Vec<String> {
    let mut out = Vec::new();
    if again.config_sha256 != original.config_sha256 {
        out.push("the resolved config (config.toml) hashes differently".to_owned());
    }
    if again.data_fingerprint != original.data_fingerprint || again.ticks != original.ticks {
        out.push(format!(
            "the data changed: {} ticks with fingerprint {}, the run had {} with {}",
            again.ticks, again.data_fingerprint, original.ticks, original.data_fingerprint
        ));
    }
    if again.model_sha256 != original.model_sha256 {
        out.push(format!("the model's files changed ({:?} → {:?})", original.model_sha256, again.model_sha256));
    }
    if out.is_empty() && again.report_sha256 != original.report_sha256 {
        out.push("same config, data and model: the code changed (compare git commits)".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            run_id: "r".into(),
            experiment: "e".into(),
            experiment_file: None,
            lake: "data/lake".into(),
            git_commit: None,
            tickloop_version: "0".into(),
            config_sha256: "c".into(),
            data_fingerprint: "d".into(),
            ticks: 10,
            sim_seed: None,
            model: None,
            model_sha256: None,
            model_seed: None,
            report_sha256: "r1".into(),
            started_at: Timestamp::from_secs(0),
            wall_secs: 1.0,
            ticks_per_sec: 10.0,
        }
    }

    #[test]
    fn a_reproduction_names_the_input_that_changed() {
        let original = manifest();
        assert!(
            differences(&original, &Manifest { wall_secs: 9.0, ..manifest() }).is_empty(),
            "wall time is not an input"
        );
        let data = differences(&original, &Manifest { ticks: 11, report_sha256: "r2".into(), ..manifest() });
        assert_eq!(data.len(), 1);
        assert!(data[0].starts_with("the data changed: 11 ticks"), "{data:?}");
        let model = Manifest { model_sha256: Some("m".into()), report_sha256: "r2".into(), ..manifest() };
        assert!(differences(&original, &model)[0].contains("model's files changed"));
        let code = differences(&original, &Manifest { report_sha256: "r2".into(), ..manifest() });
        assert_eq!(code, ["same config, data and model: the code changed (compare git commits)"]);
    }

    #[test]
    fn a_manifest_round_trips_through_json() {
        let m = manifest();
        let back: Manifest = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back, m);
    }
}
