//! The data and our side of `cargo xtask bench gbm`: simulates a market, runs the pipeline
//! to a dataset (the `default` feature set, 60 s labels), writes train/test CSVs for the
//! Python peers (xgboost, lightgbm), then fits our booster with the same settings and
//! prints its timings and validation loss as JSON.
//!
//! `cargo run --release -p tickloop-gbm --example compare -- <out dir> [symbols] [hours] [threads]`

#![allow(clippy::print_stdout)]

use std::io::Write;
use std::time::Instant;

use linfa::prelude::*;
use ndarray::{Array1, Array2};
use tickloop_core::Timestamp;
use tickloop_features::FeatureSetDef;
use tickloop_gbm::GbmParams;
use tickloop_models::{Fold, Normalizer};
use tickloop_pipeline::{AlertConfig, PipelineConfig, collect_dataset};
use tickloop_sim::{MarketConfig, MarketSim};

/// Timings are the best of this many runs.
const REPEATS: usize = 3;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = std::path::PathBuf::from(args.first().expect("usage: compare <out dir> [symbols] [hours] [threads]"));
    let arg = |i: usize, d: usize| args.get(i).map_or(d, |s| s.parse().expect("a number"));
    let (symbols, hours, threads) = (arg(1, 100), arg(2, 6), arg(3, 1));
    std::fs::create_dir_all(&out).unwrap();

    let start = Timestamp::parse("2024-01-02T14:30:00Z").unwrap();
    let end = start.add_nanos(hours as i64 * 3_600_000_000_000);
    let mut sim = MarketSim::new(MarketConfig { symbols, ..MarketConfig::default() }, start, end).unwrap();
    let config = PipelineConfig {
        features: FeatureSetDef::builtin("default").unwrap().features,
        alerts: AlertConfig::none(),
        ..PipelineConfig::default()
    };
    let data = collect_dataset(&config, &mut sim, 60, 10).unwrap().complete_rows();
    let fold = Fold::holdout(&data.ts, 0.2, 60);
    let normalizer = Normalizer::fit(&data.select(&fold.train));
    let matrix = |rows: &[usize]| {
        let mut x = Vec::with_capacity(rows.len() * data.width());
        for &i in rows {
            let mut row = data.row(i).to_vec();
            normalizer.apply(&mut row);
            x.extend(row);
        }
        let y: Array1<f64> = rows.iter().map(|&i| data.labels[i]).collect();
        (Array2::from_shape_vec((rows.len(), data.width()), x).unwrap(), y)
    };
    let (x, y) = matrix(&fold.train);
    let (xt, yt) = matrix(&fold.test);
    for (name, x, y) in [("train.csv", &x, &y), ("test.csv", &xt, &yt)] {
        let mut f = std::io::BufWriter::new(std::fs::File::create(out.join(name)).unwrap());
        for (row, label) in x.rows().into_iter().zip(y) {
            let cells: Vec<String> = row.iter().map(|v| format!("{v:?}")).collect();
            writeln!(f, "{:?},{}", label, cells.join(",")).unwrap();
        }
    }

    // The same settings the Python script gives xgboost and lightgbm: 300 rounds, depth 3,
    // learning rate 0.05, 255 bins, L2 10, 100-row leaves, subsample 0.8, no early stopping.
    let params = GbmParams { validation_fraction: 0.0, threads, ..GbmParams::default() };
    let model = params.fit(&Dataset::new(x.clone(), y.clone())).unwrap();
    let fit_secs = best_of(|| drop(params.fit(&Dataset::new(x.clone(), y.clone())).unwrap()));
    // Prediction on as many threads as training.
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let p = pool.install(|| model.predict(&xt));
    let predict_secs = best_of(|| drop(pool.install(|| model.predict(&xt))));
    let rmse = ((&p - &yt).mapv(|e| e * e).mean().unwrap()).sqrt();
    let zero_rmse = (yt.mapv(|e| e * e).mean().unwrap()).sqrt();
    println!(
        "{}",
        serde_json::json!({
            "library": "tickloop-gbm", "threads": threads,
            "train_rows": x.nrows(), "test_rows": xt.nrows(), "features": x.ncols(),
            "fit_secs": fit_secs, "predict_secs": predict_secs, "test_rmse": rmse, "zero_rmse": zero_rmse,
        })
    );
}

/// The best of `REPEATS` timings of `run`, on both sides (the peers' script does the same):
/// this VM's speed drifts by tens of per cent between seconds.
fn best_of(mut run: impl FnMut()) -> f64 {
    (0..REPEATS)
        .map(|_| {
            let t = Instant::now();
            run();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}
