//! The `tickloop` binary end to end: what a user types, what lands on disk.

mod common;

use common::{ok, tickloop};

use std::path::Path;
use std::process::Command;

fn experiment(dir: &Path, lake: &Path) -> std::path::PathBuf {
    let path = dir.join("exp.toml");
    std::fs::write(
        &path,
        format!(
            r#"
name = "tiny"
[data]
lake = "{}"
start = "2024-01-02T14:30:00Z"
end = "2024-01-02T15:10:00Z"
[sim]
seed = 7
symbols = 12
[strategy]
kind = "ma_crossover"
fast = 30
slow = 120
"#,
            lake.display()
        ),
    )
    .unwrap();
    path
}

/// `tickloop backtest --experiment EXP --runs-dir RUNS --generate-missing`.
fn backtest(exp: &Path, runs: &Path) -> Command {
    let mut cmd = tickloop();
    cmd.arg("backtest").arg("--experiment").arg(exp).arg("--runs-dir").arg(runs).arg("--generate-missing");
    cmd
}

fn run_dirs(runs: &Path) -> Vec<std::path::PathBuf> {
    let mut dirs: Vec<_> = std::fs::read_dir(runs).unwrap().map(|e| e.unwrap().path()).collect();
    dirs.sort();
    dirs
}

#[test]
fn every_subcommand_has_help_with_defaults() {
    for sub in [
        &[][..],
        &["sim"],
        &["backtest"],
        &["features"],
        &["import-csv"],
        &["land"],
        &["etl-features"],
        &["feed"],
        &["sql"],
        &["athena-ddl"],
    ] {
        let text = ok(tickloop().args(sub).arg("--help"));
        assert!(text.contains("Usage"), "{sub:?}: {text}");
    }
    assert!(ok(tickloop().args(["sim", "--help"])).contains("[default: 2024-01-02T14:30:00Z]"));
}

/// Twice, on 1 thread and on 3: the same bytes.
#[test]
fn same_experiment_twice_gives_byte_identical_reports() {
    let dir = tempfile::tempdir().unwrap();
    let (lake, runs) = (dir.path().join("lake"), dir.path().join("runs"));
    let exp = experiment(dir.path(), &lake);
    for threads in ["1", "3"] {
        let out = ok(backtest(&exp, &runs).args(["--threads", threads]));
        assert!(out.contains("sharpe"), "{out}");
    }
    let dirs = run_dirs(&runs);
    assert_eq!(dirs.len(), 2, "each run gets its own directory");
    let a = std::fs::read(dirs[0].join("report.json")).unwrap();
    let b = std::fs::read(dirs[1].join("report.json")).unwrap();
    assert!(a == b, "report.json differs between identical runs");
    let html = std::fs::read_to_string(dirs[0].join("report.html")).unwrap();
    assert!(html == std::fs::read_to_string(dirs[1].join("report.html")).unwrap(), "report.html differs");
    assert_eq!(
        html.matches("<svg").count(),
        9,
        "equity, drawdown, rolling Sharpe and volatility, exposure, turnover, returns, per-symbol and alert charts"
    );
    assert_eq!(html.matches("class=\"bar\"").count(), 12, "one bar per symbol");
    for png in [
        "equity.png",
        "drawdown.png",
        "rolling_sharpe.png",
        "rolling_volatility.png",
        "exposure.png",
        "turnover.png",
        "returns.png",
        "symbols.png",
        "alerts.png",
    ] {
        let bytes = std::fs::read(dirs[0].join(png)).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 5_000, "{png}: {} bytes", bytes.len());
        assert!(bytes == std::fs::read(dirs[1].join(png)).unwrap(), "{png} differs between identical runs");
    }
    assert!(html.contains("class=\"series\" d=\"M"), "the equity curve has points");
    let trades = std::fs::read_to_string(dirs[0].join("trades.csv")).unwrap();
    assert!(trades == std::fs::read_to_string(dirs[1].join("trades.csv")).unwrap(), "trades.csv differs");
    assert!(trades.starts_with("ts,symbol,side,quantity,price,notional,fee\n"), "{trades}");
    let report: serde_json::Value = serde_json::from_slice(&a).unwrap();
    assert_eq!(report["data"]["ticks"], 12 * 40 * 60);
    assert!(report["metrics"]["trades"].as_u64().unwrap() > 0, "the strategy traded");
    assert_eq!(trades.lines().count() as u64 - 1, report["metrics"]["trades"].as_u64().unwrap(), "a line per fill");
    let benchmark = &report["benchmark"];
    assert_eq!(benchmark["name"], "equal-weight buy-and-hold of 12 symbols");
    let excess = report["metrics"]["total_return"].as_f64().unwrap() - benchmark["total_return"].as_f64().unwrap();
    assert!((benchmark["excess_return"].as_f64().unwrap() - excess).abs() < 1e-12, "{benchmark}");
    assert!(benchmark["correlation"].as_f64().unwrap().abs() <= 1.0 + 1e-9, "{benchmark}");
    assert_eq!(benchmark["equity"].as_array().unwrap().len(), report["equity"].as_array().unwrap().len());
    let activity = report["activity"].as_array().unwrap();
    assert_eq!(activity.len(), report["equity"].as_array().unwrap().len(), "exposure and turnover at every sample");
    let traded: f64 = activity.iter().map(|a| a["turnover"].as_f64().unwrap()).sum();
    let turnover = report["metrics"]["turnover"].as_f64().unwrap();
    assert!(
        (traded - turnover).abs() < 1e-9 * turnover.max(1.0),
        "per-sample turnover adds up: {traded} vs {turnover}"
    );
    assert!(dirs[0].join("config.toml").exists() && dirs[0].join("manifest.json").exists());
    let symbols = report["symbols"].as_array().unwrap();
    assert_eq!(symbols.len(), 12);
    let pnl: f64 = symbols.iter().map(|s| s["pnl"].as_f64().unwrap()).sum();
    let change = report["metrics"]["final_equity"].as_f64().unwrap() - 1_000_000.0;
    assert!((pnl - change).abs() < 1e-6 * 1_000_000.0, "per-symbol P&L {pnl} adds up to the equity change {change}");
    let quality = &report["alert_quality"];
    assert!(quality["volume_spike"]["events"].as_u64().unwrap() > 0, "the simulator planted spikes: {quality}");
    let config = std::fs::read_to_string(dirs[0].join("config.toml")).unwrap();
    assert!(config.contains("sma_120"), "resolved config lists the features the strategy needed:\n{config}");
}

