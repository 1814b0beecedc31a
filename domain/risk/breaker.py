"""Circuit breakers as a pure state machine: (state, input) -> (new state, risk events).

ACTIVE trades; REDUCING takes exits only; HALTED takes nothing new. A trip only ever moves the
state up (ACTIVE < REDUCING < HALTED) and latches: nothing but :meth:`CircuitBreaker.resume`,
with a named person and a reason, returns to ACTIVE. The whole state is a frozen value so the
application can persist it and a restart resumes exactly where it stopped.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs

from domain.errors import DomainError, InvalidInput
from domain.events import RiskEvent, RiskState
from domain.risk.config import RiskConfig
from domain.risk.decision import Unit, format_value
from domain.values import ZERO, aware

_RANK = {RiskState.ACTIVE: 0, RiskState.REDUCING: 1, RiskState.HALTED: 2}

DAILY_LOSS = "daily_loss"
DRAWDOWN = "drawdown"
CONSECUTIVE_LOSSES = "consecutive_losses"
BROKER_ERRORS = "broker_error_rate"
STALE_PRICES = "stale_prices"
KILL_SWITCH = "kill_switch"
RESUME = "resume"


def escalate(a: RiskState, b: RiskState) -> RiskState:
    """Return the more restrictive of two states."""
    return a if _RANK[a] >= _RANK[b] else b


def more_restrictive(a: RiskState, b: RiskState) -> bool:
    """Return True when ``a`` is strictly more restrictive than ``b``."""
    return _RANK[a] > _RANK[b]


@attrs.frozen(kw_only=True)
class BreakerState:
    """Everything the breakers remember, persisted between steps and across restarts.

    ``day_start_equity`` is the equity at the end of the previous session (the first equity
    seen when there is none), ``peak_equity`` the highest equity ever marked; daily loss and
    drawdown are measured from these, never from the first equity of the run.
    """

    state: RiskState = RiskState.ACTIVE
    tripped_rules: tuple[str, ...] = ()
    reason: str | None = None
    tripped_at: datetime | None = None
    session: date | None = None
    day_start_equity: Decimal | None = None
    peak_equity: Decimal | None = None
    last_equity: Decimal | None = None
    last_mark_at: datetime | None = None
    consecutive_losses: int = 0
    broker_calls: tuple[tuple[datetime, bool], ...] = ()
    warned: tuple[str, ...] = ()
    killed: bool = False
    kill_pending: bool = False
    kill_flatten: bool = False
    resumed_by: str | None = None
    resumed_at: datetime | None = None
    resume_reason: str | None = None
    updated_at: datetime | None = None

    @property
    def daily_loss_pct(self) -> Decimal:
        """Return the loss since the day's start as a fraction (0 when up or unknown)."""
        s, e = self.day_start_equity, self.last_equity
        if s is None or e is None or s <= 0:
            return ZERO
        return max(ZERO, (s - e) / s)

    @property
    def drawdown_pct(self) -> Decimal:
        """Return the fall from peak equity as a fraction (0 at a new high or unknown)."""
        p, e = self.peak_equity, self.last_equity
        if p is None or e is None or p <= 0:
            return ZERO
        return max(ZERO, (p - e) / p)

    def broker_error_rate(self) -> tuple[Decimal, int]:
        """Return (share of failed calls, number of calls) in the remembered window."""
        n = len(self.broker_calls)
        if n == 0:
            return ZERO, 0
        bad = sum(1 for _, ok in self.broker_calls if not ok)
        return Decimal(bad) / Decimal(n), n

    def to_record(self) -> dict[str, Any]:
        """Return the state as JSON-ready primitives (exact: Decimals as strings)."""
        def iso(x: datetime | date | None) -> str | None:
            return x.isoformat() if x is not None else None

        def s(x: Decimal | None) -> str | None:
            return str(x) if x is not None else None

        return {
            "state": self.state.value, "tripped_rules": list(self.tripped_rules),
            "reason": self.reason, "tripped_at": iso(self.tripped_at),
            "session": iso(self.session), "day_start_equity": s(self.day_start_equity),
            "peak_equity": s(self.peak_equity), "last_equity": s(self.last_equity),
            "last_mark_at": iso(self.last_mark_at),
            "consecutive_losses": self.consecutive_losses,
            "broker_calls": [[t.isoformat(), ok] for t, ok in self.broker_calls],
            "warned": list(self.warned), "killed": self.killed,
            "kill_pending": self.kill_pending, "kill_flatten": self.kill_flatten,
            "resumed_by": self.resumed_by, "resumed_at": iso(self.resumed_at),
            "resume_reason": self.resume_reason, "updated_at": iso(self.updated_at),
        }

    @classmethod
    def from_record(cls, r: Mapping[str, Any]) -> BreakerState:
        """Rebuild a state written by :meth:`to_record`."""
        def ts(x: Any) -> datetime | None:
            return datetime.fromisoformat(x) if x else None

        def d(x: Any) -> Decimal | None:
            return Decimal(x) if x is not None else None

        return cls(
            state=RiskState(r.get("state", "active")),
            tripped_rules=tuple(r.get("tripped_rules", ())), reason=r.get("reason"),
            tripped_at=ts(r.get("tripped_at")),
            session=date.fromisoformat(r["session"]) if r.get("session") else None,
            day_start_equity=d(r.get("day_start_equity")), peak_equity=d(r.get("peak_equity")),
            last_equity=d(r.get("last_equity")), last_mark_at=ts(r.get("last_mark_at")),
            consecutive_losses=int(r.get("consecutive_losses", 0)),
            broker_calls=tuple(
                (datetime.fromisoformat(t), bool(ok)) for t, ok in r.get("broker_calls", ())
            ),
            warned=tuple(r.get("warned", ())), killed=bool(r.get("killed", False)),
            kill_pending=bool(r.get("kill_pending", False)),
            kill_flatten=bool(r.get("kill_flatten", False)),
            resumed_by=r.get("resumed_by"), resumed_at=ts(r.get("resumed_at")),
            resume_reason=r.get("resume_reason"), updated_at=ts(r.get("updated_at")),
        )


