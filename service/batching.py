"""Dynamic micro-batching: concurrent requests share one forward pass, fairly, from a bounded queue.

Each request hands its windows to :meth:`MicroBatcher.submit` and awaits its own result. One background task
builds each forward pass from the queued jobs and runs it in a dedicated thread, so the event loop keeps
accepting requests meanwhile; while a pass runs, the next one fills up.

Fairness: a job is cut into pieces of at most ``slice_windows`` windows, and a pass takes at most one piece
from each queued job (up to ``max_batch`` windows); a job with pieces left goes behind the others. A
4,000-window request therefore runs as many small passes interleaved with everyone else's, instead of one pass
that every small request behind it waits for (head-of-line blocking).

Bounded: at most ``max_queue`` windows wait per model; a request that would pass it gets
:class:`Overloaded` (HTTP 503 with ``Retry-After``: the queue's expected drain time), unless the queue is
empty (a single request within ``FAULTDX_MAX_WINDOWS`` is always taken).

When to close a pass: as soon as it is full; otherwise the batcher waits up to ``max_wait`` for more jobs,
but only while other HTTP requests are in progress in this process (they may be about to submit). A lone
request on an idle server is therefore never delayed by ``max_wait``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from faultdx_service.errors import ApiError

from faultdx.diagnose import Predictions

# The fields of Diagnoser.predict_windows's Predictions (probs [N, K], slopes {layer: [N, C]},
# unknown-condition scores [N] or None, features [N, D] or None), then, when a job asks for it, the envelope
# analysis's per-window arrays (any number, each [N, ...] or None)
Result = tuple[np.ndarray | dict[str, np.ndarray] | None, ...]
PREDICTION_PARTS = len(Predictions._fields)  # what every job gets back
Predict = Callable[..., Result]  # (x, context, include_slopes[, include_backing]) -> Result


class Overloaded(ApiError):
    """503: the model's queue is full (or the service is stopping); ``Retry-After`` says when to retry."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(503, message, None, headers={"Retry-After": str(retry_after_s)})


@dataclass(eq=False)
class _Job:
    x: np.ndarray  # [n, C, W]
    context: np.ndarray  # [n, 5]: each window's machine context
    include_slopes: bool
    future: asyncio.Future = field(repr=False)
    include_backing: bool = False
    taken: int = 0  # windows handed to a forward pass so far
    pieces: list[Result] = field(default_factory=list, repr=False)  # results of its pieces, in order

    @property
    def left(self) -> int:
        return len(self.x) - self.taken

    def collect(self, piece: Result) -> None:
        """Keep one piece's results; answer the caller once every window has come back."""
        self.pieces.append(piece)
        if self.future.done() or sum(len(p[0]) for p in self.pieces) < len(self.x):
            return
        # a pass shared with a job asking for the envelope has it too; a job that did not gets the predictions
        size = len(self.pieces[0]) if self.include_backing else PREDICTION_PARTS
        parts = zip(*(p[:size] for p in self.pieces), strict=True)
        self.future.set_result(tuple(_merge(values, self.include_slopes) for values in parts))


def _merge(values: tuple, include_slopes: bool) -> np.ndarray | dict[str, np.ndarray] | None:
    """One element of a job's result from its pieces' in order: arrays concatenated, slope dicts per layer
    (empty unless the job asked for slopes), None kept."""
    first = values[0]
    if isinstance(first, dict):
        return {k: np.concatenate([v[k] for v in values]) for k in first} if include_slopes else {}
    return None if first is None else np.concatenate(values)


def _rows(value: np.ndarray | dict[str, np.ndarray] | None, rows: slice):
    """``rows`` of one element of a pass's result (an array, a dict of arrays, or None)."""
    if isinstance(value, dict):
        return {k: v[rows] for k, v in value.items()}
    return None if value is None else value[rows]


@dataclass
class BatchStats:
    """What one forward pass held (for metrics and tests)."""

    windows: int
    jobs: int
    seconds: float


