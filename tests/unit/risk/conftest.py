"""Fixtures of the risk tests."""

from __future__ import annotations

import tests.unit.risk.mappingproxy_copy  # noqa: F401 - see the module's docstring
