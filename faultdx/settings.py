"""Every ``FAULTDX_*`` environment variable, in one pydantic-settings class.

Library, CLI and service read their configuration here: field ``x`` comes from ``FAULTDX_X``. Paths default
to folders of the working directory (``./data``, ``./models``, ``./results``), as the README says; the shipped
default model is also found inside the installed package (see :mod:`faultdx.modeldir`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from faultdx.limits import MAX_CHANNELS, MAX_SAMPLES
from faultdx.paths import (
    DEFAULT_DATA,
    DEFAULT_MODEL,
    DEFAULT_MODELS,
    DEFAULT_RESULTS,
    DEFAULT_RUNS,
    default_cache,
)


def _split(value: object) -> object:
    """``"a, b"`` → ``["a", "b"]`` (lists pass through)."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every knob of faultdx; each field ``x`` is read from ``FAULTDX_X``."""

    model_config = SettingsConfigDict(env_prefix="FAULTDX_", extra="ignore", protected_namespaces=())

    # ---- where things live
    # (the library reads these folders through faultdx.paths, the lowest layer, with the same defaults)
    data: Path = Field(default=DEFAULT_DATA, description="root of the datasets (downloads go here)")
    models: Path = Field(default=DEFAULT_MODELS, description="directory of named models")
    results: Path = Field(default=DEFAULT_RESULTS, description="where compare / evaluate / bench write JSON")
    cache: Path = Field(default_factory=default_cache, description="decoded-array cache (never in git)")
    runs: Path = Field(default=DEFAULT_RUNS, description="where training and evaluation runs are written")
    cwru_url: str | None = Field(default=None, description="mirror of the CWRU files (else the publisher)")
    database_url: str | None = Field(
        default=None, description="monitoring database, e.g. postgresql://host/db (default: SQLite file "
        "./data/faultdx.sqlite)"
    )
    # ---- the service
    model: Annotated[list[str], NoDecode] = Field(
        default=[DEFAULT_MODEL, "envelope"],  # the envelope reference is served beside the network
        min_length=1,
        description="models to serve (names or paths), comma-separated; first = default",
    )
    host: str = Field(default="127.0.0.1", description="address the service listens on")
    port: int = Field(default=8000, ge=0, le=65535, description="TCP port of the service")
    workers: int = Field(
        default=0, ge=0, le=64, description="service worker processes; 0 = one per CPU core, at most 4"
    )
    max_batch: int = Field(default=256, ge=1, le=4096, description="most windows in one micro-batch")
    max_wait_ms: float = Field(default=2.0, ge=0, le=1000, description="longest wait for a batch to fill")
    max_windows: int = Field(default=4096, ge=1, description="most windows one request may produce")
    max_samples: int = Field(
        default=MAX_SAMPLES, ge=1,
        description="a request's sample budget: what it decodes (all channels), and separately what its"
        " windows hold (windows x channels x window)",
    )
    max_channels: int = Field(
        default=MAX_CHANNELS, ge=1, le=1024, description="most channels read from an uploaded file"
    )
    max_queue_windows: int = Field(
        default=16384, ge=1, description="windows queued for the network per model; past it 503 + Retry-After"
    )
    trace: bool = Field(default=True, description="run the network as a frozen TorchScript graph (faster)")
    torch_threads: int = Field(default=0, ge=0, description="0 = CPU cores / workers - 1 (at least 1)")
    api_key: SecretStr | None = Field(default=None, description="when set, requests need X-API-Key")
    max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024, description="largest request body")
    body_timeout_s: float = Field(
        default=30.0, gt=0, le=3600, description="a body not fully received this long after its headers: 408"
    )
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = Field(
        default="info", description="log level of the service"
    )
    log_json: bool = Field(default=True, description="log JSON lines (false: plain text)")
    shutdown_timeout_s: float = Field(
        default=25.0, gt=0, le=3600, description="on SIGTERM, how long in-flight requests may finish"
    )
    header_timeout_s: float = Field(
        default=10.0, gt=0, le=3600,
        description="a request's headers not complete this long after its first byte: connection closed",
    )
    keep_alive_s: float = Field(
        default=5.0, gt=0, le=3600, description="an idle keep-alive connection is closed after this"
    )
    max_connections: int = Field(
        default=1000, ge=1, le=1_000_000,
        description="open connections per worker; past it the longest-idle one is closed",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="origins allowed by CORS, comma-separated"
    )
    # ---- the plant listener (faultdx/ingest, docs/plant.md)
    mqtt_url: str | None = Field(
        default=None, description="MQTT broker to listen to (mqtt://[user:password@]host:port, mqtts://...)"
    )
    mqtt_topic: str = Field(default="faultdx/+/signal", description="signals; the + level names the asset")
    mqtt_client_id: str = Field(
        default="faultdx", min_length=1, max_length=64, description="client id of the persistent session"
    )
    mqtt_protocol: Literal["5", "3.1.1"] = Field(default="5", description="MQTT protocol version")
    mqtt_username: str | None = Field(default=None, description="broker user (else the URL's)")
    mqtt_password: SecretStr | None = Field(default=None, description="broker password (else the URL's)")
    mqtt_ca_file: Path | None = Field(default=None, description="mqtts: CA certificates (default: system)")
    mqtt_cert_file: Path | None = Field(default=None, description="mqtts: client certificate")
    mqtt_key_file: Path | None = Field(default=None, description="mqtts: client certificate's key")
    mqtt_keepalive_s: int = Field(default=30, ge=5, le=3600, description="MQTT keep-alive interval")
    mqtt_max_inflight: int = Field(
        default=16, ge=1, le=1000, description="messages received and not yet acknowledged, at most"
    )
    mqtt_session_expiry_s: int = Field(
        default=7 * 24 * 3600, ge=0, description="MQTT 5: how long the broker keeps the session while away"
    )
    mqtt_reconnect_max_s: int = Field(default=30, ge=1, le=3600, description="longest reconnect backoff")
    mqtt_alarm_poll_s: float = Field(
        default=5.0, gt=0, le=3600, description="how often alarm changes made elsewhere are looked for"
    )

    @field_validator("model", "cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return _split(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("api_key", "cwru_url", "database_url", "mqtt_url", "mqtt_password", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("data", "models", "results", "cache", "runs")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()


def current() -> Settings:
    """Settings read from the environment now (library paths follow changes made while running)."""
    return Settings()


@lru_cache
def get_settings() -> Settings:
    """The service process's settings, read once from the environment."""
    return Settings()
