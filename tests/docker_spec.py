"""What the Dockerfiles say, read with BuildKit's own parser (the ``dockerfile`` package).

The tests check the images' contents (and tests/test_container.py builds and
runs the CPU image with podman); this module turns a Dockerfile into stages, environment, entrypoint and
healthcheck, with ``ARG`` defaults substituted as a build without ``--build-arg`` would.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import dockerfile
from docker.utils.build import exclude_paths

ROOT = Path(__file__).resolve().parent.parent
DOCKER_DIR = ROOT / "docker"
CPU_DOCKERFILE = DOCKER_DIR / "Dockerfile"
CUDA_DOCKERFILE = DOCKER_DIR / "Dockerfile.cuda"
COMPOSE_FILE = DOCKER_DIR / "compose.yaml"
PROMETHEUS_FILE = DOCKER_DIR / "prometheus.yml"
DOCKERIGNORE = ROOT / ".dockerignore"
SHIPPED_MODEL = "hybrid-aprelu"
ARG_REFERENCE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def _arg_default(instruction: dockerfile.Command) -> tuple[str, str | None]:
    """``ARG NAME=default`` as (NAME, default); ``ARG NAME`` as (NAME, None)."""
    name, has_default, default = instruction.value[0].partition("=")
    return name, default if has_default else None


def expand_args(text: str, args: dict[str, str | None]) -> str:
    """``text`` with ``$NAME``/``${NAME}`` of the known build arguments replaced by their defaults (others,
    such as ``$PATH``, left as written)."""
    def value(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        return args[name] if args.get(name) is not None else match.group(0)

    return ARG_REFERENCE.sub(value, text)


@dataclass
class Stage:
    """One ``FROM`` … block: its base image, optional name and instructions in order."""

    base: str
    name: str | None
    instructions: list[dockerfile.Command] = field(default_factory=list)
    base_as_written: str = ""

    def args(self) -> dict[str, str | None]:
        """The stage's ``ARG`` declarations and their defaults."""
        return dict(_arg_default(instruction) for instruction in self.all("ARG"))

    def all(self, cmd: str) -> list[dockerfile.Command]:
        return [i for i in self.instructions if i.cmd == cmd.upper()]

    def last(self, cmd: str) -> dockerfile.Command | None:
        found = self.all(cmd)
        return found[-1] if found else None

    def env(self) -> dict[str, str]:
        """``ENV`` of this stage, in order (later wins), values as written (``$PATH`` not expanded)."""
        env: dict[str, str] = {}
        for instruction in self.all("ENV"):
            pairs = instruction.value
            env.update(zip(pairs[::2], pairs[1::2], strict=True))
        return env

    def exec_form(self, cmd: str) -> list[str]:
        """The argv of the last ``ENTRYPOINT``/``CMD``/``HEALTHCHECK``; shell form is refused (no signals)."""
        instruction = self.last(cmd)
        if instruction is None:
            return []
        if not instruction.json:
            raise AssertionError(f"{cmd} is in shell form; use the exec (JSON) form so signals reach it")
        argv = list(instruction.value)
        return argv[1:] if cmd.upper() == "HEALTHCHECK" and argv[:1] == ["CMD"] else argv

    def copies(self) -> list[tuple[list[str], str, tuple[str, ...]]]:
        """``COPY`` instructions as (sources, destination, flags)."""
        return [(list(c.value[:-1]), c.value[-1], c.flags) for c in self.all("COPY")]

    def context_sources(self) -> list[str]:
        """Paths this stage reads from the build context: ``COPY`` sources and ``RUN --mount=type=bind``
        sources (those without ``from=``, which read another stage instead)."""
        sources = [src for srcs, _, flags in self.copies() if not any(f.startswith("--from=") for f in flags)
                   for src in srcs]
        for run in self.all("RUN"):
            for flag in run.flags:
                if flag.startswith("--mount="):
                    options = dict(item.split("=", 1) for item in flag.removeprefix("--mount=").split(","))
                    if options.get("type") == "bind" and "from" not in options:
                        sources.append(options.get("source", "."))
        return sources

    def run_commands(self) -> list[str]:
        """Every shell command of the `RUN` lines, `&&` chains split, `ARG`s at their defaults."""
        args = self.args()
        return [expand_args(part.strip(), args) for r in self.all("RUN") for part in r.value[0].split("&&")
                if part.strip()]


def global_args(path: Path) -> dict[str, str | None]:
    """The ``ARG``s declared before the first ``FROM`` (those ``FROM`` lines may use) and their defaults."""
    found: dict[str, str | None] = {}
    for instruction in dockerfile.parse_file(str(path)):
        if instruction.cmd == "FROM":
            break
        if instruction.cmd == "ARG":
            found.update([_arg_default(instruction)])
    return found


def stages(path: Path) -> list[Stage]:
    """The stages of a Dockerfile, in order; each base with the global ``ARG`` defaults substituted."""
    result: list[Stage] = []
    defaults = global_args(path)
    for instruction in dockerfile.parse_file(str(path)):
        if instruction.cmd == "FROM":
            words = instruction.value
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            result.append(Stage(base=expand_args(words[0], defaults), name=name, base_as_written=words[0]))
        elif result:
            result[-1].instructions.append(instruction)
    return result


def pip_install_args(command: str) -> list[str] | None:
    """The arguments of a ``pip install`` command (``None`` for any other command)."""
    words = shlex.split(command)
    if words[:2] == ["pip", "install"]:
        return words[2:]
    if words[:4] in (["python", "-m", "pip", "install"], ["python3", "-m", "pip", "install"]):
        return words[4:]
    return None


def context_files(root: Path = ROOT, dockerfile_path: str = "docker/Dockerfile") -> set[str]:
    """Paths (files and folders, relative) Docker sends as build context from ``root`` under its
    ``.dockerignore``, with docker-py's implementation of the matching rules."""
    lines = (root / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    return exclude_paths(str(root), patterns, dockerfile=dockerfile_path)
