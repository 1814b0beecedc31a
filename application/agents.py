"""Trained agents as a signal source: observation -> policy -> signal -> the usual path.

:class:`AgentSignalSource` is a bar-aware :class:`~application.ports.SignalSource` (like the
strategy source). Each step it

1. swaps in a model version that finished loading in the background (between two bars, so
   no bar is skipped and the open positions stay: they belong to the portfolio, not to the
   model);
2. pushes the step's bars into each ticker's :class:`~application.ports.LiveObservations`
   (the training data's feature code, fed one bar at a time);
3. at ``poll``, after the engine applied fills and ran the breakers, completes each
   observation with the account features of the real portfolio (cash, this ticker's position
   value and the equity, each over the starting capital, as the environment scales them),
   asks the policy, and turns the action into a :class:`~domain.signal.Signal` whose
   ``strategy`` is ``agent:NAME@VERSION``. The executor then sizes, plans, risk-checks and
   places it exactly as it does an alert's signal: there is no other path to an order.

A model that follows production (no pinned version) is re-read from the registry every
``check_every`` steps; a new production version is loaded on a background thread and must
pass a smoke inference (a finite action of the right shape on the last observation) before it
is swapped in; a failure keeps the running version and notifies the operator.

:class:`~application.agent_monitor.AgentMonitor` (its own module) keeps what each version did.

Why one module over 400 lines: the source, its warm-up and resume, and the hot-swap all read and
write the same per-agent state (the running version and policy, the observations, the version
loading in the background); split apart, that state would be shared across modules.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs
import numpy as np
import structlog
from numpy.typing import NDArray

from application.agent_monitor import AgentMonitor, FeatureStats
from application.ports import (
    BrokerPort,
    LiveObservations,
    ModelRegistry,
    Notifier,
    Policy,
    PolicyLoader,
)
from domain.alerts import Alert
from domain.audit import Notification, Severity
from domain.market import Bar
from domain.market_data.features import MARKET_FEATURES
from domain.rl.deployment import (
    AgentSpec,
    DriftTracker,
    action_bucket,
    action_decision,
    agent_source_name,
)
from domain.rl.models import ModelStatus, ModelVersion, training_feature_stats
from domain.signal import Signal

log = structlog.get_logger(__name__)

__all__ = ["AccountFeatures", "AgentMonitor", "AgentSignalSource", "FeatureStats",
           "broker_account_features"]

#: ``(cash, position value of the ticker, equity)`` in account currency.
AccountFeatures = Callable[[str], tuple[float, float, float]]


def broker_account_features(broker: BrokerPort) -> AccountFeatures:
    """Return the account features of the real portfolio, read from ``broker``."""

    def read(ticker: str) -> tuple[float, float, float]:
        acct = broker.get_account()
        pos = 0.0
        for p in broker.get_positions():
            if p.ticker == ticker:
                mv = p.market_value if p.market_value is not None else (
                    p.quantity * (p.current_price or p.avg_entry_price))
                pos = float(mv)
        return float(acct.cash), pos, float(acct.equity)

    return read


class _Slot:
    """One deployed agent: its current version and policy, its tickers' observations."""

    def __init__(self, spec: AgentSpec, version: ModelVersion, policy: Policy,
                 builders: dict[str, LiveObservations], trade_threshold: float) -> None:
        self.spec = spec
        self.version = version
        self.policy = policy
        self.builders = builders
        self.trade_threshold = trade_threshold
        self.loading: threading.Thread | None = None
        self.ready: tuple[ModelVersion, Policy] | None = None
        self.failed: set[int] = set()
        self.last_obs: NDArray[np.float32] | None = None

    @property
    def source(self) -> str:
        return agent_source_name(self.version.name, self.version.version)


