"""Markdown tables of ``results/rig_out.json`` (protocol rig-out, :mod:`faultdx.train.rigout`): the README
headline (per held-out rig, the network beside the envelope reference), the full per-fold figures with and
without rpm, and the calibration table (ECE raw and cross-fitted, sure windows, risk-coverage)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

FOLD_TITLES = {"cwru": "CWRU drive end", "mfpt": "MFPT", "hit_mfs": "HIT MFS",
               "hit_self_built": "HIT self-built"}


def _last_epoch_stated_rpm(data: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(fold, summary) of each held-out rig's last-epoch model given the stated rpm, where one was scored."""
    for fold in data["folds"]:
        summary = data["summary"].get(fold, {}).get("last", {}).get("rpm")
        if summary is not None:
            yield fold, summary


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _cell(stats: dict[str, Any] | None) -> str:
    """``mean ± std`` in percent (no ± for one seed)."""
    if not stats or stats.get("mean") is None:
        return "–"
    if stats.get("std") is None:
        return _pct(stats["mean"])
    return f"{_pct(stats['mean'])} ± {_pct(stats['std'])}"


def _recall(stats: dict[str, Any]) -> str:
    parts = [f"{name.split('_')[0]} {_cell(stats[key])}" for key, name in
             (("recall_ball", "ball"), ("recall_inner_race", "inner"), ("recall_outer_race", "outer"))
             if key in stats and stats[key].get("mean") is not None]
    return ", ".join(parts) or "–"


def _envelope_recall(figures: dict[str, Any]) -> str:
    return ", ".join(f"{k.split('_')[0]} {_pct(v)}" for k, v in figures["recall"].items()) or "–"


def _seeds_note(data: dict[str, Any]) -> str:
    (name, overrides), = data["recipe"].items()
    extra = " ".join(data.get("overrides") or [])
    sweep = f", sweep: `{extra}`" if extra else ""
    return (f"Network: recipe `{name}` (`{' '.join(overrides)}`{sweep}), seeds {data['seeds']} (mean ± std "
            "over seeds; no ± = one seed). Envelope: the envelope-analysis reference on the very same "
            "windows (deterministic).")


def render_rig_out_headline(payload: dict[str, Any]) -> str:
    """Per held-out rig: healthy windows called normal, fault recall, fault type (with and without rpm) and
    recordings right, last epoch: the answer (network under the shipped confidence policy) beside the network
    alone and the envelope reference."""
    data = payload["data"]
    lines = ["| held-out rig | windows (healthy) | healthy → normal: answer / network / envelope | faults "
             "found: answer / network / envelope | fault type: answer / network / envelope | fault type "
             "without rpm: answer / network / envelope | healthy → normal / faults found, 1 s excerpts: "
             "answer | recordings right: network |",
             "|---|---|---|---|---|---|---|---|"]
    for fold in data["folds"]:
        s = data["summary"].get(fold, {}).get("last", {})
        rpm, no_rpm = s.get("rpm", {}), s.get("no_rpm", {})
        env, env_no = data["envelope"][fold]["rpm"], data["envelope"][fold]["no_rpm"]
        lines.append(
            f"| {FOLD_TITLES.get(fold, fold)} | {env['windows']} ({env['healthy_windows']}) | "
            f"{_three(rpm, 'specificity', env)} | {_three(rpm, 'fault_recall', env)} | "
            f"{_three(rpm, 'type_accuracy', env)} | {_three(no_rpm, 'type_accuracy', env_no)} | "
            f"{_cell(rpm.get('specificity_excerpt'))} / {_cell(rpm.get('fault_recall_excerpt'))} | "
            f"{_cell(rpm.get('recording_accuracy'))} |")
    return ("Each real rig held out in turn (trained on the other rigs + simulated machines), every "
            "recording of the held-out rig diagnosed at its own rpm and bearing; % of windows, last-epoch "
            "model. Answer = what `/v1/diagnose` says: the network under the shipped confidence policy (a "
            "fault needs some defect family's lines to stand out of the recording's mean envelope spectrum; "
            "whole test recordings, and 1 s excerpts of them); network = its most probable fault type alone:"
            "\n\n" + "\n".join(lines) + "\n\n" + _seeds_note(data) + " Goals (issue 21): healthy → "
            "normal ≥ 95 % and faults found ≥ 95 % on every rig. Best-on-validation, per-type recall, "
            "macro-F1 and calibration: [docs/transfer.md](docs/transfer.md#rig-out).\n")


