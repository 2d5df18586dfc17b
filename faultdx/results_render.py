"""Markdown tables generated from ``results/*.json``: nobody types a measured figure into README or a card.

A block ``<!-- results:NAME -->`` ... ``<!-- /results:NAME -->`` in README.md, ``docs/*.md`` or
``models/*/MODEL_CARD.md`` is replaced by ``RENDERERS[NAME]`` applied to ``results/NAME.json`` (via
:func:`faultdx.results.read_result`).
``faultdx results render`` rewrites the blocks; ``--check`` only says whether any would change.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from faultdx.atomic import write_text_atomic
from faultdx.paths import PROJECT_ROOT
from faultdx.results import read_result
from faultdx.results_plant import render_mqtt
from faultdx.results_rigout import render_rig_out, render_rig_out_calibration, render_rig_out_headline
from faultdx.results_signal import render_quality, render_speed_estimation, render_speed_fault_type

RENDER_COMMAND = "faultdx results render"
BLOCK = re.compile(r"(<!-- results:([A-Za-z0-9_.]+) -->\n)(.*?)(<!-- /results:\2 -->)", re.DOTALL)


def default_paths() -> list[Path]:
    """README.md, the docs and every model card of the checkout."""
    return [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md")),
            *sorted((PROJECT_ROOT / "models").glob("*/MODEL_CARD.md"))]


def render(paths: list[Path] | None = None, *, check: bool = False) -> list[Path]:
    """Regenerate every results block in ``paths`` (default: :func:`default_paths`); return the files that
    changed (with ``check``, that would change, left untouched)."""
    changed = []
    for path in paths or default_paths():
        text = Path(path).read_text(encoding="utf-8")
        new = render_text(text)
        if new != text:
            changed.append(Path(path))
            if not check:
                write_text_atomic(path, new)
    return changed


def render_text(text: str) -> str:
    """``text`` with every results block regenerated."""
    return BLOCK.sub(lambda m: m.group(1) + render_block(m.group(2)) + m.group(4), text)


def render_block(name: str) -> str:
    """The body of block ``name``: a source line, then the renderer's markdown (ends with a newline).

    ``NAME.view`` renders ``results/NAME.json`` with the renderer registered as ``NAME.view``."""
    if name in FROM_CODE:
        return f"_Generated from `{FROM_CODE[name][0]}` by `{RENDER_COMMAND}`; do not edit by hand._\n\n" + \
            FROM_CODE[name][1]()
    if name not in RENDERERS:
        raise ValueError(f"unknown results block {name!r}; known: {', '.join([*RENDERERS, *FROM_CODE])}")
    source = name.partition(".")[0]
    payload = read_result(source)
    head = f"_Generated from `results/{source}.json` by `{RENDER_COMMAND}`; do not edit by hand._\n\n"
    if payload is None:
        return head + f"Not measured yet (`results/{source}.json` is absent).\n"
    return head + RENDERERS[name](payload) + caption(payload)


def caption(payload: dict[str, Any]) -> str:
    """Where and how the figures were measured."""
    m = payload.get("machine") or {}
    machine = f"{m.get('cpu')}, {m.get('cores')} cores, torch {m.get('torch')}"
    if m.get("gpu"):
        machine += f", {m['gpu']}"
    return (f"\nMeasured at commit {payload.get('commit')}, {payload.get('date')}, on {machine}, by "
            f"`{payload.get('command')}`.\n")


def _pct(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}"


def _mean_std(s: dict[str, Any] | None) -> str:
    if not s or s.get("mean") is None:
        return "–"
    if s.get("std") is None:
        return _pct(s["mean"])  # one seed
    return f"{_pct(s['mean'])} ± {_pct(s['std'])}"


PROTOCOL_FIGURES = (
    ("type_accuracy", "Fault-type accuracy (%)"),
    ("type_macro_f1", "Fault-type macro-F1 (%)"),
    ("recording_accuracy", "Recordings right (%, mean window probability per recording)"),
    ("type_ece", "Expected calibration error of the fault-type confidence (%, 10 bins; lower is better)"),
)


def render_protocols(payload: dict[str, Any]) -> str:
    """Rows = protocol (fold count), columns = recipes and the envelope reference; each recipe cell is
    mean ± std over seeds of the last-epoch model, best-on-validation in parentheses."""
    data = payload["data"]
    recipes = list(data["recipes"])
    envelope = data.get("envelope") or {}
    faults_only = data.get("envelope_faults_only") or {}
    out = []
    for key, title in PROTOCOL_FIGURES:
        out += [f"{title}, last epoch (best-on-validation):", "",
                "| protocol | " + " | ".join(recipes) + " | envelope | envelope, no normal |",
                "|---" * (len(recipes) + 3) + "|"]
        for protocol, info in data["protocols"].items():
            cells = [f"{protocol} ({len(info['folds'])})"]
            for recipe in recipes:
                overall = data["summary"].get(protocol, {}).get(recipe, {}).get("overall", {})
                cells.append(f"{_mean_std(overall.get('last', {}).get(key))} "
                             f"({_mean_std(overall.get('best', {}).get(key))})")
            cells.append(_envelope_cell(envelope.get(protocol), key))
            cells.append(_envelope_cell(faults_only.get(protocol), key))
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    out += _time_extras(data, recipes)
    seeds = data.get("seeds")
    note = ("" if envelope else f" Envelope column: {data.get('envelope_note', 'not measured')}.") + (
        " `envelope, no normal`: the same analysis that never answers normal (argmax of the defect evidence),"
        " the figure usually quoted for envelope analysis on fault recordings." if faults_only else "")
    out.append(f"Mean ± std over seeds {seeds} (those with every fold done; no ± = one seed) of the mean "
               f"over a protocol's folds (their number in parentheses); envelope = one deterministic "
               f"figure.{note} Recipes:")
    out += [""] + [f"- {n}: `{' '.join(o)}`" for n, o in data["recipes"].items()]
    return "\n".join(out) + "\n"


def render_protocols_headline(payload: dict[str, Any]) -> str:
    """The README's table: fault-type accuracy per protocol, last epoch, every recipe and the envelope."""
    full = render_protocols(payload)
    table = full.split("\n\n")[1]  # the first table, after its title line
    data = payload["data"]
    return (f"Fault-type accuracy (%) per window, last epoch (best-on-validation in parentheses), mean ± std "
            f"over seeds {data.get('seeds')}:\n\n{table}\n\n"
            "Macro-F1, recordings right, calibration, 10- and 9-class accuracy, −4 dB and the recipes: "
            "[docs/transfer.md](docs/transfer.md).\n")


