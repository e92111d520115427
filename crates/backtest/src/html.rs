//! `report.html`: the backtest report as one self-contained page (inline SVG, one small
//! inline script that sorts the symbol table, no network), so it opens from disk anywhere.
//! Deterministic like `report.json`.

use std::fmt::Write as _;

use tickloop_core::{AlertKind, NANOS_PER_SECOND, SymbolId, Timestamp};

use tickloop_lake::csv::Zone;

use crate::{Report, SymbolResult};

/// An alert as the report plots it.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AlertMark {
    pub symbol: SymbolId,
    pub ts: Timestamp,
    pub kind: AlertKind,
}

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 260.0;
const MARGIN_LEFT: f64 = 80.0;
const MARGIN_RIGHT: f64 = 20.0;
const MARGIN_Y: f64 = 24.0;

/// `text` safe inside HTML text and attribute values.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Round axis values covering `[lo, hi]`: a step of 1, 2 or 5 × 10ⁿ giving at most
/// `max_ticks` intervals, the first tick at or below `lo` and the last at or above `hi`
/// (so the axis spans whole steps). Returns the ticks and the step.
pub fn nice_ticks(lo: f64, hi: f64, max_ticks: usize) -> (Vec<f64>, f64) {
    let (lo, hi) = if hi > lo { (lo, hi) } else { (lo - 1.0, hi + 1.0) };
    let rough = (hi - lo) / max_ticks.max(1) as f64;
    let magnitude = 10f64.powf(rough.log10().floor());
    let step =
        [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * magnitude).find(|&s| s >= rough).unwrap_or(10.0 * magnitude);
    let first = (lo / step).floor() as i64;
    let last = (hi / step).ceil() as i64;
    ((first..=last).map(|k| k as f64 * step).collect(), step)
}

/// `v` with as many decimals as `step` needs, thousands grouped (`1,004,000`, `-0.25`).
pub fn axis_label(v: f64, step: f64) -> String {
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    let text = format!("{:.*}", decimals, if v == 0.0 { 0.0 } else { v });
    let (sign, digits) = text.strip_prefix('-').map_or(("", text.as_str()), |d| ("-", d));
    let (whole, fraction) = digits.split_once('.').map_or((digits, None), |(w, f)| (w, Some(f)));
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match fraction {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// An SVG path's `d` through `points` (already in pixels): `M x,y L x,y …`.
pub fn svg_path(points: impl IntoIterator<Item = (f64, f64)>) -> String {
    let mut path = String::new();
    for (i, (x, y)) in points.into_iter().enumerate() {
        let _ = write!(path, "{}{x:.1},{y:.1}", if i == 0 { "M" } else { " L" });
    }
    path
}

/// A time axis shared by every chart of the report, labelled on the market's clock.
#[derive(Clone)]
struct TimeAxis {
    from: i64,
    to: i64,
    zone: Zone,
}

impl TimeAxis {
    fn x(&self, ts: Timestamp) -> f64 {
        let span = (self.to - self.from).max(1) as f64;
        MARGIN_LEFT + (ts.as_nanos() - self.from) as f64 / span * (WIDTH - MARGIN_LEFT - MARGIN_RIGHT)
    }

    /// Seconds between ticks: the roundest step that gives at most eight.
    fn step_secs(&self) -> i64 {
        let span_secs = ((self.to - self.from) / NANOS_PER_SECOND).max(1);
        [60, 300, 900, 1800, 3600, 7200, 21_600, 86_400].into_iter().find(|s| span_secs / s <= 8).unwrap_or(86_400 * 7)
    }

    /// Ticks at round minutes, hours or midnights of the market's wall clock (a zone
    /// half an hour off UTC still gets its hours on :00): about six of them.
    fn ticks(&self) -> Vec<Timestamp> {
        let step = self.step_secs() * NANOS_PER_SECOND;
        let offset = self.zone.offset_nanos(Timestamp::from_nanos(self.from));
        let first = Timestamp::from_nanos(self.from + offset).floor_to(step).as_nanos() + step - offset;
        (0..).map(|i| first + i * step).take_while(|&t| t <= self.to).map(Timestamp::from_nanos).collect()
    }

    fn label(&self, t: Timestamp) -> String {
        self.zone.format(t, if self.step_secs() >= 86_400 { "%b %d" } else { "%H:%M" })
    }
}

/// The zone a report shows its times in (UTC for reports written before it had one).
fn report_zone(report: &Report) -> Zone {
    Zone::parse(&report.time_zone).unwrap_or_else(|_| Zone::utc())
}

/// One chart of the report: an `<svg>` element (inline in report.html, rasterised to
/// `<file>` beside it) and its title.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// The PNG's file name (`equity.png`).
    pub file: &'static str,
    pub title: String,
    pub svg: String,
    pub width: f64,
    pub height: f64,
}

impl Chart {
    fn figure(&self) -> String {
        format!("<figure><figcaption>{}</figcaption>{}</figure>\n", escape(&self.title), self.svg)
    }
}

fn open_svg(label: &str, height: f64) -> String {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-label="{}" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}">"#,
        escape(label)
    )
}

