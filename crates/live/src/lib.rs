//! tickloop-live: the live runner. The backtest's pipeline (`tickloop-pipeline`), fed by a
//! Kafka consumer group instead of the lake, publishing features, alerts and dead letters
//! back to Kafka.
//!
//! # Delivery: at-least-once, with idempotent keys
//!
//! Each assigned partition has its own [`PartitionWorker`]. Every `commit_interval` the
//! runner (1) flushes the producer and checks that every output was acknowledged, (2) saves
//! each changed partition's state (symbol table + pipeline snapshot + next offset) to the
//! state store — encoded on the consuming thread, made durable on a writer thread while
//! consumption goes on — and (3) commits those offsets once the writer says they are durable. A crash anywhere in between loses nothing: the
//! restarted runner (or whichever member gets the partition) restores the snapshot and
//! re-reads from its offset: it skips records the snapshot already holds (the committed
//! offset lags the state when a crash fell between saving and committing) and seeks back if
//! the committed offset is ahead of the state. Records re-processed after a crash produce outputs
//! with the same ids and the same values (the pipeline is deterministic on event time), so
//! consumers de-duplicate by the `id` header (`features/<symbol>/<ts_event>`,
//! `alerts/<symbol>/<kind>/<ts_event>`). Only `ts_recv`/`ts_emit` differ between copies.

mod config;
mod dashboard;
mod latency;
mod metrics;
mod runner;
mod state_writer;
mod worker;

pub use config::{LiveConfig, LiveError};
pub use dashboard::DashboardObserver;
pub use latency::{LatencySummary, LatencyWindow};
pub use metrics::serve_metrics;
pub use runner::{LiveObserver, LiveRunner, LiveSummary};
pub use worker::{LakeBuffer, LakeFlush, OutRecord, OutputTopic, PartitionSnapshot, PartitionWorker, WorkerError};