def _envelope_cell(figures: dict[str, Any] | None, key: str) -> str:
    if not figures or figures.get(key) is None:
        return "–"
    if key == "recording_accuracy":
        return f"{_pct(figures[key])} ({figures['recordings_right']}/{figures['recordings']})"
    return _pct(figures[key])


CLASS_EXTRAS = {"time": ("Time split", "10-class accuracy (%)"), "load": ("By load", "9-class accuracy (%)")}


def _time_extras(data: dict[str, Any], recipes: list[str]) -> list[str]:
    """Class accuracy (10 classes on the time split, 9 by load) and fault type at -4 dB."""
    out: list[str] = []
    for protocol, (title, class_title) in CLASS_EXTRAS.items():
        if protocol not in data["protocols"]:
            continue
        extras = (("accuracy", class_title), ("type_accuracy_snr_-4dB", "fault type at −4 dB (%)"))
        out += [f"{title}, last epoch (best-on-validation):", "",
                "| figure | " + " | ".join(recipes) + " | envelope | envelope, no normal |",
                "|---" * (len(recipes) + 3) + "|"]
        envelope = (data.get("envelope") or {}).get(protocol)
        faults_only = (data.get("envelope_faults_only") or {}).get(protocol)
        for key, label in extras:
            cells = [label]
            for recipe in recipes:
                overall = data["summary"].get(protocol, {}).get(recipe, {}).get("overall", {})
                cells.append(f"{_mean_std(overall.get('last', {}).get(key))} "
                             f"({_mean_std(overall.get('best', {}).get(key))})")
            cells.append(_envelope_cell(envelope, key) if key != "accuracy" else "–")
            cells.append(_envelope_cell(faults_only, key) if key != "accuracy" else "–")
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return out


