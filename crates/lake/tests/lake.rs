//! The local lake: files round-trip, partitions replay in order, writes are atomic.

use std::collections::BTreeMap;

use proptest::prelude::*;
use tickloop_core::{NANOS_PER_HOUR, NANOS_PER_SECOND, Price, Source, SymbolId, SymbolTable, Tick, Timestamp, Volume};
use tickloop_lake::{HourPartition, Lake, LakeSource, LakeTable, TickFileWriter};

fn t0() -> Timestamp {
    Timestamp::parse("2024-01-02T13:00:00Z").unwrap()
}

fn tick(symbol: u32, ts: Timestamp, px: f64) -> Tick {
    Tick {
        symbol: SymbolId::new(symbol),
        ts_event: ts,
        ts_recv: ts.add_nanos(1_500),
        open: Price(px),
        high: Price(px * 1.01),
        low: Price(px * 0.99),
        close: Price(px + 0.25),
        volume: Volume(100.0 + px),
    }
}

fn names(n: usize) -> SymbolTable {
    let mut table = SymbolTable::new();
    for i in 0..n {
        table.intern_with(&format!("S{i:03}"), "XNAS", "USD").unwrap();
    }
    table
}

/// Writes `ticks` into the lake: each tick goes to file `file_of(tick)` of its hour, each
/// symbol's ticks in a file form one run.
fn write_lake(lake: &Lake, table: &SymbolTable, ticks: &[Tick], file_of: impl Fn(&Tick) -> usize) {
    let mut files: BTreeMap<(HourPartition, usize), BTreeMap<SymbolId, Vec<Tick>>> = BTreeMap::new();
    for t in ticks {
        files
            .entry((HourPartition::containing(t.ts_event), file_of(t)))
            .or_default()
            .entry(t.symbol)
            .or_default()
            .push(*t);
    }
    for ((p, n), runs) in files {
        let mut w = TickFileWriter::create(lake.object(LakeTable::RawTicks, p, &format!("part-{n}.parquet"))).unwrap();
        for (symbol, mut run) in runs {
            run.sort_by_key(|t| t.ts_event);
            w.write_run(table.meta(symbol), &run).unwrap();
        }
        w.finish().unwrap();
    }
}