/// One line chart. `y_label` formats an axis value given the axis step.
fn line_chart(
    file: &'static str,
    title: &str,
    axis: &TimeAxis,
    points: &[(Timestamp, f64)],
    fill: bool,
    y_label: impl Fn(f64, f64) -> String,
    reference: Option<(&str, &[(Timestamp, f64)])>,
) -> Chart {
    let (lo, hi) = points
        .iter()
        .chain(reference.map_or(&[][..], |(_, r)| r))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &(_, v)| (lo.min(v), hi.max(v)));
    let (lo, hi) = if lo.is_finite() && hi > lo { (lo, hi) } else { (lo.min(0.0) - 1.0, hi.max(0.0) + 1.0) };
    let (ticks, step) = nice_ticks(lo, hi, 5);
    let (lo, hi) = (ticks[0], ticks[ticks.len() - 1]);
    let y = |v: f64| MARGIN_Y + (hi - v) / (hi - lo) * (HEIGHT - 2.0 * MARGIN_Y);
    let mut svg = open_svg(title, HEIGHT);
    for &v in &ticks {
        let yy = y(v);
        let _ = write!(
            svg,
            r##"<line x1="{MARGIN_LEFT}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#e3e6ea"/><text x="{}" y="{:.1}" text-anchor="end" class="tick">{}</text>"##,
            WIDTH - MARGIN_RIGHT,
            MARGIN_LEFT - 6.0,
            yy + 4.0,
            escape(&y_label(v, step))
        );
    }
    for t in axis.ticks() {
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{}" text-anchor="middle" class="tick">{}</text>"#,
            axis.x(t),
            HEIGHT - 4.0,
            escape(&axis.label(t))
        );
    }
    if let Some((name, series)) = reference.filter(|(_, r)| !r.is_empty()) {
        let path = svg_path(series.iter().map(|&(t, v)| (axis.x(t), y(v))));
        // A legend in the chart's top-left corner: the strategy's line, then the reference's.
        let x0 = MARGIN_LEFT + 8.0;
        let _ = write!(
            svg,
            r##"<path class="reference" d="{path}" fill="none" stroke="#8a94a3" stroke-width="1.2" stroke-dasharray="5 3"/><line x1="{x0:.1}" x2="{:.1}" y1="12" y2="12" stroke="#1f6feb" stroke-width="1.5"/><text x="{:.1}" y="16" class="tick">strategy</text><line x1="{:.1}" x2="{:.1}" y1="12" y2="12" stroke="#8a94a3" stroke-width="1.2" stroke-dasharray="5 3"/><text x="{:.1}" y="16" class="tick">{}</text>"##,
            x0 + 12.0,
            x0 + 16.0,
            x0 + 72.0,
            x0 + 84.0,
            x0 + 88.0,
            escape(name),
        );
    }
    if !points.is_empty() {
        let mut path = svg_path(points.iter().map(|&(t, v)| (axis.x(t), y(v))));
        if fill {
            let base = y(hi.min(0.0).max(lo));
            let _ = write!(
                path,
                " L{:.1},{base:.1} L{:.1},{base:.1} Z",
                axis.x(points[points.len() - 1].0),
                axis.x(points[0].0)
            );
            let _ =
                write!(svg, r##"<path class="series" d="{path}" fill="#f3c2c2" stroke="#c0392b" stroke-width="1"/>"##);
        } else {
            let _ =
                write!(svg, r##"<path class="series" d="{path}" fill="none" stroke="#1f6feb" stroke-width="1.5"/>"##);
        }
    }
    svg.push_str("</svg>");
    Chart { file, title: title.to_owned(), svg, width: WIDTH, height: HEIGHT }
}

/// Each symbol's return on its allocation as a horizontal bar, best first; with many
/// symbols, the best and worst `SHOWN / 2`.
fn symbol_returns(symbols: &[SymbolResult]) -> Chart {
    const SHOWN: usize = 30;
    const ROW: f64 = 16.0;
    let mut sorted: Vec<&SymbolResult> = symbols.iter().collect();
    sorted.sort_by(|a, b| b.return_on_allocation.total_cmp(&a.return_on_allocation).then(a.symbol.cmp(&b.symbol)));
    let skipped = sorted.len().saturating_sub(SHOWN);
    if skipped > 0 {
        sorted.drain(SHOWN / 2..sorted.len() - SHOWN / 2);
    }
    let height = 34.0 + ROW * sorted.len().max(1) as f64;
    let caption = if skipped > 0 {
        format!("Return by symbol (best and worst {} of {})", SHOWN / 2, symbols.len())
    } else {
        format!("Return by symbol ({})", symbols.len())
    };
    let mut svg = open_svg("return by symbol", height);
    let extent = sorted.iter().map(|s| s.return_on_allocation.abs()).fold(0.0, f64::max).max(1e-12);
    let zero = MARGIN_LEFT + (WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / 2.0;
    let scale = (WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / 2.0 / extent;
    for (i, s) in sorted.iter().enumerate() {
        let y = 10.0 + ROW * i as f64;
        let w = s.return_on_allocation * scale;
        let (x, color) = if w >= 0.0 { (zero, "#2e8b57") } else { (zero + w, "#c0392b") };
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" class="tick">{}</text><rect class="bar" x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{color}"><title>{}: {:+.3} %</title></rect>"#,
            MARGIN_LEFT - 6.0,
            y + ROW * 0.7,
            escape(&s.symbol),
            w.abs().max(0.5),
            ROW - 4.0,
            escape(&s.symbol),
            s.return_on_allocation * 100.0
        );
    }
    let _ = write!(
        svg,
        r##"<line x1="{zero:.1}" x2="{zero:.1}" y1="6" y2="{:.1}" stroke="#5b6573"/><text x="{:.1}" y="{:.1}" text-anchor="end" class="tick">{:+.2} %</text><text x="{:.1}" y="{:.1}" class="tick">{:+.2} %</text></svg>"##,
        height - 18.0,
        WIDTH - MARGIN_RIGHT,
        height - 4.0,
        extent * 100.0,
        MARGIN_LEFT,
        height - 4.0,
        -extent * 100.0
    );
    Chart { file: "symbols.png", title: caption, svg, width: WIDTH, height }
}

/// A walk-forward run's test windows side by side: each fold's return as a bar, with its
/// Sharpe and (with a model) direction under it, so one lucky fold cannot hide in the
/// chained total.
fn fold_returns(folds: &[crate::FoldResult]) -> Chart {
    let returns: Vec<f64> = folds.iter().map(|f| f.metrics.total_return * 100.0).collect();
    let extent = returns.iter().map(|r| r.abs()).fold(0.0, f64::max);
    let (ticks, step) = nice_ticks(-extent, extent, 6);
    let (lo, hi) = (ticks[0], ticks[ticks.len() - 1]);
    let bottom = HEIGHT - 2.0 * MARGIN_Y;
    let y = |v: f64| MARGIN_Y + (hi - v) / (hi - lo) * (bottom - MARGIN_Y);
    let mut svg = open_svg("return by fold", HEIGHT);
    for &v in &ticks {
        let _ = write!(
            svg,
            r##"<line x1="{MARGIN_LEFT}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#e3e6ea"/><text x="{}" y="{:.1}" text-anchor="end" class="tick">{} %</text>"##,
            WIDTH - MARGIN_RIGHT,
            MARGIN_LEFT - 6.0,
            y(v) + 4.0,
            escape(&axis_label(v, step)),
            yy = y(v)
        );
    }
    let slot = (WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / folds.len().max(1) as f64;
    for (k, (f, &r)) in folds.iter().zip(&returns).enumerate() {
        let (top, base) = (y(r.max(0.0)), y(r.min(0.0)));
        let x = MARGIN_LEFT + slot * (k as f64 + 0.25);
        let color = if r >= 0.0 { "#2e8b57" } else { "#c0392b" };
        let direction =
            f.model_accuracy.map_or(String::new(), |a| format!(", direction {:.1} %", a.directional_accuracy * 100.0));
        let _ = write!(
            svg,
            r#"<rect class="fold" x="{x:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="{color}"><title>fold {}: {r:+.4} %</title></rect><text x="{:.1}" y="{:.1}" text-anchor="middle" class="tick">fold {}: {r:+.3} %</text><text x="{:.1}" y="{:.1}" text-anchor="middle" class="tick">Sharpe {:.2}{direction}</text>"#,
            slot * 0.5,
            (base - top).max(0.5),
            f.fold,
            x + slot * 0.25,
            bottom + 16.0,
            f.fold,
            x + slot * 0.25,
            bottom + 30.0,
            f.metrics.sharpe,
        );
    }
    svg.push_str("</svg>");
    Chart {
        file: "folds.png",
        title: format!("Return by fold ({} out-of-sample test windows)", folds.len()),
        svg,
        width: WIDTH,
        height: HEIGHT,
    }
}

/// The sample returns' distribution: a histogram on round bins, with the mean and zero
/// marked, so skew and fat tails show at a glance.
fn return_distribution(equity: &[(Timestamp, f64)]) -> Chart {
    const BINS: usize = 40;
    let returns: Vec<f64> = equity.windows(2).map(|w| (w[1].1 / w[0].1 - 1.0) * 100.0).collect();
    let (lo, hi) = returns.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &r| (lo.min(r), hi.max(r)));
    let (lo, hi) = if lo.is_finite() && hi > lo { (lo, hi) } else { (-1.0, 1.0) };
    let (ticks, step) = nice_ticks(lo, hi, 8);
    let (lo, hi) = (ticks[0], ticks[ticks.len() - 1]);
    let width = (hi - lo) / BINS as f64;
    let mut counts = [0usize; BINS];
    for &r in &returns {
        counts[(((r - lo) / width) as usize).min(BINS - 1)] += 1;
    }
    let tallest = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let x = |v: f64| MARGIN_LEFT + (v - lo) / (hi - lo) * (WIDTH - MARGIN_LEFT - MARGIN_RIGHT);
    let y = |c: f64| HEIGHT - MARGIN_Y - c / tallest * (HEIGHT - 2.0 * MARGIN_Y);
    let mut svg = open_svg("return distribution", HEIGHT);
    for (k, &c) in counts.iter().enumerate() {
        let (x0, x1) = (x(lo + width * k as f64), x(lo + width * (k + 1) as f64));
        let _ = write!(
            svg,
            r##"<rect class="bin" x="{x0:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#1f6feb" fill-opacity="0.7"><title>{c} samples</title></rect>"##,
            y(c as f64),
            (x1 - x0 - 1.0).max(0.5),
            HEIGHT - MARGIN_Y - y(c as f64)
        );
    }
    for &v in &ticks {
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{}" text-anchor="middle" class="tick">{} %</text>"#,
            x(v),
            HEIGHT - 4.0,
            escape(&axis_label(v, step))
        );
    }
    let mean = returns.iter().sum::<f64>() / returns.len().max(1) as f64;
    for (v, label, color, dy) in [(0.0, "0", "#5b6573", 10.0), (mean, "mean", "#c0392b", 22.0)] {
        if (lo..=hi).contains(&v) {
            let xx = x(v);
            let _ = write!(
                svg,
                r##"<line x1="{xx:.1}" x2="{xx:.1}" y1="{MARGIN_Y}" y2="{:.1}" stroke="{color}" stroke-dasharray="3 3"/><text x="{:.1}" y="{:.1}" class="tick">{label}</text>"##,
                HEIGHT - MARGIN_Y,
                xx + 3.0,
                MARGIN_Y + dy,
            );
        }
    }
    let _ = write!(
        svg,
        r#"<text x="{:.1}" y="14" text-anchor="end" class="tick">{} samples; tallest bin {}</text>"#,
        WIDTH - MARGIN_RIGHT,
        returns.len(),
        tallest as usize
    );
    svg.push_str("</svg>");
    Chart { file: "returns.png", title: "Distribution of sample returns (%)".into(), svg, width: WIDTH, height: HEIGHT }
}

/// Alerts as marks on a time line, one row per kind.
fn alert_timeline(axis: &TimeAxis, alerts: &[AlertMark]) -> Chart {
    let kinds = [
        (AlertKind::VolumeSpike, "volume spike", "#d4a017"),
        (AlertKind::PriceDrop, "price drop", "#c0392b"),
        (AlertKind::ModelAnomaly, "model anomaly", "#8e44ad"),
    ];
    let height = 44.0 + 34.0 * kinds.len() as f64;
    let mut svg = open_svg("alert timeline", height);
    for (row, (kind, name, color)) in kinds.iter().enumerate() {
        let yy = 30.0 + 34.0 * row as f64;
        let count = alerts.iter().filter(|a| a.kind == *kind).count();
        let _ = write!(
            svg,
            // The label sits above its row, from the axis's left edge: a name of any length
            // stays inside the chart.
            r##"<text x="{MARGIN_LEFT}" y="{:.1}" class="tick">{name} ({count})</text><line x1="{MARGIN_LEFT}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#e3e6ea"/>"##,
            yy - 7.0,
            WIDTH - MARGIN_RIGHT
        );
        for a in alerts.iter().filter(|a| a.kind == *kind) {
            let _ =
                write!(svg, r#"<circle class="alert" cx="{:.1}" cy="{yy:.1}" r="3" fill="{color}"/>"#, axis.x(a.ts));
        }
    }
    for t in axis.ticks() {
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{}" text-anchor="middle" class="tick">{}</text>"#,
            axis.x(t),
            height - 4.0,
            escape(&axis.label(t))
        );
    }
    svg.push_str("</svg>");
    Chart { file: "alerts.png", title: format!("Alerts ({} in all)", alerts.len()), svg, width: WIDTH, height }
}

/// Predicted against realised log return over the model's horizon, one dot per matured
/// prediction (a thinned, deterministic sample when there are many), with the diagonal a
/// perfect model would sit on.
fn predictions_vs_realised(pairs: &[(f64, f64)]) -> Chart {
    const SIDE: f64 = 420.0;
    const PAD: f64 = 56.0;
    let extent = pairs.iter().flat_map(|&(p, r)| [p.abs(), r.abs()]).filter(|v| v.is_finite()).fold(0.0, f64::max);
    let extent = if extent > 0.0 { extent } else { 1e-3 };
    let scale = (SIDE - 2.0 * PAD) / (2.0 * extent);
    let x = |v: f64| PAD + (v + extent) * scale;
    let y = |v: f64| SIDE - PAD - (v + extent) * scale;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-label="predictions vs realised" viewBox="0 0 {SIDE} {SIDE}" width="{SIDE}" height="{SIDE}">"#
    );
    let _ = write!(
        svg,
        r##"<rect x="{PAD}" y="{PAD}" width="{w:.1}" height="{w:.1}" fill="none" stroke="#e3e6ea"/><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#9aa3ad" stroke-dasharray="4 3"/>"##,
        x(-extent),
        y(-extent),
        x(extent),
        y(extent),
        w = SIDE - 2.0 * PAD
    );
    for (v, anchor_x, anchor_y) in [(-extent, x(-extent), y(-extent)), (extent, x(extent), y(extent))] {
        let label = format!("{:+.2} %", v * 100.0);
        let _ = write!(
            svg,
            r#"<text x="{anchor_x:.1}" y="{:.1}" text-anchor="middle" class="tick">{label}</text><text x="{:.1}" y="{:.1}" text-anchor="end" class="tick">{label}</text>"#,
            SIDE - PAD + 16.0,
            PAD - 6.0,
            anchor_y + 4.0
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="tick">predicted</text><text x="14" y="{:.1}" class="tick" transform="rotate(-90 14 {:.1})" text-anchor="middle">realised</text>"#,
        SIDE / 2.0,
        SIDE - 8.0,
        SIDE / 2.0,
        SIDE / 2.0
    );
    for &(p, r) in pairs.iter().filter(|(p, r)| p.is_finite() && r.is_finite()) {
        let _ = write!(
            svg,
            r##"<circle class="pair" cx="{:.1}" cy="{:.1}" r="1.6" fill="#1f6feb" fill-opacity="0.45"/>"##,
            x(p),
            y(r)
        );
    }
    svg.push_str("</svg>");
    Chart {
        file: "predictions.png",
        title: format!("Predicted vs realised return ({} matured predictions shown)", pairs.len()),
        svg,
        width: SIDE,
        height: SIDE,
    }
}

/// The window of the rolling Sharpe and volatility charts: half an hour of the default
/// minute samples.
const ROLLING_SAMPLES: usize = 30;

/// A chart's points in time order.
type Series = Vec<(Timestamp, f64)>;

/// Annualised Sharpe and volatility (%) of the sample returns of `equity` over each window
/// of `window` returns, at the window's last sample; running sums, so O(n).
fn rolling(equity: &[(Timestamp, f64)], window: usize, periods_per_year: f64) -> (Series, Series) {
    let returns: Vec<(Timestamp, f64)> = equity.windows(2).map(|w| (w[1].0, w[1].1 / w[0].1 - 1.0)).collect();
    let (mut sum, mut squares) = (0.0, 0.0);
    let (mut sharpe, mut volatility) = (Vec::new(), Vec::new());
    let n = window.max(2) as f64;
    for (i, &(ts, r)) in returns.iter().enumerate() {
        sum += r;
        squares += r * r;
        if i >= window {
            let old = returns[i - window].1;
            sum -= old;
            squares -= old * old;
        }
        if i + 1 >= window.max(2) {
            let mean = sum / n;
            let sd = ((squares - n * mean * mean) / (n - 1.0)).max(0.0).sqrt();
            sharpe.push((ts, if sd > 0.0 { mean / sd * periods_per_year.sqrt() } else { 0.0 }));
            volatility.push((ts, sd * periods_per_year.sqrt() * 100.0));
        }
    }
    (sharpe, volatility)
}

/// Every chart of the report, in page order.
pub fn report_charts(report: &Report, alerts: &[AlertMark]) -> Vec<Chart> {
    let m = &report.metrics;
    let from = report.data.first_ts.map_or(0, Timestamp::as_nanos);
    let to = report.equity.last().map(|p| p.ts).or(report.data.last_ts).map_or(from + 1, Timestamp::as_nanos);
    let axis = &TimeAxis { from, to: to.max(from + 1), zone: report_zone(report) };
    let mut equity: Vec<(Timestamp, f64)> = Vec::with_capacity(report.equity.len() + 1);
    if let Some(first) = report.data.first_ts {
        equity.push((first, m.initial_equity));
    }
    equity.extend(report.equity.iter().map(|p| (p.ts, p.equity)));
    let mut peak = f64::NEG_INFINITY;
    let drawdown: Vec<(Timestamp, f64)> = equity
        .iter()
        .map(|&(t, e)| {
            peak = peak.max(e);
            (t, -(peak - e) / peak * 100.0)
        })
        .collect();
    let benchmark: Option<(&str, Vec<(Timestamp, f64)>)> = report.benchmark.as_ref().map(|b| {
        let mut curve: Vec<(Timestamp, f64)> =
            report.data.first_ts.map(|t| (t, m.initial_equity)).into_iter().collect();
        curve.extend(b.equity.iter().map(|p| (p.ts, p.equity)));
        (b.name.as_str(), curve)
    });
    let reference = benchmark.as_ref().map(|(name, curve)| (*name, curve.as_slice()));
    let mut charts = vec![
        line_chart("equity.png", "Equity", axis, &equity, false, axis_label, reference),
        line_chart("drawdown.png", "Drawdown (%)", axis, &drawdown, true, axis_label, None),
    ];
    let (sharpe, volatility) = rolling(&equity, ROLLING_SAMPLES, report.periods_per_year);
    charts.extend([
        line_chart(
            "rolling_sharpe.png",
            &format!("Rolling Sharpe (annualised, {ROLLING_SAMPLES} samples)"),
            axis,
            &sharpe,
            false,
            axis_label,
            None,
        ),
        line_chart(
            "rolling_volatility.png",
            &format!("Rolling volatility (annualised %, {ROLLING_SAMPLES} samples)"),
            axis,
            &volatility,
            false,
            axis_label,
            None,
        ),
    ]);
    let exposure: Series = report.activity.iter().map(|a| (a.ts, a.exposure * 100.0)).collect();
    let turnover: Series = report
        .activity
        .iter()
        .scan(0.0, |total, a| {
            *total += a.turnover;
            Some((a.ts, *total))
        })
        .collect();
    charts.extend([
        line_chart("exposure.png", "Gross exposure (% of equity)", axis, &exposure, false, axis_label, None),
        line_chart("turnover.png", "Cumulative turnover (× initial capital)", axis, &turnover, false, axis_label, None),
        return_distribution(&equity),
        symbol_returns(&report.symbols),
    ]);
    if let Some(folds) = &report.walk_forward {
        charts.push(fold_returns(folds));
    }
    if report.model.is_some() {
        charts.push(predictions_vs_realised(&report.prediction_pairs));
    }
    charts.push(alert_timeline(axis, alerts));
    charts
}

/// The return of each calendar period on the market's calendar (`pattern`: `%Y-%m-%d` for
/// days, `%Y-%m` for months) from the last equity of the period before (or `initial`) to
/// the period's last sample, in time order.
fn period_returns(initial: f64, equity: &[(Timestamp, f64)], zone: &Zone, pattern: &str) -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = Vec::new();
    let (mut start, mut last) = (initial, initial);
    for &(ts, value) in equity {
        let period = zone.format(ts, pattern);
        match out.last_mut() {
            Some((p, r)) if *p == period => *r = value / start - 1.0,
            _ => {
                start = last;
                out.push((period, value / start - 1.0));
            }
        }
        last = value;
    }
    out
}

