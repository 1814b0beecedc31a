"""The risk use case: pre-trade checks, circuit breakers, kill switch and resume, persisted.

State lives in the unit of work's ``state`` repository under ``risk:`` keys, so a restarted
process (or another process: the CLI) sees the same trading state, peak and day-start equity.
Every decision, trip, warning, kill and resume is journaled as a :class:`RiskEvent`; people
hear about trips, kills, resumes and rejections through the :class:`Notifier` port.

API notes for callers (executor, engine, CLI): ``RiskService(uow, broker, notifier, clock,
config, *, kill_flag, kill_flag_flattens, ...)``; ``broker`` may be None (a kill then stays
pending until an engine step with a broker carries it out); ``kill_flag_flattens`` may be a
callable; ``kill(...)`` and ``execute_pending_kill(...)`` take an optional caller ``uow`` like
the other methods; ``check_order`` refuses entries while the kill flag is set, even before the
next ``step`` records the kill. Call ``step`` once per engine step before taking signals; it
executes a kill from the flag itself (inside the caller's ``uow`` when one is given, with
``kill_flag_flattens()``), so an engine need not call ``kill`` for the flag; any ``kill``
while the flag asks for a flatten flattens.

Why one module: :class:`RiskService` is one object around one persisted breaker state; every
method loads, changes and saves that state in the caller's transaction, journals the events
and notifies, so splitting it by method group would hand the state between classes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import attrs
import numpy as np
import structlog

from application.ports import BrokerPort, Clock, Notifier, PriceFeedPort, UnitOfWork
from domain.account import Account, BrokerPosition
from domain.audit import Notification, Severity
from domain.errors import DomainError
from domain.events import RiskEvent, RiskState
from domain.ids import digest
from domain.ids import event_id as make_event_id
from domain.position import ClosedPosition, Position
from domain.risk.breaker import KILL_SWITCH, BreakerState, CircuitBreaker, ResumeRefused
from domain.risk.config import RiskConfig
from domain.risk.decision import RiskDecision, Verdict
from domain.risk.inputs import (
    FloatArray,
    Holding,
    MarketView,
    OrderIntent,
    PendingOrder,
    Quote,
    holdings,
    pending_entries,
)
from domain.risk.policy import TRADING_STATE, LimitStatus, RiskPolicy
from domain.risk.sizing import TradeStats, stats_by_strategy

log = structlog.get_logger(__name__)

STATE_KEY = "risk:state"
BREAKER_KEY = "risk:breaker"
# written only by kill and resume: a step that saved a state it read before a kill committed
# in another process cannot erase the kill (load re-applies it)
KILL_KEY = "risk:kill"
# set while a kill's flatten has closing orders out and positions stay open; cleared when flat
FLATTEN_KEY = "risk:flatten"
_NY = ZoneInfo("America/New_York")
_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}

KillFlag = Callable[[], bool]
# (uow, now) -> (client order ids sent now, positions still open): the executor's flatten
Flattener = Callable[[UnitOfWork, datetime], tuple[list[str], int]]
AnyPosition = Position | BrokerPosition | Holding


def new_york_session(ts: datetime) -> date:
    """Return the US equity trading day of ``ts`` (its date in New York)."""
    return ts.astimezone(_NY).date()


@attrs.frozen
class KillReport:
    """What the kill switch did: orders canceled (or not), positions flattened, final state."""

    state: RiskState
    canceled: tuple[str, ...]
    cancel_failures: tuple[str, ...]
    flatten_orders: tuple[str, ...]
    flatten_error: str | None
    event: RiskEvent
    executed: bool = True  # False: no broker here; the engine cancels / flattens at its next step


@attrs.frozen
class StepReport:
    """What one engine step did to the risk state."""

    state: BreakerState
    events: tuple[RiskEvent, ...]
    kill: KillReport | None = None

    @property
    def trading_state(self) -> RiskState:
        """Return ACTIVE, REDUCING or HALTED after the step."""
        return self.state.state


@attrs.frozen
class RiskStatus:
    """Everything ``catalyst risk status`` shows."""

    state: BreakerState
    limits: tuple[LimitStatus, ...]
    account: Account
    recent_events: tuple[RiskEvent, ...]
    kill_flag_set: bool
    flatten_pending: bool = False  # a kill's flatten waits for its closing orders to fill
    flatten_since: str | None = None
    open_positions: int = 0


class RiskService:
    """Pre-trade checks, breakers, kill switch and resume over a unit of work.

    Parameters
    ----------
    uow
        A reusable unit of work (``with uow:`` opens a transaction); state lives in ``uow.state``.
    broker
        Used by the kill switch to cancel open orders and flatten positions. None where the
        process has no broker of its own (the CLI of a simulated run): a kill then stays
        pending in the persisted state and the engine's next :meth:`step` carries it out.
    notifier
        Where trips, kills, resumes and rejections are announced (must never raise; failures
        are swallowed here too).
    clock
        Supplies event times.
    config
        Risk limits (tickets' defaults if None).
    kill_flag
        A callable that returns True while the kill flag (a file, a webhook latch) is set; the
        application never reads the file itself.
    kill_flag_flattens
        Whether a kill while the flag is set also flattens positions: a bool, or a callable
        asked when the flag is seen. None (default): ask the flag's own ``wants_flatten()``
        when it has one (the kill file records ``catalyst risk kill --flatten``), else False.
    session_day
        Maps a time to its trading day (New York date by default).
    notify_min_severity
        Notifications below this severity are not sent (the journal keeps everything).
    journal_approvals
        Journal approved decisions too (rejections and warnings are always journaled).
    """

    def __init__(
        self,
        uow: UnitOfWork,
        broker: BrokerPort | None,
        notifier: Notifier,
        clock: Clock,
        config: RiskConfig | None = None,
        *,
        kill_flag: KillFlag | None = None,
        kill_flag_flattens: bool | Callable[[], bool] | None = None,
        session_day: Callable[[datetime], date] = new_york_session,
        notify_min_severity: Severity = Severity.WARNING,
        journal_approvals: bool = True,
    ) -> None:
        self.config = config or RiskConfig()
        self.policy = RiskPolicy(self.config)
        self.breaker = CircuitBreaker(self.config)
        self._uow = uow
        self._broker = broker
        self._notifier = notifier
        self._clock = clock
        self._kill_flag = kill_flag
        self._kill_flag_flattens = kill_flag_flattens
        self._session_day = session_day
        self._min_severity = notify_min_severity
        self._journal_approvals = journal_approvals
        self._flattener: Flattener | None = None

    def attach_flattener(self, flattener: Flattener) -> None:
        """Flatten through ``flattener`` (the executor: stored closing orders that can trade)
        instead of the broker's own close-all; the flatten then stays pending until the book
        is flat, and each step re-sends a closing order that ended unfilled."""
        self._flattener = flattener

    # --- persistence ------------------------------------------------------------------------
    @contextmanager
    def _tx(self, uow: UnitOfWork | None) -> Iterator[UnitOfWork]:
        if uow is not None:  # the caller's transaction: the caller commits
            yield uow
            return
        with self._uow as u:
            yield u
            u.commit()

    @staticmethod
    def load(uow: UnitOfWork) -> BreakerState:
        """Return the persisted breaker state (a fresh ACTIVE state when none is stored)."""
        raw = uow.state.get(BREAKER_KEY)
        if not raw:
            legacy = uow.state.get(STATE_KEY)  # only the state was written: keep it latched
            st = BreakerState(state=RiskState(legacy)) if legacy else BreakerState()
        else:
            st = _parsed_state(raw)
        kill = uow.state.get(KILL_KEY)
        if kill and not st.killed:
            rec = json.loads(kill)
            at = datetime.fromisoformat(rec["at"])
            st = attrs.evolve(
                st, state=RiskState.HALTED, killed=True, kill_pending=True,
                kill_flatten=bool(rec.get("flatten")), tripped_at=at,
                tripped_rules=tuple(sorted(set(st.tripped_rules) | {KILL_SWITCH})),
                reason=f"{KILL_SWITCH}: trading halted by {rec.get('by')}: "
                       f"{rec.get('reason') or 'no reason given'}",
            )
        return st

    @staticmethod
    def save(uow: UnitOfWork, st: BreakerState) -> None:
        """Persist ``st`` (the full record and the plain trading state)."""
        raw = json.dumps(st.to_record(), sort_keys=True)
        uow.state.set(BREAKER_KEY, raw)
        uow.state.set(STATE_KEY, st.state.value)
        _remember_state(raw, st)  # the next load reads this text back: no parse

    def current(self) -> BreakerState:
        """Return the persisted breaker state."""
        with self._uow as uow:
            return self.load(uow)

    def trading_state(self) -> RiskState:
        """Return ACTIVE, REDUCING or HALTED as persisted."""
        return self.current().state

    def kill_flag_set(self) -> bool:
        """Return True when the kill flag is set (never raises)."""
        if self._kill_flag is None:
            return False
        try:
            return bool(self._kill_flag())
        except Exception as exc:  # noqa: BLE001 - a broken flag reader must not stop trading
            log.warning("risk.kill_flag_unreadable", error=str(exc))
            return False

    # --- pre-trade ----------------------------------------------------------------------------
    def check_order(
        self,
        intent: OrderIntent,
        account: Account,
        positions: Iterable[AnyPosition],
        market: MarketView,
        *,
        uow: UnitOfWork | None = None,
        pending: Iterable[PendingOrder] = (),
    ) -> RiskDecision:
        """Decide on ``intent`` under the persisted state; journal it; announce a rejection.

        ``pending`` are the entry orders accepted but not yet filled (see
        :func:`domain.risk.inputs.pending_entries`): every exposure limit counts them.
        Returns the :class:`RiskDecision`; the executor submits only when ``approved``.
        """
        flagged = self.kill_flag_set()
        with self._tx(uow) as u:
            st = self.load(u)
            if flagged and st.state is not RiskState.HALTED:
                # the flag halts at once, even before the next step records the kill
                st = attrs.evolve(st, state=RiskState.HALTED)
            decision = self.policy.check(intent, account, positions, market, st,
                                         pending=pending)
            if decision.verdict is not Verdict.APPROVED or self._journal_approvals:
                u.journal.add_risk_event(self._decision_event(intent, decision, st, market.now))
        if not decision.approved:
            sev = Severity.INFO if decision.rule == TRADING_STATE else Severity.WARNING
            self._notify(sev, f"Order rejected: {intent.side.value} {intent.quantity} "
                              f"{intent.ticker}", decision.message, market.now,
                         {"rule": decision.rule, "value": decision.value_text,
                          "limit": decision.limit_text})
        return decision

    def _decision_event(
        self, it: OrderIntent, d: RiskDecision, st: BreakerState, ts: datetime
    ) -> RiskEvent:
        ident = it.client_order_id or digest(it.ticker, it.side, it.quantity, it.price,
                                             it.stop_loss, it.purpose, it.signal_id)
        return RiskEvent(
            kind="decision", rule=d.rule, message=d.message, ts_event=ts, value=d.value_text,
            limit=d.limit_text, state=st.state,
            data={
                "verdict": d.verdict.value, "ticker": it.ticker, "side": it.side.value,
                "quantity": str(it.quantity), "price": str(it.price),
                "stop_loss": str(it.stop_loss) if it.stop_loss is not None else None,
                "purpose": it.purpose.value, "strategy": it.strategy,
                "client_order_id": it.client_order_id, "signal_id": it.signal_id,
                "reduces_risk": d.reduces_risk,
                "rejections": [c.message for c in d.rejections],
                "warnings": [c.message for c in d.warnings],
            },
            event_id=make_event_id("risk-decision", ident, ts.isoformat(), d.verdict.value),
        )

    # --- each engine step ---------------------------------------------------------------------
    def step(
        self,
        account: Account,
        market: MarketView | None = None,
        positions: Iterable[AnyPosition] = (),
        *,
        uow: UnitOfWork | None = None,
    ) -> StepReport:
        """Run the breakers for one engine step; call it before taking any new signal.

        Checks the kill flag first (and executes the kill within this step: open orders
        canceled, positions flattened when asked), then carries out a kill another process
        (the CLI) recorded but could not execute, then marks equity (day roll, peak, daily loss,
        drawdown), then the age of held tickers' prices.
        """
        now = market.now if market is not None else self._clock.now()
        kill: KillReport | None = None
        flag = self.kill_flag_set()
        with self._tx(uow) as u:
            before = self.load(u)
        if flag and not before.killed:
            kill = self.kill("kill-flag", "kill flag is set", flatten=self.kill_flag_flattens(),
                             ts=now, uow=uow)
        elif before.kill_pending and self._broker is not None:
            kill = self.execute_pending_kill(ts=now, uow=uow)
        events: list[RiskEvent] = []
        if kill is None and self._flattener is not None:
            events.extend(self._continue_flatten(now, uow))
        with self._tx(uow) as u:
            st = self.load(u)
            st, evs = self.breaker.mark(st, account.equity, now, self._session_day(now))
            events.extend(evs)
            if market is not None:
                held = holdings(positions, market)
                ages = {t: market.age_seconds(t) for t in held}
                st, evs = self.breaker.check_prices(st, ages, now)
                events.extend(evs)
            self.save(u, st)
            for ev in events:
                u.journal.add_risk_event(ev)
        self._announce(events)
        return StepReport(st, tuple(events), kill)

    def _continue_flatten(self, now: datetime, uow: UnitOfWork | None) -> list[RiskEvent]:
        """Re-send closing orders of a pending flatten; clear it once the book is flat."""
        assert self._flattener is not None
        with self._tx(uow) as u:
            raw = u.state.get(FLATTEN_KEY)
            if not raw:
                return []
            rec = json.loads(raw)
            sent, remaining = self._flattener(u, now)
            if remaining:
                if sent:
                    rec["orders"] = [*rec.get("orders", []), *sent]
                    u.state.set(FLATTEN_KEY, json.dumps(rec, sort_keys=True))
                return []
            u.state.set(FLATTEN_KEY, "")
            st = self.load(u)
            ev = RiskEvent(
                kind="flatten_done", rule=KILL_SWITCH,
                message=f"{KILL_SWITCH}: flatten complete, the book is flat "
                        f"(closing orders sent since {rec.get('since')})",
                ts_event=now, value="0", limit="0", state=st.state, actor="engine",
                data={"orders": rec.get("orders", [])},
                event_id=make_event_id("risk-flatten-done", str(rec.get("since")),
                                       now.isoformat()),
            )
        return [ev]

    def kill_flag_flattens(self) -> bool:
        """Return whether a kill triggered by the flag should flatten (never raises)."""
        f = self._kill_flag_flattens
        if f is None:
            f = getattr(self._kill_flag, "wants_flatten", None)
            if f is None:
                return False
        if isinstance(f, bool):
            return f
        try:
            return bool(f())
        except Exception as exc:  # noqa: BLE001 - unreadable details: keep positions, still halt
            log.warning("risk.kill_flag_details_unreadable", error=str(exc))
            return False

    def record_trade(self, closed: ClosedPosition, *, uow: UnitOfWork | None = None) -> StepReport:
        """Count a closed trade towards the consecutive-loss breaker."""
        return self._apply(lambda st: self.breaker.record_trade(st, closed.realized_pnl,
                                                                 closed.closed_at), uow)

    def record_broker_call(
        self, ok: bool, ts: datetime | None = None, *, uow: UnitOfWork | None = None
    ) -> StepReport:
        """Count one broker call's outcome towards the error-rate breaker."""
        when = ts or self._clock.now()
        return self._apply(lambda st: self.breaker.record_broker_call(st, ok, when), uow)

    def _apply(
        self, fn: Callable[[BreakerState], tuple[BreakerState, tuple[RiskEvent, ...]]],
        uow: UnitOfWork | None,
    ) -> StepReport:
        with self._tx(uow) as u:
            st, events = fn(self.load(u))
            self.save(u, st)
            for ev in events:
                u.journal.add_risk_event(ev)
        self._announce(events)
        return StepReport(st, events)

    # --- kill and resume ---------------------------------------------------------------------
    def kill(
        self, by: str, reason: str = "", *, flatten: bool = False, ts: datetime | None = None,
        uow: UnitOfWork | None = None,
    ) -> KillReport:
        """Halt trading, cancel every open order and, when asked, flatten every position.

        The HALTED state is written before the broker is touched (and committed, unless the
        caller's ``uow`` is given), so a broker failure cannot leave trading active. Without
        a broker (the CLI of a simulated run), the cancel / flatten stays pending in the
        persisted state and the engine carries it out at its next :meth:`step`.
        """
        now = ts or self._clock.now()
        # the kill file may ask for a flatten that this caller did not pass on
        flatten = flatten or (self.kill_flag_set() and self.kill_flag_flattens())
        with self._tx(uow) as u:
            st, (event,) = self.breaker.kill(self.load(u), by, reason, now, flatten=flatten)
            self.save(u, st)
            u.state.set(KILL_KEY, json.dumps({"at": now.isoformat(), "by": event.actor,
                                              "reason": reason, "flatten": flatten}))
        report = self._execute_kill(st, event, flatten, now, uow)
        if report.executed:
            failed = f", {len(report.cancel_failures)} failed" if report.cancel_failures else ""
            done = (f"Canceled {len(report.canceled)} open order(s){failed}; "
                    + (f"flatten: {len(report.flatten_orders)} closing order(s)" if flatten
                       else "positions kept"))
        else:
            done = ("Open orders are canceled" + (" and positions flattened" if flatten else "")
                    + " by the engine at its next step")
        if report.flatten_error:
            done += f" (flatten failed: {report.flatten_error}; retried at the next step)"
        body = f"{event.message}. {done}"
        self._notify(Severity.CRITICAL, "KILL SWITCH: trading halted", body, now,
                     {"by": report.event.actor, "flatten": flatten})
        return report

    def execute_pending_kill(
        self, *, ts: datetime | None = None, uow: UnitOfWork | None = None
    ) -> KillReport | None:
        """Carry out the cancel / flatten of a kill recorded elsewhere; None when none pends."""
        now = ts or self._clock.now()
        with self._tx(uow) as u:
            st = self.load(u)
        if not st.kill_pending or self._broker is None:
            return None
        event = RiskEvent(
            kind="kill_executed", rule=KILL_SWITCH, message=(
                f"{KILL_SWITCH}: carrying out the kill recorded at "
                f"{st.tripped_at.isoformat() if st.tripped_at else 'an earlier step'}"),
            ts_event=now, value=st.state.value, limit=RiskState.HALTED.value, state=st.state,
            actor="engine", data={"flatten": st.kill_flatten},
        )
        return self._execute_kill(st, event, st.kill_flatten, now, uow)

    def _execute_kill(
        self, st: BreakerState, event: RiskEvent, flatten: bool, now: datetime,
        uow: UnitOfWork | None,
    ) -> KillReport:
        canceled: list[str] = []
        failures: list[str] = []
        flat: list[str] = []
        flat_err: str | None = None
        executed = self._broker is not None
        if self._broker is not None:
            try:
                open_orders = self._broker.list_orders("open")
            except DomainError as exc:
                open_orders = []
                failures.append(f"list_orders: {exc}")
            for o in open_orders:
                try:
                    self._broker.cancel_order(o.client_order_id)
                    canceled.append(o.client_order_id)
                except DomainError as exc:
                    failures.append(f"{o.client_order_id}: {exc}")
            if flatten and self._flattener is not None:
                try:
                    with self._tx(uow) as u:
                        flat, remaining = self._flattener(u, now)
                        if remaining:
                            u.state.set(FLATTEN_KEY, json.dumps(
                                {"since": now.isoformat(), "orders": flat}, sort_keys=True))
                except DomainError as exc:
                    flat_err = str(exc)
            elif flatten:
                try:
                    flat = [r.client_order_id for r in self._broker.close_all_positions(True)]
                except DomainError as exc:
                    flat_err = str(exc)
        event = attrs.evolve(event, data={
            **event.data, "flatten": flatten, "executed": executed, "canceled": canceled,
            "cancel_failures": failures, "flatten_orders": flat, "flatten_error": flat_err,
        })
        with self._tx(uow) as u:
            cur = self.load(u)
            # a failed flatten stays pending: the next step tries again
            listed = not any(f.startswith("list_orders:") for f in failures)
            if executed and listed and flat_err is None:
                cur = self.breaker.kill_executed(cur, now)
                self.save(u, cur)
            u.journal.add_risk_event(event)
        return KillReport(cur.state, tuple(canceled), tuple(failures), tuple(flat), flat_err,
                          event, executed)

    def resume(
        self, by: str, reason: str = "", *, approve: bool = False, ts: datetime | None = None
    ) -> BreakerState:
        """Return to ACTIVE on an explicit, named approval; recorded with who and why.

        Raises
        ------
        ResumeRefused
            Without ``approve=True``, without a name, or while the kill flag is still set.
        """
        if not approve:
            raise ResumeRefused("resuming needs an explicit approval (--approve)")
        if not isinstance(by, str) or not by.strip():
            raise ResumeRefused("resuming needs the name of who approves (--by NAME)")
        if self.kill_flag_set():
            raise ResumeRefused("the kill flag is still set: remove it before resuming")
        now = ts or self._clock.now()
        with self._uow as u:
            st, events = self.breaker.resume(self.load(u), by, reason, now)
            self.save(u, st)
            u.state.set(KILL_KEY, "")
            u.state.set(FLATTEN_KEY, "")
            for ev in events:
                u.journal.add_risk_event(ev)
            u.commit()
        self._notify(Severity.WARNING, f"Trading resumed by {by.strip()}", events[0].message,
                     now, {"by": by.strip(), "reason": reason})
        return st

    # --- monitoring ----------------------------------------------------------------------------
    def status(
        self, account: Account, positions: Iterable[AnyPosition] = (),
        market: MarketView | None = None, recent: int = 20,
    ) -> RiskStatus:
        """Return the state, every limit with its headroom (counting the stored entry orders
        not yet filled), and the latest risk events."""
        with self._uow as u:
            st = self.load(u)
            events = u.journal.risk_events()
            pending = pending_entries(u.orders.list(open_only=True), market)
            raw = u.state.get(FLATTEN_KEY)
            n_open = len(u.positions.list_open())
        since = json.loads(raw).get("since") if raw else None
        flattening = (raw is not None and raw != "" and n_open > 0) or (
            st.kill_pending and st.kill_flatten)
        limits = self.policy.limits(account, list(positions), market, st, pending)
        return RiskStatus(st, limits, account, tuple(events[-recent:]) if recent else (),
                          self.kill_flag_set(), flattening, since, n_open)

    def strategy_stats(self, since: datetime | None = None) -> dict[str, TradeStats]:
        """Return win rate and payoff per strategy over the closed positions (Kelly's inputs)."""
        with self._uow as u:
            closed = u.positions.list_closed(since=since)
        return stats_by_strategy(closed)

    # --- notifications -------------------------------------------------------------------------
    def _announce(self, events: Sequence[RiskEvent]) -> None:
        for ev in events:
            if ev.kind == "trip":
                sev = Severity.CRITICAL if ev.state is RiskState.HALTED else Severity.WARNING
                title = f"Circuit breaker {ev.rule}: trading {ev.state.value if ev.state else ''}"
            elif ev.kind == "warning":
                sev, title = Severity.WARNING, f"Risk limit near: {ev.rule}"
            else:
                continue
            self._notify(sev, title, ev.message, ev.ts_event,
                         {"rule": ev.rule, "value": ev.value, "limit": ev.limit})

    def _notify(
        self, severity: Severity, title: str, body: str, ts: datetime, data: dict[str, object]
    ) -> None:
        if _SEVERITY_RANK[severity] < _SEVERITY_RANK[self._min_severity]:
            return
        try:
            self._notifier.notify(Notification(severity=severity, title=title, body=body, ts=ts,
                                               data=data))
        except Exception as exc:  # noqa: BLE001 - the port says never raise; enforce it
            log.error("risk.notify_failed", error=str(exc), title=title)


_PARSED: dict[str, BreakerState] = {}


def _parsed_state(raw: str) -> BreakerState:
    """Return the breaker state of a stored record; the state is immutable and a pure
    function of the record, so the last few records read are parsed once (every step and
    every signal reads the state back)."""
    st = _PARSED.get(raw)
    if st is None:
        st = BreakerState.from_record(json.loads(raw))
        _remember_state(raw, st)
    return st


def _remember_state(raw: str, st: BreakerState) -> None:
    """Record that ``raw`` reads back as ``st`` (parsed, or what :meth:`RiskService.save`
    wrote: :meth:`BreakerState.from_record` of :meth:`~BreakerState.to_record` is the same
    state); the last few records only."""
    if len(_PARSED) >= 8:
        _PARSED.clear()
    _PARSED[raw] = st


def market_view(
    feed: PriceFeedPort, tickers: Iterable[str], now: datetime, lookback: int = 60,
) -> MarketView:
    """Build a :class:`MarketView` from a price feed: latest bars and aligned daily returns.

    Quotes carry the latest bar's close, its time and its high/low (the day's range for daily
    bars). Returns are close-to-close on the union of dates, NaN where a ticker has no bar;
    ``lookback=0`` gives quotes only (what the per-step breakers read: prices and their age).
    """
    quotes: dict[str, Quote] = {}
    closes: dict[str, dict[date, float]] = {}
    start = now - timedelta(days=int(lookback * 1.6) + 10)
    # a feed that can give (day, close) pairs without building its bars (the simulated
    # exchange) is asked for those: the same numbers, much cheaper per signal
    daily: Callable[[str, datetime, datetime], list[tuple[date, float]]] | None = getattr(
        feed, "daily_closes", None)
    for t in dict.fromkeys(tickers):
        bar = feed.latest_bar(t)
        if bar is not None and bar.close > 0:
            quotes[t] = Quote(price=Decimal(repr(bar.close)), ts=bar.ts,
                              day_low=Decimal(repr(bar.low)), day_high=Decimal(repr(bar.high)))
        if lookback <= 0:
            continue
        closes[t] = dict(daily(t, start, now)) if daily is not None else {
            b.ts.date(): b.close for b in feed.get_bars(t, start, now)}
    days = sorted({d for s in closes.values() for d in s})[-(lookback + 1):]
    returns: dict[str, FloatArray] = {}
    if len(days) > 1:
        for t, s in closes.items():
            # close to close, NaN where either day has no positive close (a missing day, a
            # zero): elementwise the same IEEE operations as ``b / a - 1`` per pair
            v = np.array([s.get(d, math.nan) for d in days], dtype=np.float64)
            a, b = v[:-1], v[1:]
            with np.errstate(divide="ignore", invalid="ignore"):
                r = b / a - 1
            returns[t] = np.where((a > 0) & (b != 0), r, math.nan)
    return MarketView(now=now, quotes=quotes, returns=returns)
