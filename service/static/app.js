// faultdx inspection page: plain JS + canvas, no dependencies, talks only to the public /v1 API.
// common.js (loaded first) holds the palette and names of the answers, api(), $/el/esc and the axis ticks.
"use strict";

// ---------------------------------------------------------------------------------------------- constants
const DEFECTS = [
  { key: "shaft", name: "Shaft 1×", colour: "#6b7785" },
  { key: "ftf", name: "FTF (cage)", colour: "#CC79A7" },
  { key: "bsf", name: "BSF (ball spin)", colour: FAULT_COLOUR.ball },  // a line shares its fault type's colour
  { key: "bpfo", name: "BPFO (outer race)", colour: FAULT_COLOUR.outer_race },
  { key: "bpfi", name: "BPFI (inner race)", colour: FAULT_COLOUR.inner_race },
];
const VIRIDIS = ["#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725"];
const RDBU = ["#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7", "#fddbc7", "#f4a582", "#d6604d", "#b2182b"];
const INK = "#1d2733", INK2 = "#4a5663", GRID = "#e6ebf0", FONT = '11px system-ui, "DejaVu Sans", sans-serif';

// ---------------------------------------------------------------------------------------------- state
const state = {
  source: "example",
  models: [],          // [{name, version, classes, window, sampling_rate, ...}]
  defaultModel: null,
  examples: [],        // [{name, title, group, label, sampling_rate, rpm, bearing, unit}]
  bearings: [],        // the catalogue: [{name, balls, ball_diameter_mm, pitch_diameter_mm, contact_angle_deg, source}]
  exampleCache: new Map(),
  result: null,        // {diag, env, sourceName, unit, model}
  window: 0,           // selected window of the current result
  ref: null,           // {caption, rows}
  refCache: new Map(),
  hiddenDefects: new Set(["ftf"]),  // the cage line is rarely what a reliability engineer looks for first
  runSeq: 0,
};

// ---------------------------------------------------------------------------------------------- labels
function faultTypeOf(label) {
  for (const t of FAULT_TYPES) if (label === t || String(label).startsWith(t + "_")) return t;
  return null;
}
function prettyLabel(label) {
  const t = faultTypeOf(label);
  if (!t) return String(label);
  const size = String(label).slice(t.length + 1);
  const inches = /^\d+$/.test(size) ? ` · 0.${size} in` : size ? ` · ${size}` : "";
  return FAULT_NAME[t] + inches;
}
function colourOf(label) { return FAULT_COLOUR[faultTypeOf(label)] || FAULT_COLOUR.unknown; }
const pct = (p) => (100 * p).toFixed(1) + " %";
function fmtNum(v, digits = 3) {
  if (!Number.isFinite(v)) return "—";
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(2);
  return Number(v.toPrecision(digits)).toLocaleString("en-US", { maximumFractionDigits: 6 });
}

// ---------------------------------------------------------------------------------------------- canvas helpers
function setupCanvas(canvas, cssHeight) {
  const dpr = window.devicePixelRatio || 1;
  if (!canvas.dataset.h) canvas.dataset.h = canvas.getAttribute("height");
  const h = cssHeight ?? Number(canvas.dataset.h);
  const w = Math.max(50, Math.floor(canvas.clientWidth || canvas.parentElement.clientWidth));
  canvas.style.height = h + "px";
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  ctx.font = FONT;
  return { ctx, w, h };
}
/** Grid, tick labels and axis titles; returns value->pixel maps for the plot box. */
function axes(ctx, box, [x0, x1], [y0, y1], { xTitle, yTitle, xCount = 8, yCount = 4 }) {
  const X = (v) => box.l + ((v - x0) / (x1 - x0 || 1)) * (box.r - box.l);
  const Y = (v) => box.b - ((v - y0) / (y1 - y0 || 1)) * (box.b - box.t);
  ctx.save();
  ctx.strokeStyle = GRID; ctx.lineWidth = 1; ctx.fillStyle = INK2; ctx.font = FONT;
  ctx.textAlign = "center"; ctx.textBaseline = "top";
  const xTicks = ticks(x0, x1, xCount), xLabels = tickLabels(xTicks);
  xTicks.forEach((v, i) => {
    const x = Math.round(X(v)) + 0.5;
    ctx.beginPath(); ctx.moveTo(x, box.t); ctx.lineTo(x, box.b); ctx.stroke();
    ctx.fillText(xLabels[i], x, box.b + 4);
  });
  ctx.textAlign = "right"; ctx.textBaseline = "middle";
  const yTicks = ticks(y0, y1, yCount), yLabels = tickLabels(yTicks);
  yTicks.forEach((v, i) => {
    const y = Math.round(Y(v)) + 0.5;
    ctx.beginPath(); ctx.moveTo(box.l, y); ctx.lineTo(box.r, y); ctx.stroke();
    ctx.fillText(yLabels[i], box.l - 5, y);
  });
  ctx.strokeStyle = "#b9c3ce";
  ctx.strokeRect(box.l + 0.5, box.t + 0.5, box.r - box.l, box.b - box.t);
  ctx.fillStyle = INK2; ctx.textAlign = "right"; ctx.textBaseline = "bottom";
  if (xTitle) ctx.fillText(xTitle, box.r, box.b + 30);
  if (yTitle) {
    ctx.translate(12, (box.t + box.b) / 2); ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "center"; ctx.textBaseline = "middle"; ctx.fillText(yTitle, 0, 0);
  }
  ctx.restore();
  return { X, Y };
}
function placeholder(canvas, text) {
  const { ctx, w, h } = setupCanvas(canvas);
  ctx.fillStyle = "#f7f9fb"; ctx.fillRect(0, 0, w, h);
  ctx.fillStyle = "#8a96a3"; ctx.textAlign = "center"; ctx.textBaseline = "middle";
  ctx.fillText(text, w / 2, h / 2);
  canvas.dataset.drawn = "0";
}
function lerpColour(stops, t) {
  t = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0));
  const f = t * (stops.length - 1), i = Math.min(stops.length - 2, Math.floor(f)), u = f - i;
  const a = hexRgb(stops[i]), b = hexRgb(stops[i + 1]);
  return `rgb(${a.map((c, k) => Math.round(c + (b[k] - c) * u)).join(",")})`;
}
function hexRgb(h) { return [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)); }
function colourbar(el, stops, lo, hi, title) {
  el.innerHTML = "";
  const ramp = document.createElement("span");
  ramp.className = "ramp";
  ramp.style.background = `linear-gradient(to right, ${stops.join(",")})`;
  el.append(`${title}  ${fmtNum(lo)}`, ramp, fmtNum(hi));
}
const tip = {
  show(ev, text) { const t = $("tooltip"); t.textContent = text; t.hidden = false; t.style.left = ev.clientX + 14 + "px"; t.style.top = ev.clientY + 12 + "px"; },
  hide() { $("tooltip").hidden = true; },
};

