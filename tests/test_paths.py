"""faultdx.paths (the lowest layer) and faultdx.settings read the same folders from the same variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from faultdx import paths
from faultdx.settings import Settings

FOLDERS = {"data": ("FAULTDX_DATA", paths.data_dir), "models": ("FAULTDX_MODELS", paths.models_dir),
           "results": ("FAULTDX_RESULTS", paths.results_dir), "cache": ("FAULTDX_CACHE", paths.cache_dir),
           "runs": ("FAULTDX_RUNS", paths.runs_dir)}


@pytest.mark.parametrize("value", [None, "", "../shared/data", "/abs/folder", "~/here"])
def test_paths_and_settings_agree_on_every_folder(monkeypatch, value):
    monkeypatch.setenv("XDG_CACHE_HOME", "/tmp/xdg-test")
    for field, (variable, read) in FOLDERS.items():
        if value is None:
            monkeypatch.delenv(variable, raising=False)
        else:
            monkeypatch.setenv(variable, value)
        assert getattr(Settings(), field) == read(), (field, value)
        if value:
            assert read() == Path(value).expanduser()
    if value is None:
        assert paths.data_dir() == Path("data") and paths.cache_dir() == Path("/tmp/xdg-test/faultdx")


def test_a_change_while_running_is_followed(monkeypatch, tmp_path):
    monkeypatch.setenv("FAULTDX_DATA", str(tmp_path / "one"))
    assert paths.data_dir() == tmp_path / "one"
    monkeypatch.setenv("FAULTDX_DATA", str(tmp_path / "two"))
    assert paths.data_dir() == tmp_path / "two"
