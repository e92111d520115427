//! One parquet file of ticks: one row group per symbol, rows in `ts_event` order.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::basic::{Compression, ZstdLevel};
use parquet::column::reader::{ColumnReader, ColumnReaderImpl, get_column_reader};
use parquet::data_type::{ByteArray, ByteArrayType, DataType, DoubleType, Int64Type};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::reader::FileReader;
use parquet::file::serialized_reader::SerializedFileReader;

use parquet::schema::parser::parse_message_type;
use tickloop_core::{Price, SymbolId, SymbolMeta, Tick, Timestamp, Volume};

use crate::LakeError;
use crate::atomic::{AtomicParquet, Values, lake_encodings};
use crate::pages::ChunkPages;
use crate::store::{LakeObject, LocalCopy};

/// Column names match the fields of [`Tick`] (and the JSON wire format).
const SCHEMA: &str = "message tick {
    required binary symbol (STRING);
    required int64 ts_event (TIMESTAMP(NANOS,true));
    required int64 ts_recv (TIMESTAMP(NANOS,true));
    required double open;
    required double high;
    required double low;
    required double close;
    required double volume;
    required binary exchange (STRING);
    required binary currency (STRING);
}";

/// Column positions in [`SCHEMA`].
const SYMBOL: usize = 0;
const TS_EVENT: usize = 1;
const NUMERIC: [&str; 7] = ["ts_event", "ts_recv", "open", "high", "low", "close", "volume"];
const EXCHANGE: usize = 8;
const CURRENCY: usize = 9;

/// Rows per data page: an hour of 1-second ticks fits in one. Each page is a zstd frame of
/// its own, whose tables are rebuilt to decode it; against 1,024-row pages, 4,096 made a
/// replay's decode 20–25 % faster and the files 7 % smaller (BENCHMARKS.md, 2026-12-06).
/// Runs are decoded whole, so a page's size no longer bounds a replay's memory.
const PAGE_ROWS: usize = 4096;

/// Writes one tick file under a temporary name; [`TickFileWriter::finish`] renames it into
/// place, so readers never see a partial file.
pub struct TickFileWriter {
    file: AtomicParquet,
    rows: u64,
    i64_buf: Vec<i64>,
    f64_buf: Vec<f64>,
    str_buf: Vec<ByteArray>,
}

impl std::fmt::Debug for TickFileWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TickFileWriter").field("path", &self.file.path()).field("rows", &self.rows).finish()
    }
}

impl TickFileWriter {
    pub fn create(object: LakeObject) -> Result<Self, LakeError> {
        Self::create_with(object, Self::properties())
    }

    fn create_with(object: LakeObject, props: WriterProperties) -> Result<Self, LakeError> {
        let schema = parse_message_type(SCHEMA).expect("tick schema parses");
        let file = AtomicParquet::create(object, schema, props)?;
        Ok(TickFileWriter { file, rows: 0, i64_buf: Vec::new(), f64_buf: Vec::new(), str_buf: Vec::new() })
    }

