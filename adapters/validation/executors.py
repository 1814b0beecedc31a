"""Window executors: in this process, in a pool of processes, or on a Ray cluster.

Each yields results as windows finish. Runners must be picklable (the pool and Ray send
them to their workers); a failing window raises in the caller, after the windows finished
before it were yielded (and so stored).
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from application.ports import WindowRunner
from domain.validation.jobs import WindowJob, WindowResult

__all__ = ["InProcessExecutor", "ProcessPoolWindowExecutor", "RayExecutor", "make_executor"]


class InProcessExecutor:
    """Runs windows one after the other in this process."""

    def run(self, runner: WindowRunner, jobs: Sequence[WindowJob]) -> Iterator[WindowResult]:
        """Yield each window's result in order."""
        for job in jobs:
            yield runner(job)


class ProcessPoolWindowExecutor:
    """Runs up to ``workers`` windows at once, each in its own process.

    Workers are spawned fresh for each pool (``spawn``), with the caller's ``sys.path`` at that
    moment: a process-wide fork server, started once and reused, keeps whatever import path and
    state the process had when it first started, which need not hold later.
    """

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers

    def run(self, runner: WindowRunner, jobs: Sequence[WindowJob]) -> Iterator[WindowResult]:
        """Yield results as windows finish."""
        if not jobs:
            return
        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx) as pool:
            pending: set[Future[WindowResult]] = {pool.submit(runner, j) for j in jobs}
            try:
                while pending:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for f in finished:
                        yield f.result()
            finally:
                for f in pending:
                    f.cancel()


class RayExecutor:
    """Sends windows to a Ray cluster (``address``) or a local Ray runtime (``None``).

    Ray is an optional extra (``pip install catalyst-trader[ray]``); it is imported here only.
    A runtime this executor started is shut down after the run; one already initialised (by
    the caller, or a cluster joined earlier) is left running.
    """

    def __init__(self, address: str | None = None, num_cpus: int | None = None) -> None:
        try:
            import ray  # noqa: F401
        except ImportError as exc:
            raise ValueError(
                "--executor ray needs the ray package: pip install 'catalyst-trader[ray]'"
            ) from exc
        self.address = address
        self.num_cpus = num_cpus

    def run(self, runner: WindowRunner, jobs: Sequence[WindowJob]) -> Iterator[WindowResult]:
        """Yield results as windows finish on the cluster."""
        import ray

        started = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if self.address:
                kwargs["address"] = self.address
            elif self.num_cpus is not None:
                kwargs["num_cpus"] = self.num_cpus
            ray.init(**kwargs)
            started = True
        try:
            remote = ray.remote(_call)
            pending = [remote.remote(runner, j) for j in jobs]
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                for ref in ready:
                    yield ray.get(ref)
        finally:
            if started:
                ray.shutdown()


def _call(runner: WindowRunner, job: WindowJob) -> WindowResult:
    return runner(job)


def make_executor(
    kind: str, workers: int = 1, ray_address: str | None = None
) -> InProcessExecutor | ProcessPoolWindowExecutor | RayExecutor:
    """Return the executor ``kind`` (``local`` or ``ray``) names; ``local`` with
    ``workers > 1`` is a process pool."""
    if kind == "ray":
        return RayExecutor(ray_address, num_cpus=workers if ray_address is None else None)
    if kind != "local":
        raise ValueError(f"--executor must be local or ray, got {kind!r}")
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    return InProcessExecutor() if workers == 1 else ProcessPoolWindowExecutor(workers)
