"""The Docker files agree with each other and with the code: Dockerfiles, compose, Prometheus, .dockerignore,
and the JSON-lines log configuration the image's ``faultdx serve`` uses."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
import typer
import yaml
from faultdx_service.logconfig import LOG_LEVELS, uvicorn_log_config

from tests.docker_spec import (
    COMPOSE_FILE,
    CPU_DOCKERFILE,
    CUDA_DOCKERFILE,
    DOCKER_DIR,
    DOCKERIGNORE,
    PROMETHEUS_FILE,
    ROOT,
    SHIPPED_MODEL,
    Stage,
    context_files,
    global_args,
    pip_install_args,
    stages,
)

SECRET_WORDS = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)


def _compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def _final(path: Path) -> Stage:
    return stages(path)[-1]


def _cli() -> click.Group:
    from faultdx.cli import app

    return typer.main.get_command(app)


def _settings_fields() -> set[str]:
    from faultdx_service.settings import Settings

    return {name.upper() for name in Settings.model_fields}


# ---- Dockerfiles ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [CPU_DOCKERFILE, CUDA_DOCKERFILE], ids=lambda p: p.name)
def test_images_are_multi_stage_pinned_and_unprivileged(path: Path) -> None:
    all_stages = stages(path)
    assert len(all_stages) >= 2, "multi-stage: build leftovers stay out of the final image"
    for stage in all_stages:
        image, _, tag = stage.base.partition(":")
        assert tag and tag != "latest" and re.search(r"\d+\.\d+", tag), f"base {stage.base!r} is not pinned"
    final = all_stages[-1]
    user = final.last("USER")
    assert user is not None, "the final stage must drop root"
    uid = user.value[0].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"USER {uid!r}: numeric and non-zero (runAsNonRoot checks it)"


@pytest.mark.parametrize("path", [CPU_DOCKERFILE, CUDA_DOCKERFILE], ids=lambda p: p.name)
def test_images_carry_the_shipped_model_and_no_secret(path: Path) -> None:
    final = _final(path)
    env = final.env()
    assert env["FAULTDX_MODEL"] == SHIPPED_MODEL
    knobs = ["MODEL", "MODELS", "WORKERS", "MAX_BATCH", "MAX_WAIT_MS"]
    knobs += ["MAX_BODY_BYTES", "LOG_LEVEL", "LOG_JSON"]
    assert {f"FAULTDX_{k}" for k in knobs} <= env.keys(), "the image states every serving setting"
    assert env["FAULTDX_HOST"] == "0.0.0.0", "inside a container the server must listen on all interfaces"
    model_dir = f"{env['FAULTDX_MODELS']}/{SHIPPED_MODEL}"
    assert any(src == [f"models/{SHIPPED_MODEL}"] and dest.rstrip("/") == model_dir
               for src, dest, _ in final.copies()), "the shipped model must be copied into FAULTDX_MODELS"
    settings = _settings_fields()
    for stage in stages(path):
        for name in stage.env():
            assert not SECRET_WORDS.search(name), f"{name} baked into a layer; pass secrets at run time"
            if name.startswith("FAULTDX_") and name not in ("FAULTDX_DATA", "FAULTDX_CACHE"):
                assert name.removeprefix("FAULTDX_") in settings, f"{name} is not a service setting"
        assert not stage.all("ARG") or not any(SECRET_WORDS.search(a.value[0]) for a in stage.all("ARG"))
    expose = final.last("EXPOSE")
    assert expose is not None and expose.value[0] == env["FAULTDX_PORT"]


def test_cpu_image_installs_cpu_torch_first_then_the_pinned_dependencies_then_the_package() -> None:
    build = stages(CPU_DOCKERFILE)[0]
    installs = [args for command in build.run_commands() if (args := pip_install_args(command)) is not None]
    assert len(installs) == 3, installs
    torch_args, dependency_args, package_args = installs
    assert "torch==2.13.0" in torch_args
    assert torch_args[torch_args.index("--index-url") + 1] == "https://download.pytorch.org/whl/cpu"
    assert "." in package_args
    constraints = package_args[package_args.index("--constraint") + 1]
    # the dependencies' layer reads the constraints file alone, so source changes leave it cached
    assert dependency_args[dependency_args.index("--requirement") + 1] == constraints
    layer = [i for i in build.instructions if i.cmd in ("COPY", "RUN")]
    at = next(n for n, i in enumerate(layer) if i.cmd == "RUN" and "--requirement" in i.value[0])
    assert [c.value for c in layer[:at] if c.cmd == "COPY"] == [(constraints, "./docker/")]
    pins = [line.strip() for line in (ROOT / constraints).read_text().splitlines() if "==" in line]
    assert "torch==2.13.0" in pins, "the constraints pin the same torch as the CPU install"
    assert not [p for p in pins if p.startswith("faultdx==")]
    assert all("--no-cache-dir" in args for args in installs), "pip's cache would be kept in a layer"
    final = _final(CPU_DOCKERFILE)
    assert final.exec_form("ENTRYPOINT") == ["faultdx", "serve"]
    assert final.env()["FAULTDX_LOG_JSON"] == "true"


def test_cpu_image_stages_share_one_base_and_the_local_build_sets_declared_arguments() -> None:
    """The venv copied into the runtime stage links to the build stage's interpreter, so both stages start
    from the same ``BASE``; docker/build-local.sh swaps only build arguments the Dockerfile declares (podman
    ignores an undeclared one with a mere warning, and the image would quietly use the default)."""
    all_stages = stages(CPU_DOCKERFILE)
    assert {stage.base_as_written for stage in all_stages} == {"${BASE}"}
    declared = global_args(CPU_DOCKERFILE) | all_stages[0].args()
    assert declared["BASE"] == all_stages[0].base == "python:3.11.14-slim-bookworm"
    script = (DOCKER_DIR / "build-local.sh").read_text()
    passed = set(re.findall(r'--build-arg "(\w+)=', script))
    assert passed == {"BASE", "TORCH_INDEX"} and passed <= declared.keys(), passed


def test_cuda_image_serves_by_default_and_trains_on_request() -> None:
    final = _final(CUDA_DOCKERFILE)
    assert final.base.startswith("pytorch/pytorch:") and final.base.endswith("-runtime"), final.base
    torch_version = final.base.split(":")[1].split("-")[0]
    cpu_torch = next(a for c in stages(CPU_DOCKERFILE)[0].run_commands()
                     if (a := pip_install_args(c)) and any(w.startswith("torch==") for w in a))
    assert f"torch=={torch_version}" in cpu_torch, "CPU and GPU images should run the same torch release"
    assert final.exec_form("ENTRYPOINT") == ["faultdx"]
    assert final.exec_form("CMD") == ["serve"]
    assert {"serve", "train"} <= set(_cli().list_commands(None))


@pytest.mark.parametrize("path", [CPU_DOCKERFILE, CUDA_DOCKERFILE], ids=lambda p: p.name)
def test_healthcheck_probes_readiness_with_python_only(path: Path) -> None:
    argv = _final(path).exec_form("HEALTHCHECK")
    assert argv[:2] == ["python", "-c"], argv
    assert "urllib.request" in argv[2] and "/readyz" in argv[2]


# ---- .dockerignore -------------------------------------------------------------------------------------


def test_dockerignore_keeps_data_runs_venvs_caches_git_and_secrets_out(tmp_path: Path) -> None:
    tree = {
        "pyproject.toml", "setup.py", "README.md", "faultdx/__init__.py", "faultdx/data/cwru_catalogue.csv",
        "service/main.py", "service/static/index.html", f"models/{SHIPPED_MODEL}/model.safetensors",
        f"models/{SHIPPED_MODEL}/config.json", "docker/Dockerfile", "docker/constraints.txt",
        # must stay out:
        "data/cwru/97.mat", "runs/exp1/model.safetensors", ".venv/bin/python", "venv/bin/python",
        ".git/HEAD", ".cache/faultdx/a.npy", "cache/a.npy", ".env", "faultdx/__pycache__/x.cpython-311.pyc",
        "models/my-experiment/model.safetensors", ".pytest_cache/v/x", "artifacts/report.md", "bench/x.py",
        "docker/compose.yaml", "tests/test_x.py",
    }
    for name in tree:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    (tmp_path / ".dockerignore").write_text(DOCKERIGNORE.read_text())
    sent = {p for p in context_files(tmp_path) if (tmp_path / p).is_file()}
    assert sent == {
        "pyproject.toml", "setup.py", "README.md", "faultdx/__init__.py", "faultdx/data/cwru_catalogue.csv",
        "service/main.py", "service/static/index.html", f"models/{SHIPPED_MODEL}/model.safetensors",
        f"models/{SHIPPED_MODEL}/config.json", "docker/Dockerfile", "docker/constraints.txt", ".dockerignore",
    }


@pytest.mark.parametrize("path", [CPU_DOCKERFILE, CUDA_DOCKERFILE], ids=lambda p: p.name)
def test_every_copy_source_is_in_the_real_build_context(path: Path) -> None:
    context = context_files(ROOT, str(path.relative_to(ROOT)))
    for stage in stages(path):
        for source in stage.context_sources():
            assert (ROOT / source).exists(), f"{path.name}: {source}: missing in the repository"
            assert source.rstrip("/") in context, f"{path.name}: {source}: excluded by .dockerignore"
    for must_have in (f"models/{SHIPPED_MODEL}/model.safetensors", f"models/{SHIPPED_MODEL}/config.json"):
        assert must_have in context


# ---- compose + Prometheus ------------------------------------------------------------------------------


def test_compose_builds_the_images_from_the_repository_root() -> None:
    services = _compose()["services"]
    assert set(services) == {"faultdx", "train", "prometheus", "mosquitto"}
    for name, dockerfile_path in (("faultdx", CPU_DOCKERFILE), ("train", CUDA_DOCKERFILE)):
        build = services[name]["build"]
        assert (DOCKER_DIR / build["context"]).resolve() == ROOT
        assert (ROOT / build["dockerfile"]).resolve() == dockerfile_path
    assert services["train"]["profiles"] == ["train"]
    assert services["prometheus"]["profiles"] == ["monitoring"]
    assert services["mosquitto"]["profiles"] == ["plant"]  # the plant's broker (docs/plant.md)
    assert "profiles" not in services["faultdx"], "the service itself starts with a plain `up`"


def test_compose_service_port_volume_healthcheck_match_the_image() -> None:
    compose = _compose()
    service = compose["services"]["faultdx"]
    env = _final(CPU_DOCKERFILE).env()
    port = env["FAULTDX_PORT"]
    assert any(str(p).endswith(f":{port}") for p in service["ports"]), service["ports"]
    assert f"models:{env['FAULTDX_MODELS']}" in service["volumes"]
    assert "models" in compose["volumes"]
    test = service["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1:3] == ["python", "-c"]
    assert f"http://127.0.0.1:{port}/readyz" in test[3]
    assert service["init"] is True, "an init process forwards SIGTERM and reaps worker processes"
    assert "stop_grace_period" in service
    settings = _settings_fields()
    for name in service["environment"]:
        assert name.removeprefix("FAULTDX_") in settings, f"compose sets {name}, which no setting reads"
    assert service["environment"]["FAULTDX_API_KEY"] is None, "the key comes from the shell or .env"


def test_compose_training_job_writes_into_the_models_volume_on_a_gpu() -> None:
    train = _compose()["services"]["train"]
    env = _final(CUDA_DOCKERFILE).env()
    assert f"models:{env['FAULTDX_MODELS']}" in train["volumes"]
    assert any(v.endswith(f":{env['FAULTDX_DATA']}:ro") for v in train["volumes"]), "data mounted read-only"
    command = train["command"]
    assert command[0] == "train"
    # The arguments parse as `faultdx train` options (nothing runs) and name things that exist.
    params = _cli().get_command(None, "train").make_context("train", list(command[1:])).params
    from faultdx.train.config import load_config

    recipe = params["config"]
    assert str(recipe).startswith(env["FAULTDX_MODELS"] + "/"), "the shipped recipe, copied into the image"
    local = ROOT / "models" / Path(recipe).name
    assert f"COPY models/{local.name} {recipe}" in CUDA_DOCKERFILE.read_text()
    config = load_config(local, list(params["set_"]))  # the recipe and its overrides validate
    assert config.threads is None and config.model_name == "hybrid-aprelu-gpu"
    assert params["device"] == "cuda"
    assert str(params["export"]).startswith(env["FAULTDX_MODELS"] + "/"), "export into the models volume"
    assert f"runs:{params['out_dir']}" in train["volumes"], "run folders kept in the runs volume"
    devices = train["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]
    assert train["healthcheck"] == {"disable": True}


def test_prometheus_scrapes_the_service_metrics() -> None:
    prometheus = _compose()["services"]["prometheus"]
    mount = next(v for v in prometheus["volumes"] if v.endswith("/etc/prometheus/prometheus.yml:ro"))
    assert (DOCKER_DIR / mount.split(":")[0]).resolve() == PROMETHEUS_FILE
    image, _, tag = prometheus["image"].partition(":")
    assert image == "prom/prometheus" and re.fullmatch(r"v\d+\.\d+\.\d+", tag)
    config = yaml.safe_load(PROMETHEUS_FILE.read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "faultdx")
    assert job.get("metrics_path", "/metrics") == "/metrics"
    assert job["static_configs"][0]["targets"] == [f"faultdx:{_final(CPU_DOCKERFILE).env()['FAULTDX_PORT']}"]


# ---- JSON-lines logging --------------------------------------------------------------------------------

_LOG_SCRIPT = """
import logging, logging.config, sys
from faultdx_service.logconfig import uvicorn_log_config
logging.config.dictConfig(uvicorn_log_config(sys.argv[1], sys.argv[2] == "json"))
logging.getLogger("uvicorn.error").info("Started server process [%d]", 7, extra={"color_message": "x"})
logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "POST", "/v1/diagnose",
                                         "1.1", 200)
