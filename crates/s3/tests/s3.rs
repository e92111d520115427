//! The lake's behaviour on S3 equals its behaviour on local disk: the same scenarios run on
//! both backends against a real S3-compatible server (SeaweedFS, started by `cargo xtask
//! test`), and the files each backend holds are byte-identical.

use std::sync::Arc;

use tickloop_core::{NANOS_PER_SECOND, Source, SymbolId, SymbolTable, Tick, Timestamp};
use tickloop_features::FeatureSetDef;
use tickloop_lake::{
    HourPartition, Lake, LakeSource, LakeTable, ObjectStore, TickFileWriter, build_features, land_ndjson,
};
use tickloop_s3::{S3Location, S3Options, S3Store};

fn t0() -> Timestamp {
    Timestamp::parse("2024-01-02T13:00:00Z").unwrap()
}

/// A fresh prefix of the test bucket, or `None` (test skipped) when no server is configured.
/// Under CI a missing server is a failure, not a skip.
fn s3_lake(name: &str) -> Option<Lake> {
    let Ok(endpoint) = std::env::var("S3_ENDPOINT") else {
        assert!(std::env::var_os("CI").is_none(), "CI must provide S3_ENDPOINT (cargo xtask test starts SeaweedFS)");
        tickloop_testkit::skip("S3_ENDPOINT is not set (cargo xtask test starts a server)");
        return None;
    };
    let bucket = std::env::var("S3_BUCKET").unwrap_or_else(|_| "lake".to_owned());
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let url = format!("s3://{bucket}/tests/{name}-{}-{nanos}", std::process::id());
    let options = S3Options { endpoint: Some(endpoint), path_style: true, ..S3Options::default() };
    let store = S3Store::connect(S3Location::parse(&url).unwrap(), &options).unwrap();
    // The server may still be creating its bucket right after start-up.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while let Err(e) = store.list("") {
        assert!(std::time::Instant::now() < deadline, "S3 server not ready: {e}");
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    Some(Lake::on(Arc::new(store), url))
}

fn ndjson_line(sym: &str, sec: i64, close: &str) -> String {
    format!(
        r#"{{"symbol":"{sym}","ts":"{}","open":10,"high":11,"low":9,"close":{close},"volume":{},"exchange":"XNAS","currency":"USD"}}"#,
        t0().add_nanos(sec * NANOS_PER_SECOND),
        5 + sec % 7
    )
}

fn replay(lake: &Lake) -> Vec<Tick> {
    let mut src = LakeSource::open(lake, Timestamp::MIN, Timestamp::MAX).unwrap();
    std::iter::from_fn(|| src.next_tick().unwrap()).collect()
}

/// Landing (with rejects), incremental re-runs, replacement, feature engineering and replay:
/// everything a lake job does, on whichever backend `lake` sits.
fn lake_scenario(lake: &Lake, inbox: &std::path::Path) -> Vec<Tick> {
    let mut lines: Vec<String> = Vec::new();
    for s in 0..300 {
        for sym in ["AAA", "BBB", "CCC"] {
            lines.push(ndjson_line(sym, 3500 + s, &format!("{}", 10.0 + (s % 13) as f64 * 0.01)));
        }
    }
    lines[10] = "{\"symbol\":\"AAA\", truncated".to_owned(); // line 11
    lines.push(ndjson_line("AAA", 3600, "10")); // line 901: a duplicate
    let file = inbox.join("batch-1.ndjson");
    std::fs::write(&file, lines.join("\n")).unwrap();

    let first = land_ndjson(lake, std::slice::from_ref(&file)).unwrap();
    assert_eq!((first.rows_written, first.rows_rejected, first.partitions_written), (899, 2, 2));
    let rejects = lake.store().get("rejects/batch-1.jsonl").unwrap().expect("rejects are written");
    let rejects: Vec<serde_json::Value> =
        String::from_utf8(rejects).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let got: Vec<(u64, &str)> =
        rejects.iter().map(|r| (r["line"].as_u64().unwrap(), r["reason"].as_str().unwrap())).collect();
    assert_eq!(got, [(11, "malformed"), (901, "duplicate")]);
    assert_eq!(land_ndjson(lake, std::slice::from_ref(&file)).unwrap().skipped_unchanged, ["batch-1"]);

    let set = FeatureSetDef::builtin("minimal").unwrap();
    let built = build_features(lake, &set, Timestamp::MIN, Timestamp::MAX).unwrap();
    assert_eq!((built.days_built.len(), built.rows), (1, 899));
    assert_eq!(build_features(lake, &set, Timestamp::MIN, Timestamp::MAX).unwrap().days_unchanged, ["2024-01-02"]);

    // Re-landing a shorter version (13:00 only) replaces the input's rows and drops its
    // 14:00 file; the feature job then rebuilds the day and removes the 14:00 features.
    std::fs::write(&file, lines[..60].join("\n")).unwrap();
    let changed = land_ndjson(lake, std::slice::from_ref(&file)).unwrap();
    assert_eq!((changed.rows_written, changed.partitions_written), (59, 1));
    let hour14 = HourPartition::containing(t0().add_nanos(3600 * NANOS_PER_SECOND));
    assert!(lake.partition_files(LakeTable::RawTicks, hour14, ".parquet").unwrap().is_empty());
    let rebuilt = build_features(lake, &set, Timestamp::MIN, Timestamp::MAX).unwrap();
    assert_eq!(rebuilt.days_built, ["2024-01-02"]);
    assert!(lake.partition_files(LakeTable::Features, hour14, ".parquet").unwrap().is_empty());

    // An interrupted write leaves nothing behind.
    let mut table = SymbolTable::new();
    let id = table.intern_with("ZZZ", "XNAS", "USD").unwrap();
    let mut writer =
        TickFileWriter::create(lake.object(LakeTable::RawTicks, HourPartition::containing(t0()), "part-x.parquet"))
            .unwrap();
    let ticks: Vec<Tick> = replay(lake).into_iter().filter(|t| t.symbol == SymbolId::new(0)).collect();
    let ticks: Vec<Tick> = ticks.into_iter().map(|t| Tick { symbol: id, ..t }).collect();
    writer.write_run(table.meta(id), &ticks).unwrap();
    drop(writer);
    assert_eq!(
        lake.partition_files(LakeTable::RawTicks, HourPartition::containing(t0()), ".parquet").unwrap().len(),
        1
    );
    replay(lake)
}

