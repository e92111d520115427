//! Parquet files of feature rows: `symbol`, `ts_event`, then one nullable double (or float,
//! [`FeaturePrecision`]) per feature (null while the feature warms up, so SQL aggregates
//! skip it instead of turning NaN).

use std::fmt;
use std::str::FromStr;

use parquet::basic::{Compression, ZstdLevel};
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, FloatType, Int64Type};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::parser::parse_message_type;
use serde::{Deserialize, Serialize};

use crate::LakeError;
use crate::atomic::{AtomicParquet, Values, lake_encodings};
use crate::store::LakeObject;

/// How `processed/features` stores each value. The features are computed in doubles either
/// way; this is what the lake keeps of them for SQL, Athena, DuckDB and polars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeaturePrecision {
    /// Doubles: the values exactly as computed.
    #[default]
    F64,
    /// Floats (parquet `FLOAT`, Athena `float`): each value rounded to the nearest float, a
    /// relative error of at most 2⁻²⁴ (6·10⁻⁸: a price of 1,000 to within 0.00006, far
    /// inside a cent's tick), for about half the bytes.
    F32,
}

impl FeaturePrecision {
    /// The column type, in parquet schema text and in Athena DDL alike.
    pub fn type_name(self) -> &'static str {
        match self {
            FeaturePrecision::F64 => "double",
            FeaturePrecision::F32 => "float",
        }
    }
}

impl fmt::Display for FeaturePrecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FeaturePrecision::F64 => "f64",
            FeaturePrecision::F32 => "f32",
        })
    }
}

impl FromStr for FeaturePrecision {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "f64" | "double" => Ok(FeaturePrecision::F64),
            "f32" | "float" => Ok(FeaturePrecision::F32),
            other => Err(format!("unknown feature precision {other:?}: expected f64 or f32")),
        }
    }
}

/// Writes feature rows one symbol at a time (a row group each), atomically like tick files.
pub struct FeatureFileWriter {
    file: AtomicParquet,
    columns: usize,
    precision: FeaturePrecision,
    rows: u64,
}

impl std::fmt::Debug for FeatureFileWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeatureFileWriter").field("path", &self.file.path()).field("rows", &self.rows).finish()
    }
}

impl FeatureFileWriter {
    /// `names` are the feature columns, in order (lower-case names like `sma_20`), stored as
    /// doubles.
    pub fn create(object: LakeObject, names: &[String]) -> Result<Self, LakeError> {
        FeatureFileWriter::create_with(object, names, FeaturePrecision::F64)
    }

    /// [`FeatureFileWriter::create`], storing values at `precision`.
    pub fn create_with(object: LakeObject, names: &[String], precision: FeaturePrecision) -> Result<Self, LakeError> {
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
            schema.push_str(&format!(" optional {} {};", precision.type_name(), name.replace('.', "_")));
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
        let file = AtomicParquet::create(object, schema, props)?;
        Ok(FeatureFileWriter { file, columns: names.len(), precision, rows: 0 })
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
        let mut present_f32: Vec<f32> = Vec::new();
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
                    match self.precision {
                        FeaturePrecision::F64 => {
                            column.typed::<DoubleType>().write_batch(&present, Some(&levels), None).map_err(fail)?
                        }
                        FeaturePrecision::F32 => {
                            present_f32.clear();
                            present_f32.extend(present.iter().map(|&v| v as f32));
                            column.typed::<FloatType>().write_batch(&present_f32, Some(&levels), None).map_err(fail)?
                        }
                    };
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
