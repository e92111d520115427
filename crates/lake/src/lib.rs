//! tickloop-lake: the parquet lake.
//!
//! Layout (readable by DuckDB, Athena and polars as it is):
//! `<root>/raw/ticks/date=YYYY-MM-DD/hour=HH/part-<n>.parquet`, zstd, one row group per
//! symbol sorted by `ts_event`, statistics on, so engines prune by partition and by
//! symbol. Files appear atomically (written under a temporary name, then renamed), and
//! re-writing a partition's part replaces it, so re-running a job never duplicates rows.
//!
//! [`LakeSource`] streams a date range back in replay order `(ts_event, symbol)`: one hour
//! at a time, its runs (symbol row groups) decoded whole, on as many threads as it is given,
//! then merged; memory is one decoded hour, never the whole range.

mod alert_table;
pub mod athena;
mod atomic;
pub mod csv;
mod dead_letters;
mod error;
mod feature_file;
mod features_job;
mod import;
mod landing;
mod layout;
mod pages;
mod replay;
mod store;
mod tick_file;

pub use alert_table::write_alert_table;
pub use dead_letters::{DeadLetterFile, JsonLinesFile, OutputFile, OutputKind};
pub use error::LakeError;
pub use feature_file::{FeatureFileWriter, FeaturePrecision};
pub use features_job::{FeatureJobSummary, build_features, build_features_where, build_features_with};
pub use import::{ImportSummary, RejectedRow, import_csv};
pub use landing::{LandingSummary, land_ndjson};
pub use layout::{HourPartition, Lake, LakeTable};
pub use replay::LakeSource;
pub use store::{LakeObject, LocalCopy, LocalStore, ObjectMeta, ObjectStore, S3Options};
pub use tick_file::{TickFileReader, TickFileWriter, TickRun};
