//! `tickloop live` against a real Kafka-protocol broker (tansu, started by `cargo xtask
//! test`), with Python's confluent-kafka as the independent client that writes the input
//! and reads the outputs back.

mod common;

use common::kafka::*;
use common::tickloop;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

#[test]
fn live_publishes_features_alerts_and_dead_letters_read_back_by_an_outside_client() {
    let Some((brokers, py)) = services() else { return };
    let dir = tempfile::tempdir().unwrap();
    let topics = Topics::new("flow");
    let mut lines = Vec::new();
    for second in 0..120 {
        for (i, symbol) in ["AAA", "BBB", "CCC"].iter().enumerate() {
            let volume = if *symbol == "BBB" && second == 100 { 2_500_000.0 } else { 1000.0 + (second % 7) as f64 };
            lines.push(tick_line(symbol, second, 50.0 + i as f64 + (second % 5) as f64 * 0.01, volume));
        }
    }
    lines.push(serde_json::json!({"key": "AAA", "value": "{\"symbol\":\"AAA\", truncated"}).to_string());
    lines.push(tick_line("CCC", 200, -4.0, 10.0));
    lines.push(tick_line("AAA", 119, 50.0, 1000.0)); // a duplicate of (AAA, 14:31:59)
    let input = dir.path().join("input.jsonl");
    std::fs::write(&input, lines.join("\n")).unwrap();
    python(&py, CREATE, &[&brokers, &topics.input]);
    python(&py, PRODUCE, &[&brokers, &topics.input, input.to_str().unwrap(), "0"]);

    let lake = dir.path().join("lake");
    // Alert sinks: a webhook (a plain HTTP server here) and SNS (moto's, delivering to an
    // SQS queue that boto3 reads back), when `cargo xtask test` started moto.
    let (hook, hooked) = webhook_server();
    let sns = std::env::var("SNS_ENDPOINT").ok().map(|endpoint| {
        let out = python(&py, SNS_SETUP, &[&endpoint, &topics.group]);
        let mut lines = out.lines();
        (endpoint, lines.next().unwrap().to_owned(), lines.next().unwrap().to_owned())
    });
    // The default experiment with the original design's absolute level on: one 2.5 M-share
    // print within two minutes of data is what this test plants, and the default relative
    // rule rightly waits for five minutes of history and three heavy ticks in a row.
    let experiment = dir.path().join("flow.toml");
    let text = std::fs::read_to_string(default_experiment()).unwrap();
    std::fs::write(&experiment, format!("{text}\n[pipeline.alerts]\nvolume_spike = {{ absolute = 1000000.0 }}\n"))
        .unwrap();
    let mut live = topics.live(&brokers, &dir.path().join("state"), &experiment, &["--exit-when-idle", "4s"]);
    live.arg("--lake").arg(&lake).args(["--alert-webhook", &hook]);
    if let Some((endpoint, arn, _)) = &sns {
        live.args(["--alert-sns-topic", arn, "--sns-endpoint", endpoint]);
    }
    let out = live.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("363 records"), "360 ticks and 3 bad records: {stdout}");
    // 4 s idle at a 200-ms commit interval: those checkpoints rewrite no state.
    let idle: u64 =
        stdout.split(" with nothing new").next().and_then(|s| s.rsplit('(').next()).unwrap().parse().unwrap();
    assert!(idle >= 10, "idle checkpoints skip the state: {stdout}");
    let spike = "alerts/BBB/volume_spike/2024-01-02T14:31:40Z";
    let posted = hooked.lock().unwrap().clone();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(posted[0].0, spike, "the alert id travels in X-Tickloop-Alert-Id");
    let body: Value = serde_json::from_str(&posted[0].1).unwrap();
    assert_eq!((body["id"].as_str(), body["symbol"].as_str()), (Some(spike), Some("BBB")));
    assert!(body["message"].as_str().unwrap().contains("at or above 1,000,000 shares"), "{body}");
    if let Some((endpoint, _, queue)) = &sns {
        let received = python(&py, SQS_READ, &[endpoint, queue]);
        let messages: Vec<Value> = received.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(messages.len(), 1, "{received}");
        let envelope = &messages[0];
        assert_eq!(envelope["MessageAttributes"]["id"]["Value"], spike);
        let alert: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
        assert_eq!(alert["id"], spike);
        let subject = envelope["Subject"].as_str().unwrap_or_default();
        assert!(
            subject.starts_with("BBB volume spike: volume 2,500,000"),
            "the subject reads as a headline: {envelope}"
        );
        assert_eq!(subject, alert["summary"].as_str().unwrap());
    }

    // The lake, read by DuckDB: the clean ticks, and the alert in processed/alerts.
    let duck = r#"