// ---------------------------------------------------------------------------------------------- result panels
function renderVerdict() {
  const { diag, sourceName, env } = state.result;
  const r = diag.results[0];
  const type = r.fault_type || faultTypeOf(r.label);
  const v = $("verdict");
  v.innerHTML = "";
  const chip = document.createElement("span");
  chip.className = "chip"; chip.style.background = FAULT_COLOUR[type] || colourOf(r.label);
  v.append(chip, (FAULT_NAME[type] || prettyLabel(r.label)) + (r.severity ? ` · ${r.severity}` : ""));
  v.dataset.label = r.label;
  v.dataset.faultType = type;
  v.dataset.source = state.result.sourceKind;
  v.dataset.run = String(state.runSeq);
  const wins = r.windows || [];
  const agree = wins.filter((w) => (w.fault_type || faultTypeOf(w.label)) === type).length;
  const model = diag.model || {};
  const dur = env && env.waveform ? `${fmtNum(env.waveform.duration_s)} s at ${fmtNum(env.sampling_rate, 6)} Hz · ` : "";
  const ev = r.evidence ? ` · evidence: <b>${esc(r.evidence.defect_frequency)}</b> at ${fmtNum(r.evidence.hz, 5)} Hz` : "";
  const sev = r.severity ? `<br><span class="muted small">severity ${esc(r.severity)}: ${esc(r.severity_note || "")}</span>` : "";
  const unknown = r.unknown_score == null ? "" :
    ` · unknown-condition score <b>${fmtNum(r.unknown_score, 3)}</b>` +
    (type === "unknown" ? ` (above 1; closest: ${esc(r.closest_fault_type)})` : "");
  const quality = r.signal_quality && !r.signal_quality.ok ?
    `signal refused (closest: ${esc(r.closest_fault_type)}): ` +
    r.signal_quality.problems.map((p) => `<b>${esc(p.kind)}</b> ${esc(p.message)}`).join("; ") + "<br>" : "";
  const dl = r.defect_lines;
  const lines = dl && dl.needed != null ?
    `<span id="defect-lines" class="muted small">defect lines in the recording: strongest <b>${fmtNum(dl.strongest, 3)}</b>x ` +
    `their floor (a fault needs ${fmtNum(dl.needed, 3)}x: ${dl.stand_out ? "they stand out" : "none stands out, so faults are capped"})</span><br>` : "";
  $("verdict-meta").innerHTML = quality +
    `fault type <b>${esc(type)}</b> · confidence <b>${pct(r.confidence)}</b>${ev}${unknown}<br>` + lines +
    `class <b>${esc(r.label)}</b>${sev}<br>` +
    `${dur}<b>${agree}</b> of ${wins.length} windows agree<br>` +
    `<span class="badge">${esc(model.name || "model")} ${model.version ? "v" + esc(model.version) : ""}</span>`;
  renderMachine(r.machine);
  renderEnvelopeVerdict();
  $("verdict-source").textContent = "· " + sourceName;
  const bars = $("prob-bars");
  bars.innerHTML = "";
  const classes = Object.keys(r.probabilities);
  for (const c of classes) {
    const p = r.probabilities[c];
    const name = document.createElement("span");
    name.className = "name" + (c === r.label ? " top" : ""); name.textContent = c; name.title = prettyLabel(c);
    const track = document.createElement("span"); track.className = "track";
    const bar = document.createElement("span"); bar.className = "bar";
    bar.style.width = (100 * p).toFixed(2) + "%"; bar.style.background = colourOf(c);
    bar.style.opacity = c === r.label ? "1" : "0.55";
    track.append(bar);
    const val = document.createElement("span"); val.className = "val"; val.textContent = pct(p);
    bars.append(name, track, val);
  }
}


/** The machine context the verdict was reached with: rpm (given or estimated) and bearing (given or the model's). */
function renderMachine(m) {
  const box = $("machine-info");
  if (!m) { box.textContent = "machine context: none (speed not given and not estimable)"; return; }
  const b = m.bearing || {};
  const name = b.name || `custom (${b.balls} balls, ${fmtNum(b.ball_diameter_mm)} / ${fmtNum(b.pitch_diameter_mm)} mm)`;
  const rpmText = { estimated: "estimated from the signal", refined: "nominal, refined from the signal",
    nominal: "the model's nominal speed" }[m.rpm_source] || "given";
  const bearingText = m.bearing_source === "model" ? "the model's training bearing" : "given";
  const f = m.defect_frequencies_hz || {};
  box.innerHTML = `machine: <b>${fmtNum(m.rpm, 5)} rpm</b> (${rpmText}) · bearing <b>${esc(name)}</b> (${bearingText})` +
    `<br><span class="muted small">BPFO ${fmtNum(f.bpfo, 5)} Hz · BPFI ${fmtNum(f.bpfi, 5)} Hz · BSF ${fmtNum(f.bsf, 5)} Hz` +
    (m.rpm_estimate_accuracy ? ` · speed estimate: ${esc(m.rpm_estimate_accuracy)}` : "") + "</span>";
  box.dataset.rpmSource = m.rpm_source;
  box.dataset.bearing = b.name || "custom";
}

