"""Account and portfolio values."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import attrs

from domain.values import ZERO


@attrs.frozen
class Account:
    """A snapshot of the account as the broker (or the ledger) reports it."""

    cash: Decimal
    equity: Decimal
    buying_power: Decimal
    long_market_value: Decimal = ZERO
    short_market_value: Decimal = ZERO  # reported as a non-positive number, like Alpaca
    currency: str = "USD"
    status: str = "ACTIVE"
    trading_blocked: bool = False
    ts: datetime | None = None
    account_id: str | None = None
    #: True when ``buying_power`` already excludes what open orders reserve (a broker that
    #: reserves at submission); otherwise the risk policy subtracts pending entries itself.
    open_orders_reserved: bool = False

    @property
    def gross_exposure(self) -> Decimal:
        """Return |long| + |short| market value."""
        return abs(self.long_market_value) + abs(self.short_market_value)

    @property
    def net_exposure(self) -> Decimal:
        """Return long market value plus (negative) short market value."""
        return self.long_market_value + self.short_market_value

    @property
    def gross_exposure_pct(self) -> Decimal:
        """Return gross exposure as a fraction of equity (0 with no equity)."""
        return self.gross_exposure / self.equity if self.equity > 0 else ZERO

    @property
    def net_exposure_pct(self) -> Decimal:
        """Return net exposure as a fraction of equity (0 with no equity)."""
        return self.net_exposure / self.equity if self.equity > 0 else ZERO


@attrs.frozen
class BrokerPosition:
    """A position as the broker reports it (used for reconciliation and display)."""

    ticker: str
    quantity: Decimal  # signed: negative for a short
    avg_entry_price: Decimal
    current_price: Decimal | None = None
    market_value: Decimal | None = None
    unrealized_pnl: Decimal | None = None