fn replay(lake: &Lake, from: Timestamp, to: Timestamp) -> (SymbolTable, Vec<Tick>) {
    let mut src = LakeSource::open(lake, from, to).unwrap();
    let ticks = std::iter::from_fn(|| src.next_tick().unwrap()).collect();
    (src.symbols().clone(), ticks)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Every tick comes back exactly once, bit for bit, in (ts_event, symbol) order, however
    /// the ticks were spread over files and hours, tick by tick and in blocks of any size,
    /// decoded on any number of threads.
    /// Sparse cells put symbols off a shared clock, dense ones on it (whole buckets at once).
    #[test]
    fn merge_yields_every_tick_once_in_replay_order(
        cells in prop_oneof![
            1 => proptest::collection::btree_map((0u32..6, 0i64..9_000), (1.0f64..500.0, 0usize..3), 1..400),
            1 => proptest::collection::btree_map((0u32..6, 3_590i64..3_620), (1.0f64..500.0, 0usize..3), 1..180),
            // Every symbol on one clock in one file, a few cells missing: runs of buckets
            // alike, emitted several at a time, broken where a symbol skips a second.
            2 => proptest::collection::vec(proptest::bool::weighted(0.97), 180).prop_map(|present| {
                present
                    .iter()
                    .enumerate()
                    .filter(|&(_, &here)| here)
                    .map(|(i, _)| (((i / 30) as u32, 3_590 + (i % 30) as i64), (100.0 + i as f64, 0)))
                    .collect::<BTreeMap<_, _>>()
            }),
        ],
        block in 1usize..40,
        threads in 1usize..4,
        window in (0.0f64..1.0, 0.0f64..1.2),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::local(dir.path());
        let table = names(6);
        let ticks: Vec<Tick> = cells.iter().map(|(&(s, sec), &(px, _))| tick(s, t0().add_nanos(sec * NANOS_PER_SECOND), px)).collect();
        let file_of: BTreeMap<(u32, i64), usize> = cells.iter().map(|(&k, &(_, f))| (k, f)).collect();
        write_lake(&lake, &table, &ticks, |t| file_of[&(t.symbol.index() as u32, (t.ts_event.as_nanos() - t0().as_nanos()) / NANOS_PER_SECOND)]);

        let (symbols, got) = replay(&lake, Timestamp::MIN, Timestamp::MAX);
        let mut expected = ticks.clone();
        // Replay ids are assigned in name order over the symbols present; remap ours the same way.
        for t in &mut expected {
            t.symbol = symbols.get(table.name(t.symbol)).unwrap();
        }
        expected.sort_by_key(Tick::replay_key);
        prop_assert_eq!(got.len(), expected.len());
        for (g, e) in got.iter().zip(&expected) {
            prop_assert_eq!(g, e);
        }
        let mut source = LakeSource::open(&lake, Timestamp::MIN, Timestamp::MAX).unwrap().with_threads(threads);
        let (mut blocks, mut buffer) = (Vec::new(), Vec::new());
        loop {
            source.next_block(&mut buffer, block).unwrap();
            prop_assert!(buffer.len() <= block);
            if buffer.is_empty() {
                break;
            }
            blocks.extend_from_slice(&buffer);
        }
        prop_assert_eq!(&blocks, &expected);

        // A window cut anywhere in the data, its end possibly past it: the ticks inside, alone.
        let at = |fraction: f64| expected.get((fraction * expected.len() as f64) as usize).map_or(Timestamp::MAX, |t| t.ts_event);
        let (from, to) = (at(window.0.min(window.1)), at(window.0.max(window.1)));
        let mut source = LakeSource::open(&lake, from, to).unwrap().with_threads(threads);
        // Ids come from the names in the window's own partitions.
        let inside: Vec<Tick> = expected
            .iter()
            .filter(|t| t.ts_event >= from && t.ts_event < to)
            .map(|t| Tick { symbol: source.symbols().get(symbols.name(t.symbol)).unwrap(), ..*t })
            .collect();
        blocks.clear();
        loop {
            source.next_block(&mut buffer, block).unwrap();
            if buffer.is_empty() {
                break;
            }
            blocks.extend_from_slice(&buffer);
        }
        prop_assert_eq!(blocks, inside);
    }
}

#[test]
fn replay_respects_the_requested_range() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path());
    let table = names(2);
    let ticks: Vec<Tick> = (0..3 * 3600)
        .step_by(60)
        .flat_map(|s| (0..2).map(move |sym| tick(sym, t0().add_nanos(s * NANOS_PER_SECOND), 10.0)))
        .collect();
    write_lake(&lake, &table, &ticks, |_| 0);
    let from = t0().add_nanos(NANOS_PER_HOUR + 30 * 60 * NANOS_PER_SECOND);
    let to = from.add_nanos(NANOS_PER_HOUR);
    let (_, got) = replay(&lake, from, to);
    assert_eq!(got.len(), 2 * 60);
    assert!(got.iter().all(|t| t.ts_event >= from && t.ts_event < to));
}

#[test]
fn rewriting_a_part_replaces_it_and_leaves_no_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path());
    let table = names(1);
    let ticks: Vec<Tick> = (0..100).map(|s| tick(0, t0().add_nanos(s * NANOS_PER_SECOND), 10.0)).collect();
    write_lake(&lake, &table, &ticks, |_| 0);
    write_lake(&lake, &table, &ticks, |_| 0);
    assert_eq!(replay(&lake, Timestamp::MIN, Timestamp::MAX).1.len(), 100);
    let p = HourPartition::containing(t0());
    let listing: Vec<_> = std::fs::read_dir(dir.path().join("raw/ticks").join(p.relative_dir()))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(listing, vec![std::ffi::OsString::from("part-0.parquet")]);
    assert!(dir.path().join("raw/ticks/date=2024-01-02/hour=13/part-0.parquet").exists());
}

