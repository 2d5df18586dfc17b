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


def open_drawn(chromium, url: str):
    """The asset page at ``url`` in a new tab of ``chromium`` once its detail pane is drawn, and the list its
    script errors go into."""
    page = chromium.new_page(viewport={"width": 1500, "height": 950})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    page.wait_for_function("document.getElementById('detail').dataset.drawn === '1'", timeout=30_000)
    return page, errors


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

    page, errors = open_drawn(browser, server + "/assets")
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


def test_asset_page_pages_through_assets_and_shows_the_baseline(browser, server) -> None:  # noqa: F811
    for i in range(101):
        httpx.post(server + "/v1/assets", json={"name": f"bulk {i:03d}"}).raise_for_status()
    httpx.post(server + "/v1/assets", json={"name": "commissioned", "sampling_rate": RATE,
                                            "rpm": 1797}).raise_for_status()
    healthy = (np.sin(2 * np.pi * 157 * np.arange(RATE) / RATE)
               + 0.3 * np.random.default_rng(0).standard_normal(RATE)).tolist()
    added = httpx.post(server + "/v1/assets/commissioned/baseline", json={"signals": [healthy]}, timeout=60)
    assert added.status_code == 201, added.text
    total = len(httpx.get(server + "/v1/assets", params={"limit": 1000}).json()["assets"])

    page, errors = open_drawn(browser, server + "/assets?asset=commissioned")
    rows = page.locator("#asset-table tbody tr")
    assert rows.count() == 100 and page.locator("#asset-more").is_visible()  # one page of 100
    page.click("#asset-more")
    page.wait_for_function(f"document.querySelectorAll('#asset-table tbody tr').length === {total}",
                           timeout=15_000)
    assert not page.locator("#asset-more").is_visible()  # the last page
    assert page.get_attribute("#detail", "data-asset") == "commissioned"
    assert page.get_attribute("#detail-baseline", "data-recordings") == "1"
    assert "1 recordings" in page.text_content("#detail-baseline")
    assert not errors, errors
    page.close()


def test_asset_page_axis_labels_show_their_step_and_use_the_shared_palette(browser, server) -> None:  # noqa: F811
    """A quiet asset's velocity axis steps by 0.05 mm/s: labels 0.00, 0.05, 0.10, 0.15 (not 0.1, 0.1, 0.2)."""
    httpx.post(server + "/v1/assets", json={"name": "quiet fan", "sampling_rate": RATE, "rpm": 1797}
               ).raise_for_status()
    t = np.arange(int(0.5 * RATE)) / RATE
    for day in (1, 2):
        r = httpx.post(server + "/v1/diagnose", timeout=60, json={
            "signals": [(0.015 * np.sin(2 * np.pi * 100 * t)).tolist()], "asset": "quiet fan",
            "measured_at": f"2026-04-0{day}T09:00:00Z"})
        assert r.status_code == 200, r.text

    page, errors = open_drawn(browser, server + "/assets?asset=quiet%20fan")
    assert page.get_attribute("#detail", "data-asset") == "quiet fan"
    labels = page.locator("#velocity-chart .y-tick").all_text_contents()
    assert labels == ["0.00", "0.05", "0.10", "0.15"], labels
    # the rule itself (common.js, shared with the inspection page's axes)
    cases = {"[0, 0.05, 0.1, 0.15000000000000002, 0.2]": ["0.00", "0.05", "0.10", "0.15", "0.20"],
             "[0, 2.5, 5, 7.5]": ["0.0", "2.5", "5.0", "7.5"], "[0, 500, 1000]": ["0", "500", "1,000"],
             "[-0.2, 0, 0.2]": ["-0.2", "0.0", "0.2"], "[0, 2.5e9, 5e9]": ["0", "2.5e+9", "5.0e+9"]}
    for values, expected in cases.items():
        assert page.evaluate(f"tickLabels({values})") == expected, values
    # one palette for both pages: the probability lines take the colours the inspection page gives the types
    palette = page.evaluate("FAULT_COLOUR")
    lines = page.locator("#prob-chart .prob-line")
    assert lines.count() >= 4
    for i in range(lines.count()):
        line = lines.nth(i)
        assert line.get_attribute("stroke") == palette[line.get_attribute("data-type")]
    assert {"uncertain", "bad_signal", "unknown"} <= set(palette)
    assert not errors, errors
    page.close()


def test_one_api_key_serves_both_pages(browser, tmp_path) -> None:  # noqa: F811
    """A keyed service: the inspection page asks for the key, and the asset page then uses the same key."""
    env = {"FAULTDX_DATABASE_URL": f"sqlite:///{tmp_path / 'monitor.sqlite'}", "FAULTDX_API_KEY": "s3cret",
           "FAULTDX_TRACE": "false", "FAULTDX_LOG_JSON": "false"}
    with running_server(make_model_dir(tmp_path / "tiny-aprelu"), env=env) as url:
        headers = {"X-API-Key": "s3cret"}
        httpx.post(url + "/v1/assets", json={"name": "keyed pump"}, headers=headers).raise_for_status()
        context = browser.new_context()
        page = context.new_page()
        page.goto(url + "/assets")
        page.wait_for_function("document.getElementById('status').textContent.includes('X-API-Key')",
                               timeout=30_000)  # no key yet: the service's 401 message
        page.goto(url + "/")
        page.wait_for_selector("#apikey-box:not([hidden])", timeout=30_000)  # a 401 shows the key field
        page.fill("#apikey-input", "s3cret")
        page.goto(url + "/assets")
        page.wait_for_function("document.querySelectorAll('#asset-table tbody tr').length === 1",
                               timeout=30_000)
        assert page.locator('#asset-table tbody tr[data-name="keyed pump"]').count() == 1
        page.goto(url + "/")
        page.wait_for_function("document.getElementById('verdict').dataset.source === 'example'",
                               timeout=60_000)  # the inspection page itself runs its first example with it
        context.close()
