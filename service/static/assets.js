// The asset page: every asset with its zone and open alarms; per asset the trend of velocity RMS (zones
// shaded, alarm marks) and of the fault-type probabilities, drawn as inline SVG, and its alarms (acknowledge
// with a note). Data: GET /v1/assets, GET /v1/assets/{id}/trend, POST /v1/alarms/{id}/acknowledge.
// common.js (loaded first) holds the palette of the answers, api(), $/el and the axis ticks and their labels.
"use strict";

const ZONE_FILL = { A: "#d8f3e3", B: "#eef6c8", C: "#ffe4bf", D: "#ffd0cb" };
const W = 760, H = 220, M = { left: 46, right: 12, top: 14, bottom: 26 };
let selected = null;

function zoneBadge(zone) {
  return el("span", { class: `zone zone-${zone || "none"}` }, zone || "–");
}

function when(iso) {
  return iso ? new Date(iso).toISOString().replace("T", " ").slice(0, 16) : "–";
}

function setStatus(text, ok = true) {
  $("status").replaceChildren(el("span", { class: `dot ${ok ? "ok" : "bad"}` }), text);
}

const PAGE = 100; // assets per request; "more" asks for the next page (GET /v1/assets?cursor=...)
let nextCursor = null;
let shown = [];

async function loadAssets(cursor = null) {
  const query = `v1/assets?limit=${PAGE}` + (cursor ? `&cursor=${encodeURIComponent(cursor)}` : "");
  const { assets, next_cursor: next } = await api(query);
  nextCursor = next;
  $("asset-more").hidden = !next;
  const body = $("asset-table").querySelector("tbody");
  if (!cursor) {
    body.replaceChildren();
    shown = [];
  }
  shown = shown.concat(assets);
  for (const a of assets) {
    const s = a.status || {};
    const latest = s.latest;
    const row = el("tr", { "data-name": a.name, "data-zone": s.zone || "", "data-alarms": String(s.open_alarms || 0),
                           "aria-selected": String(selected === a.id) });
    const name = el("td");
    name.append(el("strong", {}, a.name), el("div", { class: "hint" }, [a.location, a.sensor_position]
      .filter(Boolean).join(" · ")));
    const zone = el("td");
    zone.append(zoneBadge(s.zone));
    const alarms = el("td", { class: s.open_alarms ? "alarm-count" : "alarm-none" }, String(s.open_alarms || 0));
    const velocity = latest ? `${latest.indicators.velocity_rms.toFixed(2)} mm/s` : "–";
    row.append(name, el("td", {}, a.machine || "–"), zone, el("td", {}, velocity), alarms,
               el("td", {}, latest ? when(latest.measured_at) : "–"));
    row.addEventListener("click", () => select(a.id));
    body.append(row);
  }
  $("asset-empty").hidden = shown.length > 0;
  const open = shown.reduce((n, a) => n + ((a.status || {}).open_alarms || 0), 0);
  setStatus(`${shown.length}${next ? "+" : ""} assets · ${open} open alarms`);
  return shown;
}

async function showBaseline(id) {
  const { summary } = await api(`v1/assets/${id}/baseline`);
  const speeds = summary.speeds_rpm.map((r) => (r === null ? "unknown rpm" : `${r} rpm`)).join(", ");
  $("detail-baseline").dataset.recordings = String(summary.recordings);
  $("detail-baseline").textContent = summary.recordings
    ? `healthy baseline: ${summary.recordings} recordings, ${summary.windows} windows, at ${speeds}`
    : "no healthy baseline (POST /v1/assets/{id}/baseline or faultdx assets baseline NAME FILE...)";
}

function scale(d0, d1, r0, r1) {
  const span = d1 - d0 || 1;
  return (v) => r0 + ((v - d0) / span) * (r1 - r0);
}

