"""A loopback Alpaca-compatible server (REST + trade-updates stream) with seeded fault injection."""

from adapters.alpaca_server.faults import FaultPlan, FaultSpecError
from adapters.alpaca_server.server import ACCOUNT_NUMBER, AlpacaCompatServer

__all__ = ["ACCOUNT_NUMBER", "AlpacaCompatServer", "FaultPlan", "FaultSpecError"]
