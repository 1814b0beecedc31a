"""Fill-price and cost rules shared by the simulated exchange, the backtester and the RL env.

These are plain-float functions on purpose: they sit on the hot path of replay and of the
RL environment. The simulated exchange converts their results to ``Decimal`` when it emits
a fill event; the parity test proves both users get the same numbers.
"""

from __future__ import annotations

import attrs

from domain.errors import InvalidInput


def _non_negative(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (value >= 0.0):  # rejects NaN too
        raise InvalidInput(attribute.name, value, "a number >= 0")


@attrs.frozen
class CostModel:
    """Commission and slippage settings.

    Parameters
    ----------
    commission_bps
        Commission as basis points of notional (10 = 0.1 %).
    commission_per_share
        Commission per share, in currency.
    commission_per_order
        Fixed commission per fill, in currency.
    min_commission
        Floor of the commission of a fill, applied when any commission is charged.
    slippage_bps
        Adverse slippage of market and stop fills, in basis points of the reference price.
    """

    commission_bps: float = attrs.field(default=0.0, validator=_non_negative)
    commission_per_share: float = attrs.field(default=0.0, validator=_non_negative)
    commission_per_order: float = attrs.field(default=0.0, validator=_non_negative)
    min_commission: float = attrs.field(default=0.0, validator=_non_negative)
    slippage_bps: float = attrs.field(default=0.0, validator=_non_negative)

    def slipped_price(self, side_sign: int, reference: float) -> float:
        """Return the price a taker pays (buy, +1) or receives (sell, -1) after slippage."""
        return slipped_price(side_sign, reference, self.slippage_bps)

    def commission(self, quantity: float, price: float) -> float:
        """Return the commission of one fill."""
        return commission(
            quantity,
            price,
            self.commission_bps,
            self.commission_per_share,
            self.commission_per_order,
            self.min_commission,
        )


ZERO_COSTS = CostModel()
#: The RL tickets' costs: commission 0.1 %, slippage 0.05 %.
RL_TICKET_COSTS = CostModel(commission_bps=10.0, slippage_bps=5.0)


def slipped_price(side_sign: int, reference: float, slippage_bps: float) -> float:
    """Return ``reference`` moved against the taker by ``slippage_bps`` basis points."""
    return reference * (1.0 + side_sign * slippage_bps * 1e-4)


def commission(
    quantity: float,
    price: float,
    bps: float = 0.0,
    per_share: float = 0.0,
    per_order: float = 0.0,
    minimum: float = 0.0,
) -> float:
    """Return the commission of a fill of ``quantity`` at ``price``."""
    c = abs(quantity) * price * bps * 1e-4 + abs(quantity) * per_share + per_order
    if c > 0.0 and c < minimum:
        return minimum
    return c
