"""Another bot using Catalyst Trader's core as a library (run: ``python docs/examples/embed_bot.py``).

The bot brings its own pieces and wires them in its own dependency-injector container:

- ``GapSignals``: its own signal source (the ``SignalSource`` port): buy a ticker after a
  close more than 2 % above the previous close;
- ``InstantBroker``: its own broker adapter (the ``BrokerPort`` port): fills market orders
  immediately at the last price, money through the domain ``Ledger``;

and reuses the core: the executor (sizing, ATR plan, risk checks, persist-before-send,
fills), the position monitor (stops, targets, trailing and time exits), the tracker and
the engine, persisting to a SQLite file.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Literal

from dependency_injector import containers, providers

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from adapters.data.sample import sample_paths  # noqa: E402
from adapters.memory.feed import InMemoryPriceFeed  # noqa: E402
from adapters.memory.notifier import RecordingNotifier  # noqa: E402
from adapters.sources.market import load_daily_bars  # noqa: E402
from adapters.sqlalchemy import make_engine, sql_uow_factory  # noqa: E402
from application.engine import BarReplay, Engine, EngineConfig, MarketStep  # noqa: E402
from application.executor import ExecutorConfig, OrderExecutor  # noqa: E402
from application.monitor import MonitorConfig, PositionMonitor  # noqa: E402
from application.risk import RiskService  # noqa: E402
from application.tracker import PortfolioTracker  # noqa: E402
from domain.account import Account, BrokerPosition  # noqa: E402
from domain.clock import TestClock  # noqa: E402
from domain.commands import SubmitOrder  # noqa: E402
from domain.errors import DuplicateClientOrderId, InvalidOrder, OrderNotFound  # noqa: E402
from domain.events import Fill, OrderEvent, OrderFilled, OrderStatus  # noqa: E402
from domain.market import Bar, MarketClock  # noqa: E402
from domain.orders import OrderReport  # noqa: E402
from domain.portfolio import Ledger  # noqa: E402
from domain.risk.config import RiskConfig  # noqa: E402
from domain.signal import Signal  # noqa: E402
from domain.values import OrderType  # noqa: E402


class GapSignals:
    """The bot's own signal source: a close 2 % above the previous close is a buy."""

    def __init__(self, feed: InMemoryPriceFeed, tickers: Sequence[str]) -> None:
        self.feed = feed
        self.tickers = list(tickers)

    def poll(self, now: datetime) -> Sequence[Signal]:
        out = []
        for t in self.tickers:
            bars = self.feed.get_bars(t, now - timedelta(days=5), now)
            if len(bars) >= 2 and bars[-1].ts == now and bars[-1].close > bars[-2].close * 1.02:
                out.append(Signal(signal_id=f"gap-{t}-{now.date()}", ticker=t, action="buy",
                                  confidence=0.8, ts=now, strategy="gap"))
        return out


