"""A pytest plugin that records which tests execute which lines of the mutated files.

Loaded with ``-p bench.mutation.trace_plugin`` by the mutation runner's first pass; it reads
``MUTATION_TRACE_TARGETS`` (absolute file paths, ``os.pathsep``-separated) and writes
``MUTATION_TRACE_OUT`` as JSON: ``{"lines": {file: {line: [nodeid, ...]}}, "durations": {nodeid:
seconds}}``. Lines run outside any test (module and class bodies, at import) are credited to the
pseudo-test ``"<import>"``; a mutant there is run against every test.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Generator
from types import FrameType
from typing import Any

import pytest

IMPORT = "<import>"
_targets = frozenset(p for p in os.environ.get("MUTATION_TRACE_TARGETS", "").split(os.pathsep) if p)
_hits: dict[str, dict[int, set[str]]] = {}
_durations: dict[str, float] = {}
_failed: set[str] = set()
_current = IMPORT


def _local(frame: FrameType, event: str, arg: Any) -> Any:
    if event == "line":
        _hits.setdefault(frame.f_code.co_filename, {}).setdefault(frame.f_lineno, set()).add(_current)
    return _local


def _global(frame: FrameType, event: str, arg: Any) -> Any:
    if frame.f_code.co_filename in _targets:
        return _local
    return None


# Tracing starts as soon as pytest loads this plugin, before any conftest imports the project, so
# the lines run at import time (module and class bodies, defaults) are seen too.
sys.settrace(_global)
threading.settrace(_global)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None]:
    global _current
    _current = item.nodeid
    if sys.gettrace() is not _global:
        sys.settrace(_global)  # a test may have replaced or cleared the tracer
    start = time.perf_counter()
    yield
    _durations[item.nodeid] = time.perf_counter() - start
    _current = IMPORT


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.failed:
        _failed.add(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    sys.settrace(None)
    threading.settrace(None)  # type: ignore[arg-type]
    out = os.environ.get("MUTATION_TRACE_OUT")
    if not out:
        return
    lines = {f: {str(n): sorted(ids) for n, ids in by_line.items()} for f, by_line in _hits.items()}
    with open(out, "w", encoding="utf-8") as fh:
        json.dump({"lines": lines, "durations": _durations, "failed": sorted(_failed),
                   "exitstatus": int(exitstatus)}, fh)
