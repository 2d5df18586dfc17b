"""Dynamic micro-batching: concurrent requests share one forward pass.

Each request hands its windows to :meth:`MicroBatcher.submit` and awaits its own result. One background task
gathers queued jobs into a batch of at most ``max_batch`` windows and runs the forward pass in a dedicated
thread, so the event loop keeps accepting requests meanwhile; while a batch runs, the next one fills up.

When to close a batch: as soon as it is full; otherwise the batcher waits up to ``max_wait`` for more jobs,
but only while other HTTP requests are in progress in this process (they may be about to submit). A lone
request on an idle server is therefore never delayed by ``max_wait``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

# (probs [N, K], slopes {layer: [N, C]}, unknown-condition scores [N] or None): Diagnoser.predict_windows
Result = tuple[np.ndarray, dict[str, np.ndarray], np.ndarray | None]
Predict = Callable[[np.ndarray, np.ndarray, bool], Result]


@dataclass
class _Job:
    x: np.ndarray  # [n, C, W]
    context: np.ndarray  # [n, 5]: each window's machine context
    include_slopes: bool
    future: asyncio.Future = field(repr=False)


@dataclass
class BatchStats:
    """What one forward pass held (for metrics and tests)."""

    windows: int
    jobs: int
    seconds: float


class MicroBatcher:
    """Gather jobs of ``[n, C, W]`` windows (+ their ``[n, 5]`` context) into forward passes of at most
    ``max_batch`` windows.

    ``predict(x, context, include_slopes) -> (probs [N, K], slopes {layer: [N, C]}, unknown [N] | None)``
    (``Diagnoser.predict_windows``) is called in a worker thread.
    ``busy() -> int`` tells how many requests are in progress (including the queued ones); ``on_batch`` is
    called after each forward pass.
    """

    def __init__(
        self,
        predict: Predict,
        *,
        max_batch: int = 256,
        max_wait_s: float = 0.002,
        busy: Callable[[], int] | None = None,
        on_batch: Callable[[BatchStats], None] | None = None,
        thread_init: Callable[[], None] | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if max_wait_s < 0:
            raise ValueError(f"max_wait_s must be >= 0, got {max_wait_s}")
        self.predict = predict
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.busy = busy
        self.on_batch = on_batch
        self._queue: deque[_Job] = deque()
        self._arrived = asyncio.Event()
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="forward", initializer=thread_init
        )
        self._running = 0  # jobs in the forward pass now
        self._task: asyncio.Task | None = None

    async def submit(self, x: np.ndarray, context: np.ndarray, include_slopes: bool = False) -> Result:
        """Queue ``x [n, C, W]`` with its ``context [n, 5]``; return its own ``(probs [n, K], slopes,
        unknown)`` once its batch has run."""
        if len(context) != len(x):
            raise ValueError(f"context: {len(context)} rows for {len(x)} windows")
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="micro-batcher")
        future = asyncio.get_running_loop().create_future()
        self._queue.append(_Job(x, context, include_slopes, future))
        self._arrived.set()
        return await future

    async def close(self) -> None:
        """Stop the background task, fail what is still queued, release the thread."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while self._queue:
            job = self._queue.popleft()
            if not job.future.done():
                job.future.set_exception(RuntimeError("the service is shutting down"))
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
            self._running = len(batch)
            try:
                await self._dispatch(loop, batch)
            finally:
                self._running = 0

    async def _fill(self) -> None:
        """Wait (at most ``max_wait_s``) for more jobs while the batch is short and others may be coming."""
        deadline = time.perf_counter() + self.max_wait_s
        while self._queued_windows() < self.max_batch and self._others_pending() > 0:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except asyncio.TimeoutError:
                return

    def _queued_windows(self) -> int:
        return sum(len(job.x) for job in self._queue)

    def _others_pending(self) -> int:
        """Requests in progress that have not submitted yet (they might join this batch)."""
        if self.busy is None:
            return 0
        return self.busy() - len(self._queue) - self._running

    def _take(self) -> list[_Job]:
        """Pop jobs up to ``max_batch`` windows (always at least one job, however large)."""
        batch: list[_Job] = []
        windows = 0
        while self._queue:
            job = self._queue[0]
            if job.future.done():  # caller went away
                self._queue.popleft()
                continue
            if batch and windows + len(job.x) > self.max_batch:
                break
            batch.append(self._queue.popleft())
            windows += len(job.x)
        return batch

    async def _dispatch(self, loop: asyncio.AbstractEventLoop, batch: list[_Job]) -> None:
        groups: dict[tuple[int, ...], list[_Job]] = {}
        for job in batch:  # windows of different shapes cannot share a tensor
            groups.setdefault(job.x.shape[1:], []).append(job)
        for jobs in groups.values():
            try:
                result, stats = await loop.run_in_executor(self._executor, self._forward, jobs)
            except Exception as exc:  # every caller of the failed pass gets the error
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            probs, slopes, unknown = result
            offset = 0
            for job in jobs:
                n = len(job.x)
                if not job.future.done():
                    mine = (
                        {k: v[offset : offset + n] for k, v in slopes.items()} if job.include_slopes else {}
                    )
                    scores = None if unknown is None else unknown[offset : offset + n]
                    job.future.set_result((probs[offset : offset + n], mine, scores))
                offset += n
            if self.on_batch is not None:
                self.on_batch(stats)

    def _forward(self, jobs: list[_Job]) -> tuple[Result, BatchStats]:
        start = time.perf_counter()
        if len(jobs) == 1:
            x, context = jobs[0].x, jobs[0].context
        else:
            x = np.concatenate([job.x for job in jobs])
            context = np.concatenate([job.context for job in jobs])
        probs, slopes, unknown = self.predict(x, context, any(job.include_slopes for job in jobs))
        return (probs, slopes, unknown), BatchStats(len(x), len(jobs), time.perf_counter() - start)