class MicroBatcher:
    """Gather jobs of ``[n, C, W]`` windows (+ their ``[n, 5]`` context) into forward passes of at most
    ``max_batch`` windows, at most ``slice_windows`` from each job per pass, from a queue of at most
    ``max_queue`` windows.

    ``predict(x, context, include_slopes)`` (``Diagnoser.predict_windows``: the ``PREDICTION_PARTS`` fields of
    ``Predictions``) is called in a worker thread; when a job of the pass asks for the envelope's backing, as
    ``predict(x, context, include_slopes, True)``, and its result has the envelope's arrays after those.
    ``busy() -> int`` tells how many requests are in progress (including the queued ones); ``on_batch`` is
    called after each forward pass.
    """

    def __init__(
        self,
        predict: Predict,
        *,
        max_batch: int = 256,
        max_wait_s: float = 0.002,
        slice_windows: int = 64,
        max_queue: int | None = None,
        busy: Callable[[], int] | None = None,
        on_batch: Callable[[BatchStats], None] | None = None,
        thread_init: Callable[[], None] | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if max_wait_s < 0:
            raise ValueError(f"max_wait_s must be >= 0, got {max_wait_s}")
        if slice_windows < 1:
            raise ValueError(f"slice_windows must be >= 1, got {slice_windows}")
        self.predict = predict
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.slice_windows = min(slice_windows, max_batch)
        self.max_queue = max_queue
        self.busy = busy
        self.on_batch = on_batch
        self._queue: deque[_Job] = deque()
        self._queued = 0  # windows waiting for a forward pass
        self._rate = 0.0  # windows per second of recent passes (for Retry-After)
        self._arrived = asyncio.Event()
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="forward", initializer=thread_init
        )
        self._running: set[_Job] = set()  # jobs in the forward pass now
        self._task: asyncio.Task | None = None

    async def submit(self, x: np.ndarray, context: np.ndarray, include_slopes: bool = False,
                     include_backing: bool = False) -> Result:
        """Queue ``x [n, C, W]`` with its ``context [n, 5]``; return its own ``(probs [n, K], slopes,
        unknown)`` (with ``include_backing``: and the envelope's backing) once all its pieces have run.
        :class:`Overloaded` when the queue cannot take ``n`` more windows."""
        if len(context) != len(x):
            raise ValueError(f"context: {len(context)} rows for {len(x)} windows")
        if self.max_queue is not None and self._queued and self._queued + len(x) > self.max_queue:
            wait = math.ceil(self._queued / self._rate) if self._rate else 1
            raise Overloaded(
                f"the model's queue holds {self._queued} windows (FAULTDX_MAX_QUEUE_WINDOWS="
                f"{self.max_queue}); retry in {wait} s",
                max(1, min(wait, 60)),
            )
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="micro-batcher")
        future = asyncio.get_running_loop().create_future()
        self._queue.append(_Job(x, context, include_slopes, future, include_backing=include_backing))
        self._queued += len(x)
        self._arrived.set()
        return await future

    async def close(self) -> None:
        """Stop the background task, answer what is still queued or running with 503, release the thread."""
        stranded = [*self._running, *self._queue]
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for job in stranded:
            if not job.future.done():
                job.future.set_exception(Overloaded("the service is shutting down; send it again", 1))
        self._queue.clear()
        self._queued = 0
        self._executor.shutdown(wait=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                self._arrived.clear()
                await self._arrived.wait()
            await self._fill()
            batch = self._take()
            if not batch:
                continue
            self._running = {job for job, _ in batch}
            try:
                await self._dispatch(loop, batch)
            finally:
                self._running = set()

    async def _fill(self) -> None:
        """Wait (at most ``max_wait_s``) for more jobs while the batch is short and others may be coming."""
        deadline = time.perf_counter() + self.max_wait_s
        while self._queued < self.max_batch and self._others_pending() > 0:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except asyncio.TimeoutError:
                return

    def _others_pending(self) -> int:
        """Requests in progress that have not submitted yet (they might join this batch)."""
        if self.busy is None:
            return 0
        return self.busy() - len(self._queue) - len(self._running - set(self._queue))

    def _take(self) -> list[tuple[_Job, slice]]:
        """One piece of each queued job, in queue order, up to ``max_batch`` windows; jobs with pieces left
        go behind the rest of the queue."""
        batch: list[tuple[_Job, slice]] = []
        windows = 0
        unfinished: list[_Job] = []
        while self._queue and windows < self.max_batch:
            job = self._queue.popleft()
            if job.future.done():  # caller went away (or an earlier piece failed)
                self._queued -= job.left
                continue
            n = min(self.slice_windows, job.left, self.max_batch - windows)
            batch.append((job, slice(job.taken, job.taken + n)))
            job.taken += n
            self._queued -= n
            windows += n
            if job.left:
                unfinished.append(job)
        self._queue.extend(unfinished)
        return batch

    async def _dispatch(self, loop: asyncio.AbstractEventLoop, batch: list[tuple[_Job, slice]]) -> None:
        groups: dict[tuple[int, ...], list[tuple[_Job, slice]]] = {}
        for piece in batch:  # windows of different shapes cannot share a tensor
            groups.setdefault(piece[0].x.shape[1:], []).append(piece)
        for pieces in groups.values():
            try:
                result, stats = await loop.run_in_executor(self._executor, self._forward, pieces)
            except Exception as exc:  # every caller of the failed pass gets the error
                for job, _ in pieces:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            offset = 0
            for job, part in pieces:
                n = part.stop - part.start
                rows = slice(offset, offset + n)
                job.collect(tuple(_rows(value, rows) for value in result))
                offset += n
            rate = stats.windows / max(stats.seconds, 1e-6)
            self._rate = 0.8 * self._rate + 0.2 * rate if self._rate else rate
            if self.on_batch is not None:
                self.on_batch(stats)

    def _forward(self, pieces: list[tuple[_Job, slice]]) -> tuple[Result, BatchStats]:
        start = time.perf_counter()
        if len(pieces) == 1:
            job, part = pieces[0]
            x, context = job.x[part], job.context[part]
        else:
            x = np.concatenate([job.x[part] for job, part in pieces])
            context = np.concatenate([job.context[part] for job, part in pieces])
        slopes = any(job.include_slopes for job, _ in pieces)
        backing = any(job.include_backing for job, _ in pieces)
        result = self.predict(x, context, slopes, True) if backing else self.predict(x, context, slopes)
        jobs = len({id(job) for job, _ in pieces})
        return tuple(result), BatchStats(len(x), jobs, time.perf_counter() - start)
