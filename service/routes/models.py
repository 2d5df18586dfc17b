"""``GET /v1/models`` and ``GET /v1/models/{name}``: what each loaded model is and how it was made."""

from __future__ import annotations

from fastapi import APIRouter
from faultdx_service.deps import ModelsDep
from faultdx_service.schemas import ERROR_RESPONSES, ModelDetail, ModelList, ModelSummary

from faultdx.diagnose import Diagnoser

router = APIRouter(prefix="/v1", tags=["models"])


def summary(diagnoser: Diagnoser, default: bool) -> ModelSummary:
    meta = diagnoser.meta
    extra = meta.model_extra or {}
    return ModelSummary(
        name=meta.name,
        version=meta.version,
        default=default,
        classes=meta.classes,
        window=meta.window,
        hop=meta.hop,
        sampling_rate=meta.sampling_rate,
        channels=meta.channels,
        preset=extra.get("preset") or meta.protocol.get("preset") or meta.model.get("preset"),
        activation=meta.model.get("activation"),
        created=meta.created,
        bearing=diagnoser.bearing.as_request(),
        needs_context=diagnoser.needs_context,
    )


@router.get("/models")
async def list_models(models: ModelsDep) -> ModelList:
    """Every loaded model; ``default`` answers requests that name none."""
    return ModelList(
        default=models.default,
        models=[summary(m.diagnoser, name == models.default) for name, m in models.models.items()],
    )


@router.get("/models/{name}", responses=ERROR_RESPONSES)
async def get_model(name: str, models: ModelsDep) -> ModelDetail:
    """One model's metadata: classes, window, rate, its default bearing (training rig) and whether it reads
    the machine context, network, training metrics, data, and its model card."""
    diagnoser = models.get(name, field="name", status=404).diagnoser
    meta = diagnoser.meta
    return ModelDetail(
        **summary(diagnoser, name == models.default).model_dump(),
        network=meta.model,
        metrics=meta.metrics,
        dataset=meta.dataset.model_dump(),
        protocol=meta.protocol,
        slope_layers=diagnoser.slope_channels(),
        model_card=diagnoser.model_card(),
    )
