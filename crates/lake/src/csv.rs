//! OHLCV CSV files as people have them: Yahoo-style with a header (`Date,Open,High,Low,
//! Close,Volume[,Adj Close]`, any case, any column order), dates as `YYYY-MM-DD`,
//! `YYYY-MM-DD HH:MM:SS`, `M/D/YYYY`, RFC 3339 or epoch milliseconds (all UTC).

use std::path::{Path, PathBuf};

use tickloop_core::Timestamp;

use crate::LakeError;

/// One parsed row, with its original cells for echoing back.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvBar {
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
    /// The header cells as written.
    pub header: Vec<String>,
    /// Every data row's cells as written.
    pub cells: Vec<Vec<String>>,
    pub bars: Vec<CsvBar>,
}

const TIME_NAMES: [&str; 5] = ["date", "ts", "time", "datetime", "timestamp"];

/// Parses a date or time cell (UTC).
pub fn parse_time(cell: &str) -> Option<Timestamp> {
    let s = cell.trim();
    if let Ok(ts) = Timestamp::parse(s) {
        return Some(ts);
    }
    if s.len() == 10 && s.as_bytes()[4] == b'-' {
        return Timestamp::parse(&format!("{s}T00:00:00Z")).ok();
    }
    if s.len() == 19 && s.as_bytes()[4] == b'-' && s.as_bytes()[10] == b' ' {
        return Timestamp::parse(&format!("{}T{}Z", &s[..10], &s[11..])).ok();
    }
    let parts: Vec<&str> = s.split('/').collect();
    if let [m, d, y] = parts[..] {
        let (m, d, y): (u32, u32, i32) = (m.parse().ok()?, d.parse().ok()?, y.parse().ok()?);
        return Timestamp::parse(&format!("{y:04}-{m:02}-{d:02}T00:00:00Z")).ok();
    }
    None
}

/// Reads a headed OHLCV CSV. Errors name the file, the line and the cell.
pub fn read_ohlcv_csv(path: &Path) -> Result<OhlcvCsv, LakeError> {
    let text = std::fs::read_to_string(path).map_err(LakeError::io(path))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let (_, head) = lines.next().ok_or_else(|| LakeError::invalid(path, "empty file"))?;
    let header: Vec<String> = head.split(',').map(|h| h.trim().to_owned()).collect();
    let find = |names: &[&str]| header.iter().position(|h| names.contains(&h.to_ascii_lowercase().as_str()));
    let time = find(&TIME_NAMES).ok_or_else(|| {
        LakeError::invalid(path, format!("no date/ts column in header {header:?} (expected one of {TIME_NAMES:?})"))
    })?;
    let mut cols = [0usize; 5];
    for (slot, name) in cols.iter_mut().zip(["open", "high", "low", "close", "volume"]) {
        *slot =
            find(&[name]).ok_or_else(|| LakeError::invalid(path, format!("no {name} column in header {head:?}")))?;
    }
    let mut cells = Vec::new();
    let mut bars = Vec::new();
    for (i, line) in lines {
        let row: Vec<String> = line.split(',').map(|c| c.trim().to_owned()).collect();
        let at = |reason: String| LakeError::invalid(path, format!("line {}: {reason}", i + 1));
        let cell = |c: usize| row.get(c).map(String::as_str).ok_or_else(|| at(format!("only {} cells", row.len())));
        let ts = parse_time(cell(time)?).ok_or_else(|| at(format!("{:?} is not a date or time", row[time])))?;
        let mut v = [0.0; 5];
        for (slot, &c) in v.iter_mut().zip(&cols) {
            let text = cell(c)?;
            *slot = text.parse().map_err(|_| at(format!("{} = {text:?} is not a number", header[c])))?;
        }
        bars.push(CsvBar { line: i + 1, ts, open: v[0], high: v[1], low: v[2], close: v[3], volume: v[4] });
        cells.push(row);
    }
    Ok(OhlcvCsv { path: path.to_owned(), header, cells, bars })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_yahoo_style_files_in_any_case_and_column_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.csv");
        std::fs::write(
            &path,
            "\u{feff}Date,Adj Close,CLOSE,High,Low,Open,Volume\n1/4/1999,1,2,3,1,2,10\n1999-01-05,1,2.5,3,1,2,0\n",
        )
        .unwrap();
        let csv = read_ohlcv_csv(&path).unwrap();
        assert_eq!(csv.bars.len(), 2);
        assert_eq!(csv.bars[0].ts, Timestamp::parse("1999-01-04T00:00:00Z").unwrap());
        assert_eq!((csv.bars[1].close, csv.bars[1].open, csv.bars[1].volume), (2.5, 2.0, 0.0));
        std::fs::write(&path, "date,open,high,low,close,volume\n2024-01-02,1,2,x,1,1\n").unwrap();
        let err = read_ohlcv_csv(&path).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("low"), "{err}");
    }
}
