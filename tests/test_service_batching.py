"""The micro-batcher: concurrent jobs share forward passes, each caller gets its own rows back."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest
from faultdx_service.batching import BatchStats, MicroBatcher


class FakeModel:
    """``predict`` that records each call; row i of the result is the sum of window i (identifies it)."""

    def __init__(self, delay: float = 0.0, fail_when: float | None = None) -> None:
        self.calls: list[tuple[int, bool]] = []
        self.threads: set[str] = set()
        self.delay = delay
        self.fail_when = fail_when

    def predict(
        self, x: np.ndarray, context: np.ndarray, include_slopes: bool
    ) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray, np.ndarray]:
        assert context.shape == (len(x), 5)
        np.testing.assert_array_equal(context[:, 0], x[:, 0, 0])  # each window's context came along with it
        self.calls.append((len(x), include_slopes))
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay)
        if self.fail_when is not None and np.any(x == self.fail_when):
            raise RuntimeError("boom")
        sums = x.reshape(len(x), -1).sum(axis=1, keepdims=True)
        slopes = {"layer": np.repeat(sums, 3, axis=1)} if include_slopes else {}
        # unknown-condition score, and features (here: the sum again)
        return np.concatenate([sums, -sums], axis=1), slopes, sums[:, 0] / 2, sums


def job(value: float, n: int = 1, width: int = 4) -> np.ndarray:
    return np.full((n, 1, width), value, dtype=np.float32)


def submit(batcher: MicroBatcher, x: np.ndarray, include_slopes: bool = False):
    """Submit ``x`` with a context whose first column repeats the window's value (FakeModel checks it)."""
    return batcher.submit(x, np.repeat(x[:, :1, 0], 5, axis=1), include_slopes)


def test_concurrent_jobs_share_passes_and_get_their_own_rows() -> None:
    model = FakeModel(delay=0.01)
    stats: list[BatchStats] = []

    async def main() -> list:
        batcher = MicroBatcher(model.predict, max_batch=64, max_wait_s=0.005, on_batch=stats.append)
        results = await asyncio.gather(*(submit(batcher, job(i, n=1 + i % 3)) for i in range(40)))
        await batcher.close()
        return results

    results = asyncio.run(main())
    for i, (probs, slopes, unknown, features) in enumerate(results):
        n = 1 + i % 3
        assert probs.shape == (n, 2) and slopes == {}
        np.testing.assert_array_equal(probs[:, 0], np.full(n, 4.0 * i))
        np.testing.assert_array_equal(unknown, np.full(n, 2.0 * i))  # each job gets its own scores back
        np.testing.assert_array_equal(features, np.full((n, 1), 4.0 * i))  # and its own features
    assert len(model.calls) < 40  # batched, not one pass per job
    assert max(n for n, _ in model.calls) <= 64
    assert sum(s.windows for s in stats) == sum(1 + i % 3 for i in range(40))
    assert sum(s.jobs for s in stats) >= 40  # a job cut at a pass boundary counts in both passes
    assert model.threads and all(name.startswith("forward") for name in model.threads)  # off the event loop


def test_max_batch_bounds_every_pass_even_with_an_oversized_job() -> None:
    model = FakeModel(delay=0.005)

    async def main() -> list:
        batcher = MicroBatcher(model.predict, max_batch=8, max_wait_s=0.01)
        out = await asyncio.gather(
            *(submit(batcher, job(i, n=3)) for i in range(10)), submit(batcher, job(99, n=20), True)
        )
        await batcher.close()
        return out

    out = asyncio.run(main())
    sizes = [n for n, _ in model.calls]
    assert all(n <= 8 for n in sizes) and sum(sizes) == 50
    probs, slopes, unknown, features = out[-1]  # the sliced job's pieces come back whole and in order
    assert probs.shape == (20, 2) and np.all(probs[:, 0] == 4 * 99) and slopes["layer"].shape == (20, 3)
    np.testing.assert_array_equal(unknown, probs[:, 0] / 2)
    np.testing.assert_array_equal(features[:, 0], probs[:, 0])