function axes(svg, x, y, t0, t1, yTicks) {
  const g = el("svg:g", { class: "axes", "font-size": "10", fill: "#6b7785" });
  const labels = tickLabels(yTicks);
  yTicks.forEach((v, i) => {
    g.append(el("svg:line", { x1: M.left, x2: W - M.right, y1: y(v), y2: y(v), stroke: "#e6eaef" }));
    g.append(el("svg:text", { class: "y-tick", x: M.left - 5, y: y(v) + 3, "text-anchor": "end" }, labels[i]));
  });
  const day = 86400000;
  const step = Math.max(day, Math.ceil((t1 - t0) / day / 8) * day);
  for (let t = Math.ceil(t0 / day) * day; t <= t1; t += step) {
    g.append(el("svg:line", { x1: x(t), x2: x(t), y1: M.top, y2: H - M.bottom, stroke: "#eef1f5" }));
    g.append(el("svg:text", { x: x(t), y: H - M.bottom + 14, "text-anchor": "middle" },
                new Date(t).toISOString().slice(5, 10)));
  }
  svg.append(g);
}

function path(times, values, x, y) {
  let d = "";
  let pen = "M";
  values.forEach((v, i) => {
    if (v === null || v === undefined) { pen = "M"; return; }
    d += `${pen}${x(times[i]).toFixed(1)},${y(v).toFixed(1)} `;
    pen = "L";
  });
  return d.trim();
}

function velocityChart(trend, times, t0, t1) {
  const v = trend.series.velocity_rms;
  const limits = trend.limits;
  const top = Math.max(...v, limits ? limits.cd * 1.25 : 0, 0.1) * 1.05;
  const x = scale(t0, t1, M.left, W - M.right), y = scale(0, top, H - M.bottom, M.top);
  const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "velocity RMS trend" });
  if (limits) {
    const bands = [["A", 0, limits.ab], ["B", limits.ab, limits.bc], ["C", limits.bc, limits.cd], ["D", limits.cd, top]];
    for (const [zone, lo, hi] of bands) {
      svg.append(el("svg:rect", { class: `band band-${zone}`, x: M.left, width: W - M.left - M.right, y: y(hi),
                                  height: Math.max(0, y(lo) - y(hi)), fill: ZONE_FILL[zone] }));
      svg.append(el("svg:text", { x: W - M.right - 4, y: y(hi) + 12, "text-anchor": "end", "font-size": "11",
                                  fill: "#4a5663", "font-weight": "700" }, zone));
    }
  }
  axes(svg, x, y, t0, t1, ticks(0, top, 5));
  svg.append(el("svg:path", { id: "velocity-line", d: path(times, v, x, y), fill: "none", stroke: "#0b5cad",
                              "stroke-width": "1.8" }));
  if (v.length <= 400) {
    v.forEach((value, i) => svg.append(el("svg:circle", { cx: x(times[i]), cy: y(value), r: 2.4, fill: "#0b5cad" })));
  }
  let marks = 0;
  for (const alarm of trend.alarms) {
    const t = Date.parse(alarm.opened_at);
    if (t < t0 || t > t1) continue;
    const colour = alarm.kind === "zone" ? "#b3261e" : "#7a4200";
    const g = el("svg:g", { class: "alarm-mark", "data-kind": alarm.kind, "data-id": String(alarm.id) });
    g.append(el("svg:line", { x1: x(t), x2: x(t), y1: M.top, y2: H - M.bottom, stroke: colour,
                              "stroke-dasharray": "3 3" }));
    g.append(el("svg:path", { d: `M${x(t) - 6},${M.top - 2} L${x(t) + 6},${M.top - 2} L${x(t)},${M.top + 8} Z`,
                              fill: colour }));
    g.append(el("svg:title", {}, `${alarm.message} (opened ${when(alarm.opened_at)})`));
    svg.append(g);
    marks += 1;
  }
  svg.dataset.points = String(v.length);
  svg.dataset.alarms = String(marks);
  $("velocity-chart").replaceChildren(svg);
}

