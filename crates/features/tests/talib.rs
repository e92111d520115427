//! Indicators against golden vectors computed by TA-Lib itself (see
//! `tests/golden/generate.py`): same values to 1e-9 and the same first valid index.

use std::collections::BTreeMap;

use tickloop_features::batch::Columns;
use tickloop_features::{FeatureSet, FeatureSpec, Ohlcv};

struct Golden {
    columns: BTreeMap<String, Vec<f64>>,
    rows: usize,
}

fn load(name: &str) -> Golden {
    let path = tickloop_testkit::manifest_dir().join("tests/golden").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(str::to_owned).collect();
    let mut columns: BTreeMap<String, Vec<f64>> = header.iter().map(|h| (h.clone(), Vec::new())).collect();
    let mut rows = 0;
    for line in lines {
        for (h, cell) in header.iter().zip(line.split(',')) {
            let v = if cell == "nan" { f64::NAN } else { cell.parse().unwrap() };
            columns.get_mut(h).unwrap().push(v);
        }
        rows += 1;
    }
    Golden { columns, rows }
}

/// Golden column name → our feature name, for the ones that differ.
fn feature_name(column: &str) -> &str {
    match column {
        "roc_1" => "return",
        other => other,
    }
}

fn check(file: &str) {
    let g = load(file);
    let inputs = ["open", "high", "low", "close", "volume"];
    let outputs: Vec<&String> = g.columns.keys().filter(|k| !inputs.contains(&k.as_str())).collect();
    let specs: Vec<FeatureSpec> = outputs.iter().map(|c| feature_name(c).parse().unwrap()).collect();
    let mut set = FeatureSet::new(&specs);
    let col = |name: &str| &g.columns[name];
    let mut values = Vec::new();
    let mut streamed = Vec::with_capacity(g.rows * specs.len());
    let mut first_valid: BTreeMap<&str, (Option<usize>, Option<usize>)> = BTreeMap::new();
    for i in 0..g.rows {
        let x = Ohlcv {
            ts_nanos: i as i64 * 60_000_000_000,
            open: col("open")[i],
            high: col("high")[i],
            low: col("low")[i],
            close: col("close")[i],
            volume: col("volume")[i],
        };
        values.clear();
        set.update(&x, &mut values);
        streamed.extend_from_slice(&values);
        for (column, &got) in outputs.iter().zip(&values) {
            let expected = g.columns[*column][i];
            let entry = first_valid.entry(column.as_str()).or_default();
            if entry.0.is_none() && !expected.is_nan() {
                entry.0 = Some(i);
            }
            if entry.1.is_none() && !got.is_nan() {
                entry.1 = Some(i);
            }
            if expected.is_nan() {
                assert!(got.is_nan(), "{file} {column} row {i}: expected NaN (warming up), got {got}");
            } else {
                let tolerance = 1e-9 * expected.abs().max(1.0);
                assert!(
                    (got - expected).abs() <= tolerance,
                    "{file} {column} row {i}: got {got}, TA-Lib {expected} (diff {:e})",
                    got - expected
                );
            }
        }
    }
    for (column, (expected, got)) in first_valid {
        assert_eq!(got, expected, "{file} {column}: first valid index");
    }
    // The same series in runs (indicator by indicator, as a replay computes them): the same
    // bits as the tick-by-tick values just checked against TA-Lib.
    let ts: Vec<i64> = (0..g.rows as i64).map(|i| i * 60_000_000_000).collect();
    let mut runs = FeatureSet::new(&specs);
    let mut rows = vec![0.0; g.rows * specs.len()];
    let series = Columns {
        ts_nanos: &ts,
        open: col("open"),
        high: col("high"),
        low: col("low"),
        close: col("close"),
        volume: col("volume"),
    };
    for start in (0..g.rows).step_by(37) {
        let end = (start + 37).min(g.rows);
        runs.update_run(&series.slice(start..end), &mut rows[start * specs.len()..end * specs.len()]);
    }
    for (k, (got, want)) in rows.iter().zip(&streamed).enumerate() {
        let (row, column) = (k / specs.len(), outputs[k % specs.len()]);
        assert_eq!(got.to_bits(), want.to_bits(), "{file} {column} row {row}: run {got}, tick by tick {want}");
    }
}

#[test]
fn indicators_match_talib_on_spy_minute_bars() {
    check("spy_minute.csv");
}

#[test]
fn indicators_match_talib_on_sp500_daily_bars() {
    check("sp500_daily.csv");
}

#[test]
fn talib_conventions_for_first_valid_index() {
    let g = load("spy_minute.csv");
    let first = |name: &str| g.columns[name].iter().position(|v| !v.is_nan());
    assert_eq!(first("ema_12"), Some(11));
    assert_eq!(first("rsi_14"), Some(14));
    assert_eq!(first("macd_12_26_9"), Some(33));
    assert_eq!(first("atr_14"), Some(14));
    assert_eq!(first("bb_upper_20_2"), Some(19));
}
