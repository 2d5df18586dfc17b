"""The Diagnoser: same preprocessing as training, aggregation, slopes, and clear errors on bad input."""

from __future__ import annotations

import numpy as np
import pytest

from faultdx.data.windows import frame, resample, standardize
from faultdx.diagnose import DiagnoseInputError, Diagnoser, RequestBudget
from faultdx.errors import TooLarge
from faultdx.modeldir import CheckpointError
from tests.service_support import RATE, WINDOW, make_model_dir, tone


@pytest.fixture(scope="module")
def diagnoser(tmp_path_factory) -> Diagnoser:
    return Diagnoser.from_dir(make_model_dir(tmp_path_factory.mktemp("models") / "tiny-aprelu"))


@pytest.fixture(scope="module")
def relu_diagnoser(tmp_path_factory) -> Diagnoser:
    path = make_model_dir(
        tmp_path_factory.mktemp("models") / "tiny-relu", name="tiny-relu", activation="relu"
    )
    return Diagnoser.from_dir(path)


def test_windows_are_the_training_path(diagnoser: Diagnoser) -> None:
    signal = tone(1.0, rate=48000)
    got = diagnoser.windows(signal, 48000, hop=1024)
    expected = standardize(frame(resample(signal[None, :], 48000, RATE), WINDOW, 1024))
    np.testing.assert_array_equal(got.x, expected)
    # starts are reported in the caller's samples (48 kHz): hop 1024 at 12 kHz = 4096 at 48 kHz
    np.testing.assert_array_equal(got.start, np.arange(len(expected)) * 4096)


