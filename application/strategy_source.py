"""A bar-driven strategy as the engine's signal source.

:class:`StrategySignalSource` shows a strategy every bar through one reused
:class:`EngineBarView` and a :class:`SignalContext` whose order helpers emit signals; the
engine then sizes them and runs them through the risk rules.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.market import Bar
from domain.signal import Signal

__all__ = ["EngineBarView", "SignalContext", "StrategySignalSource", "takes_context"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)

Row = tuple[str, float, float, float, float, float]


class EngineBarView:
    """The bar an engine-run strategy sees: one reused object, updated in place per bar.

    Attributes ``ticker, ts_ns, open, high, low, close, volume, index`` are plain values;
    :attr:`ts` and :meth:`to_bar` build objects on demand. The simulator's ``BarView`` is this
    class.
    """

    __slots__ = ("close", "high", "index", "low", "open", "ticker", "ts_ns", "volume")

    def __init__(self) -> None:
        self.ticker = ""
        self.ts_ns = 0
        self.open = self.high = self.low = self.close = self.volume = 0.0
        self.index = -1

    @property
    def ts(self) -> datetime:
        """Return the bar's end time."""
        return _EPOCH + timedelta(microseconds=self.ts_ns // 1000)

    def to_bar(self) -> Bar:
        """Return a domain :class:`Bar` copy."""
        return Bar(self.ticker, self.ts, self.open, self.high, self.low, self.close,
                   self.volume)


class SignalContext:
    """The strategy context inside the engine: order helpers become signals.

    ``ctx.buy(ticker, qty)`` emits a BUY signal and ``ctx.sell`` / ``ctx.close`` a SELL
    signal for the bar being shown; the engine then sizes them and runs them through the
    risk rules, so the quantity (and order keywords such as ``time_in_force``) are not used
    here: they matter to the simulator's direct-order context only. ``ctx.signal(ticker,
    action, confidence=1.0, size_hint=None)`` emits any signal. ``position``, ``cash`` and
    ``equity`` read the callables given (the CLI passes none: reading them then raises an
    error that says so).
    """

    def __init__(self, view: EngineBarView, name: str = "strategy", *,
                 position: Callable[[str], float] | None = None,
                 cash: Callable[[], float] | None = None,
                 equity: Callable[[], float] | None = None) -> None:
        self.view = view
        self.name = name
        self._position, self._cash, self._equity = position, cash, equity
        self.emitted: list[Signal] = []
        self._seen: set[str] = set()

    def signal(self, ticker: str, action: str, confidence: float = 1.0,
               size_hint: float | None = None) -> Signal:
        """Emit a signal for ``ticker`` stamped with the current bar's time."""
        view = self.view
        base = f"{self.name}:{ticker}:{view.ts_ns}:{action.lower()}"
        sid, n = base, 1
        while sid in self._seen:  # a second signal of the same kind on the same bar
            n += 1
            sid = f"{base}:{n}"
        self._seen.add(sid)
        sig = Signal(signal_id=sid, ticker=ticker, action=action, confidence=confidence,
                     ts=view.ts, size_hint=size_hint, strategy=self.name)
        self.emitted.append(sig)
        return sig

    def buy(self, ticker: str, quantity: float | None = None, **_order_kw: Any) -> str:
        """Emit a BUY signal (the engine sizes it); return its signal id."""
        return self.signal(ticker, "buy").signal_id

    def sell(self, ticker: str, quantity: float | None = None, **_order_kw: Any) -> str:
        """Emit a SELL signal (the engine closes the position); return its signal id."""
        return self.signal(ticker, "sell").signal_id

    def close(self, ticker: str, **_order_kw: Any) -> str:
        """Emit a SELL signal that closes ``ticker``; return its signal id."""
        return self.signal(ticker, "sell").signal_id

    def position(self, ticker: str) -> float:
        """Return the signed quantity held, when the runner provides it."""
        if self._position is None:
            raise RuntimeError("ctx.position is not available in this runner")
        return self._position(ticker)

    @property
    def cash(self) -> float:
        """Return cash, when the runner provides it."""
        if self._cash is None:
            raise RuntimeError("ctx.cash is not available in this runner; give the "
                               "strategy a fixed quantity")
        return self._cash()

    @property
    def equity(self) -> float:
        """Return equity, when the runner provides it."""
        if self._equity is None:
            raise RuntimeError("ctx.equity is not available in this runner")
        return self._equity()


def takes_context(strategy: Any) -> bool:
    """Return whether ``strategy`` (or its ``on_bar``) takes ``(bar, ctx)``, not ``(bar)``."""
    fn = getattr(strategy, "on_bar", strategy)
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in params
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if inspect.isclass(strategy):  # the unbound on_bar also takes self
        positional = positional[1:]
    return len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in params)


