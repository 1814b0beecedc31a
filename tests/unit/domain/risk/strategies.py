"""Shared builders and hypothesis strategies for the risk tests."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import strategies as st

from domain.account import Account
from domain.risk import Holding, MarketView, OrderIntent, Purpose, Quote, RiskDecision

D = Decimal
NOW = datetime(2024, 3, 4, 15, 0, tzinfo=UTC)
TICKERS = ["AAPL", "MSFT", "XOM", "JPM", "KO", "PFE"]

money = st.integers(1_000, 10_000_000).map(lambda c: D(c) / 100)  # $10 .. $100k
prices = st.integers(100, 100_000).map(lambda c: D(c) / 100)  # $1 .. $1000
qtys = st.integers(1, 5_000).map(D)
sides = st.sampled_from(["buy", "sell"])
purposes = st.sampled_from(list(Purpose))
equities = st.integers(10_000, 2_000_000).map(D)


def account(equity: Decimal = D(100_000), buying_power: Decimal | None = None) -> Account:
    return Account(cash=equity, equity=equity,
                   buying_power=equity if buying_power is None else buying_power)


def market(prices_: dict[str, Decimal], **returns: list[float]) -> MarketView:
    return MarketView(now=NOW, quotes={t: Quote(price=p, ts=NOW) for t, p in prices_.items()},
                      returns=returns)


@st.composite
def holdings_st(draw: st.DrawFn, equity: Decimal) -> list[Holding]:
    """Draw a book of up to 6 holdings worth up to ~2x equity."""
    out = []
    for t in draw(st.lists(st.sampled_from(TICKERS), unique=True, max_size=6)):
        frac = D(draw(st.integers(1, 40))) / 100
        price = draw(prices)
        qty = (equity * frac / price).quantize(D(1))
        if qty == 0:
            continue
        sign = draw(st.sampled_from([1, -1]))
        out.append(Holding(t, qty * sign, price))
    return out


@st.composite
def intents(draw: st.DrawFn, price: Decimal | None = None, ticker: str | None = None
            ) -> OrderIntent:
    p = price if price is not None else draw(prices)
    side = draw(sides)
    stop_pct = D(draw(st.integers(0, 3000))) / 10_000
    stop: Decimal | None = p * (1 - stop_pct) if side == "buy" else p * (1 + stop_pct)
    if draw(st.integers(0, 9)) == 0 or (stop is not None and stop <= 0):
        stop = None
    return OrderIntent(ticker=ticker or draw(st.sampled_from(TICKERS)), side=side,
                       quantity=draw(qtys), price=p, stop_loss=stop,
                       purpose=draw(purposes))


def names_rule_value_limit(d: RiskDecision) -> bool:
    return d.rule in d.message and d.value_text in d.message and d.limit_text in d.message
