"""The writer the crash tests kill: orders, fills and positions through SqlUnitOfWork, forever.

Each loop is one unit of work (an order, one or two fills, the position it opens, grows,
shrinks or closes, an execution-log row). After ``commit`` returns, the order's id is
appended to ``log_path``: every id in that file was committed and must survive a SIGKILL.
"""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from adapters.sqlalchemy import make_engine, sql_uow_factory
from domain.audit import ExecutionRecord
from domain.commands import SubmitOrder
from domain.events import Fill, OrderFilled, OrderStatusChanged, OrderSubmitted
from domain.orders import Order
from domain.position import Position
from domain.values import ExitReason, PositionSide

TICKERS = ("AAPL", "MSFT", "TSLA")
T0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)


def write_forever(url: str, log_path: str, seed: int, generation: int) -> None:
    """Write until killed (never returns)."""
    rnd = random.Random(seed)
    engine = make_engine(url)
    uows = sql_uow_factory(engine)
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    i = 0
    while True:
        i += 1
        cid = f"g{generation}-{i}"
        ticker = rnd.choice(TICKERS)
        now = T0 + timedelta(days=generation, seconds=i)
        with uows() as uow:
            pos = uow.positions.open_for(ticker)
            selling = pos is not None and rnd.random() < 0.45
            if selling:
                assert pos is not None
                qty = min(pos.quantity, Decimal(rnd.randint(1, 12)))
            else:
                qty = Decimal(rnd.randint(1, 10))
            side = "sell" if selling else "buy"
            order = Order.create(SubmitOrder(client_order_id=cid, ticker=ticker, side=side,
                                             quantity=qty), now)
            uow.orders.add(order)
            order.apply(OrderSubmitted(client_order_id=cid, ts_event=now))
            order.apply(OrderStatusChanged(client_order_id=cid, ts_event=now, status="accepted"))
            parts = [qty] if qty < 2 or rnd.random() < 0.5 else [qty // 2, qty - qty // 2]
            fills = []
            for k, q in enumerate(parts):
                price = Decimal(1000 + rnd.randint(-500, 500)) / 10
                fill = Fill(f"{cid}-f{k}", cid, ticker, side, q, price, now,
                            Decimal("0.0035") * q)
                order.apply(OrderFilled(client_order_id=cid, ts_event=now, fill=fill))
                uow.orders.record_event(
                    OrderFilled(client_order_id=cid, ts_event=now, fill=fill)
                )
                uow.fills.add(fill)
                fills.append(fill)
            uow.orders.save(order)
            if pos is None:
                pos = Position(position_id=f"p-{cid}", ticker=ticker, side=PositionSide.LONG,
                               opened_at=now, entry_order_id=cid)
                for f in fills:
                    pos.apply_fill(f)
                uow.positions.add(pos)
            else:
                for f in fills:
                    pos.apply_fill(f)
                if pos.quantity == 0:
                    uow.positions.close(pos, pos.close(now, ExitReason.SIGNAL))
                else:
                    uow.positions.save(pos)
            uow.journal.add_execution(ExecutionRecord(
                ts=now, ticker=ticker, action=side, stage="fill", success=True,
                client_order_id=cid, position_id=pos.position_id, quantity=qty,
            ))
            uow.commit()
        os.write(fd, f"{cid}\n".encode())
