//! PNG copies of the report's charts, rasterised from the very SVG that report.html
//! inlines (resvg), with an embedded font (DejaVu Sans, `assets/`), so a PNG looks the same
//! on any machine and needs no browser. Deterministic: the same chart gives the same bytes.

use std::sync::{Arc, OnceLock};

use resvg::{tiny_skia, usvg};

use crate::html::Chart;

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const FAMILY: &str = "DejaVu Sans";
/// Room above the chart for its title.
const TITLE_HEIGHT: f64 = 30.0;

fn fonts() -> Arc<usvg::fontdb::Database> {
    static FONTS: OnceLock<Arc<usvg::fontdb::Database>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            let mut db = usvg::fontdb::Database::new();
            db.load_font_data(FONT.to_vec());
            db.set_sans_serif_family(FAMILY);
            Arc::new(db)
        })
        .clone()
}

/// The chart, titled, on a white background, as PNG bytes.
pub fn render_png(chart: &Chart) -> Result<Vec<u8>, String> {
    let (width, height) = (chart.width, chart.height + TITLE_HEIGHT);
    let title = chart.title.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}"><style>.tick {{ font-size: 11px; fill: #5b6573; }}</style><rect width="{width}" height="{height}" fill="#ffffff"/><text x="12" y="20" font-size="14" fill="#1d2430">{title}</text><g transform="translate(0 {TITLE_HEIGHT})">{}</g></svg>"##,
        chart.svg
    );
    let options = usvg::Options { fontdb: fonts(), font_family: FAMILY.to_owned(), ..usvg::Options::default() };
    let tree = usvg::Tree::from_str(&svg, &options).map_err(|e| format!("{}: {e}", chart.file))?;
    let mut pixmap = tiny_skia::Pixmap::new(width.ceil() as u32, height.ceil() as u32)
        .ok_or_else(|| format!("{}: empty chart", chart.file))?;
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap.encode_png().map_err(|e| format!("{}: {e}", chart.file))
}