/// Daily and monthly returns, when a run spans more than one of each.
fn period_tables(html: &mut String, initial: f64, equity: &[(Timestamp, f64)], zone: &Zone) {
    for (pattern, title, id) in [("%Y-%m-%d", "Daily returns", "daily"), ("%Y-%m", "Monthly returns", "monthly")] {
        let periods = period_returns(initial, equity, zone, pattern);
        if periods.len() < 2 {
            continue;
        }
        let _ = writeln!(
            html,
            "<h2 id=\"{id}\">{title}</h2>\n<table class=\"metrics\"><tr><td>period</td><td class=\"num\">return</td></tr>"
        );
        for (period, r) in &periods {
            let class = if *r >= 0.0 { "buy" } else { "sell" };
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td class=\"num {class}\">{:+.4} %</td></tr>",
                escape(period),
                r * 100.0
            );
        }
        html.push_str("</table>\n");
    }
}

/// One tenth of the matured predictions, ranked by the predicted return.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Decile {
    count: usize,
    mean_predicted: f64,
    mean_realised: f64,
    /// Share whose realised return had the predicted sign (among those that moved).
    direction: f64,
}

/// The (predicted, realised) pairs cut into ten groups by predicted return, lowest first;
/// ties keep the pairs' order, so the cut is deterministic. Fewer than ten pairs: none.
fn deciles(pairs: &[(f64, f64)]) -> Vec<Decile> {
    let mut sorted: Vec<(f64, f64)> = pairs.iter().copied().filter(|(p, r)| p.is_finite() && r.is_finite()).collect();
    if sorted.len() < 10 {
        return Vec::new();
    }
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = sorted.len();
    (0..10)
        .map(|k| {
            let group = &sorted[k * n / 10..(k + 1) * n / 10];
            let count = group.len();
            let moved: Vec<&(f64, f64)> = group.iter().filter(|(p, r)| *r != 0.0 && *p != 0.0).collect();
            let right = moved.iter().filter(|(p, r)| p.signum() == r.signum()).count();
            Decile {
                count,
                mean_predicted: group.iter().map(|g| g.0).sum::<f64>() / count as f64,
                mean_realised: group.iter().map(|g| g.1).sum::<f64>() / count as f64,
                direction: right as f64 / moved.len().max(1) as f64,
            }
        })
        .collect()
}

