"""Risk scenarios on real prices: the bundled sample's 5 February 2018 crash (the book of eight
large caps lost 3.27 % in a day) trips the daily-loss breaker, entries stop, resume needs a named
approval, and the state survives a restart; the 2008 crash in ../shared/data trips the drawdown
breaker measured from the peak."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path

import attrs
import pandas as pd
import pytest

from adapters.data.ohlcv import load_ohlcv
from adapters.data.sample import sample_paths
from adapters.memory.broker import FakeBroker
from adapters.memory.notifier import RecordingNotifier
from adapters.memory.uow import InMemoryUnitOfWork
from adapters.sqlalchemy import sql_uow_factory
from application.ports import UnitOfWork
from application.risk import RiskService
from domain.account import Account
from domain.audit import Severity
from domain.clock import TestClock
from domain.events import RiskState
from domain.risk import (
    Holding,
    MarketView,
    OrderIntent,
    Purpose,
    Quote,
    ResumeRefused,
    RiskConfig,
)
from domain.risk.decision import RiskDecision

D = Decimal
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def names_rule_value_limit(d: RiskDecision) -> bool:
    return d.rule in d.message and d.value_text in d.message and d.limit_text in d.message


def _close_ts(d: date) -> datetime:
    return datetime.combine(d, time(21, 0), UTC)  # 16:00 New York, after the close


@attrs.define
class Book:
    """A minimal ledger standing in for the engine's portfolio: fills at the given price."""

    cash: Decimal
    qty: dict[str, Decimal] = attrs.field(factory=dict)

    def fill(self, it: OrderIntent) -> None:
        self.cash -= it.side.sign * it.quantity * it.price
        q = self.qty.get(it.ticker, D(0)) + it.side.sign * it.quantity
        if q == 0:
            self.qty.pop(it.ticker, None)
        else:
            self.qty[it.ticker] = q

    def holdings(self, px: dict[str, Decimal]) -> list[Holding]:
        return [Holding(t, q, px[t]) for t, q in self.qty.items()]

    def account(self, px: dict[str, Decimal]) -> Account:
        eq = self.cash + sum((q * px[t] for t, q in self.qty.items()), D(0))
        return Account(cash=self.cash, equity=eq, buying_power=max(self.cash, D(0)))


def _market(day: date, px: dict[str, Decimal], hi: dict[str, Decimal],
            lo: dict[str, Decimal]) -> MarketView:
    ts = _close_ts(day)
    return MarketView(now=ts, quotes={
        t: Quote(price=p, ts=ts, day_low=lo[t], day_high=hi[t]) for t, p in px.items()})


def _days(frame: pd.DataFrame, start: str, end: str
          ) -> Iterator[tuple[date, dict[str, Decimal], dict[str, Decimal], dict[str, Decimal]]]:
    f = frame[(frame["date"] >= start) & (frame["date"] <= end)]
    for d, g in f.groupby("date", sort=True):
        def col(c: str, g: pd.DataFrame = g) -> dict[str, Decimal]:
            return {str(t): D(repr(float(v))) for t, v in zip(g["ticker"], g[c], strict=True)}
        yield pd.Timestamp(d).date(), col("close"), col("high"), col("low")


def _entry(t: str, price: Decimal, equity: Decimal, pct: str = "0.095",
           purpose: Purpose = Purpose.ENTRY) -> OrderIntent:
    qty = (equity * D(pct) / price).quantize(D(1))
    return OrderIntent(ticker=t, side="buy", quantity=qty, price=price,
                       stop_loss=(price * D("0.92")).quantize(D("0.01")), purpose=purpose,
                       strategy="catalyst", client_order_id=f"e-{t}")


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return load_ohlcv(sample_paths().prices)


