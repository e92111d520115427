//! Bringing outside data into the lake: OHLCV bars from a CSV become ticks of one symbol,
//! cleaned like any other input, written per hour as `import-<SYMBOL>.parquet`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use tickloop_core::{Price, RejectReason, SymbolTable, Tick, Volume};
use tickloop_features::{Cleaner, CleaningPolicy};

use crate::csv::OhlcvCsv;
use crate::{HourPartition, Lake, LakeError, LakeTable, TickFileWriter};

/// One refused row of an import.
#[derive(Debug, Clone, PartialEq)]
pub struct RejectedRow {
    pub line: usize,
    pub reason: RejectReason,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ImportSummary {
    pub rows: usize,
    pub written: u64,
    pub files: Vec<PathBuf>,
    pub rejected: Vec<RejectedRow>,
}

/// Writes `csv`'s bars as ticks of `symbol`. Each hour's file is named after the symbol, so
/// importing the same file again replaces those files instead of adding rows.
pub fn import_csv(
    lake: &Lake,
    csv: &OhlcvCsv,
    symbol: &str,
    exchange: &str,
    currency: &str,
) -> Result<ImportSummary, LakeError> {
    let mut symbols = SymbolTable::new();
    let id =
        symbols.intern_with(symbol, exchange, currency).map_err(|e| LakeError::invalid(&csv.path, e.to_string()))?;
    let mut rows: Vec<(usize, Tick)> = csv
        .bars
        .iter()
        .map(|b| {
            let tick = Tick {
                symbol: id,
                ts_event: b.ts,
                ts_recv: b.ts,
                open: Price(b.open),
                high: Price(b.high),
                low: Price(b.low),
                close: Price(b.close),
                volume: Volume(b.volume),
            };
            (b.line, tick)
        })
        .collect();
    // Files are usually in time order; a stable sort keeps the first of any duplicates.
    rows.sort_by_key(|(_, t)| t.ts_event);
    let policy = CleaningPolicy { allowed_lateness_secs: f64::INFINITY, ..CleaningPolicy::default() };
    let mut cleaner = Cleaner::new(policy);
    let mut hours: BTreeMap<HourPartition, Vec<Tick>> = BTreeMap::new();
    let mut rejected = Vec::new();
    for (line, tick) in &rows {
        match cleaner.check(tick) {
            Ok(clean) => hours.entry(HourPartition::containing(clean.ts_event)).or_default().push(clean),
            Err(r) => rejected.push(RejectedRow { line: *line, reason: r.reason, detail: r.detail }),
        }
    }
    let file_name = format!("import-{symbol}.parquet");
    let mut files = Vec::new();
    let mut written = 0;
    for (partition, ticks) in &hours {
        let mut writer = TickFileWriter::create(lake.object(LakeTable::RawTicks, *partition, &file_name))?;
        writer.write_run(symbols.meta(id), ticks)?;
        written += writer.rows();
        files.push(writer.finish()?.location());
    }
    Ok(ImportSummary { rows: rows.len(), written, files, rejected })
}
