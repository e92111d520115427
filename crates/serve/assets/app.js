// tickloop live dashboard: one EventSource for the overview (at most once a second), a
// fetch for the selected symbol's detail. No libraries: the page must work offline.
"use strict";

const token = new URLSearchParams(location.search).get("token");
const withToken = (url) => (token ? url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : url);
const $ = (id) => document.getElementById(id);

let overview = null;
let sortKey = "symbol";
let sortDesc = false;
let selected = null;

const fmt = (x, digits) => (x === null || x === undefined || !isFinite(x) ? "—" : Number(x).toFixed(digits));
const escapeHtml = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

function renderTable() {
  if (!overview) return;
  const filter = $("filter").value.trim().toUpperCase();
  const rows = overview.symbols.filter((r) => !filter || r.symbol.toUpperCase().includes(filter));
  rows.sort((a, b) => {
    const x = a[sortKey] ?? -Infinity, y = b[sortKey] ?? -Infinity;
    const c = x < y ? -1 : x > y ? 1 : 0;
    return sortDesc ? -c : c;
  });
  const html = rows.map((r) => {
    const dir = r.change_pct > 0 ? "up" : r.change_pct < 0 ? "down" : "";
    const pred = r.prediction === null ? "—" : (r.prediction > 0 ? "▲ " : r.prediction < 0 ? "▼ " : "") + fmt(r.prediction * 1e4, 1) + " bp";
    const badge = r.alerts > 0 ? `<span class="badge" title="${escapeHtml(r.last_alert || "")}">${r.alerts}</span>` : "";
    const sel = r.symbol === selected ? ' class="sel"' : "";
    return `<tr data-symbol="${escapeHtml(r.symbol)}"${sel}><td>${escapeHtml(r.symbol)}</td><td class="price">${fmt(r.price, 2)}</td>` +
      `<td class="${dir}">${fmt(r.change_pct, 2)}</td><td>${Math.round(r.volume).toLocaleString("en-US")}</td>` +
      `<td>${pred}</td><td>${badge}</td></tr>`;
  });
  document.querySelector("#symbols tbody").innerHTML = html.join("");
  $("shown").textContent = `${rows.length} of ${overview.symbols.length}`;
}

function renderHeader() {
  $("market-time").textContent = overview.market_time.replace("T", " ").replace("Z", "");
  $("ticks").textContent = overview.ticks.toLocaleString("en-US");
  const h = overview.health;
  $("rate").textContent = fmt(h.ticks_per_sec, 0);
  $("latency").textContent = h.e2e_p50_ms || h.e2e_p99_ms ? `${fmt(h.e2e_p50_ms, 1)} / ${fmt(h.e2e_p99_ms, 1)} ms` : "—";
  $("dead").textContent = h.dead_letters;
  $("lag").textContent = h.consumer_lag.toLocaleString("en-US");
}

function renderFeed() {
  $("feed").innerHTML = overview.alerts.slice(0, 100).map((a) =>
    `<li><span class="k">${escapeHtml(a.symbol)}</span> ${escapeHtml(a.kind.replace("_", " "))} ` +
    `<span style="color: var(--muted)">${escapeHtml(a.ts_event.slice(11, 19))}</span> — ${escapeHtml(a.message)}</li>`).join("");
}

async function renderDetail() {
  if (!selected) return;
  const res = await fetch(withToken("api/symbol?s=" + encodeURIComponent(selected)));
  if (!res.ok) return;
  const d = await res.json();
  $("detail-symbol").textContent = d.symbol;
  drawChart($("chart"), d.points, d.alerts);
}

function drawChart(canvas, points, alerts) {
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height, padL = 70, padR = 10, padY = 20;
  ctx.clearRect(0, 0, W, H);
  if (points.length < 2) return;
  const values = points.flatMap((p) => [p.close, p.lower, p.upper]).filter((v) => v !== null);
  let lo = Math.min(...values), hi = Math.max(...values);
  if (hi === lo) { hi += 1; lo -= 1; }
  const x = (i) => padL + (i / (points.length - 1)) * (W - padL - padR);
  const y = (v) => padY + ((hi - v) / (hi - lo)) * (H - 2 * padY);
  ctx.font = "20px system-ui"; ctx.fillStyle = "#5b6573"; ctx.strokeStyle = "#e3e6ea"; ctx.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const v = lo + ((hi - lo) * i) / 4;
    ctx.beginPath(); ctx.moveTo(padL, y(v)); ctx.lineTo(W - padR, y(v)); ctx.stroke();
    ctx.fillText(v.toFixed(2), 4, y(v) + 6);
  }
  const line = (key, color, width) => {
    ctx.beginPath(); ctx.strokeStyle = color; ctx.lineWidth = width;
    let started = false;
    points.forEach((p, i) => {
      if (p[key] === null) { started = false; return; }
      if (started) ctx.lineTo(x(i), y(p[key])); else { ctx.moveTo(x(i), y(p[key])); started = true; }
    });
    ctx.stroke();
  };
  line("upper", "#b7c6e6", 2); line("lower", "#b7c6e6", 2); line("middle", "#8aa4d6", 2); line("close", "#1f6feb", 3);
  const index = new Map(points.map((p, i) => [p.ts, i]));
  ctx.fillStyle = "#c0392b";
  for (const a of alerts) {
    const i = index.get(a.ts_event);
    if (i === undefined) continue;
    const px = x(i), py = y(points[i].close) - 12;
    ctx.beginPath(); ctx.moveTo(px, py); ctx.lineTo(px - 7, py - 12); ctx.lineTo(px + 7, py - 12); ctx.fill();
  }
}

function onOverview(data) {
  overview = data;
  if (!selected && overview.symbols.length) selected = overview.symbols[0].symbol;
  renderHeader(); renderTable(); renderFeed(); renderDetail();
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
  if (!row) return;
  selected = row.dataset.symbol;
  renderTable(); renderDetail();
});
$("filter").addEventListener("input", renderTable);

// The server embeds the overview as of the page request, so the first paint needs no
// round trip; the event stream takes over from there.
const initial = document.getElementById("initial");
if (initial) onOverview(JSON.parse(initial.textContent));
else fetch(withToken("api/overview")).then((r) => r.json()).then(onOverview);
const events = new EventSource(withToken("events"));
events.addEventListener("overview", (e) => onOverview(JSON.parse(e.data)));
events.onopen = () => { $("status").textContent = "live"; $("status").className = ""; };
events.onerror = () => { $("status").textContent = "reconnecting…"; $("status").className = "off"; };
