"""The asset page in a real headless Chromium against a real server: asset list with zone and open alarms,
the velocity trend with its zone bands and alarm marks, the fault-probability trend, acknowledging an
alarm."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from tests.service_support import RATE, make_model_dir, running_server
from tests.test_page_browser import artefacts, browser  # noqa: F401 (fixtures)

DAYS = 8


def week(day: int) -> list[float]:
    """A 100 Hz tone whose amplitude grows day by day: zone A at first, D at the end (ISO group 2 rigid)."""
    t = np.arange(int(0.5 * RATE)) / RATE
    g = 0.05 * 1.6**day
    noise = np.random.default_rng(day).standard_normal(t.size)
    return (g * np.sin(2 * np.pi * 100 * t) + 0.01 * noise).tolist()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("monitor-page")
    env = {"FAULTDX_DATABASE_URL": f"sqlite:///{root / 'monitor.sqlite'}", "FAULTDX_TRACE": "false",
           "FAULTDX_LOG_JSON": "false"}
    with running_server(make_model_dir(root / "tiny-aprelu"), env=env) as url:
        yield url


def test_asset_page_shows_zone_alarms_and_trends(browser, server, artefacts) -> None:  # noqa: F811
    assert 'href="assets"' in httpx.get(server + "/").text  # linked from the main page's header
    asset = {"name": "pump 3", "machine": "P-103", "sampling_rate": RATE, "rpm": 1797, "iso_group": 2,
             "support": "rigid"}
    httpx.post(server + "/v1/assets", json=asset).raise_for_status()
    httpx.post(server + "/v1/assets", json={"name": "spare"}).raise_for_status()
    zones = []
    for day in range(DAYS):
        r = httpx.post(server + "/v1/diagnose", timeout=60, json={
            "signals": [week(day)], "asset": "pump 3", "measured_at": f"2026-03-0{day + 1}T09:00:00Z"})
        assert r.status_code == 200, r.text
        zones += r.json()["stored"]["zones"]
    assert zones[0] == "A" and zones[-1] == "D"
    open_alarms = httpx.get(server + "/v1/alarms", params={"asset": "pump 3"}).json()["alarms"]
    assert any(a["kind"] == "zone" and a["level"] == "D" for a in open_alarms)

    page = browser.new_page(viewport={"width": 1500, "height": 950})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server + "/assets")
    page.wait_for_function("document.getElementById('detail').dataset.drawn === '1'", timeout=30_000)
    row = page.locator('#asset-table tbody tr[data-name="pump 3"]')
    assert row.get_attribute("data-zone") == "D" and row.get_attribute("data-alarms") == str(len(open_alarms))
    assert page.locator('#asset-table tbody tr[data-name="spare"]').get_attribute("data-zone") == ""
    assert page.get_attribute("#detail", "data-asset") == "pump 3"  # the asset with open alarms is shown
    velocity = page.locator("#velocity-chart svg")
    assert velocity.get_attribute("data-points") == str(DAYS)
    assert int(velocity.get_attribute("data-alarms")) >= 1
    assert page.locator("#velocity-chart .band").count() == 4
    assert page.locator("#velocity-chart .alarm-mark[data-kind=zone]").count() == 1
    assert page.locator("#prob-chart .prob-line").count() == 4
    assert page.locator("#velocity-line").get_attribute("d").count("L") == DAYS - 1

    alarm = page.locator("#alarm-table tbody tr[data-state=open]").first
    alarm.locator(".ack-note").fill("vibration analyst notified")
    alarm.locator(".ack-button").click()
    page.wait_for_function(
        "[...document.querySelectorAll('#alarm-table td')].some(td => td.textContent === "
        "'vibration analyst notified')", timeout=15_000)
    acked = httpx.get(server + "/v1/alarms", params={"asset": "pump 3", "state": "all"}).json()["alarms"]
    assert any(a["note"] == "vibration analyst notified" for a in acked)
    page.screenshot(path=str(artefacts / "assets-page.png"), full_page=True)
    assert not errors, errors
    page.close()
