"""Collects the code blocks of README.md and docs/*.md as tests (Sybil); see tests/docs_support.py."""

from sybil import Sybil
from sybil.parsers.markdown import CodeBlockParser, SkipParser

from tests.docs_support import SESSION, run_bash, run_python

pytest_collect_file = Sybil(
    parsers=[SkipParser(), CodeBlockParser("bash", run_bash), CodeBlockParser("python", run_python)],
    patterns=["README.md", "docs/*.md"],
    teardown=lambda namespace: None,
).pytest()


def pytest_sessionfinish(session, exitstatus) -> None:
    SESSION.close()
