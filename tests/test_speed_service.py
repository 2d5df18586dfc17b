"""rpm_tolerance and rpm_range through /v1/diagnose: refined from the signal, or a 422 naming the field."""

from __future__ import annotations

import pytest

from faultdx.data.synthetic import simulate
from tests.service_support import RATE, app_client, make_model_dir

SIGNAL = simulate("inner_race", duration_s=1.0, rpm=1750.0, seed=1).round(5).tolist()


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with app_client(make_model_dir(tmp_path_factory.mktemp("models") / "tiny-aprelu"), api_key=None) as c:
        yield c


def diagnose(client, **speed):
    return client.post("/v1/diagnose", json={"signals": [SIGNAL], "sampling_rate": RATE, **speed})


@pytest.mark.parametrize("speed", [{"rpm": 1700, "rpm_tolerance": 10}, {"rpm_range": [1600, 1900]}])
def test_a_rough_speed_is_refined(client, speed) -> None:
    r = diagnose(client, **speed)
    assert r.status_code == 200, r.text
    machine = r.json()["results"][0]["machine"]
    assert machine["rpm_source"] == "refined"
    assert machine["rpm"] == pytest.approx(1750.0, rel=0.01)
    assert machine["rpm_uncertainty"] > 0 and machine["rpm_ambiguous"] is False


@pytest.mark.parametrize("speed, field", [
    ({"rpm": 1700, "rpm_tolerance": 0}, "rpm_tolerance"),
    ({"rpm": 1700, "rpm_tolerance": 50}, "rpm_tolerance"),
    ({"rpm": 1700, "rpm_tolerance": -5}, "rpm_tolerance"),
    ({"rpm_tolerance": 5}, "rpm_tolerance"),
    ({"rpm_range": [1900, 1600]}, "rpm_range"),
    ({"rpm_range": [10, 1600]}, "rpm_range"),
    ({"rpm_range": [1600, 90000]}, "rpm_range"),
    ({"rpm_range": [1600]}, "rpm_range"),
    ({"rpm": 1700, "rpm_range": [1600, 1900]}, "rpm_range"),
])
def test_bad_speed_hints_are_422_naming_the_field(client, speed, field) -> None:
    r = diagnose(client, **speed)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field, r.text


def test_the_file_form_takes_a_tolerance_or_a_range(client, tmp_path) -> None:
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, np.asarray(SIGNAL, dtype=np.float32))

    def post(**form):
        files = {"file": ("pump.npy", buffer.getvalue(), "application/octet-stream")}
        return client.post("/v1/diagnose/file", files=files, data={"sampling_rate": str(RATE), **form})

    for form in ({"rpm": "1700", "rpm_tolerance": "10"}, {"rpm_range": "1600,1900"}):
        r = post(**form)
        assert r.status_code == 200, r.text
        machine = r.json()["results"][0]["machine"]
        assert machine["rpm_source"] == "refined" and machine["rpm"] == pytest.approx(1750.0, rel=0.01)
    for form, field in (({"rpm": "1700", "rpm_tolerance": "60"}, "rpm_tolerance"),
                        ({"rpm_range": "1900,1600"}, "rpm_range"), ({"rpm_range": "fast"}, "rpm_range")):
        r = post(**form)
        assert r.status_code == 422 and r.json()["field"] == field, r.text
