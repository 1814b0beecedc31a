"""Risk parameters: one frozen value with the tickets' defaults.

Fractions are Decimals (``Decimal("0.10")`` is 10 %); money is Decimal dollars. Every field is
validated on construction, so a bad configuration fails at start, not at the first trade.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs

from domain.errors import InvalidInput
from domain.events import RiskState
from domain.values import dec, enum_value


def _fraction(value: Any, field: str, *, upper: Decimal = Decimal(1), closed: bool = True) -> Decimal:
    d = dec(value, field)
    ok = Decimal(0) < d <= upper if closed else Decimal(0) < d < upper
    if not ok:
        raise InvalidInput(field, value, f"a fraction in (0, {upper}{']' if closed else ')'}")
    return d


def _amount(v: Any, field: str) -> Decimal:
    d = dec(v, field)
    if d < 0:
        raise InvalidInput(field, v, "an amount >= 0")
    return d


def _count(field: str, minimum: int = 1) -> Any:
    def check(_: object, __: object, v: int) -> None:
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise InvalidInput(field, v, f"an integer >= {minimum}")

    return check


def _seconds(field: str) -> Any:
    def check(_: object, __: object, v: float) -> None:
        if isinstance(v, bool) or not isinstance(v, int | float) or not v > 0:
            raise InvalidInput(field, v, "a number of seconds > 0")

    return check


def _trip_state(v: Any, field: str) -> RiskState:
    st = enum_value(RiskState, v, field)
    if st is RiskState.ACTIVE:
        raise InvalidInput(field, v, "reducing or halted (a trip never leaves trading active)")
    return st


def _conv_max_position_pct(v: Any) -> Decimal:
    return _fraction(v, "max_position_pct")


def _conv_max_ticker_pct(v: Any) -> Decimal:
    return _fraction(v, "max_ticker_pct")


def _conv_min_position_value(v: Any) -> Decimal:
    return _amount(v, "min_position_value")


def _conv_min_stop_pct(v: Any) -> Decimal:
    return _fraction(v, "min_stop_pct")


def _conv_max_stop_pct(v: Any) -> Decimal:
    return _fraction(v, "max_stop_pct")


def _conv_max_price_deviation_pct(v: Any) -> Decimal:
    return _fraction(v, "max_price_deviation_pct")


def _conv_buying_power_buffer(v: Any) -> Decimal:
    return _amount(v, "buying_power_buffer")


def _conv_max_gross_exposure_pct(v: Any) -> Decimal:
    return _fraction(v, "max_gross_exposure_pct", upper=Decimal(10))


def _conv_max_net_exposure_pct(v: Any) -> Decimal:
    return _fraction(v, "max_net_exposure_pct", upper=Decimal(10))


def _conv_max_daily_loss_pct(v: Any) -> Decimal:
    return _fraction(v, "max_daily_loss_pct")


def _conv_max_drawdown_pct(v: Any) -> Decimal:
    return _fraction(v, "max_drawdown_pct")


def _conv_max_cluster_pct(v: Any) -> Decimal:
    return _fraction(v, "max_cluster_pct", upper=Decimal(10))


def _conv_max_broker_error_rate(v: Any) -> Decimal:
    return _fraction(v, "max_broker_error_rate")


def _conv_warning_fraction(v: Any) -> Decimal:
    return _fraction(v, "warning_fraction")


def _conv_daily_loss_trips_to(v: Any) -> RiskState:
    return _trip_state(v, "daily_loss_trips_to")


def _conv_drawdown_trips_to(v: Any) -> RiskState:
    return _trip_state(v, "drawdown_trips_to")


def _conv_consecutive_losses_trips_to(v: Any) -> RiskState:
    return _trip_state(v, "consecutive_losses_trips_to")


def _conv_broker_errors_trip_to(v: Any) -> RiskState:
    return _trip_state(v, "broker_errors_trip_to")


def _conv_stale_prices_trip_to(v: Any) -> RiskState:
    return _trip_state(v, "stale_prices_trip_to")


@attrs.frozen(kw_only=True)
class RiskConfig:
    """Every risk limit, with the tickets' defaults where the tickets give one.

    Parameters
    ----------
    max_position_pct
        Largest notional of one order, as a fraction of equity (tickets: 10 %).
    max_ticker_pct
        Largest exposure in one ticker after the order (existing position plus the order), as a
        fraction of equity; a scale-in cannot escape the per-position cap.
    min_position_value
        Smallest order notional in dollars (tickets: $100).
    require_stop_loss, min_stop_pct, max_stop_pct
        A stop is required on entries, between 2 % and 20 % from the entry, on the loss side.
    max_price_deviation_pct
        The entry must lie within 5 % of the current price.
    buying_power_buffer
        Buying power must cover the notional times ``1 + buffer`` (0.1 %).
    max_gross_exposure_pct, max_net_exposure_pct
        Caps on sum of |market value| and on signed market value, as fractions of equity.
    max_open_positions
        Largest number of tickers held at once.
    max_daily_loss_pct
        Loss from the day's starting equity (the previous session's last equity) that trips.
    max_drawdown_pct
        Fall from PEAK equity (not from the start) that trips.
    correlation_threshold, max_cluster_pct, correlation_lookback, correlation_min_obs
        Tickers whose trailing daily-return correlation exceeds the threshold form one cluster
        (single linkage); the cluster's gross exposure after the order is capped.
    max_consecutive_losses
        Closed losing trades in a row that trip.
    max_broker_error_rate, broker_error_window_s, broker_error_min_calls
        Share of failed broker calls in a sliding window that trips (with a minimum sample).
    max_price_age_s
        A price older than this is stale: no entry on it, and a stale held ticker trips.
    warning_fraction
        Warn when a metric reaches this fraction of its limit (80 %).
    daily_loss_trips_to, drawdown_trips_to, consecutive_losses_trips_to,
    broker_errors_trip_to, stale_prices_trip_to
        The state each breaker trips to (REDUCING: exits only; HALTED: nothing new).
    allow_protective_exits_when_halted
        Let stop-loss / take-profit / kill-switch exits that only reduce a position through while
        HALTED: a halt must not disarm the stops of positions still held.
    """

    max_position_pct: Decimal = attrs.field(default=Decimal("0.10"), converter=_conv_max_position_pct)
    max_ticker_pct: Decimal = attrs.field(default=Decimal("0.10"), converter=_conv_max_ticker_pct)
    min_position_value: Decimal = attrs.field(default=Decimal(100), converter=_conv_min_position_value)
    require_stop_loss: bool = True
    min_stop_pct: Decimal = attrs.field(default=Decimal("0.02"), converter=_conv_min_stop_pct)
    max_stop_pct: Decimal = attrs.field(default=Decimal("0.20"), converter=_conv_max_stop_pct)
    max_price_deviation_pct: Decimal = attrs.field(
        default=Decimal("0.05"), converter=_conv_max_price_deviation_pct
    )
    buying_power_buffer: Decimal = attrs.field(
        default=Decimal("0.001"), converter=_conv_buying_power_buffer
    )
    max_gross_exposure_pct: Decimal = attrs.field(
        default=Decimal("1.5"), converter=_conv_max_gross_exposure_pct
    )
    max_net_exposure_pct: Decimal = attrs.field(
        default=Decimal("1.0"), converter=_conv_max_net_exposure_pct
    )
    max_open_positions: int = attrs.field(default=10, validator=_count("max_open_positions"))
    max_daily_loss_pct: Decimal = attrs.field(default=Decimal("0.03"), converter=_conv_max_daily_loss_pct)
    max_drawdown_pct: Decimal = attrs.field(default=Decimal("0.10"), converter=_conv_max_drawdown_pct)
    correlation_threshold: float = 0.7
    max_cluster_pct: Decimal = attrs.field(default=Decimal("0.25"), converter=_conv_max_cluster_pct)
    correlation_lookback: int = attrs.field(default=60, validator=_count("correlation_lookback", 2))
    correlation_min_obs: int = attrs.field(default=20, validator=_count("correlation_min_obs", 2))
    max_consecutive_losses: int = attrs.field(default=5, validator=_count("max_consecutive_losses"))
    max_broker_error_rate: Decimal = attrs.field(
        default=Decimal("0.5"), converter=_conv_max_broker_error_rate
    )
    broker_error_window_s: float = attrs.field(default=300.0, validator=_seconds("broker_error_window_s"))
    broker_error_min_calls: int = attrs.field(default=4, validator=_count("broker_error_min_calls"))
    max_price_age_s: float = attrs.field(default=300.0, validator=_seconds("max_price_age_s"))
    warning_fraction: Decimal = attrs.field(default=Decimal("0.8"), converter=_conv_warning_fraction)
    daily_loss_trips_to: RiskState = attrs.field(
        default=RiskState.HALTED, converter=_conv_daily_loss_trips_to
    )
    drawdown_trips_to: RiskState = attrs.field(default=RiskState.HALTED, converter=_conv_drawdown_trips_to)
    consecutive_losses_trips_to: RiskState = attrs.field(
        default=RiskState.REDUCING, converter=_conv_consecutive_losses_trips_to
    )
    broker_errors_trip_to: RiskState = attrs.field(
        default=RiskState.HALTED, converter=_conv_broker_errors_trip_to
    )
    stale_prices_trip_to: RiskState = attrs.field(
        default=RiskState.REDUCING, converter=_conv_stale_prices_trip_to
    )
    allow_protective_exits_when_halted: bool = True

    def __attrs_post_init__(self) -> None:
        if self.min_stop_pct >= self.max_stop_pct:
            raise InvalidInput(
                "min_stop_pct", self.min_stop_pct, f"below max_stop_pct {self.max_stop_pct}"
            )
        if not (0.0 < self.correlation_threshold < 1.0):
            raise InvalidInput(
                "correlation_threshold", self.correlation_threshold, "a correlation in (0, 1)"
            )
        if self.correlation_min_obs > self.correlation_lookback:
            raise InvalidInput(
                "correlation_min_obs", self.correlation_min_obs,
                f"at most correlation_lookback {self.correlation_lookback}",
            )