/// `tickloop train --model seasonal` fits the alert rules' baseline from the lake and shows
/// the fit; a backtest that names it in `[pipeline.alerts]` judges volume by its season, and
/// one that names a missing baseline says which.
#[test]
fn a_seasonal_baseline_trains_from_the_lake_and_shapes_the_backtests_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let (lake, runs) = (dir.path().join("lake"), dir.path().join("runs"));
    let exp = experiment(dir.path(), &lake);
    ok(&mut backtest(&exp, &runs)); // simulates the lake
    let models = dir.path().join("models/seasonal");
    let fit = ok(tickloop().args(["train", "--model", "seasonal", "--lake"]).arg(&lake).arg("--out").arg(&models));
    assert!(fit.contains("seasonal baseline: 12 symbols over 1 days"), "{fit}");
    assert!(fit.contains("saved seasonal/v1") && fit.contains("14:30"), "the fit by time of day: {fit}");
    let card: serde_json::Value =
        serde_json::from_slice(&std::fs::read(models.join("v1/config.json")).unwrap()).unwrap();
    assert_eq!((card["kind"].as_str(), card["fit"]["symbols"].as_u64()), (Some("seasonal"), Some(12)));
    assert!(models.join("v1/profiles.json").is_file());

    let with_baseline = |baseline: &Path| {
        let path = dir.path().join("seasonal.toml");
        let text = std::fs::read_to_string(&exp).unwrap();
        let alerts = format!(
            "\n[pipeline.alerts]\nbaseline = \"{}\"\ncooldown_secs = 60\nvolume_spike = {{ min_ratio = 2.0, min_sigmas = 1.0, window = \"60s\", persist = 1, of = 1 }}\n",
            baseline.display()
        );
        std::fs::write(&path, text + &alerts).unwrap();
        path
    };
    let runs2 = dir.path().join("runs2");
    ok(&mut backtest(&with_baseline(&models), &runs2));
    let run = &run_dirs(&runs2)[0];
    let alerts = std::fs::read_to_string(run.join("alerts.jsonl")).unwrap();
    assert!(alerts.contains("seasonally adjusted by seasonal/v1"), "{alerts}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["alert_rates"]["symbol_days"], 12);
    let spikes = &report["alert_quality"]["volume_spike"];
    assert!(spikes["f1"].as_f64().is_some() && spikes.get("delay_p50_secs").is_some(), "{spikes}");

    let missing = dir.path().join("models/nothing");
    let out = backtest(&with_baseline(&missing), &dir.path().join("runs3")).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("alert baseline") && stderr.contains("models/nothing"),
        "{stderr}"
    );
}

#[test]
fn a_run_reproduces_from_its_manifest_and_a_changed_input_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (lake, runs) = (dir.path().join("lake"), dir.path().join("runs"));
    let exp = experiment(dir.path(), &lake);
    ok(&mut backtest(&exp, &runs));
    let original = run_dirs(&runs)[0].clone();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(original.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["sim_seed"], 7);
    assert_eq!(manifest["config_sha256"].as_str().unwrap().len(), 64);
    assert!(manifest["data_fingerprint"].as_str().is_some_and(|f| !f.is_empty()));

    let again = ok(tickloop().arg("backtest").arg("--reproduce").arg(&original).arg("--runs-dir").arg(&runs));
    assert!(again.contains("reproduced: report.json is byte-identical"), "{again}");
    let dirs = run_dirs(&runs);
    assert_eq!(dirs.len(), 2);
    assert_eq!(
        std::fs::read(dirs[0].join("report.json")).unwrap(),
        std::fs::read(dirs[1].join("report.json")).unwrap()
    );

    // Someone edits the saved config: the re-run differs, and says why.
    let config = std::fs::read_to_string(original.join("config.toml")).unwrap();
    std::fs::write(original.join("config.toml"), config.replace("fee_bps = 0.5", "fee_bps = 5.0")).unwrap();
    let out =
        tickloop().arg("backtest").arg("--reproduce").arg(&original).arg("--runs-dir").arg(&runs).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not reproduced") && err.contains("config"), "{err}");
}

/// A grid of 2 × 3 runs in parallel; every member's report equals what the same config gives
/// on its own (so parallel runs do not disturb each other), an invalid member fails alone,
/// and the ranking is ordered by the chosen metric.
#[test]
fn a_sweep_runs_every_combination_in_parallel_and_ranks_them() {
    let dir = tempfile::tempdir().unwrap();
    let (lake, runs) = (dir.path().join("lake"), dir.path().join("runs"));
    let exp = experiment(dir.path(), &lake);
    let mut text = std::fs::read_to_string(&exp).unwrap();
    text.push_str("[sweep]\nrank_by = \"total_return\"\n[sweep.grid]\n\"strategy.fast\" = [20, 60, 150]\n\"execution.fee_bps\" = [0.0, 2.0]\n");
    std::fs::write(&exp, text).unwrap();
    let out = ok(backtest(&exp, &runs).args(["--jobs", "2"]));
    assert!(out.contains("6 backtests (2 failed)"), "fast=150 ≥ slow=120 fails, twice: {out}");
    let sweep_dir = run_dirs(&runs).into_iter().find(|d| d.join("ranking.json").exists()).unwrap();
    let ranking: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(sweep_dir.join("ranking.json")).unwrap()).unwrap();
    assert_eq!(ranking.len(), 6);
    let scores: Vec<f64> = ranking.iter().filter_map(|r| r["score"].as_f64()).collect();
    assert_eq!(scores.len(), 4);
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "ranked best first: {scores:?}");
    assert!(ranking[4]["error"].as_str().unwrap().contains("fast < slow"), "{:?}", ranking[4]);
    let lines = std::fs::read_to_string(sweep_dir.join("results.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 6, "every result streamed to disk");
    assert!(std::fs::read_to_string(sweep_dir.join("ranking.md")).unwrap().contains("| 1 |"));
    // ranking.html: the metric over fee × fast (the grid's first two keys), failed cells
    // marked, and the four runs that finished as equity curves.
    let page = std::fs::read_to_string(sweep_dir.join("ranking.html")).unwrap();
    assert_eq!(page.matches("<rect class=\"cell\"").count(), 6, "{page}");
    assert_eq!(page.matches(">—</text>").count(), 2, "the two failed runs");
    assert_eq!(page.matches("<path class=\"top-run\"").count(), 4);
    assert!(page.contains("execution.fee_bps") && page.contains("strategy.fast"));
    if let Some(browser) = chromium() {
        checked_in_browser(&browser, &page, dir.path());
    }

    // Member 0 (fee 0, fast 20) on its own gives the same bytes.
    let member = sweep_dir.join("000");
    let alone = dir.path().join("alone");
    ok(tickloop().arg("backtest").arg("--experiment").arg(member.join("config.toml")).arg("--runs-dir").arg(&alone));
    let solo = run_dirs(&alone)[0].join("report.json");
    assert_eq!(std::fs::read(member.join("report.json")).unwrap(), std::fs::read(solo).unwrap());
    let config = std::fs::read_to_string(member.join("config.toml")).unwrap();
    assert!(config.contains("fast = 20") && config.contains("fee_bps = 0.0"), "{config}");
}

#[test]
fn same_seed_gives_the_same_bytes_and_a_missing_lake_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let sim = |lake: &Path, seed: &str| {
        ok(tickloop().args(["sim", "--symbols", "5", "--duration", "20m", "--seed", seed, "--lake"]).arg(lake));
        let file = lake.join("raw/ticks/date=2024-01-02/hour=14/part-0.parquet");
        std::fs::read(file).unwrap()
    };
    let (a, b, c) = (sim(&dir.path().join("a"), "1"), sim(&dir.path().join("b"), "1"), sim(&dir.path().join("c"), "2"));
    assert!(a == b, "same seed, different bytes");
    assert!(a != c);
    assert!(dir.path().join("a/labels/market.json").exists());

    let exp = experiment(dir.path(), &dir.path().join("empty"));
    let out = tickloop().arg("backtest").arg("--experiment").arg(&exp).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--generate-missing"), "{err}");
}

