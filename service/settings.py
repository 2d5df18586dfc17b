"""Service settings from ``FAULTDX_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from faultdx.paths import DEFAULT_MODEL


def _split(value: object) -> object:
    """``"a, b"`` → ``["a", "b"]`` (lists pass through)."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every knob of ``faultdx serve``; each field ``x`` is read from ``FAULTDX_X``."""

    model_config = SettingsConfigDict(env_prefix="FAULTDX_", extra="ignore", protected_namespaces=())

    model: Annotated[list[str], NoDecode] = Field(
        default=[DEFAULT_MODEL, "envelope"],  # the envelope reference is served beside the network
        min_length=1,
        description="model names or paths, comma-separated; first = default",
    )
    models: Path | None = Field(default=None, description="directory of named models (default ./models)")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64, description="worker processes (see docs/service.md)")
    max_batch: int = Field(default=256, ge=1, le=4096, description="most windows in one micro-batch")
    max_wait_ms: float = Field(default=2.0, ge=0, le=1000, description="longest wait for a batch to fill")
    max_windows: int = Field(default=4096, ge=1, description="most windows one request may produce")
    trace: bool = Field(default=True, description="run the network as a frozen TorchScript graph (faster)")
    torch_threads: int = Field(default=0, ge=0, description="0 = CPU cores / workers - 1 (at least 1)")
    api_key: SecretStr | None = None
    max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = "info"
    log_json: bool = True
    shutdown_timeout_s: float = Field(
        default=25.0, gt=0, le=3600, description="on SIGTERM, how long in-flight requests may finish"
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("model", "cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return _split(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("api_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once from the environment."""
    return Settings()