#[test]
fn lake_jobs_behave_the_same_on_s3_and_on_local_disk_and_write_the_same_bytes() {
    let Some(s3) = s3_lake("jobs") else { return };
    let dir = tempfile::tempdir().unwrap();
    let local = Lake::local(dir.path().join("lake"));
    let (inbox_a, inbox_b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&inbox_a).unwrap();
    std::fs::create_dir_all(&inbox_b).unwrap();
    let on_local = lake_scenario(&local, &inbox_a);
    let on_s3 = lake_scenario(&s3, &inbox_b);
    assert_eq!(on_local.len(), 59);
    assert_eq!(on_s3, on_local, "replay from S3 equals replay from disk");

    for dataset in [LakeTable::RawTicks, LakeTable::Features] {
        let prefix = format!("{}/", dataset.prefix());
        let keys =
            |lake: &Lake| -> Vec<String> { lake.store().list(&prefix).unwrap().into_iter().map(|m| m.key).collect() };
        let keys_local = keys(&local);
        assert!(!keys_local.is_empty());
        assert_eq!(keys(&s3), keys_local, "same objects in {prefix}");
        for key in &keys_local {
            assert_eq!(s3.store().get(key).unwrap(), local.store().get(key).unwrap(), "{key} differs");
        }
    }
}

#[test]
fn s3_errors_name_the_object_and_missing_objects_are_not_errors() {
    let Some(s3) = s3_lake("errors") else { return };
    assert_eq!(s3.store().get("nothing/here.json").unwrap(), None);
    s3.store().delete("nothing/here.json").unwrap();
    let err = s3.store().fetch("raw/ticks/date=2024-01-02/hour=13/missing.parquet").unwrap_err().to_string();
    assert!(err.contains("s3://") && err.contains("missing.parquet"), "{err}");

    let endpoint = std::env::var("S3_ENDPOINT").unwrap();
    let options = S3Options { endpoint: Some(endpoint), path_style: true, max_attempts: 2, ..S3Options::default() };
    let store = S3Store::connect(S3Location::parse("s3://no-such-bucket-tickloop/x").unwrap(), &options).unwrap();
    let err = store.list("raw/").unwrap_err().to_string();
    assert!(err.contains("s3://no-such-bucket-tickloop/x/raw/"), "{err}");
}

/// What the proxy does to the first connections.
#[derive(Clone, Copy)]
enum Fault {
    /// `503 Slow Down`, what S3 says when it throttles.
    SlowDown,
    /// Reads the request, then says nothing for this long (a server alive but stuck).
    Stall(std::time::Duration),
}

/// A TCP proxy in front of the S3 server that answers the first `faults` connections with
/// `fault` and passes the rest through untouched.
struct FaultyProxy {
    addr: String,
    faults_served: Arc<std::sync::atomic::AtomicUsize>,
    passed: Arc<std::sync::atomic::AtomicUsize>,
}

