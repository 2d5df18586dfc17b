"""The Diagnoser: a model directory turned into per-signal diagnoses (+ per-sample APReLU slopes).

signals (+ machine context) → windows → network → diagnosis, on exactly the path training takes: each
signal's context (shaft speed given or estimated, bearing given or the model's) becomes a context vector at
the model's rate; the signal is resampled to the model's rate, framed into the model's windows and
standardised per window and channel by :mod:`faultdx.data.windows`, then the windows and their context go
through the network in batches.

**Aggregate verdict of a signal** = the mean of its windows' class probabilities. The primary answer is the
**fault type** (normal / ball / inner race / outer race) whose summed class probability is highest; its
confidence is that sum. The severity (fault size) is the most probable class within that type, and only as
meaningful as the training rig's sizes (``severity_note`` says so). Every window's own verdict is kept.

**Unknown condition.** A model directory with a calibration (:mod:`faultdx.ood`) scores every window
(normalised: 0 typical, 1 the threshold set at a stated false-alarm rate on validation windows); the signal's
``unknown_score`` is the median of its windows' scores, and above 1 its fault type and label are ``"unknown"``
instead of the closest class (a window's own label likewise). Without a calibration the score is None.

The CLI, the REST service and the page all call this module; the service splits :meth:`Diagnoser.diagnose`
into :meth:`Diagnoser.windows` → :meth:`Diagnoser.predict_windows` (batched across requests) →
:meth:`Diagnoser.aggregate`.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from faultdx.context import ContextError, MachineContext, resolve_context
from faultdx.data.bearing import BearingGeometry
from faultdx.data.windows import frame, resample, standardize
from faultdx.diagnose.confidence import envelope_figures, load_confidence, recording_lines
from faultdx.diagnose.limits import MAX_WINDOW_FACTOR, DiagnoseInputError, RequestBudget, check_sampling_rate
from faultdx.diagnose.models import ReadyModel, load_model, meta_bearing
from faultdx.diagnose.quality import SignalQuality, check_signal, check_windows
from faultdx.diagnose.result import Diagnosis
from faultdx.modeldir import CARD_FILE, ModelMeta
from faultdx.nn.inference import NetworkCalls, SlopesAndFeatures, forward_batches
from faultdx.ood import OodCalibration

# the envelope analysis of windows: fault-type probabilities [N, 4], spectra [N, F], line evidence [N, 3]
EnvelopeBacking = tuple[np.ndarray, np.ndarray, np.ndarray]
NOMINAL_RPM = 1797.0  # the CWRU rig at no load: the speed assumed when none is given or estimable
FORWARD_BATCH = 64  # windows per forward pass: larger batches spill the activations out of the CPU cache
log = logging.getLogger(__name__)


class NonFiniteOutput(RuntimeError):
    """The network answered NaN or Inf for finite input: a broken model, never the caller's fault."""


@dataclass(frozen=True)
class Windows:
    """One signal's windows, ready for the network.

    ``x``: standardised float32 ``[N, C, W]`` at the model's rate; ``start``: int64 ``[N]`` first sample of
    each window counted in the *caller's* signal (its own sampling rate); ``context``: float32 ``[N, 5]``
    context vector of every window at the model's rate; ``machine``: the signal's machine context;
    ``quality``: the signal-quality gate's verdict on the caller's signal.
    """

    x: np.ndarray
    start: np.ndarray
    context: np.ndarray | None = None
    machine: MachineContext | None = None
    quality: SignalQuality | None = None


class Predictions(NamedTuple):
    """What the network says about ``N`` windows."""

    probabilities: np.ndarray  # [N, K]
    slopes: dict[str, np.ndarray]  # {layer: [N, C_layer]}, empty unless asked for
    unknown: np.ndarray | None  # [N] normalised unknown-condition score; None without a calibration
    # [N, D] penultimate features where the pass computes them anyway (the unknown-condition score reads
    # them): what an asset's baseline judges, so that judging costs no second pass; else None
    features: np.ndarray | None = None