class InstantBroker:
    """The bot's own broker adapter: market orders fill at once at the last price."""

    def __init__(self, cash: Decimal, clock: TestClock) -> None:
        self.ledger = Ledger(cash=cash)
        self.clock = clock
        self.prices: dict[str, Decimal] = {}
        self.reports: dict[str, OrderReport] = {}
        self.events: list[OrderEvent] = []

    def on_step(self, step: MarketStep) -> None:
        for t, b in step.bars.items():
            self.prices[t] = Decimal(repr(b.close))

    def submit_order(self, request: SubmitOrder) -> OrderReport:
        if request.client_order_id in self.reports:
            raise DuplicateClientOrderId(request.client_order_id)
        price = self.prices.get(request.ticker)
        if request.order_type is not OrderType.MARKET or price is None:
            raise InvalidOrder("InstantBroker takes market orders on known tickers only",
                               request.client_order_id)
        now = self.clock.now()
        fill = Fill(fill_id=f"{request.client_order_id}-1", client_order_id=request.client_order_id,
                    ticker=request.ticker, side=request.side, quantity=request.quantity,
                    price=price, ts_event=now)
        self.ledger.apply_fill(fill)
        report = OrderReport(
            client_order_id=request.client_order_id, broker_order_id=request.client_order_id,
            ticker=request.ticker, side=request.side, quantity=request.quantity,
            order_type=request.order_type, status=OrderStatus.NEW, created_at=now)
        self.reports[request.client_order_id] = report
        self.events.append(OrderFilled(client_order_id=request.client_order_id, ts_event=now,
                                       broker_order_id=request.client_order_id, fill=fill))
        return report

    def cancel_order(self, client_order_id: str) -> None:
        if client_order_id not in self.reports:
            raise OrderNotFound(client_order_id)

    def get_order(self, broker_order_id: str) -> OrderReport:
        if broker_order_id not in self.reports:
            raise OrderNotFound(broker_order_id)
        return self.reports[broker_order_id]

    def get_order_by_client_id(self, client_order_id: str) -> OrderReport | None:
        return self.reports.get(client_order_id)

    def list_orders(self, status: Literal["open", "closed", "all"] = "open"
                    ) -> list[OrderReport]:
        return [] if status == "open" else list(self.reports.values())

    def get_positions(self) -> list[BrokerPosition]:
        return [BrokerPosition(t, p.signed_quantity, p.avg_entry_price)
                for t, p in self.ledger.positions.items()]

    def get_account(self) -> Account:
        return self.ledger.account(self.prices, ts=self.clock.now())

    def close_position(self, ticker: str) -> OrderReport | None:
        return None

    def close_all_positions(self, cancel_orders: bool = True) -> list[OrderReport]:
        return []

    def get_clock(self) -> MarketClock:
        now = self.clock.now()
        return MarketClock(timestamp=now, is_open=True, next_open=now, next_close=now)

    def poll_events(self) -> list[OrderEvent]:
        out, self.events = self.events, []
        return out


class BotContainer(containers.DeclarativeContainer):
    """The bot's own container: its adapters plus the core's use cases."""

    config = providers.Configuration()
    clock = providers.Singleton(TestClock, config.start)
    feed = providers.Singleton(InMemoryPriceFeed)
    broker = providers.Singleton(InstantBroker, cash=config.cash, clock=clock)
    uow = providers.Singleton(lambda url: sql_uow_factory(make_engine(url))(), config.db_url)
    risk = providers.Singleton(RiskService, uow=uow, broker=broker, notifier=providers.Singleton(
        RecordingNotifier), clock=clock, config=providers.Singleton(
        RiskConfig, max_price_age_s=5 * 86400.0))
    source = providers.Singleton(GapSignals, feed=feed, tickers=config.tickers)
    executor = providers.Singleton(OrderExecutor, broker=broker, feed=feed, risk=risk,
                                   config=providers.Singleton(ExecutorConfig, threshold=0.6))
    monitor = providers.Singleton(PositionMonitor, executor=executor,
                                  config=providers.Singleton(MonitorConfig))
    tracker = providers.Singleton(PortfolioTracker, run_id="gap-bot")
    engine = providers.Singleton(
        Engine, uow=uow, broker=broker, feed=feed, source=source, executor=executor,
        monitor=monitor, tracker=tracker, clock=clock,
        config=providers.Singleton(EngineConfig, run_id="gap-bot", kind="embedded"), risk=risk)


def main() -> int:
    bars: list[Bar] = [b for b in load_daily_bars(sample_paths().prices)
                       if b.ticker in ("AAPL", "MSFT") and b.ts.year == 2014]
    with tempfile.TemporaryDirectory() as tmp:
        c = BotContainer()
        c.config.from_dict({"start": bars[0].ts, "cash": Decimal(50_000),
                            "db_url": f"sqlite:///{tmp}/bot.db", "tickers": ["AAPL", "MSFT"]})
        clock, feed, broker = c.clock(), c.feed(), c.broker()

        def move(step: MarketStep) -> None:
            if step.ts > clock.now():
                clock.set(step.ts)
            for b in step.bars.values():
                feed.push(b)
            broker.on_step(step)

        result = c.engine().run(BarReplay(bars, [move], [move]))
        with c.uow() as u:
            closed = u.positions.list_closed()
            pnl = sum((x.realized_pnl for x in closed), Decimal(0))
        print(f"gap-bot: {result.status}, {result.steps} steps, {result.signals} signals, "
              f"{result.orders} orders, {len(closed)} closed trades, realized P&L {pnl:.2f}, "
              f"equity {broker.get_account().equity:.2f}")
    return 0 if result.status == "finished" and closed else 1


if __name__ == "__main__":
    raise SystemExit(main())
