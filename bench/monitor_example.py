"""A week of condition monitoring on the embedded simulator: one asset, a measurement every 6 hours, an
outer-race fault that appears on day 2.5 and grows, through the service's own API (in-process, a fresh SQLite
database).

Each measurement is 1 s at 12 kHz from the simulator (`faultdx.data.synthetic.simulate`: shaft harmonics,
impacts ringing the structure, noise), 0.25 g per simulator unit. Days 0-2.5 healthy; then an outer-race
defect of 0.007 in, 0.014 in from day 4.5 and 0.021 in from day 6, while the 1x shaft-speed vibration grows
in phase with the machine's own as the bearing loosens (velocity RMS from about 0.95 mm/s to 5.5 mm/s).
The asset is ISO 20816-3 group 2 on a rigid support (zones A/B/C/D at 1.4 / 2.8 / 4.5 mm/s) with the
default alarm rule (the same verdict in 3 of the last 5 measurements).

Prints the week day by day; writes ``results/monitor_example.json`` and the trend plot
``docs/monitor_example.png``.

    python bench/monitor_example.py [--model hybrid-aprelu] [--database-url URL] [--plot PNG]
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from faultdx.data.synthetic import simulate
from faultdx.paths import PROJECT_ROOT
from faultdx.results import write_result
from faultdx.settings import DEFAULT_MODEL

RATE = 12000.0
RPM = 1797.0
PER_DAY = 4
DAYS = 7
START = datetime(2026, 3, 2, tzinfo=timezone.utc)
SCALE_G = 0.25  # g per simulator unit: a size-0.007 in impact rings at about 0.25 g
ASSET = {
    "name": "pump-7 DE", "machine": "cooling-water pump P-7", "location": "hall 2", "sensor_position":
    "drive end, horizontal", "bearing": "SKF 6205", "rpm": RPM, "sampling_rate": RATE, "iso_group": 2,
    "support": "rigid", "tags": ["example", "simulated"],
}


def stage(day: float) -> str:
    """The bearing's true condition at ``day``."""
    if day < 2.5:
        return "normal"
    return "outer_race_007" if day < 4.5 else "outer_race_014" if day < 6 else "outer_race_021"


def loosening_g(day: float) -> float:
    """Amplitude (g) added to the 1x shaft-speed vibration as the bearing loosens (0 while healthy)."""
    return 0.13 * max(0.0, (day - 2.5) / 4.5) ** 1.5


def measurement(i: int) -> tuple[float, np.ndarray]:
    """The ``i``-th measurement: (day, 1 s of acceleration in g)."""
    day = i / PER_DAY
    x = SCALE_G * simulate(stage(day), duration_s=1.0, sampling_rate=RATE, rpm=RPM, seed=1000 + i)
    t = np.arange(x.size) / RATE
    shaft = np.stack([np.sin(2 * np.pi * RPM / 60 * t), np.cos(2 * np.pi * RPM / 60 * t)], axis=1)
    (s, c), *_ = np.linalg.lstsq(shaft, x.astype(np.float64), rcond=None)  # the machine's own 1x
    grow = loosening_g(day) * (1 + 0.03 * np.random.default_rng(i).standard_normal())
    x = x + grow * np.sin(2 * np.pi * RPM / 60 * t + np.arctan2(c, s))
    return day, x.astype(np.float32)


def run(model: str, database_url: str) -> dict[str, Any]:
    """Create the asset, post the week, read back the trend and the alarms; everything through the API."""
    from fastapi.testclient import TestClient
    from faultdx_service.main import create_app
    from faultdx_service.settings import Settings

    settings = Settings(model=[model], database_url=database_url, log_json=False, log_level="warning")
    rows = []
    with TestClient(create_app(settings)) as client:
        client.post("/v1/assets", json=ASSET).raise_for_status()
        for i in range(DAYS * PER_DAY):
            day, x = measurement(i)
            when = START + timedelta(days=day)
            body = {"signals": [x.tolist()], "asset": ASSET["name"], "measured_at": when.isoformat()}
            r = client.post("/v1/diagnose", json=body, headers={"Idempotency-Key": f"example-{i}"})
            r.raise_for_status()
            answer = r.json()
            result, stored = answer["results"][0], answer["stored"]
            rows.append({
                "i": i, "day": day, "measured_at": when.isoformat(), "truth": stage(day),
                "fault_type": result["fault_type"], "confidence": result["confidence"],
                "p_outer_race": result["type_probabilities"]["outer_race"], "zone": stored["zones"][0],
                "unknown_score": result.get("unknown_score"),
                "alarms_opened": [f"{a['kind']}:{a['level']}" for a in stored["alarms_opened"]],
                "alarms_closed": [f"{a['kind']}:{a['level']}" for a in stored["alarms_closed"]],
            })
        # a client that retries the last post (same Idempotency-Key) does not store it twice
        retry = client.post("/v1/diagnose", json=body, headers={"Idempotency-Key": f"example-{i}"}).json()
        page = client.get(f"/v1/assets/{ASSET['name']}/diagnoses", params={"limit": 1000}).json()
        trend = client.get(f"/v1/assets/{ASSET['name']}/trend").json()
        alarms = client.get("/v1/alarms", params={"state": "all"}).json()["alarms"]
        listed = client.get("/v1/assets").json()["assets"][0]
        model_ref = answer["model"]
    indicators = {d["id"]: d["indicators"] for d in page["items"]}
    for row, item in zip(rows, sorted(page["items"], key=lambda d: d["measured_at"]), strict=True):
        row.update({k: indicators[item["id"]][k] for k in ("velocity_rms", "kurtosis", "crest_factor")})
    return {
        "model": model_ref,
        "asset": {k: ASSET[k] for k in ("name", "bearing", "rpm", "sampling_rate", "iso_group", "support")},
        "limits": trend["limits"],
        "posted": len(rows),
        "stored": page["total"],
        "retry_replayed": retry["stored"]["replayed"],
        "measurements": rows,
        "daily": trend["daily"],
        "alarms": [{k: a[k] for k in ("kind", "level", "message", "state", "opened_at", "closed_at")}
                   for a in sorted(alarms, key=lambda a: a["opened_at"])],
        "final": {"zone": listed["status"]["zone"], "open_alarms": listed["status"]["open_alarms"]},
        "first": _firsts(rows),
    }