function probabilityChart(trend, times, t0, t1) {
  const x = scale(t0, t1, M.left, W - M.right), y = scale(0, 1, H - M.bottom, M.top);
  const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "fault-type probability trend" });
  axes(svg, x, y, t0, t1, [0, 0.25, 0.5, 0.75, 1]);
  const legend = $("prob-legend");
  legend.replaceChildren();
  let lines = 0;
  for (const [type, values] of Object.entries(trend.series.probabilities)) {
    const colour = colourOfType(type);
    svg.append(el("svg:path", { class: "prob-line", "data-type": type, d: path(times, values, x, y), fill: "none",
                                stroke: colour, "stroke-width": "1.6" }));
    const item = el("span");
    const swatch = el("i");
    swatch.style.background = colour;
    item.append(swatch, nameOfType(type));
    legend.append(item);
    lines += 1;
  }
  svg.dataset.lines = String(lines);
  $("prob-chart").replaceChildren(svg);
}

function alarmTable(alarms) {
  const body = $("alarm-table").querySelector("tbody");
  body.replaceChildren();
  for (const a of alarms) {
    const row = el("tr", { "data-id": String(a.id), "data-state": a.state });
    const note = el("td", {}, a.note || "");
    const action = el("td");
    if (!a.acknowledged_at) {
      const input = el("input", { class: "ack-note", type: "text", placeholder: "note", "aria-label": "note" });
      const button = el("button", { class: "ack-button", type: "button" }, "acknowledge");
      button.addEventListener("click", async () => {
        await api(`v1/alarms/${a.id}/acknowledge`, { method: "POST", json: { note: input.value || null } });
        await select(selected);
      });
      action.append(input, button);
    } else {
      action.append(el("span", { class: "hint" }, `acknowledged ${when(a.acknowledged_at)}`));
    }
    row.append(el("td", {}, when(a.opened_at)), el("td", {}, a.kind), el("td", {}, a.level),
               el("td", {}, a.message), el("td", {}, a.state === "open" ? "open" : `closed ${when(a.closed_at)}`),
               note, action);
    body.append(row);
  }
}

async function select(id) {
  selected = id;
  for (const row of $("asset-table").querySelectorAll("tbody tr")) row.setAttribute("aria-selected", "false");
  try {
    const trend = await api(`v1/assets/${id}/trend`);
    const detail = $("detail");
    detail.hidden = false;
    detail.dataset.drawn = "0";
    detail.dataset.asset = trend.asset.name;
    $("detail-title").textContent = trend.asset.name;
    const limits = trend.limits;
    $("detail-meta").textContent = `${trend.count} diagnoses · ` + (limits
      ? `zone limits ${limits.ab}/${limits.bc}/${limits.cd} mm/s (${limits.source.split(";")[0]})`
      : "no zone limits (give the asset an ISO group and support, or its own limits)");
    const row = $("asset-table").querySelector(`tbody tr[data-name="${CSS.escape(trend.asset.name)}"]`);
    if (row) row.setAttribute("aria-selected", "true");
    const times = trend.series.measured_at.map((t) => Date.parse(t));
    const t0 = times.length ? Math.min(...times) : Date.now() - 86400000;
    const t1 = times.length > 1 ? Math.max(...times) : t0 + 86400000;
    velocityChart(trend, times, t0, t1);
    probabilityChart(trend, times, t0, t1);
    alarmTable(trend.alarms);
    await showBaseline(id);
    detail.dataset.drawn = "1";
    history.replaceState(null, "", `?asset=${encodeURIComponent(trend.asset.name)}`);
  } catch (err) {
    setStatus(String(err.message || err), false);
  }
}

async function start() {
  try {
    const assets = await loadAssets();
    const wanted = new URLSearchParams(location.search).get("asset");
    const found = assets.find((a) => a.name === wanted || String(a.id) === wanted);
    if (!found && wanted) {
      await select(encodeURIComponent(wanted)); // beyond the first page: by name (or id)
      return;
    }
    const pick = found || assets.find((a) => (a.status || {}).open_alarms) || assets[0];
    if (pick) await select(pick.id);
  } catch (err) {
    setStatus(String(err.message || err), false);
  }
}

$("asset-more").addEventListener("click", () => loadAssets(nextCursor).catch((err) => setStatus(String(err), false)));
start();
