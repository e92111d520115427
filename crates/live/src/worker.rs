//! One Kafka partition's pipeline: decode, clean, features, alerts, and the records they
//! produce. Pure (no Kafka, no clock of its own), so it is unit-tested directly and its
//! outputs are a function of the partition's records.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tickloop_core::{Alert, Component, Outputs, Rejection, Snapshot, SymbolTable, Timestamp};
use tickloop_features::decode_json_tick;
use tickloop_kafka::Consumed;
use tickloop_pipeline::{Pipeline, PipelineConfig};

/// Which output topic a record goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    Features,
    Alerts,
    DeadLetter,
}

/// A record to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct OutRecord {
    pub kind: OutputKind,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub headers: Vec<(&'static str, Vec<u8>)>,
    /// The consumed record's Kafka timestamp, for end-to-end latency.
    pub source_ts_ms: Option<i64>,
}

/// What a partition's state is saved as: enough to continue bit for bit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionSnapshot {
    pub format: u32,
    pub partition: i32,
    /// The offset of the next record to process.
    pub next_offset: i64,
    pub symbols: SymbolTable,
    pub pipeline: Snapshot,
}

pub(crate) const SNAPSHOT_FORMAT: u32 = 1;

/// The pipeline of one partition, with its own symbol table (symbols hash to partitions by
/// key, so no symbol's state is split across workers).
#[derive(Debug)]
pub struct PartitionWorker {
    partition: i32,
    symbols: SymbolTable,
    pipeline: Pipeline,
    feature_names: Vec<String>,
    next_offset: Option<i64>,
    out: Outputs,
}

impl PartitionWorker {
    pub fn new(partition: i32, config: &PipelineConfig) -> Self {
        let feature_names = config.features.iter().map(ToString::to_string).collect();
        PartitionWorker {
            partition,
            symbols: SymbolTable::new(),
            pipeline: Pipeline::new(config),
            feature_names,
            next_offset: None,
            out: Outputs::default(),
        }
    }

    pub fn restore(
        config: &PipelineConfig,
        snapshot: &PartitionSnapshot,
    ) -> Result<Self, tickloop_core::SnapshotError> {
        let mut worker = PartitionWorker::new(snapshot.partition, config);
        worker.pipeline.restore(&snapshot.pipeline)?;
        worker.symbols = snapshot.symbols.clone();
        worker.next_offset = Some(snapshot.next_offset);
        Ok(worker)
    }

    pub fn snapshot(&self) -> Option<PartitionSnapshot> {
        let next_offset = self.next_offset?;
        let pipeline = self.pipeline.snapshot().expect("pipeline state serialises");
        Some(PartitionSnapshot {
            format: SNAPSHOT_FORMAT,
            partition: self.partition,
            next_offset,
            symbols: self.symbols.clone(),
            pipeline,
        })
    }

    pub fn next_offset(&self) -> Option<i64> {
        self.next_offset
    }

    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Processes one record received at `ts_recv`; `now` stamps `ts_emit`.
    pub fn process(
        &mut self,
        record: &Consumed,
        ts_recv: Timestamp,
        now: impl Fn() -> Timestamp,
        emit: &mut Vec<OutRecord>,
    ) {
        self.next_offset = Some(record.offset + 1);
        let payload = record.payload.as_deref().unwrap_or_default();
        let source = format!("{}@{}", self.partition, record.offset);
        let tick = match decode_json_tick(payload, &mut self.symbols, ts_recv) {
            Ok(tick) => tick,
            Err(rejection) => {
                emit.push(dead_letter(record, &rejection, &source));
                return;
            }
        };
        self.out.clear();
        self.pipeline.on_tick(&tick, &mut self.out);
        for rejection in &self.out.rejects {
            emit.push(dead_letter(record, rejection, &source));
        }
        let Some(clean) = self.out.tick else { return };
        let ts_emit = now();
        let symbol = self.symbols.name(clean.symbol);
        let mut features = Map::with_capacity(self.feature_names.len());
        for (name, &value) in self.feature_names.iter().zip(&self.out.features) {
            features.insert(name.clone(), if value.is_finite() { json!(value) } else { Value::Null });
        }
        let id = format!("features/{symbol}/{}", clean.ts_event);
        let value = json!({
            "id": id,
            "symbol": symbol,
            "ts_event": clean.ts_event.to_string(),
            "ts_recv": ts_recv.to_string(),
            "ts_emit": ts_emit.to_string(),
            "features": features,
        });
        emit.push(output(OutputKind::Features, symbol, id, &value, record.timestamp_ms));
        for alert in &self.out.alerts {
            emit.push(alert_record(alert, symbol, ts_recv, ts_emit, record.timestamp_ms));
        }
    }
}

