"""Renderers of the speed benchmarks (results/bench_activations.json, results/bench_service.json): synthetic
payloads in the shape the benches write, exact table lines, a missing figure shown as a dash."""

from __future__ import annotations

import json

from faultdx.results_render import (
    RENDERERS,
    render_bench_activations,
    render_bench_service,
    render_scaling,
    render_text,
)

PROVENANCE = {
    "commit": "abc1234",
    "command": "bench_x.py --rounds 2",
    "machine": {"cpu": "x86_64", "cores": 16, "threads": 8, "torch": "2.5.0", "python": "3.11", "gpu": None},
    "date": "2026-12-02T06:00:00+00:00",
}


def activations_payload() -> dict:
    def row(ms: float, vs_relu: float, slopes: float | None = None) -> dict:
        return {"ms_per_batch": ms, "windows_per_s": round(256 / ms * 1e3, 1), "vs_relu": vs_relu,
                "slopes_on_off": slopes}

    return {"name": "bench_activations", **PROVENANCE, "data": {
        "preset": "physics", "frontend": "hybrid", "batch": 256, "window": 2048, "threads": 8, "rounds": 15,
        "context": {"bearing": "SKF 6205", "rpm": 1797.0, "sampling_rate": 12000.0,
                    "vector": [0.002496, 0.008947, 0.013515, 0.005882, 0.000994]},
        "mode": "eval, inference_mode, float32, CPU",
        "activations": {"relu": row(100.0, 1.004), "aprelu": row(128.0, 1.276, 1.0841)},
        "aprelu_vs_relu": 1.276, "aprelu_slopes_on_off": 1.0841,
        "targets": {"aprelu_vs_relu": 1.5, "slopes_on_off": 1.3},
    }}


def service_payload() -> dict:
    phase = {"label": "x", "windows_per_s": 1.0, "p50_ms": 1.0, "p99_ms": 1.0, "requests": 1, "windows": 1,
             "errors": 0, "seconds": 1.0, "windows_per_pass": 1.0,
             "cpu_ms_per_window": {"event_loop": 0.1, "forward": 0.2}}
    return {"name": "bench_service", **PROVENANCE, "data": {
        "model": "hybrid-aprelu", "rpm": 1797, "bearing": "SKF 6205", "sampling_rate": 12000, "window": 2048,
        "cores": 16, "seconds_per_phase": 4.0, "rounds": 4, "concurrency": 32, "windows_per_request": 8,
        "v1_request_kib": 22.1, "load_average": 0.4,
        "latency_ms": {"p50": 2.345, "p99": 9.87},
        "windows_per_s": {"v2_batching": 5321.4, "v2_no_batching": 1200.0, "v1_batching": 900.2,
                          "v1_no_batching": 450.0},
        "batching_gain": {"v2": 4.4345, "v1": 2.0},
        "slopes_on_off": {"latency_p50": None, "v2": 1.12, "v1": 1.05},
        "errors": 0,
        "targets": {"p50_ms": 5.0, "p99_ms": 20.0, "windows_per_s": 3000.0, "slopes_ratio": 1.3},
        "phases": {"lat": phase},
    }}


def test_both_benches_have_a_renderer():
    assert RENDERERS["bench_activations"] is render_bench_activations
    assert RENDERERS["bench_service"] is render_bench_service


def test_activations_table():
    lines = render_bench_activations(activations_payload()).splitlines()
    assert lines[0] == ("CPU forward pass, preset physics, front end hybrid, batch 256 × 2048-sample "
                        "windows, 8 thread(s), 15 rounds; context SKF 6205 at 1797 rpm, 12 kHz:")
    assert lines[2:6] == [
        "| activation | ms/batch | windows/s | time × ReLU | slopes on/off |",
        "|---|---|---|---|---|",
        "| relu | 100.0 | 2,560 | 1.00 | – |",
        "| aprelu | 128.0 | 2,000 | 1.28 | 1.08 |",
    ]
    assert lines[7].startswith("APReLU / ReLU time per batch 1.28× (target ≤ 1.5×); "
                               "APReLU slopes on / off 1.08× (target ≤ 1.3×).")