def test_a_large_job_is_sliced_and_interleaved_with_small_ones() -> None:
    model = FakeModel(delay=0.01)  # 10 ms per pass, whatever its size
    done: dict[str, float] = {}

    async def timed(batcher: MicroBatcher, name: str, x: np.ndarray, after: float = 0.0) -> None:
        await asyncio.sleep(after)
        await submit(batcher, x)
        done[name] = time.perf_counter()

    async def main() -> None:
        batcher = MicroBatcher(model.predict, max_batch=256, max_wait_s=0.0, slice_windows=16)
        start = time.perf_counter()
        await asyncio.gather(timed(batcher, "big", job(1, n=4000)),
                             *(timed(batcher, f"small{i}", job(2), after=0.02 * i) for i in range(1, 6)))
        await batcher.close()
        done.update({k: v - start for k, v in done.items()})

    asyncio.run(main())
    assert max(n for n, _ in model.calls) <= 16 + 1  # one piece of the big job (+ a small one) per pass
    smalls = [done[f"small{i}"] for i in range(1, 6)]
    assert all(t < done["big"] for t in smalls)  # nobody waits for the whole big job
    assert all(t - 0.02 * i < 0.1 for i, t in enumerate(smalls, start=1)), smalls  # a few passes each


def test_a_full_queue_answers_503_with_retry_after() -> None:
    from faultdx_service.batching import Overloaded

    model = FakeModel(delay=0.02)

    async def main() -> tuple:
        batcher = MicroBatcher(model.predict, max_batch=8, max_wait_s=0.0, max_queue=100)
        first = asyncio.ensure_future(submit(batcher, job(1, n=90)))
        await asyncio.sleep(0.05)
        with pytest.raises(Overloaded) as err:
            await submit(batcher, job(2, n=50))
        alone = MicroBatcher(model.predict, max_batch=8, max_wait_s=0.0, max_queue=100)
        big = await submit(alone, job(3, n=150))  # an empty queue takes any one job
        await first
        await asyncio.gather(batcher.close(), alone.close())
        return err.value, big

    err, big = asyncio.run(main())
    assert err.status_code == 503 and int(err.headers["Retry-After"]) >= 1 and "queue" in err.detail
    assert big[0].shape == (150, 2)


def test_jobs_still_queued_at_close_get_a_503() -> None:
    from faultdx_service.batching import Overloaded

    model = FakeModel(delay=0.05)

    async def main() -> list:
        batcher = MicroBatcher(model.predict, max_batch=1, max_wait_s=0.0)
        jobs = [asyncio.ensure_future(submit(batcher, job(i))) for i in range(4)]
        await asyncio.sleep(0.02)
        await batcher.close()
        return await asyncio.gather(*jobs, return_exceptions=True)

    out = asyncio.run(main())
    assert any(isinstance(r, Overloaded) and r.status_code == 503 for r in out)


def test_a_lone_request_does_not_wait_for_max_wait() -> None:
    model = FakeModel()

    async def main() -> float:
        batcher = MicroBatcher(model.predict, max_batch=64, max_wait_s=1.0, busy=lambda: 1)
        start = time.perf_counter()
        await submit(batcher, job(1))
        elapsed = time.perf_counter() - start
        await batcher.close()
        return elapsed

    assert asyncio.run(main()) < 0.5


def test_waits_for_requests_in_progress_up_to_max_wait() -> None:
    model = FakeModel()
    pending = {"n": 2}  # two HTTP requests in progress: ours and one that has not submitted yet

    async def main() -> tuple[float, float]:
        batcher = MicroBatcher(model.predict, max_batch=64, max_wait_s=0.3, busy=lambda: pending["n"])
        start = time.perf_counter()
        first = asyncio.ensure_future(submit(batcher, job(1)))
        await asyncio.sleep(0.05)
        second = asyncio.ensure_future(submit(batcher, job(2)))
        await asyncio.gather(first, second)
        together = time.perf_counter() - start
        # one other request stays in progress and never submits: the batch goes at max_wait
        start = time.perf_counter()
        await submit(batcher, job(3))
        alone = time.perf_counter() - start
        await batcher.close()
        return together, alone

    together, alone = asyncio.run(main())
    assert model.calls[0] == (2, False)  # the two jobs went in one pass
    assert together < 0.3
    assert 0.25 <= alone < 2.0


