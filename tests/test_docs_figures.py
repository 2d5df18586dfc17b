"""Measured figures live in results/ and reach the docs only through generated blocks: this check flags
every number with a unit of measurement (%, seconds, throughput, bytes, ratios) in the prose of README.md,
docs/*.md and the model cards, outside generated blocks and code. What is a constant rather than a measurement
(a default setting, a timeout, a split fraction, a goal) is listed in ALLOWED with its reason."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from faultdx.paths import PROJECT_ROOT

DOCS = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md")),
        *sorted((PROJECT_ROOT / "models").glob("*/MODEL_CARD.md"))]
GENERATED = re.compile(r"<!-- results:([A-Za-z0-9_.]+) -->\n.*?<!-- /results:\1 -->", re.DOTALL)
FENCED = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
INLINE_CODE = re.compile(r"`[^`\n]*`")
FIGURE = re.compile(r"(?<![\w.,])\d[\d,]*(?:\.\d+)?\s?(?:%|ms\b|µs\b|s\b|min\b|h\b|windows/s\b|requests/s\b|"
                    r"messages/s\b|/s\b|MB\b|GB\b|KB\b|kB\b|MiB\b|GiB\b|KiB\b|x\b|×)")

HYBRID_CARD = "models/hybrid-aprelu/MODEL_CARD.md"
OLD_CARD = "models/cwru12k-aprelu/MODEL_CARD.md"

# (file, figure as written) -> why it is not a measurement. Keep reasons short and true.
ALLOWED: dict[tuple[str, str], str] = {
    ("docs/data.md", "15 %"): "the time split's fractions (70/15/15), a setting",
    ("docs/data.md", "2 %"): "the simulator's random slip, a constant of the simulator",
    ("docs/data.md", "200,000 windows/s"): "the bench's target, not a measurement",
    ("docs/data.md", "16 MB"): "FAULTDX_MAX_SAMPLES as float32, a default setting",
    ("docs/data.md", "1 MiB"): "the file-size budget's fixed margin, a constant",
    ("docs/data.md", "269 MB"): "the file-size budget at the default sample budget",
    ("docs/data.md", "128 KB"): "scipy's whosmat block size, a library constant",
    ("docs/data.md", "1 MB"): "size of a hostile test file, an input",
    ("docs/data.md", "228 KB"): "size of a hostile test file, an input",
    ("docs/networks.md", "1×"): "a 1x1 projection shortcut (kernel size)",
    ("docs/networks.md", "1.5×"): "the bench's target, not a measurement",
    ("docs/networks.md", "1.3×"): "the bench's target, not a measurement",
    ("docs/page.md", "1×"): "the shaft's first order (1x), a label",
    ("docs/page.md", "2 %"): "a test's tolerance, not a measurement",
    ("docs/training.md", "15 %"): "the time split's fractions (70/15/15), a setting",
    ("docs/training.md", "6000 ×"): "the shape of the CWRU window tensor (6000 x 2048)",
    ("docs/data.md", "34.6 MB"): "the WAV file-size budget at the default sample budget",
    ("docs/data.md", "260 KB"): "size of a hostile test file, an input",
    ("docs/data.md", "268 MB"): "what a hostile test file inflates to, an input",
    ("docs/deploy.md", "25 s"): "FAULTDX_SHUTDOWN_TIMEOUT_S, a default setting",
    ("docs/deploy.md", "10 s"): "the SIGTERM deadline the tests hold the service to, a goal",
    ("docs/deploy.md", "5 s"): "FAULTDX_KEEP_ALIVE_S, a default setting",
    ("docs/deploy.md", "30 s"): "FAULTDX_BODY_TIMEOUT_S / healthcheck interval, settings",
    ("docs/deploy.md", "32 MB"): "FAULTDX_MAX_BODY_BYTES, a default setting",
    ("docs/monitoring.md", "1 s"): "the length of the simulated measurements, an input",
    ("docs/monitoring.md", "1×"): "the shaft's first order (1x), a label",
    ("docs/monitoring.md", "30 s"): "SQLite's busy timeout, a setting",
    ("docs/monitoring.md", "10 %"): "the speed tolerance of the speed_aware judgement, a setting",
    ("docs/plant.md", "5 s"): "FAULTDX_MQTT_ALARM_POLL_S, a default setting",
    ("docs/plant.md", "1 s"): "the first reconnect backoff, a setting",
    ("docs/quality.md", "0.1 s"): "a gate threshold, a setting",
    ("docs/quality.md", "2 ms"): "a gate threshold, a setting",
    ("docs/quality.md", "20 ms"): "a gate threshold, a setting",
    ("docs/quality.md", "1 %"): "a gate threshold, a setting",
    ("docs/quality.md", "0.02 %"): "a gate threshold, a setting",
    ("docs/quality.md", "0.1 %"): "a gate threshold, a setting",
    ("docs/quality.md", "50 ms"): "a gate threshold, a setting",
    ("docs/quality.md", "1 s"): "an excerpt length the bench uses",
    ("docs/quality.md", "0.5 s"): "the signal length that gives the no_machine rule its 150 bins, a setting",
    ("docs/scale.md", "30 s"): "how often score writes a part file, a setting",
    ("docs/service.md", "1 %"): "the unknown-score calibration's false-alarm target, a setting",
    ("docs/service.md", "10 s"): "FAULTDX_HEADER_TIMEOUT_S / the SIGTERM deadline, settings",
    ("docs/service.md", "5 s"): "FAULTDX_KEEP_ALIVE_S, a default setting",
    ("docs/service.md", "4 s"): "the bench's phase length, a setting of the bench",
    ("docs/service.md", "22 KiB"): "the size of the bench's request body, an input",
    ("docs/service.md", "50 ms"): "the hostile bench's probe interval, a setting of the bench",
    ("docs/transfer.md", "10 %"): "the nominal speed's tolerance in the bench, an input",
    ("docs/transfer.md", "2×"): "2xBSF, the ball-defect line's name",
    ("docs/transfer.md", "1 s"): "an excerpt length the speed table uses",
    ("docs/transfer.md", "0.17 s"): "an excerpt length the speed table uses (2048 samples at 12 kHz)",
    ("docs/transfer.md", "17 ×"): "the shape of the front end's order map (17 x 128)",
    ("docs/transfer.md", "1 %"): "the unknown-score calibration's false-alarm target, a setting",
    ("docs/transfer.md", "95 %"): "a target, not a measurement",
    ("docs/transfer.md", "3,000 windows/s"): "a target, not a measurement",
    (HYBRID_CARD, "2×"): "2xBSF, the ball-defect line's name",
    (HYBRID_CARD, "1 %"): "the unknown-score calibration's false-alarm target, a setting",
    (HYBRID_CARD, "1 s"): "an excerpt length",
    (HYBRID_CARD, "0.17 s"): "an excerpt length (2048 samples at 12 kHz)",
    (HYBRID_CARD, "80 %"): "the split's fractions (80/10/10), a setting",
    (HYBRID_CARD, "10 %"): "the split's fractions (80/10/10), a setting",
    (HYBRID_CARD, "3 %"): "the context jitter, a training setting",
    (OLD_CARD, "560 KB"): "the size of the model's weights file, a property of it",
    (OLD_CARD, "0.17 s"): "the window length (2048 samples at 12 kHz)",
    (OLD_CARD, "70 %"): "the time split's fractions (70/15/15), a setting",
    (OLD_CARD, "15 %"): "the time split's fractions and the warm-up share, settings",
    (OLD_CARD, "50 %"): "the share of augmented windows, a setting",
    (OLD_CARD, "5 s"): "the length of the CWRU normal recording",
    (OLD_CARD, "100 %"): "what a perfect score would mean, not a measurement",
}


def prose_figures(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    for pattern in (GENERATED, FENCED, INLINE_CODE):
        text = pattern.sub(" ", text)
    return [m.group(0) for m in FIGURE.finditer(text)]


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_no_hand_typed_measurement_in_prose(path: Path) -> None:
    name = str(path.relative_to(PROJECT_ROOT))
    typed = [f for f in prose_figures(path) if (name, f) not in ALLOWED]
    assert not typed, (f"{name}: figures outside generated blocks {typed}; generate them from results/ "
                       "(faultdx results render) or, for a constant, add it to ALLOWED with its reason")
