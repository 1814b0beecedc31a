"""Helpers of the simulated-exchange tests."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from adapters.simulated import ExchangeConfig, SimulatedExchange
from adapters.simulated.replay import ReplayClock
from adapters.simulated.sessions import ns_from_dt

T0 = ns_from_dt(datetime(2024, 1, 2, 21, tzinfo=UTC))
MIN = 60_000_000_000


def make(**cfg: object) -> tuple[SimulatedExchange, ReplayClock]:
    """Return an always-open exchange (unless ``calendar`` is given) and its clock."""
    cfg.setdefault("calendar", None)
    cfg.setdefault("starting_cash", Decimal(100_000))
    clock = ReplayClock(datetime(2024, 1, 2, 21, tzinfo=UTC))
    return SimulatedExchange(ExchangeConfig(**cfg), clock=clock), clock  # type: ignore[arg-type]


def step(ex: SimulatedExchange, clock: ReplayClock, ts_ns: int, ticker: str, o: float,
         h: float, lo: float, c: float, v: float = 1e6) -> None:
    """Move the clock to ``ts_ns`` and push one bar."""
    clock.set_ns(ts_ns)
    ex.on_bar(ticker, ts_ns, o, h, lo, c, v)
