// faultdx client code shared by both pages (loaded before app.js on the inspection page and before assets.js on
// the asset page): the one palette and names of the answers, the API call with the X-API-Key header, element
// helpers, and axis ticks with labels that show their step. Plain script, no dependencies, no other host.
"use strict";

// ---------------------------------------------------------------------------------------------- answers
// Okabe-Ito palette (distinguishable with the common colour-vision deficiencies); a fault type and the defect
// frequency that betrays it share one colour (inner race <-> BPFI, outer race <-> BPFO, ball <-> BSF).
const FAULT_TYPES = ["normal", "ball", "inner_race", "outer_race"];
const FAULT_COLOUR = {
  normal: "#009E73", ball: "#E69F00", inner_race: "#D55E00", outer_race: "#0072B2",
  uncertain: "#56B4E9", unknown: "#888888", bad_signal: "#444444",
};
const FAULT_NAME = {
  normal: "Healthy", ball: "Ball fault", inner_race: "Inner-race fault", outer_race: "Outer-race fault",
  uncertain: "Abnormal, type uncertain", unknown: "Unknown condition", bad_signal: "Bad signal (check the sensor)",
};
const OTHER_COLOUR = "#333333"; // an answer this palette does not know (a model with other classes)
const colourOfType = (type) => FAULT_COLOUR[type] || OTHER_COLOUR;
const nameOfType = (type) => FAULT_NAME[type] || String(type).replace(/_/g, " ");

// ---------------------------------------------------------------------------------------------- elements
const $ = (id) => document.getElementById(id);
const SVG_NS = "http://www.w3.org/2000/svg";

/** A new element (``svg:rect`` for SVG) with attributes and, if given, its text. */
function el(tag, attrs = {}, text) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG_NS, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Text made safe to put inside HTML. */
const esc = (t) => String(t).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

// ---------------------------------------------------------------------------------------------- API
const API_KEY_STORAGE = "faultdx-api-key"; // one key for both pages, kept in this browser only
const apiKey = () => localStorage.getItem(API_KEY_STORAGE) || "";
const setApiKey = (key) => localStorage.setItem(API_KEY_STORAGE, key.trim());
let unauthorisedHook = () => {};
/** Called with the error when the service answers 401/403 (the inspection page then shows its key field). */
function onUnauthorised(hook) { unauthorisedHook = hook; }

class ApiError extends Error {
  constructor(message, status, field) { super(message); this.status = status; this.field = field; }
}

/** The service's error body -> one readable sentence (handles {detail: str | [{loc, msg}] | {...}} and {error}). */
function errorText(body, status) {
  const one = (d) => {
    if (d == null) return "";
    if (typeof d === "string") return d;
    if (Array.isArray(d)) return d.map(one).filter(Boolean).join("; ");
    if (typeof d === "object") {
      const msg = d.message || d.msg || d.detail || d.error;
      const field = d.field || (Array.isArray(d.loc) ? d.loc.filter((x) => x !== "body").join(".") : d.loc);
      if (msg && typeof msg !== "string") return one(msg);
      if (msg) return field && !String(msg).includes(String(field)) ? `${field}: ${msg}` : msg;
      return JSON.stringify(d);
    }
    return String(d);
  };
  const text = one(body && (body.error ?? body.detail ?? body.message ?? body));
  return text || `HTTP ${status}`;
}

/** One call to the service: ``json`` or ``form`` as the body, the API key if one is set; an error -> ApiError. */
async function api(path, { method = "GET", json, form } = {}) {
  const headers = { Accept: "application/json" };
  const key = apiKey();
  if (key) headers["X-API-Key"] = key;
  let body;
  if (json !== undefined) { headers["Content-Type"] = "application/json"; body = JSON.stringify(json); }
  if (form !== undefined) body = form;
  let res;
  try {
    res = await fetch(path, { method, headers, body });
  } catch (e) {
    throw new ApiError(`The service could not be reached (${e.message}).`, 0);
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!res.ok) {
    const err = new ApiError(errorText(data, res.status), res.status, data && data.field);
    if (res.status === 401 || res.status === 403) unauthorisedHook(err);
    throw err;
  }
  return data;
}

// ---------------------------------------------------------------------------------------------- axes
/** A round step (1, 2 or 5 × a power of ten) giving about ``count`` intervals over ``range``. */
function niceStep(range, count) {
  const raw = range / Math.max(1, count);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const n = raw / mag;
  return (n < 1.5 ? 1 : n < 3 ? 2 : n < 7 ? 5 : 10) * mag;
}

/** Tick values at a round step from ``lo`` to ``hi``. */
function ticks(lo, hi, count) {
  if (!(hi > lo)) return [lo];
  const step = niceStep(hi - lo, count);
  const out = [];
  for (let i = Math.ceil(lo / step - 1e-9); i * step <= hi + step * 1e-9; i++) out.push(i === 0 ? 0 : i * step);
  return out;
}

/** Decimals a step needs to show: 0 for 5, 1 for 2.5, 2 for 0.05 or 0.25. */
function stepDecimals(step) {
  for (let d = 0; d < 10; d++) {
    const scaled = Math.abs(step) * 10 ** d;
    if (Math.abs(scaled - Math.round(scaled)) <= 1e-6 * Math.max(1, scaled)) return d;
  }
  return 10;
}

/** Labels of evenly spaced ticks, all with the decimals their step needs: steps of 0.05 read 0.10, 0.15, 0.20
 *  (never 0.1, 0.1, 0.2); very large or very small values in exponent form with the digits the step needs. */
function tickLabels(values) {
  if (!values.length) return [];
  const step = values.length > 1 ? Math.abs(values[1] - values[0]) : Math.abs(values[0]) || 1;
  const top = Math.max(...values.map(Math.abs));
  if (top >= 1e6 || (step > 0 && step < 1e-4)) {
    const power = Math.floor(Math.log10(step || top));
    const digits = Math.min(6, Math.floor(Math.log10(top)) - power + stepDecimals((step || top) / 10 ** power));
    return values.map((v) => (v === 0 ? "0" : v.toExponential(digits)));
  }
  const d = stepDecimals(step);
  return values.map((v) => v.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d }));
}
