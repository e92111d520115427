//! tickloop-live: the live runner. The backtest's pipeline (`tickloop-pipeline`), fed by a
//! Kafka consumer group instead of the lake, publishing features, alerts and dead letters
//! back to Kafka.
//!
//! # Delivery: at-least-once, with idempotent keys
//!
//! Each assigned partition has its own [`PartitionWorker`]. Every `commit_interval` the
//! runner, partition by partition between polls, (1) flushes the producer and checks that
//! every output was acknowledged and (2) encodes the partition's state (symbol table +
//! pipeline snapshot + next offset); a writer thread makes the states durable in the state
//! store while consumption goes on, and (3) the runner commits their offsets once the
//! writer says so. A crash anywhere in between loses nothing: the restarted runner (or
//! whichever member gets the partition) restores the snapshot and re-reads from its offset:
//! it skips records the snapshot already holds (the committed offset lags the state when a
//! crash fell between saving and committing) and seeks back if the committed offset is ahead
//! of the state. Records re-processed after a crash produce outputs with the same ids and the same values (the pipeline is deterministic on event time), so
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
