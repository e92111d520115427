//! Past one machine: a sweep and a walk-forward split into shard processes that take their
//! index from the array job's environment, write to the S3 server, die midway and are run
//! again, then merge into exactly what one machine writes; and the deployment manifests,
//! checked by their platforms' own validators.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{ok, tickloop};

/// The Python of `cargo xtask test` (`.venv`, with boto3, botocore, moto and
/// kubernetes-validate), if there is one.
fn python() -> Option<PathBuf> {
    std::env::var_os("TICKLOOP_PYTHON").map(PathBuf::from).or_else(|| {
        let venv = tickloop_testkit::manifest_dir().join("../../.venv/bin/python");
        venv.exists().then_some(venv)
    })
}

/// The S3 server and a Python with boto3 (the outside client that reads what the shards
/// wrote), or `None` (skipped) outside `cargo xtask test`.
fn s3() -> Option<(String, String, PathBuf)> {
    match (std::env::var("S3_ENDPOINT").ok(), python()) {
        (Some(endpoint), Some(python)) => {
            Some((endpoint, std::env::var("S3_BUCKET").unwrap_or_else(|_| "lake".into()), python))
        }
        _ => {
            assert!(std::env::var_os("CI").is_none(), "CI must provide S3_ENDPOINT and the Python tools");
            tickloop_testkit::skip("needs S3_ENDPOINT and boto3 (run through `cargo xtask test`)");
            None
        }
    }
}

/// Downloads every object under `s3://bucket/prefix/` into `dest`, or with `put`, writes
/// one object: boto3, not our client.
const S3_TOOL: &str = r#"
import os, sys, boto3
endpoint, bucket, prefix, action, arg = sys.argv[1:6]
s3 = boto3.client("s3", endpoint_url=endpoint)
if action == "put":
    s3.put_object(Bucket=bucket, Key=prefix, Body=arg.encode())
else:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        for o in page.get("Contents", []):
            path = os.path.join(arg, o["Key"][len(prefix) + 1:])
            os.makedirs(os.path.dirname(path), exist_ok=True)
            s3.download_file(bucket, o["Key"], path)
"#;

struct Bucket {
    endpoint: String,
    bucket: String,
    python: PathBuf,
}

impl Bucket {
    fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    fn tool(&self, key: &str, action: &str, arg: &str) {
        let out = Command::new(&self.python)
            .args(["-c", S3_TOOL, &self.endpoint, &self.bucket, key, action, arg])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    fn download(&self, prefix: &str, dest: &Path) -> PathBuf {
        self.tool(prefix, "get", dest.to_str().unwrap());
        dest.to_owned()
    }

    fn put(&self, key: &str, text: &str) {
        self.tool(key, "put", text);
    }
}

/// `tickloop backtest` as shard task `index` of `count`, the index in `variable` as an array
/// job sets it.
fn shard(exp: &Path, prefix: &str, count: usize, variable: &str, index: usize) -> Command {
    let mut cmd = tickloop();
    cmd.arg("backtest").arg("--experiment").arg(exp);
    cmd.args(["--shards", &count.to_string(), "--run-prefix", prefix, "--jobs", "1"]);
    cmd.env_remove("AWS_BATCH_JOB_ARRAY_INDEX").env_remove("JOB_COMPLETION_INDEX").env(variable, index.to_string());
    cmd
}

/// Starts `cmd` and kills it (SIGKILL) as soon as it says `marker` on stderr, before it can
/// finish; returns what it said.
fn kill_when(mut cmd: Command, marker: &str) -> String {
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut said = String::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        said.push_str(&line);
        said.push('\n');
        if line.contains(marker) {
            child.kill().unwrap();
            break;
        }
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "the shard was to be killed at {marker:?}, yet it finished:\n{said}");
    said
}