import duckdb, sys
lake = sys.argv[1]
q = lambda t: f"read_parquet('{lake}/{t}/**/*.parquet', hive_partitioning=true)"
print(duckdb.sql(f"SELECT count(*) FROM {q('raw/ticks')}").fetchone()[0])
print(duckdb.sql(f"SELECT count(*) FROM {q('processed/features')}").fetchone()[0])
print(duckdb.sql(f"SELECT symbol || ' ' || kind || ' ' || CAST(hour AS VARCHAR) FROM {q('processed/alerts')}").fetchall())
"#;
    let checked = python(&py, duck, &[lake.to_str().unwrap()]);
    assert_eq!(checked.lines().collect::<Vec<_>>(), ["360", "360", "[('BBB volume_spike 14',)]"], "{checked}");

    let features = read_topic(&py, &brokers, &topics.features);
    let ids: std::collections::BTreeSet<&str> = features.iter().map(|r| r["headers"]["id"].as_str().unwrap()).collect();
    assert_eq!(features.len(), 360, "one feature record per good tick");
    assert_eq!(ids.len(), 360);
    assert!(ids.contains("features/BBB/2024-01-02T14:31:40Z"));
    let sample: Value = serde_json::from_str(features[0]["value"].as_str().unwrap()).unwrap();
    assert!(sample["features"].as_object().unwrap().contains_key("sma_300"), "the experiment's features: {sample}");
    for key in ["ts_event", "ts_recv", "ts_emit"] {
        assert!(sample[key].is_string(), "{key} in {sample}");
    }

    let alerts = read_topic(&py, &brokers, &topics.alerts);
    let spikes: Vec<&Value> = alerts.iter().filter(|a| a["key"] == "BBB").collect();
    assert_eq!(spikes.len(), 1, "{alerts:?}");
    assert_eq!(spikes[0]["headers"]["id"], "alerts/BBB/volume_spike/2024-01-02T14:31:40Z");

    let dead = read_topic(&py, &brokers, &topics.dlq);
    let mut reasons: Vec<&str> = dead.iter().map(|d| d["headers"]["reason"].as_str().unwrap()).collect();
    reasons.sort_unstable();
    assert_eq!(reasons, ["duplicate", "malformed", "non_positive_price"]);
    let malformed = dead.iter().find(|d| d["headers"]["reason"] == "malformed").unwrap();
    assert_eq!(malformed["value"], "{\"symbol\":\"AAA\", truncated", "the original bytes are kept");
    assert!(malformed["headers"]["source"].as_str().unwrap().contains('@'));
}

/// Creates an SNS topic and an SQS queue subscribed to it on moto; prints the topic ARN and
/// the queue URL.
const SNS_SETUP: &str = r#"
import boto3, sys
endpoint, name = sys.argv[1], sys.argv[2]
kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
sns, sqs = boto3.client("sns", **kw), boto3.client("sqs", **kw)
arn = sns.create_topic(Name=name)["TopicArn"]
url = sqs.create_queue(QueueName=name)["QueueUrl"]
queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)
print(arn)
print(url)
"#;

/// Drains the SQS queue: one SNS envelope (JSON) per line.
const SQS_READ: &str = r#"
import boto3, json, sys
endpoint, url = sys.argv[1], sys.argv[2]
kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
sqs = boto3.client("sqs", **kw)
while True:
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    if not got:
        break
    for m in got:
        print(json.dumps(json.loads(m["Body"])))
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
"#;

/// What a webhook received: (alert id header, body) per POST.
type Posted = std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>;

/// A webhook receiver: every POST's `X-Tickloop-Alert-Id` and body, answered 200.
fn webhook_server() -> (String, Posted) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let shared = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut id, mut length) = (String::new(), 0usize);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    match name.to_ascii_lowercase().as_str() {
                        "x-tickloop-alert-id" => id = value.trim().to_owned(),
                        "content-length" => length = value.trim().parse().unwrap_or(0),
                        _ => {}
                    }
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            shared.lock().unwrap().push((id, String::from_utf8(body).unwrap()));
            let mut stream = stream;
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (url, got)
}

