"""Fault type through ``/v1/diagnose`` on both HIT-SM rigs with the measured rpm, without any rpm, and with
the rig's nominal speed ± 10 % (``rpm_tolerance``) → ``results/speed_fault_type.json``.

The shipped default model in-process (FastAPI TestClient), every HIT recording whole, its bearing (SKF 6205)
always sent. Per rig and speed source: windows whose fault type is right, recordings right, answers refused
by the quality gate, answered ``uncertain`` (an ambiguous estimated speed, or no type standing out), and how
often the speed the service used was within 1 % of the measured one.

    FAULTDX_DATA=/path/to/data python bench/speed_fault_type.py [--model hybrid-aprelu]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.real_recordings import real_recordings  # noqa: E402
from faultdx.results import write_result  # noqa: E402

SOURCES = ("rpm given", "no rpm", "nominal ±10 %")


def speed_fields(source: str, recording) -> dict:
    if source == "rpm given":
        return {"rpm": recording.rpm}
    if source == "nominal ±10 %":
        return {"rpm": recording.nominal_rpm, "rpm_tolerance": 10}
    return {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="hybrid-aprelu")
    args = parser.parse_args()
    from fastapi.testclient import TestClient
    from faultdx_service.main import create_app
    from faultdx_service.settings import Settings

    settings = Settings(model=[args.model], api_key=None, log_json=False, trace=False, workers=1)
    tally: dict[str, dict[str, float]] = {}
    with TestClient(create_app(settings)) as client:
        for recording in real_recordings(("hit_mfs", "hit_self_built")):
            signal = np.asarray(recording.signal, dtype=np.float32)
            for source in SOURCES:
                body = {"signals": [signal.tolist()], "sampling_rate": recording.sampling_rate,
                        "bearing": recording.bearing, **speed_fields(source, recording)}
                reply = client.post("/v1/diagnose", json=body)
                reply.raise_for_status()
                result = reply.json()["results"][0]
                windows = [w["fault_type"] for w in result["windows"]]
                row = tally.setdefault(f"{recording.dataset}/{source}", {
                    "recordings": 0, "recordings_right": 0, "windows": 0, "windows_right": 0,
                    "bad_signal": 0, "uncertain": 0, "speed_within_1pct": 0})
                row["recordings"] += 1
                row["recordings_right"] += int(result["fault_type"] == recording.label)
                row["windows"] += len(windows)
                row["windows_right"] += sum(t == recording.label for t in windows)
                row["bad_signal"] += int(result["fault_type"] == "bad_signal")
                row["uncertain"] += int(result["fault_type"] == "uncertain")
                used = result["machine"]["rpm"]
                row["speed_within_1pct"] += int(abs(used - recording.rpm) <= 0.01 * recording.rpm)
                print(f"{recording.name:28s} {source:14s} {result['fault_type']:11s} "
                      f"({recording.label}) rpm {used:.0f} vs {recording.rpm:.0f}", flush=True)
    table = {key: {**row, "window_accuracy": round(row["windows_right"] / max(row["windows"], 1), 4),
                   "recording_accuracy": round(row["recordings_right"] / max(row["recordings"], 1), 4),
                   "speed_within_1pct_share": round(row["speed_within_1pct"] / max(row["recordings"], 1), 4)}
             for key, row in tally.items()}
    for key, row in table.items():
        print(f"{key:36s} windows {row['window_accuracy']:.3f} recordings {row['recording_accuracy']:.3f} "
              f"speed ≤1 % {row['speed_within_1pct_share']:.2f}")
    print(write_result("speed_fault_type", {"model": args.model, "sources": list(SOURCES), "groups": table}))


if __name__ == "__main__":
    main()
