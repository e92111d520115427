//! One Kafka partition's pipeline: decode, clean, features, alerts, and the records they
//! produce. Pure (no Kafka, no clock of its own), so it is unit-tested directly and its
//! outputs are a function of the partition's records.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

use tickloop_core::{Alert, Component, Engine, Outputs, Prediction, Rejection, Snapshot, SymbolTable, Tick, Timestamp};
use tickloop_features::decode_json_tick;
use tickloop_kafka::Consumed;
use tickloop_lake::{
    FeatureFileWriter, FeaturePrecision, HourPartition, Lake, LakeError, LakeTable, TickFileWriter, write_alert_table,
};
use tickloop_pipeline::{ModelStage, Pipeline, PipelineConfig};

/// Which output topic a record goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputTopic {
    Features,
    Predictions,
    Alerts,
    DeadLetter,
}

/// A record to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct OutRecord {
    pub kind: OutputTopic,
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
    /// Rows processed but not yet written to the lake.
    pub lake: Option<LakeBuffer>,
}

pub(crate) const SNAPSHOT_FORMAT: u32 = 4;

/// Clean ticks, their features and the alerts they raised, waiting to be written to the
/// lake (`raw/ticks`, `processed/features`, `processed/alerts`), by hour.
///
/// A file is named after the first offset of its rows (`part-<topic>-p<partition>-o<offset>`),
/// and the buffer is part of the saved state. After a crash the restored buffer starts at
/// the same offset, so the file written then has the same name and replaces any copy written
/// before the crash: rows land exactly once, however flushes and crashes interleave.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LakeBuffer {
    hours: BTreeMap<HourPartition, HourRows>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct HourRows {
    first_offset: i64,
    ticks: Vec<Tick>,
    alerts: Vec<Alert>,
    /// Row-major: `features.len() == ticks.len() * columns`.
    features: Vec<f64>,
}

/// What one flush wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LakeFlush {
    pub files: usize,
    pub rows: usize,
}

impl LakeBuffer {
    fn push(&mut self, offset: i64, tick: Tick, features: &[f64], alerts: &[Alert]) {
        let rows = self.hours.entry(HourPartition::containing(tick.ts_event)).or_insert_with(|| HourRows {
            first_offset: offset,
            ticks: Vec::new(),
            alerts: Vec::new(),
            features: Vec::new(),
        });
        rows.ticks.push(tick);
        rows.features.extend_from_slice(features);
        rows.alerts.extend_from_slice(alerts);
    }

    pub fn rows(&self) -> usize {
        self.hours.values().map(|h| h.ticks.len()).sum()
    }
}

