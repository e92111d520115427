//! `ranking.html`: a sweep at a glance. A heatmap of the ranking metric over the grid's
//! first two dimensions (a ridge of good values is robust; a lone bright cell is likely
//! overfit) and the best runs' equity curves on one chart. Self-contained like
//! `report.html`, and deterministic: rows arrive ranked, ties broken by index.

use std::fmt::Write as _;

use tickloop_backtest::{axis_label, escape, nice_ticks, svg_path};

use crate::sweep::SweepRow;

const WIDTH: f64 = 960.0;
const CURVES: usize = 5;
const PALETTE: [&str; CURVES] = ["#1f6feb", "#2e8b57", "#d4a017", "#8e44ad", "#c0392b"];

/// One grid dimension: its dotted name and its values, as the grid lists them.
pub(crate) struct Dimension {
    pub name: String,
    pub values: Vec<String>,
}

/// The page for `rows` (best first) of a sweep over `dimensions`, ranked by `rank_by`;
/// `params` gives a row's value of each dimension by its index.
pub(crate) fn render(
    name: &str,
    rank_by: &str,
    dimensions: &[Dimension],
    rows: &[SweepRow],
    params: &dyn Fn(usize) -> Vec<String>,
) -> String {
    let mut html = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tickloop sweep: {title}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 24px auto; max-width: 1000px; color: #1d2430; }}
.sub {{ color: #5b6573; }} .tick {{ font-size: 11px; fill: #5b6573; }} .cell-label {{ font-size: 11px; fill: #1d2430; }}
table {{ border-collapse: collapse; }} td {{ padding: 3px 14px 3px 0; border-bottom: 1px solid #eef0f3; }}
</style></head><body>
<h1>Sweep: {title}</h1><p class="sub">{} runs ranked by {metric}; the full table is in ranking.md and ranking.json.</p>
"#,
        rows.len(),
        title = escape(name),
        metric = escape(rank_by),
    );
    if dimensions.len() >= 2 {
        html.push_str(&heatmap(rank_by, &dimensions[0], &dimensions[1], rows, params));
    }
    html.push_str(&top_curves(rows));
    html.push_str("<table><tr><td>rank</td><td>score</td><td>parameters</td></tr>\n");
    for (rank, row) in rows.iter().enumerate() {
        let score = row.score.map_or_else(|| "failed".to_owned(), |s| format!("{s:.4}"));
        let _ = writeln!(html, "<tr><td>{}</td><td>{score}</td><td>{}</td></tr>", rank + 1, escape(&row.params));
    }
    html.push_str("</table></body></html>\n");
    html
}

/// The best score of each (x, y) pair of values, over whatever other dimensions vary.
fn heatmap(
    rank_by: &str,
    x: &Dimension,
    y: &Dimension,
    rows: &[SweepRow],
    params: &dyn Fn(usize) -> Vec<String>,
) -> String {
    const LEFT: f64 = 160.0;
    const TOP: f64 = 30.0;
    let (cols, lines) = (x.values.len().max(1), y.values.len().max(1));
    let cell_w = (WIDTH - LEFT - 20.0) / cols as f64;
    let cell_h = 34.0;
    let height = TOP + cell_h * lines as f64 + 40.0;
    // Rows are best first: the first one seen for a cell is its best.
    let mut best: Vec<Option<f64>> = vec![None; cols * lines];
    for row in rows {
        let values = params(row.index);
        let (Some(i), Some(j)) = (
            x.values.iter().position(|v| values.first() == Some(v)),
            y.values.iter().position(|v| values.get(1) == Some(v)),
        ) else {
            continue;
        };
        if best[j * cols + i].is_none() {
            best[j * cols + i] = row.score;
        }
    }
    let known: Vec<f64> = best.iter().flatten().copied().collect();
    let (lo, hi) = known.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
    let mut svg = format!(
        r#"<h2>{} over {} × {}</h2><svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-label="heatmap" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}">"#,
        escape(rank_by),
        escape(&x.name),
        escape(&y.name)
    );
    for (j, label) in y.values.iter().enumerate() {
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" class="tick">{}</text>"#,
            LEFT - 8.0,
            TOP + cell_h * (j as f64 + 0.5) + 4.0,
            escape(label)
        );
        for i in 0..cols {
            let (cx, cy) = (LEFT + cell_w * i as f64, TOP + cell_h * j as f64);
            let (fill, text) = match best[j * cols + i] {
                Some(v) => {
                    let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
                    // From pale red (worst) through white to green (best).
                    let (r, g, b) = if t < 0.5 {
                        (230.0, 120.0 + 270.0 * t, 110.0 + 280.0 * t)
                    } else {
                        (250.0 - 300.0 * (t - 0.5), 255.0 - 80.0 * (t - 0.5), 250.0 - 300.0 * (t - 0.5))
                    };
                    (format!("rgb({:.0},{:.0},{:.0})", r, g, b), format!("{v:.4}"))
                }
                None => ("#eef0f3".to_owned(), "—".to_owned()),
            };
            let _ = write!(
                svg,
                r##"<rect class="cell" x="{cx:.1}" y="{cy:.1}" width="{:.1}" height="{:.1}" fill="{fill}" stroke="#ffffff"/><text x="{:.1}" y="{:.1}" text-anchor="middle" class="cell-label">{text}</text>"##,
                cell_w,
                cell_h,
                cx + cell_w / 2.0,
                cy + cell_h / 2.0 + 4.0
            );
        }
    }
    for (i, label) in x.values.iter().enumerate() {
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="tick">{}</text>"#,
            LEFT + cell_w * (i as f64 + 0.5),
            TOP + cell_h * lines as f64 + 16.0,
            escape(label)
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="tick">{}</text><text x="{:.1}" y="18" text-anchor="end" class="tick">{}</text></svg>"#,
        LEFT + (WIDTH - LEFT - 20.0) / 2.0,
        height - 6.0,
        escape(&x.name),
        LEFT - 8.0,
        escape(&y.name)
    );
    svg
}

/// The best runs' equity curves on one chart, with a legend.
fn top_curves(rows: &[SweepRow]) -> String {
    const LEFT: f64 = 80.0;
    const HEIGHT: f64 = 300.0;
    let curves: Vec<(&SweepRow, &[tickloop_backtest::EquityPoint])> = rows
        .iter()
        .filter(|r| r.score.is_some() && !r.equity.is_empty())
        .take(CURVES)
        .map(|r| (r, r.equity.as_slice()))
        .collect();
    if curves.is_empty() {
        return String::new();
    }
    let all = curves.iter().flat_map(|(_, e)| e.iter());
    let (t0, t1, lo, hi) = all.fold((i64::MAX, i64::MIN, f64::INFINITY, f64::NEG_INFINITY), |(a, b, l, h), p| {
        (a.min(p.ts.as_nanos()), b.max(p.ts.as_nanos()), l.min(p.equity), h.max(p.equity))
    });
    let (ticks, step) = nice_ticks(lo, hi, 5);
    let (lo, hi) = (ticks[0], ticks[ticks.len() - 1]);
    let top = 24.0 + 16.0 * curves.len() as f64;
    let x = |t: i64| LEFT + (t - t0) as f64 / (t1 - t0).max(1) as f64 * (WIDTH - LEFT - 20.0);
    let y = |v: f64| top + (hi - v) / (hi - lo) * (HEIGHT - top - 24.0);
    let mut svg = format!(
        r#"<h2>The best {} runs' equity</h2><svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-label="top runs" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}">"#,
        curves.len()
    );
    for &v in &ticks {
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}" stroke="#e3e6ea"/><text x="{:.1}" y="{:.1}" text-anchor="end" class="tick">{}</text>"##,
            WIDTH - 20.0,
            LEFT - 6.0,
            y(v) + 4.0,
            escape(&axis_label(v, step)),
            yy = y(v)
        );
    }
    for (k, (row, curve)) in curves.iter().enumerate() {
        let color = PALETTE[k % PALETTE.len()];
        let path = svg_path(curve.iter().map(|p| (x(p.ts.as_nanos()), y(p.equity))));
        let _ = write!(
            svg,
            r##"<path class="top-run" d="{path}" fill="none" stroke="{color}" stroke-width="1.4"/><line x1="{LEFT}" x2="{:.1}" y1="{ly:.1}" y2="{ly:.1}" stroke="{color}" stroke-width="2"/><text x="{:.1}" y="{:.1}" class="tick">#{} {}</text>"##,
            LEFT + 14.0,
            LEFT + 18.0,
            16.0 * k as f64 + 20.0,
            k + 1,
            escape(&row.params),
            ly = 16.0 * k as f64 + 16.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}
