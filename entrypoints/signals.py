"""OS signals belong to the entrypoint: SIGINT and SIGTERM ask a running job to stop cleanly."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any


@contextmanager
def stop_on_signals(request_stop: Callable[[], None]) -> Iterator[None]:
    """Call ``request_stop`` on SIGINT or SIGTERM while the block runs; restore the old handlers.

    Off the main thread (where Python cannot install handlers) the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved: list[tuple[signal.Signals, Any]] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        request_stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        saved.append((sig, signal.getsignal(sig)))
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in saved:
            signal.signal(sig, old)
