"""The plant listener's measured figures (``results/mqtt.json``, by ``bench/bench_mqtt.py``) as markdown."""

from __future__ import annotations

from typing import Any


def render_mqtt(payload: dict[str, Any]) -> str:
    """Messages/s end to end and publish → answer latency with 1 and 8 assets, then the backlog's memory."""
    d = payload["data"]
    s = d["summary"]
    rows = ["| assets | messages/s end to end (best round; every round) | publish → answer p50 | p99 |",
            "|---|---|---|---|"]
    for n in (1, 8):
        r = s[f"assets_{n}"]
        rounds = ", ".join(f"{v:g}" for v in r["messages_per_s_rounds"])
        rows.append(f"| {n} | {r['messages_per_s']:g} ({rounds}) | {r['p50_ms']:.0f} ms "
                    f"| {r['p99_ms']:.0f} ms |")
    b = d["backlog"]
    drained = (f"all {b['drained']:,}" if b["drained"] >= b["messages"]
               else f"{b['drained']:,} of {b['messages']:,} in the {b['seconds']:g} s watched")
    return ("\n".join(rows) + "\n\n"
            f"Each message: one signal of {d['signal_seconds']:g} s at 12 kHz (JSON, rpm and bearing given), "
            f"diagnosed by `{d['model']}`, stored in SQLite and answered; {d['answered']:,} answers, "
            f"{d['errors']} errors. Backlog: {b['messages']:,} messages (2,048 samples each) queued at the "
            f"broker while the listener was stopped, then drained: {drained} "
            f"({b['messages_per_s']:g} messages/s). Listener memory: {b['idle_rss_mib']:g} MiB idle, "
            f"{b['draining_rss_median_mib']:g} MiB median and {b['draining_rss_max_mib']:g} MiB at most "
            f"while draining (high-water mark {b['peak_hwm_mib']:g} MiB); at most {b['queued_max']} messages "
            "were held in the listener at a time.\n")