def _firsts(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """When each zone was first reached, the fault first diagnosed, and each alarm kind first opened."""
    out: dict[str, Any] = {}
    for row in rows:
        out.setdefault(f"zone_{row['zone']}", row["measured_at"])
        if row["fault_type"] != "normal":
            out.setdefault(f"diagnosed_{row['fault_type']}", row["measured_at"])
        if row["truth"] != "normal":
            out.setdefault("fault_present", row["measured_at"])
        for alarm in row["alarms_opened"]:
            out.setdefault(f"alarm_{alarm}", row["measured_at"])
    return out


def plot(data: dict[str, Any], path: Path) -> None:
    """Velocity RMS over the zone bands with the alarm openings, and the outer-race probability."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = data["measurements"]
    days = [r["day"] for r in rows]
    limits = data["limits"]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5.4), sharex=True, height_ratios=(3, 2))
    ceiling = max(max(r["velocity_rms"] for r in rows), limits["cd"]) * 1.2
    bands = [("A", 0, limits["ab"], "#d8f3e3"), ("B", limits["ab"], limits["bc"], "#eef6c8"),
             ("C", limits["bc"], limits["cd"], "#ffe4bf"), ("D", limits["cd"], ceiling, "#ffd0cb")]
    for name, low, high, colour in bands:
        top.axhspan(low, high, color=colour, zorder=0)
        top.text(DAYS - 0.05, (low + high) / 2, name, ha="right", va="center", weight="bold", color="#4a5663")
    top.plot(days, [r["velocity_rms"] for r in rows], "o-", color="#0b5cad", ms=3.5, label="velocity RMS")
    for r in (r for r in rows if r["alarms_opened"]):
        zone = any(a.startswith("zone") for a in r["alarms_opened"])
        top.axvline(r["day"], color="#b3261e" if zone else "#7a4200", ls="--", lw=1)
        top.annotate(", ".join(a.replace(":", " ") for a in r["alarms_opened"]), (r["day"], ceiling * 0.97),
                     rotation=90, va="top", ha="right", fontsize=8)
    top.set_ylim(0, ceiling)
    top.set_ylabel("velocity RMS, 10-1000 Hz (mm/s)")
    top.set_title(f"{data['asset']['name']}: ISO 20816-3 group {data['asset']['iso_group']} "
                  f"{data['asset']['support']}, a week of measurements every 6 h")
    bottom.plot(days, [r["p_outer_race"] for r in rows], "o-", color="#e58a00", ms=3.5,
                label="P(outer race), model")
    truth = [0.0 if r["truth"] == "normal" else 1.0 for r in rows]
    bottom.step(days, truth, where="post", color="#6b7785", lw=1, ls=":", label="fault present (truth)")
    scores = [r["unknown_score"] for r in rows]
    top_score = 1.05
    if all(s is not None for s in scores):
        bottom.plot(days, scores, "s-", color="#6a4cc2", ms=2.5, lw=1, label="unknown-condition score")
        bottom.axhline(1.0, color="#6a4cc2", lw=0.8, ls="--")
        top_score = max(top_score, max(scores) * 1.05)
    bottom.set_ylim(-0.05, top_score)
    bottom.set_xlabel("day")
    bottom.set_ylabel("probability / score")
    bottom.legend(loc="center left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file in a temp folder")
    parser.add_argument("--plot", type=Path, default=PROJECT_ROOT / "docs" / "monitor_example.png")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        data = run(args.model, args.database_url or f"sqlite:///{Path(tmp) / 'monitor.sqlite'}")
    for r in data["measurements"]:
        opened = ", ".join(r["alarms_opened"]) or ""
        print(f"day {r['day']:4.2f}  {r['truth']:<15} v {r['velocity_rms']:5.2f} mm/s  zone {r['zone']}  "
              f"{r['fault_type']:<10} {r['confidence']:.3f}  {opened}")
    print(f"posted {data['posted']}, stored {data['stored']}, retry replayed: {data['retry_replayed']}; "
          f"final zone {data['final']['zone']}, open alarms {data['final']['open_alarms']}")
    plot(data, args.plot)
    command = "python bench/monitor_example.py"
    if args.model != DEFAULT_MODEL:
        command += f" --model {args.model}"
    print(f"wrote {write_result('monitor_example', data, command=command)} and {args.plot}")


if __name__ == "__main__":
    main()
