"""Confidence on machines never seen: the temperature of a model directory's confidence.json, a window sure
only where the envelope backs its fault type, the answer "uncertain" when no defect family stands out or a
recording's windows disagree, and CWRU sizes only on the CWRU rig."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from faultdx.context import MachineContext
from faultdx.data.base import CWRU_10_CLASSES
from faultdx.data.bearing import SKF_6205, catalogue
from faultdx.diagnose import Diagnoser
from faultdx.diagnose.confidence import (
    ConfidencePolicy,
    backed_type_probabilities,
    envelope_figures,
    lined_type_probabilities,
    load_confidence,
    recording_lines,
    save_confidence,
    window_line_evidence,
)
from faultdx.diagnose.result import Diagnosis
from faultdx.paths import PROJECT_ROOT

INNER_014 = CWRU_10_CLASSES.index("inner_race_014")


def _diagnosis(probs: list[float], machine: MachineContext | None, policy=ConfidencePolicy()) -> Diagnosis:
    window = np.asarray(probs, dtype=np.float32)[None]
    return Diagnosis(CWRU_10_CLASSES, np.repeat(window, 4, axis=0), np.arange(4), machine=machine,
                     training_rig="cwru", policy=policy)


def _inner_014(p: float) -> list[float]:
    probs = [(1 - p) / 9] * 10
    probs[INNER_014] = p
    return probs


def test_a_cwru_size_only_on_the_cwru_rig_elsewhere_the_evidence_level() -> None:
    cwru = MachineContext(1772.0, SKF_6205)
    assert _diagnosis(_inner_014(0.95), cwru).severity == "0.014 in"
    mfpt = MachineContext(1500.0, catalogue()["MFPT NICE"])
    other = _diagnosis(_inner_014(0.95), mfpt)
    assert other.fault_type == "inner_race" and other.severity == "high evidence"
    assert "only on the CWRU rig" in other.severity_note
    slow_6205 = MachineContext(900.0, SKF_6205)  # the HIT rigs: the CWRU bearing at another speed
    assert _diagnosis(_inner_014(0.75), slow_6205).severity == "medium evidence"
    assert _diagnosis([1.0] + [0.0] * 9, mfpt).severity is None  # normal


def test_uncertain_when_abnormal_but_no_fault_type_stands_out() -> None:
    spread = [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]  # ball 0.3, inner 0.3, outer 0.3
    policy = ConfidencePolicy(uncertain_below=0.6)
    d = _diagnosis(spread, MachineContext(1772.0, SKF_6205), policy)
    assert d.fault_type == "uncertain" and d.label == "uncertain"
    assert d.closest_fault_type == "ball" and d.severity is None and d.evidence is None
    answer = d.as_dict(windows=False)
    assert answer["fault_type"] == "uncertain" and answer["closest_fault_type"] == "ball"
    assert _diagnosis(spread, None).fault_type == "ball"  # without the rule: the leading type
    clear = _diagnosis(_inner_014(0.8), None, policy)
    assert clear.fault_type == "inner_race" and clear.as_dict(windows=False)["window_agreement"] == 1.0


def test_a_bad_confidence_file_is_refused_with_its_path(tmp_path) -> None:
    assert load_confidence(tmp_path) == ConfidencePolicy()
    (tmp_path / "confidence.json").write_text('{"temperature": -1}')
    with pytest.raises(ValueError, match="confidence.json"):
        load_confidence(tmp_path)
    (tmp_path / "confidence.json").write_text('{"temperature": 2, "uncertain_below": 1.5}')
    with pytest.raises(ValueError, match="uncertain_below"):
        load_confidence(tmp_path)


def test_the_diagnoser_divides_the_logits_by_the_stored_temperature(tmp_path) -> None:
    model = tmp_path / "model"
    shutil.copytree(PROJECT_ROOT / "models" / "hybrid-aprelu", model)
    (model / "confidence.json").unlink(missing_ok=True)
    signal = np.random.default_rng(0).standard_normal(12000).astype(np.float32)
    plain = Diagnoser.from_dir(model).diagnose(signal, 12000.0, rpm=1772.0)[0]
    save_confidence(model, ConfidencePolicy(temperature=2.0, source="test"))
    warm = Diagnoser.from_dir(model)
    assert warm.confidence.temperature == 2.0
    soft = warm.diagnose(signal, 12000.0, rpm=1772.0)[0]
    logits = np.log(plain.window_probabilities.astype(np.float64))
    expected = np.exp(logits / 2.0)
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(soft.window_probabilities, expected, atol=1e-5)
    assert soft.window_probabilities.max() < plain.window_probabilities.max()


GATED = ConfidencePolicy(uncertain_below=0.6, backing=0.9, unbacked_cap=0.89, agreement_below=0.6,
                         fault_confidence_below=0.7)


def test_a_window_is_sure_only_where_the_envelope_backs_its_fault_type() -> None:
    window_types = np.array([[0.01, 0.01, 0.97, 0.01],   # inner race, backed by the envelope
                             [0.01, 0.01, 0.97, 0.01],   # inner race, the envelope sees no inner-race line
                             [0.95, 0.01, 0.02, 0.02]])  # normal: not gated (no family to back)
    envelope = np.array([[0.02, 0.01, 0.95, 0.02], [0.7, 0.1, 0.1, 0.1], [0.7, 0.1, 0.1, 0.1]])
    gated = backed_type_probabilities(window_types, envelope, GATED)
    np.testing.assert_allclose(gated[[0, 2]], window_types[[0, 2]])
    assert gated[1, 2] == pytest.approx(0.89) and gated[1].argmax() == 2
    np.testing.assert_allclose(gated.sum(axis=1), 1.0, atol=1e-9)
    assert gated[1, 0] == pytest.approx(0.01 + 0.08 / 3)  # the excess shared in proportion
    np.testing.assert_allclose(backed_type_probabilities(window_types, None, GATED), window_types)
    np.testing.assert_allclose(backed_type_probabilities(window_types, envelope, ConfidencePolicy()),
                               window_types)


def _inner_windows(p: float, n: int = 4) -> np.ndarray:
    return np.repeat(np.asarray(_inner_014(p), dtype=np.float32)[None], n, axis=0)


def test_the_recording_confidence_stays_under_sure_without_envelope_backing() -> None:
    machine = MachineContext(1500.0, catalogue()["MFPT NICE"])
    unbacked = np.tile([[0.7, 0.1, 0.1, 0.1]], (4, 1))
    backed = np.tile([[0.02, 0.01, 0.95, 0.02]], (4, 1))
    common = dict(machine=machine, training_rig="cwru", policy=GATED)
    d = Diagnosis(CWRU_10_CLASSES, _inner_windows(0.97), np.arange(4), window_backing=unbacked, **common)
    assert d.fault_type == "inner_race" and d.confidence == pytest.approx(0.89, abs=1e-6)
    assert d.severity == "medium evidence"
    sure = Diagnosis(CWRU_10_CLASSES, _inner_windows(0.97), np.arange(4), window_backing=backed, **common)
    assert sure.confidence == pytest.approx(0.97 + 2 * 0.03 / 9, abs=1e-6)  # the three inner-race sizes
    assert sure.severity == "high evidence"


def test_a_recording_whose_windows_disagree_or_whose_type_is_weak_is_uncertain() -> None:
    inner, outer = _inner_014(0.8), [0.05] * 10
    outer[CWRU_10_CLASSES.index("outer_race_014")] = 0.55
    split = np.asarray([inner, inner, outer, outer, outer], dtype=np.float32)  # 2 inner, 3 outer windows
    d = Diagnosis(CWRU_10_CLASSES, split, np.arange(5), policy=GATED)
    assert d.closest_fault_type == "inner_race"  # the mean leans to inner race ...
    assert d.fault_type == "uncertain"  # ... but only 40 % of the windows say it
    assert Diagnosis(CWRU_10_CLASSES, split, np.arange(5)).fault_type == "inner_race"  # no policy: named
    weak = Diagnosis(CWRU_10_CLASSES, _inner_windows(0.55), np.arange(4), policy=GATED)  # inner race 0.65
    assert weak.fault_type == "uncertain" and weak.closest_fault_type == "inner_race"
    healthy = Diagnosis(CWRU_10_CLASSES, np.tile([[0.5] + [0.5 / 9] * 9], (4, 1)).astype(np.float32),
                        np.arange(4), policy=GATED)
    assert healthy.fault_type == "normal"  # a weak healthy verdict is not held back


def test_the_policy_round_trips_and_a_bad_rule_is_refused_by_name(tmp_path) -> None:
    save_confidence(tmp_path, GATED)
    assert load_confidence(tmp_path) == GATED
    (tmp_path / "confidence.json").write_text('{"temperature": 1, "backing": 0}')
    with pytest.raises(ValueError, match="backing"):
        load_confidence(tmp_path)
    (tmp_path / "confidence.json").write_text('{"temperature": 1, "fault_confidence_below": "high"}')
    with pytest.raises(ValueError, match="confidence.json"):
        load_confidence(tmp_path)


def _outer_race_signal(rate: float, rpm: float, seconds: float = 2.0) -> np.ndarray:
    """Impacts at the SKF 6205's BPFO ringing a 3.5 kHz resonance, in noise."""
    bpfo = MachineContext(rpm, SKF_6205).frequencies()["bpfo"]
    t = np.arange(int(seconds * rate)) / rate
    signal = np.random.default_rng(1).standard_normal(t.size) * 0.3
    ring = np.exp(-t[: int(0.004 * rate)] * 1500.0) * np.sin(2 * np.pi * 3500.0 * t[: int(0.004 * rate)])
    for hit in np.arange(0.0, seconds - 0.005, 1.0 / bpfo):
        i = int(hit * rate)
        signal[i : i + ring.size] += 3.0 * ring
    return signal.astype(np.float32)


