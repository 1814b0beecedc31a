"""Fixtures of the contract suites: one parametrised fixture per port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.contract.harness import BrokerHarness, harness_factories

_HARNESSES = harness_factories()


@pytest.fixture(params=sorted(_HARNESSES), ids=sorted(_HARNESSES))
def harness(request: pytest.FixtureRequest) -> Iterator[BrokerHarness]:
    """Yield a fresh harness of each registered BrokerPort implementation."""
    h = _HARNESSES[request.param]()
    try:
        yield h
    finally:
        h.close()
