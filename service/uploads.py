"""Uploaded signal files: read once by the data layer's reader, within the service's budget, off the loop.

Both ``POST /v1/diagnose/file`` and the page's ``POST /v1/envelope/file`` read uploads here, through the
library's one reader for a model (:func:`faultdx.diagnose.reading.read_for_model`, as the CLI and batch
scoring read files), with one rule for channels: the ``channel`` form field when given (a name such as
``DE``, or an index); else the model's channel when the model takes one and the file names it; a file with
several channels and none of them the model's must say which with ``channel``. Sizes are budgeted from the
file's headers before anything is decoded (``FAULTDX_MAX_SAMPLES``, ``FAULTDX_MAX_CHANNELS``): 413 past them,
422 for a file that cannot be used.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import File, UploadFile
from faultdx_service.errors import ApiError
from faultdx_service.settings import Settings
from starlette.concurrency import run_in_threadpool

from faultdx.data.readers import SUPPORTED
from faultdx.diagnose.reading import ModelSignal, read_for_model
from faultdx.errors import InputError, bounded

UploadField = Annotated[UploadFile, File(description=f"a signal file: {' '.join(SUPPORTED)}")]


async def read_upload(
    file: UploadFile,
    settings: Settings,
    *,
    model_channels: tuple[str, ...],
    sampling_rate: float | None = None,
    channel: str | None = None,
    min_samples: int = 1,
) -> ModelSignal:
    """Read ``file`` once (in a worker thread) for the model's channel(s) by
    :func:`faultdx.diagnose.reading.read_for_model`; 4xx JSON naming ``file``, ``channel`` or
    ``sampling_rate`` otherwise."""
    data, name = await file.read(), file.filename or "upload"
    reader = partial(
        read_for_model, data, model_channels, filename=name, sampling_rate=sampling_rate, channel=channel,
        min_samples=min_samples, max_samples=settings.max_samples, max_channels=settings.max_channels,
    )
    try:
        return await run_in_threadpool(reader)
    except InputError as err:
        raise ApiError(err.status, bounded(f"{err.field}: {err}"), err.field) from err