/// The model's matured predictions by decile: a model worth trading has realised returns
/// that rise from the first decile to the tenth, not just a good average.
fn decile_table(html: &mut String, pairs: &[(f64, f64)]) {
    let deciles = deciles(pairs);
    if deciles.is_empty() {
        return;
    }
    html.push_str("<h2 id=\"deciles\">Model by decile of prediction</h2><p class=\"sub\">Matured predictions ranked by predicted return and cut into tenths (the sample the scatter below shows); returns in basis points over the model's horizon.</p>\n<table class=\"metrics\"><tr><td>decile</td><td class=\"num\">predictions</td><td class=\"num\">mean predicted</td><td class=\"num\">mean realised</td><td class=\"num\">direction right</td></tr>\n");
    for (k, d) in deciles.iter().enumerate() {
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{:+.2} bp</td><td class=\"num\">{:+.2} bp</td><td class=\"num\">{:.1} %</td></tr>",
            k + 1,
            d.count,
            d.mean_predicted * 1e4,
            d.mean_realised * 1e4,
            d.direction * 100.0
        );
    }
    html.push_str("</table>\n");
}

/// Sorts a table by the clicked header (numbers by value, text alphabetically; a second
/// click reverses). The page's only script: inline, no network, and the table reads the
/// same without it.
const SORT_SCRIPT: &str = r#"<script>
for (const table of document.querySelectorAll('table.sortable')) {
  table.querySelectorAll('th').forEach((th, col) => th.addEventListener('click', () => {
    const rows = Array.from(table.tBodies[0].rows);
    const down = th.dataset.order !== 'desc';
    table.querySelectorAll('th').forEach(h => delete h.dataset.order);
    th.dataset.order = down ? 'desc' : 'asc';
    const key = r => { const v = r.cells[col].dataset.value; return v === undefined ? r.cells[col].textContent : parseFloat(v); };
    rows.sort((a, b) => { const x = key(a), y = key(b); const c = typeof x === 'number' ? x - y : String(x).localeCompare(y); return down ? -c : c; });
    for (const r of rows) table.tBodies[0].appendChild(r);
  }));
}
</script>
"#;

