"""Workaround until the lead fixes it: ``copy.deepcopy`` (used by the in-memory unit of work)
cannot copy the ``MappingProxyType`` held in ``RiskEvent.data``; teach copy/pickle to rebuild one
from a dict. Imported for its side effect by the risk tests only."""

from __future__ import annotations

import copyreg
from types import MappingProxyType
from typing import Any


def _reduce(m: MappingProxyType[Any, Any]) -> tuple[Any, tuple[dict[Any, Any]]]:
    return MappingProxyType, (dict(m),)


copyreg.pickle(MappingProxyType, _reduce)  # type: ignore[arg-type]
