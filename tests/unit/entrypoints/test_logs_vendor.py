"""Third-party log records (alpaca-py, websockets) go through the same redactor as ours."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from entrypoints.logs import MASK, configure_logging

KEY = "PKVENDORLOG000000001"
SECRET = "vendorLogSecret0000000000000000000000001"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _raise_and_log(name: str) -> None:
    try:
        raise ConnectionRefusedError(f"connect failed for wss://user:{SECRET}@host ({KEY})")
    except ConnectionRefusedError:
        logging.getLogger(name).exception("error during websocket communication")


def test_vendor_traceback_when_it_carries_secrets_then_masked_and_cut_to_one_line() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", secrets=[KEY, SECRET], stream=stream)
    _raise_and_log("vendor.stream")
    text = stream.getvalue()
    assert KEY not in text and SECRET not in text and MASK in text
    assert "Traceback" not in text
    assert text.splitlines() == [
        "ERROR vendor.stream: error during websocket communication",
        f"  ConnectionRefusedError: connect failed for wss://user:{MASK}@host ({MASK})"]


def test_vendor_traceback_when_debug_then_whole_stack_still_masked() -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", "json", secrets=[KEY, SECRET], stream=stream)
    _raise_and_log("vendor.stream")
    text = stream.getvalue()
    assert "Traceback (most recent call last)" in text
    assert KEY not in text and SECRET not in text