logging.getLogger("faultdx.diagnose").debug("only at debug")
logging.getLogger("faultdx_service.batching").warning("batch done", extra={"windows": 12})
try:
    1 / 0
except ZeroDivisionError:
    logging.getLogger("faultdx_service").exception("failed")
"""


def _log(level: str, mode: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _LOG_SCRIPT, level, mode], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=True)


def test_json_log_config_writes_one_object_per_line_on_stdout() -> None:
    done = _log("INFO", "json")
    assert done.stderr == ""
    records = [json.loads(line) for line in done.stdout.splitlines()]
    loggers = [r["logger"] for r in records]
    assert loggers == ["uvicorn.error", "uvicorn.access", "faultdx_service.batching", "faultdx_service"]
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys()
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", record["time"])
        assert "color_message" not in record
    access = records[1]
    assert access | {"time": None} == access | {
        "client": "127.0.0.1:5000", "method": "POST", "path": "/v1/diagnose", "http_version": "1.1",
        "status": 200, "level": "INFO", "time": None,
    }
    assert records[2]["windows"] == 12 and records[2]["level"] == "WARNING"
    assert "ZeroDivisionError" in records[3]["exc_info"]


def test_log_level_and_plain_text_mode() -> None:
    debug = _log("debug", "json").stdout.splitlines()
    assert any(json.loads(line)["message"] == "only at debug" for line in debug)
    plain = _log("warning", "text").stdout
    assert "batch done" in plain and "Started server process" not in plain
    assert not plain.lstrip().startswith("{")


def test_unknown_log_level_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="verbose.*valid: critical, error, warning, info, debug, trace"):
        uvicorn_log_config("verbose", True)
    assert set(LOG_LEVELS) == {"critical", "error", "warning", "info", "debug", "trace"}


def test_compose_sizes_no_shared_memory_for_dataloader_workers_that_do_not_exist(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Training batches are drawn inside the training process (no DataLoader workers handing tensors over
    through /dev/shm), so compose sizes no shared memory: an epoch of training starts no other process."""
    import multiprocessing.process

    import torch

    from faultdx.data.base import CWRU_10_CLASSES, type_membership
    from faultdx.train.config import load_config
    from faultdx.train.device import resolve_precision
    from faultdx.train.distributed import DistInfo
    from faultdx.train.loop import DeviceSplit, train_one_epoch
    from faultdx.train.optim import build_model, build_optimizer, build_scheduler

    assert all("shm_size" not in service for service in _compose()["services"].values())
    started: list[object] = []
    real_start = multiprocessing.process.BaseProcess.start
    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start",
                        lambda self: (started.append(self), real_start(self))[1])
    config = load_config(None, ["model.overrides={widths: [8, 8, 8], depths: [1, 1, 1], stem_channels: 8}"])
    y = torch.arange(32) % 10
    data = DeviceSplit(torch.randn(32, 1, 2048), y, fault_type=y.clamp(max=3),
                       context=torch.full((32, 5), 0.005),
                       membership=torch.from_numpy(type_membership(CWRU_10_CLASSES)))
    model = build_model(config, 10)
    optimizer = build_optimizer(model, config)
    precision = resolve_precision("fp32", torch.device("cpu"))
    stats = train_one_epoch(
        model, data, optimizer=optimizer, scheduler=build_scheduler(optimizer, config, 4),
        scaler=precision.scaler(torch.device("cpu")), precision=precision, augment=config.augment,
        batch_size=8, seed=0, epoch=0, grad_clip=1.0, label_smoothing=0.0, dist_info=DistInfo(),
    )
    assert stats.windows == 32, "the epoch really ran"
    assert started == [], f"training started worker processes: {started}"
    # the spy does see a process when one is started
    probe = multiprocessing.get_context("spawn").Process(target=int)
    probe.start()
    probe.join(timeout=60)
    assert started == [probe]


