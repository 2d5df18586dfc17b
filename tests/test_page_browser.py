"""The inspection page in a real headless Chromium against a real uvicorn server with the shipped model.

Debian's ``chromium`` is driven through Playwright's Python API (``executable_path``; no browser download).
A screenshot of the page is saved as a test artefact: ``$FAULTDX_ARTEFACTS`` if set, else pytest's tmp dir.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import httpx
import pytest

from faultdx.paths import PROJECT_ROOT
from tests.data_helpers import missing_data
from tests.service_support import running_server

CHROMIUM = os.environ.get("FAULTDX_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip
CWRU_105 = Path(os.environ.get("FAULTDX_DATA", "data")) / "cwru" / "12k_drive_end" / "105.mat"
SHIPPED_MODEL = PROJECT_ROOT / "models" / "cwru12k-aprelu"
LINED_MODEL = PROJECT_ROOT / "models" / "hybrid-aprelu"  # the default: its policy reads the defect lines
BAD_FILE = b"MATLAB 5.0 MAT-file, but then nothing a reader could use"


@pytest.fixture(scope="module")
def server():
    """``faultdx serve`` on a free loopback port with the shipped model."""
    with running_server(SHIPPED_MODEL, LINED_MODEL, env={"FAULTDX_LOG_JSON": "false"}) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: install Debian's chromium (apt-get install -y chromium) or "
            "set FAULTDX_CHROMIUM; the page test drives it through Playwright (no `playwright install`)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def artefacts(tmp_path) -> Path:
    path = Path(os.environ.get("FAULTDX_ARTEFACTS") or tmp_path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def canvas_stats(page, canvas_id: str) -> dict:
    """Size of a canvas and how many distinct colours / non-blank pixels it holds."""
    return page.evaluate(
        """(id) => {
            const c = document.getElementById(id);
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            const colours = new Set();
            let inked = 0;
            for (let i = 0; i < d.length; i += 4) {
                if (d[i + 3] > 0 && !(d[i] > 245 && d[i + 1] > 245 && d[i + 2] > 245)) inked++;
                colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
            }
            return {width: c.width, height: c.height, colours: colours.size, inked: inked / (d.length / 4),
                    drawn: c.dataset.drawn, rows: Number(c.dataset.rows), cols: Number(c.dataset.cols)};
        }""",
        canvas_id,
    )


def test_page_diagnoses_an_uploaded_cwru_file_and_shows_a_bad_files_error(browser, server, artefacts):
    if not CWRU_105.is_file():
        missing_data(f"the CWRU file {CWRU_105}")
    form = {"sampling_rate": "12000", "rpm": "1797", "include_slopes": "true"}  # what the page sends
    upload = {"file": ("105.mat", CWRU_105.read_bytes())}
    expected = httpx.post(f"{server}/v1/diagnose/file", files=upload, data=form, timeout=60)
    assert expected.status_code == 200, expected.text
    expected = expected.json()["results"][0]
    classes = list(expected["probabilities"])

    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server + "/")
    # the page opens on a built-in example; wait for it so the upload below is the last word
    page.wait_for_function("document.getElementById('verdict').dataset.source === 'example'", timeout=30_000)
    assert page.locator("#example-select option").count() >= 10
    assert page.locator("#model-select option").count() >= 1

    page.click("#tab-file")
    page.set_input_files("#file-input", str(CWRU_105))
    page.fill("#rate-input", "12000")
    page.fill("#rpm-input", "1797")
    page.click("#diagnose-button")
    page.wait_for_function(
        "document.getElementById('verdict').dataset.source === 'file' && "
        "document.getElementById('verdict').dataset.label !== ''",
        timeout=30_000,
    )
    page.wait_for_function("document.getElementById('cmp-diff').dataset.drawn === '1'", timeout=30_000)

    # the verdict is the API's verdict for the same file, with its probabilities
    verdict = page.locator("#verdict")
    assert verdict.get_attribute("data-label") == expected["label"]
    shown = re.search(r"confidence ([\d.]+) %", page.inner_text("#verdict-meta"))
    assert shown and abs(float(shown.group(1)) - 100 * expected["confidence"]) <= 0.051
    assert page.locator("#prob-bars .track").count() == len(classes)
    assert "105.mat" in page.inner_text("#verdict-source")
    assert f"of {len(expected['windows'])} windows agree" in page.inner_text("#verdict-meta")
    assert expected["defect_lines"] is None and page.locator("#defect-lines").count() == 0  # no lines gate

    # the slope heatmap: one row per APReLU layer, one column per channel of the widest layer, really painted
    heat = canvas_stats(page, "heatmap")
    assert heat["drawn"] == "1" and heat["width"] > 400 and heat["height"] > 100
    assert heat["rows"] == len(expected["slopes"])
    assert heat["cols"] == max(len(v[0]) for v in expected["slopes"].values())
    assert heat["colours"] > 50 and heat["inked"] > 0.3
    for plot in ("waveform", "envelope", "cmp-a", "cmp-b", "cmp-diff"):
        stats = canvas_stats(page, plot)
        assert stats["drawn"] == "1" and stats["colours"] > 5 and stats["inked"] > 0.01, (plot, stats)
    table = page.inner_text("#defect-table")
    assert "BPFI" in table and "162.2" in table  # SKF 6205 at 1797 rpm
    shot = artefacts / "page-cwru-105.png"
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": 1400, "height": height})  # one tall viewport: the sidebar is sticky
    page.screenshot(path=str(shot))
    print(f"\npage screenshot: {shot}")

    # side by side: the slopes differ from the healthy reference's, and not at all from the same window pinned
    mean_diff = r"Mean \|Δα\| over (\d+) channels: (\d+\.\d+)"
    channels, healthy_vs_fault = re.search(mean_diff, page.inner_text("#cmp-summary")).groups()
    assert int(channels) == sum(len(v[0]) for v in expected["slopes"].values())
    assert float(healthy_vs_fault) > 0.01
    page.focus("#windows-strip")
    page.keyboard.press("Home")
    assert page.inner_text("#slope-window") == f"1 of {len(expected['windows'])}"
    page.click("#pin-button")
    assert float(re.search(mean_diff, page.inner_text("#cmp-summary")).group(2)) == 0.0
    page.focus("#windows-strip")
    page.keyboard.press("ArrowRight")
    assert page.inner_text("#slope-window") == f"2 of {len(expected['windows'])}"
    assert float(re.search(mean_diff, page.inner_text("#cmp-summary")).group(2)) > 0

    # the default model's policy reads the recording's defect lines: the page says how far they stand out
    lined = httpx.post(f"{server}/v1/diagnose/file", files=upload, data={**form, "model": "hybrid-aprelu"},
                       timeout=60)
    assert lined.status_code == 200, lined.text
    lines = lined.json()["results"][0]["defect_lines"]
    run = verdict.get_attribute("data-run")
    page.select_option("#model-select", "hybrid-aprelu")
    page.click("#diagnose-button")
    page.wait_for_function(f"document.getElementById('verdict').dataset.run !== '{run}' && "
                           "document.getElementById('verdict').dataset.label !== ''", timeout=30_000)
    shown = re.search(r"strongest ([\d.]+)x", page.inner_text("#defect-lines"))
    assert shown and abs(float(shown.group(1)) - lines["strongest"]) <= 0.006 * lines["strongest"]  # 3 digits
    assert lines["stand_out"] and "they stand out" in page.inner_text("#defect-lines")

    # a broken file: the page shows the API's own message, and no stale verdict
    api_error = httpx.post(
        f"{server}/v1/diagnose/file", files={"file": ("broken.mat", BAD_FILE)}, data=form, timeout=30
    ).json()["error"]
    broken = {"name": "broken.mat", "mimeType": "application/octet-stream", "buffer": BAD_FILE}
    page.set_input_files("#file-input", broken)
    page.click("#diagnose-button")
    page.wait_for_selector("#error-box:not([hidden])", timeout=30_000)
    assert page.inner_text("#error-message") == api_error
    assert "broken.mat" in page.inner_text("#error-box")
    assert verdict.get_attribute("data-label") == ""
    shot = artefacts / "page-bad-file.png"
    page.screenshot(path=str(shot), clip={"x": 0, "y": 0, "width": 1400, "height": 900})
    print(f"error screenshot: {shot}")
    assert not errors, errors


def test_page_sends_a_nominal_speed_with_its_tolerance_and_shows_the_refined_speed(browser, server):
    """A plant that knows only a nominal speed (1750 rpm, ±5 %) gets the speed the signal says (105.mat
    runs at 1797 rpm), labelled as refined, and the same speed the API gives for the same form."""
    if not CWRU_105.is_file():
        missing_data(f"the CWRU file {CWRU_105}")
    form = {"sampling_rate": "12000", "rpm": "1750", "rpm_tolerance": "5", "include_slopes": "true"}
    upload = {"file": ("105.mat", CWRU_105.read_bytes())}
    expected = httpx.post(f"{server}/v1/diagnose/file", files=upload, data=form, timeout=60)
    assert expected.status_code == 200, expected.text
    machine = expected.json()["results"][0]["machine"]
    assert machine["rpm_source"] == "refined" and abs(machine["rpm"] - 1797) < 18, machine

    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(server + "/")
    page.wait_for_function("document.getElementById('verdict').dataset.source === 'example'", timeout=30_000)
    page.click("#tab-file")
    page.set_input_files("#file-input", str(CWRU_105))
    page.fill("#rate-input", "12000")
    page.fill("#rpm-input", "1750")
    page.fill("#rpm-tolerance-input", "5")
    page.click("#diagnose-button")
    page.wait_for_function("document.getElementById('machine-info').dataset.rpmSource === 'refined'",
                           timeout=30_000)
    # "refined" only comes back when the page sent rpm_tolerance (an rpm alone is "given")
    shown = re.search(r"machine: ([\d,.]+) rpm \(nominal, refined from the signal\)",
                      page.inner_text("#machine-info"))
    assert shown, page.inner_text("#machine-info")
    assert abs(float(shown.group(1).replace(",", "")) - machine["rpm"]) < 1
