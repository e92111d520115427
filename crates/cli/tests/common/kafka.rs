//! The Kafka side of the integration tests: the broker from `cargo xtask test`, and
//! Python's confluent-kafka as the independent client that writes inputs and reads outputs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::tickloop;

/// The broker and a Python with confluent-kafka, or `None` (skipped) outside `cargo xtask test`.
pub fn services() -> Option<(String, PathBuf)> {
    let brokers = std::env::var("KAFKA_BROKERS").ok();
    let python = std::env::var_os("TICKLOOP_PYTHON").map(PathBuf::from).or_else(|| {
        let venv = tickloop_testkit::manifest_dir().join("../../.venv/bin/python");
        venv.exists().then_some(venv)
    });
    let usable = python
        .as_ref()
        .is_some_and(|p| Command::new(p).args(["-c", "import confluent_kafka"]).status().is_ok_and(|s| s.success()));
    match (brokers, python.filter(|_| usable)) {
        (Some(b), Some(p)) => Some((b, p)),
        _ => {
            assert!(std::env::var_os("CI").is_none(), "CI must provide KAFKA_BROKERS and confluent-kafka");
            tickloop_testkit::skip("needs KAFKA_BROKERS and confluent-kafka (run through `cargo xtask test`)");
            None
        }
    }
}

/// Writes JSON lines (`{"key":…,"value":…}`, value a string) to a topic, optionally paced over
/// `seconds`.
pub const PRODUCE: &str = r#"
import json, sys, time
from confluent_kafka import Producer
brokers, topic, path, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
records = [json.loads(l) for l in open(path)]
p = Producer({"bootstrap.servers": brokers, "enable.idempotence": True, "linger.ms": 5})
start = time.time()
for i, r in enumerate(records):
    p.produce(topic, key=r["key"].encode(), value=r["value"].encode())
    p.poll(0)
    if seconds > 0:
        due = start + seconds * (i + 1) / len(records)
        while time.time() < due:
            time.sleep(0.001)
p.flush(30)
"#;

/// Reads every record of a topic (all partitions, by assignment) until it has been quiet
/// for a while; prints one JSON object per record.
pub const CONSUME: &str = r#"
import json, sys, time
from confluent_kafka import Consumer, TopicPartition
brokers, topic = sys.argv[1], sys.argv[2]
c = Consumer({"bootstrap.servers": brokers, "group.id": "reader", "enable.auto.commit": False,
              "auto.offset.reset": "earliest"})
parts = c.list_topics(topic, timeout=10).topics[topic].partitions
c.assign([TopicPartition(topic, p, 0) for p in parts])
quiet = time.time() + 3
while time.time() < quiet:
    m = c.poll(0.2)
    if m is None or m.error():
        continue
    quiet = time.time() + 2
    headers = {k: v.decode() for k, v in (m.headers() or [])}
    print(json.dumps({"key": m.key().decode() if m.key() else None, "value": m.value().decode(errors="replace"),
                      "headers": headers}))
c.close()
"#;

/// Creates a topic with 3 partitions.
pub const CREATE: &str = r#"
import sys
from confluent_kafka.admin import AdminClient, NewTopic
admin = AdminClient({"bootstrap.servers": sys.argv[1]})
for f in admin.create_topics([NewTopic(sys.argv[2], num_partitions=3, replication_factor=1)]).values():
    f.result(30)
"#;

pub fn default_experiment() -> PathBuf {
    tickloop_testkit::manifest_dir().join("../../experiments/default.toml")
}

pub fn python(python: &Path, script: &str, args: &[&str]) -> String {
    let out = Command::new(python).arg("-c").arg(script).args(args).output().unwrap();
    assert!(out.status.success(), "python failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

pub fn read_topic(py: &Path, brokers: &str, topic: &str) -> Vec<Value> {
    python(py, CONSUME, &[brokers, topic]).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

pub fn tick_line(symbol: &str, second: i64, close: f64, volume: f64) -> String {
    let ts = 1_704_205_800 + second; // 2024-01-02T14:30:00Z
    let value = format!(
        r#"{{"symbol":"{symbol}","ts":{},"open":{close},"high":{close},"low":{close},"close":{close},"volume":{volume},"exchange":"XNAS","currency":"USD"}}"#,
        ts * 1000
    );
    serde_json::json!({"key": symbol, "value": value}).to_string()
}

pub struct Topics {
    pub input: String,
    pub features: String,
    pub alerts: String,
    pub predictions: String,
    pub dlq: String,
    pub group: String,
}

impl Topics {
    pub fn new(name: &str) -> Self {
        let tag = format!("{name}-{}", std::process::id());
        Topics {
            input: format!("ticks-{tag}"),
            features: format!("features-{tag}"),
            alerts: format!("alerts-{tag}"),
            predictions: format!("predictions-{tag}"),
            dlq: format!("dlq-{tag}"),
            group: format!("live-{tag}"),
        }
    }

    pub fn live(&self, brokers: &str, state: &Path, experiment: &Path, extra: &[&str]) -> Command {
        let mut cmd = tickloop();
        cmd.args(["live", "--brokers", brokers, "--group", &self.group])
            .args(["--input-topic", &self.input, "--features-topic", &self.features])
            .args(["--alerts-topic", &self.alerts, "--dead-letter-topic", &self.dlq])
            .args(["--predictions-topic", &self.predictions])
            .arg("--experiment")
            .arg(experiment)
            .arg("--state")
            .arg(state)
            .args(["--session-timeout-ms", "6000", "--commit-interval", "200ms"])
            .args(extra);
        cmd
    }
}

/// `symbols` × `seconds` of ticks as JSON lines, written to `dir/input.jsonl`.
pub fn write_market(dir: &Path, prefix: &str, symbols: usize, seconds: i64) -> PathBuf {
    let mut lines = Vec::new();
    for second in 0..seconds {
        for i in 0..symbols {
            let close = 20.0 + i as f64 + ((second * 7 + i as i64) % 13) as f64 * 0.05;
            lines.push(tick_line(&format!("{prefix}{i:02}"), second, close, 100.0 + (second % 11) as f64));
        }
    }
    let input = dir.join("input.jsonl");
    std::fs::write(&input, lines.join("\n")).unwrap();
    input
}

/// Publishes `input` into the topic over `seconds` of wall time, in the background.
pub fn feed_in_background(py: &Path, brokers: &str, topic: &str, input: &Path, seconds: u32) -> std::process::Child {
    Command::new(py)
        .arg("-c")
        .arg(PRODUCE)
        .args([brokers, topic, input.to_str().unwrap(), &seconds.to_string()])
        .spawn()
        .unwrap()
}

/// The feature records of a topic by id, each with every copy's feature values.
pub fn features_by_id(py: &Path, brokers: &str, topic: &str) -> BTreeMap<String, Vec<Value>> {
    let mut by_id: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for record in read_topic(py, brokers, topic) {
        let value: Value = serde_json::from_str(record["value"].as_str().unwrap()).unwrap();
        by_id.entry(record["headers"]["id"].as_str().unwrap().to_owned()).or_default().push(value["features"].clone());
    }
    by_id
}