def _three(summary: dict[str, Any], key: str, envelope: dict[str, Any]) -> str:
    """``answer / network / envelope`` of one figure."""
    return f"{_cell(summary.get(f'{key}_calibrated'))} / {_cell(summary.get(key))} / {_pct(envelope[key])}"


def render_rig_out(payload: dict[str, Any]) -> str:
    """Every figure per held-out rig, selection and speed source, and the envelope reference."""
    data = payload["data"]
    head = ("| held-out rig | model | speed | healthy → normal | faults found | recall per type | fault type "
            "| macro-F1 | recordings right |")
    lines = [head, "|---|---|---|---|---|---|---|---|---|"]
    for fold in data["folds"]:
        title = FOLD_TITLES.get(fold, fold)
        for selection in ("last", "best"):
            for variant in ("rpm", "no_rpm"):
                s = data["summary"].get(fold, {}).get(selection, {}).get(variant)
                if s is None:
                    continue
                lines.append(
                    f"| {title} | {selection} | {'stated' if variant == 'rpm' else 'estimated'} | "
                    f"{_cell(s['specificity'])} | {_cell(s['fault_recall'])} | {_recall(s)} | "
                    f"{_cell(s['type_accuracy'])} | {_cell(s['type_macro_f1'])} | "
                    f"{_cell(s['recording_accuracy'])} |")
        for variant in ("rpm", "no_rpm"):
            e = data["envelope"][fold][variant]
            lines.append(
                f"| {title} | envelope | {'stated' if variant == 'rpm' else 'estimated'} | "
                f"{_pct(e['specificity'])} | {_pct(e['fault_recall'])} | {_envelope_recall(e)} | "
                f"{_pct(e['type_accuracy'])} | "
                f"{_pct(e['type_macro_f1'])} | {_pct(e['recording_accuracy'])} |")
    lines += ["", *_levers(data)]
    speed = ", ".join(f"{FOLD_TITLES.get(f, f)} {_pct(v)} %" for f, v in data["speed_within_2pct"].items())
    return ("% of windows (recordings right: % of recordings, mean window probability). best = "
            "best-on-validation (validation = the training rigs' recording tails), last = last epoch. speed "
            "estimated = every recording's speed taken from its own signal by the project's estimator "
            f"(windows whose recording's estimate is within 2 % of the stated speed: {speed}).\n\n"
            + "\n".join(lines) + "\n\n"
            + _seeds_note(data) + "\n")


