"""The integrity check behind ``catalyst db check`` and the crash tests.

It looks for what a torn write or a bug would leave: a corrupt SQLite file, foreign keys
that point nowhere, fills without their order, orders and positions whose quantities
disagree with their stored fills, rows that are both open and closed, orphan audit rows.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from sqlalchemy import Engine, select

from adapters.sqlalchemy import tables as t
from domain.values import PositionSide, Side


def _split_base(fill_id: str) -> str | None:
    # domain.portfolio.Ledger splits a fill that flips a position into "<id>#1" and "<id>#2".
    base, sep, n = fill_id.rpartition("#")
    return base if sep and n.isdigit() else None


def check_integrity(engine: Engine) -> list[str]:
    """Return every problem found (an empty list means the database is consistent)."""
    problems: list[str] = []
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            rows = [r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check").fetchall()]
            if rows != ["ok"]:
                problems += [f"sqlite integrity_check: {r}" for r in rows[:20]]
            for r in conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()[:20]:
                problems.append(f"foreign key: row {r[1]} of {r[0]} points to a missing {r[2]}")

        order_rows = conn.execute(
            select(t.orders.c.client_order_id, t.orders.c.filled_qty, t.orders.c.fill_ids)
        ).all()
        orders = {r.client_order_id: r for r in order_rows}
        fills = conn.execute(
            select(t.fills.c.fill_id, t.fills.c.client_order_id, t.fills.c.side,
                   t.fills.c.quantity)
        ).all()
        fills_by_id = {f.fill_id: f for f in fills}
        by_order: dict[str, list[str]] = defaultdict(list)
        for f in fills:
            if f.client_order_id not in orders:
                problems.append(f"fill {f.fill_id}: its order {f.client_order_id} is missing")
            else:
                by_order[f.client_order_id].append(f.fill_id)

        for cid, o in orders.items():
            listed = set(o.fill_ids or ())
            stored = set(by_order.get(cid, ()))
            for fid in sorted(stored - listed):
                problems.append(f"order {cid}: stored fill {fid} was not applied to the order")
            for fid in sorted(listed - stored):
                problems.append(f"order {cid}: applied fill {fid} is not stored")
            if listed == stored:
                total = sum((fills_by_id[f].quantity for f in stored), Decimal(0))
                if total != o.filled_qty:
                    problems.append(
                        f"order {cid}: filled_qty {o.filled_qty} != sum of its fills {total}"
                    )

        pos_rows = conn.execute(
            select(t.positions.c.position_id, t.positions.c.side, t.positions.c.quantity,
                   t.positions.c.fill_ids, t.positions.c.entry_order_id)
        ).all()
        closed_ids = set(conn.execute(select(t.closed_positions.c.position_id)).scalars())
        for p in pos_rows:
            pid = p.position_id
            if pid in closed_ids:
                problems.append(f"position {pid} is both open and closed")
            if p.entry_order_id and p.entry_order_id not in orders:
                problems.append(f"position {pid}: entry order {p.entry_order_id} is missing")
            entry_side = PositionSide(p.side).entry_side
            total = Decimal(0)
            exact = True
            for fid in p.fill_ids or ():
                pf = fills_by_id.get(fid)
                if pf is None:
                    base = _split_base(fid)
                    if base is None or base not in fills_by_id:
                        problems.append(f"position {pid}: fill {fid} is not stored")
                    exact = False
                    continue
                total += pf.quantity if Side(pf.side) is entry_side else -pf.quantity
            if exact and total != p.quantity:
                problems.append(
                    f"position {pid}: quantity {p.quantity} != signed sum of its fills {total}"
                )

        orphan_events = conn.execute(
            select(t.order_events.c.id, t.order_events.c.client_order_id).where(
                t.order_events.c.client_order_id.not_in(select(t.orders.c.client_order_id))
            ).limit(20)
        ).all()
        for e in orphan_events:
            problems.append(f"order event {e.id}: its order {e.client_order_id} is missing")
    return problems
