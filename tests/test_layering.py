"""Lower layers never import higher ones, and no module imports itself round a cycle.

Every module of ``faultdx/`` and ``service/`` (imported as ``faultdx_service``) is read with :mod:`ast`; every
import counts, a function-local one included (a cycle hidden in a function is still a cycle). Each module
belongs to one layer of ../shared/DESIGN.md's order, lowest first; an import may point only to its own layer
or below. Besides the static walk, inference (the Diagnoser, the service) and the nn / data layers are
imported for real and must load without ``faultdx.train``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"faultdx": "faultdx", "service": "faultdx_service"}  # folder -> the name it is imported as
# Layers, lowest first: module prefixes (a prefix covers its submodules; the bare package ``faultdx`` is its
# face alone; ``x_*`` covers every module named so). DESIGN.md's order, with the modules it does not name
# placed by what they are: the package face and the results writer (atomic + paths) at the bottom; the
# model-directory format (safetensors + config, its size bounds, a ResNet1d by default) beside nn; the
# renderers of results into the docs (they read monitor zones and nn costs) at the top with the CLI. A new
# top-level module fails here until it is given its layer.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("faultdx", "faultdx.errors", "faultdx.paths", "faultdx.atomic", "faultdx.limits", "faultdx.results"),
    ("faultdx.settings",),
    ("faultdx.data",),
    ("faultdx.context",),
    ("faultdx.nn", "faultdx.modeldir", "faultdx.model_bounds"),
    ("faultdx.baselines",),
    ("faultdx.ood",),
    ("faultdx.diagnose",),
    ("faultdx.monitor",),
    ("faultdx.train", "faultdx.score", "faultdx.ingest"),
    ("faultdx.cli", "faultdx.results_*", "faultdx_service"),  # results_*: the renderers of results/*.json
)
FACES = {"faultdx"}  # prefixes that stand for the package face only, not for every module under it


def module_name(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    parts = [PACKAGES[relative.parts[0]], *relative.parts[1:]]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    """Every module of the two packages (Alembic's migration scripts are loaded by path, not imported)."""
    return {module_name(p): p for folder in PACKAGES for p in (ROOT / folder).rglob("*.py")
            if "migrations" not in p.parts}


def imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports anywhere in its body (``from a.b import c`` is ``a.b.c`` when
    that is a module, else ``a.b``)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def covers(prefix: str, name: str) -> bool:
    if prefix.endswith("*"):
        return name.startswith(prefix[:-1])
    return name == prefix or (prefix not in FACES and name.startswith(prefix + "."))


def layer(name: str) -> int:
    """Index of the layer whose longest prefix matches ``name``."""
    best = max(((len(prefix), i) for i, prefixes in enumerate(LAYERS) for prefix in prefixes
                if covers(prefix, name)), default=None)
    if best is None:
        raise AssertionError(f"{name} is in no layer: add it to LAYERS in {Path(__file__).name}")
    return best[1]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports(name, path, modules) for name, path in modules.items()}


def test_the_walk_sees_function_local_and_relative_imports(graph) -> None:
    # guards of the walk itself: a function-local import and a package face are edges like any other
    assert "faultdx.diagnose.diagnoser" in graph["faultdx.diagnose"]
    assert "faultdx.diagnose.result" in graph["faultdx.diagnose.diagnoser"]
    assert len(graph) > 100 and "faultdx_service.main" in graph
    local = {name for name, path in project_modules().items()
             if any(isinstance(n, ast.FunctionDef) and any(isinstance(s, ast.ImportFrom) for s in ast.walk(n))
                    for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))))}
    assert local, "no function-local import found anywhere: the walk is broken"


def test_no_import_points_up_a_layer(graph) -> None:
    upward = sorted(f"{name} (layer {layer(name)}) -> {target} (layer {layer(target)})"
                    for name, targets in graph.items() for target in targets if layer(target) > layer(name))
    assert not upward, "imports pointing up the layers:\n" + "\n".join(upward)


def test_no_import_cycle(graph) -> None:
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_layers_follow_the_design_order() -> None:
    order = ["faultdx.errors", "faultdx.settings", "faultdx.data.readers", "faultdx.context.machine",
             "faultdx.nn.resnet1d", "faultdx.baselines.envelope", "faultdx.ood", "faultdx.diagnose.result",
             "faultdx.monitor.crud", "faultdx.train.loop", "faultdx_service.routes.v2"]
    assert [layer(name) for name in order] == sorted(layer(name) for name in order)
    assert layer("faultdx.settings") < layer("faultdx.data.readers")  # the arrow issue 20 found, refused
    assert layer("faultdx.score.engines") == layer("faultdx.train") == layer("faultdx.ingest.mqtt")
    assert layer("faultdx.results_render") == layer("faultdx.results_any") == layer("faultdx.cli.serve")
    assert layer("faultdx.results") == layer("faultdx.errors")  # the results writer, not a renderer
    for unplaced in ("elsewhere.module", "faultdx.brand_new_module"):
        with pytest.raises(AssertionError, match="in no layer"):
            layer(unplaced)


def test_the_cycle_finder_finds_a_hidden_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


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


def test_the_asset_store_and_its_commands_start_without_torch() -> None:
    """`faultdx assets` / `history` only read and write the database: importing torch (about 3 s of a
    6.9 s `faultdx assets list`) is for the commands that run a network. ``faultdx.diagnose`` loads its
    torch-backed names on first use."""
    script = ("import sys; import faultdx.monitor.store, faultdx.cli.monitor; "
              "from faultdx.diagnose import MAX_SAMPLING_RATE; print('torch' in sys.modules); "
              "from faultdx.diagnose import Diagnoser; print('torch' in sys.modules, Diagnoser.__name__)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "True", "Diagnoser"]
