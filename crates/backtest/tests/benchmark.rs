//! The report's benchmark and period returns, run through a whole backtest: what the
//! benchmark holds and when it buys; how a run over days is cut into them.

use tickloop_backtest::{Backtest, BacktestError, ExperimentConfig};
use tickloop_core::{Outputs, Price, Strategy, SymbolId, SymbolTable, Tick, Timestamp, VecSource, Volume};

const START: i64 = 1_704_205_800; // 2024-01-02T14:30:00Z

/// Holds nothing: every gain of the benchmark is excess it missed.
struct Idle;

impl Strategy for Idle {
    fn on_tick(&mut self, _tick: &Tick, _out: &Outputs) -> Option<f64> {
        None
    }
}

/// Symbol A stays at 10; B goes from 20 to 40 in equal steps over 20 minutes; C starts
/// trading 10 minutes in, at 5, and stays there.
fn ticks() -> Vec<Tick> {
    ticks_from(START)
}

fn ticks_from(start: i64) -> Vec<Tick> {
    let tick = |symbol: u32, k: i64, close: f64| Tick {
        symbol: SymbolId::new(symbol),
        ts_event: Timestamp::from_secs(start + k),
        ts_recv: Timestamp::from_secs(start + k),
        open: Price(close),
        high: Price(close),
        low: Price(close),
        close: Price(close),
        volume: Volume(1_000.0),
    };
    let mut out = Vec::new();
    for k in 0..=1_200 {
        out.push(tick(0, k, 10.0));
        out.push(tick(1, k, 20.0 + 20.0 * k as f64 / 1_200.0));
        if k >= 600 {
            out.push(tick(2, k, 5.0));
        }
    }
    out
}

fn run(benchmark: Option<&str>) -> Result<tickloop_backtest::Report, BacktestError> {
    run_over(benchmark, ticks(), "2024-01-02T15:00:00Z")
}

fn run_over(benchmark: Option<&str>, ticks: Vec<Tick>, end: &str) -> Result<tickloop_backtest::Report, BacktestError> {
    let named = benchmark.map_or(String::new(), |b| format!("benchmark = \"{b}\"\n"));
    let config = ExperimentConfig::parse(&format!(
        "name = \"bench\"\n[data]\nstart = \"2024-01-02T14:30:00Z\"\nend = \"{end}\"\n[pipeline]\nfeatures = [\"log_return\"]\n[execution]\ninitial_capital = 90000.0\n[report]\nsample_secs = 60\n{named}"
    ))
    .unwrap();
    let mut source = VecSource::new(SymbolTable::from_names(["A", "B", "C"]).unwrap(), ticks);
    Backtest::new(&config).strategy(Box::new(Idle)).run(&mut source, &mut [])
}

#[test]
fn equal_weights_of_every_symbol_each_bought_at_its_first_close() {
    let report = run(None).unwrap();
    let b = report.benchmark.expect("every report has one");
    assert_eq!(b.name, "equal-weight buy-and-hold of 3 symbols");
    // A third in each: A flat, B doubled, C (bought late) flat.
    assert!((b.total_return - 1.0 / 3.0).abs() < 1e-3, "{b:?}");
    assert_eq!(b.equity.len(), report.equity.len());
    assert!((b.excess_return + b.total_return).abs() < 1e-12, "an idle strategy misses all of it");
    assert_eq!((b.beta, b.correlation), (0.0, 0.0), "flat equity moves with nothing");
    assert!(b.information_ratio < 0.0 && b.tracking_error > 0.0, "{b:?}");
}

#[test]
fn a_named_symbol_is_held_alone_and_an_unknown_one_is_refused() {
    let b = run(Some("B")).unwrap().benchmark.unwrap();
    assert_eq!(b.name, "buy-and-hold of B");
    assert!((b.total_return - 1.0).abs() < 2e-3, "B doubled (the last sample is a minute short): {b:?}");
    let err = run(Some("SPY")).unwrap_err().to_string();
    assert!(err.contains("SPY") && err.contains("benchmark"), "{err}");
}

#[test]
fn a_run_over_two_days_lists_its_daily_returns_and_one_day_lists_none() {
    let mut two_days = ticks();
    two_days.extend(ticks_from(START + 86_400));
    let report = run_over(None, two_days, "2024-01-03T15:00:00Z").unwrap();
    let html = tickloop_backtest::render_report_html(&report, &[]);
    let daily = html.split("<h2 id=\"daily\">").nth(1).expect("a daily table").split("</table>").next().unwrap();
    assert!(daily.contains("<td>2024-01-02</td>") && daily.contains("<td>2024-01-03</td>"), "{daily}");
    assert_eq!(daily.matches("<tr>").count(), 3, "a header and a row per day: {daily}");
    assert!(!html.contains("id=\"monthly\""), "one month: no monthly table");
    let one_day = tickloop_backtest::render_report_html(&run(None).unwrap(), &[]);
    assert!(!one_day.contains("id=\"daily\""));
}