/** The verdict of the "envelope" reference model, beside the network's, when the server has it loaded. */
function renderEnvelopeVerdict() {
  const box = $("envelope-verdict");
  const ref = state.result && state.result.reference;
  box.hidden = !ref;
  if (!ref) return;
  if (ref.error) { box.textContent = `envelope reference: ${ref.error}`; return; }
  const r = ref.results[0];
  const agree = r.fault_type === state.result.diag.results[0].fault_type;
  box.innerHTML = `envelope reference: <b>${esc(FAULT_NAME[r.fault_type] || r.fault_type)}</b> · confidence ${pct(r.confidence)}` +
    (r.evidence ? ` · ${esc(r.evidence.defect_frequency)} at ${fmtNum(r.evidence.hz, 5)} Hz` : "") +
    ` <span class="badge">${agree ? "agrees" : "differs"}</span>`;
  box.dataset.faultType = r.fault_type;
}

// ---------------------------------------------------------------------------------------------- bearing
/** The bearing to send: undefined (the model's own), a catalogue name, or a geometry object. */
function bearingValue() {
  const sel = $("bearing-select").value;
  if (sel === "") return undefined;
  if (sel !== "__custom__") return sel;
  return {
    balls: parseInt($("bearing-balls").value, 10),
    ball_diameter_mm: parseFloat($("bearing-ball").value),
    pitch_diameter_mm: parseFloat($("bearing-pitch").value),
    contact_angle_deg: parseFloat($("bearing-angle").value) || 0,
  };
}
function onBearingChange() {
  const sel = $("bearing-select").value;
  $("bearing-custom").hidden = sel !== "__custom__";
  const b = state.bearings.find((x) => x.name === sel);
  $("bearing-source").textContent = b ? `${b.balls} balls · ${fmtNum(b.ball_diameter_mm)} / ${fmtNum(b.pitch_diameter_mm)} mm · ${b.source || ""}`
    : sel === "" ? "the model's own bearing (its training rig)" : "your geometry (diameters in mm)";
}
function fillBearings() {
  const sel = $("bearing-select");
  sel.innerHTML = "";
  const m = modelMeta($("model-select").value);
  const own = m.bearing && m.bearing.name ? ` (${m.bearing.name})` : "";
  sel.append(Object.assign(document.createElement("option"), { value: "", textContent: `model's bearing${own}` }));
  for (const b of state.bearings) sel.append(Object.assign(document.createElement("option"), { value: b.name, textContent: b.name }));
  sel.append(Object.assign(document.createElement("option"), { value: "__custom__", textContent: "custom geometry…" }));
  onBearingChange();
}

function modelMeta(name) {
  return state.models.find((m) => m.name === name) || state.models[0] || {};
}
/** Window geometry in seconds: starts count samples of the signal as sent; lengths are at the model's rate. */
function windowTimes() {
  const { diag, model, inputRate } = state.result;
  const meta = modelMeta(model);
  const span = (meta.window || 2048) / (meta.sampling_rate || 12000);
  return (diag.results[0].windows || []).map((w) => ({ t0: w.start / inputRate, t1: w.start / inputRate + span, w }));
}

function renderWaveform() {
  const canvas = $("waveform");
  const env = state.result.env;
  if (!env || !env.waveform) return placeholder(canvas, "waveform unavailable");
  const wf = env.waveform;
  const { ctx, w, h } = setupCanvas(canvas);
  const box = { l: 62, r: w - 10, t: 8, b: h - 36 };
  const peak = Math.max(1e-12, ...wf.max.map(Math.abs), ...wf.min.map(Math.abs)) * 1.05;
  const { X, Y } = axes(ctx, box, [0, wf.duration_s], [-peak, peak], { xTitle: "time (s)", yTitle: state.result.unit, yCount: 4 });
  const times = windowTimes(), sel = times[state.window];
  if (sel) {
    ctx.fillStyle = "rgba(11, 92, 173, 0.12)";
    ctx.fillRect(X(sel.t0), box.t, Math.max(2, X(sel.t1) - X(sel.t0)), box.b - box.t);
  }
  ctx.strokeStyle = "#2f4a66"; ctx.lineWidth = 1;
  ctx.beginPath();
  const n = wf.min.length;
  for (let i = 0; i < n; i++) {
    const x = X(((i + 0.5) / n) * wf.duration_s);
    ctx.moveTo(x, Y(wf.max[i])); ctx.lineTo(x, Math.max(Y(wf.min[i]), Y(wf.max[i]) + 0.5));
  }
  ctx.stroke();
  canvas.dataset.drawn = "1";
  renderStrip(box);
}

function renderStrip(plotBox) {
  const canvas = $("windows-strip");
  const { ctx, w, h } = setupCanvas(canvas);
  const times = windowTimes();
  const dur = state.result.env && state.result.env.waveform ? state.result.env.waveform.duration_s
    : times.length ? times[times.length - 1].t1 : 1;
  const box = { l: plotBox ? plotBox.l : 62, r: plotBox ? plotBox.r : w - 10, t: 4, b: h - 18 };
  const X = (t) => box.l + (t / dur) * (box.r - box.l);
  ctx.fillStyle = "#f2f5f8"; ctx.fillRect(box.l, box.t, box.r - box.l, box.b - box.t);
  times.forEach((tw, i) => {
    const next = times[i + 1] ? Math.min(times[i + 1].t0, tw.t1) : tw.t1;
    ctx.globalAlpha = 0.3 + 0.7 * tw.w.confidence;
    ctx.fillStyle = colourOf(tw.w.label);
    ctx.fillRect(X(tw.t0), box.t, Math.max(1, X(next) - X(tw.t0) - (times.length < 200 ? 1 : 0)), box.b - box.t);
  });
  ctx.globalAlpha = 1;
  const sel = times[state.window];
  if (sel) {
    ctx.strokeStyle = INK; ctx.lineWidth = 2;
    ctx.strokeRect(X(sel.t0), box.t - 1, Math.max(3, X(sel.t1) - X(sel.t0)), box.b - box.t + 2);
  }
  ctx.fillStyle = INK2; ctx.textBaseline = "top"; ctx.textAlign = "left";
  ctx.fillText(`per-window verdicts (${times.length} windows; shade = confidence) — click to choose a window`, box.l, box.b + 4);
  canvas._hit = { X, box, times };
  canvas.dataset.drawn = "1";
}