/// The pipeline of one partition, with its own symbol table (symbols hash to partitions by
/// key, so no symbol's state is split across workers).
#[derive(Debug)]
pub struct PartitionWorker {
    partition: i32,
    symbols: SymbolTable,
    /// The pipeline, stepped one record at a time: the same engine the backtest drains a
    /// lake through, so every mode runs one loop.
    engine: Engine<Pipeline>,
    feature_names: Vec<String>,
    next_offset: Option<i64>,
    /// Whether the last record decoded (its outputs are the engine's last).
    decoded: bool,
    /// Predictions flushed between records.
    flushed: Vec<Prediction>,
    lake: Option<LakeBuffer>,
    /// How [`PartitionWorker::flush_lake`] stores feature values (configuration, not state).
    feature_precision: FeaturePrecision,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Pipeline(#[from] tickloop_pipeline::AssembleError),
    #[error(transparent)]
    Snapshot(#[from] tickloop_core::SnapshotError),
}

impl PartitionWorker {
    /// `lake`: buffer clean ticks and features for [`PartitionWorker::flush_lake`];
    /// `model`: add the prediction stage (the error names features the pipeline lacks).
    pub fn new(
        partition: i32,
        config: &PipelineConfig,
        model: Option<&ModelStage>,
        lake: bool,
    ) -> Result<Self, WorkerError> {
        // Symbols are named as records bring them (`process`).
        let pipeline = Pipeline::assemble(config, &SymbolTable::new(), model)?;
        let feature_names = pipeline.features().specs().iter().map(ToString::to_string).collect();
        Ok(PartitionWorker {
            partition,
            symbols: SymbolTable::new(),
            engine: Engine::new(pipeline),
            feature_names,
            next_offset: None,
            decoded: false,
            flushed: Vec::new(),
            lake: lake.then(LakeBuffer::default),
            feature_precision: FeaturePrecision::F64,
        })
    }

    /// Stores feature values in the lake at `precision` from now on (doubles by default).
    pub fn with_feature_precision(mut self, precision: FeaturePrecision) -> Self {
        self.feature_precision = precision;
        self
    }

    pub fn restore(
        config: &PipelineConfig,
        model: Option<&ModelStage>,
        snapshot: &PartitionSnapshot,
    ) -> Result<Self, WorkerError> {
        let mut worker = PartitionWorker::new(snapshot.partition, config, model, false)?;
        worker.lake = snapshot.lake.clone();
        worker.engine.pipeline_mut().restore(&snapshot.pipeline)?;
        worker.symbols = snapshot.symbols.clone();
        worker.next_offset = Some(snapshot.next_offset);
        Ok(worker)
    }

    pub fn snapshot(&self) -> Option<PartitionSnapshot> {
        let next_offset = self.next_offset?;
        let pipeline = self.engine.pipeline().snapshot().expect("pipeline state serialises");
        Some(PartitionSnapshot {
            format: SNAPSHOT_FORMAT,
            partition: self.partition,
            next_offset,
            symbols: self.symbols.clone(),
            pipeline,
            lake: self.lake.clone(),
        })
    }

    /// Writes buffered hours to the lake: hours the stream has moved past, hours holding
    /// `max_rows` or more, or everything when `force` (a time bound, shutdown).
    pub fn flush_lake(
        &mut self,
        lake: &Lake,
        topic: &str,
        max_rows: usize,
        force: bool,
    ) -> Result<LakeFlush, LakeError> {
        let Some(buffer) = &mut self.lake else { return Ok(LakeFlush::default()) };
        let latest = buffer.hours.keys().next_back().copied();
        let due: Vec<HourPartition> = buffer
            .hours
            .iter()
            .filter(|(hour, rows)| force || Some(**hour) != latest || rows.ticks.len() >= max_rows)
            .map(|(hour, _)| *hour)
            .collect();
        let mut flushed = LakeFlush::default();
        let columns = self.feature_names.len();
        for hour in due {
            let rows = buffer.hours.remove(&hour).expect("listed above");
            let name = format!("part-{topic}-p{}-o{:012}.parquet", self.partition, rows.first_offset);
            // One run per symbol, in name order; each symbol's ticks are already in time order.
            let mut order: Vec<usize> = (0..rows.ticks.len()).collect();
            order.sort_by(|&a, &b| {
                let (x, y) = (&rows.ticks[a], &rows.ticks[b]);
                self.symbols.name(x.symbol).cmp(self.symbols.name(y.symbol)).then(x.ts_event.cmp(&y.ts_event))
            });
            let mut ticks_file = TickFileWriter::create(lake.object(LakeTable::RawTicks, hour, &name))?;
            let mut features_file = FeatureFileWriter::create_with(
                lake.object(LakeTable::Features, hour, &name),
                &self.feature_names,
                self.feature_precision,
            )?;
            for run in order.chunk_by(|&a, &b| rows.ticks[a].symbol == rows.ticks[b].symbol) {
                let symbol = rows.ticks[run[0]].symbol;
                let ticks: Vec<Tick> = run.iter().map(|&i| rows.ticks[i]).collect();
                ticks_file.write_run(self.symbols.meta(symbol), &ticks)?;
                let ts: Vec<i64> = ticks.iter().map(|t| t.ts_event.as_nanos()).collect();
                let values: Vec<Vec<f64>> =
                    (0..columns).map(|c| run.iter().map(|&i| rows.features[i * columns + c]).collect()).collect();
                features_file.write_symbol(self.symbols.name(symbol), &ts, &values)?;
            }
            ticks_file.finish()?;
            features_file.finish()?;
            if !rows.alerts.is_empty() {
                write_alert_table(lake.object(LakeTable::Alerts, hour, &name), &self.symbols, &rows.alerts)?;
            }
            flushed.files += 1;
            flushed.rows += rows.ticks.len();
        }
        Ok(flushed)
    }

    /// Buffers lake rows from now on (a restored worker whose state had none).
    pub fn keep_lake_buffer(&mut self) {
        self.lake.get_or_insert_with(LakeBuffer::default);
    }

    /// The symbol table and the outputs of the last processed record (`None` when it did not
    /// decode: it went to the dead-letter topic).
    pub fn last_outputs(&self) -> (&SymbolTable, Option<&Outputs>) {
        (&self.symbols, self.decoded.then(|| self.engine.outputs()))
    }

    pub fn next_offset(&self) -> Option<i64> {
        self.next_offset
    }

    pub fn pipeline(&self) -> &Pipeline {
        self.engine.pipeline()
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
        self.decoded = false;
        let tick = match decode_json_tick(payload, &mut self.symbols, ts_recv) {
            Ok(tick) => tick,
            Err(rejection) => {
                emit.push(dead_letter(record, &rejection));
                return;
            }
        };
        // Names the symbol for the alert rules' seasonal profile (a no-op unless it is new).
        self.engine.pipeline_mut().name_symbols(&self.symbols);
        let out = self.engine.step(&tick, &mut []).expect("a step without sinks cannot fail");
        self.decoded = true;
        for rejection in &out.rejects {
            emit.push(dead_letter(record, rejection));
        }
        let Some(clean) = out.tick else { return };
        if let Some(buffer) = &mut self.lake {
            buffer.push(record.offset, clean, &out.features, &out.alerts);
        }
        let ts_emit = now();
        let symbol = self.symbols.name(clean.symbol);
        let mut features = Map::with_capacity(self.feature_names.len());
        for (name, &value) in self.feature_names.iter().zip(&out.features) {
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
        emit.push(output(OutputTopic::Features, symbol, id, &value, record.timestamp_ms));
        for alert in &out.alerts {
            emit.push(alert_record(alert, symbol, ts_recv, ts_emit, record.timestamp_ms));
        }
        for p in &out.predictions {
            let symbol = self.symbols.name(p.symbol);
            emit.push(prediction_record(p, symbol, ts_recv, ts_emit, record.timestamp_ms));
        }
    }

    /// Predicts the windows queued so far (the runner calls this when the stream pauses,
    /// so a prediction does not wait for the next second's first tick).
    pub fn flush_predictions(&mut self, ts_recv: Timestamp, ts_emit: Timestamp, emit: &mut Vec<OutRecord>) {
        let out = self.engine.flush(&mut []).expect("a flush without sinks cannot fail");
        self.flushed.clone_from(&out.predictions);
        for p in &self.flushed {
            let symbol = self.symbols.name(p.symbol);
            emit.push(prediction_record(p, symbol, ts_recv, ts_emit, None));
        }
        // The engine's outputs are the flush's now, not the last record's.
        self.decoded = false;
    }

    /// The predictions of the last [`PartitionWorker::flush_predictions`].
    pub fn flushed_predictions(&self) -> &[Prediction] {
        &self.flushed
    }
}

/// A prediction as published: [`tickloop_models::prediction_json`] plus the live stamps.
fn prediction_record(
    p: &Prediction,
    symbol: &str,
    ts_recv: Timestamp,
    ts_emit: Timestamp,
    source_ts_ms: Option<i64>,
) -> OutRecord {
    let mut value = tickloop_models::prediction_json(symbol, p);
    let id = tickloop_models::prediction_id(symbol, p);
    value.insert("ts_recv".into(), json!(ts_recv.to_string()));
    value.insert("ts_emit".into(), json!(ts_emit.to_string()));
    output(OutputTopic::Predictions, symbol, id, &Value::Object(value), source_ts_ms)
}

fn output(kind: OutputTopic, symbol: &str, id: String, value: &Value, source_ts_ms: Option<i64>) -> OutRecord {
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
    output(OutputTopic::Alerts, symbol, id, &Value::Object(value), source_ts_ms)
}

/// The original record, untouched, with why it was refused in its headers.
fn dead_letter(record: &Consumed, rejection: &Rejection) -> OutRecord {
    let source = format!("{}@{}", record.partition, record.offset);
    let reason = serde_json::to_value(rejection.reason).expect("reasons serialise");
    OutRecord {
        kind: OutputTopic::DeadLetter,
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
        let mut worker = PartitionWorker::new(0, &config, None, true).unwrap();
        let records = [
            record(0, &tick_json(0, 10.0)),
            record(1, "{oops"),
            record(2, &tick_json(1, -3.0)),
            record(3, &tick_json(2, 10.5)),
        ];
        let out = run(&mut worker, &records);
        let kinds: Vec<OutputTopic> = out.iter().map(|r| r.kind).collect();
        use OutputTopic::*;
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
    fn features_reach_the_lake_at_the_configured_precision() {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let config = PipelineConfig::default();
        let records: Vec<Consumed> = (0..120).map(|i| record(i, &tick_json(i, 100.0 + (i % 7) as f64 * 0.1))).collect();
        for (precision, physical) in [
            (FeaturePrecision::F64, parquet::basic::Type::DOUBLE),
            (FeaturePrecision::F32, parquet::basic::Type::FLOAT),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let lake = Lake::local(dir.path());
            let mut worker = PartitionWorker::new(0, &config, None, true).unwrap().with_feature_precision(precision);
            run(&mut worker, &records);
            assert_eq!(worker.flush_lake(&lake, "ticks", 1_000_000, true).unwrap().rows, 120);
            let hour = HourPartition::containing(Timestamp::parse("2024-01-02T14:30:00Z").unwrap());
            let files = lake.partition_files(LakeTable::Features, hour, ".parquet").unwrap();
            let path = dir.path().join(&files[0].key);
            let reader = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
            let schema = reader.metadata().file_metadata().schema_descr_ptr();
            let features: Vec<_> = schema.columns().iter().skip(2).map(|c| c.physical_type()).collect();
            assert!(!features.is_empty());
            assert!(features.iter().all(|&t| t == physical), "{precision}: {features:?}");
        }
    }

    #[test]
    fn lake_rows_land_once_even_when_a_flush_is_repeated_from_restored_state() {
        use tickloop_core::Source;
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::local(dir.path());
        let config = PipelineConfig::default();
        let mut worker = PartitionWorker::new(0, &config, None, true).unwrap();
        // 14:30:00 .. 15:29:59 UTC: an hour boundary at record 1800.
        let records: Vec<Consumed> =
            (0..3600).map(|i| record(i, &tick_json(i, 100.0 + (i % 7) as f64 * 0.1))).collect();
        run(&mut worker, &records[..2000]);
        let saved = worker.snapshot().unwrap();
        // The stream moved past 14:00-15:00, so that hour is written; 15:00 waits.
        assert_eq!(worker.flush_lake(&lake, "ticks", 1_000_000, false).unwrap(), LakeFlush { files: 1, rows: 1800 });
        // A crash before the state was saved: the restored worker flushes the same hour again
        // under the same name (replacing the file) and then carries on.
        let mut restored = PartitionWorker::restore(&config, None, &saved).unwrap();
        run(&mut restored, &records[2000..]);
        assert_eq!(restored.flush_lake(&lake, "ticks", 1_000_000, true).unwrap(), LakeFlush { files: 2, rows: 3600 });
        let mut source = tickloop_lake::LakeSource::open(&lake, Timestamp::MIN, Timestamp::MAX).unwrap();
        let mut seen = Vec::new();
        while let Some(t) = source.next_tick().unwrap() {
            seen.push(t.ts_event);
        }
        assert_eq!(seen.len(), 3600, "every row once");
        seen.dedup();
        assert_eq!(seen.len(), 3600);
        let files = lake.partition_files(LakeTable::Features, HourPartition::containing(seen[0]), ".parquet").unwrap();
        assert_eq!(files.len(), 1);
        assert!(files[0].key.ends_with("part-ticks-p0-o000000000000.parquet"), "{}", files[0].key);
    }

    #[test]
    fn a_restored_worker_continues_exactly() {
        let config = PipelineConfig::default();
        let records: Vec<Consumed> =
            (0..400).map(|i| record(i, &tick_json(i, 100.0 + ((i * 37) % 11) as f64 * 0.1))).collect();
        let mut whole = PartitionWorker::new(0, &config, None, true).unwrap();
        let expected = run(&mut whole, &records);
        let mut first = PartitionWorker::new(0, &config, None, true).unwrap();
        let mut got = run(&mut first, &records[..150]);
        let snapshot = first.snapshot().unwrap();
        let bytes = postcard::to_stdvec(&snapshot).unwrap();
        let mut resumed = PartitionWorker::restore(&config, None, &postcard::from_bytes(&bytes).unwrap()).unwrap();
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
