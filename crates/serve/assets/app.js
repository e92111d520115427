// tickloop live dashboard: one EventSource for the overview (at most once a second), a
// fetch of the selected symbol's chart after each. Everything it loads comes from the
// server (lightweight-charts is embedded in the binary): the page works offline.
"use strict";

const params = new URLSearchParams(location.search);
const token = params.get("token");
const withToken = (url) => (token ? url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : url);
const $ = (id) => document.getElementById(id);
const LC = window.LightweightCharts;

let overview = null;
let sortKey = "symbol";
let sortDesc = false;
let selected = params.get("s");

const fmt = (x, digits) => (x === null || x === undefined || !isFinite(x) ? "—" : Number(x).toFixed(digits));
const escapeHtml = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
const kindLabel = (kind) => kind.replace("_", " ");

// Clocks and axes in the market's time zone (the server says which; UTC otherwise).
let zone = null;
function clocks(timeZone) {
  const make = (opts) => new Intl.DateTimeFormat("en-US", { timeZone, hourCycle: "h23", ...opts });
  const parts = make({ year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short" });
  const hm = make({ hour: "2-digit", minute: "2-digit" });
  const day = make({ day: "numeric", month: "short" });
  return {
    name: timeZone,
    hm,
    day,
    /// 2024-01-02 09:35:43 EST
    full: {
      format(date) {
        const p = Object.fromEntries(parts.formatToParts(date).map((x) => [x.type, x.value]));
        return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second} ${p.timeZoneName}`;
      },
    },
  };
}
function setZone(timeZone) {
  const name = timeZone || "UTC";
  if (zone && zone.name === name) return;
  try { zone = clocks(name); } catch (_) { zone = clocks("UTC"); }
}
const at = (secs) => new Date(secs * 1000);
setZone(null);

// ---- the symbol table ----
//
// Only the rows in view (and a screenful either side) are in the DOM: with the whole
// 1,000-row table rebuilt every second an update cost 174 ms of the main thread, with a
// window of ~60 rows the whole page's update costs 58 ms (BENCHMARKS.md). Rows have one fixed height (CSS), so spacer rows stand in for the rest.

let tableRows = [];
let rowHeight = 22;

function rowHtml(r) {
  const dir = r.change_pct > 0 ? "up" : r.change_pct < 0 ? "down" : "";
  const pred = r.prediction === null ? "—" : (r.prediction > 0 ? "▲ " : r.prediction < 0 ? "▼ " : "") + fmt(r.prediction * 1e4, 1) + " bp";
  const badge = r.alerts > 0 ? `<span class="badge" title="${escapeHtml(r.last_alert || "")}">${r.alerts}</span>` : "";
  const sel = r.symbol === selected ? ' class="sel"' : "";
  return `<tr data-symbol="${escapeHtml(r.symbol)}"${sel}><td>${escapeHtml(r.symbol)}</td><td class="price">${fmt(r.price, 2)}</td>` +
    `<td class="${dir}">${fmt(r.change_pct, 2)}</td><td class="wide">${Math.round(r.volume).toLocaleString("en-US")}</td>` +
    `<td class="wide">${pred}</td><td>${badge}</td></tr>`;
}

function renderRows() {
  const box = $("table-box"), body = document.querySelector("#symbols tbody");
  const from = Math.max(0, Math.floor(box.scrollTop / rowHeight) - 20);
  const to = Math.min(tableRows.length, from + Math.ceil(box.clientHeight / rowHeight) + 40);
  const spacer = (n) => (n > 0 ? `<tr class="spacer" style="height:${n * rowHeight}px"><td colspan="6"></td></tr>` : "");
  body.innerHTML = spacer(from) + tableRows.slice(from, to).map(rowHtml).join("") + spacer(tableRows.length - to);
  const row = body.querySelector("tr[data-symbol]");
  if (row && Math.abs(row.offsetHeight - rowHeight) > 0.5) { rowHeight = row.offsetHeight; renderRows(); }
}

function renderTable() {
  const filter = $("filter").value.trim().toUpperCase();
  const rows = overview.symbols.filter((r) => !filter || r.symbol.toUpperCase().includes(filter));
  rows.sort((a, b) => {
    const x = a[sortKey] ?? -Infinity, y = b[sortKey] ?? -Infinity;
    const c = x < y ? -1 : x > y ? 1 : 0;
    return sortDesc ? -c : c;
  });
  tableRows = rows;
  renderRows();
  $("shown").textContent = `${rows.length} of ${overview.symbols.length}`;
}

/// Scrolls the table to the selected symbol's row when it is out of view (a heatmap
/// click, a feed click or the URL selected it), then draws the window there.
function revealSelected() {
  const i = tableRows.findIndex((r) => r.symbol === selected), box = $("table-box");
  if (i < 0) return;
  const top = i * rowHeight, header = document.querySelector("#symbols thead").offsetHeight;
  if (top < box.scrollTop || top + rowHeight > box.scrollTop + box.clientHeight - header) {
    box.scrollTop = Math.max(0, top - box.clientHeight / 2);
    renderRows();
  }
}

let rowsQueued = false;
function onTableScroll() {
  if (rowsQueued) return;
  rowsQueued = true;
  requestAnimationFrame(() => { rowsQueued = false; renderRows(); });
}

function renderHeader() {
  const t = Date.parse(overview.market_time);
  $("market-time").textContent = t > 0 ? zone.full.format(new Date(t)) : "—";
  $("ticks").textContent = overview.ticks.toLocaleString("en-US");
  const h = overview.health;
  $("rate").textContent = fmt(h.ticks_per_sec, 0);
  $("latency").textContent = h.e2e_p50_ms || h.e2e_p99_ms ? `${fmt(h.e2e_p50_ms, 1)} / ${fmt(h.e2e_p99_ms, 1)} ms` : "—";
  $("dead").textContent = h.dead_letters;
  $("lag").textContent = h.consumer_lag.toLocaleString("en-US");
}

function renderFeed() {
  $("feed").innerHTML = overview.alerts.slice(0, 100).map((a) =>
    `<li data-symbol="${escapeHtml(a.symbol)}"><span class="k">${escapeHtml(a.symbol)}</span> ${escapeHtml(kindLabel(a.kind))} ` +
    `<span style="color: var(--muted)">${escapeHtml(zone.hm.format(new Date(Date.parse(a.ts_event))))}</span> — ${escapeHtml(a.message)}</li>`).join("");
}

// ---- the heatmap: every symbol, one cell each, coloured by its change ----

const heat = { cells: [], size: 0, cols: 0 };

function changeColor(pct) {
  const x = Math.max(-1, Math.min(1, pct / 2));
  const mix = (a, b) => Math.round(a + (b - a) * Math.abs(x));
  const [r, g, b] = x >= 0 ? [26, 127, 55] : [192, 57, 43];
  return `rgb(${mix(244, r)},${mix(245, g)},${mix(247, b)})`;
}

function renderHeatmap() {
  const canvas = $("heatmap");
  const width = canvas.parentElement.clientWidth;
  const n = overview.symbols.length;
  if (!n || !width) return;
  // Square cells sized so that every symbol fits in about 180 px of height.
  const size = Math.max(6, Math.min(40, Math.floor(Math.sqrt((width * 180) / n))));
  const cols = Math.max(1, Math.floor(width / size));
  const height = Math.ceil(n / cols) * size;
  const ratio = window.devicePixelRatio || 1;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    canvas.style.height = height + "px";
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  const gap = size > 8 ? 1 : 0;
  overview.symbols.forEach((r, i) => {
    const x = (i % cols) * size, y = Math.floor(i / cols) * size;
    ctx.fillStyle = changeColor(r.change_pct);
    ctx.fillRect(x, y, size - gap, size - gap);
    if (r.symbol === selected) {
      ctx.strokeStyle = "#1d2430"; ctx.lineWidth = 2;
      ctx.strokeRect(x + 1, y + 1, size - gap - 2, size - gap - 2);
    }
  });
  Object.assign(heat, { cells: overview.symbols, size, cols });
}

function cellAt(event) {
  const rect = $("heatmap").getBoundingClientRect();
  const col = Math.floor((event.clientX - rect.left) / heat.size), row = Math.floor((event.clientY - rect.top) / heat.size);
  if (col < 0 || col >= heat.cols) return null;
  return heat.cells[row * heat.cols + col] || null;
}

// ---- the chart: candles with Bollinger bands and alert markers, volume, predictions ----

const chart = LC.createChart($("chart"), {
  autoSize: true,
  layout: { textColor: "#5b6573", fontSize: 12, panes: { separatorColor: "#e3e6ea" } },
  grid: { vertLines: { color: "#f3f4f6" }, horzLines: { color: "#f3f4f6" } },
  rightPriceScale: { borderColor: "#e3e6ea" },
  timeScale: {
    borderColor: "#e3e6ea", timeVisible: true, secondsVisible: false, rightOffset: 4,
    // TickMarkType: 0 year, 1 month, 2 day of month, 3 time, 4 time with seconds.
    tickMarkFormatter: (time, type) => (type <= 2 ? zone.day : zone.hm).format(at(time)),
  },
  localization: { timeFormatter: (time) => zone.full.format(at(time)) },
});
const candles = chart.addSeries(LC.CandlestickSeries, {
  upColor: "#1a7f37", downColor: "#c0392b", wickUpColor: "#1a7f37", wickDownColor: "#c0392b", borderVisible: false,
});
const band = (color) => chart.addSeries(LC.LineSeries, {
  color, lineWidth: 1, priceLineVisible: false, lastValueVisible: false, crosshairMarkerVisible: false,
});
const bands = { upper: band("#9db3de"), middle: band("#6f8fcf"), lower: band("#9db3de") };
const volume = chart.addSeries(LC.HistogramSeries, { priceFormat: { type: "volume" }, priceLineVisible: false, lastValueVisible: false }, 1);
const bp = { type: "custom", minMove: 0.1, formatter: (x) => x.toFixed(1) + " bp" };
const realized = chart.addSeries(LC.HistogramSeries, { priceFormat: bp, priceLineVisible: false, lastValueVisible: false }, 2);
const predicted = chart.addSeries(LC.LineSeries, {
  color: "#1f6feb", lineWidth: 2, pointMarkersVisible: true, priceFormat: bp, priceLineVisible: false, lastValueVisible: false,
}, 2);
const markers = LC.createSeriesMarkers(candles, []);
chart.panes()[0].setStretchFactor(3);
chart.panes()[1].setStretchFactor(1);
chart.panes()[2].setStretchFactor(1.2);

/// What the chart shows: its symbol, the last candle drawn, and the detail it came from.
const shown = { symbol: null, lastT: -Infinity, detail: null, alertsByT: new Map(), candleByT: new Map() };

function drawDetail(d) {
  const fresh = shown.symbol !== d.symbol;
  const volumeBar = (c) => ({ time: c.t, value: c.volume, color: c.close >= c.open ? "rgba(26,127,55,.45)" : "rgba(192,57,43,.45)" });
  const bandPoint = (c, key) => (c[key] === null ? { time: c.t } : { time: c.t, value: c[key] });
  if (fresh) {
    candles.setData(d.candles.map((c) => ({ time: c.t, open: c.open, high: c.high, low: c.low, close: c.close })));
    volume.setData(d.candles.map(volumeBar));
    for (const key of ["upper", "middle", "lower"]) bands[key].setData(d.candles.map((c) => bandPoint(c, key)));
  } else {
    // Only the open candle and any that closed since: update() keeps the user's scroll and zoom.
    for (const c of d.candles.filter((c) => c.t >= shown.lastT)) {
      candles.update({ time: c.t, open: c.open, high: c.high, low: c.low, close: c.close });
      volume.update(volumeBar(c));
      for (const key of ["upper", "middle", "lower"]) bands[key].update(bandPoint(c, key));
    }
  }
  predicted.setData(d.predictions.map((p) => ({ time: p.t, value: p.predicted * 1e4 })));
  realized.setData(d.predictions.filter((p) => p.realized !== null).map((p) => ({
    time: p.t, value: p.realized * 1e4, color: p.realized * p.predicted > 0 ? "rgba(26,127,55,.55)" : "rgba(192,57,43,.55)",
  })));
  const first = d.candles.length ? d.candles[0].t : Infinity;
  const alertsByT = new Map();
  for (const a of d.alerts.filter((a) => a.t >= first)) alertsByT.set(a.t, [...(alertsByT.get(a.t) || []), a]);
  markers.setMarkers([...alertsByT].map(([t, list]) => ({
    time: t,
    position: "aboveBar",
    shape: "arrowDown",
    color: list.some((a) => a.kind === "price_drop") ? "#c0392b" : list.some((a) => a.kind === "model_anomaly") ? "#8250df" : "#bf8700",
    text: list.length > 1 ? `${kindLabel(list[0].kind)} +${list.length - 1}` : kindLabel(list[0].kind),
  })));
  Object.assign(shown, {
    symbol: d.symbol, detail: d, alertsByT,
    lastT: d.candles.length ? d.candles[d.candles.length - 1].t : -Infinity,
    candleByT: new Map(d.candles.map((c) => [c.t, c])),
  });
  $("detail-symbol").textContent = d.symbol;
  renderLegend(hoverT);
  document.body.dataset.chartSymbol = d.symbol;
  document.body.dataset.chartCandles = candles.data().length;
  document.body.dataset.chartMarkers = alertsByT.size;
  document.body.dataset.chartPredictions = predicted.data().length;
}

/// The candle under the mouse, if any.
let hoverT = null;

/// The legend: the hovered candle (or the last), its alerts' full text, and the model's
/// record on this symbol.
function renderLegend(t) {
  const d = shown.detail;
  if (!d) return;
  const c = shown.candleByT.get(t) || d.candles[d.candles.length - 1];
  const parts = [];
  if (c) {
    parts.push(`<b>${escapeHtml(zone.full.format(at(c.t)))}</b> O ${fmt(c.open, 2)} H ${fmt(c.high, 2)} L ${fmt(c.low, 2)} ` +
      `C ${fmt(c.close, 2)} V ${Math.round(c.volume).toLocaleString("en-US")}`);
  }
  const p = d.predictions.find((p) => p.t === (c && c.t));
  if (p) parts.push(`predicted ${fmt(p.predicted * 1e4, 1)} bp, then ${p.realized === null ? "pending" : fmt(p.realized * 1e4, 1) + " bp"}`);
  if (d.matured) parts.push(`sign right ${fmt((100 * d.hits) / d.matured, 1)} % of ${d.matured} matured predictions`);
  const alerts = (c && shown.alertsByT.get(c.t)) || [];
  const text = alerts.map((a) => `<div class="alert-text">▼ <b>${escapeHtml(kindLabel(a.kind))}</b> ${escapeHtml(a.message)}</div>`);
  $("legend").innerHTML = parts.join(" · ") + text.join("");
}

chart.subscribeCrosshairMove((param) => {
  hoverT = param.time ?? null;
  renderLegend(hoverT);
});

let detailInFlight = false;
async function renderDetail() {
  if (!selected || detailInFlight) return;
  detailInFlight = true;
  try {
    const res = await fetch(withToken("api/symbol?s=" + encodeURIComponent(selected)));
    if (res.ok) {
      const d = await res.json();
      if (d.symbol === selected) drawDetail(d);
    }
  } finally {
    detailInFlight = false;
  }
}

// ---- wiring ----

function select(symbol) {
  if (!symbol || symbol === selected) return;
  selected = symbol;
  const url = new URL(location.href);
  url.searchParams.set("s", symbol);
  history.replaceState(null, "", url);
  renderTable(); revealSelected(); renderHeatmap(); renderDetail();
}

function onOverview(data) {
  overview = data;
  setZone(overview.time_zone);
  if (!overview.symbols.some((r) => r.symbol === selected) && overview.symbols.length) {
    // A symbol named in the URL that has not ticked yet stays selected until it does.
    if (!selected || !params.get("s")) selected = overview.symbols[0].symbol;
  }
  const first = !document.body.dataset.updates;
  renderHeader(); renderHeatmap(); renderTable(); renderFeed(); renderDetail();
  if (first) revealSelected();
  document.body.dataset.version = overview.version;
  document.body.dataset.updates = Number(document.body.dataset.updates || 0) + 1;
  if (!document.body.dataset.firstRenderMs) document.body.dataset.firstRenderMs = Math.round(performance.now());
}

document.querySelector("#symbols thead").addEventListener("click", (e) => {
  const key = e.target.dataset.key;
  if (!key) return;
  sortDesc = key === sortKey ? !sortDesc : key !== "symbol";
  sortKey = key;
  renderTable();
});
document.querySelector("#symbols tbody").addEventListener("click", (e) => {
  const row = e.target.closest("tr");
  if (row) select(row.dataset.symbol);
});
$("feed").addEventListener("click", (e) => {
  const item = e.target.closest("li");
  if (item) select(item.dataset.symbol);
});
$("heatmap").addEventListener("click", (e) => { const r = cellAt(e); if (r) select(r.symbol); });
$("heatmap").addEventListener("mousemove", (e) => {
  const r = cellAt(e), tip = $("tip");
  if (!r) { tip.style.display = "none"; return; }
  tip.textContent = `${r.symbol} ${fmt(r.price, 2)} (${r.change_pct >= 0 ? "+" : ""}${fmt(r.change_pct, 2)} %)`;
  const box = $("heatmap-box").getBoundingClientRect();
  tip.style.display = "block";
  tip.style.left = Math.min(e.clientX - box.left + 12, box.width - tip.offsetWidth) + "px";
  tip.style.top = e.clientY - box.top + 14 + "px";
});
$("heatmap").addEventListener("mouseleave", () => { $("tip").style.display = "none"; });
$("filter").addEventListener("input", renderTable);
$("table-box").addEventListener("scroll", onTableScroll);
window.addEventListener("resize", () => overview && renderHeatmap());

// The server embeds the overview as of the page request, so the first paint needs no
// round trip; the event stream takes over from there.
const initial = document.getElementById("initial");
if (initial) onOverview(JSON.parse(initial.textContent));
else fetch(withToken("api/overview")).then((r) => r.json()).then(onOverview);
const events = new EventSource(withToken("events"));
events.addEventListener("overview", (e) => onOverview(JSON.parse(e.data)));
events.onopen = () => { $("status").textContent = "live"; $("status").className = ""; };
events.onerror = () => { $("status").textContent = "reconnecting…"; $("status").className = "off"; };