def _service(uow: UnitOfWork, notifier: RecordingNotifier | None = None,
             config: RiskConfig | None = None) -> RiskService:
    clock = TestClock(datetime(2018, 1, 2, tzinfo=UTC))
    return RiskService(uow, FakeBroker(D(100_000), clock=clock), notifier or RecordingNotifier(),
                       clock, config)


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_crash_day_trips_breaker_and_engine_stops_entering_until_approved_resume(
    sample: pd.DataFrame, store: str, tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'catalyst.db'}"
    uow: UnitOfWork = InMemoryUnitOfWork() if store == "memory" else sql_uow_factory(url)()
    notes = RecordingNotifier()
    svc = _service(uow, notes)
    book = Book(D(100_000))
    days = list(_days(sample, "2018-01-02", "2018-02-07"))
    d0, px0, hi0, lo0 = days[0]
    svc.step(book.account(px0), _market(d0, px0, hi0, lo0), [])
    for t in sorted(px0):  # eight entries of 9.5 %, each through the pre-trade checks
        it = _entry(t, px0[t], book.account(px0).equity)
        d = svc.check_order(it, book.account(px0), book.holdings(px0), _market(d0, px0, hi0, lo0))
        assert d.approved, d.message
        book.fill(it)
    assert len(book.qty) == 8

    tripped_on: date | None = None
    refused_after_trip = 0
    for day, px, hi, lo in days[1:]:
        m = _market(day, px, hi, lo)
        rep = svc.step(book.account(px), m, book.holdings(px))
        if rep.trading_state is not RiskState.ACTIVE and tripped_on is None:
            tripped_on = day
            trip = next(e for e in rep.events if e.kind == "trip")
            assert trip.rule == "daily_loss"
            assert trip.value == "3.27%" and trip.limit == "3.00%"
            assert "daily_loss" in trip.message and "3.27%" in trip.message \
                and "3.00%" in trip.message
        if tripped_on is not None:
            # the engine's strategy keeps asking to buy the dip: every entry is refused
            it = _entry("AAPL", px["AAPL"], book.account(px).equity, pct="0.01")
            d = svc.check_order(it, book.account(px), book.holdings(px), m)
            assert not d.approved
            assert d.rule == "trading_state" and names_rule_value_limit(d)
            refused_after_trip += 1
    assert tripped_on == date(2018, 2, 5)
    assert refused_after_trip == 3  # 5, 6 and 7 February
    assert svc.trading_state() is RiskState.HALTED
    critical = [n for n in notes.sent if n.severity is Severity.CRITICAL]
    assert critical and "daily_loss" in critical[0].title

    # a protective stop on a held position still goes out while halted
    day, px, hi, lo = days[-1]
    m = _market(day, px, hi, lo)
    stop = OrderIntent(ticker="XOM", side="sell", quantity=book.qty["XOM"], price=px["XOM"],
                       purpose=Purpose.PROTECTIVE)
    assert svc.check_order(stop, book.account(px), book.holdings(px), m).approved

    # restart: a new service over the same store is still halted, with the same baselines
    before = svc.current()
    # (on SQLite: a new engine and unit of work, as a new process would open)
    if store == "sqlite":
        uow = sql_uow_factory(url)()
    restarted = _service(uow)
    assert restarted.current() == before
    assert restarted.trading_state() is RiskState.HALTED
    again = restarted.step(book.account(px), m, book.holdings(px))
    assert again.trading_state is RiskState.HALTED

    # resume needs an explicit, named approval; it is recorded with who and why
    with pytest.raises(ResumeRefused):
        restarted.resume("alice", "looked fine")
    with pytest.raises(ResumeRefused):
        restarted.resume("  ", "x", approve=True)
    assert restarted.trading_state() is RiskState.HALTED
    st = restarted.resume("alice", "crash absorbed, limits reviewed", approve=True,
                          ts=_close_ts(day))
    assert st.state is RiskState.ACTIVE and st.resumed_by == "alice"
    with uow:
        resumes = [e for e in uow.journal.risk_events() if e.kind == "resume"]
    assert resumes[-1].actor == "alice"
    assert resumes[-1].data["tripped_rules"] == ["daily_loss"]
    it = _entry("AAPL", px["AAPL"], book.account(px).equity, pct="0.01")
    assert restarted.check_order(it, book.account(px), book.holdings(px), m).approved


def test_day_before_the_crash_warns_but_does_not_trip(sample: pd.DataFrame) -> None:
    uow = InMemoryUnitOfWork()
    svc = _service(uow, config=RiskConfig(max_daily_loss_pct=D("0.02")))
    book = Book(D(100_000))
    days = list(_days(sample, "2018-01-02", "2018-02-02"))
    d0, px0, _, _ = days[0]
    for t in sorted(px0):
        book.fill(_entry(t, px0[t], D(100_000)))
    kinds: list[tuple[date, str, str]] = []
    for day, px, hi, lo in days:
        rep = svc.step(book.account(px), _market(day, px, hi, lo), book.holdings(px))
        kinds += [(day, e.kind, e.rule) for e in rep.events]
    # 2 February: -1.82 %, above 80 % of a 2 % limit: warned, not tripped
    assert (date(2018, 2, 2), "warning", "daily_loss") in kinds
    assert svc.trading_state() is RiskState.ACTIVE


@pytest.mark.skipif(not (SHARED / "prices_daily_quandl_wiki_2000_2013.csv").is_file(),
                    reason="../shared/data/prices_daily_quandl_wiki_2000_2013.csv is absent")
def test_2008_crash_trips_drawdown_from_the_peak_not_the_start() -> None:
    frame = load_ohlcv(SHARED / "prices_daily_quandl_wiki_2000_2013.csv")
    frame = frame[frame["ticker"].isin(["AAPL", "IBM", "MSFT", "GOOG"])]
    uow = InMemoryUnitOfWork()
    # a wide daily-loss limit, so the drawdown breaker is the one that speaks
    cfg = RiskConfig(max_daily_loss_pct=D("0.5"), max_position_pct=D("0.25"),
                     max_ticker_pct=D("0.25"), max_cluster_pct=D("1.0"))
    svc = _service(uow, config=cfg)
    book = Book(D(100_000))
    days = list(_days(frame, "2008-05-01", "2008-12-31"))
    d0, px0, _, _ = days[0]
    for t in sorted(px0):
        book.fill(_entry(t, px0[t], D(100_000), pct="0.24"))
    equities: list[Decimal] = []
    trip_day = None
    for i, (day, px, hi, lo) in enumerate(days):
        if i and i % 40 == 0:  # restarts along the way change nothing
            svc = _service(uow, config=cfg)
        eq = book.account(px).equity
        equities.append(eq)
        rep = svc.step(book.account(px), _market(day, px, hi, lo), book.holdings(px))
        if rep.trading_state is RiskState.HALTED:
            trip_day = day
            assert [e.rule for e in rep.events if e.kind == "trip"] == ["drawdown"]
            break
    assert trip_day is not None
    peak = max(equities)
    assert equities[-1] <= peak * D("0.9") < min(equities[:-1][equities.index(peak):] or [peak])
    assert svc.current().peak_equity == peak
    # 2 July 2008: $92,039 is 10.3 % below the $102,609 peak but only 8.0 % below the start:
    # a drawdown measured from the start would not have tripped yet
    assert trip_day == date(2008, 7, 2)
    assert equities[-1] > D(100_000) * D("0.9")
