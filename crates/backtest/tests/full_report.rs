//! A report carried between machines: [`FullReport`] through JSON gives back the same
//! report, fills, alert marks and broker counts, so a fold stitched elsewhere is the fold
//! that ran.

use tickloop_backtest::{Backtest, ExperimentConfig, FullReport, Report, stitch};
use tickloop_core::{Price, SymbolId, SymbolTable, Tick, Timestamp, VecSource, Volume};

const START: i64 = 1_704_205_800; // 2024-01-02T14:30:00Z

/// Two symbols swinging out of phase, with four-minute volume bursts and a 4 % drop: the
/// crossover trades, the alert rules fire.
fn ticks() -> Vec<Tick> {
    let mut out = Vec::new();
    for k in 0..3_600 {
        for symbol in 0..2u32 {
            let phase = k as f64 / 300.0 + f64::from(symbol);
            let crash = if (2_000..2_300).contains(&k) { 0.96 } else { 1.0 };
            let close = (100.0 + 3.0 * phase.sin() + 0.01 * (k % 7) as f64) * crash;
            let volume = if (450..690).contains(&(k % 900)) { 80_000.0 } else { 1_000.0 + (k % 13) as f64 };
            out.push(Tick {
                symbol: SymbolId::new(symbol),
                ts_event: Timestamp::from_secs(START + k),
                ts_recv: Timestamp::from_secs(START + k),
                open: Price(close),
                high: Price(close + 0.02),
                low: Price(close - 0.02),
                close: Price(close),
                volume: Volume(volume),
            });
        }
    }
    out
}

fn report() -> (ExperimentConfig, Report) {
    report_on(1)
}

/// The run with the pipeline's per-symbol work on `threads` threads.
fn report_on(threads: usize) -> (ExperimentConfig, Report) {
    let config = ExperimentConfig::parse(
        r#"name = "carried"
[data]
start = "2024-01-02T14:30:00Z"
end = "2024-01-02T15:30:00Z"
[pipeline]
features = ["log_return"]
[strategy]
kind = "ma_crossover"
fast = 20
slow = 120
allow_short = true
[execution]
initial_capital = 100000.0
fee_bps = 0.5
[report]
sample_secs = 60
"#,
    )
    .unwrap();
    let mut source = VecSource::new(SymbolTable::from_names(["A", "B"]).unwrap(), ticks());
    let report = Backtest::new(&config).threads(threads).run(&mut source, &mut []).unwrap();
    (config, report)
}

#[test]
fn the_report_is_the_same_bits_on_any_number_of_threads() {
    let (_, one) = report_on(1);
    let bits = |r: &Report| serde_json::to_vec(&FullReport::from(r.clone())).unwrap();
    for threads in [2, 3, 8] {
        let (_, many) = report_on(threads);
        assert_eq!(bits(&many), bits(&one), "{threads} threads");
    }
}

#[test]
fn a_full_report_round_trips_through_json_with_what_report_json_leaves_out() {
    let (config, report) = report();
    assert!(
        !report.trades.is_empty() && !report.alert_marks.is_empty(),
        "the run trades ({}) and alerts ({})",
        report.trades.len(),
        report.alert_marks.len()
    );
    let json = serde_json::to_vec(&FullReport::from(report.clone())).unwrap();
    let back: Report = serde_json::from_slice::<FullReport>(&json).unwrap().into();
    assert_eq!(back, report, "every field, the skipped ones included");
    // What report.json holds alone does not carry the fills: stitching it would lose them.
    let plain: Report = serde_json::from_slice(&serde_json::to_vec(&report).unwrap()).unwrap();
    assert!(plain.trades.is_empty());
    let stitched = |r: &Report| serde_json::to_vec(&stitch(&config, std::slice::from_ref(r), Vec::new(), "c".into()));
    assert_eq!(stitched(&back).unwrap(), stitched(&report).unwrap());
}