def test_diagnose_aggregates_mean_window_probabilities(diagnoser: Diagnoser) -> None:
    [d] = diagnoser.diagnose([tone(2.0, seed=3)], RATE)
    assert d.window_probabilities.shape == (2.0 * RATE // WINDOW, 10)  # default hop = the model's (2048)
    np.testing.assert_allclose(d.window_probabilities.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(d.probabilities, d.window_probabilities.mean(axis=0))
    # the primary answer is the fault type with the largest summed class probability
    types = d.type_probabilities
    assert sum(types.values()) == pytest.approx(1.0, abs=1e-5)
    assert d.fault_type == max(types, key=types.get)
    assert d.confidence == pytest.approx(types[d.fault_type])
    assert d.label.startswith(d.fault_type)  # the most probable class within that type
    assert d.machine is not None and d.machine.rpm_source == "estimated"
    assert d.slopes is None and d.slope_summary is None


def test_several_signals_each_get_their_own_diagnosis(diagnoser: Diagnoser) -> None:
    a, b = tone(0.5, seed=1), tone(1.0, seed=2) * 5
    both = diagnoser.diagnose([a, b], RATE)
    alone = [diagnoser.diagnose([s], RATE)[0] for s in (a, b)]
    for x, y in zip(both, alone, strict=True):
        np.testing.assert_allclose(x.window_probabilities, y.window_probabilities, atol=1e-5)
    assert [len(d.start) for d in both] == [2, 5]


def test_a_window_alone_equals_the_same_window_in_a_batch(diagnoser: Diagnoser) -> None:
    x = diagnoser.windows(tone(3.0, seed=4), RATE).x
    batch = diagnoser.predict_windows(x).probabilities
    single = diagnoser.predict_windows(x[3:4]).probabilities
    np.testing.assert_allclose(single[0], batch[3], atol=1e-5)


def test_slopes_per_window_and_layer(diagnoser: Diagnoser) -> None:
    [d] = diagnoser.diagnose(tone(1.0), RATE, include_slopes=True)
    layers = diagnoser.slope_channels()
    assert set(d.slopes) == set(layers) and "stem.act" in layers
    for name, values in d.slopes.items():
        assert values.shape == (len(d.start), layers[name])
        assert np.all((values > 0) & (values < 1))  # APReLU slopes come out of a sigmoid
    assert d.slope_summary["stem.act"] == pytest.approx(float(d.slopes["stem.act"].mean()))


def test_a_relu_model_has_no_slopes(relu_diagnoser: Diagnoser) -> None:
    [d] = relu_diagnoser.diagnose(tone(0.5), RATE, include_slopes=True)
    assert d.slopes == {} and relu_diagnoser.slope_channels() == {}


def test_channels_are_picked_by_name(diagnoser: Diagnoser) -> None:
    de, fe = tone(0.5, seed=5), tone(0.5, seed=6)
    [named] = diagnoser.diagnose([np.stack([fe, de])], RATE, channels=["FE", "DE"])
    [plain] = diagnoser.diagnose([de], RATE)
    np.testing.assert_allclose(named.window_probabilities, plain.window_probabilities, atol=1e-6)
    with pytest.raises(DiagnoseInputError, match="name its rows") as err:
        diagnoser.diagnose([np.stack([fe, de])], RATE)
    assert err.value.field == "signals[0]"
    with pytest.raises(DiagnoseInputError, match="needs channel") as err:
        diagnoser.diagnose([np.stack([fe, de])], RATE, channels=["FE", "BA"])
    assert err.value.field == "channels"


@pytest.mark.parametrize(
    ("signal", "kwargs", "field", "match"),
    [
        (np.full(5000, np.nan), {}, "signals[0]", "NaN"),
        (np.r_[np.zeros(4000), np.inf], {}, "signals[0]", "Inf"),
        (np.zeros(0), {}, "signals[0]", "empty"),
        (np.zeros(1000), {}, "signals[0]", "too short"),
        (np.zeros((2, 2, 3000)), {}, "signals[0]", "dimensions"),
        (np.zeros(5000), {"sampling_rate": 0}, "sampling_rate", "sampling_rate"),
        (np.zeros(5000), {"sampling_rate": float("nan")}, "sampling_rate", "sampling_rate"),
        (np.zeros(5000), {"sampling_rate": 1e9}, "sampling_rate", "sampling_rate"),
        (np.zeros(5000), {"sampling_rate": True}, "sampling_rate", "sampling_rate"),
        (np.zeros(5000), {"window": 3}, "window", "window"),
        (np.zeros(5000), {"window": 10**6}, "window", "window"),
        (np.zeros(5000), {"hop": 0}, "hop", "hop"),
        (np.zeros(5000), {"hop": 1.5}, "hop", "hop"),
    ],
)
def test_bad_input_names_the_field(diagnoser: Diagnoser, signal, kwargs, field, match) -> None:
    kwargs = {"sampling_rate": RATE, **kwargs}
    with pytest.raises(DiagnoseInputError, match=match) as err:
        diagnoser.diagnose([signal], **kwargs)
    assert err.value.field == field
    assert isinstance(err.value, ValueError)


def test_too_many_windows_is_refused_before_windowing(diagnoser: Diagnoser) -> None:
    with pytest.raises(TooLarge, match="at most 10") as err:
        diagnoser.windows(tone(5.0), RATE, hop=16, max_windows=10, field="signals[0]")
    assert err.value.field == "signals[0]" and err.value.status == 413


def test_window_hop_amplification_is_refused_by_the_sample_budget(diagnoser: Diagnoser, monkeypatch) -> None:
    framed = []
    monkeypatch.setattr("faultdx.diagnose.diagnoser.frame", lambda *a: framed.append(a) or frame(*a))
    budget = RequestBudget(samples=1 << 23, windows=4096)
    with pytest.raises(TooLarge) as err:  # 4,096 windows of 16,384 = 67 M samples from 20,479
        diagnoser.windows(tone(20479 / RATE), RATE, window=16384, hop=1, budget=budget, field="signals[0]")
    message = str(err.value)
    assert err.value.status == 413 and "8388608" in message
    assert "window 16384" in message and "hop 1 " in message
    assert framed == []  # refused before any framing
    w = diagnoser.windows(tone(20479 / RATE), RATE, window=16384, hop=256,
                          budget=RequestBudget(samples=1 << 23))
    assert len(w.x) == 1 + (20479 - 16384) // 256


def test_the_budget_counts_decoded_samples_over_a_request(diagnoser: Diagnoser) -> None:
    budget = RequestBudget(samples=3 * RATE)
    diagnoser.windows(tone(2.0), RATE, budget=budget, field="signals[0]")
    with pytest.raises(TooLarge, match="signals\\[1\\]: 48000 samples in this request"):
        diagnoser.windows(tone(2.0), RATE, budget=budget, field="signals[1]")


def test_samples_near_the_float32_limit_give_finite_answers(diagnoser: Diagnoser) -> None:
    huge = np.tile(np.float32([3e38, -3e38, 1e38, -2e38]), RATE // 2)
    for rate in (RATE, 48000):  # 48 kHz: the resampling filter overshoots the float32 range
        [d] = diagnoser.diagnose([huge], rate, rpm=1797)
        assert np.isfinite(d.window_probabilities).all() and np.isfinite(d.confidence)


def test_framed_windows_take_the_same_path(diagnoser: Diagnoser) -> None:
    signal = tone(1.0)
    by_signal = diagnoser.windows(signal, RATE, hop=WINDOW, rpm=1797)
    raw = frame(signal[None, :], WINDOW, WINDOW)
    by_windows = diagnoser.prepare_windows(raw, rpm=1797)
    np.testing.assert_array_equal(by_windows.x, by_signal.x)
    np.testing.assert_array_equal(by_windows.context, by_signal.context)
    with pytest.raises(DiagnoseInputError, match="NaN") as err:
        diagnoser.prepare_windows(np.full((1, 1, WINDOW), np.inf, np.float32), rpm=1797, field="inputs[0]")
    assert err.value.field == "inputs[0]"
    with pytest.raises(TooLarge):
        diagnoser.prepare_windows(np.zeros((8, 1, WINDOW), np.float32), rpm=1797,
                                  budget=RequestBudget(4 * WINDOW))


def test_a_low_rate_signal_is_upsampled(diagnoser: Diagnoser) -> None:
    w = diagnoser.windows(tone(1.0, rate=4000), 4000)
    assert w.x.shape == (12000 // WINDOW, 1, WINDOW)
    # at least window * 4000/12000 samples are needed, and asked for
    with pytest.raises(DiagnoseInputError, match="at least 683"):
        diagnoser.windows(np.ones(600, np.float32), 4000)


def test_from_dir_by_name_and_unknown_names(tmp_path, monkeypatch) -> None:
    make_model_dir(tmp_path / "named-model", name="named-model")
    monkeypatch.setenv("FAULTDX_MODELS", str(tmp_path))
    d = Diagnoser.from_dir("named-model")
    assert d.name == "named-model" and d.model_card().startswith("# tiny")
    assert d.meta.window == WINDOW and d.classes[0] == "normal"
    with pytest.raises(CheckpointError, match="named-model"):  # the error lists what is available
        Diagnoser.from_dir("no-such-model")


def test_the_traced_network_matches_eager(tmp_path) -> None:
    path = make_model_dir(tmp_path / "m")
    eager, traced = Diagnoser.from_dir(path), Diagnoser.from_dir(path, trace=True)
    assert traced.traced and not eager.traced
    for signal, kwargs in ((tone(1.0), {}), (tone(1.0, seed=9), {"window": 1024, "hop": 300})):
        [a] = eager.diagnose([signal], RATE, include_slopes=True, **kwargs)
        [b] = traced.diagnose([signal], RATE, include_slopes=True, **kwargs)
        np.testing.assert_allclose(b.window_probabilities, a.window_probabilities, atol=1e-5)
        for layer, values in a.slopes.items():
            np.testing.assert_allclose(b.slopes[layer], values, atol=1e-5)


def test_machine_context_from_rpm_and_either_bearing_form(diagnoser: Diagnoser) -> None:
    signal = tone(1.0, seed=5)
    [named] = diagnoser.diagnose(signal, RATE, rpm=1730, bearing="SKF 6203")
    assert named.machine.rpm == 1730 and named.machine.rpm_source == "given"
    assert named.machine.bearing.name == "SKF 6203" and named.machine.bearing_source == "given"
    geometry = {"balls": 8, "ball_diameter_mm": 7.94, "pitch_diameter_mm": 33.5, "contact_angle_deg": 0}
    [given] = diagnoser.diagnose(signal, RATE, rpm=1730, bearing=geometry)
    assert given.machine.bearing.n_balls == 8
    assert given.machine.frequencies()["bpfo"] == pytest.approx(8 / 2 * 1730 / 60 * (1 - 7.94 / 33.5))
    [default] = diagnoser.diagnose(signal, RATE, rpm=1730)
    assert default.machine.bearing_source == "model" and default.machine.bearing.name == "SKF 6205"
    windows = diagnoser.windows(signal, RATE, rpm=1730, bearing=geometry)
    np.testing.assert_allclose(windows.context[0] * RATE, [given.machine.frequencies()[k] for k in
                               ("shaft", "bpfo", "bpfi", "bsf", "ftf")], rtol=1e-5)


@pytest.mark.parametrize(
    ("rpm", "bearing", "field"),
    [
        (0, None, "rpm"),
        (float("nan"), None, "rpm"),
        (1797, "SKF 9999", "bearing"),
        (1797, {"balls": 0, "ball_diameter_mm": 7, "pitch_diameter_mm": 30}, "bearing.balls"),
        (1797, {"balls": 8, "ball_diameter_mm": 40, "pitch_diameter_mm": 30}, "bearing.ball_diameter_mm"),
        (1797, {"balls": 8, "ball_diameter_mm": 7, "pitch_diameter_mm": 30, "contact_angle_deg": -5},
         "bearing.contact_angle_deg"),
    ],
)
def test_impossible_context_names_the_field(diagnoser: Diagnoser, rpm, bearing, field) -> None:
    with pytest.raises(DiagnoseInputError) as err:
        diagnoser.diagnose(tone(1.0), RATE, rpm=rpm, bearing=bearing)
    assert err.value.field == field and field in str(err.value)