#[test]
fn kill_9_mid_stream_loses_no_input_and_duplicates_carry_identical_values() {
    let Some((brokers, py)) = services() else { return };
    let dir = tempfile::tempdir().unwrap();
    let topics = Topics::new("crash");
    let input = write_market(dir.path(), "S", 20, 600);
    python(&py, CREATE, &[&brokers, &topics.input]);

    // The feed writes for ~10 s; the runner (which needs ~3 s to join its group on tansu) is
    // killed without warning after ~6 s of it and restarted while the feed goes on.
    let mut feeder = feed_in_background(&py, &brokers, &topics.input, &input, 10);
    let state = dir.path().join("state");
    let lake = dir.path().join("lake");
    let lake_args = ["--lake", lake.to_str().unwrap(), "--lake-flush-interval", "1s"];
    let mut first = topics
        .live(&brokers, &state, &default_experiment(), &lake_args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(6));
    first.kill().unwrap(); // SIGKILL: no checkpoint, no goodbye
    first.wait().unwrap();
    let before_restart = read_topic(&py, &brokers, &topics.features).len();
    assert!(before_restart > 0 && before_restart < 12_000, "killed mid-stream: {before_restart} outputs so far");
    // The dead member holds its partitions until its session times out (6 s): wait longer.
    let mut second = topics.live(&brokers, &state, &default_experiment(), &lake_args);
    let second = second.args(["--exit-when-idle", "12s"]).output().unwrap();
    assert!(feeder.wait().unwrap().success());
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(second.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&second.stderr));

    let by_id = features_by_id(&py, &brokers, &topics.features);
    assert_eq!(by_id.len(), 20 * 600, "every input tick has its output: {stdout}");
    let duplicated = by_id.values().filter(|copies| copies.len() > 1).count();
    for (id, copies) in &by_id {
        assert!(copies.iter().all(|c| c == &copies[0]), "{id}: copies differ: {copies:?}");
    }
    eprintln!("{before_restart} outputs before the kill; {duplicated} published twice (identical); {stdout}");

    // The lake holds every clean tick exactly once, though files were written before the kill.
    let lake = tickloop_lake::Lake::local(&lake);
    let mut source =
        tickloop_lake::LakeSource::open(&lake, tickloop_core::Timestamp::MIN, tickloop_core::Timestamp::MAX).unwrap();
    let mut rows = Vec::new();
    while let Some(t) = tickloop_core::Source::next_tick(&mut source).unwrap() {
        rows.push((t.symbol, t.ts_event));
    }
    assert_eq!(rows.len(), 20 * 600, "every tick once in raw/ticks");
    rows.sort_unstable();
    rows.dedup();
    assert_eq!(rows.len(), 20 * 600);
}

