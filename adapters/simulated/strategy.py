"""Bar strategies on the simulated exchange: the reused :class:`BarView` a strategy sees (the
engine's :class:`~application.strategy_source.EngineBarView`, so a strategy sees the same bar
in both), the :class:`StrategyContext` order helpers, one strategy per ticker
(:class:`PerTicker`) and signals turned into orders (:func:`signals_to_orders`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any, Protocol

from adapters.simulated.exchange import SimulatedExchange
from application.strategy_source import EngineBarView
from domain.commands import SubmitOrder
from domain.signal import Signal
from domain.values import Action, Side

#: the bar a strategy sees, the same class in the simulator and in the engine
BarView = EngineBarView


class StrategyContext:
    """What a strategy may do besides returning signals: read the account, place orders.

    Order helpers build a deterministic client order id from the strategy name, the ticker,
    the bar time and a counter, and submit to the exchange (orders fill on later bars).
    """

    def __init__(self, exchange: SimulatedExchange, name: str = "strategy") -> None:
        self.exchange = exchange
        self.name = name
        self._n = 0
        # short and deterministic: strategy name plus a counter (no hashing per order)
        self._prefix = "ct-" + "".join(ch for ch in name if ch.isalnum())[:16]
        self.rejected: list[str] = []

    def position(self, ticker: str) -> float:
        """Return the signed quantity held (float)."""
        return self.exchange.pos_f.get(ticker, 0.0)

    @property
    def cash(self) -> float:
        """Return cash (float)."""
        return self.exchange.cash_f

    @property
    def equity(self) -> float:
        """Return equity at the last closes (float)."""
        return self.exchange.equity_f()

    def order(self, ticker: str, quantity: float, **kw: Any) -> str | None:
        """Submit an order for a signed ``quantity`` (negative sells); return its id.

        A refused order (buying power, price) returns None and is listed in ``rejected``.
        """
        from domain.errors import OrderRejected

        if quantity == 0:
            return None
        self._n += 1
        coid = f"{self._prefix}-{self._n}"
        side = Side.BUY if quantity > 0 else Side.SELL
        q = abs(quantity)
        qty = Decimal(int(q)) if q == int(q) else Decimal(repr(q))
        try:
            self.exchange.submit(SubmitOrder(client_order_id=coid, ticker=ticker,
                                                   side=side, quantity=qty, **kw))
        except OrderRejected as exc:
            self.rejected.append(str(exc))
            return None
        return coid

    def buy(self, ticker: str, quantity: float, **kw: Any) -> str | None:
        """Buy ``quantity`` (market by default; pass ``order_type``/prices for others)."""
        return self.order(ticker, abs(quantity), **kw)

    def sell(self, ticker: str, quantity: float, **kw: Any) -> str | None:
        """Sell ``quantity``."""
        return self.order(ticker, -abs(quantity), **kw)

    def close(self, ticker: str, **kw: Any) -> str | None:
        """Flatten ``ticker`` with a market order (``kw``: e.g. ``time_in_force``)."""
        return self.order(ticker, -self.position(ticker), **kw)


class BarStrategy(Protocol):
    """A bar-driven strategy for embedding: returns signals or uses the context's orders."""

    def on_bar(self, bar: BarView, ctx: StrategyContext) -> Iterable[Signal] | None:
        """React to one bar; return signals (or None)."""
        ...


StrategyLike = BarStrategy | Callable[[BarView, StrategyContext], Iterable[Signal] | None]


class PerTicker:
    """One strategy instance per ticker, made on the ticker's first bar by ``factory``.

    Strategies that keep per-series state (moving averages, positions) must see one
    ticker's bars only: ``run_strategy(replay, exchange, PerTicker(lambda: SmaCross(10,
    30)))`` runs one :class:`~adapters.simulated.examples.SmaCross` per ticker over a
    shared multi-ticker replay. ``strategies`` maps each ticker to its instance.
    """

    def __init__(self, factory: Callable[[], StrategyLike]) -> None:
        self.factory = factory
        self.strategies: dict[str, StrategyLike] = {}
        self._fns: dict[str, Callable[[BarView, StrategyContext],
                                      Iterable[Signal] | None]] = {}

    def on_bar(self, bar: BarView, ctx: StrategyContext) -> Iterable[Signal] | None:
        """Pass the bar to its ticker's strategy."""
        fn = self._fns.get(bar.ticker)
        if fn is None:
            strategy = self.strategies[bar.ticker] = self.factory()
            fn = self._fns[bar.ticker] = strategy_callable(strategy)
        return fn(bar, ctx)


def strategy_callable(strategy: StrategyLike) -> Callable[[BarView, StrategyContext],
                                                  Iterable[Signal] | None]:
    on_bar = getattr(strategy, "on_bar", None)
    if on_bar is not None:
        return on_bar  # type: ignore[no-any-return]
    return strategy  # type: ignore[return-value]


def signals_to_orders(ctx: StrategyContext, signals: Iterable[Signal]) -> None:
    """Turn signals into orders the simple way (no risk layer): BUY spends ``size_hint``
    (default all) of equity on a market buy, SELL closes the position (HOLD is ignored).

    The trading engine (application/engine.py) routes signals through sizing and risk instead.
    """
    for s in signals:
        if s.action is Action.BUY:
            last = ctx.exchange._last.get(s.ticker)
            if last is None:
                continue
            qty = math.floor(ctx.cash * (s.size_hint or 1.0) / last[4])
            ctx.buy(s.ticker, qty)
        elif s.action is Action.SELL:
            ctx.close(s.ticker)
