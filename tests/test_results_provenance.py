"""Every measured figure cites the code that made it: each results/*.json names a commit of this history."""

from __future__ import annotations

import json
import subprocess

import pytest

from faultdx.paths import PROJECT_ROOT

RESULTS = sorted((PROJECT_ROOT / "results").glob("*.json"))


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=30)


@pytest.fixture(scope="module")
def full_history() -> None:
    if not (PROJECT_ROOT / ".git").exists():
        pytest.fail("not a git checkout: results cannot be traced to their commits")
    if git("rev-parse", "--is-shallow-repository").stdout.strip() == "true":
        pytest.fail("a shallow clone cannot show that a result's commit is in the history; clone in full")


@pytest.mark.parametrize("path", RESULTS, ids=lambda p: p.name)
def test_result_names_a_commit_on_this_history(path, full_history) -> None:
    payload = json.loads(path.read_text())
    for key in ("commit", "command", "machine", "date"):
        assert payload.get(key), f"{path.name} has no {key!r}"
    commit = payload["commit"]
    assert git("merge-base", "--is-ancestor", commit, "HEAD").returncode == 0, (
        f"{path.name} cites commit {commit}, which is not an ancestor of HEAD: rerun `{payload['command']}`")
