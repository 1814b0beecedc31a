"""Fixtures of the Alpaca unit tests."""

# the in-memory UoW deep-copies RiskEvent.data (a mappingproxy); same workaround as the risk tests
import tests.unit.risk.mappingproxy_copy  # noqa: F401
