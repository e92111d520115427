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

fn test(args: &[String]) -> Result<(), String> {
    let mut cmd = cargo();
    cmd.args(["test", "--workspace"]).args(args);
    run(cmd)
}

fn bench(args: &[String]) -> Result<(), String> {
    let mut cmd = cargo();
    cmd.args(["bench", "--workspace", "--bench", "engine", "--"]).args(args);
    run(cmd)?;
    println!("criterion reports: {}", root().join("target/criterion/report/index.html").display());
    Ok(())
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