class Diagnoser:
    """A loaded model plus the preprocessing it was trained with."""

    def __init__(
        self,
        model: torch.nn.Module,
        meta: ModelMeta,
        *,
        path: Path | None = None,
        batch_size: int = FORWARD_BATCH,
        trace: bool = False,
        ood: OodCalibration | None = None,
    ) -> None:
        self.model = model.eval()
        self.meta = meta
        self.path = path
        self.batch_size = batch_size
        self.ood = ood
        self.confidence = load_confidence(path)  # temperature (and "uncertain" rule) fitted on held-out rigs
        self._slope_channels: dict[str, int] | None = None
        # eager now; _trace may swap in frozen graphs. Features only when the calibration reads them.
        features = self._reads_features  # slopes with the calibration's features: one (eager) pass
        self._calls = NetworkCalls(self.model, self.model.forward_with_slopes,
                                   self.model.forward_with_features if features else None,
                                   self.model.forward_with_slopes_and_features if features else None)
        self.traced = trace and self._trace()

    @classmethod
    def from_dir(
        cls, path_or_name: str | Path, *, batch_size: int = FORWARD_BATCH, trace: bool = False
    ) -> Diagnoser:
        """Load a model directory (a path, or a name in ``models_dir()``) or a built-in model (``envelope``):
        :func:`faultdx.diagnose.models.load_model`; ``CheckpointError`` if unusable.

        ``trace=True`` runs the network as a frozen TorchScript graph (see :meth:`_trace`).
        """
        return cls.from_model(load_model(path_or_name), batch_size=batch_size, trace=trace)

    @classmethod
    def from_model(
        cls, ready: ReadyModel, *, batch_size: int = FORWARD_BATCH, trace: bool = False
    ) -> Diagnoser:
        """A Diagnoser of a loaded model (:func:`~faultdx.diagnose.models.load_model`)."""
        return cls(ready.network, ready.meta, path=ready.path, batch_size=batch_size, trace=trace,
                   ood=ready.calibration)

    def _trace(self) -> bool:
        """Swap in a traced, frozen copy of the network if it reproduces the eager one; say whether it did.

        Freezing folds BatchNorm into the convolutions and takes Python out of every op: a single window runs
        about 3x faster on CPU (the network is small, so per-op overhead dominates). The graph is checked
        against eager on other batch sizes and lengths than it was traced with; on any difference or failure
        the eager network stays. (``torch.jit`` is deprecated in favour of ``torch.compile``, which costs
        minutes of compilation per process start on a 2-core CPU.)
        """
        c, w = len(self.channels), self.window
        generator = torch.Generator().manual_seed(0)
        context = torch.from_numpy(self.default_context().vector(self.sampling_rate))[None]
        try:
            with warnings.catch_warnings(), torch.inference_mode():
                warnings.simplefilter("ignore")  # deprecation, and the tracer on the (constant) shape check
                example = (torch.randn(1, c, w, generator=generator), context)
                forward = torch.jit.freeze(torch.jit.trace(self.model, example, check_trace=False))
                with_slopes = torch.jit.freeze(
                    torch.jit.trace(_WithSlopes(self.model).eval(), example, check_trace=False, strict=False)
                )
                with_features = self._reads_features and torch.jit.freeze(
                    torch.jit.trace(_WithFeatures(self.model).eval(), example, check_trace=False)
                )
                both = self._reads_features and torch.jit.freeze(  # slopes and features in one pass
                    torch.jit.trace(SlopesAndFeatures(self.model).eval(), example, check_trace=False,
                                    strict=False)
                )
                for n, length in ((3, w), (2, w // 2 + 7)):
                    x = torch.randn(n, c, length, generator=generator)
                    ctx = context.expand(n, -1) * (1 + 0.1 * torch.rand(n, 1, generator=generator))
                    logits, slopes = self.model.forward_with_slopes(x, ctx)
                    got_logits, got_slopes = with_slopes(x, ctx)
                    expected = [logits, logits, *slopes.values()]
                    got = [forward(x, ctx), got_logits, *(got_slopes.get(k) for k in slopes)]
                    if with_features:
                        expected += self.model.forward_with_features(x, ctx)
                        got += with_features(x, ctx)
                    if both:
                        got_both = both(x, ctx)
                        expected += [logits, *slopes.values(), self.model.forward_with_features(x, ctx)[1]]
                        got += [got_both[0], *(got_both[1].get(k) for k in slopes), got_both[2]]
                    if got_slopes.keys() != slopes.keys() or not all(
                        torch.allclose(a, b, atol=1e-4) for a, b in zip(got, expected, strict=True)
                    ):
                        log.warning("traced %s differs from eager; running eager", self.name)
                        return False
        except Exception as err:  # tracing is an optimisation: any failure leaves the eager network in place
            log.warning("could not trace %s (%s); running eager", self.name, err)
            return False
        self._calls = NetworkCalls(forward, with_slopes, with_features or None, both or None)
        return True

    @property
    def _reads_features(self) -> bool:
        """Whether the unknown-condition score reads the penultimate features (so every pass returns them)."""
        return self.ood is not None and self.ood.needs_features

    # -- what the model expects ------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.meta.classes)

    @property
    def window(self) -> int:
        return self.meta.window

    @property
    def sampling_rate(self) -> float:
        return float(self.meta.sampling_rate)

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(self.meta.channels)

    @property
    def needs_context(self) -> bool:
        """Whether the network reads the machine context (shaft speed and bearing)."""
        config = getattr(self.model, "config", None)
        return bool(getattr(config, "needs_context", False))

    @cached_property
    def bearing(self) -> BearingGeometry:
        """The bearing the model assumes when a request names none: its training rig's (parsed once)."""
        return meta_bearing(self.meta.bearing)

    def default_context(self) -> MachineContext:
        """The training rig's bearing at a nominal 1797 rpm (warm-up, tracing, and the context of windows
        whose speed is neither given nor estimable): its rpm source says ``"nominal"``."""
        return MachineContext(NOMINAL_RPM, self.bearing, "nominal", "model")

    def model_card(self) -> str | None:
        """The model directory's ``MODEL_CARD.md`` text, if it has one."""
        card = self.path / CARD_FILE if self.path is not None else None
        return card.read_text(encoding="utf-8") if card is not None and card.is_file() else None

    def slope_channels(self) -> dict[str, int]:
        """``{layer name: channels}`` of every per-sample activation parameter (empty for e.g. ReLU nets)."""
        if self._slope_channels is None:
            x = np.zeros((1, len(self.channels), self.window), dtype=np.float32)
            context = self.default_context().vector(self.sampling_rate)[None]
            slopes = self.predict_windows(x, context, include_slopes=True).slopes
            self._slope_channels = {name: int(v.shape[1]) for name, v in slopes.items()}
        return self._slope_channels

    # -- signals → windows -----------------------------------------------------------------------------------
    def window_count(self, samples: int, sampling_rate: float, window: int, hop: int) -> int:
        """How many windows a signal of ``samples`` per channel at ``sampling_rate`` makes (0: too short)."""
        resampled = math.ceil(samples * self.sampling_rate / sampling_rate)
        return 0 if resampled < window else 1 + (resampled - window) // hop

    def windows(
        self,
        signal: np.ndarray,
        sampling_rate: float,
        *,
        window: int | None = None,
        hop: int | None = None,
        channels: Sequence[str] | None = None,
        max_windows: int | None = None,
        budget: RequestBudget | None = None,
        field: str = "signal",
        rpm: float | None = None,
        bearing: str | dict | BearingGeometry | None = None,
    ) -> Windows:
        """Resample ``signal`` (``[T]`` or ``[C, T]``) to the model's rate, frame and standardise it, with
        its machine context: ``rpm`` (estimated from the signal when None) and ``bearing`` (a catalogue name
        or a geometry; the model's own when None).

        ``channels`` names the rows of a ``[C, T]`` signal so the model's channels can be picked out of it;
        without names the signal must have exactly the model's channel count. ``budget`` (or
        ``max_windows`` alone) is charged the decoded and the framed samples before any work; ``field`` is
        used in errors.
        """
        window, hop = self.check_window_hop(window, hop)
        rate = check_sampling_rate(sampling_rate)
        budget = budget or RequestBudget(samples=math.inf, windows=max_windows)  # type: ignore[arg-type]
        signal = _as_2d(signal, field)
        budget.charge_decoded(signal.size, field)
        signal = _validate(self._select_channels(signal, channels, field), 1, field)
        count = self.window_count(signal.shape[1], rate, window, hop)
        if count == 0:
            needed = max(math.ceil(window * rate / self.sampling_rate), signal.shape[1] + 1)
            raise DiagnoseInputError(
                f"{field}: signal is too short: {signal.shape[1]} samples, at least {needed} needed (one"
                f" window of {window} at the model's {self.sampling_rate:g} Hz)",
                field,
            )
        budget.charge_framed(count, signal.shape[0], window, hop, field)
        machine = self.machine_context(signal, rate, rpm, bearing)
        quality = check_signal(signal, rate, rpm=rpm)  # before resampling: as the sensor recorded it
        vector = self._vector(machine)
        signal = resample(signal, rate, self.sampling_rate)  # [C, T'] float32
        framed = frame(signal, window, hop)[:count]  # [N, C, W] strided view
        start = np.arange(framed.shape[0], dtype=np.int64) * hop
        start = np.round(start * rate / self.sampling_rate).astype(np.int64)
        context = np.repeat(vector[None], framed.shape[0], axis=0)
        return Windows(x=standardize(framed), start=start, context=context, machine=machine, quality=quality)

    def prepare_windows(
        self,
        windows: np.ndarray,
        *,
        rpm: float | None = None,
        bearing: str | dict | BearingGeometry | None = None,
        budget: RequestBudget | None = None,
        field: str = "windows",
    ) -> Windows:
        """Already-framed raw windows ``[N, C, W]`` at the model's rate (the Open Inference Protocol's
        input) → standardised :class:`Windows` with their machine context; the rpm, when not given, is
        estimated from the windows laid end to end."""
        x = np.asarray(windows)
        if x.ndim != 3 or x.shape[0] < 1 or x.shape[1] != len(self.channels):
            want = f"[N >= 1, {len(self.channels)}, W]"
            raise DiagnoseInputError(f"{field}: windows must be {want}, got shape {list(x.shape)}", field)
        window, _ = self.check_window_hop(int(x.shape[2]), None)
        if budget is not None:
            budget.charge_decoded(x.size, field)
            budget.charge_framed(x.shape[0], x.shape[1], window, window, field)
        if not np.isfinite(x).all():
            raise DiagnoseInputError(f"{field}: the windows hold NaN or Inf values", field)
        machine = self.machine_context(x.transpose(1, 0, 2).reshape(x.shape[1], -1), self.sampling_rate,
                                       rpm, bearing)
        vector = self._vector(machine)
        start = np.arange(x.shape[0], dtype=np.int64) * window
        return Windows(x=standardize(x), start=start, context=np.repeat(vector[None], len(x), axis=0),
                       machine=machine or self.default_context(),
                       quality=check_windows(x, self.sampling_rate, rpm=rpm))

    def _vector(self, machine: MachineContext | None) -> np.ndarray:
        """The network's context vector of ``machine`` (the model's default without one), finite or 422."""
        vector = (machine or self.default_context()).vector(self.sampling_rate)
        if not np.isfinite(vector).all():
            raise DiagnoseInputError(f"rpm: the machine context is not finite ({vector.tolist()})", "rpm")
        return vector

    def machine_context(
        self, signal: np.ndarray, sampling_rate: float, rpm: float | None,
        bearing: str | dict | BearingGeometry | None,
    ) -> MachineContext | None:
        """The checked context of ``signal [C, T]``; :class:`DiagnoseInputError` naming the bad field.

        None when the speed is neither given nor estimable and the network does not read the context."""
        try:
            return resolve_context(signal, sampling_rate, rpm=rpm, bearing=bearing,
                                   default_bearing=self.bearing)
        except ContextError as err:
            raise DiagnoseInputError(str(err), err.field) from err
        except ValueError as err:  # the speed estimator cannot work on this signal
            if not self.needs_context:
                return None
            message = f"rpm: not given and cannot be estimated ({err}); send rpm"
            raise DiagnoseInputError(message, "rpm") from err

    def check_window_hop(self, window: int | None, hop: int | None) -> tuple[int, int]:
        """Defaults from the model; ``window`` from the network's minimum to 8× its own; ``hop >= 1``."""
        if window is None:
            window = self.window
        lo, hi = max(self.min_window, 16), self.window * MAX_WINDOW_FACTOR
        if isinstance(window, bool) or not isinstance(window, int) or not lo <= window <= hi:
            raise DiagnoseInputError(
                f"window must be an integer from {lo} to {hi} samples (the model was trained on"
                f" {self.window}), got {window!r}",
                "window",
            )
        if hop is None:
            hop = min(self.meta.hop, window)
        if isinstance(hop, bool) or not isinstance(hop, int) or hop < 1:
            raise DiagnoseInputError(f"hop must be a positive integer, got {hop!r}", "hop")
        return window, hop

    @property
    def min_window(self) -> int:
        """Shortest window the network accepts."""
        config = getattr(self.model, "config", None)
        return int(getattr(config, "min_length", 1))

    def _select_channels(self, signal: np.ndarray, names: Sequence[str] | None, field: str) -> np.ndarray:
        want = self.channels
        if names is not None:
            names = list(names)
            if len(names) != signal.shape[0]:
                raise DiagnoseInputError(
                    f"channels: {len(names)} names given for a signal with {signal.shape[0]} channels",
                    "channels",
                )
            missing = [c for c in want if c not in names]
            if missing:
                raise DiagnoseInputError(
                    f"channels: the model needs channel(s) {list(want)}, the signal has {names}", "channels"
                )
            return signal[[names.index(c) for c in want]]
        if signal.shape[0] != len(want):
            raise DiagnoseInputError(
                f"{field}: the model takes {len(want)} channel(s) {list(want)}, the signal has"
                f" {signal.shape[0]}; name its rows with `channels`",
                field,
            )
        return signal

    # -- windows → network -----------------------------------------------------------------------------------
    def predict_windows(
        self, x: np.ndarray, context: np.ndarray | None = None, include_slopes: bool = False
    ) -> Predictions:
        """Class probabilities ``[N, K]``, slopes ``{layer: [N, C]}`` if asked, and unknown-condition scores
        ``[N]`` when the model is calibrated, for standardised ``x``.

        ``x``: float32 ``[N, C, W]`` and ``context``: float32 ``[N, 5]`` as returned in :class:`Windows`
        (the context may be None for a network that does not read it). Runs in batches of ``batch_size``.
        """
        if x.ndim != 3 or x.shape[1] != len(self.channels):
            raise DiagnoseInputError(
                f"windows must be [N, {len(self.channels)}, W], got shape {list(x.shape)}", "windows"
            )
        if context is None:
            if self.needs_context:
                message = "this model reads the machine context: pass context [N, 5]"
                raise DiagnoseInputError(message, "context")
            context = np.repeat(self.default_context().vector(self.sampling_rate)[None], len(x), axis=0)
        probs, slopes, unknown, features = [], [], [], []
        for out in forward_batches(self._calls, x, context, batch_size=self.batch_size, slopes=include_slopes,
                                   features=self._reads_features):
            if out.features is not None:
                features.append(out.features.numpy())
            probs.append(torch.softmax(out.logits / self.confidence.temperature, dim=-1).numpy())
            if include_slopes:
                slopes.append({k: v.numpy() for k, v in out.slopes.items()})
            if self.ood is not None:
                unknown.append(self.ood.score(out.logits, out.features))
        merged = {k: np.concatenate([s[k] for s in slopes]) for k in slopes[0]} if slopes else {}
        out = np.concatenate(probs)
        scores = np.concatenate(unknown) if unknown else None
        finite = [out, *merged.values(), *([] if scores is None else [scores])]
        if not all(np.isfinite(a).all() for a in finite):
            raise NonFiniteOutput(f"model {self.name!r} answered NaN or Inf for finite standardised windows")
        return Predictions(out, merged, scores, np.concatenate(features) if features else None)

    @property
    def gates_on_envelope(self) -> bool:
        """Whether the confidence policy reads the envelope analysis: caps fault types it does not back, or
        gates on the recording's defect lines."""
        return any(getattr(self.confidence, name, None) is not None
                   for name in ("backing", "lines_below", "backing_lines"))

    def envelope_backing(self, x: np.ndarray, context: np.ndarray | None) -> EnvelopeBacking | None:
        """The envelope analysis of standardised windows ``x`` the confidence policy reads: ``[N, 4]``
        fault-type probabilities, ``[N, F]`` envelope spectra and ``[N, 3]`` line evidence from one transform
        (:func:`~faultdx.diagnose.confidence.envelope_figures`); None where the policy reads none (or without
        windows or context)."""
        if not self.gates_on_envelope or context is None or not len(x):
            return None
        return envelope_figures(x, context, self.sampling_rate)

    # -- network → diagnosis ---------------------------------------------------------------------------------
    def aggregate(
        self,
        windows: Windows,
        probs: np.ndarray,
        slopes: dict[str, np.ndarray] | None = None,
        unknown: np.ndarray | None = None,
        backing: EnvelopeBacking | None = None,
        *,
        verdict: bool = True,
        features: np.ndarray | None = None,
    ) -> Diagnosis:
        """One signal's window probabilities (slopes, unknown-condition scores) as a :class:`Diagnosis`.

        ``backing``: the windows' :meth:`envelope_backing` when already computed (the service computes it in
        the forward pass, batched); else it is computed here where the policy reads it. ``verdict=False``
        for a diagnosis read only for its window labels, unknown score, machine and signal quality (/v2):
        the envelope, which only moves the fault-type verdict, is then not computed. ``features``: the
        windows' penultimate features when the pass computed them (:class:`Predictions`), kept with the
        envelope's line evidence for an asset's baseline to judge."""
        replaces = self.ood is None or self.ood.replaces_verdict
        if backing is None and verdict:
            backing = self.envelope_backing(windows.x, windows.context)
        types = lines = evidence = None
        if backing is not None and verdict:
            types, evidence = backing[0], backing[2]
            lines = self._recording_lines(windows.x, windows.context, backing[1], evidence)
        if windows.x.shape[-1] != self.window:  # a baseline is recorded in the model's own windows
            evidence = features = None
        return Diagnosis(self.classes, probs, windows.start, slopes, windows.machine, unknown, replaces,
                         self.meta.dataset.name, windows.quality, self.confidence, types, lines,
                         window_line_evidence=evidence, window_embeddings=features)

    def _recording_lines(self, x: np.ndarray, context: np.ndarray, spectra: np.ndarray,
                         evidence: np.ndarray) -> np.ndarray | None:
        """``[3]``: how far each defect family's lines stand out of the mean of one signal's window envelope
        ``spectra`` and their line ``evidence`` (:func:`~faultdx.diagnose.confidence.recording_lines`); None
        at an unknown speed."""
        lines = recording_lines(x, context, self.sampling_rate, spectra, evidence)
        return lines if np.isfinite(lines).all() else None

    def diagnose(
        self,
        signals: Sequence[np.ndarray] | np.ndarray,
        sampling_rate: float,
        *,
        window: int | None = None,
        hop: int | None = None,
        include_slopes: bool = False,
        channels: Sequence[str] | None = None,
        rpm: float | None = None,
        bearing: str | dict | BearingGeometry | None = None,
    ) -> list[Diagnosis]:
        """One :class:`Diagnosis` per signal (``[T]`` or ``[C, T]``, sampled at ``sampling_rate`` Hz), all
        from one machine: shaft speed ``rpm`` (estimated per signal when None) and ``bearing``."""
        if isinstance(signals, np.ndarray) and signals.ndim == 1:
            signals = [signals]
        prepared = [
            self.windows(s, sampling_rate, window=window, hop=hop, channels=channels, field=f"signals[{i}]",
                         rpm=rpm, bearing=bearing)
            for i, s in enumerate(signals)
        ]
        if not prepared:
            raise DiagnoseInputError("signals: no signal given", "signals")
        x = np.concatenate([w.x for w in prepared])
        context = np.concatenate([w.context for w in prepared])
        probs, slopes, unknown, features = self.predict_windows(x, context, include_slopes)
        return self.split(prepared, probs, slopes if include_slopes else None, unknown, features=features)

    def split(
        self,
        prepared: Sequence[Windows],
        probs: np.ndarray,
        slopes: dict[str, np.ndarray] | None,
        unknown: np.ndarray | None = None,
        backing: EnvelopeBacking | None = None,
        features: np.ndarray | None = None,
    ) -> list[Diagnosis]:
        """Cut the predictions (the envelope's ``backing`` and the penultimate ``features``, when computed)
        for concatenated windows back into one :class:`Diagnosis` per signal."""
        out, offset = [], 0
        for w in prepared:
            rows = slice(offset, offset + len(w.x))
            part = None if slopes is None else {k: v[rows] for k, v in slopes.items()}
            scores = None if unknown is None else unknown[rows]
            backed = None if backing is None else tuple(b[rows] for b in backing)
            mine = None if features is None else features[rows]
            out.append(self.aggregate(w, probs[rows], part, scores, backed, features=mine))
            offset += len(w.x)
        return out



def _as_2d(signal: np.ndarray, field: str) -> np.ndarray:
    try:
        signal = np.asarray(signal, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise DiagnoseInputError(f"{field}: not an array of numbers ({err})", field) from err
    if signal.ndim == 1:
        return signal[None, :]
    if signal.ndim != 2:
        raise DiagnoseInputError(
            f"{field}: a signal is [samples] or [channels, samples], got {signal.ndim} dimensions", field
        )
    return signal


def _validate(signal: np.ndarray, min_samples: int, field: str) -> np.ndarray:
    """The data layer's checks (empty, NaN/Inf, too short), reported against ``field``."""
    from faultdx.data.readers import validate_signal

    try:
        return validate_signal(signal, min_samples=min_samples)
    except ValueError as err:
        raise DiagnoseInputError(f"{field}: {err}", field) from err




class _WithSlopes(torch.nn.Module):
    """``forward_with_slopes`` as a module's ``forward``, so it can be traced."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, x: torch.Tensor, context: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self.model.forward_with_slopes(x, context)


class _WithFeatures(torch.nn.Module):
    """``forward_with_features`` as a module's ``forward``, so it can be traced."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.forward_with_features(x, context)
