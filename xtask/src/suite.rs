//! `cargo xtask bench`: the whole benchmark suite in one run on one machine — ours and the
//! peers side by side — written to `bench/results.json` and to the table between the
//! `suite` markers in BENCHMARKS.md.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::{cargo, ensure_python, lean_release_binary, lean_shipping_binary, root, run, target_dir};

/// The bench lake: one session of 1,000 simulated symbols (23.4 M ticks).
const SYMBOLS: u32 = 1000;
const START: &str = "2024-01-02T14:30:00Z";
const END: &str = "2024-01-02T21:00:00Z";
/// A year of 1-second data for 1,000 symbols: 252 sessions × 23,400 s × 1,000.
const YEAR_TICKS: f64 = 252.0 * 23_400.0 * 1000.0;
/// Peers for the feature set, pinned.
const FEATURE_PEERS: [&str; 2] = ["ta-lib==0.8.2", "pandas==3.1.1"];
/// The backtester many users would pick instead, pinned (with its loader).
const VECTORBT_PEER: [&str; 2] = ["vectorbt==1.2.0", "duckdb==1.5.5"];
pub(crate) const GBM_PEERS: [&str; 2] = ["xgboost-cpu==3.2.0", "lightgbm==4.7.0"];

/// One measured figure, and its peer when there is one.
struct Row {
    section: &'static str,
    what: String,
    value: f64,
    unit: &'static str,
    /// The peer's name and its value in the same unit.
    peer: Option<(String, f64)>,
    /// Whether a smaller value is better (times) or a larger one (throughput).
    lower_is_better: bool,
    command: String,
}

impl Row {
    /// How many times better ours is than the peer's (> 1: ours is better).
    fn advantage(&self) -> Option<f64> {
        let (_, peer) = self.peer.as_ref()?;
        Some(if self.lower_is_better { peer / self.value } else { self.value / peer })
    }
}

/// Runs `cmd`, echoing its stderr, and returns its stdout (echoed too).
fn capture(mut cmd: Command) -> Result<String, String> {
    let shown = format!("{cmd:?}");
    let out = cmd.stderr(Stdio::inherit()).output().map_err(|e| format!("could not start {shown}: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    print!("{text}");
    if out.status.success() { Ok(text) } else { Err(format!("{shown} failed ({})", out.status)) }
}

/// `"key": number` from a flat JSON object (xtask has no JSON parser: std only).
fn number(json: &str, key: &str) -> Result<f64, String> {
    let at = json.find(&format!("\"{key}\"")).ok_or_else(|| format!("no {key:?} in {json}"))?;
    let rest = json[at + key.len() + 2..].trim_start().trim_start_matches(':').trim_start();
    let end = rest.find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c))).unwrap_or(rest.len());
    rest[..end].parse().map_err(|e| format!("{key} in {json}: {e}"))
}

fn text_field(json: &str, key: &str) -> Option<String> {
    let at = json.find(&format!("\"{key}\""))?;
    let rest = json[at + key.len() + 2..].trim_start().trim_start_matches(':').trim_start();
    let rest = rest.strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_owned())
}

pub(crate) fn ensure_packages(python: &Path, packages: &[&str], import: &str) -> Result<(), String> {
    let ok = Command::new(python).args(["-c", &format!("import {import}")]).status().is_ok_and(|s| s.success());
    if !ok {
        let mut pip = Command::new(python);
        pip.args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"]).args(packages);
        run(pip)?;
    }
    Ok(())
}

/// A venv of its own for a heavy peer (PyTorch, vectorbt), created on first use: kept apart
/// from `.venv` so their pins cannot fight the test services' packages.
fn ensure_venv(venv: &Path, packages: &[&str], import: &str, size: &str) -> Result<PathBuf, String> {
    let python = venv.join("bin/python");
    if !python.exists() {
        eprintln!("xtask: installing {packages:?} into {} ({size}, once)", venv.display());
        let mut create = Command::new("python3");
        create.args(["-m", "venv"]).arg(venv);
        run(create)?;
    }
    ensure_packages(&python, packages, import)?;
    Ok(python)
}

fn shell(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    format!("{cores} × {cpu}, {:.0} GiB RAM, {}", mem_kb / 1_048_576.0, shell("rustc", &["--version"]))
}