def _impacts_and_noise(n: int, seed: int, rate: float = 12000.0) -> tuple[np.ndarray, ...]:
    """``n`` 2048-sample windows of the outer-race impact train and of white noise, and their context."""
    context = np.repeat(MachineContext(1772.0, SKF_6205).vector(rate)[None], n, axis=0)
    impacts = _outer_race_signal(rate, 1772.0)[: n * 2048].reshape(n, 1, 2048)
    noise = np.random.default_rng(seed).standard_normal((n, 1, 2048)).astype(np.float32)
    return impacts, noise, context


def test_the_envelope_backs_an_outer_race_impact_train_and_not_noise() -> None:
    rate = 12000.0
    impacts, noise, context = _impacts_and_noise(5, seed=2)
    outer, _, evidence = envelope_figures(impacts, context, rate)
    assert (outer.argmax(axis=1) == 3).all() and (outer[:, 3] >= 0.9).mean() >= 0.8
    assert (envelope_figures(noise, context, rate)[0][:, 1:] < 0.9).all()
    # the line evidence it returns is the baseline's (ball, inner race, outer race), outer race the highest
    np.testing.assert_allclose(evidence, window_line_evidence(impacts, context, rate), rtol=1e-5)
    assert (evidence.argmax(axis=1) == 2).all()