# ---- results/container.json (docker/measure.py) --------------------------------------------------------


def test_container_figures_render_a_fresh_build_beside_a_rerun() -> None:
    from faultdx.results_render import RENDERERS

    run = {"image": "localhost/faultdx:cpu", "base_image": "localhost/debian-base:bookworm", "base": "built",
           "base_build_s": 250.8, "image_build_s": 420.2, "total_s": 690.0, "image_bytes": 1743810509,
           "base_bytes": 175842489}
    data = {"image": run["image"], "base_image": run["base_image"], "image_bytes": run["image_bytes"],
            "base_bytes": run["base_bytes"], "ready_s": 17.25,
            "cold": run,
            "warm": run | {"base": "reused", "base_build_s": 0, "image_build_s": 31.4, "total_s": 40,
                           "steps": 25, "cached_steps": 21}}
    text = RENDERERS["container"]({"data": data})
    assert "| Debian base (`debootstrap` + `podman import`) | 251 s | reused |" in text
    assert "| 420 s | 31 s (21 of 25 steps cached) |" in text
    assert "| whole script | 690 s | 40 s |" in text
    assert "1,744 MB (of which the base `localhost/debian-base:bookworm`: 176 MB)" in text
    assert "`/readyz` 200: 17.2 s" in text
    warm_only = RENDERERS["container"]({"data": data | {"cold": None}})
    assert "| whole script | – | 40 s |" in warm_only
