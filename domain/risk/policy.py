"""The pre-trade risk policy: (order intent, account, positions, market, risk state) -> decision.

Pure: no clock, no I/O. Every rule returns a :class:`RuleResult` naming the rule, the measured
value and the limit; :meth:`RiskPolicy.check` runs all of them and combines the results, so a
rejection lists every rule the order broke, not just the first.

Why one module: :class:`RiskPolicy` runs every pre-trade rule together so that a rejection
lists all the rules an order broke; the rules read the same intent, book and limits.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

import attrs

from domain.account import Account, BrokerPosition
from domain.events import RiskState
from domain.position import Position
from domain.risk.breaker import BreakerState
from domain.risk.config import RiskConfig
from domain.risk.correlation import correlation_clusters
from domain.risk.decision import (
    RiskDecision,
    RuleResult,
    Unit,
    Verdict,
    format_value,
    passed,
    result,
)
from domain.risk.inputs import (
    Holding,
    MarketView,
    OrderIntent,
    PendingOrder,
    Purpose,
    TickerExposure,
    exposures,
    holdings,
)
from domain.values import ZERO, Side

# rule names (stable: they are stored in the risk event log)
TRADING_STATE = "trading_state"
REDUCES_RISK = "reduces_risk"
EQUITY = "equity"
PRICE_KNOWN = "price_known"
PENDING_PRICED = "pending_priced"
STALE_PRICE = "stale_price"
MAX_POSITION = "max_position_pct"
MIN_POSITION = "min_position_value"
STOP_REQUIRED = "stop_loss_required"
STOP_SIDE = "stop_loss_side"
STOP_MIN = "stop_distance_min"
STOP_MAX = "stop_distance_max"
PRICE_DEVIATION = "price_deviation"
DAY_RANGE = "day_range"
BUYING_POWER = "buying_power"
TICKER_CONCENTRATION = "ticker_concentration"
GROSS_EXPOSURE = "gross_exposure"
NET_EXPOSURE = "net_exposure"
OPEN_POSITIONS = "max_open_positions"
CLUSTER = "correlation_cluster"
DAILY_LOSS = "daily_loss"
DRAWDOWN = "drawdown"

Positions = Iterable[Position | BrokerPosition | Holding]


@attrs.frozen
class LimitStatus:
    """One limit as monitoring shows it: value, limit, headroom and whether it is near."""

    name: str
    value: Decimal
    limit: Decimal
    unit: Unit
    warning_fraction: Decimal

    @property
    def headroom(self) -> Decimal:
        """Return how much room is left before the limit (negative when breached)."""
        return self.limit - self.value

    @property
    def usage(self) -> Decimal:
        """Return value / limit (0 when the limit is 0)."""
        return self.value / self.limit if self.limit else ZERO

    @property
    def status(self) -> str:
        """Return ``ok``, ``warning`` (at or above the warning fraction) or ``breached``."""
        if self.value >= self.limit and self.value > 0:
            return "breached"
        if self.value > 0 and self.usage >= self.warning_fraction:
            return "warning"
        return "ok"

    def text(self, which: str) -> str:
        """Return ``value``, ``limit`` or ``headroom`` formatted for people."""
        return format_value(getattr(self, which), self.unit)


def reduces_position(intent: OrderIntent, held: Holding | None,
                     working: Decimal = ZERO) -> bool:
    """Return True when the order only shrinks an existing position (no flip, no add), even
    if ``working`` (the quantity of working orders on the same side) fills first."""
    if held is None or held.quantity == 0:
        return False
    exit_side = Side.SELL if held.quantity > 0 else Side.BUY
    return intent.side is exit_side and intent.quantity + working <= abs(held.quantity)


@attrs.frozen
class RiskPolicy:
    """Position- and portfolio-level pre-trade rules under one configuration."""

    config: RiskConfig = attrs.field(factory=RiskConfig)

    def check(
        self,
        intent: OrderIntent,
        account: Account,
        positions: Positions,
        market: MarketView,
        state: BreakerState | RiskState = RiskState.ACTIVE,
        *,
        pending: Iterable[PendingOrder] = (),
    ) -> RiskDecision:
        """Decide whether ``intent`` may be submitted.

        Parameters
        ----------
        intent
            The order about to be sent (see :meth:`OrderIntent.from_order`).
        account
            The latest account snapshot (equity and buying power).
        positions
            Open positions (domain, broker or :class:`Holding`), marked at ``market`` prices.
        market
            Quotes, day ranges and trailing returns as of ``market.now``.
        state
            The breaker state (or just the trading state). REDUCING approves only orders that
            shrink a position; HALTED approves nothing, except protective exits that only
            shrink a position when ``allow_protective_exits_when_halted`` is set.
        pending
            Entry orders accepted but not (fully) filled (see :func:`pending_entries`). Every
            exposure rule and buying power count them as if they could fill in any part, so
            entries released before any fills cannot together exceed a limit.

        Returns
        -------
        RiskDecision
            APPROVED, WARNING (approved, with notes) or REJECTED, naming rule, value and limit.
        """
        bs = state if isinstance(state, BreakerState) else BreakerState(state=state)
        held = holdings(positions, market)
        h = held.get(intent.ticker)
        pending = tuple(pending)
        same_side = sum((p.quantity for p in pending
                         if p.ticker == intent.ticker and p.side is intent.side), ZERO)
        reduces = reduces_position(intent, h, same_side)
        checks: list[RuleResult] = [self._state_rule(intent, bs.state, reduces)]
        if reduces:
            assert h is not None
            checks.append(passed(REDUCES_RISK, intent.quantity, abs(h.quantity), Unit.COUNT,
                                 "exit quantity", "within held"))
        else:
            checks.extend(self._entry_rules(intent, account, held, market, bs, pending))
        return RiskDecision.from_checks(tuple(checks), reduces_risk=reduces)

    # --- state -------------------------------------------------------------------------------
    def _state_rule(self, intent: OrderIntent, state: RiskState, reduces: bool) -> RuleResult:
        if state is RiskState.ACTIVE:
            return passed(TRADING_STATE, state.value, RiskState.ACTIVE.value, Unit.STATE,
                          "trading state", "is")
        if state is RiskState.REDUCING:
            if reduces:
                return passed(TRADING_STATE, state.value, "exits only", Unit.STATE,
                              "risk-reducing order in trading state", "allowed under")
            return RuleResult(
                TRADING_STATE, Verdict.REJECTED, state.value, "exits only", Unit.STATE,
                f"{TRADING_STATE}: trading state {state.value} accepts exits only (limit: exits "
                f"only); a {intent.purpose.value} {intent.side.value} of {intent.quantity} "
                f"{intent.ticker} does not reduce a position",
            )
        if reduces and intent.purpose is Purpose.PROTECTIVE and \
                self.config.allow_protective_exits_when_halted:
            return passed(TRADING_STATE, state.value, "protective exits only", Unit.STATE,
                          "protective exit in trading state", "allowed under")
        return RuleResult(
            TRADING_STATE, Verdict.REJECTED, state.value, "nothing new", Unit.STATE,
            f"{TRADING_STATE}: trading state {state.value} accepts nothing new (limit: nothing "
            f"new until a recorded resume); rejected {intent.purpose.value} "
            f"{intent.side.value} of {intent.quantity} {intent.ticker}",
        )

    # --- entries -----------------------------------------------------------------------------
    def _entry_rules(
        self, it: OrderIntent, account: Account, held: dict[str, Holding], market: MarketView,
        bs: BreakerState, pending: Iterable[PendingOrder],
    ) -> list[RuleResult]:
        c = self.config
        R, A = Verdict.REJECTED, Verdict.APPROVED
        out: list[RuleResult] = []
        equity = account.equity
        if equity <= 0:
            out.append(result(EQUITY, R, equity, ZERO, Unit.USD, "account equity", "must exceed"))
            return out
        notional = it.notional
        pending = tuple(pending)
        with_pending = " and every working entry" if pending else ""
        # -- position level: the entry is this order plus the ticker's working entries on
        # the same side (two signals released before either fills make one entry)
        same_side = sum((p.quantity for p in pending
                         if p.ticker == it.ticker and p.side is it.side), ZERO)
        entry_value = notional + same_side * it.price
        pct = entry_value / equity
        what = f"order value {format_value(notional, Unit.USD)}" + (
            f" plus {format_value(same_side * it.price, Unit.USD)} working in {it.ticker}"
            if same_side else "")
        out.append(result(MAX_POSITION, R if pct > c.max_position_pct else A, pct,
                          c.max_position_pct, Unit.PCT, f"{what} is", "of equity vs"))
        out.append(result(MIN_POSITION, R if notional < c.min_position_value else A, notional,
                          c.min_position_value, Unit.USD, "order value", "vs minimum"))
        out.extend(self._stop_rules(it))
        quote = market.quotes.get(it.ticker)
        if quote is None:
            out.append(result(PRICE_KNOWN, R, "none", "a current price", Unit.STATE,
                              f"current price of {it.ticker}:", "required:"))
        else:
            cur = quote.price
            dev = abs(it.price - cur) / cur
            out.append(result(PRICE_DEVIATION, R if dev > c.max_price_deviation_pct else A, dev,
                              c.max_price_deviation_pct, Unit.PCT,
                              f"entry {format_value(it.price, Unit.PRICE)} deviates from current "
                              f"{format_value(cur, Unit.PRICE)} by", "vs"))
            age = market.age_seconds(it.ticker)
            if age is not None:
                out.append(result(STALE_PRICE, R if age > c.max_price_age_s else A, age,
                                  c.max_price_age_s, Unit.SECONDS,
                                  f"age of the {it.ticker} price", "vs"))
            lo, hi = quote.day_low, quote.day_high
            if lo is not None and hi is not None and not (lo <= it.price <= hi):
                out.append(RuleResult(
                    DAY_RANGE, Verdict.WARNING, it.price, f"{lo}-{hi}", Unit.PRICE,
                    f"{DAY_RANGE}: entry {format_value(it.price, Unit.PRICE)} lies outside "
                    f"the day's range (limit {lo}-{hi})",
                ))
        ex, unpriced = exposures(held, pending)
        if unpriced:
            names = ", ".join(sorted({f"{p.ticker} ({p.client_order_id or 'no id'})"
                                      for p in unpriced}))
            out.append(RuleResult(
                PENDING_PRICED, R, "none", "a price", Unit.STATE,
                f"{PENDING_PRICED}: working order(s) {names} have no price to count against "
                "the limits (limit: a price for every working entry)",
            ))
        mine = ex.pop(it.ticker, None)
        before = attrs.evolve(mine, price=it.price) if mine is not None \
            else TickerExposure(it.ticker, it.price)
        # the order is judged filled; working orders may fill in any part (for each ticker the
        # worst case lies at an end of its range, so the order's own partial fills lie between
        # the book before it, judged when those orders were approved, and the book after it)
        after = attrs.evolve(before, held=before.held + it.side.sign * it.quantity)
        reserved = sum((e.opening_quantity * e.price for e in ex.values()),
                       before.opening_quantity * it.price) * (1 + c.buying_power_buffer)
        required = (before.with_order(it.side, it.quantity).opening_quantity
                    - before.opening_quantity) * it.price \
            * (1 + c.buying_power_buffer)
        available = account.buying_power if account.open_orders_reserved \
            else account.buying_power - reserved
        bp_what = "vs buying power" if reserved == 0 or account.open_orders_reserved else \
            f"vs buying power less {format_value(reserved, Unit.USD)} reserved by working orders"
        out.append(result(BUYING_POWER, R if required > available else A, required, available,
                          Unit.USD,
                          f"required with {format_value(c.buying_power_buffer, Unit.PCT)} buffer",
                          bp_what))
        # -- portfolio level: the worst the held positions and every pending entry can reach
        tpct = after.worst_value / equity
        out.append(self._capped(TICKER_CONCENTRATION, tpct, c.max_ticker_pct,
                                f"{it.ticker} exposure after the order{with_pending}",
                                warn=False))
        gross = (sum((e.worst_value for e in ex.values()), ZERO) + after.worst_value) / equity
        high = sum((e.high * e.price for e in ex.values()), ZERO) + after.high * it.price
        low = sum((e.low * e.price for e in ex.values()), ZERO) + after.low * it.price
        net = max(abs(high), abs(low)) / equity
        out.append(self._capped(GROSS_EXPOSURE, gross, c.max_gross_exposure_pct,
                                f"gross exposure after the order{with_pending}"))
        out.append(self._capped(NET_EXPOSURE, net, c.max_net_exposure_pct,
                                f"|net exposure| after the order{with_pending}"))
        count = sum(1 for e in ex.values() if e.worst_quantity > 0) + \
            (1 if after.worst_quantity > 0 else 0)
        out.append(self._capped(OPEN_POSITIONS, Decimal(count), Decimal(c.max_open_positions),
                                f"open positions after the order{with_pending}",
                                unit=Unit.COUNT))
        clusters = correlation_clusters(
            market.returns, [*ex, it.ticker], c.correlation_threshold,
            c.correlation_lookback, c.correlation_min_obs,
        )
        members = clusters[it.ticker]
        cl_value = after.worst_value + sum(
            (ex[t].worst_value for t in members if t != it.ticker and t in ex), ZERO
        )
        names = ",".join(sorted(members))
        out.append(self._capped(CLUSTER, cl_value / equity, c.max_cluster_pct,
                                f"exposure of correlated cluster [{names}] after the "
                                f"order{with_pending}"))
        if bs.day_start_equity is not None and bs.day_start_equity > 0:
            loss = max(ZERO, (bs.day_start_equity - equity) / bs.day_start_equity)
            out.append(self._capped(DAILY_LOSS, loss, c.max_daily_loss_pct,
                                    "loss from the day's starting equity", inclusive=True))
        if bs.peak_equity is not None and bs.peak_equity > 0:
            dd = max(ZERO, (bs.peak_equity - equity) / bs.peak_equity)
            out.append(self._capped(DRAWDOWN, dd, c.max_drawdown_pct,
                                    "drawdown from peak equity", inclusive=True))
        return out

    def _stop_rules(self, it: OrderIntent) -> list[RuleResult]:
        c = self.config
        R, A = Verdict.REJECTED, Verdict.APPROVED
        if it.stop_loss is None:
            if c.require_stop_loss:
                return [result(STOP_REQUIRED, R, "none", "a stop-loss", Unit.STATE,
                               "stop-loss on the entry:", "required:")]
            return []
        sign = it.side.sign  # +1 buy (stop below), -1 sell short (stop above)
        dist = sign * (it.price - it.stop_loss) / it.price
        if dist <= 0:
            where = "below" if sign > 0 else "above"
            return [result(STOP_SIDE, R, it.stop_loss, it.price, Unit.PRICE,
                           f"stop-loss of a {it.side.value} must lie {where} the entry: stop",
                           "vs entry")]
        return [
            result(STOP_MIN, R if dist < c.min_stop_pct else A, dist, c.min_stop_pct, Unit.PCT,
                   "stop distance", "vs minimum"),
            result(STOP_MAX, R if dist > c.max_stop_pct else A, dist, c.max_stop_pct, Unit.PCT,
                   "stop distance", "vs maximum"),
        ]

    def _capped(
        self, rule: str, value: Decimal, limit: Decimal, what: str, *, unit: Unit = Unit.PCT,
        warn: bool = True, inclusive: bool = False,
    ) -> RuleResult:
        breached = value >= limit if inclusive else value > limit
        if breached:
            return result(rule, Verdict.REJECTED, value, limit, unit, what, "exceeds")
        if warn and value > 0 and value >= limit * self.config.warning_fraction:
            return result(rule, Verdict.WARNING, value, limit, unit, what,
                          f"is at {format_value(value / limit, Unit.PCT)} of")
        return passed(rule, value, limit, unit, what)

    # --- monitoring ----------------------------------------------------------------------------
    def limits(
        self, account: Account, positions: Positions, market: MarketView | None,
        state: BreakerState, pending: Iterable[PendingOrder] = (),
    ) -> tuple[LimitStatus, ...]:
        """Return every portfolio limit with its current value, for status and reports.

        Exposures are the worst the held positions and the ``pending`` entries can reach, as
        the pre-trade check measures them (unpriced pending orders are left out).
        """
        c = self.config
        held = holdings(positions, market)
        ex, _ = exposures(held, pending)
        eq = account.equity if account.equity > 0 else None
        wf = c.warning_fraction

        def frac(x: Decimal) -> Decimal:
            return x / eq if eq else ZERO

        gross = sum((e.worst_value for e in ex.values()), ZERO)
        net = max(abs(sum((e.high * e.price for e in ex.values()), ZERO)),
                  abs(sum((e.low * e.price for e in ex.values()), ZERO)))
        largest = max((e.worst_value for e in ex.values()), default=ZERO)
        cluster_val = ZERO
        if market is not None and ex:
            cl = correlation_clusters(market.returns, list(ex), c.correlation_threshold,
                                      c.correlation_lookback, c.correlation_min_obs)
            cluster_val = max(
                sum((ex[t].worst_value for t in members if t in ex), ZERO)
                for members in cl.values()
            )
        n_open = sum(1 for e in ex.values() if e.worst_quantity > 0)
        rate, _ = state.broker_error_rate()
        ages = [market.age_seconds(t) for t in held] if market is not None else []
        worst_age = max((a for a in ages if a is not None), default=0.0)
        return (
            LimitStatus(GROSS_EXPOSURE, frac(gross), c.max_gross_exposure_pct, Unit.PCT, wf),
            LimitStatus(NET_EXPOSURE, frac(net), c.max_net_exposure_pct, Unit.PCT, wf),
            LimitStatus(TICKER_CONCENTRATION, frac(largest), c.max_ticker_pct, Unit.PCT, wf),
            LimitStatus(CLUSTER, frac(cluster_val), c.max_cluster_pct, Unit.PCT, wf),
            LimitStatus(OPEN_POSITIONS, Decimal(n_open), Decimal(c.max_open_positions),
                        Unit.COUNT, wf),
            LimitStatus(DAILY_LOSS, state.daily_loss_pct, c.max_daily_loss_pct, Unit.PCT, wf),
            LimitStatus(DRAWDOWN, state.drawdown_pct, c.max_drawdown_pct, Unit.PCT, wf),
            LimitStatus("consecutive_losses", Decimal(state.consecutive_losses),
                        Decimal(c.max_consecutive_losses), Unit.COUNT, wf),
            LimitStatus("broker_error_rate", rate, c.max_broker_error_rate, Unit.PCT, wf),
            LimitStatus("stale_prices", Decimal(repr(worst_age)),
                        Decimal(repr(c.max_price_age_s)), Unit.SECONDS, wf),
        )
