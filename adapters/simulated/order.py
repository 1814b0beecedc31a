"""A working order inside the simulated exchange, and the constants its matcher uses."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from domain.commands import SubmitOrder
from domain.events import OrderStatus
from domain.orders import OrderReport
from domain.values import ZERO, OrderType, Side

__all__ = ["_FAR", "_LMT", "_MKT", "_OPEN_STATES", "_STP", "_STPLMT", "_TRAIL", "S", "_Order", "_d"]

S = OrderStatus
_FAR = 2**62
_MKT, _LMT, _STP, _STPLMT, _TRAIL = range(5)
_TYPE_CODE = {OrderType.MARKET: _MKT, OrderType.LIMIT: _LMT, OrderType.STOP: _STP,
              OrderType.STOP_LIMIT: _STPLMT, OrderType.TRAILING_STOP: _TRAIL}
_OPEN_STATES = frozenset({S.NEW, S.PARTIALLY_FILLED, S.ACCEPTED})
_CENT = Decimal("0.01")
_BASIS = Decimal("0.0001")
_EXPIRED = "day order reached session close"


def _d(x: float) -> Decimal:
    # float() first: numpy scalars repr as "np.float64(...)"
    return Decimal(repr(float(x)))


class _Order:
    """A working order inside the exchange: floats for matching, Decimal for money."""

    __slots__ = (
        "avg",
        "bid",
        "code",
        "coid",
        "commission",
        "created",
        "eligible_ns",
        "expiry_ns",
        "extended",
        "filled",
        "legs",
        "limit",
        "nfills",
        "parent",
        "qty",
        "ref",
        "req",
        "role",
        "sibling",
        "side",
        "sign",
        "status",
        "stop",
        "ticker",
        "tif",
        "trail_abs",
        "trail_pct",
        "tried",
        "triggered",
        "updated",
        "wm",
    )

    def __init__(self, req: SubmitOrder, bid: str, now: datetime, now_ns: int) -> None:
        self.req = req
        self.coid = req.client_order_id
        self.bid = bid
        self.ticker = req.ticker
        self.side = req.side
        self.sign = 1 if req.side is Side.BUY else -1
        self.code = _TYPE_CODE[req.order_type]
        self.qty = req.quantity
        self.filled = ZERO
        self.avg: Decimal | None = None
        self.status = S.NEW
        self.limit = float(req.limit_price) if req.limit_price is not None else 0.0
        self.stop = float(req.stop_price) if req.stop_price is not None else 0.0
        self.trail_abs = float(req.trail_price) if req.trail_price is not None else 0.0
        self.trail_pct = float(req.trail_percent) if req.trail_percent is not None else 0.0
        self.wm = float("nan")
        self.triggered = False
        self.tif = req.time_in_force
        self.eligible_ns = now_ns
        self.expiry_ns = _FAR
        self.created = now
        self.updated = now
        self.nfills = 0
        self.commission = ZERO
        self.parent: _Order | None = None
        self.legs: list[_Order] = []
        self.role = ""
        self.sibling: _Order | None = None
        self.extended = req.extended_hours
        self.tried = False
        self.ref = 0.0

    @property
    def leaves(self) -> Decimal:
        return self.qty - self.filled

    def report(self) -> OrderReport:
        r = self.req
        return OrderReport(
            client_order_id=self.coid, broker_order_id=self.bid, ticker=self.ticker,
            side=self.side, quantity=self.qty, order_type=r.order_type, status=self.status,
            filled_qty=self.filled, filled_avg_price=self.avg, limit_price=r.limit_price,
            stop_price=r.stop_price, time_in_force=self.tif, order_class=r.order_class,
            created_at=self.created, updated_at=self.updated,
            legs=tuple(leg.report() for leg in self.legs),
        )
