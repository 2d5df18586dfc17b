"""Atomic writes: a writer killed at every step of a directory swap leaves the old or the new version
(never none, never a mix); the next load or write recovers and leaves nothing stranded; one helper."""

from __future__ import annotations

import ast
import fcntl
import os
import sys
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from faultdx import atomic
from faultdx.atomic import (
    atomic_directory,
    atomic_file,
    recover,
    save_npy_atomic,
    write_bytes_atomic,
    write_text,
    write_text_atomic,
)
from faultdx.modeldir import load_model_dir, save_model_dir
from faultdx.nn.resnet1d import ResNet1d, preset_config
from faultdx.train.state import TrainState, load_train_state, save_train_state

ROOT = Path(__file__).resolve().parent.parent
OLD = {"a.txt": "old a", "b.txt": "old b"}
NEW = {"a.txt": "new a", "c.txt": "new c"}  # another set of files, so that a mix is visible


def _write_version(target: Path, files: dict[str, str], step: Callable[[], None] = lambda: None) -> None:
    with atomic_directory(target) as staging:
        for name, text in files.items():
            step()  # a crash point between files: a half-written staging directory
            write_text(staging / name, text)


def _contents(path: Path) -> dict[str, str] | None:
    if not path.is_dir():
        return None
    return {p.name: p.read_text() for p in sorted(path.iterdir())}


def _without_exchange(monkeypatch) -> None:
    monkeypatch.setattr(atomic, "_libc_renameat2", None)  # as on a system without renameat2


