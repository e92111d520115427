//! `[walk_forward]` experiments: per fold, fit the model on the fold's training window only,
//! backtest the fold's test window with it, then chain the test windows into one
//! out-of-sample report. The calendar (purge, embargo, warm-up) is `tickloop_backtest`'s;
//! the fitting is `tickloop_registry`'s.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tickloop_backtest::{
    ExperimentConfig, FoldResult, FoldWindow, FullReport, Report, WalkForwardConfig, stitch, write_report,
};
use tickloop_lake::Lake;
use tickloop_models::Predictor;
use tickloop_registry::{TrainSpec, blank_card, fit_and_score};

use crate::RunError;
use crate::provenance::{git_commit, hash_dir};
use crate::run::{RunOutcome, Share, Window, backtest_window};

/// Runs every fold into `dir/fold-N/` (its model in `model/`, its own report) and returns
/// the stitched out-of-sample report.
pub(crate) fn run(
    config: &ExperimentConfig,
    wf: &WalkForwardConfig,
    lake: &Lake,
    lake_root: &str,
    dir: &Path,
    share: Share,
) -> Result<RunOutcome, RunError> {
    let windows = wf.windows(config.data.start, config.data.end).map_err(RunError::Config)?;
    let folds = (1..=windows.len())
        .map(|fold| run_fold(config, wf, &windows, fold, lake, lake_root, &fold_dir(dir, fold), share))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(stitch_folds(config, wf, folds))
}

/// One fold's outcome: its report (restricted to its test window), its summary and a hash
/// of the model it trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldOutput {
    pub result: FoldResult,
    pub report: FullReport,
    pub model_sha256: String,
}

/// `dir/fold-N`.
pub(crate) fn fold_dir(dir: &Path, fold: usize) -> std::path::PathBuf {
    dir.join(fold_name(fold))
}

pub(crate) fn fold_name(fold: usize) -> String {
    format!("fold-{fold}")
}

/// Fold `fold` (1-based) of `windows`: fits its model on the training window only, saves
/// it in `fold_dir/model/`, backtests the test window with it and writes its report there.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_fold(
    config: &ExperimentConfig,
    wf: &WalkForwardConfig,
    windows: &[FoldWindow],
    fold: usize,
    lake: &Lake,
    lake_root: &str,
    fold_dir: &Path,
    share: Share,
) -> Result<FoldOutput, RunError> {
    let w = &windows[fold - 1];
    let spec = TrainSpec::from_config(&wf.train)?;
    let in_fold = |what| move |e: RunError| RunError::Fold { fold, what, source: Box::new(e) };
    if share.shows_progress() {
        eprintln!(
            "fold {fold}/{}: training on {} .. {}, testing on {} .. {}",
            windows.len(),
            w.train_from,
            w.train_to,
            w.test_from,
            w.test_to
        );
    }
    // The training data ends at `train_to`: rows within a horizon of it get no label,
    // so nothing the model learns from reaches the embargo, let alone the test window.
    let collected = spec
        .dataset(lake, lake_root, w.train_from, w.train_to)
        .map_err(|e| in_fold("collecting the training rows")(e.into()))?;
    let rows: Vec<usize> = (0..collected.data.len()).collect();
    let card = blank_card(&spec, "fold", fold as u32, &collected.data, collected.range, git_commit());
    let fitted = fit_and_score(&spec, &collected.data, &rows, &[], card).map_err(|e| in_fold("training")(e.into()))?;
    drop(collected.data);
    let model_dir = fold_dir.join("model");
    fitted.model.save(&model_dir).map_err(|e| in_fold("saving its model")(e.into()))?;
    let model_sha256 = hash_dir(&model_dir)?;
    let model: Arc<dyn Predictor> = Arc::from(fitted.model);
    let window = Window { replay_from: w.replay_from, trade_from: Some(w.test_from), end: w.test_to };
    let report = backtest_window(config, lake, lake_root, fold_dir, window, Some(model.clone()), share)
        .map_err(in_fold("backtesting"))?;
    write_report(fold_dir, config, &report)?;
    let result = FoldResult {
        fold,
        window: *w,
        model: model.card().id(),
        training_rows: fitted.fitted_on,
        metrics: report.metrics,
        model_accuracy: report.model_accuracy,
    };
    Ok(FoldOutput { result, report: report.into(), model_sha256 })
}

/// The out-of-sample report of `folds` (in fold order), and a hash over their models.
pub(crate) fn stitch_folds(config: &ExperimentConfig, wf: &WalkForwardConfig, folds: Vec<FoldOutput>) -> RunOutcome {
    let mut models = Sha256::new();
    let mut reports = Vec::with_capacity(folds.len());
    let mut results = Vec::with_capacity(folds.len());
    for fold in folds {
        models.update(fold.model_sha256.as_bytes());
        reports.push(Report::from(fold.report));
        results.push(fold.result);
    }
    let report = stitch(config, &reports, results, config.config_sha256());
    let model_sha256 = tickloop_core::hex(&models.finalize());
    RunOutcome { report, model_sha256: Some(model_sha256), model_seed: Some(wf.train.seed) }
}
