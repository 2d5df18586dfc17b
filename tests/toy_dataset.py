"""A toy dataset module, written as a third party would: it fulfils ``BearingDataset`` and nothing else."""

from __future__ import annotations

import numpy as np

from faultdx.data.base import DatasetExample, InfoTable, Recording

RATE = 8000.0


def _tone(label: str, seconds: float, seed: int) -> np.ndarray:
    """Noise, plus 40 Hz impacts ringing at 2 kHz for ``inner_race`` (enough for a network to tell)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    x = 0.1 * rng.standard_normal(t.size)
    if label == "inner_race":
        x += np.sin(2 * np.pi * 2000 * t) * np.exp(-200 * (t % (1 / 40)))
    return x.astype(np.float32)


class ToyDataset:
    name = "toy"
    summary = "two classes of made-up signals (a test of the dataset contract)"
    classes = ("normal", "inner_race")
    conditions = (0.0, 1.0)
    condition_unit = "speed step"
    bearing = "SKF 6205"

    def __init__(self, seconds: float = 4.0) -> None:
        self.seconds = seconds

    def files_present(self) -> None:
        return None

    def info(self) -> InfoTable:
        return InfoTable(title="toy", columns=("class", "condition"),
                         rows=[(c, f"{k:g}") for c in self.classes for k in self.conditions],
                         footer="toy footer line")

    def examples(self) -> list[DatasetExample]:
        return [DatasetExample(name=f"toy-{c}", title=f"Toy {c}", group="Toy", label=c, sampling_rate=RATE,
                               rpm=1500.0, bearing=self.bearing, unit="a.u.", description="made up",
                               samples=lambda c=c: _tone(c, 1.0, 0)) for c in self.classes]

    def recordings(self, *, conditions=None, channels=("DE",)) -> list[Recording]:
        return [
            Recording(key=f"toy/{c}/{k:g}", signal=_tone(c, self.seconds, int(k))[None], sampling_rate=RATE,
                      label=c, condition=k, rpm=1500.0, bearing=self.bearing)
            for c in self.classes for k in self.conditions if conditions is None or k in conditions
        ]