Step = tuple[BreakerState, tuple[RiskEvent, ...]]


@attrs.frozen
class CircuitBreaker:
    """The transitions of :class:`BreakerState`. Pure: time and the session day are passed in."""

    config: RiskConfig = attrs.field(factory=RiskConfig)

    # --- inputs ----------------------------------------------------------------------------
    def mark(self, st: BreakerState, equity: Decimal, ts: datetime, session: date) -> Step:
        """Mark equity at ``ts`` in trading ``session``; roll the day, move the peak, trip.

        On the first mark of a later session the day's starting equity becomes the last equity
        of the previous session, so a gap down at the open counts as today's loss.
        """
        aware(ts, "ts")
        events: list[RiskEvent] = []
        if st.session is None or session > st.session:
            start = st.last_equity if st.session is not None and st.last_equity is not None \
                else equity
            st = attrs.evolve(st, session=session, day_start_equity=start, warned=())
        peak = equity if st.peak_equity is None else max(st.peak_equity, equity)
        st = attrs.evolve(st, peak_equity=peak, last_equity=equity, last_mark_at=ts, updated_at=ts)
        c = self.config
        st = self._limit(st, events, DAILY_LOSS, st.daily_loss_pct, c.max_daily_loss_pct,
                         c.daily_loss_trips_to, ts, "loss from the day's starting equity "
                         f"{format_value(st.day_start_equity, Unit.USD)}")
        st = self._limit(st, events, DRAWDOWN, st.drawdown_pct, c.max_drawdown_pct,
                         c.drawdown_trips_to, ts,
                         f"drawdown from peak equity {format_value(st.peak_equity, Unit.USD)}")
        return st, tuple(events)

    def record_trade(self, st: BreakerState, pnl: Decimal, ts: datetime) -> Step:
        """Count a closed trade: a loss extends the losing streak, a win ends it."""
        aware(ts, "ts")
        n = st.consecutive_losses + 1 if pnl < 0 else (0 if pnl > 0 else st.consecutive_losses)
        st = attrs.evolve(st, consecutive_losses=n, updated_at=ts)
        events: list[RiskEvent] = []
        c = self.config
        st = self._limit(st, events, CONSECUTIVE_LOSSES, Decimal(n),
                         Decimal(c.max_consecutive_losses), c.consecutive_losses_trips_to, ts,
                         "losing trades in a row", unit=Unit.COUNT)
        return st, tuple(events)

    def record_broker_call(self, st: BreakerState, ok: bool, ts: datetime) -> Step:
        """Remember one broker call's outcome; trip when the window's error rate is too high."""
        aware(ts, "ts")
        c = self.config
        since = ts - timedelta(seconds=c.broker_error_window_s)
        calls = tuple(x for x in st.broker_calls if x[0] > since) + ((ts, ok),)
        st = attrs.evolve(st, broker_calls=calls, updated_at=ts)
        events: list[RiskEvent] = []
        rate, n = st.broker_error_rate()
        if n >= c.broker_error_min_calls:
            st = self._limit(st, events, BROKER_ERRORS, rate, c.max_broker_error_rate,
                             c.broker_errors_trip_to, ts,
                             f"failed broker calls ({n} calls in {c.broker_error_window_s:.0f}s)")
        return st, tuple(events)

    def check_prices(self, st: BreakerState, ages: Mapping[str, float | None], ts: datetime) -> Step:
        """Trip when the price of a held ticker is older than the allowed age."""
        aware(ts, "ts")
        known = {t: a for t, a in ages.items() if a is not None}
        if not known:
            return st, ()
        worst_ticker = max(known, key=lambda t: known[t])
        worst = Decimal(repr(known[worst_ticker]))
        events: list[RiskEvent] = []
        c = self.config
        st = self._limit(st, events, STALE_PRICES, worst, Decimal(repr(c.max_price_age_s)),
                         c.stale_prices_trip_to, ts, f"age of the {worst_ticker} price",
                         unit=Unit.SECONDS, warn=False, strict=True)
        return st, tuple(events)

    def kill(
        self, st: BreakerState, by: str, reason: str, ts: datetime, *, flatten: bool = False,
    ) -> Step:
        """Engage the kill switch: HALTED, latched, recorded with who and why.

        The state also remembers that open orders must still be canceled (and, with
        ``flatten``, positions closed) until :meth:`kill_executed` says it was done: a kill
        issued by another process (the CLI) is carried out by the engine at its next step.
        """
        aware(ts, "ts")
        by = _actor(by)
        rules = tuple(sorted(set(st.tripped_rules) | {KILL_SWITCH}))
        msg = f"{KILL_SWITCH}: trading halted by {by}: {reason or 'no reason given'}"
        new = attrs.evolve(st, state=RiskState.HALTED, tripped_rules=rules, reason=msg,
                           tripped_at=ts, killed=True, kill_pending=True,
                           kill_flatten=flatten or (st.kill_pending and st.kill_flatten),
                           updated_at=ts)
        ev = RiskEvent(kind="kill", rule=KILL_SWITCH, message=msg, ts_event=ts,
                       value=RiskState.HALTED.value, limit=st.state.value, state=RiskState.HALTED,
                       actor=by, data={"reason": reason, "previous_state": st.state.value,
                                       "flatten": flatten})
        return new, (ev,)

    def kill_executed(self, st: BreakerState, ts: datetime) -> BreakerState:
        """Return ``st`` with the pending cancel / flatten of a kill marked as carried out."""
        aware(ts, "ts")
        return attrs.evolve(st, kill_pending=False, kill_flatten=False, updated_at=ts)

    def resume(self, st: BreakerState, by: str, reason: str, ts: datetime) -> Step:
        """Return to ACTIVE on a named person's recorded approval.

        Baselines that are still breached are re-based to the last equity (recorded in the
        event with their old values); otherwise the next mark would trip again at once.
        """
        aware(ts, "ts")
        by = _actor(by)
        c = self.config
        rebased: dict[str, str] = {}
        day_start, peak = st.day_start_equity, st.peak_equity
        if st.last_equity is not None:
            if st.daily_loss_pct >= c.max_daily_loss_pct:
                rebased["day_start_equity"] = f"{day_start} -> {st.last_equity}"
                day_start = st.last_equity
            if st.drawdown_pct >= c.max_drawdown_pct:
                rebased["peak_equity"] = f"{peak} -> {st.last_equity}"
                peak = st.last_equity
        msg = (f"{RESUME}: trading resumed by {by} from {st.state.value}"
               f" (was tripped by {', '.join(st.tripped_rules) or 'nothing'}): "
               f"{reason or 'no reason given'}")
        new = attrs.evolve(
            st, state=RiskState.ACTIVE, tripped_rules=(), reason=None, tripped_at=None,
            killed=False, kill_pending=False, kill_flatten=False, consecutive_losses=0,
            broker_calls=(), warned=(),
            day_start_equity=day_start, peak_equity=peak, resumed_by=by, resumed_at=ts,
            resume_reason=reason, updated_at=ts,
        )
        ev = RiskEvent(kind="resume", rule=RESUME, message=msg, ts_event=ts,
                       value=RiskState.ACTIVE.value, limit=st.state.value,
                       state=RiskState.ACTIVE, actor=by,
                       data={"reason": reason, "previous_state": st.state.value,
                             "tripped_rules": list(st.tripped_rules), "rebased": rebased})
        return new, (ev,)

    # --- helpers ---------------------------------------------------------------------------
    def _limit(
        self, st: BreakerState, events: list[RiskEvent], rule: str, value: Decimal,
        limit: Decimal, target: RiskState, ts: datetime, what: str, *, unit: Unit = Unit.PCT,
        warn: bool = True, strict: bool = False,
    ) -> BreakerState:
        v, lim = format_value(value, unit), format_value(limit, unit)
        breached = value > limit if strict else value >= limit
        if breached:
            if rule in st.tripped_rules and not more_restrictive(target, st.state):
                return st
            new_state = escalate(st.state, target)
            msg = f"{rule}: {what} {v} reached limit {lim}; trading {new_state.value}"
            events.append(RiskEvent(
                kind="trip", rule=rule, message=msg, ts_event=ts, value=v, limit=lim,
                state=new_state, data={"previous_state": st.state.value, "value": str(value),
                                       "limit": str(limit)},
            ))
            return attrs.evolve(st, state=new_state, reason=msg, tripped_at=ts,
                                tripped_rules=tuple(sorted(set(st.tripped_rules) | {rule})))
        level = limit * self.config.warning_fraction
        if warn and value >= level and value > 0 and rule not in st.warned:
            msg = (f"{rule}: {what} {v} is {format_value(value / limit, Unit.PCT)} of limit "
                   f"{lim} (warning at {format_value(self.config.warning_fraction, Unit.PCT)})")
            events.append(RiskEvent(
                kind="warning", rule=rule, message=msg, ts_event=ts, value=v, limit=lim,
                state=st.state, data={"value": str(value), "limit": str(limit)},
            ))
            return attrs.evolve(st, warned=(*st.warned, rule))
        return st


class ResumeRefused(DomainError):
    """A resume was asked for without an approval, a name, or while the kill flag is still set."""


def _actor(by: str) -> str:
    if not isinstance(by, str) or not by.strip():
        raise InvalidInput("by", by, "the name of the person who approves (non-empty)")
    return by.strip()