def render_simulated_rigs(payload: dict[str, Any]) -> str:
    """Fault type per window on unseen simulated machines, per model and fault strength."""
    data = payload["data"]
    rates = " and ".join(f"{r / 1000:g}" for r in data["rates_hz"])
    lines = [f"{data['machines']} simulated machines at {rates} kHz, {data['rpm'][0]}-{data['rpm'][1]} rpm, "
             "each with its rpm and bearing geometry, fault type per window (%):", "",
             "| model | fault strength | normal | ball | inner race | outer race | mean |", "|---" * 7 + "|"]
    for model, rows in data["window_accuracy"].items():
        for strength, f in rows.items():
            cells = [_pct(f[k], 1) for k in ("normal", "ball", "inner_race", "outer_race", "mean")]
            lines.append(f"| {model} | {strength} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def render_monitor_example(payload: dict[str, Any]) -> str:
    """The worked monitoring example day by day: velocity, worst zone, verdicts, alarms opened; then when the
    zones and alarms changed."""
    data = payload["data"]
    limits = data["limits"]
    opened: dict[str, list[str]] = {}
    for row in data["measurements"]:
        for alarm in row["alarms_opened"]:
            opened.setdefault(row["measured_at"][:10], []).append(f"{alarm} ({row['measured_at'][11:16]})")
    asset = data["asset"]
    zones = f"{limits['ab']:g} / {limits['bc']:g} / {limits['cd']:g} mm/s"
    lines = [f"Asset `{asset['name']}` ({asset['bearing']}, {asset['rpm']:g} rpm, ISO 20816-3 group "
             f"{asset['iso_group']} {asset['support']}: zones A/B/C/D at {zones}), model "
             f"`{data['model']['name']}`; {data['posted']} measurements posted, {data['stored']} stored (a "
             f"retried post with the same Idempotency-Key replayed: {str(data['retry_replayed']).lower()}).",
             "", "| day | measurements | velocity RMS mean / max (mm/s) | worst zone | verdicts "
             "| alarms opened |", "|---" * 6 + "|"]
    for day in data["daily"]:
        verdicts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in day["fault_types"].items())
        lines.append(f"| {day['day']} | {day['count']} | {day['velocity_rms_mean']:.2f} / "
                     f"{day['velocity_rms_max']:.2f} | {day['zone_worst']} | {verdicts} | "
                     f"{', '.join(opened.get(day['day'], [])) or '-'} |")
    when = {k: v[:16].replace("T", " ") for k, v in data["first"].items()}

    def at(key: str) -> str:
        return when.get(key, "never")

    lines += ["", f"The fault is present from {at('fault_present')}; the model first says outer race at "
              f"{at('diagnosed_outer_race')}; the fault alarm (3 of the last 5) opens at "
              f"{at('alarm_fault:outer_race')}; the zone reaches B at {at('zone_B')}, C at {at('zone_C')} "
              f"(zone alarm), D at {at('zone_D')}. At the end: zone {data['final']['zone']}, "
              f"{data['final']['open_alarms']} open alarms."]
    unknown = [r for r in data["measurements"] if r["fault_type"] == "unknown"]
    if unknown:
        healthy = sum(r["truth"] == "normal" for r in unknown)
        lines += ["", f"{len(unknown)} of {data['posted']} verdicts are `unknown` (unknown-condition score "
                  f"above the model's calibrated threshold), {healthy} of them while the bearing is healthy; "
                  f"the `unknown` alarm (3 of the last 5) opens at {at('alarm_unknown:unknown')}."]
    return "\n".join(lines) + "\n"


def render_shipped_training(payload: dict[str, Any]) -> str:
    """How long the shipped model took to train on CPU, and its held-out CWRU figures."""
    data = payload["data"]
    best = data["test_cwru_tails"]["best"]
    lines = [
        f"Training `{data['model']}`: {data['epochs']} epochs in {data['elapsed_s'] / 60:.1f} min on "
        f"{data['threads']} CPU thread(s) ({data['note']}); median "
        f"{statistics.median(data['train_windows_per_s']):.0f} training windows/s.",
        "",
        f"Held-out CWRU tails ({best['windows']} windows): fault type {_pct(best['type_accuracy'])} %, "
        f"10 classes {_pct(best['accuracy'])} %, "
        f"fault type at −4 dB {_pct(best['type_accuracy_snr_-4dB'])} %.",
    ]
    return "\n".join(lines) + "\n"