def test_slopes_only_for_those_who_asked() -> None:
    model = FakeModel(delay=0.01)

    async def main() -> list:
        batcher = MicroBatcher(model.predict, max_batch=64, max_wait_s=0.01)
        out = await asyncio.gather(submit(batcher, job(1, n=2), True), submit(batcher, job(2, n=1), False))
        await batcher.close()
        return out

    (p1, s1, _, _), (p2, s2, _, _) = asyncio.run(main())
    assert s1["layer"].shape == (2, 3) and np.all(s1["layer"] == 4.0)
    assert s2 == {} and p2.shape == (1, 2)


def test_the_envelope_backing_only_for_those_who_asked_in_the_same_pass() -> None:
    """A job asking for the envelope's backing gets it as a fifth element for its own rows (computed once for
    the whole pass); a job sharing that pass without asking gets the usual four."""
    model = FakeModel(delay=0.01)
    passes: list[bool] = []

    def predict(x: np.ndarray, context: np.ndarray, include_slopes: bool, include_backing: bool = False):
        passes.append(include_backing)
        out = model.predict(x, context, include_slopes)
        return (*out, np.repeat(x[:, :1, 0], 4, axis=1)) if include_backing else out

    async def main() -> list:
        batcher = MicroBatcher(predict, max_batch=64, max_wait_s=0.01)
        context = np.repeat(job(3, n=2)[:, :1, 0], 5, axis=1)
        out = await asyncio.gather(batcher.submit(job(3, n=2), context, include_backing=True),
                                   submit(batcher, job(5, n=1)))
        await batcher.close()
        return out

    with_backing, without = asyncio.run(main())
    assert passes == [True]  # one pass for both jobs
    assert len(with_backing) == 5 and with_backing[4].shape == (2, 4) and np.all(with_backing[4] == 3.0)
    assert len(without) == 4 and without[0][0, 0] == 20.0


def test_windows_of_different_lengths_run_in_separate_passes() -> None:
    model = FakeModel(delay=0.01)

    async def main() -> list:
        batcher = MicroBatcher(model.predict, max_batch=64, max_wait_s=0.01)
        out = await asyncio.gather(submit(batcher, job(1, width=4)), submit(batcher, job(1, width=8)))
        await batcher.close()
        return out

    (a, *_), (b, *_) = asyncio.run(main())
    assert a[0, 0] == 4.0 and b[0, 0] == 8.0


def test_a_failing_pass_fails_its_callers_only() -> None:
    model = FakeModel(delay=0.01, fail_when=13.0)

    async def main() -> tuple:
        batcher = MicroBatcher(model.predict, max_batch=64, max_wait_s=0.01)
        out = await asyncio.gather(
            submit(batcher, job(13)), submit(batcher, job(1)), return_exceptions=True
        )
        after = await submit(batcher, job(2))
        await batcher.close()
        return out, after

    out, after = asyncio.run(main())
    assert any(isinstance(r, RuntimeError) for r in out)
    assert after[0][0, 0] == 8.0  # the batcher keeps serving


def test_a_context_that_does_not_match_the_windows_is_refused() -> None:
    async def main() -> None:
        batcher = MicroBatcher(FakeModel().predict)
        try:
            await batcher.submit(job(1, n=3), np.zeros((2, 5), np.float32))
        finally:
            await batcher.close()

    with pytest.raises(ValueError, match="context"):
        asyncio.run(main())


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        MicroBatcher(FakeModel().predict, max_batch=0)
    with pytest.raises(ValueError, match="max_wait_s"):
        MicroBatcher(FakeModel().predict, max_wait_s=-1)
