//! Parquet files of feature rows: `symbol`, `ts_event`, then one nullable double per feature
//! (null while the feature warms up, so SQL aggregates skip it instead of turning NaN).

use parquet::basic::{Compression, ZstdLevel};
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::parser::parse_message_type;

use crate::LakeError;
use crate::atomic::{AtomicParquet, Values, lake_encodings};
use crate::store::LakeObject;

/// Writes feature rows one symbol at a time (a row group each), atomically like tick files.
pub struct FeatureFileWriter {
    file: AtomicParquet,
    columns: usize,
    rows: u64,
}

impl std::fmt::Debug for FeatureFileWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeatureFileWriter").field("path", &self.file.path()).field("rows", &self.rows).finish()
    }
}

impl FeatureFileWriter {
    /// `names` are the feature columns, in order (lower-case names like `sma_20`).
    pub fn create(object: LakeObject, names: &[String]) -> Result<Self, LakeError> {
        let path = object.location();
        if let Some(name) = names
            .iter()
            .find(|n| !n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.'))
        {
            return Err(LakeError::invalid(&path, format!("feature column {name:?} is not a plain lower-case name")));
        }
        let mut schema = String::from(
            "message features { required binary symbol (STRING); required int64 ts_event (TIMESTAMP(NANOS,true));",
        );
        for name in names {
            // Parquet schema text cannot hold '.', which `bb_upper_20_2.5` has; such columns are
            // written with '_' in its place.
            schema.push_str(&format!(" optional double {};", name.replace('.', "_")));
        }
        schema.push_str(" }");
        let schema = parse_message_type(&schema).map_err(LakeError::parquet(&path))?;
        let columns: Vec<String> = names.iter().map(|n| n.replace('.', "_")).collect();
        let encodings: Vec<(&str, Values)> = std::iter::once(("ts_event", Values::Timestamps))
            .chain(columns.iter().map(|c| (c.as_str(), Values::Continuous)))
            .collect();
        let props = lake_encodings(WriterProperties::builder(), &encodings)
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).expect("valid zstd level")))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_max_row_group_row_count(None)
            .set_sorting_columns(Some(vec![
                SortingColumn { column_idx: 0, descending: false, nulls_first: false },
                SortingColumn { column_idx: 1, descending: false, nulls_first: false },
            ]))
            .set_created_by("tickloop".to_owned())
            .build();
        Ok(FeatureFileWriter { file: AtomicParquet::create(object, schema, props)?, columns: names.len(), rows: 0 })
    }

    /// One symbol's rows: `ts[i]` with `values[f][i]` for feature `f` (NaN → null).
    pub fn write_symbol(&mut self, symbol: &str, ts: &[i64], values: &[Vec<f64>]) -> Result<(), LakeError> {
        if values.len() != self.columns || values.iter().any(|v| v.len() != ts.len()) {
            return Err(LakeError::invalid(
                self.file.path(),
                format!("{symbol}: feature columns do not match the rows"),
            ));
        }
        if ts.is_empty() {
            return Ok(());
        }
        let tmp = self.file.tmp().to_owned();
        let fail = |e| LakeError::parquet(&tmp)(e);
        let mut group = self.file.writer().next_row_group().map_err(fail)?;
        let mut col = 0;
        let (mut present, mut levels) = (Vec::with_capacity(ts.len()), Vec::with_capacity(ts.len()));
        while let Some(mut column) = group.next_column().map_err(fail)? {
            match col {
                0 => {
                    let names = vec![ByteArray::from(symbol.as_bytes().to_vec()); ts.len()];
                    column.typed::<ByteArrayType>().write_batch(&names, None, None).map_err(fail)?;
                }
                1 => {
                    column.typed::<Int64Type>().write_batch(ts, None, None).map_err(fail)?;
                }
                _ => {
                    present.clear();
                    levels.clear();
                    for &v in &values[col - 2] {
                        levels.push(i16::from(!v.is_nan()));
                        if !v.is_nan() {
                            present.push(v);
                        }
                    }
                    column.typed::<DoubleType>().write_batch(&present, Some(&levels), None).map_err(fail)?;
                }
            }
            column.close().map_err(fail)?;
            col += 1;
        }
        group.close().map_err(fail)?;
        self.rows += ts.len() as u64;
        Ok(())
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn finish(self) -> Result<LakeObject, LakeError> {
        self.file.finish()
    }
}
