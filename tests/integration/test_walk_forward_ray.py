"""A small walk-forward through a local Ray runtime gives the in-process result."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.validation.executors import InProcessExecutor, RayExecutor
from adapters.validation.store import MemoryWalkForwardStore
from application.walk_forward import plan_jobs, walk_forward
from domain.validation.windows import Span, walk_forward_windows
from tests.unit.application.walk_forward_support import ThresholdRunner, planted_edge

try:
    import ray
except ImportError:  # pragma: no cover - depends on the installed extras
    if os.environ.get("CI") == "true":
        raise  # the ray extra is part of the test install: missing is a failure in CI
    pytest.skip("ray is not installed (pip install 'catalyst-trader[ray]')",
                allow_module_level=True)


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    # Workers import the runner from this checkout (the tests package is not installed).
    root = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": path}})
    try:
        yield
    finally:
        ray.shutdown()


@pytest.mark.timeout(300)
def test_a_walk_forward_runs_through_a_local_ray_runtime(local_ray: None) -> None:
    n = 1200
    r, s = planted_edge(n, 5, 0.4)
    runner = ThresholdRunner(tuple(r), tuple(s), (-9.0, 0.0, 0.5, 9.0))
    days = [dt.date(2018, 1, 1) + dt.timedelta(days=i) for i in range(n)]
    jobs = plan_jobs(days, walk_forward_windows(n, train=Span(400), test=Span(200),
                                                embargo=5), {})
    via_ray = walk_forward(runner, RayExecutor(), jobs, MemoryWalkForwardStore(), "r")
    local = walk_forward(runner, InProcessExecutor(), jobs, MemoryWalkForwardStore(), "r")
    assert len(via_ray.windows) == len(jobs) == 3
    assert ray.is_initialized()  # a runtime the caller started is left running
    assert via_ray.to_json() == local.to_json()