#[test]
fn writer_refuses_unsorted_or_mixed_runs_and_reader_names_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let table = names(2);
    let mut w = TickFileWriter::create(Lake::local(dir.path()).object_at("x.parquet")).unwrap();
    let a = tick(0, t0(), 1.0);
    let b = tick(0, t0().add_nanos(NANOS_PER_SECOND), 1.0);
    assert!(w.write_run(table.meta(SymbolId::new(0)), &[b, a]).is_err());
    assert!(w.write_run(table.meta(SymbolId::new(0)), &[a, tick(1, b.ts_event, 1.0)]).is_err());

    let lake = Lake::local(dir.path().join("lake"));
    let bad = lake.object(LakeTable::RawTicks, HourPartition::containing(t0()), "part-0.parquet");
    lake.store().put(bad.key(), b"not parquet").unwrap();
    let err = LakeSource::open(&lake, Timestamp::MIN, Timestamp::MAX).unwrap_err().to_string();
    assert!(err.contains("part-0.parquet"), "{err}");
}

#[test]
fn dead_letters_keep_the_reason_and_the_record_decoded_or_raw() {
    use tickloop_core::{Outputs, RejectReason, Rejection, Sink};
    use tickloop_lake::DeadLetterFile;

    let dir = tempfile::tempdir().unwrap();
    let table = names(1);
    let path = dir.path().join("dlq/rejects.jsonl");
    let mut dlq = DeadLetterFile::new(&path, table.clone());
    let bad = tick(0, t0(), -3.0);
    let mut out = Outputs::default();
    dlq.on_outputs(&bad, &out).unwrap();
    assert!(!path.exists(), "no file until something is rejected");
    out.rejects.push(Rejection {
        reason: RejectReason::NonPositivePrice,
        detail: "open = -3".into(),
        tick: Some(bad),
        raw: None,
    });
    out.rejects.push(Rejection {
        reason: RejectReason::MissingField,
        detail: "close is missing".into(),
        tick: None,
        raw: Some("{\"symbol\":\"X\"}".into()),
    });
    dlq.on_outputs(&bad, &out).unwrap();
    dlq.finish().unwrap();
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["reason"], "non_positive_price");
    assert_eq!(lines[0]["symbol"], "S000");
    assert_eq!(lines[0]["ohlcv"][0], -3.0);
    assert_eq!(lines[1]["reason"], "missing_field");
    assert_eq!(lines[1]["raw"], "{\"symbol\":\"X\"}");
    assert_eq!(dlq.written(), 2);
}

/// The Python with DuckDB that `cargo xtask test` (and so CI) sets up; `None` elsewhere.
fn outside_python() -> Option<std::path::PathBuf> {
    let python = std::env::var_os("TICKLOOP_PYTHON").map(std::path::PathBuf::from).or_else(|| {
        let venv = tickloop_testkit::manifest_dir().join("../../.venv/bin/python");
        venv.exists().then_some(venv)
    })?;
    let has_duckdb =
        std::process::Command::new(&python).args(["-c", "import duckdb"]).status().is_ok_and(|s| s.success());
    if !has_duckdb {
        assert!(std::env::var_os("CI").is_none(), "CI must provide DuckDB (cargo xtask test installs it)");
        return None;
    }
    Some(python)
}

