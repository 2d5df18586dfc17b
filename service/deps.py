"""Annotated dependencies: the settings, the loaded models (each a Diagnoser + its micro-batcher), auth."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader
from faultdx_service.batching import MicroBatcher
from faultdx_service.errors import ApiError
from faultdx_service.settings import Settings

from faultdx.diagnose import Diagnoser


@dataclass
class ServedModel:
    """One loaded model and the batcher that feeds it."""

    diagnoser: Diagnoser
    batcher: MicroBatcher

    @property
    def name(self) -> str:
        return self.diagnoser.name


@dataclass
class ModelSet:
    """Every model this process serves, by name; ``default`` answers requests that name none."""

    models: dict[str, ServedModel]
    default: str

    def get(self, name: str | None, *, field: str = "model", status: int = 422) -> ServedModel:
        """The model called ``name`` (the default when ``None``), else an error listing the loaded ones."""
        key = self.default if name is None else name
        if key not in self.models:
            raise ApiError(status, f"{field}: unknown model {key!r}; loaded: {', '.join(self.models)}", field)
        return self.models[key]


# The dependencies are ``async`` because they only read app state: a plain ``def`` would cost a thread-pool
# round trip per dependency per request.
async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


async def get_models(request: Request) -> ModelSet:
    models = getattr(request.app.state, "models", None)
    if models is None:
        raise ApiError(503, "models are still loading", None)
    return models


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
ModelsDep = Annotated[ModelSet, Depends(get_models)]

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="set when FAULTDX_API_KEY is")


async def require_api_key(
    settings: SettingsDep, key: Annotated[str | None, Depends(_api_key_header)]
) -> None:
    """With ``FAULTDX_API_KEY`` set, the ``X-API-Key`` header must match it (constant-time compare)."""
    expected = settings.api_key
    if expected is None:
        return
    if key is None or not secrets.compare_digest(key.encode(), expected.get_secret_value().encode()):
        raise ApiError(401, "X-API-Key: missing or wrong API key", "X-API-Key")
