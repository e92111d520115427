//! OHLCV CSV files as people have them:
//! - `yahoo`: a header (`Date,Open,High,Low,Close,Volume[,Adj Close]`, any case, any
//!   column order), dates as `YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS`, `M/D/YYYY`, RFC 3339 or
//!   epoch milliseconds;
//! - `ninja`: headerless `YYYYMMDD HHMMSS;open;high;low;close;volume` (NinjaTrader exports,
//!   like `shared/data/spy-minute-2011.csv`).
//!
//! Times without an offset are read in the given [`Zone`] (daylight saving included), then
//! stored as UTC instants.

use std::path::{Path, PathBuf};

use tickloop_core::Timestamp;
use tickloop_features::{FeatureSet, FeatureSpec, Ohlcv};

use crate::LakeError;

/// A time zone for naive times: `UTC`, a fixed offset (`+01:00`, `-05:00`) or an IANA name
/// (`America/New_York`; the tz database is compiled in).
#[derive(Debug, Clone)]
pub struct Zone(jiff::tz::TimeZone);

impl Zone {
    pub fn utc() -> Self {
        Zone(jiff::tz::TimeZone::UTC)
    }

    pub fn parse(name: &str) -> Result<Self, String> {
        let bad = |e: &dyn std::fmt::Display| {
            format!("unknown time zone {name:?} ({e}): use UTC, +HH:MM or an IANA name like America/New_York")
        };
        if name.eq_ignore_ascii_case("utc") || name == "Z" {
            return Ok(Zone::utc());
        }
        if let Some(sign) = name.strip_prefix(['+', '-']).map(|_| if name.starts_with('-') { -1 } else { 1 }) {
            let (h, m) = name[1..].split_once(':').ok_or_else(|| bad(&"expected ±HH:MM"))?;
            let secs =
                sign * (h.parse::<i32>().map_err(|e| bad(&e))? * 3600 + m.parse::<i32>().map_err(|e| bad(&e))? * 60);
            let offset = jiff::tz::Offset::from_seconds(secs).map_err(|e| bad(&e))?;
            return Ok(Zone(jiff::tz::TimeZone::fixed(offset)));
        }
        jiff::tz::TimeZone::get(name).map(Zone).map_err(|e| bad(&e))
    }

    /// `ts` on this zone's wall clock, formatted with strftime's `pattern` (`%H:%M`,
    /// `%Y-%m-%d`, `%Z` for the abbreviation: `EST`). Reports use it so their times read
    /// as the market's, not UTC.
    pub fn format(&self, ts: Timestamp, pattern: &str) -> String {
        match jiff::Timestamp::from_nanosecond(i128::from(ts.as_nanos())) {
            Ok(t) => t.to_zoned_datetime(self.0.clone()).strftime(pattern).to_string(),
            Err(_) => ts.to_string(),
        }
    }

    /// This zone's offset from UTC at `ts`, in nanoseconds (east positive).
    pub fn offset_nanos(&self, ts: Timestamp) -> i64 {
        let at = jiff::Timestamp::from_nanosecond(i128::from(ts.as_nanos())).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        i64::from(self.0.to_offset(at).seconds()) * tickloop_core::NANOS_PER_SECOND
    }

    /// The instant of a wall-clock time in this zone (the earlier one in a DST fold).
    fn instant(&self, y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<Timestamp> {
        let small = |v: u32| i8::try_from(v).ok();
        let dt = jiff::civil::DateTime::new(
            i16::try_from(y).ok()?,
            small(mo)?,
            small(d)?,
            small(h)?,
            small(mi)?,
            small(s)?,
            0,
        )
        .ok()?;
        let ts = self.0.to_timestamp(dt).ok()?;
        i64::try_from(ts.as_nanosecond()).ok().map(Timestamp::from_nanos)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvFormat {
    Yahoo,
    Ninja,
}

impl std::str::FromStr for CsvFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "yahoo" => Ok(CsvFormat::Yahoo),
            "ninja" => Ok(CsvFormat::Ninja),
            _ => Err(format!("unknown CSV format {s:?}: use yahoo (headed) or ninja (headerless, ';')")),
        }
    }
}

/// One parsed row.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvBar {
    /// 1-based line in the file, for error messages.
    pub line: usize,
    pub ts: Timestamp,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OhlcvCsv {
    pub path: PathBuf,
    pub format: CsvFormat,
    /// The header cells as written (a synthetic one for headerless files).
    pub header: Vec<String>,
    /// Every data row's cells as written.
    pub cells: Vec<Vec<String>>,
    pub bars: Vec<CsvBar>,
}