    fn properties() -> WriterProperties {
        let encodings = [
            ("ts_event", Values::Timestamps),
            ("ts_recv", Values::Timestamps),
            ("open", Values::Gridded),
            ("high", Values::Gridded),
            ("low", Values::Gridded),
            ("close", Values::Gridded),
            ("volume", Values::Continuous),
        ];
        lake_encodings(WriterProperties::builder(), &encodings)
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).expect("valid zstd level")))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_data_page_row_count_limit(PAGE_ROWS)
            .set_write_batch_size(PAGE_ROWS)
            .set_max_row_group_row_count(None)
            .set_sorting_columns(Some(vec![
                SortingColumn { column_idx: SYMBOL as i32, descending: false, nulls_first: false },
                SortingColumn { column_idx: TS_EVENT as i32, descending: false, nulls_first: false },
            ]))
            .set_created_by("tickloop".to_owned())
            .build()
    }

    /// Appends one symbol's ticks as a row group. They must be that symbol's, in strictly
    /// increasing `ts_event` (a lake partition never holds a duplicate).
    pub fn write_run(&mut self, meta: &SymbolMeta, ticks: &[Tick]) -> Result<(), LakeError> {
        if ticks.is_empty() {
            return Ok(());
        }
        let symbol = ticks[0].symbol;
        if let Some(i) = ticks.iter().position(|t| t.symbol != symbol) {
            return Err(LakeError::invalid(
                self.file.path(),
                format!("run for {} holds another symbol at row {i}", meta.name),
            ));
        }
        if let Some(i) = ticks.windows(2).position(|w| w[0].ts_event >= w[1].ts_event) {
            return Err(LakeError::invalid(
                self.file.path(),
                format!("run for {} is not strictly increasing in ts_event at row {}", meta.name, i + 1),
            ));
        }
        let tmp = self.file.tmp().to_owned();
        let fail = |e| LakeError::parquet(&tmp)(e);
        let mut group = self.file.writer().next_row_group().map_err(fail)?;
        let mut col = 0;
        while let Some(mut column) = group.next_column().map_err(fail)? {
            let result = match col {
                SYMBOL | EXCHANGE | CURRENCY => {
                    let text = match col {
                        SYMBOL => &meta.name,
                        EXCHANGE => &meta.exchange,
                        _ => &meta.currency,
                    };
                    let value = ByteArray::from(text.as_bytes().to_vec());
                    self.str_buf.clear();
                    self.str_buf.resize(ticks.len(), value);
                    column.typed::<ByteArrayType>().write_batch(&self.str_buf, None, None)
                }
                1 | 2 => {
                    self.i64_buf.clear();
                    self.i64_buf.extend(
                        ticks
                            .iter()
                            .map(|t| if col == TS_EVENT { t.ts_event.as_nanos() } else { t.ts_recv.as_nanos() }),
                    );
                    column.typed::<Int64Type>().write_batch(&self.i64_buf, None, None)
                }
                _ => {
                    self.f64_buf.clear();
                    self.f64_buf.extend(ticks.iter().map(|t| match col {
                        3 => t.open.0,
                        4 => t.high.0,
                        5 => t.low.0,
                        6 => t.close.0,
                        _ => t.volume.0,
                    }));
                    column.typed::<DoubleType>().write_batch(&self.f64_buf, None, None)
                }
            };
            result.map_err(fail)?;
            column.close().map_err(fail)?;
            col += 1;
        }
        group.close().map_err(fail)?;
        self.rows += ticks.len() as u64;
        Ok(())
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Closes the file, syncs it and publishes it. Returns the object written.
    pub fn finish(self) -> Result<LakeObject, LakeError> {
        self.file.finish()
    }
}

/// What the footer says about one row group: the unit the replay merges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    pub row_group: usize,
    pub symbol: String,
    pub exchange: String,
    pub currency: String,
    pub rows: u64,
}

/// Reads a tick file's footer and opens its row groups as streaming [`TickRun`]s.
pub struct TickFileReader {
    path: PathBuf,
    reader: SerializedFileReader<File>,
    /// Keeps a downloaded copy alive while the reader (and its clones) use it.
    copy: Arc<LocalCopy>,
    columns: [usize; 7],
    runs: Vec<RunInfo>,
    /// The file again, for reading column chunks whole ([`ChunkPages`]).
    file: File,
    pages: ChunkPages,
}

impl std::fmt::Debug for TickFileReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TickFileReader").field("path", &self.path).field("runs", &self.runs.len()).finish()
    }
}

