//! Athena DDL for the lake's tables, so the same files are queryable at scale with no Glue
//! crawler: partition projection maps `date=YYYY-MM-DD/hour=HH` directly, and new hours are
//! visible the moment their files land (no `MSCK REPAIR TABLE`).

use std::fmt::Write as _;

use crate::{FeaturePrecision, LakeTable};

/// The columns of a dataset's parquet files, as Athena types, in file order; feature values
/// stored at `precision`.
pub fn columns(
    dataset: LakeTable,
    feature_columns: &[String],
    precision: FeaturePrecision,
) -> Vec<(String, &'static str)> {
    let fixed = |cols: &[(&str, &'static str)]| cols.iter().map(|(n, t)| ((*n).to_owned(), *t)).collect::<Vec<_>>();
    match dataset {
        LakeTable::RawTicks => fixed(&[
            ("symbol", "string"),
            ("ts_event", "timestamp"),
            ("ts_recv", "timestamp"),
            ("open", "double"),
            ("high", "double"),
            ("low", "double"),
            ("close", "double"),
            ("volume", "double"),
            ("exchange", "string"),
            ("currency", "string"),
        ]),
        LakeTable::Features => {
            let mut cols = fixed(&[("symbol", "string"), ("ts_event", "timestamp")]);
            cols.extend(feature_columns.iter().map(|c| (c.replace('.', "_"), precision.type_name())));
            cols
        }
        LakeTable::Alerts => fixed(&[
            ("symbol", "string"),
            ("ts_event", "timestamp"),
            ("kind", "string"),
            ("value", "double"),
            ("threshold", "double"),
            ("message", "string"),
        ]),
        LakeTable::Predictions | LakeTable::AnomalyLabels => Vec::new(),
    }
}

/// `CREATE EXTERNAL TABLE` statements for the tables the lake writes (`ticks`, `features`,
/// `alerts`), for a lake at `location` (`s3://bucket/prefix`). (`predictions` joins when
/// models write to the lake.) Feature values stored at `precision`.
pub fn ddl(
    location: &str,
    database: &str,
    feature_columns: &[String],
    precision: FeaturePrecision,
    first_date: &str,
) -> String {
    let location = location.trim_end_matches('/');
    let mut sql = format!("CREATE DATABASE IF NOT EXISTS {database};\n");
    for (table, dataset) in
        [("ticks", LakeTable::RawTicks), ("features", LakeTable::Features), ("alerts", LakeTable::Alerts)]
    {
        let cols = columns(dataset, feature_columns, precision);
        let body: Vec<String> = cols.iter().map(|(n, t)| format!("  `{n}` {t}")).collect();
        let prefix = format!("{location}/{}", dataset.prefix());
        let _ = write!(
            sql,
            "\nCREATE EXTERNAL TABLE IF NOT EXISTS {database}.{table} (\n{}\n)\n\
             PARTITIONED BY (`date` string, `hour` int)\n\
             STORED AS PARQUET\n\
             LOCATION '{prefix}/'\n\
             TBLPROPERTIES (\n\
             \x20 'parquet.compression' = 'ZSTD',\n\
             \x20 'projection.enabled' = 'true',\n\
             \x20 'projection.date.type' = 'date',\n\
             \x20 'projection.date.format' = 'yyyy-MM-dd',\n\
             \x20 'projection.date.range' = '{first_date},NOW',\n\
             \x20 'projection.date.interval' = '1',\n\
             \x20 'projection.date.interval.unit' = 'DAYS',\n\
             \x20 'projection.hour.type' = 'integer',\n\
             \x20 'projection.hour.range' = '0,23',\n\
             \x20 'projection.hour.digits' = '2',\n\
             \x20 'storage.location.template' = '{prefix}/date=${{date}}/hour=${{hour}}/'\n\
             );\n",
            body.join(",\n")
        );
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddl_projects_partitions_onto_the_lake_layout() {
        let features = ["sma_20".into(), "bb_upper_20_2.5".into()];
        let sql = ddl("s3://bucket/lake/", "tickloop", &features, FeaturePrecision::F64, "2024-01-01");
        assert!(sql.contains("CREATE EXTERNAL TABLE IF NOT EXISTS tickloop.ticks ("));
        assert!(sql.contains("LOCATION 's3://bucket/lake/raw/ticks/'"));
        assert!(sql.contains(
            "'storage.location.template' = 's3://bucket/lake/processed/features/date=${date}/hour=${hour}/'"
        ));
        assert!(sql.contains("`bb_upper_20_2_5` double"));
        assert!(sql.contains("'projection.date.range' = '2024-01-01,NOW'"));
        assert_eq!(sql.matches("CREATE EXTERNAL TABLE").count(), 3);
        let floats = ddl("s3://bucket/lake/", "tickloop", &features, FeaturePrecision::F32, "2024-01-01");
        assert!(floats.contains("`bb_upper_20_2_5` float") && floats.contains("`sma_20` float"), "{floats}");
        assert!(floats.contains("`close` double"), "ticks keep their doubles: {floats}");
    }
}