/// Every symbol's results in a table that sorts by any column (P&L first).
fn symbol_table(html: &mut String, symbols: &[SymbolResult]) {
    let mut sorted: Vec<&SymbolResult> = symbols.iter().collect();
    sorted.sort_by(|a, b| b.pnl.total_cmp(&a.pnl).then(a.symbol.cmp(&b.symbol)));
    html.push_str("<h2 id=\"symbols\">Symbols</h2><p class=\"sub\">Click a column to sort.</p>\n<table class=\"metrics sortable\" id=\"symbol-table\"><thead><tr><th>symbol</th><th class=\"num\" data-order=\"desc\">P&amp;L</th><th class=\"num\">return on allocation</th><th class=\"num\">trades</th><th class=\"num\">hit rate</th><th class=\"num\">fees</th><th class=\"num\">final position</th></tr></thead><tbody>\n");
    for s in sorted {
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td class=\"num\" data-value=\"{}\">{:.2}</td><td class=\"num\" data-value=\"{}\">{:+.3} %</td><td class=\"num\" data-value=\"{}\">{}</td><td class=\"num\" data-value=\"{}\">{:.1} %</td><td class=\"num\" data-value=\"{}\">{:.2}</td><td class=\"num\" data-value=\"{}\">{}</td></tr>",
            escape(&s.symbol),
            s.pnl,
            s.pnl,
            s.return_on_allocation,
            s.return_on_allocation * 100.0,
            s.trades,
            s.trades,
            s.hit_rate,
            s.hit_rate * 100.0,
            s.fees,
            s.fees,
            s.final_position,
            s.final_position
        );
    }
    html.push_str("</tbody></table>\n");
}

