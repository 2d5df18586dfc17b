"""Uploaded signal files: read once by the data layer's reader, within the service's budget, off the loop.

Both ``POST /v1/diagnose/file`` and the page's ``POST /v1/envelope/file`` read uploads here, with one rule for
channels: the ``channel`` form field when given (a name such as ``DE``, or an index); else the model's channel
when the model takes one and the file names it; a file with several channels and none of them the model's
must say which with ``channel``. Sizes are budgeted from the file's headers before anything is decoded
(``FAULTDX_MAX_SAMPLES``, ``FAULTDX_MAX_CHANNELS``): 413 past them, 422 for a file that cannot be used.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Annotated

import numpy as np
from fastapi import File, UploadFile
from faultdx_service.errors import ApiError
from faultdx_service.settings import Settings
from starlette.concurrency import run_in_threadpool

from faultdx.data.readers import SUPPORTED, parse_channel, read_signal
from faultdx.errors import InputError, bounded

UploadField = Annotated[UploadFile, File(description=f"a signal file: {' '.join(SUPPORTED)}")]


@dataclass(frozen=True)
class Upload:
    """An uploaded file's signal: float32 ``[C, T]``, its sampling rate, its channel names."""

    signal: np.ndarray
    sampling_rate: float
    channels: tuple[str, ...]


async def read_upload(
    file: UploadFile,
    settings: Settings,
    *,
    model_channels: tuple[str, ...],
    sampling_rate: float | None = None,
    channel: str | None = None,
    min_samples: int = 1,
) -> Upload:
    """Read ``file`` once (in a worker thread) → its signal for the model's channel(s); 4xx JSON otherwise."""
    data, name = await file.read(), file.filename or "upload"
    picked = parse_channel(channel)
    default = model_channels[0] if len(model_channels) == 1 else None
    reader = partial(
        read_signal, data, filename=name, sampling_rate=sampling_rate, channel=picked,
        default_channel=default, min_samples=min_samples, max_samples=settings.max_samples,
        max_channels=settings.max_channels,
    )
    try:
        signal_file = await run_in_threadpool(reader)
    except InputError as err:
        field = err.field if err.field == "channel" else "file"
        raise ApiError(err.status, f"{field}: {err}", field) from err
    if signal_file.sampling_rate is None:
        message = "sampling_rate: the file does not state its sampling rate; send sampling_rate"
        raise ApiError(422, message, "sampling_rate")
    if default is not None and picked is None and len(signal_file.channels) > 1:
        names = ", ".join(signal_file.channels)
        message = f"channel: {name} has {len(signal_file.channels)} channels ({names}) and none is"
        raise ApiError(422, bounded(f"{message} the model's {default!r}; choose one with channel"), "channel")
    return Upload(signal_file.signal, signal_file.sampling_rate, signal_file.channels)
