//! `tickloop backtest` over an experiment with a `[sweep]` grid: one backtest per
//! combination, run in parallel, each written to its own run directory as it finishes, then
//! ranked.
//!
//! Memory stays flat in the number of combinations: a worker holds one backtest at a time
//! (streaming its data from the lake), and what the main thread keeps per finished run is
//! one summary row; everything else is on disk.

use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use anyhow::Context;
use serde::Serialize;
use tickloop_backtest::{ExperimentConfig, SweepPoint};
use tickloop_lake::Lake;

/// One finished combination, as `results.jsonl` and the ranking hold it.
#[derive(Debug, Clone, Serialize)]
struct SweepRow {
    index: usize,
    params: String,
    run_dir: String,
    /// The ranking metric's value (`None` when the run failed).
    score: Option<f64>,
    total_return: Option<f64>,
    sharpe: Option<f64>,
    max_drawdown: Option<f64>,
    trades: Option<u64>,
    wall_secs: Option<f64>,
    error: Option<String>,
}

pub fn run(
    config: &ExperimentConfig,
    experiment_file: &Path,
    lake: &Lake,
    lake_root: &str,
    runs_dir: &Path,
    jobs: Option<usize>,
) -> anyhow::Result<()> {
    let sweep = config.sweep.as_ref().expect("called for sweeps");
    let points = config.sweep_points();
    let jobs = jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .clamp(1, points.len().max(1));
    let stamp: String = crate::backtest::wall_now().to_string().chars().take(19).filter(char::is_ascii_digit).collect();
    let dir = runs_dir.join(format!("{}-sweep-{stamp}", crate::backtest::slug(&config.name)));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join("sweep.toml"), toml::to_string_pretty(config)?)?;
    eprintln!(
        "sweep: {} combinations of {} on {jobs} workers, ranked by {} → {}",
        points.len(),
        sweep.grid.keys().cloned().collect::<Vec<_>>().join(", "),
        sweep.rank_by,
        dir.display()
    );
    let bar = indicatif::ProgressBar::new(points.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "sweep    [{elapsed_precise}] {bar:40.cyan/blue} {pos}/{len} backtests (eta {eta}) {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );

    let results_path = dir.join("results.jsonl");
    let mut results = std::io::BufWriter::new(
        std::fs::File::create(&results_path).with_context(|| format!("creating {}", results_path.display()))?,
    );
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<SweepRow>();
    let mut rows = Vec::with_capacity(points.len());
    std::thread::scope(|scope| -> anyhow::Result<()> {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (points, next, dir) = (&points, &next, &dir);
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
            serde_json::to_writer(&mut results, &row)?;
            results.write_all(b"\n")?;
            results.flush()?;
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
    std::fs::write(dir.join("ranking.md"), &table)?;
    let mut ranking = serde_json::to_vec_pretty(&rows)?;
    ranking.push(b'\n');
    std::fs::write(dir.join("ranking.json"), ranking)?;
    println!("\n{table}");
    let failed = rows.iter().filter(|r| r.error.is_some()).count();
    println!(
        "{} backtests ({failed} failed) from {}; ranking in {}",
        rows.len(),
        experiment_file.display(),
        dir.join("ranking.md").display()
    );
    Ok(())
}

fn run_point(point: &SweepPoint, rank_by: &str, lake: &Lake, lake_root: &str, dir: &Path) -> SweepRow {
    let run_dir = dir.join(format!("{:03}", point.index));
    let mut row = SweepRow {
        index: point.index,
        params: point.label(),
        run_dir: run_dir.display().to_string(),
        score: None,
        total_return: None,
        sharpe: None,
        max_drawdown: None,
        trades: None,
        wall_secs: None,
        error: None,
    };
    let outcome = point
        .config
        .as_ref()
        .map_err(|e| anyhow::anyhow!("{e}"))
        .and_then(|config| crate::backtest::execute(config, None, lake, lake_root, &run_dir, false));
    match outcome {
        Ok((report, manifest)) => {
            let m = &report.metrics;
            row.score = report.score(rank_by);
            row.total_return = Some(m.total_return);
            row.sharpe = Some(m.sharpe);
            row.max_drawdown = Some(m.max_drawdown);
            row.trades = Some(m.trades);
            row.wall_secs = Some(manifest.wall_secs);
        }
        Err(e) => row.error = Some(format!("{e:#}")),
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