def _num(value: float | None, spec: str, unit: str = "") -> str:
    return "–" if value is None else f"{value:{spec}}{unit}"


def render_bench_activations(payload: dict[str, Any]) -> str:
    """One row per activation: ms per batch and windows/s (best round), time over ReLU's and slopes on/off
    (medians of back-to-back pairs); then APReLU's two ratios against their targets."""
    d = payload["data"]
    ctx = d.get("context")
    machine = (f"; context {ctx['bearing']} at {ctx['rpm']:g} rpm, {ctx['sampling_rate'] / 1000:g} kHz"
               if ctx else "")
    out = [f"CPU forward pass, preset {d['preset']}, front end {d['frontend']}, batch {d['batch']} × "
           f"{d['window']}-sample windows, {d['threads']} thread(s), {d['rounds']} rounds{machine}:", "",
           "| activation | ms/batch | windows/s | time × ReLU | slopes on/off |", "|---|---|---|---|---|"]
    for name, r in d["activations"].items():
        out.append(f"| {name} | {r['ms_per_batch']:.1f} | {r['windows_per_s']:,.0f} | {r['vs_relu']:.2f} | "
                   f"{_num(r.get('slopes_on_off'), '.2f')} |")
    t = d.get("targets") or {}
    out += ["", f"APReLU / ReLU time per batch {_num(d.get('aprelu_vs_relu'), '.2f', '×')} (target ≤ "
            f"{_num(t.get('aprelu_vs_relu'), 'g', '×')}); APReLU slopes on / off "
            f"{_num(d.get('aprelu_slopes_on_off'), '.2f', '×')} (target ≤ "
            f"{_num(t.get('slopes_on_off'), 'g', '×')}). windows/s: the best round; ratios: median over "
            "rounds of back-to-back pairs."]
    return "\n".join(out) + "\n"


def render_bench_service(payload: dict[str, Any]) -> str:
    """The service over loopback: latency at concurrency 1, windows/s with and without micro-batching,
    cost of slopes, errors, each against its target where it has one."""
    d = payload["data"]
    c, k, t = d["concurrency"], d["windows_per_request"], d.get("targets") or {}
    lat, wps, gain, slopes = d["latency_ms"], d["windows_per_s"], d["batching_gain"], d["slopes_on_off"]
    v2 = f"/v2 binary ({k} windows/request), concurrency {c}"
    v1 = f"/v1 JSON (1 window/request), concurrency {c}"
    slopes_target = "≤ " + _num(t.get("slopes_ratio"), "g", "×")
    rows = [
        ("p50 latency, /v1 JSON, 1 window, concurrency 1", _num(lat["p50"], ".2f", " ms"),
         "≤ " + _num(t.get("p50_ms"), "g", " ms")),
        ("p99 latency, /v1 JSON, 1 window, concurrency 1", _num(lat["p99"], ".2f", " ms"),
         "≤ " + _num(t.get("p99_ms"), "g", " ms")),
        (f"windows/s, {v2}, batching", _num(wps["v2_batching"], ",.0f"),
         "≥ " + _num(t.get("windows_per_s"), ",.0f")),
        (f"windows/s, {v2}, no batching", _num(wps["v2_no_batching"], ",.0f"), ""),
        *([("windows/s in process, no HTTP (forward pass + envelope analysis, batches of 256, every core): "
            "the machine's ceiling", _num(wps["in_process_ceiling"], ",.0f"), "")]
          if wps.get("in_process_ceiling") else []),
        (f"windows/s, {v1}, batching", _num(wps["v1_batching"], ",.0f"),
         "≥ " + _num(t.get("v1_windows_per_s"), ",.0f") if t.get("v1_windows_per_s") else ""),
        (f"windows/s, {v1}, no batching", _num(wps["v1_no_batching"], ",.0f"), ""),
        ("batching gain, /v2 binary; /v1 JSON",
         f"{_num(gain['v2'], '.1f', '×')}; {_num(gain['v1'], '.1f', '×')}", ""),
        ("slopes on / off, p50 latency at concurrency 1", _num(slopes["latency_p50"], ".2f", "×"),
         slopes_target),
        (f"slopes on / off, time per window, {v2}", _num(slopes["v2"], ".2f", "×"), slopes_target),
        (f"slopes on / off, time per window, {v1}", _num(slopes["v1"], ".2f", "×"), ""),
        ("errors (non-200 or broken connection), all phases", str(d["errors"]), "0"),
    ]
    workers = f"{d['workers']} worker process(es), " if d.get("workers") else ""
    out = [f"Service `{d['model']}` over loopback, rpm {d['rpm']} and bearing {d['bearing']} in every "
           f"request, {workers}{d['cores']} cores, {d['seconds_per_phase']:g} s per phase in {d['rounds']} "
           "interleaved rounds:", "", "| measurement | value | target |", "|---|---|---|"]
    out += [f"| {label} | {value} | {target} |" for label, value, target in rows]
    return "\n".join(out) + "\n"


