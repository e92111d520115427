//! What a finished run says about itself, for a terminal.

use std::path::Path;

use tickloop_backtest::Report;

use crate::Manifest;

/// The summary a finished run prints: one labelled line per aspect (data, cleaning, alerts
/// and their quality, model, each walk-forward fold, returns, risk, speed, where the report is).
pub fn summary_rows(report: &Report, info: &Manifest, dir: &Path) -> Vec<(&'static str, String)> {
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
    if let Some(in_sample) = &report.in_sample {
        rows.insert(1, ("IN-SAMPLE", in_sample.warning()));
    }
    if let Some(b) = &report.benchmark {
        let at = rows.iter().position(|(k, _)| *k == "sharpe (annualised)").map_or(rows.len(), |i| i + 1);
        rows.insert(
            at,
            (
                "vs benchmark",
                format!(
                    "{} {:+.4} %: excess {:+.4} %, beta {:.3}, information ratio {:.3}",
                    b.name,
                    b.total_return * 100.0,
                    b.excess_return * 100.0,
                    b.beta,
                    b.information_ratio
                ),
            ),
        );
    }
    if let Some(a) = &report.model_accuracy {
        let at = rows.iter().position(|(k, _)| *k == "model").map_or(rows.len(), |i| i + 1);
        rows.insert(
            at,
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
    rows
}