fn merge_fails(prefix: &str) -> String {
    let out = tickloop().args(["runs", "merge", prefix]).output().unwrap();
    assert!(!out.status.success(), "merged with a shard missing");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn only_run_dir(runs: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(runs).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

/// The S3 server, a scratch directory, and an experiment `name` (its sections in `body`)
/// over a market simulated onto the server for it; `None` when the services are missing.
fn setup(name: &str, body: &str) -> Option<(Bucket, tempfile::TempDir, PathBuf)> {
    let (endpoint, bucket, python) = s3()?;
    let s3 = Bucket { endpoint, bucket, python };
    let dir = tempfile::tempdir().unwrap();
    let lake = s3.url(&format!("tests/scale-{}/{name}/lake", std::process::id()));
    let args = ["sim", "--symbols", "8", "--duration", "2h", "--seed", "11", "--lake", &lake];
    ok(tickloop().args(args).args(["--s3-endpoint", &s3.endpoint]));
    let exp = dir.path().join(format!("{name}.toml"));
    let text = format!(
        "name = \"{name}\"\n[data]\nlake = \"{lake}\"\nstart = \"2024-01-02T14:30:00Z\"\nend = \"2024-01-02T16:30:00Z\"\n{body}"
    );
    std::fs::write(&exp, text).unwrap();
    Some((s3, dir, exp))
}

#[test]
fn a_sweep_in_four_shards_one_killed_and_rerun_merges_into_the_single_machine_ranking() {
    let Some((s3, dir, exp)) = setup(
        "sharded-sweep",
        "[strategy]\nkind = \"ma_crossover\"\nfast = 30\nslow = 240\nallow_short = true\n\
         [sweep]\nrank_by = \"sharpe\"\n[sweep.grid]\n\"strategy.fast\" = [10, 20, 45, 90]\n\"strategy.band_bps\" = [0.0, 5.0]\n",
    ) else {
        return;
    };
    // One machine.
    let runs = dir.path().join("runs");
    ok(tickloop()
        .arg("backtest")
        .arg("--experiment")
        .arg(&exp)
        .arg("--runs-dir")
        .arg(&runs)
        .env("S3_ENDPOINT", &s3.endpoint));
    let alone = only_run_dir(&runs);

    // Four array-job tasks: AWS Batch numbers two, a Kubernetes Indexed Job the others.
    let key = format!("tests/scale-{}/sweep-run", std::process::id());
    let prefix = s3.url(&key);
    let variables =
        ["AWS_BATCH_JOB_ARRAY_INDEX", "JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX", "JOB_COMPLETION_INDEX"];
    let mut tasks: Vec<_> =
        [0, 2, 3].iter().map(|&i| shard(&exp, &prefix, 4, variables[i], i).output().unwrap()).collect();
    for out in tasks.drain(..) {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    // Shard 1 (grid points 1 and 5) dies right after writing its first member.
    let said = kill_when(shard(&exp, &prefix, 4, variables[1], 1), "001 written under");
    assert!(said.contains("shard 1 of 4"), "{said}");
    let err = merge_fails(&prefix);
    assert!(err.contains("shards 1 of 4 have not finished"), "{err}");
    // Something stale where its other member goes: the rerun replaces the whole member.
    s3.put(&format!("{key}/005/stale.txt"), "from an earlier attempt");
    let out = ok(&mut shard(&exp, &prefix, 4, variables[1], 1));
    assert!(out.contains("shard 1 of 4: ran grid points (1, 5)"), "{out}");
    let merged = ok(tickloop().args(["runs", "merge", &prefix]));
    assert!(merged.contains("merged 4 shards of sharded-sweep"), "{merged}");

    let got = s3.download(&key, &dir.path().join("downloaded"));
    assert!(!got.join("005/stale.txt").exists(), "a retried shard replaces its outputs");
    for file in ["ranking.json", "ranking.md", "ranking.html"] {
        assert_eq!(read(&got.join(file)), read(&alone.join(file)), "{file}: merged vs one machine");
    }
    for point in 0..8 {
        let member = format!("{point:03}");
        for file in ["report.json", "report.html", "config.toml", "trades.csv", "alerts.jsonl"] {
            assert_eq!(read(&got.join(&member).join(file)), read(&alone.join(&member).join(file)), "{member}/{file}");
        }
    }
    let ranking: Vec<serde_json::Value> = serde_json::from_slice(&read(&got.join("ranking.json"))).unwrap();
    assert_eq!(ranking.len(), 8);
    let record: serde_json::Value = serde_json::from_slice(&read(&got.join("shards/0001-of-0004.json"))).unwrap();
    assert_eq!(record["work"]["kind"], "sweep");
    assert!(record["files"].as_array().unwrap().iter().any(|f| f == "005/report.json"), "{record}");
}

#[test]
fn a_walk_forward_in_three_shards_one_killed_and_rerun_stitches_into_the_single_machine_report() {
    let Some((s3, dir, exp)) = setup(
        "sharded-wf",
        "[walk_forward]\nfolds = 3\nembargo_secs = 120\nwarmup_secs = 600\n\
         [walk_forward.train]\nmodel = \"gbm\"\nstride = 10\n[walk_forward.train.params]\niterations = 20\n\
         [strategy]\nkind = \"model_trend\"\nthreshold_bps = 2.0\nallow_short = true\n",
    ) else {
        return;
    };
    let runs = dir.path().join("runs");
    ok(tickloop().arg("backtest").arg("--experiment").arg(&exp).arg("--runs-dir").arg(&runs));
    let alone = only_run_dir(&runs);

    let key = format!("tests/scale-{}/wf-run", std::process::id());
    let prefix = s3.url(&key);
    for index in [0, 2] {
        ok(&mut shard(&exp, &prefix, 3, "JOB_COMPLETION_INDEX", index));
    }
    // Shard 1 (fold 2) dies while it trains.
    kill_when(shard(&exp, &prefix, 3, "JOB_COMPLETION_INDEX", 1), "fold 2/3: training on");
    let err = merge_fails(&prefix);
    assert!(err.contains("shards 1 of 3 have not finished"), "{err}");
    ok(&mut shard(&exp, &prefix, 3, "AWS_BATCH_JOB_ARRAY_INDEX", 1));
    let merged = ok(tickloop().args(["runs", "merge", &prefix]));
    assert!(merged.contains("out of sample, 3 folds"), "{merged}");

    let got = s3.download(&key, &dir.path().join("downloaded"));
    for file in ["report.json", "report.html", "trades.csv", "config.toml"] {
        assert_eq!(read(&got.join(file)), read(&alone.join(file)), "{file}: stitched from shards vs one machine");
    }
    for fold in 1..=3 {
        for file in ["report.json", "model/config.json"] {
            let path = format!("fold-{fold}/{file}");
            assert_eq!(read(&got.join(&path)), read(&alone.join(&path)), "{path}");
        }
    }
    let manifest: serde_json::Value = serde_json::from_slice(&read(&got.join("manifest.json"))).unwrap();
    let single: serde_json::Value = serde_json::from_slice(&read(&alone.join("manifest.json"))).unwrap();
    for field in ["report_sha256", "config_sha256", "data_fingerprint", "model_sha256"] {
        assert_eq!(manifest[field], single[field], "manifest {field}");
    }
}

/// The feature ETL as two array-job tasks on the S3 lake: the one day goes to one shard, the
/// other has nothing to do, and a whole run afterwards finds the day built.
#[test]
fn etl_features_in_two_shards_on_s3_builds_each_day_once() {
    let Some((s3, _dir, exp)) = setup("sharded-etl", "") else { return };
    let text = std::fs::read_to_string(&exp).unwrap();
    let lake = text.lines().find_map(|l| l.strip_prefix("lake = ")).unwrap().trim_matches('"').to_owned();
    let etl = |extra: &[&str], variable: &str, index: &str| {
        let mut cmd = tickloop();
        cmd.args(["etl-features", "--set", "minimal", "--lake", &lake, "--s3-endpoint", &s3.endpoint]).args(extra);
        cmd.env_remove("AWS_BATCH_JOB_ARRAY_INDEX").env_remove("JOB_COMPLETION_INDEX").env(variable, index);
        ok(&mut cmd)
    };
    // 2024-01-02 is day 19,724 since 1970: shard 0 of 2.
    let first = etl(&["--shards", "2"], "AWS_BATCH_JOB_ARRAY_INDEX", "0");
    assert!(
        first.starts_with("shard 0 of 2: minimal@") && first.contains("built 1 day(s) [\"2024-01-02\"]"),
        "{first}"
    );
    let second = etl(&["--shards", "2"], "JOB_COMPLETION_INDEX", "1");
    assert!(second.contains("built 0 day(s)") && second.contains("0 day(s) unchanged"), "{second}");
    let whole = etl(&[], "UNUSED", "");
    assert!(whole.contains("built 0 day(s) [] (0 rows in 0 hourly files); 1 day(s) unchanged"), "{whole}");
}

#[test]
fn a_plain_backtest_refuses_to_shard_and_says_what_can() {
    let dir = tempfile::tempdir().unwrap();
    let exp = dir.path().join("plain.toml");
    std::fs::write(
        &exp,
        format!(
            "name = \"plain\"\n[data]\nlake = \"{}\"\nstart = \"2024-01-02T14:30:00Z\"\nend = \"2024-01-02T14:50:00Z\"\n[sim]\nseed = 1\nsymbols = 2\n",
            dir.path().join("lake").display()
        ),
    )
    .unwrap();
    let run = |extra: &[&str]| {
        let mut cmd = tickloop();
        cmd.arg("backtest").arg("--experiment").arg(&exp).arg("--generate-missing").args(extra);
        cmd.env_remove("AWS_BATCH_JOB_ARRAY_INDEX").env_remove("JOB_COMPLETION_INDEX");
        let out = cmd.output().unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let prefix = dir.path().join("run");
    let prefix = prefix.to_str().unwrap();
    let err = run(&["--shards", "2", "--shard", "0", "--run-prefix", prefix]);
    assert!(err.contains("--shards splits a [sweep] grid"), "{err}");
    let err = run(&["--shards", "2", "--run-prefix", prefix]);
    assert!(err.contains("Pass --shard I, or run it as an array job"), "{err}");
    let err = run(&["--shards", "2"]);
    assert!(err.contains("--run-prefix"), "{err}");
}

/// The Kubernetes manifests against Kubernetes' schemas, the AWS Batch requests against the
/// Batch API model, the IAM documents against IAM's grammar (`deploy/check.py`), and every
/// command line in them accepted by this tickloop.
#[test]
fn the_deployment_manifests_pass_their_platforms_validators_and_run_real_commands() {
    let Some(python) = python() else {
        assert!(std::env::var_os("CI").is_none(), "CI must provide the Python tools");
        return tickloop_testkit::skip("needs kubernetes-validate and botocore (run through `cargo xtask test`)");
    };
    let deploy = tickloop_testkit::manifest_dir().join("../../deploy");
    let out = Command::new(&python).arg(deploy.join("check.py")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let commands: Vec<Vec<String>> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(commands.len() >= 5, "{commands:?}");
    assert!(commands.iter().any(|c| c.contains(&"--shards".to_owned())));
    assert!(commands.iter().any(|c| c[..2] == ["runs", "merge"]));
    for command in &commands {
        // Every flag is one tickloop knows: clap refuses an unknown one before it shows help.
        let out = tickloop().args(command).arg("--help").output().unwrap();
        assert!(out.status.success(), "tickloop {command:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    // The image's entrypoint is valid shell.
    assert!(Command::new("sh").arg("-n").arg(deploy.join("image/entrypoint.sh")).status().unwrap().success());
}