def render_hostile(payload: dict[str, Any]) -> str:
    """Small-request latency and server memory beside one hostile client of each kind, against the targets
    (p99 at most ``p99_ratio`` x its value without a hostile client; peak RSS under ``rss_mb``)."""
    d = payload["data"]
    t = d.get("targets") or {}
    top, rss_top = t.get("p99_ratio"), t.get("rss_mb")
    workers = d.get("workers") or 1
    head = (f"Service `{d['model']}` (default settings, {workers} worker(s), {d['cores']} cores): "
            f"{d['clients']} clients"
            " send one-window `/v1/diagnose` requests back to back, beside one hostile client; "
            f"{d['seconds_per_phase']:g} s per phase in {d['rounds']} interleaved rounds. Targets: small p99"
            f" ≤ {_num(top, 'g', '×')} the p99 without a hostile client, server RSS"
            f" < {_num(rss_top, ',.0f', ' MB')}.")
    out = [head, "", "| hostile client | its answers | small p50 | small p99 | p99 / none | small req/s "
           "| server RSS peak | /healthz p99 | targets met |", "|---|---|---|---|---|---|---|---|---|"]
    for r in d["phases"].values():
        answers = ", ".join(f"{n} × {code}" for code, n in r["hostile_answers"].items()) or "—"
        ratio = r.get("p99_ratio")
        fast = ratio is None or top is None or ratio <= top
        small = rss_top is None or r["rss_peak_mb"] < rss_top
        out.append(f"| {r['label']} | {answers} | {_num(r['small_p50_ms'], '.1f', ' ms')} | "
                   f"{_num(r['small_p99_ms'], '.1f', ' ms')} | {_num(ratio, '.2f', '×')} | "
                   f"{_num(r['small_requests_per_s'], ',.0f')} | {_num(r['rss_peak_mb'], ',.0f', ' MB')} | "
                   f"{_healthz(r)} | {'yes' if fast and small and _healthy(r) else '**no**'} |")
    return "\n".join(out) + "\n"


def _healthy(row: dict[str, Any]) -> bool:
    """Every /healthz probe of the phase answered 200 (a phase recorded without probes counts as healthy)."""
    return set(row.get("healthz_answers") or {"200": 1}) == {"200"}


def _healthz(row: dict[str, Any]) -> str:
    answers = row.get("healthz_answers")
    if not answers:
        return "—"
    failed = sum(n for code, n in answers.items() if code != "200")
    return _num(row.get("healthz_p99_ms"), ".1f", " ms") + (f" ({failed} failed)" if failed else "")


