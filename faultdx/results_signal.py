"""Markdown tables of the signal benches (registered in :mod:`faultdx.results_render`): the quality gate
(``results/quality.json``, bench/quality_eval.py) per injected fault and per dataset."""

from __future__ import annotations

from typing import Any


def _share(row: dict[str, Any] | None, key: str = "share") -> str:
    if not row:
        return "–"
    return f"{100 * row[key]:.1f} % ({row['caught'] if key == 'share' else row['right_kind']}/{row['count']})"


def render_quality(payload: dict[str, Any]) -> str:
    """Caught per injected fault and dataset, then the unmodified recordings flagged per dataset."""
    data = payload["data"]
    caught = data["injected_caught"]
    datasets = list(dict.fromkeys(key.split("|")[1] for key in caught))
    out = ["Injected faults caught (share of signals the gate refused; whole recordings and 1 s excerpts):",
           "",
           "| injected fault (kind expected) | " + " | ".join(datasets) + " | all | named right |",
           "|---|" + "---|" * (len(datasets) + 2)]
    for name, kind in data["injections"].items():
        rows = [caught.get(f"{name}|{d}") for d in datasets]
        total = {k: sum(r[k] for r in rows if r) for k in ("count", "caught", "right_kind")}
        total["share"] = total["caught"] / max(total["count"], 1)
        total["right_kind_share"] = total["right_kind"] / max(total["count"], 1)
        out.append(f"| {name} (`{kind}`) | " + " | ".join(_share(r) for r in rows) +
                   f" | {_share(total)} | {_share(total, 'right_kind_share')} |")
    out += ["", "Unmodified recordings flagged (false alarms):", "",
            "| recordings | flagged |", "|---|---|"]
    for key, row in data["clean_flagged"].items():
        out.append(f"| {key} | {_share(row)} |")
    if data.get("missed_examples"):
        out += ["", "Missed: " + "; ".join(data["missed_examples"][:8]) + "."]
    if data.get("margins"):
        out += ["", "Margins of the rules (the largest value a clean piece reaches against the smallest an "
                "injected one reaches, the rule's threshold in brackets):", "",
                "| measure | value |", "|---|---|"]
        out += [f"| {name} | {value} |" for name, value in data["margins"].items()]
    return "\n".join(out) + "\n"


def render_speed_estimation(payload: dict[str, Any]) -> str:
    """Per rig and excerpt length: share within 1 % (and 2 %) for each estimator side by side, then how
    often the new estimate was flagged ambiguous and how often it was wrong without the flag."""
    data = payload["data"]
    groups = data["groups"]
    estimators = list(data["estimators"])
    keys = list(dict.fromkeys(k.rsplit("/", 1)[0] for k in groups))
    out = ["Shaft speed from the signal, share of estimates within 1 % (within 2 %) of the known speed:", "",
           "| rig / excerpt | n | " + " | ".join(estimators) + " | new: flagged ambiguous | new: wrong "
           "(> 2 %) and not flagged |",
           "|---|---|" + "---|" * (len(estimators) + 2)]
    for key in keys:
        rows = [groups.get(f"{key}/{name}") for name in estimators]
        cells = ["–" if r is None else f"{100 * r['within_1pct']:.1f} % ({100 * r['within_2pct']:.0f} %)"
                 for r in rows]
        new = groups.get(f"{key}/new") or {}
        count = next((r["count"] for r in rows if r), 0)
        flags = f"{100 * new.get('ambiguous', 0):.1f} % | {100 * new.get('wrong_unflagged', 0):.1f} %"
        out.append(f"| {key} | {count} | " + " | ".join(cells) + f" | {flags} |")
    out += ["", "Estimators: " + "; ".join(f"**{k}** = {v}" for k, v in data["estimators"].items()) + ".",
            "Excerpts: " + "; ".join(f"{k} = {v}" for k, v in data["lengths"].items()) + "."]
    return "\n".join(out) + "\n"


def render_speed_fault_type(payload: dict[str, Any]) -> str:
    """Per HIT rig and speed source: windows and recordings whose fault type is right, the speed used."""
    data = payload["data"]
    out = [f"Fault type through `/v1/diagnose` (`{data['model']}`, whole HIT recordings, bearing sent):", "",
           "| rig / speed sent | windows right | recordings right | recordings uncertain "
           "| refused (bad signal) | speed used within 1 % |",
           "|---|---|---|---|---|---|"]
    for key, row in data["groups"].items():
        windows = f"{100 * row['window_accuracy']:.1f} % ({row['windows_right']}/{row['windows']})"
        right, total = row["recordings_right"], row["recordings"]
        recordings = f"{100 * row['recording_accuracy']:.1f} % ({right}/{total})"
        counts = f"{row.get('uncertain', '–')} | {row['bad_signal']}"
        out.append(f"| {key} | {windows} | {recordings} | {counts} | "
                   f"{100 * row['speed_within_1pct_share']:.0f} % |")
    return "\n".join(out) + "\n"