impl FaultyProxy {
    fn start(upstream: &str, faults: usize, fault: Fault) -> Self {
        use std::io::{Read, Write};
        use std::sync::atomic::Ordering::SeqCst;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let faults_served = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let passed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (served, through) = (faults_served.clone(), passed.clone());
        std::thread::spawn(move || {
            for mut client in listener.incoming().flatten() {
                if served.load(SeqCst) < faults {
                    served.fetch_add(1, SeqCst);
                    // Read the request head and whatever body arrived, then refuse it.
                    let _ = client.set_read_timeout(Some(std::time::Duration::from_millis(200)));
                    let mut buf = [0u8; 65536];
                    while client.read(&mut buf).is_ok_and(|n| n > 0) {}
                    if let Fault::Stall(stall) = fault {
                        std::thread::spawn(move || {
                            std::thread::sleep(stall);
                            drop(client);
                        });
                        continue;
                    }
                    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
                    let _ = write!(
                        client,
                        "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    continue;
                }
                through.fetch_add(1, SeqCst);
                let Ok(server) = std::net::TcpStream::connect(&upstream) else { continue };
                let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (mut client, mut server) = (client, server);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c2, &mut s2);
                    let _ = s2.shutdown(std::net::Shutdown::Write);
                });
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut server, &mut client);
                    let _ = client.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        FaultyProxy { addr, faults_served, passed }
    }
}

fn store_via(endpoint: String, url: &str, max_attempts: u32) -> S3Store {
    store_with(endpoint, url, S3Options { max_attempts, ..S3Options::default() })
}

fn store_with(endpoint: String, url: &str, options: S3Options) -> S3Store {
    let options = S3Options { endpoint: Some(endpoint), path_style: true, ..options };
    S3Store::connect(S3Location::parse(url).unwrap(), &options).unwrap()
}

/// Throttling and server errors are retried with backoff, and the write lands; a server that
/// is gone makes the write fail after the last attempt, naming the object, rather than hang.
#[test]
fn s3_faults_are_retried_and_a_dead_server_fails_loudly_in_bounded_time() {
    use std::sync::atomic::Ordering::SeqCst;
    let Some(direct) = s3_lake("faults") else { return };
    let url = direct.description().to_owned();
    let proxy = FaultyProxy::start(&std::env::var("S3_ENDPOINT").unwrap(), 3, Fault::SlowDown);
    let flaky = store_via(format!("http://{}", proxy.addr), &url, 8);
    let started = std::time::Instant::now();
    flaky.put("raw/ticks/date=2024-01-02/hour=13/part-0.parquet", b"survived three 503s").unwrap();
    assert_eq!(proxy.faults_served.load(SeqCst), 3, "three attempts were refused");
    assert!(proxy.passed.load(SeqCst) >= 1);
    let waited = started.elapsed();
    assert!(waited >= std::time::Duration::from_millis(100), "retries backed off: {waited:?}");
    assert_eq!(
        direct.store().get("raw/ticks/date=2024-01-02/hour=13/part-0.parquet").unwrap().as_deref(),
        Some(&b"survived three 503s"[..]),
        "the object is on the server"
    );

    // A stopped server: nothing listens on the port any more.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let gone = store_via(format!("http://{closed}"), &url, 3);
    let started = std::time::Instant::now();
    let err = gone.put("raw/ticks/date=2024-01-02/hour=14/part-0.parquet", b"lost?").unwrap_err().to_string();
    assert!(err.contains("hour=14/part-0.parquet"), "the error names the object: {err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "failed in {:?}", started.elapsed());
}

/// A server that takes a request and then stalls: each attempt is abandoned after the
/// attempt timeout and retried, and the write lands once the server answers again.
#[test]
fn a_stalled_s3_server_costs_an_attempt_timeout_per_try_not_a_stuck_run() {
    use std::sync::atomic::Ordering::SeqCst;
    use std::time::Duration;
    let Some(direct) = s3_lake("stalls") else { return };
    let url = direct.description().to_owned();
    let proxy = FaultyProxy::start(&std::env::var("S3_ENDPOINT").unwrap(), 2, Fault::Stall(Duration::from_secs(120)));
    let options = S3Options { max_attempts: 5, attempt_timeout: Duration::from_secs(1), ..S3Options::default() };
    let store = store_with(format!("http://{}", proxy.addr), &url, options);
    let started = std::time::Instant::now();
    let key = "raw/ticks/date=2024-01-02/hour=15/part-0.parquet";
    store.put(key, b"outlived two stalls").unwrap();
    let took = started.elapsed();
    assert_eq!(proxy.faults_served.load(SeqCst), 2, "two attempts hit the stalled server");
    assert!(took >= Duration::from_secs(2), "each stalled attempt waited its timeout: {took:?}");
    assert!(took < Duration::from_secs(30), "but not the server's 120 s: {took:?}");
    assert_eq!(direct.store().get(key).unwrap().as_deref(), Some(&b"outlived two stalls"[..]));

    // Stalled for good: the write fails once the attempts are spent, naming the object.
    let stuck =
        FaultyProxy::start(&std::env::var("S3_ENDPOINT").unwrap(), usize::MAX, Fault::Stall(Duration::from_secs(120)));
    let options = S3Options { max_attempts: 2, attempt_timeout: Duration::from_secs(1), ..S3Options::default() };
    let store = store_with(format!("http://{}", stuck.addr), &url, options);
    let started = std::time::Instant::now();
    let err = store.put("raw/ticks/date=2024-01-02/hour=16/part-0.parquet", b"never").unwrap_err().to_string();
    assert!(err.contains("hour=16/part-0.parquet"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20), "gave up in {:?}", started.elapsed());
}