def test_the_diagnoser_reads_the_envelope_only_under_a_gating_policy(tmp_path) -> None:
    model = tmp_path / "model"
    shutil.copytree(PROJECT_ROOT / "models" / "hybrid-aprelu", model)
    save_confidence(model, GATED)
    signal = _outer_race_signal(12000.0, 1772.0)
    gated = Diagnoser.from_dir(model).diagnose(signal, 12000.0, rpm=1772.0)[0]
    assert gated.window_backing is not None and gated.window_backing.shape == (len(gated.start), 4)
    types = gated.window_type_probabilities
    np.testing.assert_allclose(types.sum(axis=1), 1.0, atol=1e-5)
    leading = types.argmax(axis=1)
    unbacked = (leading != 0) & (gated.window_backing[np.arange(len(types)), leading] < 0.9)
    assert (types.max(axis=1)[unbacked] <= 0.89 + 1e-6).all()
    save_confidence(model, ConfidencePolicy())
    assert Diagnoser.from_dir(model).diagnose(signal, 12000.0, rpm=1772.0)[0].window_backing is None


LINED = ConfidencePolicy(lines_below=1.5, unlined_fault=0.3)


def test_without_defect_lines_in_the_recording_faults_share_at_most_the_cap() -> None:
    window_types = np.array([[0.05, 0.05, 0.85, 0.05], [0.6, 0.1, 0.2, 0.1], [0.1, 0.2, 0.3, 0.4]])
    unlined = lined_type_probabilities(window_types, np.array([1.2, 1.1, 1.0]), LINED)
    np.testing.assert_allclose(unlined.sum(axis=1), 1.0)
    assert (unlined[:, 1:].sum(axis=1) <= 0.3 + 1e-9).all() and (unlined.argmax(axis=1) == 0).all()
    # the fault types keep their proportions (the closest type is still the network's)
    np.testing.assert_allclose(unlined[2, 1:] / unlined[2, 1:].sum(), [0.2 / 0.9, 0.3 / 0.9, 0.4 / 0.9])
    np.testing.assert_allclose(unlined[1], [0.7, 0.075, 0.15, 0.075])
    one_family = np.array([1.0, 1.6, 1.0])  # one family standing out is enough
    np.testing.assert_allclose(lined_type_probabilities(window_types, one_family, LINED), window_types)
    unknown = np.full(3, np.nan)  # no speed: no lines, no gate
    np.testing.assert_allclose(lined_type_probabilities(window_types, unknown, LINED), window_types)
    np.testing.assert_allclose(lined_type_probabilities(window_types, np.ones(3), ConfidencePolicy()),
                               window_types)
    per_window = lined_type_probabilities(window_types, np.array([[1.2] * 3, [2.0] * 3, [2.0] * 3]), LINED)
    assert per_window[0].argmax() == 0
    np.testing.assert_allclose(per_window[1:], window_types[1:])