/// Peak RSS (MiB) and wall seconds of a command, from GNU time.
fn timed(program: &Path, args: &[String]) -> Result<(f64, f64, String), String> {
    let mut cmd = Command::new("/usr/bin/time");
    cmd.args(["-f", "suite-time %M %e"]).arg(program).args(args).current_dir(root());
    let shown = format!("{cmd:?}");
    let out = cmd.output().map_err(|e| format!("could not start {shown} (GNU time is needed): {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("{shown} failed ({}): {stderr}", out.status));
    }
    let line = stderr.lines().rev().find(|l| l.starts_with("suite-time ")).ok_or("no GNU time line")?;
    let mut parts = line.split_whitespace().skip(1);
    let rss_kb: f64 = parts.next().and_then(|v| v.parse().ok()).ok_or("bad RSS")?;
    let wall: f64 = parts.next().and_then(|v| v.parse().ok()).ok_or("bad wall time")?;
    Ok((rss_kb / 1024.0, wall, String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// The newest run directory under `runs`.
fn newest_run(runs: &Path) -> Result<PathBuf, String> {
    std::fs::read_dir(runs)
        .map_err(|e| format!("{}: {e}", runs.display()))?
        .filter_map(|e| e.ok())
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
        .map(|e| e.path())
        .ok_or_else(|| format!("no run in {}", runs.display()))
}

fn experiment(dir: &Path, name: &str, lake: &Path, body: &str) -> Result<PathBuf, String> {
    experiment_over(dir, name, lake, (START, END), body)
}

/// [`experiment`] over `span` (RFC 3339 start and end).
fn experiment_over(dir: &Path, name: &str, lake: &Path, span: (&str, &str), body: &str) -> Result<PathBuf, String> {
    let path = dir.join(format!("{name}.toml"));
    let (start, end) = span;
    let text = format!(
        "name = \"{name}\"\n[data]\nlake = \"{}\"\nstart = \"{start}\"\nend = \"{end}\"\n{body}",
        lake.display()
    );
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// The sessions of the simulated week: five trading days (Tuesday 2 January 2024, the day
/// of [`START`], to the Monday after), each 14:30–21:00 UTC.
const WEEK_DAYS: [&str; 5] = ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08"];

/// A lake of [`WEEK_DAYS`]' sessions of the same [`SYMBOLS`] symbols (one seed: the seed
/// names the tickers, so another seed a day would be other symbols), simulated once. Built
/// beside its final place and renamed when whole, so a suite cut off midway starts it over.
fn simulated_week(tickloop: &Path, dir: &Path) -> Result<PathBuf, String> {
    let lake = dir.join("lake-week-1000");
    if lake.join("raw").exists() {
        return Ok(lake);
    }
    let partial = dir.join("lake-week-1000.partial");
    if partial.exists() {
        std::fs::remove_dir_all(&partial).map_err(|e| format!("{}: {e}", partial.display()))?;
    }
    for day in WEEK_DAYS {
        let mut sim = Command::new(tickloop);
        sim.args(["sim", "--symbols", &SYMBOLS.to_string(), "--seed", "42", "--duration", "6h30m"])
            .arg("--start")
            .arg(format!("{day}T14:30:00Z"))
            .arg("--lake")
            .arg(&partial);
        run(sim)?;
    }
    std::fs::rename(&partial, &lake).map_err(|e| format!("{}: {e}", lake.display()))?;
    Ok(lake)
}

pub(crate) fn suite() -> Result<(), String> {
    let started = Instant::now();
    let tickloop = lean_shipping_binary()?;
    let python = ensure_python()?;
    ensure_packages(&python, &FEATURE_PEERS, "talib, pandas")?;
    ensure_packages(&python, &GBM_PEERS, "xgboost, lightgbm")?;
    let dir = root().join("target/bench-suite");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let lake = dir.join("lake-1000");
    if !lake.join("raw").exists() {
        let mut sim = Command::new(&tickloop);
        sim.args(["sim", "--symbols", &SYMBOLS.to_string(), "--start", START, "--duration", "6h30m", "--lake"])
            .arg(&lake);
        run(sim)?;
    }
    let mut rows = Vec::new();

    // Criterion micro-benchmarks (their own reports: target/criterion/report/index.html).
    crate::criterion(&[])?;
    let estimate = |id: &str| -> Result<f64, String> {
        let path = target_dir().join("criterion").join(id).join("new/estimates.json");
        let json = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mean = &json[json.find("\"mean\"").ok_or("no mean")?..];
        number(mean, "point_estimate") // nanoseconds per iteration
    };
    rows.push(Row {
        section: "features",
        what: "default set (21), one symbol, 100,000 ticks (criterion)".into(),
        value: estimate("features/default_set")? / 100_000.0,
        unit: "ns/tick",
        peer: None,
        lower_is_better: true,
        command: "cargo bench -p tickloop-features --bench indicators".into(),
    });
    for (id, what) in [
        ("engine/lake_decode_only", "lake decode of 100 symbols' hour, symbol by symbol (criterion)"),
        ("engine/lake_replay_only", "lake decode + merge of 100 symbols' hour (criterion)"),
        (
            "engine/lake_replay_pipeline_backtest",
            "the above + clean, bars, 3 features, MA strategy, broker (criterion)",
        ),
        ("engine/memory_pipeline_backtest", "the same from memory: clean + features + strategy, no decode (criterion)"),
    ] {
        rows.push(Row {
            section: "replay",
            what: what.into(),
            value: 360_000.0 / estimate(id)? * 1e3,
            unit: "M ticks/s",
            peer: None,
            lower_is_better: false,
            command: "cargo bench -p tickloop-backtest --bench engine".into(),
        });
    }

    // Features: streaming and batch, ours against TA-Lib and pandas, compute only.
    let mut ours = cargo();
    ours.args(["run", "--release", "--quiet", "-p", "tickloop-backtest", "--example", "features_day", "--"])
        .arg(&lake)
        .args([START, END]);
    let ours = capture(ours)?;
    let mut peers = Command::new(&python);
    peers.arg(root().join("xtask/py/features_peers.py")).arg(&lake);
    let peers = capture(peers)?;
    let ticks = number(&ours, "ticks")?;
    let talib = format!("TA-Lib {}", text_field(&peers, "talib_version").unwrap_or_default());
    let pandas = format!("pandas {}", text_field(&peers, "pandas_version").unwrap_or_default());
    for (how, key) in [
        ("streaming in event order (as live)", "streaming_ns_per_tick"),
        ("streaming symbol by symbol", "symbol_major_ns_per_tick"),
        ("runs, indicator by indicator, two symbols at a time (as a replay block)", "runs_ns_per_tick"),
        ("batch (whole columns)", "batch_ns_per_tick"),
    ] {
        for (peer, peer_key) in [(&talib, "talib_ns_per_tick"), (&pandas, "pandas_ns_per_tick")] {
            rows.push(Row {
                section: "features",
                what: format!("default set (21), {how}, {ticks:.0} ticks of {SYMBOLS} symbols"),
                value: number(&ours, key)?,
                unit: "ns/tick",
                peer: Some((peer.clone(), number(&peers, peer_key)?)),
                lower_is_better: true,
                command: "features_day example vs xtask/py/features_peers.py".into(),
            });
        }
    }

    // Replay: the lake through the pipeline and a strategy, then with the GBM in the loop.
    let runs = dir.join("runs");
    let models = dir.join("models/gbm");
    // A model trained by the forust-ml booster (before 2026-11-27) no longer loads: retrain.
    let current = |v: std::fs::DirEntry| {
        std::fs::read_to_string(v.path().join("model.json")).is_ok_and(|json| json.contains("tickloop-gbm/1"))
    };
    if std::fs::read_dir(&models).is_ok_and(|versions| !versions.flatten().any(current)) {
        std::fs::remove_dir_all(&models).map_err(|e| format!("{}: {e}", models.display()))?;
    }
    if !models.exists() {
        let mut train = Command::new(&tickloop);
        train
            .args(["train", "--model", "gbm", "--max-samples", "200000", "--lake"])
            .arg(&lake)
            .arg("--out")
            .arg(&models);
        run(train)?;
    }
    let ma = experiment(&dir, "suite-ma", &lake, "[strategy]\nkind = \"ma_crossover\"\nfast = 60\nslow = 300\n")?;
    let gbm_body = format!(
        "[model]\npath = \"{}\"\npredict_every_secs = 60\n[strategy]\nkind = \"model_trend\"\nthreshold_bps = 3.0\nallow_short = true\n",
        models.display()
    );
    let gbm = experiment(&dir, "suite-gbm", &lake, &gbm_body)?;
    let week_lake = simulated_week(&tickloop, &dir)?;
    let week_end = format!("{}T21:00:00Z", WEEK_DAYS[WEEK_DAYS.len() - 1]);
    let gbm_week = experiment_over(&dir, "suite-gbm-week", &week_lake, (START, &week_end), &gbm_body)?;
    let week_what = format!(
        "GBM in the loop over a simulated week ({} sessions of the same 1,000 symbols, {} M ticks)",
        WEEK_DAYS.len(),
        WEEK_DAYS.len() * 23_400 * SYMBOLS as usize / 1_000_000
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // One replay on 1 thread, then the same replay on every core; the GBM's pair over the
    // week also gives the speed-up of one replay and the year's projection (issue #21 asks
    // for a week measured end to end, not a day scaled up).
    let mut gbm_rates = (0.0, 0.0);
    for (what, exp) in [
        ("MA crossover, default pipeline", &ma),
        ("GBM in the loop (predicts every symbol once a minute)", &gbm),
        (week_what.as_str(), &gbm_week),
    ] {
        let mut rates = [0.0; 2];
        for (slot, threads) in [1, cores].into_iter().enumerate() {
            let args = [
                "backtest".to_owned(),
                "--experiment".into(),
                exp.display().to_string(),
                "--runs-dir".into(),
                runs.display().to_string(),
                "--threads".into(),
                threads.to_string(),
            ];
            let (rss, _, _) = timed(&tickloop, &args)?;
            let manifest =
                std::fs::read_to_string(newest_run(&runs)?.join("manifest.json")).map_err(|e| e.to_string())?;
            rates[slot] = number(&manifest, "ticks_per_sec")?;
            let command = format!("tickloop backtest --experiment {} --threads {threads}", exp.display());
            let on = if threads == 1 { "1 thread".to_owned() } else { format!("one replay on {threads} threads") };
            rows.push(Row {
                section: "replay",
                what: format!("{what}, {on}"),
                value: rates[slot] / 1e6,
                unit: "M ticks/s",
                peer: None,
                lower_is_better: false,
                command: command.clone(),
            });
            rows.push(Row {
                section: "memory",
                what: format!("peak RSS, {what}, {on}"),
                value: rss,
                unit: "MiB",
                peer: None,
                lower_is_better: true,
                command,
            });
        }
        gbm_rates = (rates[0], rates[1]);
    }
    rows.push(Row {
        section: "replay",
        what: format!("GBM in the loop over the week, one replay: {cores} threads over 1"),
        value: gbm_rates.1 / gbm_rates.0,
        unit: "×",
        peer: Some(("target".into(), 1.8)),
        lower_is_better: false,
        command: "the two week rows above".into(),
    });
    rows.push(Row {
        section: "replay",
        what: format!(
            "a year of 1-s data for 1,000 symbols (5.9 G ticks) with the GBM, one replay on {cores} threads, at the simulated week's rate"
        ),
        value: YEAR_TICKS / gbm_rates.1 / 60.0,
        unit: "minutes",
        peer: Some(("target".into(), 15.0)),
        lower_is_better: true,
        command: "5.9e9 / (ticks/s of one replay of the week on every core)".into(),
    });
    // All cores another way: one single-threaded backtest per core at once, over the same day.
    let t = Instant::now();
    let children: Vec<_> = (0..cores)
        .map(|k| {
            let runs = dir.join(format!("runs-core-{k}"));
            Command::new(&tickloop)
                .args(["backtest", "--experiment"])
                .arg(&gbm)
                .args(["--threads", "1", "--runs-dir"])
                .arg(&runs)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;
    for mut child in children {
        let status = child.wait().map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("a parallel backtest failed ({status})"));
        }
    }
    let all_cores = ticks * cores as f64 / t.elapsed().as_secs_f64();
    rows.push(Row {
        section: "replay",
        what: format!(
            "GBM in the loop, {cores} cores ({cores} backtests at once, process start and lake read included)"
        ),
        value: all_cores / 1e6,
        unit: "M ticks/s",
        peer: None,
        lower_is_better: false,
        command: format!("{cores} × tickloop backtest --experiment {} --threads 1", gbm.display()),
    });

    let talib_alone = (talib.clone(), number(&peers, "talib_ns_per_tick")?);
    rows.extend(default_experiment_rows(&tickloop, &dir, cores, Some(talib_alone))?);

    // Storage per tick, for the cost estimate.
    let raw_bytes = dir_size(&lake.join("raw"));
    rows.push(Row {
        section: "storage",
        what: "raw ticks in the lake (parquet, zstd)".into(),
        value: raw_bytes as f64 / ticks,
        unit: "bytes/tick",
        peer: None,
        lower_is_better: true,
        command: format!("tickloop sim --symbols {SYMBOLS} --duration 6h30m; du raw/"),
    });
    if !lake.join("processed/features").exists() {
        let mut etl = Command::new(&tickloop);
        etl.args(["etl-features", "--lake"]).arg(&lake);
        run(etl)?;
    }
    rows.push(Row {
        section: "storage",
        what: "features (21 doubles per tick, parquet, zstd)".into(),
        value: dir_size(&lake.join("processed/features")) as f64 / ticks,
        unit: "bytes/tick",
        peer: None,
        lower_is_better: true,
        command: "tickloop etl-features; du processed/features/".into(),
    });

    // The booster against xgboost and lightgbm.
    for threads in ["1", "2"] {
        let out_dir = root().join("target/bench-gbm");
        let mut ours = cargo();
        ours.args(["run", "--release", "--quiet", "-p", "tickloop-gbm", "--example", "compare", "--"])
            .arg(&out_dir)
            .args(["100", "6", threads]);
        let ours = capture(ours)?;
        let mut theirs = Command::new(&python);
        theirs.arg(root().join("xtask/py/gbm_peers.py")).arg(&out_dir).arg(threads);
        let theirs = capture(theirs)?;
        for line in theirs.lines().filter(|l| l.starts_with('{')) {
            let library = text_field(line, "library").unwrap_or_default();
            for (what, key) in
                [("training", "fit_secs"), ("prediction, 42.5 k rows", "predict_secs"), ("test RMSE", "test_rmse")]
            {
                rows.push(Row {
                    section: "gbm",
                    what: format!("{what}, {threads} thread(s)"),
                    value: number(&ours, key)?,
                    unit: if key == "test_rmse" { "" } else { "s" },
                    peer: Some((library.clone(), number(line, key)?)),
                    lower_is_better: true,
                    command: format!("cargo xtask bench gbm --threads {threads}"),
                });
            }
        }
    }

    // The LSTM at the original design's shapes, against PyTorch: from TORCH_PYTHON when set,
    // else from a venv of its own under target/ that the suite creates (PyPI's torch wheel
    // pulls ~4 GB of CUDA libraries: ~3 minutes and ~5.5 GB on first use;
    // TORCH_PYTHON=none skips the peer).
    let torch_python = match std::env::var_os("TORCH_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => ensure_venv(&dir.join("torch-venv"), &["torch", "numpy"], "torch, numpy", "~5.5 GB, a few minutes")?,
    };
    rows.extend(lstm_rows(&tickloop, &torch_python)?);

    // Live latency, 1,000 symbols at 1 Hz through a local broker.
    let latency = crate::latency_bench(&["--symbols".into(), "1000".into(), "--duration".into(), "60s".into()])?;
    for (what, value) in [("end to end p50", latency.p50_ms), ("end to end p99", latency.p99_ms)] {
        rows.push(Row {
            section: "live",
            what: format!("{what}, 1,000 symbols at 1 Hz"),
            value,
            unit: "ms",
            peer: None,
            lower_is_better: true,
            command: "cargo xtask bench latency --symbols 1000 --duration 60s".into(),
        });
    }
    rows.push(Row {
        section: "memory",
        what: "peak RSS, tickloop live at 1,000 symbols".into(),
        value: latency.rss_mib,
        unit: "MiB",
        peer: None,
        lower_is_better: true,
        command: "cargo xtask bench latency --symbols 1000 --duration 60s".into(),
    });

    let date = shell("date", &["-u", "+%Y-%m-%d"]);
    let commit = shell("git", &["rev-parse", "--short", "HEAD"]);
    write_results(&rows, &machine(), &date, &commit)?;
    println!("suite finished in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The default experiment, as `cargo xtask backtest` runs it (the MA crossover over the
/// 200-symbol sample session, with cleaning, alerts and the latency model), against vectorbt
/// running the same strategy over the same lake with its data preloaded: compute alone. Then
/// the same backtest computing the 21-feature default set, per tick against TA-Lib computing
/// those features alone (`talib_alone`: the peer and its ns a tick, from the features rows,
/// when they were measured).
fn default_experiment_rows(
    tickloop: &Path,
    dir: &Path,
    cores: usize,
    talib_alone: Option<(String, f64)>,
) -> Result<Vec<Row>, String> {
    let template = root().join("experiments/default.toml");
    let text = std::fs::read_to_string(&template).map_err(|e| format!("{}: {e}", template.display()))?;
    let lake = dir.join("lake-default");
    let relocated = text.replace("lake = \"data/lake\"", &format!("lake = \"{}\"", lake.display()));
    if relocated == text {
        return Err(format!("{} no longer reads `lake = \"data/lake\"`", template.display()));
    }
    let toml_string = |key: &str| -> Result<String, String> {
        let line = text.lines().find(|l| l.trim_start().starts_with(&format!("{key} ="))).ok_or(key.to_owned())?;
        line.split('"').nth(1).map(str::to_owned).ok_or_else(|| format!("{key} is not a string"))
    };
    let (start, end) = (toml_string("start")?, toml_string("end")?);
    let experiment = dir.join("suite-default.toml");
    std::fs::write(&experiment, &relocated).map_err(|e| format!("{}: {e}", experiment.display()))?;
    let all_features =
        relocated.replace("features = [\"log_return\", \"sma_60\", \"sma_300\"]", "feature_set = \"default\"");
    if all_features == relocated {
        return Err(format!("{} no longer lists the MA's three features", template.display()));
    }
    let experiment_21 = dir.join("suite-default-21.toml");
    std::fs::write(&experiment_21, all_features).map_err(|e| format!("{}: {e}", experiment_21.display()))?;
    let runs = dir.join("runs-default");
    let backtest = |experiment: &Path, threads: usize| -> Vec<String> {
        let mut args: Vec<String> = ["backtest", "--generate-missing", "--experiment"].map(str::to_owned).into();
        args.push(experiment.display().to_string());
        args.extend(["--runs-dir".to_owned(), runs.display().to_string(), "--threads".into(), threads.to_string()]);
        args
    };
    // The run's rate and the whole process's (start-up and report included), best of 3.
    let best_of_3 = |experiment: &Path, threads: usize| -> Result<(f64, f64), String> {
        let (mut run_rate, mut process_rate) = (0.0_f64, 0.0_f64);
        for _ in 0..3 {
            let (_, wall, _) = timed(tickloop, &backtest(experiment, threads))?;
            let manifest =
                std::fs::read_to_string(newest_run(&runs)?.join("manifest.json")).map_err(|e| e.to_string())?;
            run_rate = run_rate.max(number(&manifest, "ticks_per_sec")?);
            process_rate = process_rate.max(number(&manifest, "ticks")? / wall);
        }
        Ok((run_rate, process_rate))
    };
    timed(tickloop, &backtest(&experiment, cores))?; // simulates the session into the lake the first time

    let python = ensure_venv(&dir.join("vectorbt-venv"), &VECTORBT_PEER, "vectorbt, duckdb", "~400 MB")?;
    let mut peer = Command::new(&python);
    peer.arg(root().join("xtask/py/vectorbt_peer.py")).arg(&lake).args([&start, &end]);
    let peer = capture(peer)?;
    let vectorbt = format!("vectorbt {} (compute alone)", text_field(&peer, "vectorbt_version").unwrap_or_default());
    let theirs = number(&peer, "ticks_per_sec")? / 1e6;

    let on =
        |threads: usize| if threads == 1 { "1 thread".to_owned() } else { format!("{threads} threads (the default)") };
    let mut rows = Vec::new();
    for threads in [1, cores] {
        let (run_rate, process_rate) = best_of_3(&experiment, threads)?;
        let on = on(threads);
        let command = format!("tickloop backtest --experiment experiments/default.toml --threads {threads}, best of 3");
        for (what, rate) in [("the run", run_rate), ("the whole process, start-up and report included", process_rate)] {
            rows.push(Row {
                section: "replay",
                what: format!("default experiment (200 symbols × 6.5 h, MA crossover), {what}, {on}"),
                value: rate / 1e6,
                unit: "M ticks/s",
                peer: Some((vectorbt.clone(), theirs)),
                lower_is_better: false,
                command: command.clone(),
            });
        }
    }
    // Issue #21's bar: the whole backtest at half TA-Lib's features-alone pace or better;
    // on one thread, and on the machine's cores as a backtest runs by default.
    for threads in [1, cores] {
        let (run_rate, _) = best_of_3(&experiment_21, threads)?;
        let on = on(threads);
        rows.push(Row {
            section: "replay",
            what: format!("the default experiment computing the 21-feature default set (cleaning, features, alerts, MA, broker), the run, {on}, per tick against TA-Lib's features alone (one thread)"),
            value: 1e9 / run_rate,
            unit: "ns/tick",
            peer: talib_alone.clone(),
            lower_is_better: true,
            command: format!("tickloop backtest --experiment experiments/default.toml with feature_set = \"default\" --threads {threads}, best of 3"),
        });
    }
    Ok(rows)
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .filter_map(|e| e.ok())
        .map(|e| {
            let path = e.path();
            if path.is_dir() { dir_size(&path) } else { e.metadata().map_or(0, |m| m.len()) }
        })
        .sum()
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The LSTM rows: the inference path and a training step at the original design's shapes on
/// 1 and 2 threads, and `tickloop train --model lstm` as a whole command, each beside
/// PyTorch CPU at the same threads when `torch_python` imports torch.
fn lstm_rows(tickloop: &Path, torch_python: &Path) -> Result<Vec<Row>, String> {
    let command = "cargo xtask bench lstm (TORCH_PYTHON=<python with torch>)";
    let has_torch = Command::new(torch_python).args(["-c", "import torch"]).status().is_ok_and(|s| s.success());
    if !has_torch {
        println!("PyTorch not found ({}): the LSTM rows have no peer", torch_python.display());
    }
    let torch = |args: &[String]| -> Result<Option<String>, String> {
        if !has_torch {
            return Ok(None);
        }
        let mut theirs = Command::new(torch_python);
        theirs.arg(root().join("xtask/py/lstm_torch.py")).args(args);
        capture(theirs).map(Some)
    };
    let mut rows = Vec::new();
    for threads in [1, 2] {
        let mut ours = cargo();
        ours.args(["run", "--release", "--quiet", "-p", "tickloop-lstm", "--example", "forward", "--"])
            .args(["1000", "60", "5", "128", "5"])
            .arg(threads.to_string());
        let ours = capture(ours)?;
        let theirs = torch(&[threads.to_string()])?;
        let peer = |key: &str| -> Result<Option<(String, f64)>, String> {
            let Some(json) = &theirs else { return Ok(None) };
            let name = format!("{}, {threads} thread(s)", text_field(json, "library").unwrap_or_default());
            Ok(Some((name, number(json, key)?)))
        };
        for (what, key, peer_key) in [
            (
                "forward, batch 1,000 × 60 steps × 5 features, hidden 128 (inference path)",
                "inference_median_secs",
                Some("forward_median_secs"),
            ),
            (
                "training step, batch 64 (MAE, AdamW), fused layer",
                "train_step_batch64_secs",
                Some("train_step_batch64_secs"),
            ),
            (
                "training step, the same on Candle's autograd of the cell",
                "train_step_batch64_candle_autograd_secs",
                None,
            ),
        ] {
            rows.push(Row {
                section: "lstm",
                what: format!("{what}, {threads} thread(s)"),
                value: number(&ours, key)?,
                unit: "s",
                peer: peer_key.map(peer).transpose()?.flatten(),
                lower_is_better: true,
                command: command.into(),
            });
        }
    }

    // The whole command, data collection, validation and saving included, against
    // PyTorch's training loop alone on as many windows for as many epochs; best of 3 on
    // both sides (this VM's timings move 15–50 % between runs, see BENCHMARKS.md).
    let dir = root().join("target/bench-lstm");
    let lake = dir.join("lake-40x2h");
    if !lake.join("raw").exists() {
        let mut sim = Command::new(tickloop);
        sim.args(["sim", "--symbols", "40", "--duration", "2h", "--seed", "42", "--lake"]).arg(&lake);
        run(sim)?;
    }
    let models = dir.join("models");
    let (mut secs, mut windows) = (f64::INFINITY, 0usize);
    for _ in 0..3 {
        let _ = std::fs::remove_dir_all(&models);
        let mut train = Command::new(tickloop);
        train.args([
            "train",
            "--model",
            "lstm",
            "--epochs",
            "3",
            "--hidden",
            "128",
            "--window",
            "60",
            "--threads",
            "2",
        ]);
        train.arg("--lake").arg(&lake).arg("--out").arg(&models);
        let shown = format!("{train:?}");
        let started = Instant::now();
        let out = train.output().map_err(|e| format!("could not start {shown}: {e}"))?;
        secs = secs.min(started.elapsed().as_secs_f64());
        let stderr = String::from_utf8_lossy(&out.stderr);
        eprint!("{stderr}");
        if !out.status.success() {
            return Err(format!("{shown} failed ({})", out.status));
        }
        windows = stderr
            .split(" windows")
            .next()
            .and_then(|head| head.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("no window count in {shown}'s output"))?;
    }
    let mut theirs: Option<String> = None;
    for _ in 0..3 {
        let run = torch(&["2".into(), windows.to_string(), "3".into(), "6".into(), "128".into(), "60".into()])?;
        let faster = |run: &str, best: &str| Ok::<_, String>(number(run, "train_secs")? < number(best, "train_secs")?);
        theirs = match (run, theirs) {
            (Some(run), Some(best)) => Some(if faster(&run, &best)? { run } else { best }),
            (run, best) => run.or(best),
        };
    }
    rows.push(Row {
        section: "lstm",
        what: format!(
            "`tickloop train --model lstm` as a whole, 40 symbols × 2 h, {windows} windows × 3 epochs, hidden 128, window 60, 2 threads (best of 3)"
        ),
        value: secs,
        unit: "s",
        peer: match &theirs {
            Some(json) => Some((
                format!("{}, 2 threads, its training loop alone", text_field(json, "library").unwrap_or_default()),
                number(json, "train_secs")?,
            )),
            None => None,
        },
        lower_is_better: true,
        command: command.into(),
    });
    Ok(rows)
}

/// `cargo xtask bench vectorbt`: the default experiment's rows alone, printed as the suite's
/// table (the 21-feature row without its TA-Lib peer, which the features' run measures).
pub(crate) fn vectorbt_bench() -> Result<(), String> {
    let dir = root().join("target/bench-suite");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rows = default_experiment_rows(&lean_shipping_binary()?, &dir, cores, None)?;
    print!("{}", table(&rows));
    Ok(())
}

/// `cargo xtask bench lstm`: the LSTM rows alone, printed as the suite's table.
pub(crate) fn lstm_bench() -> Result<(), String> {
    let tickloop = lean_release_binary()?;
    let python = std::env::var_os("TORCH_PYTHON").map(PathBuf::from).unwrap_or_else(|| root().join(".venv/bin/python"));
    let rows = lstm_rows(&tickloop, &python)?;
    print!("{}", table(&rows));
    Ok(())
}

/// The rows as a markdown table.
fn table(rows: &[Row]) -> String {
    let mut table = "| section | measurement | ours | peer | advantage |\n|---|---|---|---|---|\n".to_owned();
    for r in rows {
        let (peer, advantage) = match (&r.peer, r.advantage()) {
            (Some((name, value)), Some(a)) => (format!("{name}: {} {}", fmt(*value), r.unit), format!("{a:.2}×")),
            _ => (String::new(), String::new()),
        };
        let _ = writeln!(table, "| {} | {} | {} {} | {peer} | {advantage} |", r.section, r.what, fmt(r.value), r.unit);
    }
    table
}

fn write_results(rows: &[Row], machine: &str, date: &str, commit: &str) -> Result<(), String> {
    let mut json = format!(
        "{{\n  \"date\": {},\n  \"commit\": {},\n  \"machine\": {},\n  \"command\": \"cargo xtask bench\",\n  \"results\": [\n",
        json_string(date),
        json_string(commit),
        json_string(machine)
    );
    for (i, r) in rows.iter().enumerate() {
        let peer = match &r.peer {
            Some((name, value)) => format!(
                ", \"peer\": {}, \"peer_value\": {value}, \"advantage\": {:.4}",
                json_string(name),
                r.advantage().unwrap_or(f64::NAN)
            ),
            None => String::new(),
        };
        let _ = writeln!(
            json,
            "    {{\"section\": {}, \"what\": {}, \"value\": {}, \"unit\": {}{peer}, \"command\": {}}}{}",
            json_string(r.section),
            json_string(&r.what),
            r.value,
            json_string(r.unit),
            json_string(&r.command),
            if i + 1 == rows.len() { "" } else { "," }
        );
    }
    json.push_str("  ]\n}\n");
    let out = root().join("bench/results.json");
    std::fs::create_dir_all(out.parent().expect("bench/")).map_err(|e| e.to_string())?;
    std::fs::write(&out, json).map_err(|e| format!("{}: {e}", out.display()))?;

    let table = format!(
        "Machine: {machine}. Date: {date}, commit {commit}. Command: `cargo xtask bench` (all rows from one run; raw numbers in `bench/results.json`; the `tickloop` rows by the binary as shipped, `--profile dist`, the criterion and example rows `--release`). Advantage = how many times better ours is than the peer (> 1: ours wins).\n\n{}",
        table(rows)
    );
    let path = root().join("BENCHMARKS.md");
    let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
    let (begin, end) = ("<!-- suite:begin -->", "<!-- suite:end -->");
    let updated = match (text.find(begin), text.find(end)) {
        (Some(a), Some(b)) if a < b => format!("{}{begin}\n{table}{}", &text[..a], &text[b..]),
        _ => return Err(format!("BENCHMARKS.md lacks the {begin} … {end} markers")),
    };
    std::fs::write(&path, updated).map_err(|e| e.to_string())?;
    println!("wrote {} and the suite table in {}", out.display(), path.display());
    Ok(())
}

fn fmt(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3e}")
    }
}