/// The first fills as a table; all of them are in `trades.csv` beside the page.
fn trade_table(html: &mut String, trades: &[crate::Trade], zone: &Zone) {
    const SHOWN: usize = 100;
    let shown = trades.len().min(SHOWN);
    let _ = writeln!(
        html,
        "<h2 id=\"trades\">Trades</h2><p class=\"sub\">{}; every fill is in <a href=\"trades.csv\">trades.csv</a>.</p>",
        if shown < trades.len() {
            format!("The first {shown} of {} fills", trades.len())
        } else {
            format!("{} fills", trades.len())
        }
    );
    if trades.is_empty() {
        return;
    }
    html.push_str("<table class=\"metrics trades\"><tr><td>time</td><td>symbol</td><td>side</td><td class=\"num\">quantity</td><td class=\"num\">price</td><td class=\"num\">notional</td><td class=\"num\">fee</td></tr>\n");
    for t in &trades[..shown] {
        let side = t.side();
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td class=\"{side}\">{side}</td><td class=\"num\">{}</td><td class=\"num\">{:.4}</td><td class=\"num\">{}</td><td class=\"num\">{:.2}</td></tr>",
            zone.format(t.ts, "%Y-%m-%d %H:%M:%S %Z"),
            escape(&t.symbol),
            axis_label(t.quantity.abs(), 1.0),
            t.price,
            axis_label((t.quantity * t.price).abs(), 1.0),
            t.fee
        );
    }
    html.push_str("</table>\n");
}