impl TickFileReader {
    pub fn open(object: &LakeObject) -> Result<Self, LakeError> {
        let copy = object.store.fetch(&object.key)?;
        let path = object.location();
        let file = File::open(copy.path()).map_err(LakeError::io(&path))?;
        let chunks = file.try_clone().map_err(LakeError::io(&path))?;
        let reader = SerializedFileReader::new(file).map_err(LakeError::parquet(&path))?;
        let schema = reader.metadata().file_metadata().schema_descr_ptr();
        let find = |name: &str| -> Result<usize, LakeError> {
            (0..schema.num_columns())
                .find(|&i| schema.column(i).name() == name)
                .ok_or_else(|| LakeError::invalid(&path, format!("not a tick file: no column {name:?}")))
        };
        let mut columns = [0; 7];
        for (slot, name) in columns.iter_mut().zip(NUMERIC) {
            *slot = find(name)?;
        }
        let symbol_col = find("symbol")?;
        let exchange_col = find("exchange").ok();
        let currency_col = find("currency").ok();
        let mut runs = Vec::new();
        for row_group in 0..reader.num_row_groups() {
            let meta = reader.metadata().row_group(row_group);
            if meta.num_rows() == 0 {
                continue;
            }
            let text = |col: Option<usize>, what: &str| -> Result<String, LakeError> {
                let Some(col) = col else {
                    return Ok(String::new());
                };
                let stats = meta.column(col).statistics();
                let (min, max) = stats.map(|s| (s.min_bytes_opt(), s.max_bytes_opt())).ok_or_else(|| {
                    LakeError::invalid(&path, format!("row group {row_group} has no {what} statistics"))
                })?;
                match (min, max) {
                    (Some(a), Some(b)) if a == b => Ok(String::from_utf8_lossy(a).into_owned()),
                    _ => Err(LakeError::invalid(
                        &path,
                        format!(
                            "row group {row_group} holds several values of {what}; tickloop replays files with one symbol per row group"
                        ),
                    )),
                }
            };
            runs.push(RunInfo {
                row_group,
                symbol: text(Some(symbol_col), "symbol")?,
                exchange: text(exchange_col, "exchange")?,
                currency: text(currency_col, "currency")?,
                rows: meta.num_rows() as u64,
            });
        }
        Ok(TickFileReader { path, reader, copy: Arc::new(copy), columns, runs, file: chunks, pages: ChunkPages::new() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Another reader of the same file, to decode some of its runs on another thread: its
    /// own file handle and zstd context; a remote file is not fetched again.
    pub fn try_clone(&self) -> Result<Self, LakeError> {
        let local = self.copy.path();
        let file = File::open(local).map_err(LakeError::io(&self.path))?;
        let chunks = File::open(local).map_err(LakeError::io(&self.path))?;
        let reader = SerializedFileReader::new(file).map_err(LakeError::parquet(&self.path))?;
        Ok(TickFileReader {
            path: self.path.clone(),
            reader,
            copy: Arc::clone(&self.copy),
            columns: self.columns,
            runs: self.runs.clone(),
            file: chunks,
            pages: ChunkPages::new(),
        })
    }

    pub fn runs(&self) -> &[RunInfo] {
        &self.runs
    }

    /// Opens run `index` (of [`TickFileReader::runs`]), giving its ticks the id `symbol`.
    pub fn open_run(&mut self, index: usize, symbol: SymbolId) -> Result<TickRun, LakeError> {
        self.open_run_into(index, symbol, Vec::new())
    }

    /// [`TickFileReader::open_run`], decoding into `buffer` (a finished run's, from
    /// [`TickRun::into_buffer`]): an hour's run is ~200 KB, which the allocator would
    /// otherwise map fresh from the kernel, page fault by page fault, for every run.
    pub fn open_run_into(&mut self, index: usize, symbol: SymbolId, buffer: Vec<Tick>) -> Result<TickRun, LakeError> {
        let info = &self.runs[index];
        let mut readers = Vec::with_capacity(NUMERIC.len());
        for (&column, name) in self.columns.iter().zip(NUMERIC) {
            let reader =
                column_reader(&self.path, &self.reader, &mut self.file, &mut self.pages, info.row_group, column)?;
            readers.push((reader, name));
        }
        let mut readers = readers.into_iter();
        let mut int = || -> Result<ColumnReaderImpl<Int64Type>, LakeError> {
            match readers.next().expect("seven columns") {
                (ColumnReader::Int64ColumnReader(r), _) => Ok(r),
                (_, name) => Err(LakeError::invalid(&self.path, format!("column {name} must be int64"))),
            }
        };
        let ts_event = int()?;
        let ts_recv = int()?;
        let mut doubles = Vec::with_capacity(5);
        for reader in readers {
            match reader {
                (ColumnReader::DoubleColumnReader(r), _) => doubles.push(r),
                (_, name) => return Err(LakeError::invalid(&self.path, format!("column {name} must be double"))),
            }
        }
        let mut doubles: [ColumnReaderImpl<DoubleType>; 5] = doubles.try_into().unwrap_or_else(|_| unreachable!());
        let (mut ts_event, mut ts_recv) = (ts_event, ts_recv);
        // The whole run is decoded now and the column readers dropped: each holds a zstd
        // context (~100 KiB), and a replay keeps a thousand runs open at once.
        let rows = usize::try_from(info.rows).unwrap_or(usize::MAX);
        let mut ticks = buffer;
        ticks.clear();
        ticks.reserve(rows);
        let (mut ints, mut floats): ([Vec<i64>; 2], [Vec<f64>; 5]) = Default::default();
        let err = |e| LakeError::parquet(&self.path)(e);
        let mut last_ts = Timestamp::MIN;
        while ticks.len() < rows {
            let n = PAGE_ROWS.min(rows - ticks.len());
            let mut counts = [0usize; 7];
            counts[0] = read_column(&mut ts_event, n, &mut ints[0]).map_err(err)?;
            counts[1] = read_column(&mut ts_recv, n, &mut ints[1]).map_err(err)?;
            for (i, (reader, out)) in doubles.iter_mut().zip(&mut floats).enumerate() {
                counts[i + 2] = read_column(reader, n, out).map_err(err)?;
            }
            if counts.iter().any(|&c| c != n) {
                return Err(LakeError::invalid(&self.path, format!("row group {} ended early", info.row_group)));
            }
            let [o, h, l, c, v] = &floats;
            for i in 0..n {
                let ts = Timestamp::from_nanos(ints[0][i]);
                if ts <= last_ts {
                    return Err(LakeError::invalid(
                        &self.path,
                        format!("row group {} is not strictly increasing in ts_event at {ts}", info.row_group),
                    ));
                }
                last_ts = ts;
                ticks.push(Tick {
                    symbol,
                    ts_event: ts,
                    ts_recv: Timestamp::from_nanos(ints[1][i]),
                    open: Price(o[i]),
                    high: Price(h[i]),
                    low: Price(l[i]),
                    close: Price(c[i]),
                    volume: Volume(v[i]),
                });
            }
        }
        Ok(TickRun { path: self.path.clone(), row_group: info.row_group, symbol, ticks, pos: 0 })
    }
}

/// A reader of one column chunk: its pages read whole and decompressed with the file's one
/// zstd context ([`ChunkPages`]), or parquet's own page reader for a chunk that uses
/// something else.
fn column_reader(
    path: &Path,
    reader: &SerializedFileReader<File>,
    file: &mut File,
    pages: &mut ChunkPages,
    row_group: usize,
    column: usize,
) -> Result<ColumnReader, LakeError> {
    let chunk = reader.metadata().row_group(row_group).column(column);
    if let Some(pages) = pages.read(file, chunk).map_err(LakeError::parquet(path))? {
        return Ok(get_column_reader(chunk.column_descr_ptr(), Box::new(pages)));
    }
    let group = reader.get_row_group(row_group).map_err(LakeError::parquet(path))?;
    group.get_column_reader(column).map_err(LakeError::parquet(path))
}

/// One row group's ticks, decoded, with a cursor. Memory is the run's ticks (≤ 3,600 for an
/// hour of 1-second data), so a replay holds at most one hour of the lake decoded.
pub struct TickRun {
    path: PathBuf,
    row_group: usize,
    symbol: SymbolId,
    ticks: Vec<Tick>,
    pos: usize,
}

impl std::fmt::Debug for TickRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TickRun")
            .field("path", &self.path)
            .field("row_group", &self.row_group)
            .field("remaining", &(self.ticks.len() - self.pos))
            .finish()
    }
}

fn read_column<T: DataType>(
    reader: &mut ColumnReaderImpl<T>,
    n: usize,
    out: &mut Vec<T::T>,
) -> parquet::errors::Result<usize> {
    out.clear();
    let (records, _, _) = reader.read_records(n, None, None, out)?;
    Ok(records)
}

impl TickRun {
    /// The next tick without consuming it.
    pub fn peek(&self) -> Option<&Tick> {
        self.ticks.get(self.pos)
    }