impl OhlcvCsv {
    /// Writes the file back as it was read, with one column per feature of `specs` appended
    /// (computed bar by bar, incrementally; empty while a feature warms up).
    pub fn write_with_features(&self, specs: &[FeatureSpec], out: &mut impl std::io::Write) -> std::io::Result<()> {
        let mut set = FeatureSet::new(specs);
        let mut header = self.header.join(",");
        for spec in specs {
            header.push(',');
            header.push_str(&spec.to_string());
        }
        writeln!(out, "{header}")?;
        let mut values = Vec::with_capacity(specs.len());
        for (bar, cells) in self.bars.iter().zip(&self.cells) {
            values.clear();
            let x = Ohlcv {
                ts_nanos: bar.ts.as_nanos(),
                open: bar.open,
                high: bar.high,
                low: bar.low,
                close: bar.close,
                volume: bar.volume,
            };
            set.update(&x, &mut values);
            let mut line = cells.join(",");
            for v in &values {
                line.push(',');
                if !v.is_nan() {
                    line.push_str(&v.to_string());
                }
            }
            writeln!(out, "{line}")?;
        }
        out.flush()
    }
}

const TIME_NAMES: [&str; 5] = ["date", "ts", "time", "datetime", "timestamp"];

/// Parses a date or time cell; naive times are read in `zone`.
pub fn parse_time(cell: &str, zone: &Zone) -> Option<Timestamp> {
    let s = cell.trim();
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<u32>().ok();
    if s.len() >= 20 || (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && s.len() > 8) {
        // RFC 3339 with an offset, or epoch milliseconds: already an instant.
        return Timestamp::parse(s).ok();
    }
    let b = s.as_bytes();
    if s.len() == 10 && b[4] == b'-' && b[7] == b'-' {
        return zone.instant(num(0..4)? as i32, num(5..7)?, num(8..10)?, 0, 0, 0);
    }
    if s.len() == 19 && b[4] == b'-' && matches!(b[10], b' ' | b'T') {
        return zone.instant(num(0..4)? as i32, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    }
    if s.len() == 15 && b[8] == b' ' {
        // NinjaTrader: YYYYMMDD HHMMSS
        return zone.instant(num(0..4)? as i32, num(4..6)?, num(6..8)?, num(9..11)?, num(11..13)?, num(13..15)?);
    }
    let parts: Vec<&str> = s.split('/').collect();
    if let [m, d, y] = parts[..] {
        return zone.instant(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?, 0, 0, 0);
    }
    None
}

/// Reads an OHLCV CSV in `format` (detected when `None`: a header line means yahoo, `;`
/// separators mean ninja). Errors name the file, the line and the cell.
pub fn read_ohlcv_csv(path: &Path, format: Option<CsvFormat>, zone: &Zone) -> Result<OhlcvCsv, LakeError> {
    let text = std::fs::read_to_string(path).map_err(LakeError::io(path))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).peekable();
    let (_, first) = *lines.peek().ok_or_else(|| LakeError::invalid(path, "empty file"))?;
    let format = format.unwrap_or(if first.bytes().any(|b| b.is_ascii_alphabetic()) {
        CsvFormat::Yahoo
    } else if first.contains(';') {
        CsvFormat::Ninja
    } else {
        CsvFormat::Yahoo
    });
    let (separator, header, time, cols) = match format {
        CsvFormat::Ninja => {
            let header = ["ts", "open", "high", "low", "close", "volume"].map(String::from).to_vec();
            (';', header, 0, [1, 2, 3, 4, 5])
        }
        CsvFormat::Yahoo => {
            let (_, head) = lines.next().expect("peeked");
            let header: Vec<String> = head.split(',').map(|h| h.trim().to_owned()).collect();
            let find = |names: &[&str]| header.iter().position(|h| names.contains(&h.to_ascii_lowercase().as_str()));
            let time = find(&TIME_NAMES).ok_or_else(|| {
                LakeError::invalid(
                    path,
                    format!("no date/ts column in header {header:?} (expected one of {TIME_NAMES:?})"),
                )
            })?;
            let mut cols = [0usize; 5];
            for (slot, name) in cols.iter_mut().zip(["open", "high", "low", "close", "volume"]) {
                *slot = find(&[name])
                    .ok_or_else(|| LakeError::invalid(path, format!("no {name} column in header {head:?}")))?;
            }
            (',', header, time, cols)
        }
    };
    let mut cells = Vec::new();
    let mut bars = Vec::new();
    for (i, line) in lines {
        let row: Vec<String> = line.split(separator).map(|c| c.trim().to_owned()).collect();
        let at = |reason: String| LakeError::invalid(path, format!("line {}: {reason}", i + 1));
        let cell = |c: usize| row.get(c).map(String::as_str).ok_or_else(|| at(format!("only {} cells", row.len())));
        let ts = parse_time(cell(time)?, zone).ok_or_else(|| at(format!("{:?} is not a date or time", row[time])))?;
        let mut v = [0.0; 5];
        for (slot, &c) in v.iter_mut().zip(&cols) {
            let text = cell(c)?;
            *slot = text.parse().map_err(|_| at(format!("{} = {text:?} is not a number", header[c])))?;
        }
        bars.push(CsvBar { line: i + 1, ts, open: v[0], high: v[1], low: v[2], close: v[3], volume: v[4] });
        cells.push(row);
    }
    Ok(OhlcvCsv { path: path.to_owned(), format, header, cells, bars })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_are_appended_to_the_rows_as_written_and_blank_while_warming_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.csv");
        std::fs::write(
            &path,
            "Date,Open,High,Low,Close,Volume
2024-01-02,1,2,1,1,10
2024-01-03,1,3,1,3,10
",
        )
        .unwrap();
        let csv = read_ohlcv_csv(&path, None, &Zone::utc()).unwrap();
        let specs: Vec<FeatureSpec> = ["sma_2", "log_return"].iter().map(|s| s.parse().unwrap()).collect();
        let mut out = Vec::new();
        csv.write_with_features(&specs, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Date,Open,High,Low,Close,Volume,sma_2,log_return");
        assert_eq!(lines[1], "2024-01-02,1,2,1,1,10,,", "both still warming up");
        assert_eq!(lines[2], format!("2024-01-03,1,3,1,3,10,2,{}", 3f64.ln()));
    }

    #[test]
    fn reads_yahoo_style_files_in_any_case_and_column_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.csv");
        std::fs::write(
            &path,
            "\u{feff}Date,Adj Close,CLOSE,High,Low,Open,Volume\n1/4/1999,1,2,3,1,2,10\n1999-01-05,1,2.5,3,1,2,0\n",
        )
        .unwrap();
        let csv = read_ohlcv_csv(&path, None, &Zone::utc()).unwrap();
        assert_eq!(csv.format, CsvFormat::Yahoo);
        assert_eq!(csv.bars.len(), 2);
        assert_eq!(csv.bars[0].ts, Timestamp::parse("1999-01-04T00:00:00Z").unwrap());
        assert_eq!((csv.bars[1].close, csv.bars[1].open, csv.bars[1].volume), (2.5, 2.0, 0.0));
        std::fs::write(&path, "date,open,high,low,close,volume\n2024-01-02,1,2,x,1,1\n").unwrap();
        let err = read_ohlcv_csv(&path, None, &Zone::utc()).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("low"), "{err}");
    }

    #[test]
    fn reads_ninja_minute_files_in_a_named_zone_with_daylight_saving() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spy.csv");
        std::fs::write(&path, "20110103 090100;126.35;126.39;126.35;126.39;1579\n20110705 093000;1;1;1;1;1\n").unwrap();
        let csv = read_ohlcv_csv(&path, None, &Zone::parse("America/New_York").unwrap()).unwrap();
        assert_eq!(csv.format, CsvFormat::Ninja);
        assert_eq!(csv.bars[0].ts, Timestamp::parse("2011-01-03T14:01:00Z").unwrap(), "EST is UTC-5");
        assert_eq!(csv.bars[1].ts, Timestamp::parse("2011-07-05T13:30:00Z").unwrap(), "EDT is UTC-4");
        assert_eq!(csv.bars[0].volume, 1579.0);
        let fixed = read_ohlcv_csv(&path, Some(CsvFormat::Ninja), &Zone::parse("+01:00").unwrap()).unwrap();
        assert_eq!(fixed.bars[0].ts, Timestamp::parse("2011-01-03T08:01:00Z").unwrap());
        assert!(Zone::parse("Mars/Olympus").is_err());
    }
}