function renderEnvelope() {
  const canvas = $("envelope");
  const env = state.result.env;
  if (!env || !env.frequencies) return placeholder(canvas, state.result.envError || "envelope spectrum unavailable");
  const f = env.frequencies, a = env.amplitude;
  const { ctx, w, h } = setupCanvas(canvas);
  const box = { l: 62, r: w - 10, t: 38, b: h - 36 };
  const fmax = f[f.length - 1];
  let amax = 1e-12;
  for (let i = 0; i < a.length; i++) if (f[i] > 2 && a[i] > amax) amax = a[i];  // skip the DC bin
  const { X, Y } = axes(ctx, box, [0, fmax], [0, amax * 1.08], {
    xTitle: "frequency (Hz)", yTitle: "envelope (× floor)", xCount: 10,
  });
  // defect-frequency markers under the trace; labels go in the first of three rows where they do not collide
  const rows = [[], [], []];
  const place = (x, text) => {
    const half = ctx.measureText(text).width / 2 + 2;
    const r = rows.findIndex((row) => row.every(([a, b]) => x + half < a || x - half > b));
    if (r < 0) return null;
    rows[r].push([x - half, x + half]);
    return box.t - 2 - 11 * r;
  };
  ctx.save();
  ctx.beginPath(); ctx.rect(box.l, 0, box.r - box.l, box.b); ctx.clip();
  const lines = [];
  for (const d of DEFECTS) {
    const fam = env.defects && env.defects[d.key];
    if (!fam || state.hiddenDefects.has(d.key)) continue;
    fam.harmonics.forEach((hz, k) => { if (hz <= fmax) lines.push({ d, hz, k }); });
  }
  lines.sort((p, q) => p.k - q.k);  // fundamentals claim the label rows first
  for (const { d, hz, k } of lines) {
    const x = Math.round(X(hz)) + 0.5;
    ctx.strokeStyle = d.colour; ctx.lineWidth = k === 0 ? 1.6 : 1.1;
    ctx.setLineDash(k === 0 ? [6, 3] : [2, 3]);
    ctx.beginPath(); ctx.moveTo(x, box.t); ctx.lineTo(x, box.b); ctx.stroke();
    ctx.setLineDash([]);
    const text = k === 0 ? (d.key === "shaft" ? "1×" : d.key.toUpperCase()) : `${k + 1}×${d.key === "shaft" ? "" : d.key.toUpperCase()}`;
    ctx.font = k === 0 ? "bold " + FONT : FONT;
    const y = place(x, text);
    if (y !== null) {
      ctx.fillStyle = d.colour; ctx.textAlign = "center"; ctx.textBaseline = "bottom";
      ctx.fillText(text, x, y);
    }
  }
  ctx.font = FONT;
  ctx.restore();
  ctx.save();
  ctx.beginPath(); ctx.rect(box.l, box.t, box.r - box.l, box.b - box.t); ctx.clip();
  ctx.strokeStyle = INK; ctx.lineWidth = 1.1;
  ctx.beginPath();
  for (let i = 0; i < f.length; i++) { const x = X(f[i]), y = Y(a[i]); i ? ctx.lineTo(x, y) : ctx.moveTo(x, y); }
  ctx.stroke();
  ctx.restore();
  canvas._hit = { X, box, f, a, fmax };
  canvas.dataset.drawn = "1";
}

function renderDefectLegend() {
  const env = state.result && state.result.env;
  const legend = $("defect-legend");
  legend.innerHTML = "";
  const table = $("defect-table");
  table.innerHTML = "";
  if (!env || !env.defects) return;
  for (const d of DEFECTS) {
    if (!env.defects[d.key]) continue;
    const b = document.createElement("button");
    b.type = "button"; b.className = "ghost small"; b.setAttribute("aria-pressed", String(!state.hiddenDefects.has(d.key)));
    b.style.opacity = state.hiddenDefects.has(d.key) ? "0.45" : "1";
    b.innerHTML = `<span class="ln" style="border-color:${d.colour}"></span>${d.name}`;
    b.title = "show / hide these markers";
    b.onclick = () => {
      state.hiddenDefects.has(d.key) ? state.hiddenDefects.delete(d.key) : state.hiddenDefects.add(d.key);
      renderDefectLegend(); renderEnvelope();
    };
    legend.append(b);
  }
  const n = Math.max(...DEFECTS.map((d) => (env.defects[d.key] ? env.defects[d.key].harmonics.length : 0)));
  const band = env.band ? ` · band ${fmtNum(env.band[0], 5)}–${fmtNum(env.band[1], 5)} Hz` : " · full band";
  let html = `<tr><th>${env.bearing ? env.bearing.name || "bearing" : "bearing"} at ${fmtNum(env.rpm, 5)} rpm${band}</th>`;
  for (let k = 1; k <= n; k++) html += `<th>${k}× (Hz)</th>`;
  html += "</tr>";
  for (const d of DEFECTS) {
    const fam = env.defects[d.key];
    if (!fam) continue;
    html += `<tr><td><span class="legend"><span class="sw" style="background:${d.colour}"></span>${d.name}</span></td>`;
    for (let k = 0; k < n; k++) html += `<td>${fam.harmonics[k] != null ? fam.harmonics[k].toFixed(1) : ""}</td>`;
    html += "</tr>";
  }
  table.innerHTML = html;
}

// ---------------------------------------------------------------------------------------------- slopes
/** Slopes of one window as heatmap rows: [{name, values}] in network order. */
function slopeRows(diag, win) {
  const slopes = diag.results[0].slopes || {};
  return Object.entries(slopes).map(([name, perWindow]) => ({ name, values: perWindow[Math.min(win, perWindow.length - 1)] || [] }));
}
function slopeRange(diag) {
  let lo = Infinity, hi = -Infinity;
  for (const perWindow of Object.values(diag.results[0].slopes || {}))
    for (const row of perWindow) for (const v of row) { if (v < lo) lo = v; if (v > hi) hi = v; }
  return Number.isFinite(lo) ? [lo, hi] : [0, 1];
}
const shortLayer = (name) => name.replace(/stage/g, "s").replace(/block/g, "b").replace(/act/g, "a").replace(/\./g, "·");

