//! Parquet files of alerts (`processed/alerts`): what SQL, DuckDB and Athena read.

use parquet::basic::{Compression, ZstdLevel};
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::parser::parse_message_type;
use tickloop_core::{Alert, SymbolTable};

use crate::LakeError;
use crate::atomic::AtomicParquet;
use crate::store::LakeObject;

const SCHEMA: &str = "message alert {
    required binary symbol (STRING);
    required int64 ts_event (TIMESTAMP(NANOS,true));
    required binary kind (STRING);
    optional double value;
    required double threshold;
    required binary message (STRING);
}";

/// Writes one file of alerts, sorted by `(symbol, ts_event)`, atomically.
pub fn write_alert_table(object: LakeObject, symbols: &SymbolTable, alerts: &[Alert]) -> Result<LakeObject, LakeError> {
    let schema = parse_message_type(SCHEMA).expect("alert schema parses");
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).expect("valid zstd level")))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_sorting_columns(Some(vec![
            SortingColumn { column_idx: 0, descending: false, nulls_first: false },
            SortingColumn { column_idx: 1, descending: false, nulls_first: false },
        ]))
        .set_created_by("tickloop".to_owned())
        .build();
    let mut file = AtomicParquet::create(object, schema, props)?;
    let mut rows: Vec<&Alert> = alerts.iter().collect();
    rows.sort_by(|a, b| symbols.name(a.symbol).cmp(symbols.name(b.symbol)).then(a.ts_event.cmp(&b.ts_event)));
    let text = |f: &dyn Fn(&Alert) -> String| -> Vec<ByteArray> {
        rows.iter().map(|a| ByteArray::from(f(a).into_bytes())).collect()
    };
    let symbol_col = text(&|a| symbols.name(a.symbol).to_owned());
    let kind_col = text(&|a| tickloop_alerts::kind_name(a.kind).to_owned());
    let message_col = text(&|a| a.message.clone());
    let ts: Vec<i64> = rows.iter().map(|a| a.ts_event.as_nanos()).collect();
    let values: Vec<f64> = rows.iter().map(|a| a.value).filter(|v| v.is_finite()).collect();
    let levels: Vec<i16> = rows.iter().map(|a| i16::from(a.value.is_finite())).collect();
    let thresholds: Vec<f64> = rows.iter().map(|a| a.threshold).collect();
    let tmp = file.tmp().to_owned();
    let fail = |e| LakeError::parquet(&tmp)(e);
    let mut group = file.writer().next_row_group().map_err(fail)?;
    let mut col = 0;
    while let Some(mut column) = group.next_column().map_err(fail)? {
        match col {
            0 => column.typed::<ByteArrayType>().write_batch(&symbol_col, None, None),
            1 => column.typed::<Int64Type>().write_batch(&ts, None, None),
            2 => column.typed::<ByteArrayType>().write_batch(&kind_col, None, None),
            3 => column.typed::<DoubleType>().write_batch(&values, Some(&levels), None),
            4 => column.typed::<DoubleType>().write_batch(&thresholds, None, None),
            _ => column.typed::<ByteArrayType>().write_batch(&message_col, None, None),
        }
        .map_err(fail)?;
        column.close().map_err(fail)?;
        col += 1;
    }
    group.close().map_err(fail)?;
    file.finish()
}