    /// Consumes the next tick, if any.
    pub fn advance(&mut self) {
        self.advance_by(1);
    }

    /// The next `n` ticks without consuming them (those left, if fewer).
    pub fn ahead(&self, n: usize) -> &[Tick] {
        &self.ticks[self.pos..(self.pos + n).min(self.ticks.len())]
    }

    /// Consumes the next `n` ticks (those left, if fewer).
    pub fn advance_by(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.ticks.len());
    }

    pub fn next_tick(&mut self) -> Option<Tick> {
        let tick = self.peek().copied();
        self.advance();
        tick
    }

    /// The run's memory, for [`TickFileReader::open_run_into`].
    pub fn into_buffer(self) -> Vec<Tick> {
        self.ticks
    }

    /// The symbol of the run's ticks.
    pub fn symbol(&self) -> SymbolId {
        self.symbol
    }
}

#[cfg(test)]
mod tests {
    use parquet::basic::{Compression, Encoding};
    use parquet::file::properties::{WriterProperties, WriterVersion};
    use parquet::file::reader::FileReader;
    use tickloop_core::{Price, SymbolId, SymbolMeta, Tick, Timestamp, Volume};

    use super::{TickFileReader, TickFileWriter};
    use crate::{HourPartition, Lake, LakeTable};