function drawHeatmap(canvas, rows, { lo, hi, stops, compact = false, title = "α" }) {
  if (!rows.length) return placeholder(canvas, "this model has no per-sample slopes (not APReLU)");
  const maxC = Math.max(...rows.map((r) => r.values.length));
  const cellH = compact ? 13 : 17, top = 4, bottom = 26;
  const { ctx, w } = setupCanvas(canvas, top + rows.length * cellH + bottom);
  ctx.font = FONT;
  const labels = rows.map((r) => (compact ? shortLayer(r.name) : r.name));
  const labelW = Math.ceil(Math.max(...labels.map((s) => ctx.measureText(s).width))) + 10;
  const x0 = labelW, x1 = w - 6, cellW = (x1 - x0) / maxC;
  const scale = (v) => lerpColour(stops, (v - lo) / (hi - lo || 1));
  rows.forEach((r, i) => {
    const y = top + i * cellH;
    ctx.fillStyle = "#eef1f4";
    ctx.fillRect(x0, y, x1 - x0, cellH - 1);
    for (let j = 0; j < r.values.length; j++) {
      const a = Math.floor(x0 + j * cellW), b = Math.floor(x0 + (j + 1) * cellW);
      ctx.fillStyle = scale(r.values[j]);
      ctx.fillRect(a, y, Math.max(1, b - a), cellH - 1);
    }
    ctx.fillStyle = INK2; ctx.textAlign = "right"; ctx.textBaseline = "middle";
    ctx.fillText(labels[i], labelW - 6, y + cellH / 2);
  });
  ctx.fillStyle = INK2; ctx.textAlign = "center"; ctx.textBaseline = "top";
  const yAxis = top + rows.length * cellH + 3;
  for (const c of ticks(0, maxC - 1, compact ? 4 : 8)) ctx.fillText(String(c), x0 + (c + 0.5) * cellW, yAxis);
  ctx.textAlign = "right";
  ctx.fillText("channel", x1, yAxis + 12);
  canvas._hit = { x0, x1, top, cellW, cellH, rows, title };
  canvas.dataset.drawn = "1";
  canvas.dataset.rows = String(rows.length);
  canvas.dataset.cols = String(maxC);
}
function heatmapHover(canvas) {
  canvas.addEventListener("mousemove", (ev) => {
    const hit = canvas._hit;
    if (!hit || !hit.rows) return tip.hide();
    const r = canvas.getBoundingClientRect();
    const x = ev.clientX - r.left, y = ev.clientY - r.top;
    const i = Math.floor((y - hit.top) / hit.cellH), j = Math.floor((x - hit.x0) / hit.cellW);
    const row = hit.rows[i];
    if (!row || j < 0 || j >= row.values.length) return tip.hide();
    tip.show(ev, `${row.name}\nchannel ${j}\n${hit.title} = ${row.values[j].toFixed(4)}`);
  });
  canvas.addEventListener("mouseleave", tip.hide);
}

function renderSlopes() {
  const { diag } = state.result;
  const rows = slopeRows(diag, state.window);
  const [lo, hi] = slopeRange(diag);
  const n = (diag.results[0].windows || []).length;
  $("slope-window").textContent = n ? `${state.window + 1} of ${n}` : "—";
  drawHeatmap($("heatmap"), rows, { lo, hi, stops: VIRIDIS });
  if (rows.length) colourbar($("heat-colorbar"), VIRIDIS, lo, hi, "slope α (range over all windows of this signal)");
  else $("heat-colorbar").innerHTML = "";
  $("pin-button").disabled = !rows.length;
  renderCompare();
}

function renderCompare() {
  const res = state.result;
  const a = res ? slopeRows(res.diag, state.window) : [];
  const b = state.ref ? state.ref.rows : [];
  const tw = res ? windowTimes()[state.window] : null;
  $("cmp-a-caption").textContent = res ? `A: ${res.sourceName}, window ${state.window + 1}${tw ? ` (${tw.t0.toFixed(2)} s)` : ""}` : "A: —";
  $("cmp-b-caption").textContent = state.ref ? `B: ${state.ref.caption}` : state.refError ? `B: ${state.refError}` : "B: —";
  if (!a.length) { placeholder($("cmp-a"), "no slopes"); } 
  if (!b.length) { placeholder($("cmp-b"), state.refError || "choose a reference sample"); }
  if (!a.length || !b.length) {
    placeholder($("cmp-diff"), "needs A and B");
    if (a.length) drawHeatmap($("cmp-a"), a, { lo: 0, hi: 1, stops: VIRIDIS, compact: true });
    return;
  }
  const same = a.length === b.length && a.every((r, i) => r.name === b[i].name && r.values.length === b[i].values.length);
  let lo = Infinity, hi = -Infinity;
  for (const r of [...a, ...b]) for (const v of r.values) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  drawHeatmap($("cmp-a"), a, { lo, hi, stops: VIRIDIS, compact: true });
  drawHeatmap($("cmp-b"), b, { lo, hi, stops: VIRIDIS, compact: true });
  colourbar($("cmp-colorbar"), VIRIDIS, lo, hi, "α (A and B)");
  if (!same) {
    placeholder($("cmp-diff"), "A and B come from different models");
    $("diff-colorbar").innerHTML = ""; $("cmp-summary").textContent = "";
    return;
  }
  const diff = a.map((r, i) => ({ name: r.name, values: r.values.map((v, j) => v - b[i].values[j]) }));
  let m = 1e-9;
  for (const r of diff) for (const v of r.values) m = Math.max(m, Math.abs(v));
  drawHeatmap($("cmp-diff"), diff, { lo: -m, hi: m, stops: RDBU, compact: true, title: "Δα" });
  colourbar($("diff-colorbar"), RDBU, -m, m, "Δα = A − B");
  const perLayer = diff.map((r) => ({ name: r.name, mad: r.values.reduce((s, v) => s + Math.abs(v), 0) / (r.values.length || 1) }));
  const all = diff.flatMap((r) => r.values);
  const overall = all.reduce((s, v) => s + Math.abs(v), 0) / (all.length || 1);
  const top = [...perLayer].sort((p, q) => q.mad - p.mad).slice(0, 3);
  $("cmp-summary").innerHTML = `Mean |Δα| over ${all.length} channels: <b>${overall.toFixed(4)}</b>. ` +
    `Layers where A and B differ most: ${top.map((t) => `<b>${t.name}</b> (${t.mad.toFixed(4)})`).join(", ")}.`;
}

