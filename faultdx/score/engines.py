"""Engines: jobs in, rows out (in completion order). A local process pool, or Ray Data on a local cluster
(bound to 127.0.0.1) or an existing one (``address``); both score each file with the same function."""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from typing import Any

import pyarrow as pa

from faultdx.score.inputs import Job
from faultdx.score.rows import WITH_RECORD, load_diagnoser, rows_to_table, score_file

RAY_CHUNK = 20_000  # files per Ray Dataset: the job list of one chunk sits in the object store
RAY_BATCH = 2  # files per map_batches call: rows stream back soon and actors stay evenly loaded
RAY_BLOCKS = 4096  # most blocks per Dataset
LOCAL_ONLY_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": Ray keeps a loopback node address (no cluster)
QUIET: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "WARNING"}

_WORKER_DIAGNOSER = None  # one per pool process, loaded by the initializer


def _start_worker(model: str) -> None:
    global _WORKER_DIAGNOSER
    _WORKER_DIAGNOSER = load_diagnoser(model)


def _score_in_worker(job: Job) -> dict[str, Any]:
    return score_file(_WORKER_DIAGNOSER, job)


def run_local(jobs: Iterable[Job], model: str, workers: int) -> Iterator[dict[str, Any]]:
    """A pool of ``workers`` processes, each loading the model once; at most 4 jobs per worker in flight.
    One worker scores in this process (no pool to start)."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    if workers == 1:
        yield from _score_here(jobs, model)
        return
    context = multiprocessing.get_context("spawn")  # no fork of a process holding torch's threads
    with _one_thread_children(), ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                             initargs=(model,)) as pool:
        pending: set = set()
        for job in jobs:
            if len(pending) >= 4 * workers:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                yield from (f.result() for f in finished)
            pending.add(pool.submit(_score_in_worker, job))
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            yield from (f.result() for f in finished)


@contextlib.contextmanager
def _one_thread_children() -> Iterator[None]:
    """Start child processes with one-thread math libraries (as Ray does for one-CPU actors): numpy's BLAS
    and torch's OpenMP read these when they load, before any call could set them."""
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(dict.fromkeys(names, "1"))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _score_here(jobs: Iterable[Job], model: str) -> Iterator[dict[str, Any]]:
    import torch

    threads = torch.get_num_threads()
    try:
        diagnoser = load_diagnoser(model)
        yield from (score_file(diagnoser, job) for job in jobs)
    finally:
        torch.set_num_threads(threads)  # this process's setting, as it was


class RayScorer:
    """Ray Data callable class: loads the model once per actor, scores a batch of jobs into rows."""

    def __init__(self, model: str) -> None:
        self.diagnoser = load_diagnoser(model)

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = [score_file(self.diagnoser, Job(**job)) for job in batch.to_pylist()]
        return rows_to_table(rows, WITH_RECORD)  # the history's record travels back with the row


def run_ray(jobs: Iterable[Job], model: str, workers: int | None, address: str | None = None
            ) -> Iterator[dict[str, Any]]:
    """Ray Data: the file listing (:data:`RAY_CHUNK` files per Dataset) → ``map_batches`` over a pool of
    :class:`RayScorer` actors (one CPU each) → rows streamed back here, where the same part files as the
    local engine's are written (no shared storage is needed for the output)."""
    import ray

    with _ray_session(address, workers):
        size = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        chunk: list[dict[str, Any]] = []
        for job in jobs:
            chunk.append(asdict(job))
            if len(chunk) >= RAY_CHUNK:
                yield from _ray_chunk(chunk, model, size)
                chunk = []
        if chunk:
            yield from _ray_chunk(chunk, model, size)


def _ray_chunk(items: list[dict[str, Any]], model: str, size: int) -> Iterator[dict[str, Any]]:
    import ray.data

    blocks = min(RAY_BLOCKS, max(1, math.ceil(len(items) / RAY_BATCH)))
    dataset = ray.data.from_items(items, override_num_blocks=blocks)
    scored = dataset.map_batches(
        RayScorer, fn_constructor_kwargs={"model": model}, batch_size=RAY_BATCH, batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=size), num_cpus=1,
    )
    for batch in scored.iter_batches(batch_size=None, batch_format="pyarrow"):
        yield from batch.to_pylist()


@contextlib.contextmanager
def _ray_session(address: str | None, workers: int | None) -> Iterator[None]:
    """Join the cluster at ``address``, or reuse the one this process already joined, or start a local one
    (``workers`` CPUs, loopback only: :func:`start_local_ray`) for the duration of the run."""
    import logging

    import ray
    import ray.data

    ray.data.DataContext.get_current().enable_progress_bars = False  # ours counts files and windows
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # not a line per Dataset on the terminal
    if ray.is_initialized():
        yield
        return
    if address is None:
        start_local_ray(workers or os.cpu_count() or 1)
    else:
        ray.init(address=address, **QUIET)
    try:
        yield
    finally:
        ray.shutdown()


def start_local_ray(num_cpus: int) -> None:
    """Start a one-machine Ray cluster that listens on the loopback interface only, no dashboard.

    An unauthenticated Ray port is remote code execution for anyone who reaches it, and a plant network is not
    a trusted one. ``ray.init(_node_ip_address="127.0.0.1")`` alone is not enough: Ray turns a loopback node
    address into the machine's address, and then its GCS server, raylet, workers and runtime-env agent
    listen on every interface. With ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (Ray's switch for "no multi-node
    cluster", inherited by every process it starts) the node address stays 127.0.0.1 and every server binds
    to it; tests/test_score_ray.py (case 9 of issue 24) lists the listening sockets to prove it.
    """
    import ray
    from ray._private import ray_constants

    saved = os.environ.get(LOCAL_ONLY_ENV)
    os.environ[LOCAL_ONLY_ENV] = "0"  # read by the processes ray.init starts
    was = ray_constants.ENABLE_RAY_CLUSTER  # read by this process at import, which may have been earlier
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        ray.init(num_cpus=num_cpus, _node_ip_address="127.0.0.1", **QUIET)
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = was
        if saved is None:
            os.environ.pop(LOCAL_ONLY_ENV, None)
        else:
            os.environ[LOCAL_ONLY_ENV] = saved
