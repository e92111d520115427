//! An experiment with a `[sweep]` grid: one backtest per combination, run in parallel, each
//! written to its own run directory as it finishes, then ranked.
//!
//! Memory stays flat in the number of combinations: a worker holds one backtest at a time
//! (streaming its data from the lake), and what the main thread keeps per finished run is
//! one summary row; everything else is on disk.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use serde::{Deserialize, Serialize};
use tickloop_backtest::{ExperimentConfig, SweepConfig, SweepPoint};
use tickloop_core::{Clock, WallClock};
use tickloop_lake::Lake;

use crate::RunError;
use crate::provenance::{run_id, slug};

/// One finished combination, as `results.jsonl` and the ranking hold it. Nothing in it
/// depends on where or when it ran, so `ranking.json` is the same bytes on one machine or
/// merged from shards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepRow {
    pub index: usize,
    pub params: String,
    /// The member's directory, relative to the sweep's (`007`).
    pub run_dir: String,
    /// The ranking metric's value (`None` when the run failed).
    pub score: Option<f64>,
    pub total_return: Option<f64>,
    pub sharpe: Option<f64>,
    pub max_drawdown: Option<f64>,
    pub trades: Option<u64>,
    pub error: Option<String>,
    /// The run's equity samples, for `ranking.html` (not in `ranking.json`).
    #[serde(skip)]
    pub equity: Vec<tickloop_backtest::EquityPoint>,
}

/// A finished sweep: its directory, its rows best first, and the ranking as Markdown
/// (also in `ranking.md`, and the rows in `ranking.json`).
#[derive(Debug)]
pub struct SweepOutcome {
    pub dir: PathBuf,
    pub rows: Vec<SweepRow>,
    pub table: String,
}

/// Runs every combination of `config`'s `[sweep]` on `jobs` threads (all cores when unset)
/// into one directory under `runs_dir`.
pub fn run_sweep(
    config: &ExperimentConfig,
    lake: &Lake,
    lake_root: &str,
    runs_dir: &Path,
    jobs: Option<usize>,
) -> Result<SweepOutcome, RunError> {
    let sweep = grid(config)?;
    let points = config.sweep_points();
    let dir = runs_dir.join(run_id(runs_dir, &format!("{}-sweep", slug(&config.name)), WallClock.now()));
    std::fs::create_dir_all(&dir).map_err(RunError::io(&dir))?;
    std::fs::write(dir.join("sweep.toml"), experiment_toml(config)?).map_err(RunError::io(dir.join("sweep.toml")))?;
    let results_path = dir.join("results.jsonl");
    let mut results =
        std::io::BufWriter::new(std::fs::File::create(&results_path).map_err(RunError::io(&results_path))?);
    let written = |e: std::io::Error| RunError::Io { path: results_path.clone(), source: e };
    let all: Vec<&SweepPoint> = points.iter().collect();
    let rows = run_points(&all, sweep, lake, lake_root, &dir, jobs, &dir.display().to_string(), |row, _| {
        serde_json::to_writer(&mut results, row).map_err(|e| written(e.into()))?;
        results.write_all(b"\n").and_then(|()| results.flush()).map_err(written)
    })?;
    let (rows, table) = write_ranking(config, rows, |name, bytes| {
        std::fs::write(dir.join(name), bytes).map_err(RunError::io(dir.join(name)))
    })?;
    Ok(SweepOutcome { dir, rows, table })
}

/// The experiment as the run keeps it (`sweep.toml`, a sharded run's `experiment.toml`):
/// every section, the grid included, so that it parses back to the same config.
pub(crate) fn experiment_toml(config: &ExperimentConfig) -> Result<String, RunError> {
    toml::to_string_pretty(config).map_err(|e| RunError::Config(format!("the experiment as TOML: {e}")))
}

/// The experiment's `[sweep]`, or why it has none.
pub(crate) fn grid(config: &ExperimentConfig) -> Result<&SweepConfig, RunError> {
    config.sweep.as_ref().ok_or_else(|| RunError::Config("the experiment has no [sweep] grid".into()))
}

