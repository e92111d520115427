//! What a live runner is given: brokers, topics, intervals, the pipeline and its model.

use std::time::Duration;

use tickloop_kafka::KafkaAdapterError;
use tickloop_lake::{FeaturePrecision, Lake, LakeError};
use tickloop_pipeline::{ModelStage, PipelineConfig};

use crate::worker::WorkerError;

/// Topics and knobs of a live runner.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    pub brokers: String,
    pub group: String,
    pub input_topic: String,
    pub features_topic: String,
    pub predictions_topic: String,
    pub alerts_topic: String,
    pub dead_letter_topic: String,
    pub session_timeout_ms: u32,
    pub commit_interval: Duration,
    pub stats_interval: Duration,
    /// Stop after this long without a record, broker error or new assignment (tests, batch
    /// catch-up); `None` runs forever.
    pub exit_when_idle: Option<Duration>,
    /// Also write clean ticks (`raw/ticks`) and their features (`processed/features`) here.
    pub lake: Option<Lake>,
    /// Write a buffered hour at the first checkpoint after this long, even if it is not over.
    pub lake_flush_interval: Duration,
    /// Write a buffered hour once it holds this many rows.
    pub lake_max_rows: usize,
    /// How the lake stores feature values.
    pub lake_feature_precision: FeaturePrecision,
    pub pipeline: PipelineConfig,
    /// The prediction stage's model, if any (its features must be in `pipeline`).
    pub model: Option<ModelStage>,
}

impl LiveConfig {
    pub fn new(brokers: &str, group: &str) -> Self {
        LiveConfig {
            brokers: brokers.to_owned(),
            group: group.to_owned(),
            input_topic: "ticks".into(),
            features_topic: "features".into(),
            predictions_topic: "predictions".into(),
            alerts_topic: "alerts".into(),
            dead_letter_topic: "ticks.dlq".into(),
            session_timeout_ms: 10_000,
            commit_interval: Duration::from_secs(5),
            stats_interval: Duration::from_secs(10),
            exit_when_idle: None,
            lake: None,
            lake_flush_interval: Duration::from_secs(60),
            lake_max_rows: 250_000,
            lake_feature_precision: FeaturePrecision::F64,
            pipeline: PipelineConfig::default(),
            model: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(transparent)]
    Kafka(#[from] KafkaAdapterError),
    #[error("state store: {0}")]
    State(#[from] LakeError),
    #[error("state of partition {partition} at {key}: {reason}")]
    Snapshot { partition: i32, key: String, reason: String },
    #[error(transparent)]
    Worker(#[from] WorkerError),
    #[error(transparent)]
    Model(#[from] tickloop_models::ModelError),
}