fn output(kind: OutputKind, symbol: &str, id: String, value: &Value, source_ts_ms: Option<i64>) -> OutRecord {
    OutRecord {
        kind,
        key: symbol.as_bytes().to_vec(),
        value: serde_json::to_vec(value).expect("JSON values serialise"),
        headers: vec![("id", id.into_bytes())],
        source_ts_ms,
    }
}

fn alert_record(
    alert: &Alert,
    symbol: &str,
    ts_recv: Timestamp,
    ts_emit: Timestamp,
    source_ts_ms: Option<i64>,
) -> OutRecord {
    let mut value = tickloop_alerts::alert_json(symbol, alert);
    let id = value["id"].as_str().unwrap_or_default().to_owned();
    value.insert("ts_recv".into(), json!(ts_recv.to_string()));
    value.insert("ts_emit".into(), json!(ts_emit.to_string()));
    output(OutputKind::Alerts, symbol, id, &Value::Object(value), source_ts_ms)
}

/// The original record, untouched, with why it was refused in its headers.
fn dead_letter(record: &Consumed, rejection: &Rejection, source: &str) -> OutRecord {
    let reason = serde_json::to_value(rejection.reason).expect("reasons serialise");
    OutRecord {
        kind: OutputKind::DeadLetter,
        key: record.key.clone().unwrap_or_default(),
        value: record.payload.clone().unwrap_or_default(),
        headers: vec![
            ("reason", reason.as_str().unwrap_or_default().as_bytes().to_vec()),
            ("detail", rejection.detail.as_bytes().to_vec()),
            ("source", source.as_bytes().to_vec()),
        ],
        source_ts_ms: record.timestamp_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(offset: i64, payload: &str) -> Consumed {
        Consumed {
            partition: 0,
            offset,
            key: Some(b"AAA".to_vec()),
            payload: Some(payload.as_bytes().to_vec()),
            timestamp_ms: Some(0),
        }
    }

    fn tick_json(sec: i64, close: f64) -> String {
        format!(
            r#"{{"symbol":"AAA","ts":"{}","open":{close},"high":{close},"low":{close},"close":{close},"volume":100}}"#,
            Timestamp::from_secs(1_704_205_800 + sec)
        )
    }

    fn run(worker: &mut PartitionWorker, records: &[Consumed]) -> Vec<OutRecord> {
        let mut out = Vec::new();
        for r in records {
            let later = Timestamp::from_secs(2_000_000_000); // received after the events
            worker.process(r, later, || later, &mut out);
        }
        out
    }

    #[test]
    fn bad_records_become_dead_letters_with_reasons_and_good_ones_flow() {
        let config = PipelineConfig::default();
        let mut worker = PartitionWorker::new(0, &config);
        let records = [
            record(0, &tick_json(0, 10.0)),
            record(1, "{oops"),
            record(2, &tick_json(1, -3.0)),
            record(3, &tick_json(2, 10.5)),
        ];
        let out = run(&mut worker, &records);
        let kinds: Vec<OutputKind> = out.iter().map(|r| r.kind).collect();
        use OutputKind::*;
        assert_eq!(kinds, [Features, DeadLetter, DeadLetter, Features]);
        assert_eq!(out[1].headers[0], ("reason", b"malformed".to_vec()));
        assert_eq!(out[2].headers[0], ("reason", b"non_positive_price".to_vec()));
        assert_eq!(out[2].headers[2], ("source", b"0@2".to_vec()));
        assert_eq!(out[1].value, b"{oops");
        let v: Value = serde_json::from_slice(&out[3].value).unwrap();
        assert_eq!(v["id"], "features/AAA/2024-01-02T14:30:02Z");
        assert!((v["features"]["log_return"].as_f64().unwrap() - (10.5f64 / 10.0).ln()).abs() < 1e-12);
        assert_eq!(worker.next_offset(), Some(4));
    }

    #[test]
    fn a_restored_worker_continues_exactly() {
        let config = PipelineConfig::default();
        let records: Vec<Consumed> =
            (0..400).map(|i| record(i, &tick_json(i, 100.0 + ((i * 37) % 11) as f64 * 0.1))).collect();
        let mut whole = PartitionWorker::new(0, &config);
        let expected = run(&mut whole, &records);
        let mut first = PartitionWorker::new(0, &config);
        let mut got = run(&mut first, &records[..150]);
        let snapshot = first.snapshot().unwrap();
        let bytes = postcard::to_stdvec(&snapshot).unwrap();
        let mut resumed = PartitionWorker::restore(&config, &postcard::from_bytes(&bytes).unwrap()).unwrap();
        assert_eq!(resumed.next_offset(), Some(150));
        got.extend(run(&mut resumed, &records[150..]));
        assert_eq!(got.len(), expected.len());
        for (i, (a, b)) in got.iter().zip(&expected).enumerate() {
            let text = |r: &OutRecord| String::from_utf8_lossy(&r.value).into_owned();
            assert_eq!(text(a), text(b), "output {i}");
            assert_eq!(a, b);
        }
    }
}
