"""Per-asset healthy baselines on SQLite and PostgreSQL: POST / GET / DELETE /v1/assets/{id}/baseline, a
diagnosis of the asset judged against it (and saying so), what survives a restart, bad bodies refused by
name with nothing stored, the `faultdx assets baseline` command, and the judgement itself."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from fastapi.testclient import TestClient
from faultdx_service.main import create_app
from faultdx_service.settings import Settings
from typer.testing import CliRunner

from faultdx.cli import app
from faultdx.diagnose.baseline import Reference, WindowFeatures, judge
from tests.service_support import RATE, make_model_dir, tone

SECONDS = 1.0


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_model_dir(tmp_path_factory.mktemp("models") / "tiny-aprelu")


def serve(model_dir, database_url: str) -> TestClient:
    return TestClient(create_app(Settings(model=[str(model_dir)], database_url=database_url, log_json=False,
                                          trace=False)))


def healthy(seed: int) -> list[float]:
    return tone(SECONDS, seed=seed).tolist()


def test_a_baseline_is_stored_shown_used_kept_over_a_restart_and_cleared(model_dir, database_url) -> None:
    with serve(model_dir, database_url) as client:
        missing = client.post("/v1/assets/nope/baseline", json={"signals": [healthy(0)]})
        assert missing.status_code == 404 and missing.json()["field"] == "asset"
        client.post("/v1/assets", json={"name": "pump", "sampling_rate": RATE, "rpm": 1797,
                                        "bearing": "SKF 6205"})
        client.post("/v1/assets", json={"name": "fan", "sampling_rate": RATE, "rpm": 1797})
        added = client.post("/v1/assets/pump/baseline", json={"signals": [healthy(0), healthy(1)]})
        assert added.status_code == 201, added.text
        summary = added.json()["summary"]
        assert summary["recordings"] == 2 and summary["speeds_rpm"] == [1797.0]
        assert summary["windows"] >= 2 * int(SECONDS * RATE // 2048)
        assert [r["sampling_rate"] for r in added.json()["items"]] == [RATE, RATE]
        more = client.post("/v1/assets/pump/baseline", json={"signals": [healthy(2)], "rpm": 1500})
        assert more.json()["summary"]["speeds_rpm"] == [1500.0, 1797.0]

        judged = client.post("/v1/diagnose", json={"signals": [healthy(3)], "asset": "pump"})
        assert judged.status_code == 200, judged.text
        verdict = judged.json()["results"][0]["baseline"]
        assert verdict["used"] and verdict["recordings"] == 3 and verdict["distance"] >= 0
        assert judged.json()["results"][0]["fault_type"] == verdict["fault_type"]
        history = client.get("/v1/assets/pump/diagnoses").json()["items"]
        assert [d["fault_type"] for d in history] == [verdict["fault_type"]]  # the history keeps the verdict
        plain = client.post("/v1/diagnose", json={"signals": [healthy(3)], "asset": "fan"})
        assert plain.json()["results"][0]["baseline"] == {"used": False, "recordings": 0, "distance": None}
        assert client.get("/v1/assets/pump").json()["baseline"]["recordings"] == 3

    with serve(model_dir, database_url) as client:  # a restart keeps it
        kept = client.get("/v1/assets/pump/baseline")
        assert kept.status_code == 200 and kept.json()["summary"]["recordings"] == 3
        assert client.delete("/v1/assets/pump/baseline").status_code == 204
        assert client.get("/v1/assets/pump/baseline").json()["summary"]["recordings"] == 0
        after = client.post("/v1/diagnose", json={"signals": [healthy(3)], "asset": "pump"})
        assert after.json()["results"][0]["baseline"]["used"] is False
        assert client.get("/v1/assets/nope/baseline").status_code == 404
        assert client.delete("/v1/assets/nope/baseline").status_code == 404


@pytest.mark.parametrize(("body", "field"), [
    ({"signals": [[0.5] * 12000]}, "signals[0]"),  # a flat line is no healthy reference
    ({"signals": [healthy(0), [0.0] * 12000]}, "signals[1]"),  # one bad signal: none is stored
    ({"signals": [healthy(0)], "sampling_rate": -5}, "sampling_rate"),
    ({"signals": [healthy(0)], "sampling_rate": 1e12}, "sampling_rate"),
    ({"signals": [healthy(0)[:100]]}, "signals[0]"),  # too short for one window
    ({"signals": [healthy(0)], "rpm": -1}, "rpm"),
])
def test_a_bad_baseline_body_is_a_422_naming_the_field_and_stores_nothing(model_dir, database_url, body,
                                                                           field) -> None:
    with serve(model_dir, database_url) as client:
        client.post("/v1/assets", json={"name": "pump", "sampling_rate": RATE, "rpm": 1797})
        answer = client.post("/v1/assets/pump/baseline", json=body)
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] == field
        assert client.get("/v1/assets/pump/baseline").json()["summary"]["recordings"] == 0


def test_the_cli_adds_and_shows_a_baseline(model_dir, database_url, tmp_path) -> None:
    with serve(model_dir, database_url) as client:
        client.post("/v1/assets", json={"name": "pump", "sampling_rate": RATE, "rpm": 1797})
    files = []
    for seed in (0, 1):
        files.append(tmp_path / f"healthy-{seed}.npy")
        np.save(files[-1], tone(SECONDS, seed=seed))
    runner = CliRunner()
    done = runner.invoke(app, ["assets", "baseline", "pump", *map(str, files), "--model", str(model_dir),
                               "--database-url", database_url])
    assert done.exit_code == 0, done.output
    assert "baseline of 2 recordings" in done.output and "1797" in done.output
    shown = runner.invoke(app, ["assets", "baseline", "pump", "--database-url", database_url, "--json"])
    assert '"recordings": 2' in shown.output
    bad = runner.invoke(app, ["assets", "baseline", "nope", str(files[0]), "--model", str(model_dir),
                              "--database-url", database_url])
    assert bad.exit_code == 2 and "asset" in bad.output


def test_the_judgement_calls_its_own_baseline_normal_and_a_shifted_one_not() -> None:
    rng = np.random.default_rng(0)
    base = [WindowFeatures(rng.normal(0, 0.3, (40, 3)), rng.normal(0, 1, (40, 8))) for _ in range(2)]
    reference = Reference.fit(base)
    probs = np.tile([0.1, 0.1, 0.7, 0.1], (20, 1))  # the network would say inner race
    same = WindowFeatures(rng.normal(0, 0.3, (20, 3)), rng.normal(0, 1, (20, 8)))
    assert judge(reference, same, probs).fault_type == "normal"
    moved = WindowFeatures(same.evidence + [0, 0, 3.0], same.embedding + 6.0)  # outer-race lines, far away
    for method in ("mahalanobis", "either"):
        verdict = judge(reference, moved, probs, method)
        assert verdict.distance > 1 and verdict.fault_type == "inner_race"  # the network names the fault
    lines = judge(reference, moved, probs, "evidence")
    assert lines.distance > 1 and lines.fault_type == "outer_race"  # the lines name it
    assert judge(reference, same, probs, "evidence").fault_type == "normal"


def test_the_speed_aware_judgement_uses_the_features_only_at_a_speed_the_baseline_covers() -> None:
    rng = np.random.default_rng(1)
    base = [WindowFeatures(rng.normal(0, 0.3, (40, 3)), rng.normal(0, 1, (40, 8)))]
    reference = Reference.fit(base, [1200.0])
    probs = np.tile([0.1, 0.1, 0.7, 0.1], (20, 1))
    shifted = WindowFeatures(rng.normal(0, 0.3, (20, 3)), rng.normal(0, 1, (20, 8)) + 6.0)  # features moved
    near = judge(reference, shifted, probs, "speed_aware", rpm=1190.0)
    assert near.method == "speed_aware:mahalanobis" and near.fault_type == "inner_race"
    far = judge(reference, shifted, probs, "speed_aware", rpm=600.0)  # lines unchanged: normal
    assert far.method == "speed_aware:evidence" and far.fault_type == "normal"


def test_a_family_the_answer_names_needs_less_rise_of_its_lines_in_every_method() -> None:
    """Inner-race lines 0.7 robust spreads up: not enough by themselves (1.5), enough when the answer names
    a fault of that family (fault probability 0.5 or more), in every method; not when it names another, is
    not a fault, or the lines did not rise (a line already there at commissioning)."""
    from faultdx.diagnose.baseline import CORROBORATED_Z, EVIDENCE_Z, FAULT_NAMED_AT

    assert CORROBORATED_Z < 0.7 < EVIDENCE_Z
    rng = np.random.default_rng(2)
    levels = np.linspace(-1, 1, 41)  # median 0, MAD 0.5: robust spread 0.74
    embedding = rng.normal(0, 1, (41, 8))
    reference = Reference.fit([WindowFeatures(np.stack([levels] * 3, axis=1), embedding)])

    def features(rise: float) -> WindowFeatures:
        lines = np.tile([0.0, rise * float(reference.spread[1]), 0.0], (20, 1))
        return WindowFeatures(lines, embedding[:20])  # the network's features as at commissioning

    fault = FAULT_NAMED_AT + 0.1
    says = {"inner": [1 - fault, 0.0, fault, 0.0], "outer": [1 - fault, 0.0, 0.0, fault],
            "no fault": [1 - (FAULT_NAMED_AT - 0.2), 0.0, FAULT_NAMED_AT - 0.2, 0.0]}
    for method in ("evidence", "mahalanobis", "both", "either"):
        verdicts = {k: judge(reference, features(0.7), np.tile(p, (20, 1)), method).fault_type
                    for k, p in says.items()}
        assert verdicts == {"inner": "inner_race", "outer": "normal", "no fault": "normal"}, method
        assert judge(reference, features(0.2), np.tile(says["inner"], (20, 1)), method).fault_type == "normal"


def test_an_asset_judgement_reads_what_the_diagnosing_pass_computed_and_matches_a_second_pass(
        monkeypatch) -> None:
    """The shipped default's pass computes the penultimate features (its unknown-condition score reads them)
    and the envelope's line evidence (its policy reads the envelope): judging the signal against a baseline
    reads those, the same as windowing the signal again would give, and windows nothing again."""
    from faultdx.data.synthetic import simulate
    from faultdx.diagnose import Diagnoser
    from faultdx.diagnose.baseline import diagnosis_features, signal_features
    from faultdx.monitor import recording

    diagnoser = Diagnoser.from_dir("hybrid-aprelu", trace=True)
    signal = simulate("outer_race", duration_s=SECONDS, rpm=1797.0, seed=4)
    [diagnosis] = diagnoser.diagnose([signal], RATE, rpm=1797.0, bearing="SKF 6205")
    first = diagnosis_features(diagnosis)
    assert first is not None and len(first.evidence) == len(diagnosis.start)
    again, _ = signal_features(diagnoser, signal, RATE, rpm=1797.0, bearing=diagnosis.machine.bearing)
    np.testing.assert_allclose(first.evidence, again.evidence, atol=1e-4)
    np.testing.assert_allclose(first.embedding, again.embedding, rtol=1e-3, atol=1e-3)

    class OneBaseline:  # the store's one read here: (model, rpm, features) of the asset's baseline recordings
        def baseline_features(self, asset_id: int):
            healthy = simulate("normal", duration_s=SECONDS, rpm=1797.0, seed=5)
            features, _ = signal_features(diagnoser, healthy, RATE, rpm=1797.0, bearing=bearing)
            return [(diagnoser.name, 1797.0, features.to_json())]

    bearing, store = diagnosis.machine.bearing, OneBaseline()
    without = dataclasses.replace(diagnosis, window_embeddings=None)  # as before: a second pass
    [expected] = recording.judge_signals(store, 1, diagnoser, [without], [signal], RATE)

    def second_pass(*args, **kwargs):
        raise AssertionError("the judgement windowed the signal again")

    monkeypatch.setattr(recording, "signal_features", second_pass)
    [verdict] = recording.judge_signals(store, 1, diagnoser, [diagnosis], [signal], RATE)
    assert verdict["used"] and verdict["fault_type"] == expected["fault_type"]
    assert verdict["distance"] == pytest.approx(expected["distance"], rel=1e-2, abs=1e-3)
    # windows other than the model's own are not what a baseline holds: those are windowed again
    [wide] = diagnoser.diagnose([signal], RATE, rpm=1797.0, bearing="SKF 6205", window=4096)
    assert diagnosis_features(wide) is None
