"""orders keep their filled notional

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 16:00:00

``orders.filled_notional`` is the exact sum of quantity x price over an order's fills; the
average fill price is derived from it, so an order read back averages exactly as it did in
memory. Existing rows get ``avg_fill_price x filled_qty``, the best the old columns tell.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

import adapters.sqlalchemy.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("filled_notional", adapters.sqlalchemy.types.Money(),
                                   nullable=True))
    orders = sa.table("orders", sa.column("client_order_id", sa.String()),
                      sa.column("filled_qty", adapters.sqlalchemy.types.Money()),
                      sa.column("avg_fill_price", adapters.sqlalchemy.types.Money()),
                      sa.column("filled_notional", adapters.sqlalchemy.types.Money()))
    conn = op.get_bind()
    rows = conn.execute(sa.select(orders.c.client_order_id, orders.c.filled_qty,
                                  orders.c.avg_fill_price)).all()
    for coid, qty, avg in rows:
        conn.execute(orders.update().where(orders.c.client_order_id == coid).values(
            filled_notional=(avg or Decimal(0)) * (qty or Decimal(0))))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("filled_notional")
