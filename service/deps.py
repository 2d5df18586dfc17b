"""Annotated dependencies: the settings and the loaded models (each a Diagnoser + its micro-batcher).

The API key is not a dependency: :mod:`faultdx_service.auth` checks it for every route, before the body.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
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