/// The parity promise: the same recorded ticks through `tickloop backtest` (lake source)
/// and through the broker (`feed --replay` → `live`) raise identical alerts — same ids, same
/// values — because both run the experiment's one pipeline.
/// The parity the live runner promises: the same recorded ticks through `tickloop
/// backtest` (lake source) and through the broker (`feed --replay` → `live`) give the same
/// predictions and alerts, id for id and value for value.
#[test]
fn replaying_the_lake_through_kafka_gives_exactly_the_backtests_predictions_and_alerts() {
    let Some((brokers, py)) = services() else { return };
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let run = |cmd: &mut Command| {
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(tickloop().args(["sim", "--symbols", "8", "--duration", "2401s", "--seed", "3", "--lake"]).arg(&lake));
    let models = dir.path().join("models/gbm");
    run(tickloop()
        .args(["train", "--model", "gbm", "--features", "log_return,rsi_14", "--iterations", "20", "--lake"])
        .arg(&lake)
        .arg("--out")
        .arg(&models));
    // The alert rules judge volume and volatility by the season fitted on the same lake.
    let seasonal = dir.path().join("models/seasonal");
    let fit = run(tickloop().args(["train", "--model", "seasonal", "--lake"]).arg(&lake).arg("--out").arg(&seasonal));
    assert!(fit.contains("saved seasonal/v1"), "{fit}");
    let experiment = dir.path().join("parity.toml");
    std::fs::write(
        &experiment,
        format!(
            r#"
name = "parity"
[data]
lake = "{}"
start = "2024-01-02T14:30:00Z"
end = "2024-01-02T15:10:01Z"
[pipeline]
features = ["log_return", "sma_60", "rsi_14"]
[pipeline.alerts]
cooldown_secs = 60
baseline = "{}"
volume_spike = {{ min_ratio = 2.0, min_sigmas = 1.5, window = "60s", persist = 1, of = 1 }}
price_drop = {{ window = "60s", sigmas = 1.0, min_pct = 0.3 }}
model_anomaly = {{ sigmas = 1.5, window = 10 }}
[model]
path = "{}"
predict_every_secs = 60
[strategy]
kind = "ma_crossover"
fast = 30
slow = 120
"#,
            lake.display(),
            seasonal.display(),
            models.display()
        ),
    )
    .unwrap();
    let runs = dir.path().join("runs");
    run(tickloop().arg("backtest").arg("--experiment").arg(&experiment).arg("--runs-dir").arg(&runs));
    let run_dir = std::fs::read_dir(&runs).unwrap().next().unwrap().unwrap().path();
    let from_file = |name: &str| -> Vec<Value> {
        let mut lines: Vec<Value> = std::fs::read_to_string(run_dir.join(name))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        lines.sort_by_key(|v| v["id"].as_str().unwrap().to_owned());
        lines
    };
    let (expected_alerts, expected_predictions) = (from_file("alerts.jsonl"), from_file("predictions.jsonl"));
    assert!(expected_alerts.len() >= 5, "the rules should fire on 40 minutes of 8 symbols: {}", expected_alerts.len());
    assert!(
        expected_alerts.iter().any(|a| a["kind"] == "model_anomaly"),
        "the model-anomaly rule fires too: {expected_alerts:?}"
    );
    assert!(
        expected_alerts.iter().any(|a| a["message"].as_str().unwrap().contains("seasonally adjusted by seasonal/v1")),
        "the volume rule read the baseline: {expected_alerts:?}"
    );
    // Each symbol is predicted when warm and then once a minute. The data ends on a minute
    // boundary: that second's batch is predicted only because the engine flushes it when
    // the input ends, as the live runner flushes when the stream pauses.
    assert!(expected_predictions.len() >= 8 * 40, "{} predictions", expected_predictions.len());
    let last_minute = "2024-01-02T15:10:00Z";
    assert!(expected_predictions.iter().filter(|p| p["ts_event"] == last_minute).count() == 8);

    let topics = Topics::new("parity");
    let fed = run(tickloop()
        .args(["feed", "--brokers", &brokers, "--topic", &topics.input, "--partitions", "3"])
        .args(["--start", "2024-01-02T14:30:00Z", "--duration", "2401s", "--rate", "100000", "--replay"])
        .arg(&lake));
    assert!(fed.contains("published 19208 ticks of 8 symbols"), "{fed}");
    // No --model: live takes the experiment's [model], as the backtest did.
    run(&mut topics.live(&brokers, &dir.path().join("state"), &experiment, &["--exit-when-idle", "4s"]));

    let published = |topic: &str| -> Vec<Value> {
        let mut got: Vec<Value> = read_topic(&py, &brokers, topic)
            .iter()
            .map(|r| {
                let mut v: Value = serde_json::from_str(r["value"].as_str().unwrap()).unwrap();
                assert_eq!(r["headers"]["id"], v["id"], "the id header names the value");
                let map = v.as_object_mut().unwrap();
                map.remove("ts_recv");
                map.remove("ts_emit");
                v
            })
            .collect();
        got.sort_by_key(|v| v["id"].as_str().unwrap().to_owned());
        got
    };
    assert_eq!(published(&topics.predictions), expected_predictions);
    assert_eq!(published(&topics.alerts), expected_alerts);
}

/// Two runners in one group split the partitions; when the second joins, partitions move,
/// and the new owner continues from the old owner's checkpoint: every output id is
/// published, and any published twice carries identical values.
#[test]
fn two_runners_in_one_group_split_the_work_and_a_moved_partition_continues_exactly() {
    let Some((brokers, py)) = services() else { return };
    let dir = tempfile::tempdir().unwrap();
    let topics = Topics::new("rebalance");
    let input = write_market(dir.path(), "R", 24, 400);
    python(&py, CREATE, &[&brokers, &topics.input]);
    let mut feeder = feed_in_background(&py, &brokers, &topics.input, &input, 12);
    let state = dir.path().join("state");
    let idle = ["--exit-when-idle", "10s"];
    let first = topics
        .live(&brokers, &state, &default_experiment(), &idle)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(5));
    let second = topics
        .live(&brokers, &state, &default_experiment(), &idle)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(feeder.wait().unwrap().success());
    let (first, second) = (first.wait_with_output().unwrap(), second.wait_with_output().unwrap());
    let records = |out: &std::process::Output| -> u64 {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        text.split("live: ").nth(1).and_then(|t| t.split(' ').next()).and_then(|n| n.parse().ok()).unwrap_or(0)
    };
    let (a, b) = (records(&first), records(&second));
    assert!(a > 0 && b > 0, "both members worked: {a} and {b} records");

    let by_id = features_by_id(&py, &brokers, &topics.features);
    assert_eq!(by_id.len(), 24 * 400, "every input tick has its output ({a} + {b} records processed)");
    for (id, copies) in &by_id {
        assert!(copies.iter().all(|c| c == &copies[0]), "{id}: copies differ: {copies:?}");
    }
}