def test_an_impact_train_stands_out_of_the_mean_envelope_spectrum_and_noise_does_not() -> None:
    rate = 12000.0
    impacts, noise, context = _impacts_and_noise(10, seed=3)
    outer = recording_lines(impacts, context, rate)
    assert outer.shape == (3,) and outer.argmax() == 2 and outer[2] >= 3.0  # ball, inner race, outer race
    assert recording_lines(noise, context, rate).max() < 1.5
    # averaging is what keeps noise down: single noise windows stand out further
    singles = [recording_lines(noise[i : i + 1], context[:1], rate).max() for i in range(10)]
    assert max(singles) > recording_lines(noise, context, rate).max()
    assert np.isnan(recording_lines(noise, np.full_like(context, np.nan), rate)).all()


def test_a_one_window_signal_reads_its_lines_from_the_envelope_pass_as_averaging_would(monkeypatch) -> None:
    """One window's mean envelope spectrum is its own: the Diagnoser takes its lines from the window's line
    evidence (computed once with the envelope's fault-type probabilities) and gets what averaging gives."""
    from faultdx.baselines.envelope import EnvelopeReference

    rate = 12000.0
    impacts, _, context = _impacts_and_noise(1, seed=3)
    diagnoser = Diagnoser.from_dir("hybrid-aprelu")
    reads = []
    line_evidence = EnvelopeReference.line_evidence

    def counted(self, *args):
        reads.append(1)
        return line_evidence(self, *args)

    with monkeypatch.context() as patch:
        patch.setattr(EnvelopeReference, "line_evidence", counted)
        [one] = diagnoser.diagnose(impacts[0, 0], rate, rpm=1772.0, bearing="SKF 6205")
    assert len(one.start) == 1 and len(reads) == 1  # the envelope pass's read only, not a second one
    x = diagnoser.windows(impacts[0, 0], rate, rpm=1772.0, bearing="SKF 6205")
    np.testing.assert_allclose(one.recording_lines, recording_lines(x.x, x.context, rate), rtol=1e-5)
    assert one.recording_lines.argmax() == 2  # outer race


