"""Lower layers never import higher ones: inference (the Diagnoser, the service) and the library's nn / data
layers load without faultdx.train; the service is importable only as faultdx_service."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHECK = """
import sys, importlib
for name in {modules!r}:
    importlib.import_module(name)
print(sorted(m for m in sys.modules if m == "faultdx.train" or m.startswith("faultdx.train.")))
"""


@pytest.mark.parametrize("modules", [
    ["faultdx.diagnose", "faultdx.modeldir", "faultdx.baselines.envelope"],
    ["faultdx_service.main"],
    ["faultdx.nn.resnet1d", "faultdx.data.registry", "faultdx.data.cwru", "faultdx.data.mfpt"],
])
def test_inference_and_lower_layers_do_not_import_training(modules) -> None:
    done = subprocess.run([sys.executable, "-c", CHECK.format(modules=modules)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"{modules} import {done.stdout.strip()}"
