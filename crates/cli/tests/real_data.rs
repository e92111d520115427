//! Backtests over real prices, gaps included: SPY minute bars (nights, weekends and quiet
//! minutes missing) and 20 years of S&P 500 daily bars (weekends and holidays missing).

mod common;

use std::path::PathBuf;

use common::{ok, tickloop};
use serde_json::Value;

fn data(name: &str) -> PathBuf {
    tickloop_testkit::manifest_dir().join("tests/data").join(name)
}

/// Imports `csv` as `symbol`, backtests `strategy` over `[start, end)`, returns report.json
/// and the import's summary line.
fn import_and_backtest(csv: &str, symbol: &str, tz: &str, start: &str, end: &str, extra: &str) -> (Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let imported = ok(tickloop()
        .args(["import-csv", "--symbol", symbol, "--tz", tz, "--csv"])
        .arg(data(csv))
        .arg("--lake")
        .arg(&lake));
    let experiment = dir.path().join("real.toml");
    std::fs::write(
        &experiment,
        format!(
            r#"
name = "real-{symbol}"
[data]
lake = "{}"
start = "{start}"
end = "{end}"
{extra}
"#,
            lake.display()
        ),
    )
    .unwrap();
    let runs = dir.path().join("runs");
    ok(tickloop().arg("backtest").arg("--experiment").arg(&experiment).arg("--runs-dir").arg(&runs));
    let run = std::fs::read_dir(&runs).unwrap().next().unwrap().unwrap().path();
    (serde_json::from_slice(&std::fs::read(run.join("report.json")).unwrap()).unwrap(), imported)
}

/// A report timestamp (nanoseconds since the epoch) in RFC 3339.
fn ts(value: &Value) -> String {
    tickloop_core::Timestamp::from_nanos(value.as_i64().expect("a timestamp")).to_string()
}

fn metric(report: &Value, name: &str) -> f64 {
    report["metrics"][name].as_f64().unwrap_or_else(|| panic!("metric {name}: {report}"))
}

#[test]
fn spy_minute_bars_with_their_gaps_backtest_end_to_end() {
    let (report, imported) = import_and_backtest(
        "spy-minute-2011.csv",
        "SPY",
        "UTC", // its volume surges at 14:31 and 21:00: the US open and close in UTC
        "2011-01-01T00:00:00Z",
        "2011-03-01T00:00:00Z",
        r#"
[pipeline]
features = ["log_return"]
[strategy]
kind = "ma_crossover"
fast = 10
slow = 60
allow_short = true
[execution]
fee_per_share = 0.005
slippage_range_share = 0.5
max_participation = 0.1
"#,
    );
    assert!(imported.contains("imported 14180 of 14180 rows"), "{imported}");
    assert_eq!(report["data"]["ticks"], 14180);
    assert_eq!(report["data"]["symbols"], 1);
    assert!(metric(&report, "trades") > 10.0, "the crossover trades on real minutes");
    for name in ["total_return", "sharpe", "max_drawdown", "hit_rate", "exposure"] {
        assert!(metric(&report, name).is_finite(), "{name} is a number");
    }
    // One equity sample per minute that had data, not per wall-clock minute: the gaps
    // (nights, weekends) are not filled with flat samples.
    let samples = report["equity"].as_array().unwrap().len();
    assert!(samples <= 14180 + 1, "{samples} samples for 14,180 minutes of data");
    let first = ts(&report["data"]["first_ts"]);
    assert!(first.starts_with("2011-01-03T09:01"), "the file's first bar, 09:01 UTC (04:01 New York): {first}");
    assert!(metric(&report, "max_drawdown_secs") > 0.0);
}

#[test]
fn twenty_years_of_sp500_daily_bars_backtest_end_to_end() {
    let (report, imported) = import_and_backtest(
        "sp500-daily-1999-2018.csv",
        "SPX",
        "America/New_York",
        "1999-01-01T00:00:00Z",
        "2019-01-01T00:00:00Z",
        r#"
[pipeline]
features = ["log_return"]
[strategy]
kind = "ma_crossover"
fast = 50
slow = 200
[execution]
latency_ms = 0
[report]
sample_secs = 86400
periods_per_year = 252.0
"#,
    );
    assert!(imported.contains("imported 5031 of 5031 rows"), "{imported}");
    assert_eq!(report["data"]["ticks"], 5031);
    assert!(ts(&report["data"]["last_ts"]).starts_with("2018-"));
    // The 50/200-day crossover is the textbook trend rule: it trades a few dozen times in
    // 20 years and, long only, sits out most of 2001–02 and 2008.
    let trades = metric(&report, "trades");
    assert!((5.0..200.0).contains(&trades), "{trades} trades");
    let drawdown = metric(&report, "max_drawdown");
    assert!(drawdown > 0.05 && drawdown < 0.5, "max drawdown {drawdown}: not the index's 57 %");
    let exposure = metric(&report, "exposure");
    assert!(exposure > 0.3 && exposure < 1.0, "invested part of the time: {exposure}");
    let samples = report["equity"].as_array().unwrap().len();
    assert!((5000..=5032).contains(&samples), "one sample per trading day, weekends skipped: {samples}");
}