def test_a_policy_with_a_lines_gate_is_validated_and_kept(tmp_path) -> None:
    save_confidence(tmp_path, LINED)
    assert load_confidence(tmp_path) == LINED
    for bad, field in (('{"temperature": 1, "lines_below": 0.9}', "lines_below"),
                       ('{"temperature": 1, "lines_below": 1.5, "unlined_fault": 1.0}', "unlined_fault"),
                       ('{"temperature": 1, "backing_lines": 25}', "backing_lines")):
        (tmp_path / "confidence.json").write_text(bad)
        with pytest.raises(ValueError, match=field):
            load_confidence(tmp_path)


def test_a_sure_window_is_backed_by_its_familys_lines_in_the_recording() -> None:
    policy = ConfidencePolicy(backing=0.9, unbacked_cap=0.89, lines_below=1.5, backing_lines=2.5)
    window_types = np.array([[0.02, 0.02, 0.94, 0.02]] * 2)
    envelope = np.array([[0.7, 0.1, 0.1, 0.1]] * 2)  # the windows alone: no inner-race line
    backed = backed_type_probabilities(window_types, envelope, policy, np.array([1.0, 3.0, 1.2]))
    np.testing.assert_allclose(backed, window_types)  # inner-race lines stand 3x out of the recording
    other = backed_type_probabilities(window_types, envelope, policy, np.array([1.0, 1.6, 3.0]))
    assert (other[:, 2] <= 0.89 + 1e-6).all()  # outer-race lines do not back an inner-race window


def test_the_answer_says_whether_defect_lines_stand_out(tmp_path) -> None:
    model = tmp_path / "model"
    shutil.copytree(PROJECT_ROOT / "models" / "hybrid-aprelu", model)
    save_confidence(model, LINED)
    diagnoser = Diagnoser.from_dir(model)
    faulty = diagnoser.diagnose(_outer_race_signal(12000.0, 1772.0), 12000.0, rpm=1772.0)[0].as_dict()
    assert faulty["defect_lines"]["stand_out"] and faulty["fault_type"] == "outer_race"
    lines = faulty["defect_lines"]["by_fault_type"]
    assert max(lines, key=lines.get) == "outer_race"
    assert faulty["defect_lines"]["strongest"] == lines["outer_race"]
    noise = np.random.default_rng(4).standard_normal(24000).astype(np.float32)
    quiet = diagnoser.diagnose(noise, 12000.0, rpm=1772.0)[0]
    assert not quiet.defect_lines["stand_out"] and quiet.defect_lines["needed"] == 1.5
    assert quiet.type_probabilities["normal"] >= 0.7 - 1e-6
    save_confidence(model, ConfidencePolicy())
    assert Diagnoser.from_dir(model).diagnose(noise, 12000.0, rpm=1772.0)[0].as_dict()["defect_lines"] is None


def test_lines_read_at_a_speed_not_given_do_not_back_a_sure_answer() -> None:
    policy = ConfidencePolicy(backing=0.9, unbacked_cap=0.89, lines_below=1.5, backing_lines=2.5)
    probs = np.repeat(np.asarray(_inner_014(0.97), dtype=np.float32)[None], 4, axis=0)
    common = {"training_rig": "cwru", "policy": policy, "recording_lines": np.array([1.0, 3.0, 1.0]),
              "window_backing": np.repeat(np.array([[0.7, 0.1, 0.1, 0.1]]), 4, axis=0)}
    stated = MachineContext(1772.0, SKF_6205)
    given = Diagnosis(CWRU_10_CLASSES, probs, np.arange(4), machine=stated, **common)
    assert given.confidence >= 0.9 and given.fault_type == "inner_race"
    estimated = MachineContext(1772.0, SKF_6205, rpm_source="estimated")
    guessed = Diagnosis(CWRU_10_CLASSES, probs, np.arange(4), machine=estimated, **common)
    assert guessed.confidence <= 0.89 + 1e-6 and guessed.fault_type == "inner_race"
