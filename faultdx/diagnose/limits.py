"""What a diagnosis request may be: the sampling-rate and window ranges, the sample budget every route charges
before the costly step, and the typed error naming the offending field."""

from __future__ import annotations

import math
from dataclasses import dataclass

from faultdx.errors import InputError, TooLarge

MIN_SAMPLING_RATE = 1_000.0  # Hz; below this no bearing defect resonance survives
MAX_SAMPLING_RATE = 1_000_000.0  # Hz; above any accelerometer front end
MAX_WINDOW_FACTOR = 8  # a window may be up to this many times the model's own window


class DiagnoseInputError(InputError):
    """Input the Diagnoser cannot use; ``field`` names the offending argument (``signals[2]``, ``hop``…)."""



@dataclass
class RequestBudget:
    """What one request may take, in samples: as decoded (channels x samples, summed over its signals) and,
    separately, as framed (windows x channels x window: what overlapping windows multiply); and in windows.

    Every route charges its request's signals here before the costly step, so that one limit holds whatever
    the format or the parameters (``window=16384, hop=1`` on 20,479 samples asks for 67 M framed samples).
    """

    samples: int
    windows: int | None = None
    decoded: int = 0
    framed: int = 0
    framed_windows: int = 0

    def charge_decoded(self, count: int, field: str) -> None:
        """Charge ``count`` decoded samples; :class:`TooLarge` (413) naming ``field`` past the budget."""
        if self.decoded + count > self.samples:
            raise TooLarge(
                f"{field}: {self.decoded + count} samples in this request; the budget is {self.samples}"
                " samples per request (FAULTDX_MAX_SAMPLES): send less",
                field,
            )
        self.decoded += count

    def charge_framed(self, windows: int, channels: int, window: int, hop: int, field: str) -> None:
        """Charge ``windows`` windows of ``channels x window`` samples made with ``hop``; 413 naming
        ``window``/``hop`` and the budget when they do not fit."""
        samples = windows * channels * window
        if self.windows is not None and self.framed_windows + windows > self.windows:
            raise TooLarge(
                f"{field}: window {window} with hop {hop} makes {windows} windows; at most {self.windows}"
                " per request (FAULTDX_MAX_WINDOWS): send less, or a larger hop",
                field,
            )
        if self.framed + samples > self.samples:
            raise TooLarge(
                f"{field}: window {window} with hop {hop} makes {windows} windows = {samples} samples;"
                f" the budget is {self.samples} samples per request (FAULTDX_MAX_SAMPLES): use a larger hop"
                " or a smaller window",
                field,
            )
        self.framed += samples
        self.framed_windows += windows


def check_sampling_rate(sampling_rate: float) -> float:
    """A finite rate between 1 kHz and 1 MHz, else :class:`DiagnoseInputError` naming ``sampling_rate``."""
    try:
        rate = float(sampling_rate)
    except (TypeError, ValueError):
        rate = math.nan
    if isinstance(sampling_rate, bool) or not MIN_SAMPLING_RATE <= rate <= MAX_SAMPLING_RATE:
        raise DiagnoseInputError(
            f"sampling_rate must be a number of Hz from {MIN_SAMPLING_RATE:g} to {MAX_SAMPLING_RATE:g},"
            f" got {sampling_rate!r}",
            "sampling_rate",
        )
    return rate
