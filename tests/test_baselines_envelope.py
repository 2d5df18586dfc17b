"""The envelope-analysis reference: names faults on simulated and real signals, and serves as "envelope"."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from faultdx.baselines.envelope import ENVELOPE_NAME, EnvelopeConfig, EnvelopeReference, load_envelope
from faultdx.data.base import FAULT_TYPES
from faultdx.data.bearing import SKF_6205, BearingGeometry, bearing_from, context_vector
from faultdx.data.registry import get_dataset
from faultdx.data.synthetic import random_machine, simulate, simulate_machine
from faultdx.data.windows import frame, standardize
from faultdx.diagnose import Diagnoser
from faultdx.diagnose.models import is_built_in
from faultdx.modeldir import CheckpointError, save_model_dir
from tests.data_helpers import missing_data

RATE, WINDOW = 12000.0, 2048




def windows(signal: np.ndarray, geometry: BearingGeometry, rpm: float) -> tuple[torch.Tensor, torch.Tensor]:
    x = standardize(frame(np.asarray(signal, dtype=np.float32).reshape(1, -1), WINDOW, WINDOW))
    context = np.repeat(context_vector(geometry, rpm, RATE)[None], len(x), axis=0)
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(context)


def predicted(model: EnvelopeReference, signal: np.ndarray, geometry: BearingGeometry, rpm: float
              ) -> np.ndarray:
    with torch.inference_mode():
        return np.array(FAULT_TYPES)[model(*windows(signal, geometry, rpm)).argmax(1).numpy()]


def test_logits_follow_fault_types_and_have_no_parameters() -> None:
    model = EnvelopeReference(sampling_rate=RATE)
    x, context = windows(simulate("outer_race", duration_s=0.5), SKF_6205, 1797)
    logits, slopes = model.forward_with_slopes(x, context)
    assert logits.shape == (len(x), len(FAULT_TYPES)) and slopes == {}
    assert list(model.parameters()) == []
    threshold = model.config.sharpness * math.log(model.config.threshold)
    torch.testing.assert_close(logits[:, 0], torch.full((len(x),), threshold))


@pytest.mark.parametrize("band", ["kurtosis", "fixed"])
def test_names_simulated_faults(band: str) -> None:
    model = EnvelopeReference(EnvelopeConfig(band=band), sampling_rate=RATE)
    for fault_type in FAULT_TYPES:
        got = np.concatenate([predicted(model, simulate(fault_type, duration_s=2.0, rpm=rpm, seed=seed),
                                        SKF_6205, rpm) for seed in range(2) for rpm in (1730, 1797)])
        # measured: 100 % for each fault; normal 91 % (kurtosis), 77 % (fixed)
        assert np.mean(got == fault_type) >= (0.65 if fault_type == "normal" else 0.95), fault_type


def test_names_faults_on_randomised_machines() -> None:
    model = EnvelopeReference(sampling_rate=RATE)
    rng = np.random.default_rng(0)
    hits: dict[str, list[bool]] = {t: [] for t in FAULT_TYPES}
    for _ in range(20):
        machine = random_machine(rng, RATE)
        for fault_type in FAULT_TYPES:
            signal = simulate_machine(fault_type, machine, duration_s=1.0, sampling_rate=RATE, rng=rng,
                                      severity=1.0)
            hits[fault_type] += list(predicted(model, signal, machine.geometry, machine.rpm) == fault_type)
    rates = {t: float(np.mean(v)) for t, v in hits.items()}
    # measured over 40 machines: normal 0.70, ball 0.82, inner race 0.99, outer race 0.95
    minimum = {"normal": 0.55, "ball": 0.65, "inner_race": 0.9, "outer_race": 0.85}
    assert all(rates[t] >= minimum[t] for t in FAULT_TYPES), rates


def test_wrong_rpm_lowers_the_evidence() -> None:
    model = EnvelopeReference(sampling_rate=RATE)
    column = {"ball": 0, "inner_race": 1, "outer_race": 2}
    for fault_type, index in column.items():
        signal = simulate(fault_type, duration_s=2.0, rpm=1797)
        right = model.evidence(*windows(signal, SKF_6205, 1797))[:, index].mean()
        wrong = model.evidence(*windows(signal, SKF_6205, 1797 * 1.2))[:, index].mean()
        assert wrong < 0.7 * right, (fault_type, float(right), float(wrong))


def test_served_by_name_end_to_end(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FAULTDX_MODELS", str(tmp_path))
    diagnoser = Diagnoser.from_dir(ENVELOPE_NAME)
    assert diagnoser.name == ENVELOPE_NAME and diagnoser.needs_context
    assert diagnoser.classes == FAULT_TYPES and diagnoser.meta.model["kind"] == ENVELOPE_NAME
    assert diagnoser.bearing.name == SKF_6205.name
    signal = simulate("inner_race", duration_s=2.0, sampling_rate=48000, rpm=1750)
    [diagnosis] = diagnoser.diagnose(signal, 48000, rpm=1750, bearing="SKF 6205")
    assert diagnosis.fault_type == "inner_race" and math.isfinite(diagnosis.confidence)
    assert diagnosis.evidence["defect_frequency"] == "BPFI"


def test_other_window_and_bearing() -> None:
    loaded = load_envelope(window=4096, bearing="MFPT NICE")
    diagnoser = Diagnoser(loaded.model, loaded.meta)
    assert diagnoser.window == 4096 and diagnoser.meta.hop == 4096
    assert diagnoser.bearing.name == "MFPT NICE"


def _recordings(name: str, **options):
    try:
        recordings = get_dataset(name, sampling_rate=RATE, **options).recordings()
    except FileNotFoundError:
        recordings = []
    if not recordings:
        missing_data(f"no {name} files")
    return recordings


def _accuracy(model: EnvelopeReference, recordings) -> float:
    hits = [predicted(model, r.signal[0], bearing_from(r.bearing), r.rpm) == r.fault_type for r in recordings]
    return float(np.mean(np.concatenate(hits)))


@pytest.mark.parametrize(("band", "measured"), [("kurtosis", 0.60), ("fixed", 0.79)])
def test_mfpt_fault_types(band: str, measured: float) -> None:
    model = EnvelopeReference(EnvelopeConfig(band=band), sampling_rate=RATE)
    recordings = _recordings("mfpt")
    # the windows the default ("twice the floor") calls normal are all MFPT loses: by evidence alone 100 %
    assert _accuracy(model, recordings) >= measured - 0.05
    by_evidence = EnvelopeReference(EnvelopeConfig(band=band, threshold=1e-3), sampling_rate=RATE)
    assert _accuracy(by_evidence, recordings) >= 0.95


def test_cwru_drive_end_faults() -> None:
    recordings = [r for r in _recordings("cwru", set="12k_drive_end", label_set="4class")
                  if r.fault_type != "normal"]
    # measured 0.366 with the normal gate, 0.710 by evidence alone (CWRU ball faults barely show)
    assert _accuracy(EnvelopeReference(sampling_rate=RATE), recordings) >= 0.30
    by_evidence = EnvelopeReference(EnvelopeConfig(threshold=1e-3), sampling_rate=RATE)
    assert _accuracy(by_evidence, recordings) >= 0.65


def test_a_model_directory_of_the_envelope_kind_is_built_by_the_registry(tmp_path) -> None:
    loaded = load_envelope(window=4096, bearing="MFPT NICE", config=EnvelopeConfig(threshold=3.0))
    meta = loaded.meta.model_dump(mode="json")
    save_model_dir(tmp_path / "env", loaded.model, {**meta, "name": "env-dir"})
    from_dir = Diagnoser.from_dir(tmp_path / "env")
    assert isinstance(from_dir.model, EnvelopeReference) and from_dir.model.config == loaded.model.config
    signal = simulate("outer_race", duration_s=1.0, sampling_rate=12000, rpm=1750)
    [a] = from_dir.diagnose(signal, 12000, rpm=1750)
    [b] = Diagnoser(loaded.model, loaded.meta).diagnose(signal, 12000, rpm=1750)
    np.testing.assert_array_equal(a.window_probabilities, b.window_probabilities)


def test_an_unknown_model_kind_is_a_checkpoint_error_naming_the_kinds(tmp_path) -> None:
    loaded = load_envelope()
    meta = loaded.meta.model_dump(mode="json")
    save_model_dir(tmp_path / "odd", loaded.model, {**meta, "model": {**meta["model"], "kind": "odd"}})
    with pytest.raises(CheckpointError, match="unknown model kind 'odd'.*resnet1d, envelope"):
        Diagnoser.from_dir(tmp_path / "odd")


def test_a_model_directory_named_envelope_shadows_the_built_in(tmp_path, monkeypatch) -> None:
    loaded = load_envelope(window=2048)
    save_model_dir(tmp_path / ENVELOPE_NAME, loaded.model, loaded.meta.model_dump(mode="json"))
    monkeypatch.setenv("FAULTDX_MODELS", str(tmp_path))
    assert not is_built_in(ENVELOPE_NAME)
    diagnoser = Diagnoser.from_dir(ENVELOPE_NAME)
    assert diagnoser.path == tmp_path / ENVELOPE_NAME and diagnoser.window == 2048
    monkeypatch.setenv("FAULTDX_MODELS", str(tmp_path / "none"))
    assert is_built_in(ENVELOPE_NAME) and Diagnoser.from_dir(ENVELOPE_NAME).path is None
