"""What every format reader shares: the sample budget, the channel pick, strict values and one error type."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from faultdx.data.catalogue import cwru_channel_matches
from faultdx.errors import InputError, TooLarge
from faultdx.limits import MAX_CHANNELS, MAX_SAMPLES

RATE_NAMES = ("fs", "sr", "sampling_rate", "sample_rate", "samplerate")
LISTED = 12  # names quoted in an error message

T = TypeVar("T")


class SignalFileError(InputError):
    """A signal file or array that cannot be used, with the reason in the message."""


@dataclass(frozen=True)
class Budget:
    """How much one file may decode to: samples over all channels read, and channels."""

    max_samples: int = MAX_SAMPLES
    max_channels: int = MAX_CHANNELS

    def check(self, where: str, *, channels: int, samples: int, what: str = "") -> None:
        """Refuse (413) ``channels`` x ... = ``samples`` over the budget, naming the size and the limit."""
        if channels > self.max_channels:
            raise TooLarge(f"{where}: {channels:,} channels{what}; at most {self.max_channels} can be read "
                           "(pick one with channel)", "file")
        if samples > self.max_samples:
            raise TooLarge(f"{where}: {samples:,} samples{what}; the limit is {self.max_samples:,} samples "
                           "per file", "file")


@dataclass(frozen=True)
class Pick:
    """Which channels to read: ``channel`` (a name or an index, must exist) or else ``default`` if present."""

    channel: str | int | None = None
    default: str | None = None

    def choose(self, names: Sequence[str], where: str) -> list[str]:
        """The channel names to read among ``names`` (a missing ``channel`` is a 422 listing them)."""
        if isinstance(self.channel, int):
            if not -len(names) <= self.channel < len(names):
                message = f"{where}: channel index {self.channel} out of range; the file has {len(names)}"
                raise SignalFileError(message, "channel")
            return [names[self.channel]]
        if self.channel is not None:
            matches = [n for n in names if cwru_channel_matches(n, self.channel)]
            if not matches:
                raise SignalFileError(
                    f"{where}: no channel {self.channel!r}; channels: {listing(names)}", "channel"
                )
            return matches[:1]
        if self.default is not None and len(names) > 1:
            matches = [n for n in names if cwru_channel_matches(n, self.default)]
            if matches:
                return matches[:1]
        return list(names)


def listing(names: Sequence[str]) -> str:
    """At most :data:`LISTED` names for a message, each cut to 40 characters."""
    shown = ", ".join(str(n)[:40] for n in names[:LISTED])
    return shown + (f", … ({len(names)} in all)" if len(names) > LISTED else "")


def check_dtype(dtype: np.dtype, what: str) -> None:
    """Real integers and floats only: no silent coercion of booleans, complex numbers, text or objects."""
    if dtype.kind in "iuf":
        return
    if dtype.kind == "b":
        raise SignalFileError(f"{what} is boolean (dtype {dtype}); send numbers")
    if dtype.kind == "c":
        raise SignalFileError(f"{what} is complex (dtype {dtype}); send real samples")
    raise SignalFileError(f"{what} is not numeric (dtype {dtype})")


def valid_rate(value: object, where: str) -> float:
    """A sampling rate: a positive finite number, or a 422 naming where it came from."""
    try:
        rate = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        rate = math.nan
    if not math.isfinite(rate) or rate <= 0:
        raise SignalFileError(f"sampling rate from {where} must be a positive number, got {repr(value)[:40]}")
    return rate


def is_number(text: object) -> bool:
    """Whether ``float(text)`` works (a CSV cell, a MAT string field)."""
    try:
        float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


def decoded(where: str, kind: str, decode: Callable[[], T]) -> T:
    """Run a third-party decoder on untrusted bytes; its many error types become one 422 naming the file."""
    try:
        return decode()
    except MemoryError:
        raise  # a budget was missed: a bug, not bad input
    except InputError:
        raise
    except Exception as exc:  # scipy, pyarrow and pandas raise many types for damaged files
        raise SignalFileError(f"{where}: not a readable {kind} file ({type(exc).__name__}: {exc})") from exc