/// Runs `points` on `jobs` threads, each into `dir/NNN/`, and hands every finished row and
/// its directory to `finished` on the calling thread, in the order they finish.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_points(
    points: &[&SweepPoint],
    sweep: &SweepConfig,
    lake: &Lake,
    lake_root: &str,
    dir: &Path,
    jobs: Option<usize>,
    destination: &str,
    mut finished: impl FnMut(&SweepRow, &Path) -> Result<(), RunError>,
) -> Result<Vec<SweepRow>, RunError> {
    let jobs = jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .clamp(1, points.len().max(1));
    eprintln!(
        "sweep: {} combinations of {} on {jobs} workers, ranked by {} → {destination}",
        points.len(),
        sweep.grid.keys().cloned().collect::<Vec<_>>().join(", "),
        sweep.rank_by,
    );
    let bar = indicatif::ProgressBar::new(points.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "sweep    [{elapsed_precise}] {bar:40.cyan/blue} {pos}/{len} backtests (eta {eta}) {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<SweepRow>();
    let mut rows = Vec::with_capacity(points.len());
    std::thread::scope(|scope| -> Result<(), RunError> {
        for _ in 0..jobs {
            let tx = tx.clone();
            let next = &next;
            scope.spawn(move || {
                while let Some(point) = points.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let row = run_point(point, &sweep.rank_by, lake, lake_root, dir);
                    if tx.send(row).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let mut best: Option<f64> = None;
        for row in rx {
            finished(&row, &dir.join(&row.run_dir))?;
            if let Some(score) = row.score
                && best.is_none_or(|b| (score > b) == sweep.higher_is_better())
            {
                best = Some(score);
                bar.set_message(format!("best {} {score:.4}: {}", sweep.rank_by, row.params));
            }
            bar.inc(1);
            rows.push(row);
        }
        Ok(())
    })?;
    bar.finish();
    Ok(rows)
}

/// Ranks `rows` best first and hands `ranking.md`, `ranking.json` and `ranking.html` to
/// `write`; returns the ranked rows and the Markdown table.
pub(crate) fn write_ranking(
    config: &ExperimentConfig,
    mut rows: Vec<SweepRow>,
    mut write: impl FnMut(&str, &[u8]) -> Result<(), RunError>,
) -> Result<(Vec<SweepRow>, String), RunError> {
    let sweep = grid(config)?;
    let points = config.sweep_points();
    let higher = sweep.higher_is_better();
    rows.sort_by(|a, b| match (a.score, b.score) {
        (Some(x), Some(y)) => {
            let order = if higher { y.total_cmp(&x) } else { x.total_cmp(&y) };
            order.then(a.index.cmp(&b.index))
        }
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.index.cmp(&b.index),
    });
    let table = ranking_table(&rows, &sweep.rank_by);
    write("ranking.md", table.as_bytes())?;
    let mut ranking = serde_json::to_vec_pretty(&rows).expect("rows serialise");
    ranking.push(b'\n');
    write("ranking.json", &ranking)?;
    let dimensions: Vec<crate::ranking_html::Dimension> = sweep
        .grid
        .iter()
        .map(|(name, values)| crate::ranking_html::Dimension {
            name: name.clone(),
            values: values.iter().map(ToString::to_string).collect(),
        })
        .collect();
    let params = |index: usize| -> Vec<String> {
        let point = points.iter().find(|p| p.index == index);
        dimensions
            .iter()
            .map(|d| {
                point
                    .and_then(|p| p.params.iter().find(|(k, _)| *k == d.name))
                    .map_or_else(String::new, |(_, v)| v.to_string())
            })
            .collect()
    };
    let page = crate::ranking_html::render(&config.name, &sweep.rank_by, &dimensions, &rows, &params);
    write("ranking.html", page.as_bytes())?;
    Ok((rows, table))
}

/// The directory name of grid point `index` inside its sweep.
pub(crate) fn member_dir(index: usize) -> String {
    format!("{index:03}")
}

fn run_point(point: &SweepPoint, rank_by: &str, lake: &Lake, lake_root: &str, dir: &Path) -> SweepRow {
    let run_dir = member_dir(point.index);
    let mut row = SweepRow {
        index: point.index,
        params: point.label(),
        run_dir: run_dir.clone(),
        score: None,
        total_return: None,
        sharpe: None,
        max_drawdown: None,
        trades: None,
        error: None,
        equity: Vec::new(),
    };
    let outcome = point.config.as_ref().map_err(|e| RunError::Config(e.clone())).and_then(|config| {
        crate::run::execute(config, None, lake, lake_root, &dir.join(&run_dir), crate::Share::WithOthers)
    });
    match outcome {
        Ok((report, _)) => {
            let m = &report.metrics;
            row.score = report.score(rank_by);
            row.total_return = Some(m.total_return);
            row.sharpe = Some(m.sharpe);
            row.max_drawdown = Some(m.max_drawdown);
            row.trades = Some(m.trades);
            row.equity = report.equity;
        }
        Err(e) => row.error = Some(error_chain(&e)),
    }
    row
}

fn ranking_table(rows: &[SweepRow], rank_by: &str) -> String {
    let mut out = format!("| rank | {rank_by} | total return | sharpe | max drawdown | trades | parameters |\n");
    out.push_str("|---:|---:|---:|---:|---:|---:|---|\n");
    let num =
        |v: Option<f64>, scale: f64, digits: usize| v.map_or("—".to_owned(), |v| format!("{:.*}", digits, v * scale));
    for (rank, r) in rows.iter().enumerate() {
        let params = match &r.error {
            Some(e) => format!("{} (failed: {e})", r.params),
            None => r.params.clone(),
        };
        out.push_str(&format!(
            "| {} | {} | {} % | {} | {} % | {} | {} |\n",
            rank + 1,
            num(r.score, 1.0, 4),
            num(r.total_return, 100.0, 4),
            num(r.sharpe, 1.0, 3),
            num(r.max_drawdown, 100.0, 4),
            r.trades.map_or("—".to_owned(), |t| t.to_string()),
            params.replace('|', "\\|")
        ));
    }
    out
}

/// An error and its causes on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(index: usize, score: Option<f64>, error: Option<&str>) -> SweepRow {
        SweepRow {
            index,
            params: format!("strategy.fast={index}"),
            run_dir: format!("{index:03}"),
            score,
            total_return: score,
            sharpe: Some(1.0),
            max_drawdown: Some(0.01),
            trades: Some(3),
            error: error.map(str::to_owned),
            equity: Vec::new(),
        }
    }

    #[test]
    fn the_ranking_table_shows_every_row_and_why_a_run_failed() {
        let table = ranking_table(&[row(1, Some(0.02), None), row(0, None, Some("bad window"))], "total_return");
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert!(lines[2].starts_with("| 1 | 0.0200 | 2.0000 % | 1.000 | 1.0000 % | 3 | strategy.fast=1 |"), "{table}");
        assert!(lines[3].contains("— |") && lines[3].contains("(failed: bad window)"), "{table}");
    }

    #[test]
    fn an_error_chain_reads_on_one_line_without_repeats() {
        let inner = std::io::Error::other("disk full");
        let e = RunError::Io { path: "x/report.json".into(), source: inner };
        assert_eq!(error_chain(&e), "x/report.json: disk full");
    }
}