def render_scaling(payload: dict[str, Any]) -> str:
    """`faultdx score` per engine (files/s, windows/s, steady windows/s, start-up, speed-up over one
    process), then the cost of a 10,000-hour archive on N nodes from the measured per-window cost."""
    d = payload["data"]
    a, p = d["archive"], d["projection"]
    out = [f"`faultdx score` with `{d['model']}` on one archive of {a['files']} files ({a['real_files']} "
           f"real CWRU/MFPT recordings, {a['simulated_files']} simulated files of "
           f"{a['simulated_seconds']:g} s in every format; {a['recorded_hours'] * 60:.1f} recorded minutes, "
           f"{a['windows']:,} windows), "
           f"{d['cores']} cores, median of {d['rounds']} interleaved rounds; the tables of all engines are "
           "identical:", "",
           "| engine | files/s | windows/s | steady windows/s | start-up (s) | steady speed-up "
           "| CPU ms/window |",
           "|---|---|---|---|---|---|---|"]
    for label, e in d["engines"].items():
        out.append(f"| {label} | {_num(e['files_per_s'], '.2f')} | {_num(e['windows_per_s'], ',.0f')} | "
                   f"{_num(e['steady_windows_per_s'], ',.0f')} | {_num(e['first_row_s'], '.1f')} | "
                   f"{_num(e['speedup_vs_1_process'], '.2f', '×')} | "
                   f"{_num(e.get('cpu_ms_per_window'), '.3f')} |")
    loads = [x for r in d["load_average"] for x in (r["before"], r["after"])]
    out += ["", "files/s and windows/s over the whole run, start-up included; start-up = until the first row "
            "came back; steady = over the second half of the files; CPU ms/window = CPU time of the whole "
            "run (start-up included) of the scoring process and its workers per window (not measured for "
            "Ray's actors, which are not its children). Load average (1 min) around the rounds: "
            f"{min(loads):.1f} to {max(loads):.1f} on {d['cores']} cores ({d['load_average_note']}), so the "
            "multi-process figures are a floor.", "",
            f"**A {p['archive_hours']:,}-hour archive** at the model's {d['model_rate'] / 1000:g} kHz and "
            f"hop {d['hop']} is {p['windows']:,.0f} windows; at the measured {d['core_ms_per_window']:.3f} "
            f"CPU ms per window (1 process) that is {p['core_hours']:,.0f} core-hours. Wall-clock "
            f"time on nodes of {p['node_cores']} cores ({p['assumption']}):", "",
            "| nodes | cores | wall-clock hours |", "|---|---|---|"]
    out += [f"| {n['nodes']} | {n['cores']} | {n['wall_hours']:,.1f} |" for n in p["nodes"]]
    return "\n".join(out) + "\n"


def render_ood(payload: dict[str, Any]) -> str:
    """Per model, one row per set of windows: for each score, AUROC against the in-distribution test windows
    and the share flagged at the calibrated threshold, per window and per signal (median rule); then the
    network's fault-type accuracy on all windows and on those the first score lets through."""
    data = payload["data"]
    lines = [f"Unknown-condition score, threshold at {_pct(data['target_rate'], 0)} % of the validation "
             "windows. AUROC against the in-distribution windows; flagged = share above the threshold, "
             "per window / per signal (one signal per recording, median rule). On the in-distribution row "
             "flagged is the false-alarm rate. Right = the network's own fault type (its closest answer), "
             "on all windows / on the windows the first score does not flag.", ""]
    for model in data["models"]:
        methods = list(model["methods"])
        lines += [f"**{model['name']}** ({model['trained']}; {model['note']}):", "",
                  "| windows | n | " + " | ".join(f"{m} AUROC | {m} flagged" for m in methods) + " | right |",
                  "|---" * (3 + 2 * len(methods)) + "|"]
        for name in model["methods"][methods[0]]["sets"]:
            first = model["methods"][methods[0]]["sets"][name]
            cells = []
            for m in methods:
                f = model["methods"][m]["sets"][name]
                auc = "–" if f["auroc"] is None else f"{f['auroc']:.3f}"
                cells += [auc, f"{_pct(f['flagged'], 1)} / {_pct(f['signals_flagged'], 0)} %"]
            right = "–" if first.get("type_accuracy") is None else (
                f"{_pct(first['type_accuracy'], 1)} / {_pct(first.get('type_accuracy_kept'), 1)} %")
            lines.append(f"| {name} | {first['windows']} ({first['signals']} signals) | "
                         + " | ".join(cells) + f" | {right} |")
        training = model.get("training") or {}
        if "seconds" in training:
            lines += ["", f"Trained for {training['epochs']} epochs in {training['seconds'] / 60:.1f} min on "
                          f"{training['threads']} CPU thread(s)."]
        lines.append("")
    return "\n".join(lines)