    fn ticks(symbol: u32, n: usize) -> Vec<Tick> {
        let t0 = Timestamp::parse("2024-01-02T14:00:00Z").unwrap();
        (0..n)
            .map(|i| {
                let wave = ((i * 7919 + symbol as usize * 104_729) % 997) as f64;
                Tick {
                    symbol: SymbolId::new(symbol),
                    ts_event: t0.add_nanos(i as i64 * 1_000_000_000 + i64::from(symbol)),
                    ts_recv: t0.add_nanos(i as i64 * 1_000_000_000 + 3_500 + (i % 13) as i64),
                    open: Price(100.0 + wave * 0.01),
                    high: Price(100.5 + wave * 0.01),
                    low: Price(99.5 + wave * 0.01),
                    close: Price(100.0 + (wave * 0.37).floor() * 0.01),
                    volume: Volume(1.0 + wave * 13.25),
                }
            })
            .collect()
    }

    /// Files in every page layout parquet writes read back to the ticks written: tickloop's
    /// own (pages read by `ChunkPages`, one zstd context per file) and the layouts that fall
    /// back to parquet's page reader (data page v2) or skip decompression (uncompressed).
    #[test]
    fn every_page_layout_reads_back_the_ticks_written() {
        let base = || WriterProperties::builder().set_max_row_group_row_count(None);
        // (name, properties, whether its pages are read by `ChunkPages`)
        let layouts = [
            ("tickloop's", TickFileWriter::properties(), true),
            ("uncompressed, dictionary", base().set_compression(Compression::UNCOMPRESSED).build(), true),
            (
                "zstd, plain, 7-row pages",
                base()
                    .set_compression(Compression::ZSTD(Default::default()))
                    .set_dictionary_enabled(false)
                    .set_encoding(Encoding::PLAIN)
                    .set_data_page_row_count_limit(7)
                    .set_write_batch_size(7)
                    .build(),
                true,
            ),
            (
                "data page v2, zstd",
                base()
                    .set_writer_version(WriterVersion::PARQUET_2_0)
                    .set_compression(Compression::ZSTD(Default::default()))
                    .build(),
                false,
            ),
        ];
        let runs = [ticks(0, 5_000), ticks(1, 1), ticks(2, 4_096)];
        for (name, props, ours) in layouts {
            let dir = tempfile::tempdir().unwrap();
            let lake = Lake::local(dir.path());
            let partition = HourPartition::containing(runs[0][0].ts_event);
            let object = lake.object(LakeTable::RawTicks, partition, "part-0.parquet");
            let mut writer = TickFileWriter::create_with(object.clone(), props).unwrap();
            for (i, run) in runs.iter().enumerate() {
                let meta = SymbolMeta { name: format!("S{i}"), exchange: "XNAS".into(), currency: "USD".into() };
                writer.write_run(&meta, run).unwrap();
            }
            writer.finish().unwrap();
            let mut reader = TickFileReader::open(&object).unwrap();
            for &column in &reader.columns {
                let chunk = reader.reader.metadata().row_group(0).column(column);
                let pages = reader.pages.read(&mut reader.file, chunk).unwrap();
                assert_eq!(pages.is_some(), ours, "{name}: column {column}");
            }
            for (i, run) in runs.iter().enumerate() {
                let mut got = reader.open_run(i, SymbolId::new(i as u32)).unwrap();
                let got: Vec<Tick> = std::iter::from_fn(|| got.next_tick()).collect();
                assert_eq!(&got, run, "{name}: run {i}");
            }
        }
    }
}