def test_activations_without_context_says_nothing_of_a_bearing():
    payload = activations_payload()
    payload["data"].update(frontend="raw", context=None)
    first = render_bench_activations(payload).splitlines()[0]
    assert first.endswith("8 thread(s), 15 rounds:") and "front end raw" in first


def test_service_table():
    lines = render_bench_service(service_payload()).splitlines()
    assert lines[0] == ("Service `hybrid-aprelu` over loopback, rpm 1797 and bearing SKF 6205 in every "
                        "request, 16 cores, 4 s per phase in 4 interleaved rounds:")
    assert lines[2:3] == ["| measurement | value | target |"]
    assert "| p50 latency, /v1 JSON, 1 window, concurrency 1 | 2.35 ms | ≤ 5 ms |" in lines
    v2 = "/v2 binary (8 windows/request), concurrency 32"
    assert f"| windows/s, {v2}, batching | 5,321 | ≥ 3,000 |" in lines
    assert f"| windows/s, {v2}, no batching | 1,200 |  |" in lines
    assert "| batching gain, /v2 binary; /v1 JSON | 4.4×; 2.0× |  |" in lines
    assert "| slopes on / off, p50 latency at concurrency 1 | – | ≤ 1.3× |" in lines  # not measured
    assert lines[-1] == "| errors (non-200 or broken connection), all phases | 0 | 0 |"
    assert all(line.count("|") == 4 for line in lines[2:])  # no stray pipe breaks a row
    assert not any("in process" in line for line in lines)  # a result measured before the ceiling was
    payload = service_payload()
    payload["data"]["windows_per_s"]["in_process_ceiling"] = 1555.4
    ceiling = [line for line in render_bench_service(payload).splitlines() if "in process" in line]
    assert len(ceiling) == 1 and ceiling[0].endswith("the machine's ceiling | 1,555 |  |")


def test_blocks_render_from_the_results_dir_with_a_caption(tmp_path, monkeypatch):
    monkeypatch.setenv("FAULTDX_RESULTS", str(tmp_path))
    for payload in (activations_payload(), service_payload()):
        (tmp_path / f"{payload['name']}.json").write_text(json.dumps(payload), encoding="utf-8")
    text = "<!-- results:bench_service -->\nold\n<!-- /results:bench_service -->\n"
    out = render_text(text)
    assert "old" not in out and "| errors (non-200 or broken connection), all phases | 0 | 0 |" in out
    assert ("Measured at commit abc1234, 2026-12-02T06:00:00+00:00, on x86_64, 16 cores, torch 2.5.0, by "
            "`bench_x.py --rounds 2`.") in out
    assert "| aprelu | 128.0 |" in render_text(text.replace("bench_service", "bench_activations"))


def scaling_payload() -> dict:
    def engine(engine: str, workers: int, fps: float, wps: float, steady: float, start: float,
               speedup: float) -> dict:
        return {"engine": engine, "workers": workers, "rounds": [], "seconds": 10.0, "first_row_s": start,
                "cpu_ms_per_window": None if engine == "ray" else 1.25 * workers,
                "files_per_s": fps, "windows_per_s": wps, "steady_windows_per_s": steady,
                "speedup_vs_1_process": speedup}

    windows_per_hour = 3600 * 12000 / 1024
    return {"name": "scaling", **PROVENANCE, "data": {
        "model": "hybrid-aprelu", "model_rate": 12000.0, "window": 2048, "hop": 1024, "cores": 2, "rounds": 3,
        "archive": {"real_files": 51, "simulated_files": 24, "simulated_seconds": 10.0, "files": 75,
                    "windows": 7630, "recorded_hours": 0.18, "errors": 0},
        "engines": {"local, 1 process": engine("local", 1, 7.5, 800.0, 1000.0, 1.9, 1.0),
                    "local, 2 processes": engine("local", 2, 9.1, 1210.4, 1900.0, 4.2, 1.9),
                    "Ray, 2 actors": engine("ray", 2, 6.0, 700.0, 1800.0, 9.0, 1.8)},
        "load_average": [{"round": 1, "before": 1.2, "after": 2.5},
                         {"round": 2, "before": 2.4, "after": 2.0}],
        "load_average_note": "the machine's cores are shared with other sessions",
        "core_ms_per_window": 1.0, "windows_per_recorded_hour": windows_per_hour,
        "projection": {"archive_hours": 10000, "windows": 10000 * windows_per_hour,
                       "core_hours": 10000 * windows_per_hour * 1e-3 / 3600, "node_cores": 16,
                       "assumption": "linear scaling",
                       "nodes": [{"nodes": n, "cores": 16 * n,
                                  "wall_hours": 10000 * windows_per_hour * 1e-3 / 3600 / (16 * n)}
                                 for n in (1, 4, 16, 64)]},
    }}


