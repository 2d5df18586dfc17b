"""A signal file read for a model: the one function (:func:`read_for_model`) behind ``faultdx diagnose``,
batch scoring and the service's uploads.

The data layer's reader (:func:`faultdx.data.readers.read_signal`) decodes the file within the sample budget;
this adds the model's rule for channels — the ``channel`` asked for when given (a name such as ``DE``, or an
index); else the model's channel when the model takes one and the file names it; a file with several channels
and none of them the model's must say which — and insists on a sampling rate (the file's, or the caller's).
Errors are :class:`~faultdx.errors.InputError` naming ``file``, ``channel`` or ``sampling_rate``; ``hints``
says how the caller's interface names the channel and the rate (``--channel``, ``the sidecar's rate column``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faultdx.data.readers import parse_channel, read_signal
from faultdx.diagnose.limits import DiagnoseInputError
from faultdx.errors import InputError
from faultdx.limits import MAX_CHANNELS, MAX_SAMPLES

HINTS = {"channel": "channel", "sampling_rate": "sampling_rate"}  # how the service names them


def arrays_from_json(value: object, field: str = "signals") -> list[np.ndarray]:
    """Decoded JSON numbers → float32 arrays: ``[...]`` is one signal, ``[[...], ...]`` a list of signals,
    each ``[samples]`` or ``[channels][samples]``. The one parser of JSON signals (``/v1`` bodies, MQTT).

    numpy does the conversion (in C, one error however long the input); anything that is not a rectangular
    array of numbers is an :class:`~faultdx.errors.InputError` naming the signal (``signals[1]``) and
    ``field``. Out-of-range numbers become inf here, refused by name with the Diagnoser's non-finite check.
    """
    if not isinstance(value, list) or not value:
        raise InputError(f"{field}: must be a non-empty list of numbers (one signal) or of signals", field)
    signals = value if isinstance(value[0], list) else [value]
    arrays = []
    for i, signal in enumerate(signals):
        where = f"{field}[{i}]"
        try:
            array = np.asarray(signal)
        except ValueError as err:  # ragged nesting
            raise InputError(f"{where}: not a rectangular array of numbers ({err})", field) from None
        if array.dtype.kind not in "fiu" or array.size == 0 or _holds_bool(signal):
            raise InputError(f"{where}: must be a non-empty array of numbers, got {_kind(signal)}", field)
        if array.ndim not in (1, 2):
            raise InputError(
                f"{where}: must be [samples] or [channels][samples], got {array.ndim} dimensions", field
            )
        with np.errstate(over="ignore"):
            arrays.append(array.astype(np.float32))
    return arrays


def _holds_bool(value: object) -> bool:
    """Whether a list (of lists) holds a JSON true/false, which numpy would take for 1/0."""
    rows = value if isinstance(value, list) and value and isinstance(value[0], list) else [value]
    return any(bool in set(map(type, row)) for row in rows if isinstance(row, list))


def _kind(value: object) -> str:
    """What a refused signal holds, in Python type names, for the error message."""
    if isinstance(value, list):
        kinds = sorted({type(v).__name__ for v in value[:1000]})
        return f"a list of {', '.join(kinds) or 'nothing'}"
    return type(value).__name__


@dataclass(frozen=True)
class ModelSignal:
    """A file's signal for a model: float32 ``[C, T]``, its sampling rate, the names of its rows, and
    ``row_names`` to hand the Diagnoser (the names when the rows are not exactly the model's channels, so it
    can pick them out; None when they are)."""

    signal: np.ndarray
    sampling_rate: float
    channels: tuple[str, ...]
    row_names: tuple[str, ...] | None


def read_for_model(
    source: str | Path | bytes,
    model_channels: Sequence[str],
    *,
    filename: str | None = None,
    sampling_rate: float | None = None,
    channel: str | int | None = None,
    min_samples: int = 1,
    max_samples: int = MAX_SAMPLES,
    max_channels: int = MAX_CHANNELS,
    hints: Mapping[str, str] | None = None,
) -> ModelSignal:
    """Read ``source`` (a path, or bytes with ``filename``) for a model taking ``model_channels``.

    ``sampling_rate`` overrides the file's; ``channel`` (as typed: ``"DE"``, ``"0"``) picks one channel;
    ``max_samples`` / ``max_channels`` are checked before decoding (413 past them)."""
    hint = {**HINTS, **(hints or {})}
    picked = parse_channel(channel) if isinstance(channel, str) or channel is None else channel
    default = model_channels[0] if len(model_channels) == 1 else None
    try:
        signal_file = read_signal(source, filename=filename, sampling_rate=sampling_rate, channel=picked,
                                  default_channel=default, min_samples=min_samples, max_samples=max_samples,
                                  max_channels=max_channels)
    except InputError as err:
        err.field = "channel" if err.field == "channel" else "file"
        raise
    where = filename or (str(source) if not isinstance(source, bytes | bytearray) else "upload")
    if signal_file.sampling_rate is None:
        raise DiagnoseInputError(
            f"{where} does not state its sampling rate; give {hint['sampling_rate']}", "sampling_rate")
    channels = tuple(signal_file.channels)
    if default is not None and picked is None and len(channels) > 1:
        raise DiagnoseInputError(
            f"{where} has {len(channels)} channels ({', '.join(channels)}) and none is the model's"
            f" {default!r}; choose one with {hint['channel']}", "channel")
    rows = signal_file.signal.shape[0]
    return ModelSignal(signal_file.signal, float(signal_file.sampling_rate), channels,
                       channels if rows != len(model_channels) else None)