#[test]
fn bad_records_in_the_lake_are_dead_lettered_with_reasons_and_the_rest_is_used() {
    use tickloop_core::{Price, SymbolTable, Tick, Timestamp, Volume};
    use tickloop_lake::{HourPartition, Lake, LakeTable, TickFileWriter};

    let dir = tempfile::tempdir().unwrap();
    let lake_root = dir.path().join("lake");
    let lake = Lake::local(&lake_root);
    let mut table = SymbolTable::new();
    let id = table.intern_with("GOOD", "XNAS", "USD").unwrap();
    let start = Timestamp::parse("2024-01-02T14:30:00Z").unwrap();
    let mut ticks: Vec<Tick> = (1..=600)
        .map(|s| {
            let p = Price(100.0 + (s as f64 / 7.0).sin());
            let ts = start.add_nanos(s * 1_000_000_000);
            Tick { symbol: id, ts_event: ts, ts_recv: ts, open: p, high: p, low: p, close: p, volume: Volume(10.0) }
        })
        .collect();
    ticks[100].close = Price(f64::NAN);
    ticks[200].low = Price(-1.0);
    ticks[300].volume = Volume(-5.0);
    let mut w =
        TickFileWriter::create(lake.object(LakeTable::RawTicks, HourPartition::containing(start), "part-0.parquet"))
            .unwrap();
    w.write_run(table.meta(id), &ticks).unwrap();
    w.finish().unwrap();

    let exp = experiment(dir.path(), &lake_root);
    let runs = dir.path().join("runs");
    let out = ok(tickloop().arg("backtest").arg("--experiment").arg(&exp).arg("--runs-dir").arg(&runs));
    assert!(out.contains("3 rejected"), "{out}");
    let run = &run_dirs(&runs)[0];
    let letters = std::fs::read_to_string(run.join("rejects.jsonl")).unwrap();
    let reasons: Vec<String> = letters
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["reason"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(reasons, ["not_finite", "non_positive_price", "negative_volume"]);
    assert!(letters.contains("\"symbol\":\"GOOD\"") && letters.contains("\"ohlcv\":["), "{letters}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["data"]["ticks"], 597, "every good tick was used");
}

/// `tickloop features` on the same daily S&P 500 bars TA-Lib saw gives TA-Lib's numbers,
/// with empty cells exactly where TA-Lib has NaN.
#[test]
fn features_command_reproduces_talib_on_a_yahoo_style_csv() {
    let golden_path = tickloop_testkit::manifest_dir().join("../features/tests/golden/sp500_daily.csv");
    let golden = std::fs::read_to_string(golden_path).unwrap();
    let mut lines = golden.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    let mut csv = String::from("Date,Open,High,Low,Close,Adj Close,Volume\n");
    for (i, r) in rows.iter().enumerate() {
        let day = tickloop_core::Timestamp::from_secs(915_408_000 + i as i64 * 86_400).to_string();
        csv.push_str(&format!("{},{},{},{},{},{},{}\n", &day[..10], r[0], r[1], r[2], r[3], r[3], r[4]));
    }
    std::fs::write(&input, csv).unwrap();
    let features: Vec<&str> = header[5..].iter().map(|&h| if h == "roc_1" { "return" } else { h }).collect();
    let output = dir.path().join("out.csv");
    ok(tickloop()
        .arg("features")
        .arg("--csv")
        .arg(&input)
        .arg("--out")
        .arg(&output)
        .arg("--features")
        .arg(features.join(",")));
    let text = std::fs::read_to_string(&output).unwrap();
    let mut out_lines = text.lines();
    let out_header: Vec<&str> = out_lines.next().unwrap().split(',').collect();
    assert_eq!(&out_header[..2], ["Date", "Open"]);
    assert_eq!(&out_header[7..], &features[..]);
    let mut compared = 0;
    for (r, line) in rows.iter().zip(out_lines) {
        let cells: Vec<&str> = line.split(',').collect();
        for (k, want) in r[5..].iter().enumerate() {
            let got = cells[7 + k];
            if *want == "nan" {
                assert_eq!(got, "", "{} should be empty while warming up", features[k]);
            } else {
                let (g, w): (f64, f64) = (got.parse().unwrap(), want.parse().unwrap());
                assert!((g - w).abs() <= 1e-9 * w.abs().max(1.0), "{}: {g} vs TA-Lib {w}", features[k]);
                compared += 1;
            }
        }
    }
    assert!(compared > 15_000, "compared {compared} values");
}

/// NinjaTrader minute bars in New York time land as UTC ticks, once, however often the file
/// is imported; bad rows are refused with their line numbers and the rest lands.
#[test]
fn import_csv_converts_zones_refuses_bad_rows_and_is_idempotent() {
    use tickloop_core::{Source, Timestamp};
    use tickloop_lake::{Lake, LakeSource};

    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("spy.csv");
    let mut text = String::new();
    for i in 0..300 {
        let (h, m) = (9 + (30 + i) / 60, (30 + i) % 60);
        let close = if i == 10 { -1.0 } else { 126.0 + i as f64 / 100.0 };
        text.push_str(&format!("20110103 {h:02}{m:02}00;126.35;127.5;125.5;{close};{}\n", 100 + i));
    }
    text.push_str("20110103 093100;126.35;127.5;125.5;126.0;5\n");
    std::fs::write(&csv, text).unwrap();
    let lake = dir.path().join("lake");
    let import = || {
        let out = tickloop()
            .args(["import-csv", "--symbol", "SPY", "--tz", "America/New_York", "--csv"])
            .arg(&csv)
            .arg("--lake")
            .arg(&lake)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (first, errors) = import();
    assert!(first.contains("imported 299 of 301 rows"), "{first}");
    assert!(errors.contains("spy.csv:11: non_positive_price"), "{errors}");
    assert!(errors.contains("spy.csv:301: duplicate"), "{errors}");
    import();
    let mut source = LakeSource::open(&Lake::local(&lake), Timestamp::MIN, Timestamp::MAX).unwrap();
    let ticks: Vec<_> = std::iter::from_fn(|| source.next_tick().unwrap()).collect();
    assert_eq!(ticks.len(), 299, "a second import replaces, never duplicates");
    assert_eq!(ticks[0].ts_event, Timestamp::parse("2011-01-03T14:30:00Z").unwrap());
    assert_eq!(source.symbols().name(ticks[0].symbol), "SPY");
}

/// `tickloop feed` against the broker `cargo xtask test` starts: everything is acknowledged,
/// and the pacing holds the market rate (30 market seconds at 100× take ≥ 0.29 s).
#[test]
fn feed_publishes_the_market_to_kafka_at_the_requested_rate() {
    let Ok(brokers) = std::env::var("KAFKA_BROKERS") else {
        assert!(std::env::var_os("CI").is_none(), "CI must provide KAFKA_BROKERS");
        tickloop_testkit::skip("KAFKA_BROKERS not set (run through `cargo xtask test`)");
        return;
    };
    let topic = format!("feed-test-{}", std::process::id());
    let started = std::time::Instant::now();
    let out = ok(tickloop().args([
        "feed",
        "--brokers",
        &brokers,
        "--topic",
        &topic,
        "--symbols",
        "20",
        "--duration",
        "30s",
        "--rate",
        "100",
    ]));
    assert!(out.contains("published 600 ticks of 20 symbols"), "{out}");
    assert!(started.elapsed() >= std::time::Duration::from_millis(290), "paced: {:?}", started.elapsed());
}

/// The Python with DuckDB that `cargo xtask test` (and so CI) sets up; `None` elsewhere.
fn duckdb_python() -> Option<std::path::PathBuf> {
    let python = std::env::var_os("TICKLOOP_PYTHON").map(std::path::PathBuf::from).or_else(|| {
        let venv = tickloop_testkit::manifest_dir().join("../../.venv/bin/python");
        venv.exists().then_some(venv)
    });
    let usable = python
        .as_ref()
        .is_some_and(|p| Command::new(p).args(["-c", "import duckdb"]).status().is_ok_and(|s| s.success()));
    assert!(usable || std::env::var_os("CI").is_none(), "CI must provide DuckDB (cargo xtask test installs it)");
    python.filter(|_| usable)
}

fn sql(lake: &str, query: &str, format: &str) -> String {
    ok(tickloop().args(["sql", query, "--lake", lake, "--format", format]))
}

/// `tickloop sql` and DuckDB, each reading the lake's files as they are, agree on row counts
/// per partition and on per-symbol VWAP for one hour; a lake on S3 gives the same answers.
#[test]
fn sql_over_the_lake_agrees_with_duckdb_and_works_the_same_on_s3() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let lake_str = lake.to_str().unwrap();
    let sim_args = ["sim", "--symbols", "6", "--start", "2024-01-02T14:30:00Z", "--duration", "2h", "--seed", "5"];
    ok(tickloop().args(sim_args).args(["--lake", lake_str]));
    ok(tickloop().args(["etl-features", "--set", "minimal", "--lake", lake_str]));

    let per_hour = "SELECT date, hour, COUNT(*) AS n FROM ticks GROUP BY date, hour ORDER BY date, hour";
    let vwap = "SELECT symbol, COUNT(*) AS n, SUM(close * volume) / SUM(volume) AS vwap FROM ticks \
                WHERE date = '2024-01-02' AND hour = 15 GROUP BY symbol ORDER BY symbol";
    let ours_hours = sql(lake_str, per_hour, "csv");
    assert_eq!(ours_hours, "date,hour,n\n2024-01-02,14,10800\n2024-01-02,15,21600\n2024-01-02,16,10800\n");
    let ours_vwap = sql(lake_str, vwap, "csv");
    let features = sql(lake_str, "SELECT COUNT(*) AS n, COUNT(sma_60) AS warm FROM features", "json");
    let features: serde_json::Value = serde_json::from_str(features.trim()).unwrap();
    assert_eq!(features["n"], 43200, "one feature row per tick");
    assert_eq!(features["warm"], 43200 - 6 * 59, "sma_60 is null for each symbol's first 59 ticks");

    if let Some(python) = duckdb_python() {
        let script = r#"
import duckdb, sys
lake, query = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute(f"CREATE VIEW ticks AS SELECT * FROM read_parquet('{lake}/raw/ticks/**/*.parquet', hive_partitioning=true)")
for row in con.execute(query).fetchall():
    print(",".join(repr(v) if isinstance(v, float) else str(v) for v in row))
"#;
        let duck = |query: &str| {
            let out = Command::new(&python).args(["-c", script, lake_str, query]).output().unwrap();
            assert!(out.status.success(), "duckdb: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap()
        };
        let duck_hours = duck(per_hour);
        assert_eq!(ours_hours.lines().skip(1).collect::<Vec<_>>(), duck_hours.lines().collect::<Vec<_>>());
        let duck_vwap = duck(vwap);
        let (ours, theirs): (Vec<&str>, Vec<&str>) = (ours_vwap.lines().skip(1).collect(), duck_vwap.lines().collect());
        assert_eq!(ours.len(), 6);
        assert_eq!(ours.len(), theirs.len());
        for (a, b) in ours.iter().zip(&theirs) {
            let (a, b): (Vec<&str>, Vec<&str>) = (a.split(',').collect(), b.split(',').collect());
            assert_eq!(a[..2], b[..2]);
            let (x, y): (f64, f64) = (a[2].parse().unwrap(), b[2].parse().unwrap());
            assert!((x - y).abs() <= 1e-9 * y.abs(), "{}: ours {x} vs DuckDB {y}", a[0]);
        }
    } else {
        tickloop_testkit::skip("the DuckDB comparison: no Python with duckdb (run through `cargo xtask test`)");
    }

    // Clear errors: bad SQL, and a table that has no data yet.
    let bad = tickloop().args(["sql", "SELEC nonsense", "--lake", lake_str]).output().unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("SQL error"), "{}", String::from_utf8_lossy(&bad.stderr));
    let missing = tickloop().args(["sql", "SELECT * FROM predictions", "--lake", lake_str]).output().unwrap();
    let message = String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.status.success());
    assert!(message.contains("ticks (raw/ticks)") && message.contains("predictions (empty"), "{message}");

    // The same market simulated onto S3 answers the same queries identically.
    if let Ok(endpoint) = std::env::var("S3_ENDPOINT") {
        let bucket = std::env::var("S3_BUCKET").unwrap_or_else(|_| "lake".into());
        let url = format!("s3://{bucket}/tests/cli-sql-{}", std::process::id());
        ok(tickloop().args(sim_args).args(["--lake", &url, "--s3-endpoint", &endpoint]));
        let on_s3 = |query: &str| ok(tickloop().args(["sql", query, "--lake", &url, "--format", "csv"]));
        assert_eq!(on_s3(per_hour), ours_hours);
        assert_eq!(on_s3(vwap), ours_vwap);
    } else {
        assert!(std::env::var_os("CI").is_none(), "CI must provide S3_ENDPOINT");
    }
}

#[test]
fn athena_ddl_describes_the_files_the_lake_writes() {
    let ddl = ok(tickloop().args(["athena-ddl", "--lake", "s3://bucket/lake", "--set", "minimal"]));
    assert!(ddl.contains("CREATE EXTERNAL TABLE IF NOT EXISTS tickloop.ticks"), "{ddl}");
    assert!(ddl.contains("'storage.location.template' = 's3://bucket/lake/raw/ticks/date=${date}/hour=${hour}/'"));
    // Every column the DDL declares is in the files, in the same order.
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let lake_str = lake.to_str().unwrap();
    ok(tickloop().args(["sim", "--symbols", "2", "--duration", "5m", "--lake", lake_str]));
    ok(tickloop().args(["etl-features", "--set", "minimal", "--lake", lake_str]));
    for table in ["ticks", "features"] {
        let header = sql(lake_str, &format!("SELECT * FROM {table} LIMIT 1"), "csv");
        let file_columns: Vec<&str> =
            header.lines().next().unwrap().split(',').filter(|c| *c != "date" && *c != "hour").collect();
        let start = ddl.find(&format!("tickloop.{table} (")).unwrap();
        let body = &ddl[start..start + ddl[start..].find("\n)").unwrap()];
        let declared: Vec<&str> = body.lines().skip(1).map(|l| l.trim().split('`').nth(1).unwrap()).collect();
        assert_eq!(declared, file_columns, "{table}");
    }
    let refused = tickloop().args(["athena-ddl", "--lake", "data/lake"]).output().unwrap();
    assert!(!refused.status.success());
}

/// Headless Chromium, if installed (CI installs it); `None` skips the browser checks.
fn chromium() -> Option<std::path::PathBuf> {
    let found = ["chromium", "chromium-browser"].iter().find_map(|name| {
        let ok = Command::new(name).arg("--version").output().is_ok_and(|o| o.status.success());
        ok.then(|| std::path::PathBuf::from(name))
    });
    assert!(found.is_some() || std::env::var_os("CI").is_none(), "CI must provide chromium (.ci/run installs it)");
    found
}

fn headless(browser: &Path, profile: &Path) -> Command {
    let mut cmd = Command::new(browser);
    cmd.args(tickloop_testkit::browser::HEADLESS_FLAGS).arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

/// A real browser opens `report.html` from disk (no network) and renders its charts, at
/// 1,400 px and on a phone.
#[test]
fn report_html_renders_its_charts_in_a_browser() {
    let Some(browser) = chromium() else {
        tickloop_testkit::skip("no chromium");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (lake, runs) = (dir.path().join("lake"), dir.path().join("runs"));
    let exp = experiment(dir.path(), &lake);
    ok(&mut backtest(&exp, &runs));
    let report = run_dirs(&runs)[0].join("report.html");
    let url = format!("file://{}", report.display());
    let dom = ok(headless(&browser, &dir.path().join("profile")).arg("--dump-dom").arg(&url));
    assert!(dom.contains("Backtest: tiny"), "{dom}");
    assert_eq!(dom.matches("<svg").count(), 9);
    assert!(dom.matches("<rect class=\"bin\"").count() == 40, "the return histogram's bins");
    assert!(dom.matches("<path class=\"series\"").count() >= 2, "equity and drawdown drawn");
    assert!(dom.contains("<path class=\"reference\""), "the benchmark beside the equity");
    assert!(dom.contains("equal-weight buy-and-hold of"), "{dom}");
    assert!(dom.contains("Tracking error, information ratio") && dom.contains("Excess return"), "{dom}");
    assert!(dom.contains("<h2 id=\"trades\">") && dom.contains("<td class=\"buy\">buy</td>"), "the trade table");
    // The same page with a script that measures every label: nothing may stick out of its
    // chart or its table cell.
    let dom = checked_in_browser(&browser, &std::fs::read_to_string(&report).unwrap(), dir.path());
    assert!(dom.contains("data-checked=\"yes\""), "the check ran: {dom}");
    assert!(dom.contains("data-sorted=\"true\""), "the symbol table sorts both ways by a clicked column");
    // On a phone: charts scale down with their labels, tables scroll inside their box, and
    // the page never needs sideways scrolling.
    let mut phone = tickloop_testkit::browser::Browser::launch(&browser, &dir.path().join("profile-phone")).unwrap();
    phone.viewport(390, 844, true).unwrap();
    phone.navigate(&url).unwrap();
    phone.wait_for("document.readyState === 'complete'", std::time::Duration::from_secs(20)).unwrap();
    let fits = phone
        .eval(
            "(() => { const w = innerWidth, out = []; \
             if (document.documentElement.scrollWidth > w) out.push(`page ${document.documentElement.scrollWidth} px wide in ${w}`); \
             for (const el of document.querySelectorAll('svg.chart, table, figure, h1, h2, p')) \
               if (el.getBoundingClientRect().right > w + 1) out.push(`${el.tagName} ${el.getBoundingClientRect().right} px`); \
             const svgs = document.querySelectorAll('svg.chart').length; \
             return { out, svgs }; })()",
        )
        .unwrap();
    assert_eq!(fits["out"], serde_json::json!([]), "on a 390 px phone");
    assert_eq!(fits["svgs"], 9);
    if let Some(shots) = std::env::var_os("TICKLOOP_SCREENSHOTS") {
        phone.screenshot(&Path::new(&shots).join("report-phone.png")).unwrap();
    }
    drop(phone);
    let shot = dir.path().join("report.png");
    ok(headless(&browser, &dir.path().join("profile2"))
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1024,1400")
        .arg(&url));
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 20_000, "a rendered page, not a blank one: {} bytes", png.len());
}

/// Run in the page: every SVG text inside its chart's view box, every table cell's text
/// inside the cell (what sticks out is listed in `body[data-overflow]`); then a click on
/// the symbol table's `trades` header, twice (`body[data-sorted]`).
const OVERFLOW_CHECK: &str = r#"
const out = [];
for (const svg of document.querySelectorAll('svg.chart')) {
  const v = svg.viewBox.baseVal;
  for (const t of svg.querySelectorAll('text')) {
    const b = t.getBBox();
    if (b.x < v.x - 0.5 || b.y < v.y - 0.5 || b.x + b.width > v.x + v.width + 0.5 || b.y + b.height > v.y + v.height + 0.5)
      out.push(t.textContent);
  }
}
for (const td of document.querySelectorAll('td')) if (td.scrollWidth > td.clientWidth + 1) out.push(td.textContent);
document.body.setAttribute('data-overflow', JSON.stringify(out));
// Sort the symbol table by trades, twice: most first, then fewest first.
const table = document.getElementById('symbol-table');
const trades = () => Array.from(table.tBodies[0].rows).map(r => parseFloat(r.cells[3].dataset.value));
const ordered = (v, down) => v.every((x, i) => i === 0 || (down ? v[i - 1] >= x : v[i - 1] <= x));
table.querySelectorAll('th')[3].click();
const down = ordered(trades(), true);
table.querySelectorAll('th')[3].click();
document.body.setAttribute('data-sorted', String(down && ordered(trades(), false) && trades().length > 1));
document.body.setAttribute('data-checked', 'yes');
"#;

/// Loads `page` with [`OVERFLOW_CHECK`] in Chromium at 1,400 px (files under `dir`),
/// asserts that no label sticks out of its box, and returns the page's DOM after the script.
fn checked_in_browser(browser: &Path, page: &str, dir: &Path) -> String {
    let checked = dir.join("checked.html");
    std::fs::write(&checked, page.replace("</body>", &format!("<script>{OVERFLOW_CHECK}</script></body>"))).unwrap();
    let dom = ok(headless(browser, &dir.join("profile-checked"))
        .arg("--window-size=1400,1000")
        .arg("--dump-dom")
        .arg(format!("file://{}", checked.display())));
    assert!(dom.contains("data-overflow=\"[]\""), "labels outside their box: {}", overflow(&dom));
    dom
}

/// The `data-overflow` attribute of a dumped page.
fn overflow(dom: &str) -> &str {
    dom.split("data-overflow=\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap_or("(none)")
}

fn http_get(addr: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// Text that sticks out of its box on the dashboard, and whether the page is wider than
/// the viewport (a phone would have to scroll sideways).
const DASHBOARD_OVERFLOW: &str = r#"(() => {
  const out = [];
  for (const el of document.querySelectorAll('td, th, .stat, .panel h2 > *, #legend, #feed li, footer'))
    if (el.offsetParent !== null && el.scrollWidth > el.clientWidth + 1) out.push(el.textContent.slice(0, 60));
  if (document.documentElement.scrollWidth > innerWidth) out.push(`page ${document.documentElement.scrollWidth} px wide in ${innerWidth}`);
  return out;
})()"#;

/// Pixels of `canvas` (an expression) in a colour within 24 of `[r, g, b]`.
fn ink(canvas: &str, [r, g, b]: [u8; 3]) -> String {
    format!(
        "(() => {{ const c = {canvas}; const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0; \
         for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - {r}) + Math.abs(d[i + 1] - {g}) + Math.abs(d[i + 2] - {b}) < 24) n++; return n; }})()"
    )
}

/// The live dashboard, fed by a replay of 1,000 symbols with a model, in Chromium driven
/// over the DevTools protocol: candles, volume and predicted-vs-realised panes with a time
/// axis in the market's zone, alert markers whose text the legend shows, the heatmap of
/// every symbol (a click selects, the URL keeps it), updates as the replay runs, nothing
/// overflowing at 1,400 px or on a phone, and the page's main-thread time while 1,000
/// symbols update every second. (The event stream is tested over HTTP in tickloop-serve.)
#[test]
fn dashboard_draws_candles_predictions_and_alerts_for_1000_symbols_in_a_browser() {
    use serde_json::Value;
    use std::time::Duration;
    use tickloop_testkit::browser::Browser;
    let Some(browser) = chromium() else {
        tickloop_testkit::skip("no chromium");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    ok(tickloop().args(["sim", "--symbols", "1000", "--duration", "6m", "--lake", lake.to_str().unwrap()]));
    // The dashboard's pipeline loads the alert rules' seasonal baseline like every other mode.
    let seasonal = dir.path().join("models/seasonal");
    ok(tickloop().args(["train", "--model", "seasonal", "--lake"]).arg(&lake).arg("--out").arg(&seasonal));
    // A small model trained elsewhere, for predictions to draw.
    let small = dir.path().join("small");
    ok(tickloop().args(["sim", "--symbols", "8", "--duration", "2401s", "--seed", "3", "--lake"]).arg(&small));
    let gbm = dir.path().join("models/gbm");
    ok(tickloop()
        .args(["train", "--model", "gbm", "--features", "log_return,rsi_14", "--iterations", "20", "--lake"])
        .arg(&small)
        .arg("--out")
        .arg(&gbm));
    let exp = dir.path().join("dash.toml");
    std::fs::write(
        &exp,
        format!(
            "name = \"dash\"\n[data]\nlake = \"{}\"\nstart = \"2024-01-02T14:30:00Z\"\nend = \"2024-01-02T14:36:00Z\"\n\
             [pipeline]\nfeatures = [\"log_return\", \"rsi_14\"]\n\
             [pipeline.alerts]\nbaseline = \"{}\"\nvolume_spike = {{ min_ratio = 2.0, min_sigmas = 1.5, window = \"30s\", persist = 1, of = 1 }}\nprice_drop = {{ window = \"30s\", sigmas = 1.0, min_pct = 0.2 }}\n\
             [strategy]\nkind = \"ma_crossover\"\nfast = 10\nslow = 30\n",
            lake.display(),
            seasonal.display()
        ),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let server = Kill(
        tickloop()
            .args(["dashboard", "--replay", lake.to_str().unwrap(), "--speed", "3", "--addr", &addr])
            .arg("--experiment")
            .arg(&exp)
            .arg("--model")
            .arg(&gbm)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let overview = || -> Option<Value> {
        let reply = http_get(&addr, "/api/overview")?;
        serde_json::from_str(reply.split("\r\n\r\n").nth(1)?).ok()
    };
    // Three and a half market minutes in: closed candles, matured predictions, alerts.
    let deadline = std::time::Instant::now() + Duration::from_secs(150);
    let overview = loop {
        if let Some(o) = overview().filter(|o| o["market_time"].as_str() >= Some("2024-01-02T14:33:30Z")) {
            break o;
        }
        assert!(std::time::Instant::now() < deadline, "the replay did not reach 14:33:30");
        std::thread::sleep(Duration::from_millis(250));
    };
    let rows = overview["symbols"].as_array().unwrap();
    assert_eq!(rows.len(), 1000);
    // The symbol with the most alerts, past the first rows (the page's default pick).
    let pick =
        rows.iter().skip(10).max_by_key(|r| r["alerts"].as_u64()).unwrap()["symbol"].as_str().unwrap().to_owned();

    let shots = std::env::var_os("TICKLOOP_SCREENSHOTS").map_or(dir.path().to_path_buf(), std::path::PathBuf::from);
    let mut page = Browser::launch(&browser, &dir.path().join("profile")).unwrap();
    page.viewport(1400, 1000, false).unwrap();
    page.navigate(&format!("http://{addr}/?s={pick}")).unwrap();
    let drawn = format!(
        "document.body.dataset.chartSymbol === '{pick}' && Number(document.body.dataset.chartCandles) >= 3 && \
         Number(document.body.dataset.chartMarkers) >= 1 && realized.data().length >= 1"
    );
    page.wait_for(&drawn, Duration::from_secs(30)).unwrap();
    let eval = |page: &mut Browser, js: &str| page.eval(js).unwrap_or_else(|e| panic!("{e}"));

    // The URL's symbol is the one drawn, with its candles, volume and predictions.
    assert_eq!(eval(&mut page, "document.querySelector('#symbols tr.sel td').textContent"), pick.as_str());
    assert_eq!(eval(&mut page, "chart.panes().length"), 3, "candles, volume, predictions");
    let candles = eval(&mut page, "candles.data().length").as_u64().unwrap();
    assert_eq!(eval(&mut page, "volume.data().length").as_u64(), Some(candles));
    assert!(eval(&mut page, "predicted.data().length").as_u64().unwrap() >= 2);
    assert!(
        eval(
            &mut page,
            "candles.data().every(c => c.high >= Math.max(c.open, c.close) && c.low <= Math.min(c.open, c.close))"
        )
        .as_bool()
        .unwrap()
    );
    let shot = ink("chart.takeScreenshot()", [26, 127, 55]) + " + " + &ink("chart.takeScreenshot()", [192, 57, 43]);
    let candle_pixels = eval(&mut page, &shot).as_u64().unwrap();
    assert!(candle_pixels > 200, "candles drawn in their colours: {candle_pixels} pixels");
    // Time axis and clocks in the market's zone: 14:30 UTC is 09:30 in New York in January.
    assert_eq!(eval(&mut page, "chart.timeScale().options().tickMarkFormatter(1704205800, 3)"), "09:30");
    assert!(eval(&mut page, "document.getElementById('market-time').textContent").as_str().unwrap().ends_with("EST"));
    // Alert markers carry the kind; hovering their candle puts the alert's text in the legend.
    let marker = eval(&mut page, "markers.markers()[0]");
    assert!(["volume spike", "price drop"].iter().any(|k| marker["text"].as_str().unwrap().starts_with(k)), "{marker}");
    let t = marker["time"].as_i64().unwrap();
    let spot = eval(
        &mut page,
        &format!(
            "(() => {{ const r = document.getElementById('chart').getBoundingClientRect(); \
             const c = candles.data().find(c => c.time === {t}); \
             return [r.left + chart.timeScale().timeToCoordinate({t}), r.top + candles.priceToCoordinate(c.close)]; }})()"
        ),
    );
    page.mouse_move(spot[0].as_f64().unwrap(), spot[1].as_f64().unwrap()).unwrap();
    let legend = eval(
        &mut page,
        "new Promise(done => setTimeout(() => done(document.getElementById('legend').textContent), 300))",
    );
    let message = eval(&mut page, &format!("shown.alertsByT.get({t})[0].message"));
    assert!(legend.as_str().unwrap().contains(message.as_str().unwrap()), "{legend} shows {message}");
    // The heatmap: every symbol a cell, coloured; a click selects its symbol and the URL keeps it.
    assert_eq!(eval(&mut page, "heat.cells.length"), 1000);
    let covered = eval(
        &mut page,
        "(() => { const c = document.getElementById('heatmap'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; \
         let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n / (c.width * c.height); })()",
    );
    assert!(covered.as_f64().unwrap() > 0.5, "the heatmap's cells cover it: {covered}");
    let clicked = eval(
        &mut page,
        "(() => { const i = 123, r = document.getElementById('heatmap').getBoundingClientRect(); \
         const x = r.left + (i % heat.cols + 0.5) * heat.size, y = r.top + (Math.floor(i / heat.cols) + 0.5) * heat.size; \
         document.getElementById('heatmap').dispatchEvent(new MouseEvent('click', { clientX: x, clientY: y, bubbles: true })); \
         return heat.cells[i].symbol; })()",
    );
    let clicked = clicked.as_str().unwrap().to_owned();
    assert_ne!(clicked, pick);
    page.wait_for(&format!("document.body.dataset.chartSymbol === '{clicked}'"), Duration::from_secs(10)).unwrap();
    assert_eq!(eval(&mut page, "new URLSearchParams(location.search).get('s')"), clicked.as_str());
    page.navigate(&format!("http://{addr}/?s={pick}")).unwrap();
    page.wait_for(&drawn, Duration::from_secs(30)).unwrap();
    // The rest of the page: the table of 1,000 symbols, badges, the feed reading the seasonal baseline, updates.
    let dom = |page: &mut Browser| eval(page, "document.body.outerHTML").as_str().unwrap().to_owned();
    let prices = |dom: &str| -> Vec<String> {
        dom.split("<td class=\"price\">").skip(1).filter_map(|c| c.split('<').next()).map(str::to_owned).collect()
    };
    let first = dom(&mut page);
    assert_eq!(eval(&mut page, "document.getElementById('shown').textContent"), "1000 of 1000");
    // The table holds only the rows in view; spacers give the scroll box every row's height.
    let in_dom = prices(&first).len();
    assert!((10..200).contains(&in_dom), "a window of rows, not all 1,000: {in_dom}");
    let table_height = eval(&mut page, "document.getElementById('table-box').scrollHeight / rowHeight");
    assert!(table_height.as_f64().unwrap() >= 1000.0, "the scroll box is every row tall: {table_height}");
    let last = eval(
        &mut page,
        "new Promise(done => { const box = document.getElementById('table-box'); box.scrollTop = box.scrollHeight; \
         setTimeout(() => { const rows = document.querySelectorAll('#symbols tbody tr[data-symbol]'); \
         done([rows[rows.length - 1].dataset.symbol, tableRows[tableRows.length - 1].symbol]); }, 200); })",
    );
    assert_eq!(last[0], last[1], "scrolled to the end, the last row is drawn");
    // Sorted by alerts, the busiest symbol comes first with its badge.
    let top = eval(
        &mut page,
        "new Promise(done => { document.querySelector('th[data-key=alerts]').click(); \
         const box = document.getElementById('table-box'); box.scrollTop = 0; \
         setTimeout(() => done(document.querySelector('#symbols tbody tr[data-symbol]').outerHTML), 200); })",
    );
    assert!(top.as_str().unwrap().contains("class=\"badge\""), "alert badges appear: {top}");
    eval(&mut page, "document.querySelector('th[data-key=symbol]').click()");
    let first = dom(&mut page);
    assert!(first.contains("seasonally adjusted by seasonal/v1"), "the feed's volume alerts read the baseline");
    let overflow = eval(&mut page, DASHBOARD_OVERFLOW);
    assert_eq!(overflow, Value::Array(vec![]), "at 1,400 px");
    page.screenshot(&shots.join("dashboard.png")).unwrap();

    // Main-thread time while 1,000 symbols update every second (overview pushes at 1 Hz).
    let (busy0, script0) =
        (page.main_thread_secs("TaskDuration").unwrap(), page.main_thread_secs("ScriptDuration").unwrap());
    let updates0 = eval(&mut page, "Number(document.body.dataset.updates)").as_u64().unwrap();
    let started = std::time::Instant::now();
    std::thread::sleep(Duration::from_secs(10));
    let wall = started.elapsed().as_secs_f64();
    let busy = page.main_thread_secs("TaskDuration").unwrap() - busy0;
    let script = page.main_thread_secs("ScriptDuration").unwrap() - script0;
    let updates = eval(&mut page, "Number(document.body.dataset.updates)").as_u64().unwrap() - updates0;
    eprintln!(
        "dashboard with 1,000 symbols: main thread busy {:.1} % of {wall:.1} s ({:.1} ms per update, script {:.1} ms), {updates} updates",
        100.0 * busy / wall,
        1e3 * busy / updates.max(1) as f64,
        1e3 * script / updates.max(1) as f64
    );
    assert!(updates >= 5, "the page kept updating: {updates} in {wall:.1} s");
    let second = dom(&mut page);
    assert_ne!(prices(&first), prices(&second), "prices moved");

    // A phone: one column, nothing wider than the screen, the chart still drawn.
    page.viewport(390, 844, true).unwrap();
    page.navigate(&format!("http://{addr}/?s={pick}")).unwrap();
    page.wait_for(&drawn, Duration::from_secs(30)).unwrap();
    assert_eq!(eval(&mut page, DASHBOARD_OVERFLOW), Value::Array(vec![]), "on a phone");
    assert!(eval(&mut page, "document.getElementById('chart').clientWidth").as_u64().unwrap() <= 390);
    assert!(eval(&mut page, &shot).as_u64().unwrap() > 100, "candles drawn on a phone");
    page.screenshot(&shots.join("dashboard-phone.png")).unwrap();
    drop(page);
    drop(server);
}

/// Stops the dashboard however the test ends.
struct Kill(std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Kafka credentials come from the environment or a file, reach librdkafka (the client is
/// built with SASL_SSL/SCRAM and tries to connect), and never appear in the output, even
/// with every log level on and the connection failing.
#[test]
fn kafka_credentials_configure_the_client_and_never_reach_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "s3cr3t-p4ssw0rd-do-not-print";
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, format!("{secret}\n")).unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    for from_file in [false, true] {
        let mut cmd = tickloop();
        cmd.args(["live", "--brokers", &closed.to_string(), "--state"])
            .arg(dir.path().join("state"))
            .args(["--kafka-security-protocol", "sasl_ssl", "--kafka-sasl-mechanism", "SCRAM-SHA-512"])
            .args(["--kafka-sasl-username", "trader"])
            .env("TICKLOOP_LOG", "trace")
            .env_remove("TICKLOOP_KAFKA_SASL_PASSWORD")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        if from_file {
            cmd.arg("--kafka-sasl-password-file").arg(&password_file);
        } else {
            cmd.env("TICKLOOP_KAFKA_SASL_PASSWORD", secret);
        }
        let child = cmd.spawn().unwrap();
        let pid = child.id();
        // It keeps trying to reach the (closed) brokers: give it a few seconds of retries.
        std::thread::sleep(std::time::Duration::from_secs(4));
        terminate(pid);
        let out = child.wait_with_output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(text.contains("kafka security configured") && text.contains("sasl_ssl"), "{text}");
        assert!(text.contains("trader"), "the username is not secret: {text}");
        assert!(!text.contains(secret), "the password leaked (from_file = {from_file}):\n{text}");
    }
    // SASL without a password is refused before connecting, naming where it comes from.
    let out = tickloop()
        .args(["live", "--brokers", &closed.to_string(), "--kafka-security-protocol", "sasl_ssl"])
        .args(["--kafka-sasl-mechanism", "PLAIN", "--kafka-sasl-username", "trader"])
        .env_remove("TICKLOOP_KAFKA_SASL_PASSWORD")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("TICKLOOP_KAFKA_SASL_PASSWORD"), "{err}");
}

fn terminate(pid: u32) {
    let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
}