async function loadReference() {
  const sel = $("ref-select").value;
  state.refError = null;
  if (sel === "__pinned__") { renderCompare(); return; }
  const model = $("model-select").value;
  const key = `${model}|${sel}`;
  try {
    if (!state.refCache.has(key)) {
      const ex = await getExample(sel);
      const diag = await api("/v1/diagnose", {
        method: "POST",
        json: { signals: [ex.signal], sampling_rate: ex.sampling_rate, model, include_slopes: true, rpm: ex.rpm || undefined, bearing: ex.bearing || undefined },
      });
      const title = (state.examples.find((e) => e.name === sel) || {}).title || sel;
      state.refCache.set(key, { caption: `${title}, window 1 (→ ${diag.results[0].windows[0].label})`, rows: slopeRows(diag, 0) });
    }
    state.ref = state.refCache.get(key);
  } catch (e) {
    state.ref = null; state.refError = e.message;
  }
  renderCompare();
}

function pinWindow() {
  const res = state.result;
  if (!res) return;
  const w = (res.diag.results[0].windows || [])[state.window];
  state.ref = { caption: `${res.sourceName}, window ${state.window + 1} (pinned${w ? `, → ${w.label}` : ""})`, rows: slopeRows(res.diag, state.window) };
  let opt = $("ref-select").querySelector('option[value="__pinned__"]');
  if (!opt) {
    opt = document.createElement("option"); opt.value = "__pinned__";
    $("ref-select").prepend(opt);
  }
  opt.textContent = "Pinned: " + state.ref.caption;
  $("ref-select").value = "__pinned__";
  renderCompare();
}

// ---------------------------------------------------------------------------------------------- running a diagnosis
async function getExample(name) {
  if (!state.exampleCache.has(name)) state.exampleCache.set(name, api(`/v1/examples/${encodeURIComponent(name)}`));
  try { return await state.exampleCache.get(name); } catch (e) { state.exampleCache.delete(name); throw e; }
}
const numOrNull = (el) => { const v = parseFloat(el.value); return Number.isFinite(v) ? v : null; };

function showError(title, message) {
  const box = $("error-box");
  box.innerHTML = "";
  const t = document.createElement("strong"); t.textContent = title;
  const m = document.createElement("span"); m.id = "error-message"; m.textContent = message;
  box.append(t, m);
  box.hidden = false;
}
function clearError() { $("error-box").hidden = true; $("error-box").innerHTML = ""; }
function setBusy(busy) {
  $("diagnose-button").disabled = busy;
  $("diagnose-button").textContent = busy ? "Diagnosing…" : "Diagnose";
  document.querySelector(".results").classList.toggle("busy", busy);
}
function markStale() {
  state.result = null;
  const v = $("verdict"); v.textContent = "No diagnosis"; v.dataset.label = ""; v.dataset.run = String(state.runSeq);
  $("verdict-meta").textContent = "The last request failed — see the message on the left.";
  $("verdict-source").textContent = ""; $("prob-bars").innerHTML = "";
  $("machine-info").textContent = ""; $("envelope-verdict").hidden = true;
  for (const id of ["waveform", "windows-strip", "envelope", "heatmap"]) placeholder($(id), "—");
  $("defect-legend").innerHTML = ""; $("defect-table").innerHTML = ""; $("heat-colorbar").innerHTML = "";
  $("window-info").textContent = ""; $("slope-window").textContent = "—";
  $("pin-button").disabled = true;
  renderCompare();
}

