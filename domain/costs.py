"""Trading costs: one model of commission and slippage for the backtest, paper runs and the RL env.

:class:`CostModel` is the single value that says what a fill costs. The CLI builds it from the
settings (``[costs]`` in the TOML file, ``CATALYST_COSTS__*``) and its flags, and hands the same
value to the simulated exchange (``backtest``, ``run``) and to the RL environment; both start
from :data:`DEFAULT_COSTS` (commission 0.1 %, slippage 0.05 %).

The float functions sit on the hot path of replay and of the RL environment; the simulated
exchange converts their results to ``Decimal`` when it emits a fill (commission rounded to
1e-6). :meth:`CostModel.commission_exact` is the same rule in exact ``Decimal`` arithmetic, the
reference the float path is held to.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

import attrs

from domain.errors import InvalidInput

SlippageModel = Literal["fixed", "spread", "volatility"]
SLIPPAGE_MODELS: tuple[str, ...] = ("fixed", "spread", "volatility")
_BP = Decimal("0.0001")


def _non_negative(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (value >= 0.0):
        raise InvalidInput(attribute.name, value, "a number >= 0")  # NaN fails ``>=`` too
    if value == float("inf"):
        raise InvalidInput(attribute.name, value, "a finite number >= 0")


def _model(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in SLIPPAGE_MODELS:
        raise InvalidInput(attribute.name, value, f"one of {', '.join(SLIPPAGE_MODELS)}")


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
    slippage_model
        ``fixed``: ``slippage_bps``; ``spread``: plus half of ``spread_bps`` (a taker crosses
        half the quoted spread); ``volatility``: plus ``volatility_factor`` x the fill bar's
        range / open, in basis points. Limit orders fill at their limit without slippage.
    spread_bps
        The quoted bid-ask spread, in basis points (``spread`` model only).
    volatility_factor
        Basis points of slippage per basis point of the bar's range (``volatility`` model).
    """

    commission_bps: float = attrs.field(default=0.0, validator=_non_negative)
    commission_per_share: float = attrs.field(default=0.0, validator=_non_negative)
    commission_per_order: float = attrs.field(default=0.0, validator=_non_negative)
    min_commission: float = attrs.field(default=0.0, validator=_non_negative)
    slippage_bps: float = attrs.field(default=0.0, validator=_non_negative)
    slippage_model: SlippageModel = attrs.field(default="fixed", validator=_model)
    spread_bps: float = attrs.field(default=0.0, validator=_non_negative)
    volatility_factor: float = attrs.field(default=0.0, validator=_non_negative)

    def slipped_price(self, side_sign: int, reference: float) -> float:
        """Return the price a taker pays (buy, +1) or receives (sell, -1) after fixed slippage."""
        return slipped_price(side_sign, reference, self.base_slippage_bps)

    @property
    def base_slippage_bps(self) -> float:
        """Return the slippage that does not depend on the bar: fixed, plus half the spread."""
        if self.slippage_model == "spread":
            return self.slippage_bps + self.spread_bps * 0.5
        return self.slippage_bps

    def slippage_bps_for_bar(self, open_: float, high: float, low: float) -> float:
        """Return the slippage in basis points of a fill in the bar ``open_, high, low``."""
        base = self.base_slippage_bps
        if self.slippage_model == "volatility" and open_ > 0.0:
            return base + self.volatility_factor * (high - low) / open_ * 1e4
        return base

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

    @property
    def charges_commission(self) -> bool:
        """Return True when some fill can cost a commission."""
        return bool(self.commission_bps or self.commission_per_share
                    or self.commission_per_order or self.min_commission)

    def commission_exact(self, quantity: Decimal, price: Decimal) -> Decimal:
        """Return the commission of a fill of ``quantity`` at ``price`` in exact Decimal."""
        q = abs(quantity)
        c = (q * price * _dec(self.commission_bps) * _BP + q * _dec(self.commission_per_share)
             + _dec(self.commission_per_order))
        floor = _dec(self.min_commission)
        if 0 < c < floor:
            return floor
        return c

    def slippage_cost_exact(self, quantity: Decimal, reference: Decimal,
                            bps: Decimal | None = None) -> Decimal:
        """Return what slippage costs a taker of ``quantity`` at ``reference``, in Decimal.

        ``bps`` defaults to the bar-independent slippage (:attr:`base_slippage_bps`).
        """
        b = _dec(self.base_slippage_bps) if bps is None else bps
        return abs(quantity) * reference * b * _BP

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as plain values (for JSON output and reports)."""
        return attrs.asdict(self)

    def describe(self) -> str:
        """Return a one-line human description, e.g. ``commission 10 bps; slippage 5 bps``."""
        parts = []
        if self.commission_bps:
            parts.append(f"{self.commission_bps:g} bps")
        if self.commission_per_share:
            parts.append(f"${self.commission_per_share:g}/share")
        if self.commission_per_order:
            parts.append(f"${self.commission_per_order:g}/order")
        comm = " + ".join(parts) or "none"
        if self.min_commission:
            comm += f" (min ${self.min_commission:g})"
        slip = f"{self.slippage_bps:g} bps"
        if self.slippage_model == "spread":
            slip += f" + half of a {self.spread_bps:g} bps spread"
        elif self.slippage_model == "volatility":
            slip += f" + {self.volatility_factor:g} x bar range"
        return f"commission {comm}; slippage {slip}"


def _dec(x: float) -> Decimal:
    return Decimal(repr(float(x)))


ZERO_COSTS = CostModel()
#: The default of every user (backtest, paper run, RL env): commission 0.1 %, slippage 0.05 %.
DEFAULT_COSTS = CostModel(commission_bps=10.0, slippage_bps=5.0)
#: The RL tickets' costs, which are the default costs.
RL_TICKET_COSTS = DEFAULT_COSTS


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