def render_bench_windows(payload: dict[str, Any]) -> str:
    d = payload["data"]
    out = [f"{d['dataset']}: {d['recordings']} recordings, {d['samples']:,} samples; window {d['window']}, "
           f"split 70/15/15 %, val/test hop {d['window']}, {d['rounds']} rounds. First read (decode, "
           f"resample, write cache) {d['first_read_s']:.2f} s; a new process reading the cache "
           f"{d['cached_read_s']:.3f} s.",
           "", "| train hop | windows | windows/s, median round | windows/s, best round | target |",
           "|---|---|---|---|---|"]
    for r in d["rows"]:
        out.append(f"| {r['train_hop']} | {r['windows']:,} | {r['windows_per_s_median']:,.0f} | "
                   f"{r['windows_per_s_best']:,.0f} | ≥ {r['target']:,}: {r['verdict']} |")
    return "\n".join(out) + "\n"


def render_bench_train(payload: dict[str, Any]) -> str:
    d = payload["data"]
    head = (f"Training windows per second (forward, backward, AdamW; batch {d['batch']} x {d['window']} "
            f"samples, preset {d['preset']}, {d['precision']}, {d['device']}):")
    rows = "".join(f"| {name} | {rate:,.0f} |\n" for name, rate in d["windows_per_s"].items())
    return f"{head}\n\n| activation | windows/s |\n|---|---|\n{rows}"


def render_container(payload: dict[str, Any]) -> str:
    """The CPU image built with podman (docker/build-local.sh): seconds per step, cold and warm, and sizes."""
    d = payload["data"]
    cold, warm = d.get("cold") or {}, d["warm"]

    def base(run: dict[str, Any]) -> str:
        return "–" if not run else (f"{run['base_build_s']:.0f} s" if run["base"] == "built" else "reused")

    def secs(run: dict[str, Any], key: str) -> str:
        return f"{run[key]:.0f} s" if run else "–"

    def build(run: dict[str, Any]) -> str:
        cached = f" ({run['cached_steps']} of {run['steps']} steps cached)" if run and "steps" in run else ""
        return secs(run, "image_build_s") + cached

    rows = ["| step | fresh machine (base built, no layer cache) | rerun (base reused, layers cached up to "
            "the first changed input) |",
            "|---|---|---|",
            f"| Debian base (`debootstrap` + `podman import`) | {base(cold)} | {base(warm)} |",
            f"| `podman build` (torch wheel index, venv, faultdx) | {build(cold)} | {build(warm)} |",
            f"| whole script | {secs(cold, 'total_s')} | {secs(warm, 'total_s')} |"]
    return ("\n".join(rows) + f"\n\nImage `{d['image']}`: {d['image_bytes'] / 1e6:,.0f} MB (of which "
            f"the base `{d['base_image']}`: {d['base_bytes'] / 1e6:,.0f} MB); `podman run` to `/readyz` 200: "
            f"{d['ready_s']:.1f} s.\n")


def render_baseline(payload: dict[str, Any]) -> str:
    """Per rig and variant: healthy windows called normal / fault recall (%) per judgement (each window
    counted with its measurement's answer), and whether the default judgement meets the goal."""
    d = payload["data"]
    methods = ["network", "evidence", "mahalanobis", "both", "either", "speed_aware"]
    head = " | ".join(f"{m}{' (default)' if m == d['default_method'] else ''}" for m in methods)
    rows = [f"| rig | variant | {head} | goal (healthy / recall) |",
            "|---|---|" + "---|" * (len(methods) + 1)]
    for rig, figures in d["rigs"].items():
        if "skipped" in figures:
            rows.append(f"| {rig} | skipped: {figures['skipped']} |" + " |" * len(methods))
            continue
        for variant, key in (("per_speed", "per_speed"), ("one_speed", "one_speed_worst")):
            cells = figures[key]["measurement"]
            goal = d["goals"][variant]
            best = cells[d["default_method"]]
            met = best["healthy_normal"] >= goal[0] and best["fault_recall"] >= goal[1]
            values = " | ".join(f"{_pct(cells[m]['healthy_normal'], 1)} / {_pct(cells[m]['fault_recall'], 1)}"
                                for m in methods)
            rows.append(f"| {rig} | {variant} | {values} | {_pct(goal[0], 0)} / {_pct(goal[1], 0)}: "
                        f"{'met' if met else 'missed'} |")
    return ("\n".join(rows) + f"\n\nCells: healthy windows normal % / faulty windows not normal %; a "
            f"measurement is {d['measurement_windows']} windows; thresholds: evidence z {d['evidence_z']:g}"
            f"{_corroboration(d)}, Mahalanobis ratio {d['mahalanobis_ratio']:g}; {_baseline_model(d)}.\n")