#[test]
fn live_predicts_with_a_trained_model_exactly_as_the_pipeline_does_in_process() {
    let Some((brokers, py)) = services() else { return };
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("train-lake");
    let models = dir.path().join("models/gbm");
    let run = |cmd: &mut Command| {
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(tickloop().args(["sim", "--symbols", "8", "--duration", "40m", "--lake"]).arg(&lake));
    run(tickloop()
        .args(["train", "--model", "gbm", "--features", "log_return,sma_20", "--iterations", "20", "--lake"])
        .arg(&lake)
        .arg("--out")
        .arg(&models));

    let topics = Topics::new("predict");
    let input = write_market(dir.path(), "P", 3, 180);
    python(&py, CREATE, &[&brokers, &topics.input]);
    python(&py, PRODUCE, &[&brokers, &topics.input, input.to_str().unwrap(), "0"]);
    let out = topics
        .live(&brokers, &dir.path().join("state"), &default_experiment(), &["--exit-when-idle", "4s"])
        .arg("--model")
        .arg(&models)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // In process: the same experiment, the same model, the same ticks.
    let dir_v1 = models.join("v1");
    let card = tickloop_models::load_card(&dir_v1).unwrap();
    let mut config = tickloop_backtest::ExperimentConfig::load(&default_experiment()).unwrap().resolved_pipeline();
    config.require_model(&card).unwrap();
    let model = tickloop_gbm::GbmModel::load(&dir_v1, card).unwrap();
    let mut pipeline = tickloop_pipeline::Pipeline::new(&config).with_model(std::sync::Arc::new(model), 60).unwrap();
    let mut symbols = tickloop_core::SymbolTable::new();
    let mut expected = BTreeMap::new();
    let mut outputs = tickloop_core::Outputs::default();
    for line in std::fs::read_to_string(&input).unwrap().lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        let value = record["value"].as_str().unwrap().as_bytes();
        // Received "now" (after the data's time), as the live runner stamps it.
        let received = tickloop_core::Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        let tick = tickloop_features::decode_json_tick(value, &mut symbols, received).unwrap();
        outputs.clear();
        tickloop_core::Component::on_tick(&mut pipeline, &tick, &mut outputs);
        for p in &outputs.predictions {
            expected.insert(format!("predictions/{}/gbm/v1/{}", symbols.name(p.symbol), p.ts_event), p.value);
        }
    }
    outputs.clear();
    tickloop_core::Component::flush(&mut pipeline, &mut outputs);
    for p in &outputs.predictions {
        expected.insert(format!("predictions/{}/gbm/v1/{}", symbols.name(p.symbol), p.ts_event), p.value);
    }
    assert_eq!(expected.len(), 9, "3 symbols, predicted when warm (19 s) and at 60 s and 120 s: {expected:?}");
    assert!(expected.contains_key("predictions/P01/gbm/v1/2024-01-02T14:31:00Z"));

    let mut published = BTreeMap::new();
    for record in read_topic(&py, &brokers, &topics.predictions) {
        let value: Value = serde_json::from_str(record["value"].as_str().unwrap()).unwrap();
        assert_eq!(record["headers"]["id"], value["id"]);
        assert_eq!(value["model"], "gbm/v1");
        published.insert(value["id"].as_str().unwrap().to_owned(), value["return"].as_f64().unwrap());
    }
    assert_eq!(published, expected, "live predictions equal the in-process pipeline's, bit for bit");
}