class AgentSignalSource:
    """Signals from trained agents, one or several, each on its own tickers.

    Parameters
    ----------
    specs
        The agents (:func:`domain.rl.deployment.parse_agent_spec`); their ticker sets must
        not overlap.
    registry, loader
        Where versions are found and how one becomes a policy (the loader refuses a model
        trained for other features or another action space).
    observations
        ``ticker -> LiveObservations`` factory (a fresh builder per ticker and agent).
    account
        The account features of the real portfolio (:func:`broker_account_features`);
        bind it later with :meth:`bind_account` when the broker is built after the source.
    initial_balance
        The starting capital the account features are divided by (the environment's
        ``initial_balance`` in training).
    all_tickers
        The tickers an agent without its own list trades.
    notifier
        Told about swaps, failed loads and drift.
    feature_stats
        Statistics the drift monitor compares with (a feature file's); ``None``: each
        version's own training statistics, recorded at registration. A version with neither
        has no drift monitoring, and its monitor says why (``drift_unavailable``).
    check_every
        Re-read production from the registry every this many steps (0: never; pinned
        versions are never re-read).
    background
        Load new versions on a thread (``False``: load inline, for deterministic tests).
    history
        The run's bars; on a resume (:meth:`load_state`) those up to the last bar observed
        before the stop are fed to the observations again, so the features after the
        resume are those of an uninterrupted run.
    trade_threshold
        Actions with ``|a|`` below it do nothing. 0 (default) is the environment's rule: any
        positive action buys, any negative one sells what is held; the executor's confidence
        threshold (``|a|``) then filters the small ones.
    hold_band
        The monitor counts ``|a| < hold_band`` as a hold (the environment's reward calls
        that holding: its ``trade_threshold``, 0.1).
    """

    def __init__(
        self,
        specs: Sequence[AgentSpec],
        registry: ModelRegistry,
        loader: PolicyLoader,
        observations: Callable[[str], LiveObservations],
        *,
        initial_balance: float,
        account: AccountFeatures | None = None,
        all_tickers: Sequence[str] = (),
        notifier: Notifier | None = None,
        feature_stats: FeatureStats | None = None,
        drift_threshold: float = 3.0,
        drift_window: int = 50,
        check_every: int = 1,
        background: bool = True,
        trade_threshold: float = 0.0,
        hold_band: float = 0.1,
        status_sink: Callable[[dict[str, Any]], None] | None = None,
        status_every: int = 50,
        history: Sequence[Bar] = (),
        now: Callable[[], float] = time.perf_counter,
    ) -> None:
        if not specs:
            raise ValueError("agents: give at least one agent")
        if not initial_balance > 0:
            raise ValueError(f"initial_balance {initial_balance}: expected > 0")
        self.registry = registry
        self.loader = loader
        self._obs_factory = observations
        self._account = account
        self.initial_balance = float(initial_balance)
        self.notifier = notifier
        self.feature_stats = feature_stats
        self.drift_threshold = drift_threshold
        self.drift_window = drift_window
        self.check_every = check_every
        self.background = background
        self._timer = now
        self.hold_band = hold_band
        self.status_sink = status_sink
        self.status_every = status_every
        self._steps = 0
        self._history = history
        self._last_bar: datetime | None = None
        #: the time of the last bar fed to each ticker's observation, and of the last decided
        self._fed: dict[str, datetime] = {}
        self._decided: dict[str, datetime] = {}
        #: the last bar observed before a restart: bars up to it were decided then
        self._resumed_at: datetime | None = None
        self._pending: list[tuple[_Slot, Bar]] = []
        self.monitors: dict[str, AgentMonitor] = {}
        self.swaps: list[dict[str, Any]] = []
        self.slots: list[_Slot] = []
        owner: dict[str, str] = {}
        for spec in specs:
            tickers = spec.tickers or tuple(t.upper() for t in all_tickers)
            if not tickers:
                raise ValueError(f"agent {spec.name}: no tickers to trade")
            for t in tickers:
                if t in owner:
                    raise ValueError(f"ticker {t} is given to two agents ({owner[t]} and "
                                     f"{spec.name}); each ticker has one agent")
                owner[t] = spec.name
            mv = registry.get(spec.name, spec.version)
            if spec.version is None and mv.status is not ModelStatus.production:
                raise ValueError(f"agent {spec.name}: no production version (latest is "
                                 f"{mv.ref}, {mv.status.value}); promote one with 'catalyst "
                                 f"rl models promote {spec.name} VERSION' or pin one with "
                                 f"{spec.name}@VERSION")
            policy = loader.load(mv)
            self.slots.append(_Slot(attrs.evolve(spec, tickers=tickers), mv, policy,
                                    {t: observations(t) for t in tickers}, trade_threshold))
            self._monitor(mv)

    # ------------------------------------------------------------------ wiring

    def bind_account(self, account: AccountFeatures) -> None:
        """Set where the account features come from (the broker, once it exists)."""
        self._account = account

    @property
    def tickers(self) -> list[str]:
        """Return every ticker an agent trades."""
        return sorted(t for s in self.slots for t in s.builders)

    def versions(self) -> dict[str, str]:
        """Return each agent's running version as ``name -> name@version``."""
        return {s.spec.name: s.version.ref for s in self.slots}

    def _monitor(self, mv: ModelVersion) -> AgentMonitor:
        ref = mv.ref
        m = self.monitors.get(ref)
        if m is None:
            st, why = self._stats_for(mv)
            drift = None if st is None else DriftTracker(
                st.names, st.mean, st.std, window=self.drift_window,
                threshold=self.drift_threshold)
            if why is not None:
                log.warning("agents.drift_unavailable", agent=ref, reason=why)
            m = self.monitors[ref] = AgentMonitor(ref, drift=drift, drift_unavailable=why)
        return m

    def _stats_for(self, mv: ModelVersion) -> tuple[FeatureStats | None, str | None]:
        """Return the statistics ``mv``'s drift is measured against, or why there are none:
        the ones given (a feature file's), else those recorded with the version at
        registration, provided they name the observation's market features in order."""
        if self.feature_stats is not None:
            return self.feature_stats, None
        got = training_feature_stats(mv)
        if isinstance(got, str):
            return None, f"no drift monitoring: {got} and no feature file was given"
        names, mean, std = got
        if names != tuple(MARKET_FEATURES):
            return None, (f"no drift monitoring: {mv.ref}'s recorded feature statistics are "
                          f"of {len(names)} features ({', '.join(names[:3])}, ...), not the "
                          f"{len(MARKET_FEATURES)} market features of the observation")
        return FeatureStats(names, mean, std), None

    def _notify(self, severity: Severity, title: str, body: str, ts: datetime | None,
                **data: Any) -> None:
        when = ts or self._last_bar  # data time: the bar being traded
        if when is None:  # nothing observed yet: log only
            log.warning("agents.notice", title=title, body=body)
            return
        if self.notifier is not None:
            self.notifier.notify(Notification(severity=severity, title=title, body=body,
                                              ts=when, data=data))

    # ------------------------------------------------------------------ source API

    def push_alert(self, alert: Alert) -> None:
        """Hand an alert to the observation of its ticker (catalyst features)."""
        for s in self.slots:
            b = s.builders.get(alert.ticker)
            if b is not None:
                b.push_alert(alert)

    def observe(self, bars: Mapping[str, Bar]) -> None:
        """Swap in a ready version, then feed the step's bars to the observations."""
        self._steps += 1
        ts = next(iter(bars.values())).ts if bars else None
        if ts is not None:
            self._last_bar = ts
        for s in self.slots:
            self._swap_if_ready(s, ts)
        for t in sorted(bars):
            for s in self.slots:
                if self._takes(s, bars[t]):
                    self._pending.append((s, bars[t]))
        if self.check_every and self._steps % self.check_every == 0:
            for s in self.slots:
                self._check_registry(s, ts)
        if self.status_every and self._steps % self.status_every == 0:
            self.flush_status()

    def poll(self, now: datetime) -> Sequence[Signal]:
        """Ask each agent about the bars observed; return the signals to execute."""
        out: list[Signal] = []
        pending, self._pending = self._pending, []
        for slot, bar in pending:
            self._decided[bar.ticker] = bar.ts
            sig = self._decide(slot, bar, now)
            if sig is not None:
                out.append(sig)
        return out

    def dump_state(self) -> str:
        """Return the time of the last bar observed (the engine stores it with its cursor)."""
        return json.dumps({"last_bar": None if self._last_bar is None
                           else self._last_bar.isoformat()})

    def load_state(self, raw: str | None) -> None:
        """On a resume, feed the observations the run's bars up to the last one observed
        before the stop (no decisions: those bars were decided before)."""
        if not raw:
            return
        last = json.loads(raw).get("last_bar")
        if last is None:
            return
        until = datetime.fromisoformat(last)
        self._resumed_at = until
        self._push_history(b for b in self._history if b.ts <= until)
        if self._last_bar is None or until > self._last_bar:
            self._last_bar = until

    def warm_up(self, bars: Sequence[Bar]) -> None:
        """Feed the observations the history before the first live step (no decisions), so
        the first decision is made on a full observation; bars a ticker's observation already
        holds (a resumed run) are skipped."""
        self._push_history(bars)
        last = max((b.ts for b in bars), default=None)
        if last is not None and (self._last_bar is None or last > self._last_bar):
            self._last_bar = last

    def _push_history(self, bars: Iterable[Bar]) -> None:
        for bar in sorted(bars, key=lambda b: (b.ts, b.ticker)):
            for s in self.slots:
                self._push(s, bar)

    def _takes(self, slot: _Slot, bar: Bar) -> bool:
        """Feed ``bar`` to the slot and return whether the agent decides on it: a new bar, or
        the bar the warm-up fed last (the live feed's history ends with the bar the first step
        brings), once, unless it was decided before a restart."""
        if self._push(slot, bar):
            return True
        t = bar.ticker
        return (t in slot.builders and self._fed.get(t) == bar.ts
                and self._decided.get(t) != bar.ts
                and (self._resumed_at is None or bar.ts > self._resumed_at))

    def _push(self, slot: _Slot, bar: Bar) -> bool:
        """Feed ``bar`` to the slot's observation of its ticker; a bar not after the last one
        fed (the warm-up's history already held it) is skipped. Return whether it was fed."""
        b = slot.builders.get(bar.ticker)
        if b is None:
            return False
        seen = self._fed.get(bar.ticker)
        if seen is not None and bar.ts <= seen:
            return False
        b.push_bar(bar)
        self._fed[bar.ticker] = bar.ts
        return True

    # ------------------------------------------------------------------ inference

    def observation(self, slot: _Slot, ticker: str) -> NDArray[np.float32] | None:
        """Return the full observation (account + market) of ``ticker``, or ``None`` during
        the warm-up."""
        row = slot.builders[ticker].market_row()
        if row is None:
            return None
        if self._account is None:
            raise RuntimeError("agents: no account bound (bind_account)")
        cash, pos, equity = self._account(ticker)
        obs = np.empty(len(row) + 3, dtype=np.float32)
        init = self.initial_balance
        obs[0] = cash / init
        obs[1] = pos / init
        obs[2] = equity / init
        obs[3:] = row
        return obs

    def _decide(self, slot: _Slot, bar: Bar, now: datetime) -> Signal | None:
        t0 = self._timer()
        obs = self.observation(slot, bar.ticker)
        if obs is None:
            return None
        action = slot.policy.act(obs)
        a = float(np.asarray(action, dtype=np.float64).reshape(-1)[0])
        elapsed_ms = (self._timer() - t0) * 1000.0
        slot.last_obs = obs
        mon = self._monitor(slot.version)
        mon.latency_ms.append(elapsed_ms)
        mon.actions[action_bucket(a, self.hold_band)] += 1
        iso = bar.ts.isoformat()
        mon.first_ts = mon.first_ts or iso
        mon.last_ts = iso
        if mon.drift is not None:
            mon.drift.add(obs[3:].tolist())
            score, feat = mon.drift.score()
            if score > mon.drift.threshold and not mon.drift_warned:
                mon.drift_warned = True
                self._notify(Severity.WARNING, f"agent {mon.ref}: feature drift",
                             f"live observations drifted from the training data: {feat} "
                             f"{score:.2f} standard deviations from its training mean "
                             f"(threshold {mon.drift.threshold})", now, agent=mon.ref,
                             feature=feat, score=score)
            elif score <= mon.drift.threshold:
                mon.drift_warned = False
        holding = obs[1] > 0.0
        kind, conf = action_decision(a, slot.trade_threshold, bool(holding))
        if kind == "hold":
            return None
        mon.signals += 1
        src = slot.source
        return Signal(
            signal_id=f"{src}:{bar.ticker}:{iso}",
            ticker=bar.ticker, action=kind, confidence=conf, ts=now,
            size_hint=conf if kind == "buy" else None, strategy=src,
            metadata={"agent": slot.version.name, "version": slot.version.version,
                      "action": a, "entry_price": str(Decimal(repr(bar.close)))},
        )

    # ------------------------------------------------------------------ hot-swap

    def _check_registry(self, slot: _Slot, ts: datetime | None) -> None:
        if slot.spec.version is not None or slot.loading is not None or slot.ready is not None:
            return
        try:
            mv = self.registry.get(slot.spec.name)
        except Exception as exc:  # the registry being unreadable must not stop trading
            log.warning("agents.registry_unreadable", agent=slot.spec.name, error=str(exc))
            return
        if (mv.version == slot.version.version or mv.version in slot.failed
                or mv.status is not ModelStatus.production):
            return
        if self.background:
            th = threading.Thread(target=self._load, args=(slot, mv, ts), daemon=True,
                                  name=f"agent-load-{mv.ref}")
            slot.loading = th
            th.start()
        else:
            self._load(slot, mv, ts)

    def _load(self, slot: _Slot, mv: ModelVersion, ts: datetime | None) -> None:
        try:
            policy = self.loader.load(mv)
            probe = slot.last_obs
            if probe is None:
                probe = np.zeros(3 + len(self.feature_stats.names) if self.feature_stats
                                 else 33, dtype=np.float32)
            act = np.asarray(policy.act(probe), dtype=np.float64).reshape(-1)
            if act.size != 1 or not math.isfinite(float(act[0])):
                raise ValueError(f"smoke inference returned {act.tolist()!r}, expected one "
                                 "finite number")
            slot.ready = (mv, policy)
        except Exception as exc:  # any failure keeps the running version
            slot.failed.add(mv.version)
            log.warning("agents.swap_refused", agent=mv.ref, error=str(exc))
            self._notify(Severity.CRITICAL, f"agent {mv.ref} not deployed",
                         f"{mv.ref} failed to load or its smoke inference failed ({exc}); "
                         f"{slot.version.ref} keeps trading", ts, agent=mv.ref,
                         running=slot.version.ref, error=str(exc))
        finally:
            slot.loading = None

    def wait_loading(self, timeout: float = 30.0) -> None:
        """Wait for the background loads in flight (tests, shutdown)."""
        for s in self.slots:
            th = s.loading
            if th is not None:
                th.join(timeout)

    def _swap_if_ready(self, slot: _Slot, ts: datetime | None) -> None:
        ready = slot.ready
        if ready is None:
            return
        mv, policy = ready
        t0 = self._timer()
        old = slot.version
        slot.version, slot.policy, slot.ready = mv, policy, None
        pause_ms = (self._timer() - t0) * 1000.0
        self._monitor(mv)
        self.swaps.append({"agent": mv.name, "from": old.ref, "to": mv.ref,
                           "ts": None if ts is None else ts.isoformat(), "pause_ms": pause_ms})
        log.info("agents.swapped", agent=mv.name, frm=old.ref, to=mv.ref)
        self.flush_status()
        self._notify(Severity.INFO, f"agent {mv.name}: {old.ref} -> {mv.ref}",
                     f"{mv.ref} now trades {', '.join(sorted(slot.builders))}", ts,
                     agent=mv.name, previous=old.ref, current=mv.ref)

    # ------------------------------------------------------------------ status

    def flush_status(self) -> None:
        """Hand the current :meth:`status` to the status sink (if any)."""
        if self.status_sink is not None:
            try:
                self.status_sink(self.status())
            except OSError as exc:  # a status file that cannot be written must not stop trading
                log.warning("agents.status_unwritable", error=str(exc))

    def status(self) -> dict[str, Any]:
        """Return the agents, their running versions, the swaps and each version's monitor."""
        return {
            "steps": self._steps,
            "agents": [{"name": s.spec.name, "running": s.version.ref,
                        "pinned": s.spec.version is not None,
                        "tickers": sorted(s.builders)} for s in self.slots],
            "swaps": list(self.swaps),
            "versions": {ref: m.to_json() for ref, m in sorted(self.monitors.items())},
        }