class StrategySignalSource:
    """The one :class:`SignalSource` over a bar-driven strategy, for every replay.

    The strategy protocol is ``on_bar(bar, ctx) -> signals | None`` (an object with that
    method, or a plain callable): ``bar`` is one reused view updated in place for every bar
    (attributes ``ticker, ts_ns, open, high, low, close, volume, index``; ``ts`` and
    ``to_bar()`` on demand), so no object is built per bar; ``ctx`` is a
    :class:`SignalContext` (``buy``/``sell``/``close``/``signal`` emit signals) unless a
    ``context`` is given. A strategy taking one domain :class:`Bar` (``on_bar(bar)``, the
    :class:`Strategy` port) is also accepted and gets domain bars. Bars arrive per step either as domain
    bars (:meth:`observe`, the engine) or as plain rows (:meth:`feed`, the array replay);
    tickers of a step are shown in ticker order. :meth:`poll` returns the signals produced
    with ``ts <= now`` that were not returned before.
    """

    def __init__(self, strategy: Any, context: object | None = None,
                 view: Any | None = None, *, name: str = "strategy") -> None:
        fn = getattr(strategy, "on_bar", None)
        self._fn: Callable[..., Iterable[Signal] | None] = fn if fn is not None else strategy
        if context is None and takes_context(strategy):
            view = EngineBarView()
            context = SignalContext(view, name)
        self._ctx = context
        self._view = view
        self._pending: list[Signal] = []

    def observe(self, bars: Mapping[str, Bar]) -> None:
        """Feed one step's domain bars to the strategy (in ticker order)."""
        if self._ctx is None:
            for t in sorted(bars):
                out = self._fn(bars[t])
                if out:
                    self._pending.extend(out)
            return
        rows = [(t, b.open, b.high, b.low, b.close, b.volume)
                for t, b in sorted(bars.items())]
        if rows:
            ts = next(iter(bars.values())).ts
            self.feed((ts - _EPOCH) // _US * 1000, rows)

    def feed(self, ts_ns: int, rows: Iterable[Row]) -> None:
        """Feed one step's plain rows ``(ticker, open, high, low, close, volume)``."""
        fn, ctx, view, pending = self._fn, self._ctx, self._view, self._pending
        if ctx is None or view is None:
            ts = _EPOCH + timedelta(microseconds=ts_ns // 1000)
            for t, o, h, lo, c, v in sorted(rows):
                out = fn(Bar(t, ts, o, h, lo, c, v))
                if out:
                    pending.extend(out)
            return
        for t, o, h, lo, c, v in rows:
            view.ticker, view.ts_ns = t, ts_ns
            view.open, view.high, view.low, view.close, view.volume = o, h, lo, c, v
            view.index += 1
            out = fn(view, ctx)
            if out:
                pending.extend(out)
        emitted = getattr(ctx, "emitted", None)
        if emitted:
            pending.extend(emitted)
            emitted.clear()

    def poll(self, now: datetime) -> Sequence[Signal]:
        """Return the signals with ``ts <= now`` not returned before."""
        ready = [s for s in self._pending if s.ts <= now]
        if ready:
            self._pending = [s for s in self._pending if s.ts > now]
        return ready