def _crash_at(k: int, write: Callable[[Callable[[], None]], None]) -> bool:
    """Run ``write`` in a forked child that dies (``os._exit``) right before its ``k``-th filesystem mutation
    (mkdir, rename, exchange, unlink, rmdir, or a step between staged files); True if it died there, False if
    it finished first."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads: the child only writes
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            count = [0]

            def step() -> None:
                count[0] += 1
                if count[0] == k:
                    os._exit(70)

            def counted(real):
                def call(*args, **kwargs):
                    step()
                    return real(*args, **kwargs)

                return call

            for name in ("mkdir", "rename", "replace", "unlink", "rmdir"):
                setattr(os, name, counted(getattr(os, name)))
            exchange = atomic._renameat2()
            if exchange is not None:
                atomic._libc_renameat2 = counted(exchange)
            write(step)
            os._exit(0)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    assert code in (0, 70), f"the writer failed (exit {code}) instead of dying at step {k}"
    return code == 70


def _stranded(folder: Path, keep: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != keep)


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2-exchange", "two-renames-fallback"])
@pytest.mark.parametrize("existing", [True, False], ids=["replace", "first-write"])
def test_a_writer_killed_at_every_step_leaves_old_or_new_and_recovery_cleans_up(
    tmp_path, monkeypatch, exchange, existing
):
    if exchange and atomic._renameat2() is None:
        if sys.platform.startswith("linux"):
            pytest.fail("renameat2 is missing from libc on this Linux machine")
        pytest.skip("renameat2 is Linux-only; elsewhere the two-rename fallback is what runs (tested)")
    if not exchange:
        _without_exchange(monkeypatch)
    seen = set()
    k = 0
    while True:
        k += 1
        assert k < 100, "the write never finished"
        folder = tmp_path / f"k{k}"
        target = folder / "model"
        folder.mkdir()
        if existing:
            _write_version(target, OLD)
        died = _crash_at(k, lambda step, target=target: _write_version(target, NEW, step))
        before = _contents(target)
        allowed = [OLD, NEW] if existing else [None, NEW]
        if exchange or not died:  # no gap: at every instant the target is complete
            assert before in allowed, f"after a crash at step {k} the target holds {before}"
        recover(target)  # what load_train_state, --resume and load_model_dir do first
        after = _contents(target)
        assert after in allowed, f"after a crash at step {k} and recovery the target holds {after}"
        assert not died or before == after or before is None  # recovery never replaces a complete target
        seen.add("none" if after is None else "old" if after == OLD else "new")
        assert _stranded(folder, "model") == [], f"recovery after step {k} left {_stranded(folder, 'model')}"
        _write_version(target, {"a.txt": "third"})
        assert _contents(target) == {"a.txt": "third"}
        assert _stranded(folder, "model") == []
        if not died:
            break
    # a crash before the swap keeps the old version, one after it keeps the new one
    assert seen == ({"old", "new"} if existing else {"none", "new"}), seen
    assert k >= 6, f"only {k - 1} crash points"


def test_renameat2_exchange_is_used_on_linux(tmp_path, monkeypatch):
    if not sys.platform.startswith("linux"):
        pytest.skip("renameat2 is Linux-only; elsewhere the two-rename fallback is tested")

    def no_fallback(*args):
        raise AssertionError("the two-rename fallback ran on Linux")

    monkeypatch.setattr(atomic, "_swap_by_two_renames", no_fallback)
    target = tmp_path / "m"
    _write_version(target, OLD)
    inode = target.stat().st_ino
    _write_version(target, NEW)
    assert _contents(target) == NEW and target.stat().st_ino != inode
    assert _stranded(tmp_path, "m") == []


def test_recovery_leaves_a_live_writers_staging_alone(tmp_path):
    target = tmp_path / "m"
    _write_version(target, OLD)
    with atomic_directory(target) as staging:
        write_text(staging / "a.txt", "new a")
        recover(target)  # another process (or thread) recovering while this write is under way
        assert staging.is_dir()
        write_text(staging / "c.txt", "new c")
    assert _contents(target) == NEW
    assert _stranded(tmp_path, "m") == []


def test_an_exception_while_staging_leaves_the_target_untouched(tmp_path):
    target = tmp_path / "m"
    _write_version(target, OLD)
    with pytest.raises(RuntimeError), atomic_directory(target) as staging:
        write_text(staging / "a.txt", "half")
        raise RuntimeError("disk full")
    assert _contents(target) == OLD
    assert _stranded(tmp_path, "m") == []


def test_leftovers_of_the_previous_rename_aside_scheme_are_recovered(tmp_path):
    """faultdx <= 0.1 moved the target into ``.NAME.<8 chars>.old/NAME`` and then renamed the staging
    directory in; a kill between the two left no target at all."""
    target = tmp_path / "state"
    _write_version(tmp_path / ".state.k3j9x0q_.old" / "state", OLD)
    (tmp_path / ".state.a8c2m1zz.tmp").mkdir()
    (tmp_path / ".state.a8c2m1zz.tmp" / "a.txt").write_text("maybe half")
    recover(target)
    assert _contents(target) == OLD
    assert _stranded(tmp_path, "state") == []


# -- the callers: training state (--resume) and model directories --------------------------------------------


def _tiny_training(seed: int):
    torch.manual_seed(seed)
    model = torch.nn.Linear(4, 3)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    model(torch.randn(2, 4)).sum().backward()
    optimizer.step()
    scheduler.step()
    return model, optimizer, scheduler, scaler


def _save_state(path: Path, training: tuple, epoch: int) -> None:
    model, optimizer, scheduler, scaler = training
    save_train_state(path, model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler,
                     state=TrainState(epoch=epoch, global_step=10 * epoch))


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2-exchange", "two-renames-fallback"])
def test_resume_loads_a_complete_state_after_a_crash_at_every_step(tmp_path, monkeypatch, exchange):
    if not exchange:
        _without_exchange(monkeypatch)
    versions = {epoch: _tiny_training(epoch) for epoch in (1, 2, 3)}  # trained here: the child only writes
    weights = {epoch: training[0].weight.detach() for epoch, training in versions.items()}
    epochs = set()
    k = 0
    while True:
        k += 1
        run = tmp_path / f"k{k}"
        _save_state(run / "state", versions[1], epoch=1)
        died = _crash_at(k, lambda step, run=run: _save_state(run / "state", versions[2], epoch=2))
        model, optimizer, scheduler, scaler = _tiny_training(4)
        state = load_train_state(run / "state", model=model, optimizer=optimizer, scheduler=scheduler,
                                 scaler=scaler)
        assert state.epoch in (1, 2), f"crash at step {k}"
        torch.testing.assert_close(model.weight.detach(), weights[state.epoch])  # the whole of one version
        epochs.add(state.epoch)
        assert _stranded(run, "state") == [], f"crash at step {k}: resume left {_stranded(run, 'state')}"
        _save_state(run / "state", versions[3], epoch=3)
        assert _stranded(run, "state") == []
        if not died:
            break
    assert epochs == {1, 2} and k >= 5


def _model(seed: int) -> ResNet1d:
    torch.manual_seed(seed)
    return ResNet1d(preset_config("small", num_classes=2, widths=(4,), depths=(1,), strides=(2,),
                                  stem_channels=4))


META = {"name": "tiny", "classes": ["normal", "fault"], "window": 256, "hop": 256, "sampling_rate": 12000,
        "channels": ["DE"], "dataset": {"name": "synthetic"}}


def test_load_model_dir_recovers_a_model_left_aside_by_a_killed_fallback_swap(tmp_path, monkeypatch):
    _without_exchange(monkeypatch)
    target = tmp_path / "models" / "tiny"
    save_model_dir(target, _model(0), {**META, "version": "1"})
    new = _model(1)
    died = False
    for k in range(1, 40):  # the first crash point that leaves no target: between the two renames
        died = _crash_at(k, lambda step: save_model_dir(target, new, {**META, "version": "2"}))
        if not target.exists():
            break
    assert died and not target.exists()
    assert load_model_dir(target).meta.version == "1"
    assert sorted(p.name for p in target.parent.iterdir()) == ["tiny"]


# -- files ---------------------------------------------------------------------------------------------------


def test_file_writers_replace_whole_files_with_the_default_mode(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    write_text_atomic(tmp_path / "t.json", "{}\n")
    write_bytes_atomic(tmp_path / "b.bin", b"\x00\x01")
    save_npy_atomic(tmp_path / "a.npy", np.arange(5.0))
    assert (tmp_path / "t.json").read_text() == "{}\n"
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy", allow_pickle=False), np.arange(5.0))
    for name in ("t.json", "b.bin", "a.npy"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask, name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy", "b.bin", "t.json"]


def test_a_failed_file_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "curves.png"
    path.write_bytes(b"old")
    with pytest.raises(ValueError), atomic_file(path) as tmp:
        assert tmp.suffix == ".png" and tmp.parent == tmp_path  # writers that pick a format by suffix
        tmp.write_bytes(b"half")
        raise ValueError("renderer failed")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]


def test_the_next_write_removes_a_dead_writers_temp_file_but_not_a_live_ones(tmp_path):
    path = tmp_path / "metrics.jsonl"
    dead = tmp_path / ".metrics.jsonl.0000000000000001-abcdef.tmp"
    dead.write_text("half")
    live = tmp_path / ".metrics.jsonl.0000000000000002-abcdef.tmp"
    live.write_text("being written")
    fd = os.open(live, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as a running writer holds it
        write_text_atomic(path, "{}\n")
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, live.name])
    finally:
        os.close(fd)
    write_text_atomic(path, "{}\n")
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


# -- one helper ----------------------------------------------------------------------------------------------


def _renames(tree: ast.AST) -> list[int]:
    """Lines that rename or replace a file: os.replace/rename/renames, shutil.move, any ``.rename(x)``, and
    ``x.replace(y)`` with one argument (``Path.replace``; ``str.replace`` takes two)."""
    lines = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        attr, owner = node.func.attr, node.func.value
        owner_name = owner.id if isinstance(owner, ast.Name) else ""
        if (
            (owner_name == "os" and attr in ("replace", "rename", "renames"))
            or (owner_name == "shutil" and attr == "move")
            or attr == "rename"
            or (attr == "replace" and len(node.args) == 1 and not node.keywords)
        ):
            lines.append(node.lineno)
    return lines


def test_no_file_is_renamed_outside_faultdx_atomic():
    sources = [p for folder in ("faultdx", "service", "bench") for p in (ROOT / folder).rglob("*.py")]
    assert len(sources) > 20
    found = {
        f"{path.relative_to(ROOT)}:{line}": path.read_text().splitlines()[line - 1].strip()
        for path in sources
        if path != ROOT / "faultdx" / "atomic.py"
        for line in _renames(ast.parse(path.read_text()))
    }
    assert found == {}, "write through faultdx.atomic instead"
    caught = "os.replace(a, b)\np.rename(q)\np.replace(q)\nshutil.move(a, b)"
    assert _renames(ast.parse(caught)) == [1, 2, 3, 4]
    assert _renames(ast.parse("s.replace('a', 'b')\ndataclasses.replace(c, x=1)")) == []


def test_stranded_leftovers_of_a_removed_tree_are_garbage(tmp_path):
    """A crash while deleting the swapped-out copy leaves ``.NAME.<token>.trash``; it is never restored."""
    trash = tmp_path / ".m.0000000000000001-abcdef.trash"
    trash.mkdir()
    (trash / "a.txt").write_text("partial")
    recover(tmp_path / "m")
    assert not (tmp_path / "m").exists() and list(tmp_path.iterdir()) == []
