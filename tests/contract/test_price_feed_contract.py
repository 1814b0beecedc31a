"""PriceFeedPort contract: every price feed must pass these numbered cases (PF-..).

Runs against the in-memory fake, the simulated exchange and the Alpaca feed (real alpaca-py
SDK -> loopback server, started once for the module). Daily bars stamped at 21:00 UTC.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from adapters.alpaca_server import AlpacaCompatServer
from adapters.alpaca_server.server import default_exchange
from domain.errors import InvalidInput
from domain.market import Bar
from tests.contract.harness_alpaca import TEST_KEY, TEST_SECRET
from tests.contract.harness_feeds import (
    AlpacaFeedHarness,
    FeedHarness,
    MemoryFeedHarness,
    SimulatedFeedHarness,
)

T0 = datetime(2024, 1, 2, 21, tzinfo=UTC)


@pytest.fixture(scope="module")
def alpaca_server() -> Iterator[AlpacaCompatServer]:
    server = AlpacaCompatServer(default_exchange(), api_key=TEST_KEY, secret_key=TEST_SECRET)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["memory", "simulated", "alpaca"])
def h(request: pytest.FixtureRequest) -> FeedHarness:
    if request.param == "memory":
        return MemoryFeedHarness()
    if request.param == "simulated":
        return SimulatedFeedHarness(T0 - timedelta(days=1))
    return AlpacaFeedHarness(request.getfixturevalue("alpaca_server"))


def _bar(ticker: str, day: int, close: float, volume: float = 1_000_000) -> Bar:
    return Bar(ticker, T0 + timedelta(days=day), close - 1, close + 2, close - 2, close, volume)


def _series(h: FeedHarness, ticker: str, closes: list[float]) -> list[Bar]:
    out = [_bar(ticker, i, c) for i, c in enumerate(closes)]
    for b in out:
        h.push(b)
    return out


def test_pf01_unknown_ticker_has_no_price_no_bar_and_no_history(h: FeedHarness) -> None:
    _series(h, h.sym("KNOWN"), [100.0])
    nope = h.sym("NOPE")
    assert h.feed.latest_price(nope) is None
    assert h.feed.latest_bar(nope) is None
    assert h.feed.get_bars(nope, T0 - timedelta(days=10), T0 + timedelta(days=10)) == []


def test_pf02_latest_bar_is_the_last_bar_with_every_field(h: FeedHarness) -> None:
    t = h.sym("AAPL")
    bars = _series(h, t, [100.0, 101.5, 99.25])
    got = h.feed.latest_bar(t)
    assert got is not None
    want = bars[-1]
    assert (got.ticker, got.ts) == (t, want.ts)
    assert (got.open, got.high, got.low, got.close, got.volume) == (
        want.open, want.high, want.low, want.close, want.volume)


def test_pf03_latest_price_is_the_last_close_as_an_exact_decimal(h: FeedHarness) -> None:
    t = h.sym("MSFT")
    _series(h, t, [100.0, 101.37])
    price = h.feed.latest_price(t)
    assert isinstance(price, Decimal)
    assert price == Decimal("101.37")  # no binary-float residue such as 101.370000000000004


def test_pf04_latest_follows_each_new_bar(h: FeedHarness) -> None:
    t = h.sym("NVDA")
    _series(h, t, [50.0])
    assert h.feed.latest_price(t) == Decimal(50)
    nxt = _bar(t, 1, 55.5)
    h.push(nxt)
    assert h.feed.latest_price(t) == Decimal("55.5")
    got = h.feed.latest_bar(t)
    assert got is not None and got.ts == nxt.ts


def test_pf05_get_bars_is_inclusive_at_both_ends_and_in_time_order(h: FeedHarness) -> None:
    t = h.sym("AMZN")
    bars = _series(h, t, [10.0, 11.0, 12.0, 13.0, 14.0, 15.0])
    got = h.feed.get_bars(t, bars[1].ts, bars[4].ts)
    assert [b.ts for b in got] == [b.ts for b in bars[1:5]]
    assert [b.close for b in got] == [11.0, 12.0, 13.0, 14.0]
    assert all(b.ticker == t for b in got)


def test_pf06_get_bars_between_bars_or_outside_history_is_empty(h: FeedHarness) -> None:
    t = h.sym("META")
    bars = _series(h, t, [10.0, 11.0])
    mid = bars[0].ts + timedelta(hours=1)
    assert h.feed.get_bars(t, mid, mid + timedelta(hours=1)) == []
    assert h.feed.get_bars(t, T0 - timedelta(days=30), T0 - timedelta(days=1)) == []
    assert h.feed.get_bars(t, bars[-1].ts + timedelta(seconds=1), T0 + timedelta(days=30)) == []
    assert h.feed.get_bars(t, bars[-1].ts, bars[0].ts) == []  # start after end


def test_pf07_tickers_never_mix(h: FeedHarness) -> None:
    a, b = h.sym("AAA"), h.sym("BBB")
    _series(h, a, [10.0, 11.0, 12.0])
    _series(h, b, [200.0, 201.0, 202.0])
    assert h.feed.latest_price(a) == Decimal(12) and h.feed.latest_price(b) == Decimal(202)
    got = h.feed.get_bars(a, T0, T0 + timedelta(days=5))
    assert [x.close for x in got] == [10.0, 11.0, 12.0]
    assert {x.ticker for x in got} == {a}


def test_pf08_timestamps_are_utc_aware_and_round_trip(h: FeedHarness) -> None:
    t = h.sym("TSLA")
    bars = _series(h, t, [300.0, 301.0])
    got = h.feed.get_bars(t, T0, T0 + timedelta(days=1))
    assert len(got) == 2
    for g, want in zip(got, bars, strict=True):
        assert g.ts.tzinfo is not None and g.ts.utcoffset() == timedelta(0)
        assert g.ts == want.ts
    latest = h.feed.latest_bar(t)
    assert latest is not None and latest.ts.utcoffset() == timedelta(0)


def test_pf09_get_bars_accepts_the_default_daily_timeframe_by_name(h: FeedHarness) -> None:
    t = h.sym("GOOG")
    bars = _series(h, t, [120.0, 121.0])
    got = h.feed.get_bars(t, bars[0].ts, bars[-1].ts, "1Day")
    assert [b.ts for b in got] == [b.ts for b in bars]


@pytest.mark.parametrize("kind", ["memory", "simulated", "alpaca"])
def test_pf10_a_timeframe_that_is_no_bar_size_is_refused_naming_the_field(
    kind: str, request: pytest.FixtureRequest,
) -> None:
    h: FeedHarness = (MemoryFeedHarness() if kind == "memory" else
                      SimulatedFeedHarness(T0 - timedelta(days=1)) if kind == "simulated" else
                      AlpacaFeedHarness(request.getfixturevalue("alpaca_server")))
    t = h.sym("IBM")
    bars = _series(h, t, [120.0, 121.0])
    with pytest.raises(InvalidInput, match="timeframe"):
        h.feed.get_bars(t, bars[0].ts, bars[-1].ts, "7Fortnights")
