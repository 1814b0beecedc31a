"""Window executors: in this process, in a pool of processes, or on a Ray cluster.

Each yields results as windows finish. Runners must be picklable (the pool and Ray send
them to their workers); a failing window raises in the caller, after the windows finished
before it were yielded (and so stored). The pool and Ray are handed the longest windows
first, so that a long window started last does not leave the other workers idle at the end.
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import multiprocessing.context as mp_context
import pickle
import sys
import threading
import types
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from typing import Any

from application.ports import WindowRunner
from domain.validation.jobs import WindowJob, WindowResult

__all__ = [
    "InProcessExecutor",
    "ProcessPoolWindowExecutor",
    "RayExecutor",
    "longest_first",
    "make_executor",
]


def longest_first(jobs: Sequence[WindowJob]) -> list[WindowJob]:
    """Return the jobs ordered by their bar count (train + test), longest first, ties by index."""
    def bars(j: WindowJob) -> int:
        a, b, c, d = j.bars
        return (b - a) + (d - c)

    return sorted(jobs, key=lambda j: (-bars(j), j.index))


class InProcessExecutor:
    """Runs windows one after the other in this process."""

    def run(self, runner: WindowRunner, jobs: Sequence[WindowJob]) -> Iterator[WindowResult]:
        """Yield each window's result in order."""
        for job in jobs:
            yield runner(job)


@contextmanager
def _main_script_hidden() -> Iterator[None]:
    """Show a started process a ``__main__`` module without a file while it is launched.

    A spawned process re-runs the parent's ``__main__`` script (as ``__mp_main__``) before
    it unpickles its work, unless that module has neither a file nor a module spec. Hosts
    that install their own script as ``__main__`` -- a Streamlit app, Streamlit's
    ``AppTest`` (which leaves it installed after the test), a notebook kernel, an unguarded
    script -- would have every worker execute that script, and a worker that fails there
    dies before taking a window, which the pool reports as ``BrokenProcessPool``.
    """
    saved = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if saved is not None:
            sys.modules["__main__"] = saved
        else:
            del sys.modules["__main__"]


class _WorkerProcess(mp_context.SpawnProcess):
    def start(self) -> None:
        with _main_script_hidden():
            super().start()


class _WorkerContext(mp_context.SpawnContext):
    """``spawn``, but the workers do not re-run the parent's ``__main__`` script."""

    Process = _WorkerProcess


def _needs_main(runner: object) -> bool:
    """Whether unpickling ``runner`` needs the parent's ``__main__`` module (conservative:
    any mention of ``__main__`` in its pickle counts)."""
    return b"__main__" in pickle.dumps(runner, protocol=pickle.HIGHEST_PROTOCOL)


def _init_worker(preload: tuple[str, ...]) -> None:
    """Import the modules every window will need once, as the worker starts."""
    for name in preload:
        importlib.import_module(name)


def _ready() -> None:
    """A no-op task: submitting one per worker makes the pool start its workers now."""


def _fork_is_safe() -> bool:
    """Whether this process may be forked: on Linux, with no thread but the main one (a fork
    copies only the calling thread, and locks other threads held stay locked in the child)."""
    return sys.platform == "linux" and threading.active_count() == 1


class ProcessPoolWindowExecutor:
    """Runs up to ``workers`` windows at once, each in its own process.

    Workers are spawned fresh for each pool (``spawn``), with the caller's ``sys.path`` at that
    moment, and do not re-run the caller's ``__main__`` script unless the runner is defined
    there (see :func:`_main_script_hidden`). ``preload`` names modules each worker imports as
    it starts (e.g. PyTorch and Stable-Baselines3 for RL windows), so that the imports run in
    parallel with the caller's own work when the pool is started early with :meth:`start`.

    With ``fork_when_safe`` the workers are forked where that is safe (:func:`_fork_is_safe`:
    a command-line program, not a host with threads): a forked worker starts at once with
    what the caller has imported and imports only ``preload`` on top, where a spawned one
    starts an interpreter and imports everything again.
    """

    def __init__(
        self, workers: int, preload: Sequence[str] = (), *, fork_when_safe: bool = False
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self.preload = tuple(preload)
        self.fork_when_safe = fork_when_safe
        self._pool: ProcessPoolExecutor | None = None
        self._hides_main = True
        #: The start method of the last pool opened (``fork`` or ``spawn``).
        self.start_method = ""

    def _open(self, hide_main: bool) -> ProcessPoolExecutor:
        self._hides_main = hide_main
        ctx: Any
        if self.fork_when_safe and _fork_is_safe():
            ctx = mp.get_context("fork")
        else:
            ctx = _WorkerContext() if hide_main else mp.get_context("spawn")
        self.start_method = ctx.get_start_method()
        return ProcessPoolExecutor(
            max_workers=self.workers, mp_context=ctx, initializer=_init_worker,
            initargs=(self.preload,),
        )

    def start(self) -> None:
        """Start the worker processes now (they import ``preload`` while the caller goes on).

        The pool started here serves the next :meth:`run` when the runner it gets is not
        defined in ``__main__`` (otherwise that run starts workers that load it).
        """
        if self._pool is not None:
            return
        self._pool = self._open(hide_main=True)
        for _ in range(self.workers):
            self._pool.submit(_ready)

    def close(self) -> None:
        """Stop the workers of a pool started by :meth:`start` (no-op otherwise)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> ProcessPoolWindowExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, runner: WindowRunner, jobs: Sequence[WindowJob]) -> Iterator[WindowResult]:
        """Yield results as windows finish."""
        if not jobs:
            return
        hide_main = not _needs_main(runner)
        pool = self._pool
        if pool is not None and self._hides_main != hide_main:
            self.close()
            pool = None
        self._pool = None
        if pool is None:
            pool = self._open(hide_main)
        with pool:
            pending: set[Future[WindowResult]] = {
                pool.submit(runner, j) for j in longest_first(jobs)
            }
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
            pending = [remote.remote(runner, j) for j in longest_first(jobs)]
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
    kind: str,
    workers: int = 1,
    ray_address: str | None = None,
    preload: Sequence[str] = (),
    *,
    fork_when_safe: bool = False,
) -> InProcessExecutor | ProcessPoolWindowExecutor | RayExecutor:
    """Return the executor ``kind`` (``local`` or ``ray``) names; ``local`` with
    ``workers > 1`` is a process pool (see :class:`ProcessPoolWindowExecutor` for ``preload``
    and ``fork_when_safe``)."""
    if kind == "ray":
        return RayExecutor(ray_address, num_cpus=workers if ray_address is None else None)
    if kind != "local":
        raise ValueError(f"--executor must be local or ray, got {kind!r}")
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    if workers == 1:
        return InProcessExecutor()
    return ProcessPoolWindowExecutor(workers, preload, fork_when_safe=fork_when_safe)