async function runDiagnosis() {
  const seq = ++state.runSeq, kind = state.source;
  clearError();
  const model = $("model-select").value || undefined;
  const rate = numOrNull($("rate-input")), rpm = numOrNull($("rpm-input"));
  // a nominal speed with a tolerance is refined from the signal; the envelope then uses the refined speed
  const tolerance = rpm != null ? numOrNull($("rpm-tolerance-input")) : null;
  const exactRpm = tolerance == null ? rpm : null;
  const bandLow = numOrNull($("band-low")), bandHigh = numOrNull($("band-high"));
  const band = bandLow != null || bandHigh != null ? [bandLow, bandHigh] : undefined;
  const bearing = bearingValue();
  const reference = state.models.some((m) => m.name === "envelope") && model !== "envelope";
  const estimated = (p) => p.then((d) => (d.results[0].machine || {}).rpm ?? null);  // rpm the diagnosis used
  let diagP, envP, refP, sourceName, inputRate = rate, unit = "amplitude";
  if (kind === "file") {
    const file = $("file-input").files[0];
    if (!file) { showError("No file", "Choose a signal file (CSV, NPY, WAV, MAT or Parquet) first."); return; }
    const channel = $("channel-input").value.trim();
    const form = (extra, speed = rpm, which = model, tol = tolerance) => {
      const fd = new FormData();
      fd.append("file", file, file.name);
      if (rate != null) fd.append("sampling_rate", String(rate));
      if (speed != null) fd.append("rpm", String(speed));
      if (speed != null && tol != null) fd.append("rpm_tolerance", String(tol));
      if (which) fd.append("model", which);
      if (bearing !== undefined) fd.append("bearing", typeof bearing === "string" ? bearing : JSON.stringify(bearing));
      if (channel) fd.append("channel", channel);
      for (const [k, v] of Object.entries(extra)) fd.append(k, v);
      return fd;
    };
    sourceName = file.name;
    diagP = api("/v1/diagnose/file", { method: "POST", form: form({ include_slopes: "true" }) });
    const bandForm = band ? { band_low: String(bandLow ?? ""), band_high: String(bandHigh ?? "") } : {};
    const envelopeAt = (speed) => api("/v1/envelope/file", { method: "POST", form: form(bandForm, speed, model, null) });
    envP = exactRpm != null ? envelopeAt(exactRpm) : estimated(diagP).then(envelopeAt);
    if (reference) refP = api("/v1/diagnose/file", { method: "POST", form: form({}, rpm, "envelope") });
  } else {
    const name = $("example-select").value;
    const meta = state.examples.find((e) => e.name === name) || {};
    sourceName = meta.title || name;
    unit = meta.unit || unit;
    setBusy(true);
    let ex;
    try { ex = await getExample(name); } catch (e) {
      if (seq === state.runSeq) { setBusy(false); showError("Could not load the example", e.message); }
      return;
    }
    const fs = rate ?? ex.sampling_rate;
    inputRate = fs;
    const body = { signals: [ex.signal], sampling_rate: fs, rpm: rpm ?? undefined, rpm_tolerance: tolerance ?? undefined, bearing };
    diagP = api("/v1/diagnose", { method: "POST", json: { ...body, model, include_slopes: true } });
    const envelopeAt = (speed) => api("/v1/envelope", { method: "POST", json: { signal: ex.signal, sampling_rate: fs, rpm: speed ?? undefined, model, band, bearing } });
    envP = exactRpm != null ? envelopeAt(exactRpm) : estimated(diagP).then(envelopeAt);
    if (reference) refP = api("/v1/diagnose", { method: "POST", json: { ...body, model: "envelope" } });
  }
  setBusy(true);
  const [d, e, ref] = await Promise.allSettled([diagP, envP, refP]);
  if (seq !== state.runSeq) return;  // a newer run started meanwhile
  setBusy(false);
  if (d.status === "rejected") {
    showError(`Could not diagnose ${sourceName}` + (d.reason.status ? ` (HTTP ${d.reason.status})` : ""), d.reason.message);
    markStale();
    return;
  }
  state.result = {
    diag: d.value, env: e.status === "fulfilled" ? e.value : null, envError: e.status === "rejected" ? e.reason.message : null,
    sourceName, sourceKind: kind, unit, model: (d.value.model && d.value.model.name) || model,
    inputRate: inputRate ?? (e.status === "fulfilled" ? e.value.sampling_rate : null) ?? modelMeta(model).sampling_rate,
    reference: refP === undefined ? null : ref.status === "fulfilled" ? ref.value : { error: ref.reason.message },
  };
  if (e.status === "rejected") showError("Envelope spectrum not computed", e.reason.message);
  // start on the most confident window of the verdict's class
  const wins = d.value.results[0].windows || [], verdict = d.value.results[0].fault_type;
  const rank = (w) => (w.fault_type === verdict ? 1 : 0) + w.confidence / 2;
  state.window = wins.reduce((best, w, i) => (rank(w) > rank(wins[best]) ? i : best), 0);
  renderAll();
  if ($("ref-select").value !== "__pinned__" && !state.ref) loadReference();
}

function renderAll() {
  if (!state.result) return;
  renderVerdict();
  renderWaveform();
  renderEnvelope();
  renderDefectLegend();
  renderSlopes();
  const tw = windowTimes()[state.window];
  $("window-info").textContent = tw
    ? `Window ${state.window + 1}: ${tw.t0.toFixed(3)}–${tw.t1.toFixed(3)} s → ${prettyLabel(tw.w.label)} (${pct(tw.w.confidence)})`
    : "";
}

// ---------------------------------------------------------------------------------------------- setup
function fillSelect(select, items, { group, value, text }) {
  select.innerHTML = "";
  const groups = new Map();
  for (const it of items) {
    const g = group ? group(it) : "";
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g).push(it);
  }
  for (const [g, list] of groups) {
    const parent = g ? Object.assign(document.createElement("optgroup"), { label: g }) : select;
    for (const it of list) parent.append(Object.assign(document.createElement("option"), { value: value(it), textContent: text(it) }));
    if (g) select.append(parent);
  }
}
function onExampleChange() {
  const ex = state.examples.find((e) => e.name === $("example-select").value);
  if (!ex) return;
  $("rate-input").value = ex.sampling_rate;
  if (ex.rpm) $("rpm-input").value = ex.rpm;
  if (ex.bearing && state.bearings.some((b) => b.name === ex.bearing)) { $("bearing-select").value = ex.bearing; onBearingChange(); }
  $("example-hint").textContent = `${ex.description || ex.title} · ${fmtNum(ex.sampling_rate, 6)} Hz${ex.rpm ? ` · ${fmtNum(ex.rpm, 5)} rpm` : ""}`;
}
function onModelChange() {
  const m = modelMeta($("model-select").value);
  const b = m.bearing;
  $("bearing-hint").textContent = `${(m.classes || []).length} classes · window ${m.window || "?"} samples at ${fmtNum(m.sampling_rate || 0, 6)} Hz` +
    (b ? ` · trained on bearing ${b.name || "(custom geometry)"}` : "") + (m.needs_context ? " · reads rpm and bearing" : "");
  const keep = $("bearing-select").value;
  fillBearings();
  if ([...$("bearing-select").options].some((o) => o.value === keep)) { $("bearing-select").value = keep; onBearingChange(); }
}
function setSource(src) {
  state.source = src;
  for (const b of document.querySelectorAll(".tabs button")) b.setAttribute("aria-selected", String(b.dataset.source === src));
  $("panel-example").hidden = src !== "example";
  $("panel-file").hidden = src !== "file";
  if (src === "example") onExampleChange();
  else $("rate-input").value = "";  // a file's own rate (WAV header, fs variable, CWRU catalogue) unless typed
}