/// Renders the report page.
pub fn render_report_html(report: &Report, alerts: &[AlertMark]) -> String {
    let m = &report.metrics;
    let zone = report_zone(report);
    let from = report.data.first_ts.map_or(0, Timestamp::as_nanos);
    let to = report.equity.last().map(|p| p.ts).or(report.data.last_ts).map_or(from + 1, Timestamp::as_nanos);
    let rows = [
        ("Data", format!("{} ticks, {} symbols", report.data.ticks, report.data.symbols)),
        ("Period", {
            let at = |t| zone.format(Timestamp::from_nanos(t), "%Y-%m-%d %H:%M:%S %Z");
            format!("{} .. {} ({})", at(from), at(to), report.time_zone)
        }),
        ("Total return", format!("{:+.4} %", m.total_return * 100.0)),
        ("Annualised return", format!("{:+.2} %", m.annualized_return * 100.0)),
        ("Annualised volatility", format!("{:.2} %", m.annualized_volatility * 100.0)),
        ("Sharpe", format!("{:.3}", m.sharpe)),
        ("Sortino", format!("{:.3}", m.sortino)),
        ("Calmar", format!("{:.3}", m.calmar)),
        ("Max drawdown", format!("{:.4} % over {} s", m.max_drawdown * 100.0, m.max_drawdown_secs)),
        ("Positive periods", format!("{:.1} %", m.positive_periods * 100.0)),
        ("Trades", format!("{} ({} closing)", m.trades, m.closing_trades)),
        ("Hit rate", format!("{:.1} % of closing trades", m.hit_rate * 100.0)),
        ("Exposure", format!("{:.1} % of equity on average", m.exposure * 100.0)),
        ("Fees paid", format!("{:.2}", m.fees_paid)),
        ("Turnover", format!("{:.2}x", m.turnover)),
        ("Final equity", format!("{:.2}", m.final_equity)),
        ("Ticks rejected", report.pipeline.cleaning.total_rejected().to_string()),
        ("Config SHA-256", report.config_sha256.clone()),
    ];
    let mut rows = rows.to_vec();
    if let Some(b) = &report.benchmark {
        rows.push(("Benchmark", format!("{}: {:+.4} %", b.name, b.total_return * 100.0)));
        rows.push(("Excess return", format!("{:+.4} %", b.excess_return * 100.0)));
        rows.push(("Alpha, beta", format!("{:+.2} % a year, β {:.3}", b.alpha * 100.0, b.beta)));
        rows.push(("Correlation", format!("{:.3}", b.correlation)));
        rows.push((
            "Tracking error, information ratio",
            format!("{:.2} % a year, IR {:.3}", b.tracking_error * 100.0, b.information_ratio),
        ));
    }
    if let Some(a) = &report.model_accuracy {
        let model = report.model.clone().unwrap_or_default();
        rows.push(("Model", format!("{model}: {} predictions matured", a.matured)));
        rows.push(("Model MAE", format!("{:.3e} (log return)", a.mae)));
        rows.push(("Model direction", format!("{:.1} % right", a.directional_accuracy * 100.0)));
    }
    let rates = &report.alert_rates;
    rows.push((
        "Alerts per symbol-day",
        format!(
            "{:.3} volume spikes, {:.3} price drops, {:.3} model anomalies ({} symbol-days)",
            rates.volume_spike, rates.price_drop, rates.model_anomaly, rates.symbol_days
        ),
    ));
    let mut html = String::new();
    let _ = write!(
        html,
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tickloop backtest: {name}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 24px auto; max-width: 1000px; padding: 0 12px; color: #1d2430; }}
svg.chart {{ max-width: 100%; height: auto; }}
table.metrics {{ display: block; max-width: 100%; overflow-x: auto; }}
table.metrics td {{ overflow-wrap: anywhere; }}
h1 {{ font-size: 22px; margin-bottom: 4px; }} .sub {{ color: #5b6573; margin-top: 0; }}
table.metrics {{ border-collapse: collapse; margin: 16px 0; }}
table.metrics td {{ padding: 3px 14px 3px 0; border-bottom: 1px solid #eef0f3; }}
table.metrics td:first-child {{ color: #5b6573; }}
table.sortable th {{ cursor: pointer; text-align: left; padding: 3px 14px 3px 0; border-bottom: 2px solid #d5d9df; user-select: none; }}
table.sortable th[data-order=desc]::after {{ content: " ▼"; }} table.sortable th[data-order=asc]::after {{ content: " ▲"; }}
figure {{ margin: 18px 0; }} figcaption {{ font-weight: 600; margin-bottom: 4px; }}
.tick {{ font-size: 11px; fill: #5b6573; }}
.num {{ text-align: right; }} .buy {{ color: #2e8b57; }} .sell {{ color: #c0392b; }}
.warn {{ background: #fff4e5; border: 2px solid #e67700; border-radius: 6px; padding: 10px 14px; font-weight: 600; }}
</style></head><body>
<h1>Backtest: {name}</h1><p class="sub">tickloop report — deterministic: the same experiment and data give this same file</p>
"#,
        name = escape(&report.experiment)
    );
    if let Some(in_sample) = &report.in_sample {
        let _ = writeln!(html, "<p class=\"warn\" id=\"in-sample\">{}</p>", escape(&in_sample.warning()));
    }
    html.push_str("<table class=\"metrics\">\n");
    for (k, v) in rows {
        let _ = writeln!(html, "<tr><td>{}</td><td>{}</td></tr>", escape(k), escape(&v));
    }
    html.push_str("</table>\n");
    if let Some(folds) = &report.walk_forward {
        html.push_str(
            "<h2>Walk-forward folds</h2><p class=\"sub\">Each fold's model was trained only on data ending an embargo before its test window; the metrics above chain the test windows alone.</p>\n<table class=\"metrics\"><tr><td>fold</td><td>trained on</td><td>tested on</td><td>model</td><td>rows</td><td>return</td><td>sharpe</td><td>direction</td></tr>\n",
        );
        for f in folds {
            let w = &f.window;
            let direction =
                f.model_accuracy.map_or("–".to_owned(), |a| format!("{:.1} %", a.directional_accuracy * 100.0));
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td>{} .. {}</td><td>{} .. {}</td><td>{}</td><td>{}</td><td>{:+.4} %</td><td>{:.3}</td><td>{}</td></tr>",
                f.fold,
                w.train_from,
                w.train_to,
                w.test_from,
                w.test_to,
                escape(&f.model),
                f.training_rows,
                f.metrics.total_return * 100.0,
                f.metrics.sharpe,
                direction
            );
        }
        html.push_str("</table>\n");
    }
    if report.model.is_some() {
        decile_table(&mut html, &report.prediction_pairs);
    }
    let curve: Series = report.equity.iter().map(|p| (p.ts, p.equity)).collect();
    period_tables(&mut html, m.initial_equity, &curve, &zone);
    if let Some(q) = &report.alert_quality {
        let _ = writeln!(
            html,
            "<h2>Alert quality</h2><p class=\"sub\">Against the planted anomalies: an alert is true when it falls inside an event on its symbol or within {} s after it (a volume alert inside a planted crash counts: crashes trade heavily); an event is found when an alert of its kind does; the delay runs from the event's start to its first alert.</p>\n<table class=\"metrics\"><tr><td>rule</td><td>alerts</td><td>precision</td><td>recall</td><td>F1</td><td>delay p50</td><td>delay p95</td></tr>",
            q.grace_secs
        );
        for (name, r) in [("volume spike", &q.volume_spike), ("price drop", &q.price_drop)] {
            let secs = |d: Option<f64>| d.map_or("–".to_owned(), |d| format!("{d:.0} s"));
            let _ = writeln!(
                html,
                "<tr><td>{name}</td><td>{}</td><td>{:.1} % ({} true)</td><td>{:.1} % ({} of {})</td><td>{:.3}</td><td>{}</td><td>{}</td></tr>",
                r.alerts,
                r.precision * 100.0,
                r.true_alerts,
                r.recall * 100.0,
                r.detected_events,
                r.events,
                r.f1,
                secs(r.delay_p50_secs),
                secs(r.delay_p95_secs)
            );
        }
        html.push_str("</table>\n");
    }
    for chart in report_charts(report, alerts) {
        html.push_str(&chart.figure());
    }
    symbol_table(&mut html, &report.symbols);
    trade_table(&mut html, &report.trades, &zone);
    html.push_str(SORT_SCRIPT);
    html.push_str("</body></html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolling_figures_equal_each_window_computed_alone() {
        let mut rng = tickloop_core::Rng::new(7, 1);
        let mut value = 100.0;
        let equity: Vec<(Timestamp, f64)> = (0..200)
            .map(|i| {
                value *= 1.0 + 0.01 * rng.normal();
                (Timestamp::from_secs(60 * i), value)
            })
            .collect();
        let (sharpe, volatility) = rolling(&equity, 30, 252.0);
        assert_eq!((sharpe.len(), volatility.len()), (199 - 29, 199 - 29));
        for (k, (&(ts, s), &(_, v))) in sharpe.iter().zip(&volatility).enumerate() {
            let window: Vec<f64> = equity[k..k + 31].windows(2).map(|w| w[1].1 / w[0].1 - 1.0).collect();
            let mean = window.iter().sum::<f64>() / 30.0;
            let sd = (window.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / 29.0).sqrt();
            assert_eq!(ts, equity[k + 30].0, "dated at the window's last sample");
            assert!((s - mean / sd * 252f64.sqrt()).abs() < 1e-6, "window {k}: {s}");
            assert!((v - sd * 252f64.sqrt() * 100.0).abs() < 1e-6, "window {k}: {v}");
        }
        let flat: Vec<(Timestamp, f64)> = (0..40).map(|i| (Timestamp::from_secs(i), 5.0)).collect();
        assert!(rolling(&flat, 30, 252.0).0.iter().all(|&(_, s)| s == 0.0), "no risk, no Sharpe");
    }

    #[test]
    fn period_returns_chain_from_each_periods_last_sample() {
        let day = 86_400;
        let t = |s: i64| Timestamp::from_secs(1_704_205_800 + s); // 2024-01-02T14:30:00Z
        let equity = [(t(0), 110.0), (t(60), 121.0), (t(day), 133.1), (t(day + 60), 108.9), (t(31 * day), 108.9)];
        let utc = Zone::utc();
        let daily = period_returns(100.0, &equity, &utc, "%Y-%m-%d");
        let days: Vec<&str> = daily.iter().map(|(d, _)| d.as_str()).collect();
        assert_eq!(days, ["2024-01-02", "2024-01-03", "2024-02-02"]);
        assert!((daily[0].1 - 0.21).abs() < 1e-12, "from the initial capital: {daily:?}");
        assert!((daily[1].1 - (108.9 / 121.0 - 1.0)).abs() < 1e-12, "from the day before's last sample");
        assert_eq!(daily[2].1, 0.0);
        let monthly = period_returns(100.0, &equity, &utc, "%Y-%m");
        assert_eq!(monthly.len(), 2);
        assert!((monthly[0].1 - 0.089).abs() < 1e-12 && monthly[1].1 == 0.0, "{monthly:?}");
        let product: f64 = daily.iter().map(|(_, r)| 1.0 + r).product();
        assert!((product - 1.089).abs() < 1e-12, "daily returns compound to the total");
    }

    #[test]
    fn days_and_axis_ticks_follow_the_markets_clock() {
        let t = |s: i64| Timestamp::from_secs(1_704_205_800 + s); // 2024-01-02T14:30:00Z
        let new_york = Zone::parse("America/New_York").unwrap();
        // 02:00 UTC on the 3rd is still the 2nd's evening in New York.
        let equity = [(t(0), 101.0), (t(11 * 3600 + 1800), 102.0), (t(86_400), 103.0)];
        let days: Vec<String> =
            period_returns(100.0, &equity, &new_york, "%Y-%m-%d").into_iter().map(|d| d.0).collect();
        assert_eq!(days, ["2024-01-02", "2024-01-03"]);
        let axis = TimeAxis { from: t(0).as_nanos(), to: t(6 * 3600 + 1800).as_nanos(), zone: new_york };
        let labels: Vec<String> = axis.ticks().into_iter().map(|tick| axis.label(tick)).collect();
        assert_eq!(labels, ["10:00", "11:00", "12:00", "13:00", "14:00", "15:00", "16:00"]);
        // Half an hour off UTC: ticks still on the local hour.
        let kolkata = TimeAxis { zone: Zone::parse("Asia/Kolkata").unwrap(), ..axis.clone() };
        let labels: Vec<String> = kolkata.ticks().into_iter().map(|tick| kolkata.label(tick)).collect();
        assert_eq!(labels.first().map(String::as_str), Some("21:00"), "{labels:?}");
        assert!(labels.iter().all(|l| l.ends_with(":00")), "{labels:?}");
        // A week: one tick a day, labelled by date.
        let week = TimeAxis { to: t(7 * 86_400).as_nanos(), ..axis };
        assert_eq!(week.ticks().first().map(|&tick| week.label(tick)).as_deref(), Some("Jan 03"));
        assert_eq!(week.zone.format(t(0), "%H:%M %Z"), "09:30 EST");
    }

    #[test]
    fn deciles_rank_by_prediction_and_score_each_tenth() {
        // Predictions from −49.5 to 49.5, given in reverse; every realised return is up, so
        // the predictions below zero are wrong and those above right.
        let pairs: Vec<(f64, f64)> = (0..100).rev().map(|i| (f64::from(i) - 49.5, 1.0)).collect();
        let d = deciles(&pairs);
        assert_eq!(d.len(), 10);
        assert!(d.iter().all(|d| d.count == 10));
        assert!(d.windows(2).all(|w| w[0].mean_predicted < w[1].mean_predicted), "lowest first");
        assert_eq!((d[0].direction, d[9].direction), (0.0, 1.0), "{d:?}");
        assert!((d[0].mean_predicted - (-45.0)).abs() < 1e-12);
        assert!(deciles(&pairs[..9]).is_empty(), "too few to cut");
    }

    #[test]
    fn axis_ticks_are_round_and_cover_the_data() {
        let (ticks, step) = nice_ticks(996_973.0, 1_004_138.0, 5);
        assert_eq!(step, 2_000.0);
        assert_eq!(ticks, vec![996_000.0, 998_000.0, 1_000_000.0, 1_002_000.0, 1_004_000.0, 1_006_000.0]);
        let (ticks, step) = nice_ticks(-0.178, 0.0, 5);
        assert_eq!(step, 0.05);
        assert!(ticks[0] <= -0.178 && *ticks.last().unwrap() >= 0.0 && ticks.len() <= 6, "{ticks:?}");
        let labels: Vec<String> = ticks.iter().map(|&v| axis_label(v, step)).collect();
        assert_eq!(labels, ["-0.20", "-0.15", "-0.10", "-0.05", "0.00"]);
        assert_eq!(axis_label(1_004_000.0, 2_000.0), "1,004,000");
        assert_eq!(axis_label(-12_345.0, 5.0), "-12,345");
        // A flat series still gets an axis.
        let (ticks, _) = nice_ticks(5.0, 5.0, 5);
        assert!(ticks.len() >= 2 && ticks[0] <= 5.0 && *ticks.last().unwrap() >= 5.0);
    }
}
