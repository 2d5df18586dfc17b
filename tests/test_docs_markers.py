"""The docs test's own rules: which fenced blocks run, and every block that does not says why."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from faultdx.paths import PROJECT_ROOT

DOCS = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
RUN = {"bash", "python"}
SHOWN_ONLY = {"json", "yaml", "csv", "text", "console-output", "toml"}
FENCE = re.compile(r"^```(\S*)\s*$", re.MULTILINE)
SKIP = re.compile(r"<!--\s*skip:\s*(\w+)(.*?)-->", re.DOTALL)


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of each fenced block."""
    out, opened = [], None
    for match in FENCE.finditer(text):
        if opened is None:
            opened = match
        else:
            out.append((opened.group(1), text[opened.end():match.start()]))
            opened = None
    assert opened is None, "an unclosed code fence"
    return out


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_every_block_runs_or_is_shown_data(doc: Path) -> None:
    for language, body in fenced_blocks(doc.read_text()):
        shown = language or "(none)"
        assert language in RUN | SHOWN_ONLY, f"{doc.name}: a ```{shown} block would escape the docs test"
        if language == "json":
            json.loads(body)  # shown data must at least be valid


def skip_markers() -> list[tuple[str, str, str]]:
    found = []
    for doc in DOCS:
        for match in SKIP.finditer(doc.read_text()):
            found.append((doc.name, match.group(1), match.group(2).strip()))
    return found


def test_every_skipped_block_gives_its_reason(capsys) -> None:
    markers = skip_markers()
    for doc, action, reason in markers:
        assert action == "next", f"{doc}: skip one block at a time ('skip: next'), not 'skip: {action}'"
        assert re.fullmatch(r'"[^"]{12,}"', reason), f"{doc}: a skip marker without a reason: {reason!r}"
    with capsys.disabled():  # the list of blocks the docs test does not run, in the test log
        print(f"\ndocs blocks not run ({len(markers)}):")
        for doc, _, reason in markers:
            print(f"  {doc}: {reason}")
