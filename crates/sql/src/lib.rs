//! tickloop-sql: SQL over the lake with polars, the same tables Athena sees.
//!
//! Tables are registered lazily over the lake's parquet with hive partitioning, so `date`
//! (a DATE) and `hour` (an integer) are ordinary columns and a `WHERE date = '2024-01-02'
//! AND hour = 15` reads one partition's files only. Row-group statistics (files hold one
//! row group per symbol) let `WHERE symbol = 'AAPL'` skip the other symbols' data.
//!
//! Polars lives here and nowhere else, so only the binary that runs SQL pays for it.

use std::fmt::Write as _;
use std::io::Write;

use polars::io::cloud::{AmazonS3ConfigKey, CloudOptions};
use polars::prelude::*;
use polars::sql::SQLContext;
pub use tickloop_lake::S3Options;

/// The tables `tickloop sql` knows, with the lake prefix each one reads.
pub const TABLES: [(&str, &str); 4] = [
    ("ticks", "raw/ticks"),
    ("features", "processed/features"),
    ("predictions", "processed/predictions"),
    ("alerts", "processed/alerts"),
];

#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    #[error("SQL error: {0}")]
    Query(String),
    #[error("{query_error}\n  tables in {lake}: {available}")]
    UnknownTable { query_error: String, lake: String, available: String },
    #[error("writing the result: {0}")]
    Output(String),
}

/// The lake's tables, ready to be queried.
#[derive(Debug, Clone)]
pub struct LakeTables {
    root: String,
    cloud: Option<CloudOptions>,
    /// The tables that hold data, by name.
    present: Vec<&'static str>,
}

impl LakeTables {
    /// `root` is a local directory or `s3://bucket/prefix`. `present` names the tables that
    /// hold data (the caller lists the lake; a table with no files cannot be scanned).
    pub fn new(root: &str, present: Vec<&'static str>, s3: &S3Options) -> Self {
        let root = root.trim_end_matches('/').to_owned();
        let cloud = root.starts_with("s3://").then(|| cloud_options(s3));
        LakeTables { root, cloud, present }
    }

    fn scan(&self, prefix: &str) -> PolarsResult<LazyFrame> {
        let glob = format!("{}/{prefix}/**/*.parquet", self.root);
        let args = ScanArgsParquet {
            hive_options: HiveOptions::new_enabled(),
            cloud_options: self.cloud.clone(),
            ..ScanArgsParquet::default()
        };
        LazyFrame::scan_parquet(PlRefPath::new(glob.as_str()), args)
    }

    /// Builds the query's plan over the registered tables.
    pub fn plan(&self, query: &str) -> Result<LazyFrame, SqlError> {
        let mut ctx = SQLContext::new();
        for (name, prefix) in TABLES {
            if self.present.contains(&name) {
                ctx.register(name, self.scan(prefix).map_err(|e| SqlError::Query(e.to_string()))?);
            }
        }
        ctx.execute(query).map_err(|e| self.explain(e))
    }

    /// Runs `query` to a DataFrame.
    pub fn query(&self, query: &str) -> Result<DataFrame, SqlError> {
        self.plan(query)?.collect().map_err(|e| self.explain(e))
    }

    /// Turns "relation not found" into a message that lists the tables.
    fn explain(&self, e: PolarsError) -> SqlError {
        let text = e.to_string();
        if text.contains("not found") && (text.contains("relation") || text.contains("table")) {
            let available = TABLES
                .iter()
                .map(|(name, prefix)| {
                    if self.present.contains(name) {
                        format!("{name} ({prefix})")
                    } else {
                        format!("{name} (empty: nothing under {prefix}/ yet)")
                    }
                })
                .collect::<Vec<_>>()
                .join(", ");
            SqlError::UnknownTable { query_error: text, lake: self.root.clone(), available }
        } else {
            SqlError::Query(text)
        }
    }
}

fn cloud_options(s3: &S3Options) -> CloudOptions {
    let mut config: Vec<(AmazonS3ConfigKey, String)> = Vec::new();
    // Credentials and region come from the environment (the standard AWS variables), read by
    // object_store itself; only what a user set explicitly is passed here.
    if let Some(region) = &s3.region {
        config.push((AmazonS3ConfigKey::Region, region.clone()));
    }
    if let Some(endpoint) = &s3.endpoint {
        // polars' client allows plain http, which local S3-compatible servers use.
        config.push((AmazonS3ConfigKey::Endpoint, endpoint.clone()));
    }
    config.push((AmazonS3ConfigKey::VirtualHostedStyleRequest, (!s3.path_style).to_string()));
    CloudOptions::default().with_aws(config)
}

/// How `tickloop sql` prints a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Aligned columns for a terminal.
    Table,
    Csv,
    /// One JSON object per line.
    Json,
    /// Parquet bytes (to a file or a pipe).
    Parquet,
}

/// Writes `df` to `out` in `format`. `max_rows` bounds the rows a table shows.
pub fn write_result(
    df: &mut DataFrame,
    format: OutputFormat,
    max_rows: usize,
    out: &mut dyn Write,
) -> Result<(), SqlError> {
    let fail = |e: &dyn std::fmt::Display| SqlError::Output(e.to_string());
    match format {
        OutputFormat::Table => out.write_all(render_table(df, max_rows).as_bytes()).map_err(|e| fail(&e)),
        OutputFormat::Csv => CsvWriter::new(out).include_header(true).finish(df).map_err(|e| fail(&e)),
        OutputFormat::Json => {
            JsonWriter::new(out).with_json_format(JsonFormat::JsonLines).finish(df).map_err(|e| fail(&e))
        }
        OutputFormat::Parquet => ParquetWriter::new(out).finish(df).map(drop).map_err(|e| fail(&e)),
    }
}

/// An aligned text table: the header, a rule, up to `max_rows` rows, and a count.
pub fn render_table(df: &DataFrame, max_rows: usize) -> String {
    let shown = df.height().min(max_rows);
    let columns = df.columns();
    let mut cells: Vec<Vec<String>> = Vec::with_capacity(columns.len());
    for column in columns {
        let mut col = vec![column.name().to_string()];
        for row in 0..shown {
            let value = column.get(row).map(|v| match v {
                AnyValue::Null => "null".to_owned(),
                AnyValue::String(s) => s.to_owned(),
                AnyValue::StringOwned(s) => s.to_string(),
                v => v.to_string(),
            });
            col.push(value.unwrap_or_default());
        }
        cells.push(col);
    }
    let widths: Vec<usize> = cells.iter().map(|c| c.iter().map(|s| s.chars().count()).max().unwrap_or(0)).collect();
    let mut text = String::new();
    for line in 0..=shown {
        for (c, col) in cells.iter().enumerate() {
            let sep = if c == 0 { "" } else { "  " };
            let _ = write!(text, "{sep}{:>width$}", col[line], width = widths[c]);
        }
        text.push('\n');
        if line == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            text.push_str(&rule.join("  "));
            text.push('\n');
        }
    }
    let rows = df.height();
    if rows > shown {
        let _ = writeln!(text, "({rows} rows, {shown} shown; use --format csv or --limit for all)");
    } else {
        let _ = writeln!(text, "({rows} row{})", if rows == 1 { "" } else { "s" });
    }
    text
}