def _corroboration(d: dict[str, Any]) -> str:
    """The corroborated-family threshold."""
    return (f" (z {d['corroborated_z']:g} for the family the network names at "
            f"{_pct(d['network_sure'], 0)} % fault probability or more)")


def _baseline_model(d: dict[str, Any]) -> str:
    """Which model judged: the shipped one (``bench/baseline_eval.py``), or each rig-out fold's own."""
    if "model" in d:
        return f"model `{d['model']}`"
    return (f"each rig judged by its `rig-out` fold's `{d['recipe']}` model ({d['selection']} checkpoint, "
            f"never trained on that rig), mean over seeds {', '.join(map(str, d['seeds']))}")


RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "baseline": render_baseline,
    "rig_out_baseline": render_baseline,
    "container": render_container,
    "protocols": render_protocols,
    "protocols.headline": render_protocols_headline,
    "ablation": render_protocols,  # the same sweep with one training ingredient removed per recipe
    "speed_estimation": render_speed_estimation,
    "quality": render_quality,
    "speed_fault_type": render_speed_fault_type,
    "shipped_training": render_shipped_training,
    "simulated_rigs": render_simulated_rigs,
    "bench_activations": render_bench_activations,
    "bench_service": render_bench_service,
    "hostile": render_hostile,
    "scaling": render_scaling,
    "monitor_example": render_monitor_example,
    "ood": render_ood,
    "bench_windows": render_bench_windows,
    "bench_train_cpu": render_bench_train,
    "rig_out": render_rig_out,
    "rig_out.headline": render_rig_out_headline,
    "rig_out.calibration": render_rig_out_calibration,
    "mqtt": render_mqtt,
}


def render_settings() -> str:
    """One row per ``FAULTDX_*`` variable: its default and meaning, from the settings class itself."""
    from faultdx.settings import Settings

    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if isinstance(default, list):
            default = ",".join(default) or "(empty)"
        elif default is None:
            default = "(unset)"
        elif isinstance(default, Path) and not default.is_absolute():
            default = f"./{default}"
        default = str(default).replace(str(Path.home()), "~")
        rows.append(f"| `FAULTDX_{name.upper()}` | `{default}` | {field.description or ''} |")
    return "\n".join(rows) + "\n"


def render_results_index() -> str:
    """One row per ``results/*.json``: what measured it, where and when."""
    from faultdx.paths import results_dir

    rows = ["| file | command | commit | date |", "|---|---|---|---|"]
    for path in sorted(results_dir().glob("*.json")):
        payload = read_result(path.stem) or {}
        rows.append(f"| `results/{path.name}` | `{payload.get('command')}` | {payload.get('commit')} | "
                    f"{str(payload.get('date'))[:10]} |")
    return "\n".join(rows) + "\n"


def render_iso_zones() -> str:
    """The ISO 20816-3 zone boundaries the monitor judges velocity RMS by, with their source."""
    from faultdx.monitor.zones import iso_table

    rows = ["| group | support | A/B | B/C | C/D (mm/s) | source |", "|---|---|---|---|---|---|"]
    for (group, support), z in iso_table().items():
        rows.append(f"| {group} | {support} | {z.ab:g} | {z.bc:g} | {z.cd:g} | {z.source} |")
    return "\n".join(rows) + "\n"


FROM_CODE: dict[str, tuple[str, Callable[[], str]]] = {
    "settings": ("faultdx.settings.Settings", render_settings),
    "results_index": ("results/*.json", render_results_index),
    "iso_zones": ("faultdx/monitor/iso20816_3.csv", render_iso_zones),
    "presets": ("faultdx.nn.PRESETS", lambda: _presets_table()),
}


def _presets_table() -> str:
    from faultdx.nn.cost import presets_table

    return presets_table()