async function init() {
  for (const b of document.querySelectorAll(".tabs button")) b.addEventListener("click", () => setSource(b.dataset.source));
  $("diagnose-form").addEventListener("submit", (ev) => { ev.preventDefault(); runDiagnosis(); });
  $("example-select").addEventListener("change", onExampleChange);
  $("bearing-select").addEventListener("change", onBearingChange);
  $("model-select").addEventListener("change", () => { onModelChange(); state.ref = null; if ($("ref-select").value !== "__pinned__") loadReference(); });
  $("ref-select").addEventListener("change", loadReference);
  $("pin-button").addEventListener("click", pinWindow);
  $("apikey-input").addEventListener("input", () => setApiKey($("apikey-input").value));
  onUnauthorised(() => { $("apikey-box").hidden = false; });
  const fileInput = $("file-input"), dz = $("dropzone");
  fileInput.addEventListener("change", () => { $("file-name").textContent = fileInput.files[0] ? fileInput.files[0].name : "no file chosen"; });
  dz.addEventListener("dragover", (ev) => { ev.preventDefault(); dz.classList.add("over"); });
  dz.addEventListener("dragleave", () => dz.classList.remove("over"));
  dz.addEventListener("drop", (ev) => {
    ev.preventDefault(); dz.classList.remove("over");
    if (ev.dataTransfer.files.length) { fileInput.files = ev.dataTransfer.files; fileInput.dispatchEvent(new Event("change")); }
  });
  const strip = $("windows-strip");
  strip.addEventListener("click", (ev) => {
    const hit = strip._hit;
    if (!hit || !hit.times.length) return;
    const x = ev.clientX - strip.getBoundingClientRect().left;
    let best = 0, bestD = Infinity;
    hit.times.forEach((tw, i) => { const d = Math.abs((hit.X(tw.t0) + hit.X(tw.t1)) / 2 - x); if (d < bestD) { bestD = d; best = i; } });
    state.window = best;
    renderAll();
  });
  strip.addEventListener("mousemove", (ev) => {
    const hit = strip._hit;
    if (!hit) return;
    const x = ev.clientX - strip.getBoundingClientRect().left;
    const i = hit.times.findIndex((tw) => x >= hit.X(tw.t0) && x < hit.X(tw.t1));
    if (i < 0) return tip.hide();
    const w = hit.times[i].w;
    tip.show(ev, `window ${i + 1} · ${hit.times[i].t0.toFixed(3)} s\n${prettyLabel(w.label)} · ${pct(w.confidence)}`);
  });
  strip.addEventListener("mouseleave", tip.hide);
  strip.addEventListener("keydown", (ev) => {
    const n = state.result ? (state.result.diag.results[0].windows || []).length : 0;
    const step = { ArrowLeft: -1, ArrowRight: 1, PageUp: -10, PageDown: 10, Home: -Infinity, End: Infinity }[ev.key];
    if (!n || step === undefined) return;
    ev.preventDefault();
    state.window = Math.min(n - 1, Math.max(0, state.window + step));
    renderAll();
  });
  const envc = $("envelope");
  envc.addEventListener("mousemove", (ev) => {
    const hit = envc._hit;
    if (!hit) return;
    const x = ev.clientX - envc.getBoundingClientRect().left;
    if (x < hit.box.l || x > hit.box.r) return tip.hide();
    const fq = ((x - hit.box.l) / (hit.box.r - hit.box.l)) * hit.fmax;
    let lo = 0, hi = hit.f.length - 1;
    while (hi - lo > 1) { const mid = (lo + hi) >> 1; hit.f[mid] < fq ? (lo = mid) : (hi = mid); }
    tip.show(ev, `${hit.f[lo].toFixed(2)} Hz\n${fmtNum(hit.a[lo])} × floor`);
  });
  envc.addEventListener("mouseleave", tip.hide);
  for (const id of ["heatmap", "cmp-a", "cmp-b", "cmp-diff"]) heatmapHover($(id));
  let resizeTimer;
  window.addEventListener("resize", () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(() => { renderAll(); renderCompare(); }, 120); });

  const legend = $("fault-legend");
  for (const t of FAULT_TYPES) legend.insertAdjacentHTML("beforeend", `<span><span class="sw" style="background:${FAULT_COLOUR[t]}"></span>${FAULT_NAME[t]}</span>`);
  for (const id of ["waveform", "windows-strip", "envelope", "heatmap"]) placeholder($(id), "no signal yet");
  renderCompare();

  const status = $("service-status");
  try {
    const [models, examples, bearings] = await Promise.all([
      api("/v1/models"), api("/v1/examples"), api("/v1/bearings").catch(() => ({ bearings: [] })),
    ]);
    state.bearings = bearings.bearings || [];
    state.models = Array.isArray(models) ? models : models.models || models.data || [];
    state.defaultModel = (!Array.isArray(models) && models.default) || (state.models.find((m) => m.default) || state.models[0] || {}).name;
    state.examples = Array.isArray(examples) ? examples : examples.examples || [];
  } catch (e) {
    status.innerHTML = '<span class="dot bad"></span>service unavailable';
    showError("The service did not answer", e.message);
    return;
  }
  status.innerHTML = `<span class="dot ok"></span>service ready · ${state.models.length} model${state.models.length === 1 ? "" : "s"}`;
  fillSelect($("model-select"), state.models, { value: (m) => m.name, text: (m) => `${m.name}${m.version ? " v" + m.version : ""}${m.name === state.defaultModel ? " (default)" : ""}` });
  if (state.defaultModel) $("model-select").value = state.defaultModel;
  onModelChange();
  fillSelect($("example-select"), state.examples, { group: (e) => e.group, value: (e) => e.name, text: (e) => e.title });
  fillSelect($("ref-select"), state.examples, { group: (e) => e.group, value: (e) => e.name, text: (e) => e.title });
  const pick = (pred) => (state.examples.find(pred) || {}).name;
  const first = pick((e) => e.source === "dataset" && e.label === "inner_race_007") || pick((e) => e.label === "inner_race_007") || pick(() => true);
  const ref = pick((e) => e.source === "dataset" && e.label === "normal") || pick((e) => e.label === "normal") || first;
  if (first) $("example-select").value = first;
  if (ref) $("ref-select").value = ref;
  onExampleChange();
  if (first) await runDiagnosis();
}

document.addEventListener("DOMContentLoaded", init);