/// DuckDB, reading the lake as it is (hive partitions, no help from us), sees the same rows
/// per partition and the same per-symbol VWAP for an hour as our own reader.
#[test]
fn duckdb_reads_the_lake_and_agrees_with_our_reader() {
    let Some(python) = outside_python() else {
        tickloop_testkit::skip("no Python with duckdb (run through `cargo xtask test`)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path());
    let table = names(20);
    let ticks: Vec<Tick> = (0..2 * 3600)
        .step_by(7)
        .flat_map(|s| {
            (0..20u32).map(move |sym| {
                let px = 50.0 + f64::from(sym) + ((s as f64) / 300.0 + f64::from(sym)).sin();
                let mut t = tick(sym, t0().add_nanos(s * NANOS_PER_SECOND), px);
                t.volume = Volume(f64::from((s as u32 * 31 + sym * 17) % 1000));
                t
            })
        })
        .collect();
    write_lake(&lake, &table, &ticks, |t| t.symbol.index() % 2);

    let script = format!(
        r#"
import duckdb, json
src = "read_parquet('{root}/raw/ticks/**/*.parquet', hive_partitioning=true)"
con = duckdb.connect()
parts = con.execute(f"SELECT CAST(date AS VARCHAR), hour, count(*) FROM {{src}} GROUP BY 1, 2 ORDER BY 1, 2").fetchall()
vwap = con.execute(f"SELECT symbol, sum(close * volume) / sum(volume) FROM {{src}} WHERE date = DATE '2024-01-02' AND hour = 14 GROUP BY symbol ORDER BY symbol").fetchall()
print(json.dumps({{"parts": parts, "vwap": vwap}}))
"#,
        root = dir.path().display()
    );
    let out = std::process::Command::new(&python).args(["-c", &script]).output().unwrap();
    assert!(out.status.success(), "duckdb failed: {}", String::from_utf8_lossy(&out.stderr));
    let theirs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    let (symbols, ours) = replay(&lake, Timestamp::MIN, Timestamp::MAX);
    let mut parts: BTreeMap<(String, i64), u64> = BTreeMap::new();
    let mut sums: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for t in &ours {
        let (y, m, d, h) = t.ts_event.date_hour();
        *parts.entry((format!("{y:04}-{m:02}-{d:02}"), i64::from(h))).or_default() += 1;
        if (y, m, d, h) == (2024, 1, 2, 14) {
            let e = sums.entry(symbols.name(t.symbol).to_owned()).or_default();
            e.0 += t.close.0 * t.volume.0;
            e.1 += t.volume.0;
        }
    }
    let their_parts: Vec<(String, i64, u64)> = serde_json::from_value(theirs["parts"].clone()).unwrap();
    let our_parts: Vec<(String, i64, u64)> = parts.into_iter().map(|((d, h), n)| (d, h, n)).collect();
    assert_eq!(their_parts, our_parts);
    let their_vwap: Vec<(String, f64)> = serde_json::from_value(theirs["vwap"].clone()).unwrap();
    assert_eq!(their_vwap.len(), 20);
    for (symbol, v) in their_vwap {
        let (pv, vol) = sums[&symbol];
        assert!((v - pv / vol).abs() < 1e-9 * v.abs(), "{symbol}: duckdb {v} vs ours {}", pv / vol);
    }
}

#[test]
fn landing_ndjson_keeps_good_lines_refuses_bad_ones_by_line_and_is_incremental() {
    use tickloop_lake::land_ndjson;

    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path().join("lake"));
    let inbox = dir.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let line = |sym: &str, sec: i64, close: &str| {
        format!(
            r#"{{"symbol":"{sym}","ts":"{}","open":10,"high":11,"low":9,"close":{close},"volume":5,"exchange":"XNAS","currency":"USD"}}"#,
            t0().add_nanos(sec * NANOS_PER_SECOND)
        )
    };
    let mut lines: Vec<String> = Vec::new();
    for s in 0..100 {
        lines.push(line("AAA", 3590 + s, "10.5"));
        lines.push(line("BBB", 3590 + s, "10.25"));
    }
    lines[6] = "{\"symbol\":\"AAA\", truncated".to_owned(); // line 7
    lines[21] = line("BBB", 3600, "null"); // line 22: missing close
    lines.push(line("AAA", 3595, "10.5")); // line 201: a duplicate
    let file = inbox.join("batch-1.ndjson");
    std::fs::write(&file, lines.join("\n")).unwrap();

    let first = land_ndjson(&lake, std::slice::from_ref(&inbox)).unwrap();
    assert_eq!(first.landed, ["batch-1"]);
    assert_eq!(first.rows_written, 198);
    assert_eq!(first.partitions_written, 2, "the ticks straddle 14:00");
    let rejects = std::fs::read_to_string(dir.path().join("lake/rejects/batch-1.jsonl")).unwrap();
    let rejects: Vec<serde_json::Value> = rejects.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let got: Vec<(u64, &str)> =
        rejects.iter().map(|r| (r["line"].as_u64().unwrap(), r["reason"].as_str().unwrap())).collect();
    assert_eq!(got, [(7, "malformed"), (22, "missing_field"), (201, "duplicate")]);

    let again = land_ndjson(&lake, std::slice::from_ref(&inbox)).unwrap();
    assert_eq!((again.landed.len(), again.skipped_unchanged.len()), (0, 1), "unchanged input is skipped");

    // A shorter version covering only the 13:00 hour: its 14:00 file must go.
    std::fs::write(&file, lines[..16].join("\n")).unwrap();
    let changed = land_ndjson(&lake, &[inbox]).unwrap();
    assert_eq!(changed.landed, ["batch-1"]);
    assert_eq!(changed.partitions_written, 1);
    let (_, ticks) = replay(&lake, Timestamp::MIN, Timestamp::MAX);
    assert_eq!(ticks.len(), 15, "re-landing replaced the input's rows: 16 lines, one malformed");
    assert!(!dir.path().join("lake/raw/ticks/date=2024-01-02/hour=14/part-batch-1.parquet").exists());
}

#[test]
fn an_interrupted_write_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let table = names(1);
    let path = dir.path().join("date=2024-01-02/hour=13/part-0.parquet");
    let mut w =
        TickFileWriter::create(Lake::local(dir.path()).object_at("date=2024-01-02/hour=13/part-0.parquet")).unwrap();
    let ticks: Vec<Tick> = (0..1000).map(|s| tick(0, t0().add_nanos(s * NANOS_PER_SECOND), 5.0)).collect();
    w.write_run(table.meta(SymbolId::new(0)), &ticks).unwrap();
    drop(w); // the job dies before finish()
    let left: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
    assert!(left.is_empty(), "found {left:?}");
}

