"""The typed, validated run configuration of ``faultdx train`` / ``evaluate`` / ``compare``.

A run is described by one :class:`RunConfig`: built from defaults, a YAML / JSON / TOML file, and CLI
overrides (``--set optim.lr=3e-3``), in that order. Every error names the option at fault
(``optim.lr: Input should be greater than 0``), litgpt style.
"""

from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class ConfigError(ValueError):
    """A run configuration is invalid; the message names the option."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class DataSource(_Section):
    """Another dataset: ``get_dataset(name, **options)``."""

    name: str
    options: dict[str, Any] = Field(default_factory=dict)
    sensors: list[str] | None = Field(
        None, description="data.mix only: read each of these channels as its own recording of the model's "
        "input (e.g. CWRU's FE and BA accelerometers: the same faults through other transfer paths)",
    )

    @field_validator("name")
    @classmethod
    def _known_dataset(cls, name: str) -> str:
        return _check_dataset(name)


def _check_dataset(name: str) -> str:
    from faultdx.data.registry import dataset_names

    if name not in dataset_names():
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(dataset_names())}")
    return name


class DataConfig(_Section):
    """Which recordings, and how they are cut into windows."""

    name: str = "cwru"
    options: dict[str, Any] = Field(default_factory=dict, description="get_dataset(name, **options)")
    mix: list[DataSource] = Field(
        default_factory=list,
        description="more training recordings (e.g. the domain-randomised simulator), split head/tail into "
        "train and val like the main set, never tested on",
    )
    channels: list[str] = Field(default_factory=lambda: ["DE"], min_length=1)
    window: int = Field(2048, ge=64)
    hop: int = Field(512, ge=1, description="hop between training windows")
    eval_hop: int | None = Field(None, ge=1, description="hop for val/test windows (default: window // 2)")
    exclude_classes: list[str] = Field(default_factory=list, description="classes dropped before splitting")

    @field_validator("name")
    @classmethod
    def _known_dataset(cls, name: str) -> str:
        return _check_dataset(name)


class SplitConfig(_Section):
    """Leakage-free protocol: ``time`` (head/middle/tail of every recording), ``condition`` (train on some
    loads, test on others), ``size`` (leave one fault size, i.e. other physical bearings, out) or ``rig``
    (test on another dataset's recordings, at their own rpm and bearing)."""

    protocol: Literal["time", "condition", "size", "rig"] = "time"
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    train_conditions: list[float] | None = None
    test_conditions: list[float] | None = None
    test_size: str | None = Field(None, description="protocol size: the fault size held out (007, 014, 021)")
    test_data: DataSource | None = Field(None, description="protocol rig: the dataset tested on")
    val_fraction: float = Field(0.15, gt=0, lt=1)

    @field_validator("test_size", mode="before")
    @classmethod
    def _size_as_mils(cls, size: Any) -> Any:
        """``"014"``, ``14`` (mils) and ``0.014`` (inches) all mean the 0.014 in fault (YAML reads an unquoted
        014 as octal 12: quote it)."""
        if isinstance(size, float) and 0 < size < 1:
            return f"{round(size * 1000):03d}"
        if isinstance(size, float) and size.is_integer():
            return f"{int(size):03d}"
        if isinstance(size, int) and not isinstance(size, bool):
            return f"{size:03d}"
        return size

    @field_validator("fractions")
    @classmethod
    def _fractions_sum_to_one(cls, f: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(v <= 0 for v in f) or not math.isclose(sum(f), 1.0, abs_tol=1e-6):
            raise ValueError(f"must be three positive numbers summing to 1, got {list(f)}")
        return f

    @model_validator(mode="after")
    def _conditions_for_condition_protocol(self) -> SplitConfig:
        if self.protocol == "condition":
            if not self.train_conditions or not self.test_conditions:
                raise ValueError("protocol 'condition' needs train_conditions and test_conditions")
            if set(self.train_conditions) & set(self.test_conditions):
                raise ValueError("train_conditions and test_conditions must not overlap")
        if self.protocol == "size" and not self.test_size:
            raise ValueError("protocol 'size' needs test_size (e.g. '014')")
        if self.protocol == "rig" and self.test_data is None:
            raise ValueError("protocol 'rig' needs test_data (e.g. {name: mfpt})")
        return self


class ModelConfig(_Section):
    """Network preset, activation, and any preset field overridden."""

    preset: str = "small"
    activation: str = "aprelu"
    overrides: dict[str, Any] = Field(default_factory=dict)

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, preset: str) -> str:
        from faultdx.nn.resnet1d import PRESETS

        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; valid: {', '.join(PRESETS)}")
        return preset

    @field_validator("activation")
    @classmethod
    def _known_activation(cls, activation: str) -> str:
        from faultdx.nn.activations import activation_names

        if activation not in activation_names():
            raise ValueError(f"unknown activation {activation!r}; valid: {', '.join(activation_names())}")
        return activation


class OptimConfig(_Section):
    """AdamW and its learning-rate schedule."""

    lr: float = Field(3e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: Literal["onecycle", "cosine", "constant"] = "onecycle"
    warmup_frac: float = Field(0.15, ge=0, lt=1)
    grad_clip: float | None = Field(1.0, gt=0)
    label_smoothing: float = Field(0.0, ge=0, lt=1)


class AugmentConfig(_Section):
    """Additive white Gaussian noise at a random SNR per window, applied before standardisation."""

    noise: bool = True
    snr_db: tuple[float, float] = (-6.0, 10.0)
    prob: float = Field(0.5, ge=0, le=1, description="fraction of training windows that get noise")
    val_snr_db: float | None = Field(
        -4.0, description="model selection = mean of clean and this-SNR val accuracy (None: clean only)"
    )
    speed: float = Field(
        0.0,
        ge=0,
        lt=0.5,
        description="time-stretch a random half of the training windows by up to ±this fraction "
        "(a shaft-speed change moves every defect frequency by the same fraction; the context follows); "
        "0 = off",
    )
    path_db: float = Field(
        0.0,
        ge=0,
        le=30,
        description="pass half the training windows through a random transfer path (tilt and bump of up to "
        "±this many dB, random band limits): other sensors, mountings and rigs; 0 = off",
    )
    context_jitter: float = Field(
        0.0,
        ge=0,
        lt=0.2,
        description="scale each training window's context vector by up to ±this fraction (a stated rpm is "
        "never exact: slip, a nominal nameplate speed, an estimate); 0 = off",
    )

    @field_validator("snr_db")
    @classmethod
    def _ordered(cls, r: tuple[float, float]) -> tuple[float, float]:
        if r[0] > r[1]:
            raise ValueError(f"low must not exceed high, got {list(r)}")
        return r


class RunConfig(_Section):
    """Everything one training run depends on."""

    data: DataConfig = Field(default_factory=DataConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    epochs: int = Field(12, ge=1)
    batch_size: int = Field(128, ge=2)
    eval_batch_size: int = Field(512, ge=1)
    seed: int = Field(0, ge=0)
    device: str = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    compile: bool = False
    threads: int | None = Field(None, ge=1, description="torch CPU threads (default: torch's choice)")
    out_dir: str = "runs"
    name: str | None = None
    test_snr_db: list[float] = Field(default_factory=lambda: [-4.0], description="SNRs of the final test")
    model_name: str | None = Field(
        None, description="name written into the saved model directories (default: the run name)"
    )

    @field_validator("device")
    @classmethod
    def _device_spec(cls, device: str) -> str:
        if device not in ("auto", "cpu", "mps") and not (device == "cuda" or device.startswith("cuda:")):
            raise ValueError(f"must be auto, cpu, cuda, cuda:N or mps, got {device!r}")
        return device

    def run_name(self) -> str:
        return self.name or f"{self.data.name}-{self.model.activation}-s{self.seed}"


def load_config(
    path: str | Path | None = None, overrides: list[str] | None = None, **fields: Any
) -> RunConfig:
    """Build a :class:`RunConfig`: defaults <- file <- ``fields`` (dotted keys) <- ``key=value`` overrides."""
    raw: dict[str, Any] = read_config_file(path) if path is not None else {}
    for key, value in fields.items():
        if value is not None:
            set_dotted(raw, key, value)
    for item in overrides or []:
        key, value = parse_override(item)
        set_dotted(raw, key, value)
    return validate_config(raw)


def validate_config(raw: dict[str, Any]) -> RunConfig:
    """Validate a nested dict, raising :class:`ConfigError` naming each bad option."""
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as err:
        problems = [f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {_message(e)}" for e in err.errors()]
        raise ConfigError("invalid run config: " + "; ".join(problems)) from err


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML (.yaml/.yml), JSON (.json) or TOML (.toml) run config into a dict."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"config file {str(file)!r} does not exist")
    text = file.read_text(encoding="utf-8")
    suffix = file.suffix.lower()
    try:
        if suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        elif suffix == ".json":
            data = json.loads(text)
        elif suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        else:
            raise ConfigError(f"config file {str(file)!r}: unknown extension {suffix!r} (.yaml .json .toml)")
    except (yaml.YAMLError, json.JSONDecodeError, ValueError) as err:
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(f"config file {str(file)!r} cannot be parsed: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(file)!r} must hold a mapping, got {type(data).__name__}")
    return data


def parse_override(item: str) -> tuple[str, Any]:
    """``optim.lr=3e-3`` -> ``("optim.lr", 0.003)``; the value is parsed as YAML (numbers, lists, null)."""
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"override {item!r} must look like section.option=value")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as err:
        raise ConfigError(f"override {item!r}: value cannot be parsed: {err}") from err
    if isinstance(value, str):  # YAML 1.1 reads "1e-3" (no dot) as a string
        with contextlib.suppress(ValueError):
            value = float(value)
    return key, value


def set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    """Set ``raw["a"]["b"] = value`` for ``key="a.b"``, creating sections on the way."""
    parts = key.split(".")
    node = raw
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"option {'.'.join(parts[: i + 1])!r} is not a section; cannot set {key!r}")
        node = child
    node[parts[-1]] = value


def dump_config(config: RunConfig) -> str:
    """The resolved config as YAML, ready to be fed back to ``faultdx train --config``."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def _message(error: dict[str, Any]) -> str:
    msg = str(error["msg"])
    if error["type"] == "extra_forbidden":
        return "unknown option"
    return msg.removeprefix("Value error, ")
