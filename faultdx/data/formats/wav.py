"""WAV (RIFF/RIFX, PCM 8/16/24/32-bit or IEEE float), decoded by ``scipy.io.wavfile``.

No chunk parser of our own: the reader (:func:`faultdx.data.readers.read_signal`) caps a WAV file's size at
:data:`BYTES_PER_SAMPLE` bytes per sample of the budget before it is read, and decoding WAV only reinterprets
those bytes (an integer array no larger than the file), so the sample and channel budget is checked on the
decoded shape before any conversion to floating point.
"""

from __future__ import annotations

import io
import warnings

import numpy as np

from faultdx.data.formats.contract import Budget, Pick, SignalFileError, decoded, valid_rate

BYTES_PER_SAMPLE = 8  # the widest WAV sample (64-bit float): a file's size cap per sample of the budget


def read_wav(data: bytes, where: str, pick: Pick, budget: Budget):
    """A WAV file → (samples scaled to ±1 for PCM, the header's rate, ``ch0``, ``ch1``, ...)."""
    from scipy.io import wavfile

    def read() -> tuple[int, np.ndarray]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # WavFileWarning for chunks it skips: not the caller's concern
            return wavfile.read(io.BytesIO(data))

    rate, raw = decoded(where, "WAV", read)
    raw = raw[:, None] if raw.ndim == 1 else raw  # [frames, channels]
    frames, channels = raw.shape
    budget.check(where, channels=channels, samples=frames * channels, what=" in the WAV data chunk")
    names = [f"ch{i}" for i in range(channels)]
    chosen = pick.choose(names, where)
    picked = raw[:, [names.index(n) for n in chosen]].T
    return _scaled(picked, where), valid_rate(rate, f"{where} WAV header"), tuple(chosen)


def _scaled(raw: np.ndarray, where: str) -> np.ndarray:
    """PCM integers → float64 in [-1, 1) (scipy hands 24-bit samples over left-justified in int32)."""
    if raw.dtype.kind == "f":
        return raw.astype(np.float64)
    if raw.dtype == np.uint8:  # 8-bit PCM is unsigned
        return (raw.astype(np.float64) - 128.0) / 128.0
    if raw.dtype.kind == "i":
        return raw.astype(np.float64) / float(1 << (8 * raw.dtype.itemsize - 1))
    raise SignalFileError(f"{where}: WAV samples of type {raw.dtype} are not supported")