/// Job 2's parquet, read back by DuckDB, holds what the streaming pipeline computes for the
/// same ticks (nulls exactly where it is still warming up), and a second run does nothing.
#[test]
fn feature_job_output_read_by_duckdb_equals_the_streaming_features() {
    use tickloop_features::{FeatureSet, FeatureSetDef, Ohlcv};
    use tickloop_lake::build_features;

    let Some(python) = outside_python() else {
        tickloop_testkit::skip("no Python with duckdb (run through `cargo xtask test`)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path());
    let table = names(3);
    // Two hours with gaps (every 3rd second missing) and a flat stretch.
    let ticks: Vec<Tick> = (0..7200)
        .filter(|s| s % 3 != 2)
        .flat_map(|s| {
            (0..3u32).map(move |sym| {
                let px = if (1000..1300).contains(&s) {
                    70.0
                } else {
                    60.0 + f64::from(sym) + ((s as f64) / 97.0).sin() * 2.0
                };
                let mut t = tick(sym, t0().add_nanos(s * NANOS_PER_SECOND), px);
                t.volume = Volume(f64::from((s as u32 * 13 + sym * 7) % 500));
                t
            })
        })
        .collect();
    write_lake(&lake, &table, &ticks, |t| t.symbol.index() % 2);
    let set = FeatureSetDef::builtin("default").unwrap();
    let first = build_features(&lake, &set, Timestamp::MIN, Timestamp::MAX).unwrap();
    assert_eq!((first.days_built.len(), first.rows, first.files), (1, ticks.len() as u64, 2));
    let again = build_features(&lake, &set, Timestamp::MIN, Timestamp::MAX).unwrap();
    assert_eq!((again.days_built.len(), again.days_unchanged.len()), (0, 1));

    let columns =
        ["sma_20", "rsi_14", "macd_hist_12_26_9", "bb_lower_20_2", "atr_14", "vwap", "volume_z_300", "max_300"];
    let script = format!(
        r#"
import duckdb, json
rows = duckdb.connect().execute("SELECT symbol, epoch_ns(ts_event), {cols} FROM read_parquet('{root}/processed/features/**/*.parquet', hive_partitioning=true) ORDER BY symbol, ts_event").fetchall()
print(json.dumps(rows))
"#,
        cols = columns.join(", "),
        root = dir.path().display()
    );
    let out = std::process::Command::new(&python).args(["-c", &script]).output().unwrap();
    assert!(out.status.success(), "duckdb failed: {}", String::from_utf8_lossy(&out.stderr));
    let theirs: Vec<Vec<serde_json::Value>> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(theirs.len(), ticks.len());

    let specs: Vec<_> = columns.iter().map(|c| c.parse().unwrap()).collect();
    let mut streaming: BTreeMap<String, FeatureSet> = BTreeMap::new();
    let mut ours: Vec<(String, i64, Vec<f64>)> = Vec::new();
    let mut sorted = ticks.clone();
    sorted.sort_by_key(|t| (table.name(t.symbol).to_owned(), t.ts_event));
    for t in &sorted {
        let name = table.name(t.symbol).to_owned();
        let set = streaming.entry(name.clone()).or_insert_with(|| FeatureSet::new(&specs));
        let mut values = Vec::new();
        set.update(&Ohlcv::from(t), &mut values);
        ours.push((name, t.ts_event.as_nanos(), values));
    }
    let mut compared = 0;
    for (row, (symbol, ts, values)) in theirs.iter().zip(&ours) {
        assert_eq!(row[0].as_str().unwrap(), symbol);
        assert_eq!(row[1].as_i64().unwrap(), *ts);
        for (k, want) in values.iter().enumerate() {
            let got = &row[2 + k];
            if want.is_nan() {
                assert!(got.is_null(), "{symbol} {ts} {}: expected null, got {got}", columns[k]);
            } else {
                let got = got.as_f64().unwrap_or_else(|| panic!("{symbol} {ts} {}: null, expected {want}", columns[k]));
                assert!(
                    (got - want).abs() <= 1e-9 * want.abs().max(1.0),
                    "{symbol} {}: {got} vs streaming {want}",
                    columns[k]
                );
                compared += 1;
            }
        }
    }
    assert!(compared > 90_000, "compared {compared}");
}

/// Features stored as floats (`FeaturePrecision::F32`) read back through DuckDB as each
/// double rounded to the nearest float (nulls where the doubles are), in about half the
/// bytes; switching the precision rebuilds the day.
#[test]
fn features_stored_as_floats_are_the_doubles_rounded_in_about_half_the_bytes() {
    use tickloop_features::FeatureSetDef;
    use tickloop_lake::{FeaturePrecision, build_features, build_features_with};

    let Some(python) = outside_python() else {
        tickloop_testkit::skip("no Python with duckdb (run through `cargo xtask test`)");
        return;
    };
    let table = names(4);
    let ticks: Vec<Tick> = (0..3600)
        .flat_map(|s| {
            (0..4u32).map(move |sym| {
                let px = 50.0 + f64::from(sym) * 7.3 + ((s as f64) / 61.0).sin() * 3.0 + (s % 7) as f64 * 0.01;
                let mut t = tick(sym, t0().add_nanos(s * NANOS_PER_SECOND), px);
                t.volume = Volume(f64::from((s as u32 * 17 + sym * 5) % 900));
                t
            })
        })
        .collect();
    let set = FeatureSetDef::builtin("default").unwrap();
    let (doubles_dir, floats_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (doubles, floats) = (Lake::local(doubles_dir.path()), Lake::local(floats_dir.path()));
    write_lake(&doubles, &table, &ticks, |_| 0);
    write_lake(&floats, &table, &ticks, |_| 0);
    build_features(&doubles, &set, Timestamp::MIN, Timestamp::MAX).unwrap();
    let all = |_| true;
    let built = build_features_with(&floats, &set, FeaturePrecision::F32, Timestamp::MIN, Timestamp::MAX, all).unwrap();
    assert_eq!(built.days_built.len(), 1);
    let again = build_features_with(&floats, &set, FeaturePrecision::F32, Timestamp::MIN, Timestamp::MAX, all).unwrap();
    assert_eq!((again.days_built.len(), again.days_unchanged.len()), (0, 1), "same precision: nothing to do");

    let columns: Vec<String> = set.columns().iter().map(|c| c.replace('.', "_")).collect();
    let script = format!(
        r#"
import duckdb, json, sys
out = {{}}
for name, root in (("doubles", sys.argv[1]), ("floats", sys.argv[2])):
    con = duckdb.connect()
    glob = f"{{root}}/processed/features/**/*.parquet"
    types = [r[1] for r in con.execute(f"DESCRIBE SELECT {cols} FROM read_parquet('{{glob}}')").fetchall()]
    rows = con.execute(f"SELECT {cols} FROM read_parquet('{{glob}}') ORDER BY symbol, ts_event").fetchall()
    out[name] = {{"types": sorted(set(types)), "rows": rows}}
print(json.dumps(out))
"#,
        cols = columns.join(", ")
    );
    let out = std::process::Command::new(&python)
        .args(["-c", &script])
        .arg(doubles_dir.path())
        .arg(floats_dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "duckdb failed: {}", String::from_utf8_lossy(&out.stderr));
    let read: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(read["doubles"]["types"], serde_json::json!(["DOUBLE"]));
    assert_eq!(read["floats"]["types"], serde_json::json!(["FLOAT"]));
    let (exact, rounded) = (read["doubles"]["rows"].as_array().unwrap(), read["floats"]["rows"].as_array().unwrap());
    assert_eq!(exact.len(), ticks.len());
    assert_eq!(rounded.len(), ticks.len());
    let mut compared = 0;
    for (a, b) in exact.iter().zip(rounded) {
        for (k, (x, y)) in a.as_array().unwrap().iter().zip(b.as_array().unwrap()).enumerate() {
            match (x.as_f64(), y.as_f64()) {
                (None, None) => {}
                (Some(x), Some(y)) => {
                    assert_eq!(y, f64::from(x as f32), "{}: {x} stored as {y}", columns[k]);
                    compared += 1;
                }
                _ => panic!("{}: null in one precision only ({x} vs {y})", columns[k]),
            }
        }
    }
    assert!(compared > 250_000, "compared {compared}");
    let bytes = |root: &std::path::Path| -> u64 {
        walk(&root.join("processed/features")).iter().map(|f| f.metadata().unwrap().len()).sum()
    };
    let (f64_bytes, f32_bytes) = (bytes(doubles_dir.path()), bytes(floats_dir.path()));
    assert!(f32_bytes * 10 < f64_bytes * 7, "floats take {f32_bytes} bytes against {f64_bytes}");
    // Back to doubles: the day is built again, as doubles.
    let back = build_features(&floats, &set, Timestamp::MIN, Timestamp::MAX).unwrap();
    assert_eq!(back.days_built.len(), 1, "another precision is another build");
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

mod hostile {
    use super::*;
    use tickloop_lake::csv::{Zone, read_ohlcv_csv};
    use tickloop_lake::land_ndjson;

    fn hostile_line() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>().prop_filter("no newline", |b| *b != b'\n'), 1..300),
            (1usize..400).prop_map(|d| format!("{}{}", "[".repeat(d), "]".repeat(d)).into_bytes()),
            Just(format!("{{\"symbol\":\"{}\"}}", "S".repeat(1 << 20)).into_bytes()),
            Just(
                br#"{"symbol":"AAA","ts":"2024-01-02T13:00:00Z","open":1e400,"high":1,"low":1,"close":1,"volume":1}"#
                    .to_vec()
            ),
            Just(
                br#"{"symbol":"AAA","ts":"2024-01-02T13:00:00Z","open":-1,"high":1,"low":1,"close":1,"volume":1}"#
                    .to_vec()
            ),
            Just(vec![0xff, 0xfe, b'{', 0xc3]),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]

        /// Hostile lines between good ones: every good line lands, every hostile one is
        /// refused with its line number, nothing panics.
        #[test]
        fn hostile_lines_are_refused_and_the_good_ones_land(bad in proptest::collection::vec(hostile_line(), 1..20)) {
            let dir = tempfile::tempdir().unwrap();
            let lake = Lake::local(dir.path().join("lake"));
            let mut text: Vec<u8> = Vec::new();
            let mut good = 0;
            for (i, b) in bad.iter().enumerate() {
                let ts = t0().add_nanos((i as i64 + 100) * NANOS_PER_SECOND);
                text.extend(format!(r#"{{"symbol":"GOOD","ts":"{ts}","open":10,"high":11,"low":9,"close":10,"volume":5}}"#).bytes());
                text.push(b'\n');
                good += 1;
                text.extend(b);
                text.push(b'\n');
            }
            let input = dir.path().join("in.ndjson");
            std::fs::write(&input, &text).unwrap();
            let summary = land_ndjson(&lake, &[input]).unwrap();
            prop_assert_eq!(summary.rows_written, good);
            // Blank (whitespace-only) lines are skipped, not refused.
            let refusable = bad.iter().filter(|b| !b.trim_ascii().is_empty()).count();
            prop_assert_eq!(summary.rows_rejected, refusable as u64);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any file content gives bars or an error naming the problem; never a panic.
        #[test]
        fn any_csv_content_parses_or_is_refused(lines in proptest::collection::vec("\\PC{0,60}", 0..8), headed in any::<bool>()) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("x.csv");
            let mut text = if headed { "Date,Open,High,Low,Close,Volume\n".to_owned() } else { String::new() };
            text.push_str(&lines.join("\n"));
            std::fs::write(&path, text).unwrap();
            if let Err(e) = read_ohlcv_csv(&path, None, &Zone::utc()) {
                prop_assert!(e.to_string().contains("x.csv"));
            }
        }
    }
}

/// The feature job as two array-job tasks: each builds only its days, together exactly the
/// files one run builds, and a lake whose days were built by the one-file manifest of
/// earlier versions is not rebuilt.
#[test]
fn feature_job_shards_by_day_build_what_one_run_builds() {
    use tickloop_features::FeatureSetDef;
    use tickloop_lake::{build_features, build_features_where};

    let table = names(2);
    let day = 24 * NANOS_PER_HOUR;
    // Three days, an hour each.
    let ticks: Vec<Tick> = (0..3)
        .flat_map(|d| (0..3600).map(move |s| (d, s)))
        .flat_map(|(d, s)| {
            (0..2u32).map(move |sym| {
                let ts = t0().add_nanos(d * day + s * NANOS_PER_SECOND);
                tick(sym, ts, 50.0 + f64::from(sym) + ((s as f64) / 61.0).sin())
            })
        })
        .collect();
    let set = FeatureSetDef::builtin("minimal").unwrap();
    let files = |root: &std::path::Path| -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        let mut stack = vec![root.join("processed")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    out.insert(path.strip_prefix(root).unwrap().display().to_string(), std::fs::read(&path).unwrap());
                }
            }
        }
        out
    };

    let whole = tempfile::tempdir().unwrap();
    let lake = Lake::local(whole.path());
    write_lake(&lake, &table, &ticks, |_| 0);
    assert_eq!(build_features(&lake, &set, Timestamp::MIN, Timestamp::MAX).unwrap().days_built.len(), 3);

    let sharded = tempfile::tempdir().unwrap();
    let lake = Lake::local(sharded.path());
    write_lake(&lake, &table, &ticks, |_| 0);
    let mut built = Vec::new();
    for index in 0..2u64 {
        let part = build_features_where(&lake, &set, Timestamp::MIN, Timestamp::MAX, |d| d % 2 == index).unwrap();
        assert!(part.days_unchanged.is_empty(), "shards share no day");
        built.extend(part.days_built);
    }
    built.sort();
    assert_eq!(built, ["2024-01-02", "2024-01-03", "2024-01-04"]);
    assert_eq!(files(sharded.path()), files(whole.path()), "the same feature files, byte for byte");

    // A lake built by an earlier version: its one manifest still says which days are done.
    let fingerprints: BTreeMap<String, String> = ["2024-01-02", "2024-01-03", "2024-01-04"]
        .iter()
        .map(|d| {
            let day: serde_json::Value = lake.read_json(&format!("_etl/features/date={d}.json")).unwrap().unwrap();
            (d.to_string(), day["fingerprint"].as_str().unwrap().to_owned())
        })
        .collect();
    std::fs::remove_dir_all(sharded.path().join("_etl/features")).unwrap();
    lake.write_json("_etl/features.json", &serde_json::json!({ "days": fingerprints })).unwrap();
    let again = build_features(&lake, &set, Timestamp::MIN, Timestamp::MAX).unwrap();
    assert_eq!((again.days_built.len(), again.days_unchanged.len()), (0, 3));
}