def test_scaling_table_and_projection():
    lines = render_scaling(scaling_payload()).splitlines()
    assert lines[0].startswith("`faultdx score` with `hybrid-aprelu` on one archive of 75 files (51 real "
                               "CWRU/MFPT recordings, 24 simulated files of 10 s in every format; 10.8 "
                               "recorded minutes, 7,630 windows), 2 cores, median of 3 interleaved rounds")
    assert "| local, 2 processes | 9.10 | 1,210 | 1,900 | 4.2 | 1.90× | 2.500 |" in lines
    assert "| Ray, 2 actors | 6.00 | 700 | 1,800 | 9.0 | 1.80× | – |" in lines
    assert any("Load average (1 min) around the rounds: 1.2 to 2.5 on 2 cores" in line for line in lines)
    # 421,875,000 windows x 1 core-ms = 117 core-hours; on 4 nodes of 16 cores 1.8 h
    assert any("is 421,875,000 windows" in line and "117 core-hours" in line for line in lines)
    assert "| 4 | 64 | 1.8 |" in lines and lines[-1] == "| 64 | 1024 | 0.1 |"
    assert RENDERERS["scaling"] is render_scaling


def test_hostile_table_marks_a_missed_target():
    from faultdx.results_render import render_hostile

    def phase(label: str, p99: float, ratio: float, rss: float, answers: dict, **healthz) -> dict:
        return {"label": label, "small_p50_ms": 20.0, "small_p99_ms": p99, "p99_ratio": ratio,
                "small_requests_per_s": 300.0, "small_errors": 0, "hostile_answers": answers,
                "hostile_p50_ms": 5.0, "rss_peak_mb": rss, **healthz}

    payload = {"name": "hostile", **PROVENANCE, "data": {
        "model": "m", "clients": 8, "cores": 2, "seconds_per_phase": 6.0, "rounds": 3,
        "targets": {"p99_ratio": 3.0, "rss_mb": 1536.0},
        "phases": {"none": phase("none", 50.0, 1.0, 500.0, {}),
                   "bomb": phase("bomb", 120.0, 2.4, 510.0, {"413": 90}),
                   "v2_big": phase("big v2", 200.0, 4.0, 700.0, {"200": 3}),
                   "idle_flood": phase("idle", 90.0, 1.8, 520.0, {}, healthz_answers={"200": 50, "failed": 2},
                                       healthz_p99_ms=2000.0),
                   "columns": phase("csv", 90.0, 1.8, 520.0, {"413": 9}, healthz_answers={"200": 60},
                                    healthz_p99_ms=12.5)}}}
    table = render_hostile(payload)
    assert "| bomb | 90 × 413 | 20.0 ms | 120.0 ms | 2.40× | 300 | 510 MB | — | yes |" in table
    assert "| big v2 | 3 × 200 | 20.0 ms | 200.0 ms | 4.00× | 300 | 700 MB | — | **no** |" in table
    assert "| idle | — | 20.0 ms | 90.0 ms | 1.80× | 300 | 520 MB | 2000.0 ms (2 failed) | **no** |" in table
    assert "| csv | 9 × 413 | 20.0 ms | 90.0 ms | 1.80× | 300 | 520 MB | 12.5 ms | yes |" in table
    assert "hostile" in RENDERERS