def render_rig_out_calibration(payload: dict[str, Any]) -> str:
    """Per held-out rig and speed source: ECE raw, with a temperature fitted on the other folds and under the
    shipped confidence policy; sure windows; "uncertain" windows; recording verdicts; and risk-coverage."""
    data = payload["data"]
    lines = ["| held-out rig | speed | ECE: raw / temperature / vector scaling (fitted on the other rigs) / "
             "policy | sure "
             "windows (p ≥ 0.9) raw: share / right | policy: share / right | uncertain windows (policy) | "
             "recordings right: raw / policy: answered / right of answered |",
             "|---|---|---|---|---|---|---|"]
    for fold in data["folds"]:
        for variant in ("rpm", "no_rpm"):
            s = data["summary"].get(fold, {}).get("last", {}).get(variant)
            if s is None:
                continue
            lines.append(
                f"| {FOLD_TITLES.get(fold, fold)} | {'stated' if variant == 'rpm' else 'estimated'} | "
                f"{_cell(s['ece'])} / {_cell(s['ece_temperature'])} / {_cell(s.get('ece_vector'))} / "
                f"{_cell(s.get('ece_calibrated'))} | "
                f"{_cell(s['sure_share'])} / {_cell(s['sure_accuracy'])} | "
                f"{_cell(s.get('sure_share_calibrated'))} / {_cell(s.get('sure_accuracy_calibrated'))} | "
                f"{_cell(s.get('uncertain_share_calibrated'))} | {_cell(s['recording_accuracy'])} / "
                f"{_cell(s.get('recordings_answered'))} / {_cell(s.get('answered_recordings_right'))} |")
    rows = [r for r in data["runs"] if r["selection"] == "last" and r["variant"] == "rpm"]
    coverages = [c["coverage"] for c in rows[0]["risk_coverage"]] if rows else []
    risk = ["| held-out rig (seed) | " + " | ".join(f"{100 * c:.0f} % answered" for c in coverages) + " |",
            "|---" * (len(coverages) + 1) + "|"]
    for r in rows:
        risk.append(f"| {FOLD_TITLES.get(r['fold'], r['fold'])} ({r['seed']}) | "
                    + " | ".join(_pct(c["accuracy"]) for c in r["risk_coverage"]) + " |")
    return ("Last-epoch model; % of windows (ECE: 10 bins) and of recordings. Temperature and vector scaling "
            "(a scale and a bias per fault type): fitted (negative log-likelihood) on the other folds' "
            "held-out rigs only, never on the rig they are scored on (the temperature fitted on all four: "
            f"{data['temperature']:.2f}). Policy: what the shipped model's "
            f"confidence.json says ({_policy(data)}), the same on every fold (its rules are fixed, its "
            "temperature kept only where the cross-fitted one helped). Goals (issue 22): ECE ≤ 5 %, sure "
            "windows ≥ 97 % right and recordings ≥ 97 % right on every rig.\n\n" + "\n".join(lines)
            + "\n\nRisk-coverage (accuracy of the fault type on the most confident share of windows, under "
            "the policy, stated rpm):\n\n" + "\n".join(risk) + "\n")


def _policy(data: dict[str, Any]) -> str:
    p = data.get("confidence_policy") or {}
    if not p:
        return "none stored"
    return (f"temperature {p['temperature']:.2f}; a window sure only where the envelope gives its fault type "
            f"≥ {p['backing']:.2f}, else capped at {p['unbacked_cap']:.2f}; a fault type named only with ≥ "
            f"{_pct(p['uncertain_below'])} % of the fault probability, and for a recording ≥ "
            f"{_pct(p['fault_confidence_below'])} % probability and ≥ {_pct(p['agreement_below'])} % of its "
            "windows, else `uncertain`" + _lines_rule(p))


def _lines_rule(policy: dict[str, Any]) -> str:
    if policy.get("lines_below") is None:
        return ""
    return (f"; faults together at most {_pct(policy['unlined_fault'])} % where no defect family's lines "
            f"stand out {policy['lines_below']:.1f}x above their floor in the recording's mean envelope "
            "spectrum" + ("" if policy.get("backing_lines") is None else
                          f"; a window's type also backed where its family's lines there stand "
                          f"{policy['backing_lines']:.1f}x"))


def _levers(data: dict[str, Any]) -> list[str]:
    """Healthy machines: windows and recordings called normal, raw and with the cross-fitted normal shift;
    and the "uncertain" answer (last epoch, stated rpm)."""
    lines = ["Levers for healthy machines and unclear faults (last epoch, stated rpm): the log-odds shift "
             "towards normal is fitted on the other folds; uncertain = abnormal, leading fault type under "
             "60 % of the fault probability.", "",
             "| held-out rig | healthy → normal: windows / recordings | with the shift (its size): healthy → "
             "normal / faults found / fault type | uncertain windows | fault type of the rest |",
             "|---|---|---|---|---|"]
    for fold, s in _last_epoch_stated_rpm(data):
        bias = s["normal_bias"]["mean"]
        lines.append(
            f"| {FOLD_TITLES.get(fold, fold)} | {_cell(s['specificity'])} / "
            f"{_cell(s['healthy_recordings_normal'])} | {_cell(s['specificity_biased'])} / "
            f"{_cell(s['fault_recall_biased'])} / "
            f"{_cell(s['type_accuracy_biased'])} ({bias:+.1f}) | {_cell(s['uncertain_share'])} | "
            f"{_cell(s['answered_accuracy'])} |")
    return lines
