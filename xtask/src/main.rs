//! `cargo xtask <task>`: the project's entry points, in plain Rust so they run anywhere
//! cargo does. Only std: xtask must build in seconds on a fresh machine.

#![allow(clippy::print_stdout)]

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
  bench [criterion args...]
        run the benchmarks (release) and print where results are
  ci    formatting, clippy (-D warnings) and the test suite, as CI runs them
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
        "ci" => ci(),
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

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_owned()
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

fn run(mut cmd: Command) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    let status = cmd.status().map_err(|e| format!("could not start {shown}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("{shown} failed ({status})")) }
}

fn backtest(args: &[String]) -> Result<(), String> {
    let mut cmd = cargo();
    cmd.args(["run", "--release", "--quiet", "-p", "tickloop", "--", "backtest", "--generate-missing"]);
    cmd.args(args);
    run(cmd)
}

/// Runs the suite, echoing its output, and ends with one total line
/// (`tests: N passed, N failed`) so a reader (or CI) sees the whole count at the bottom
/// rather than the last doc-test binary's `0 passed`.
fn test(args: &[String]) -> Result<(), String> {
    use std::io::{BufRead, BufReader, Write};

    let python = ensure_python()?;
    let mut cmd = cargo();
    cmd.args(["test", "--workspace"]).args(args).env("TICKLOOP_PYTHON", &python).stdout(std::process::Stdio::piped());
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
    let _ = writeln!(out, "\ntests: {passed} passed, {failed} failed, {ignored} skipped");
    if status.success() { Ok(()) } else { Err(format!("{shown} failed ({status})")) }
}

fn bench(args: &[String]) -> Result<(), String> {
    for (package, bench) in [("tickloop-features", "indicators"), ("tickloop-backtest", "engine")] {
        let mut cmd = cargo();
        cmd.args(["bench", "-p", package, "--bench", bench, "--"]).args(args);
        run(cmd)?;
    }
    println!("criterion reports: {}", root().join("target/criterion/report/index.html").display());
    Ok(())
}

/// Python packages the tests use as outside judges (DuckDB reads the lake). Pinned: the
/// newest DuckDB cannot fetch its extensions here.
const PYTHON_PACKAGES: [&str; 1] = ["duckdb==1.5.5"];

/// A virtual environment under `.venv` with [`PYTHON_PACKAGES`], created on first use.
fn ensure_python() -> Result<PathBuf, String> {
    let venv = root().join(".venv");
    let python = venv.join("bin/python");
    let ready = || Command::new(&python).args(["-c", "import duckdb"]).status().is_ok_and(|s| s.success());
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
    if ready() { Ok(python) } else { Err(format!("{} still cannot import duckdb", python.display())) }
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
