"""Ports: what the use cases need from the world, as small ``typing.Protocol`` classes.

Adapters implement them (``adapters/``); in-memory fakes live in ``adapters/memory``; the
contract suites in ``tests/contract`` prove every implementation behaves the same.

Why one module: it is the one list of what the use cases need from the world (the
architecture's rule: ports are Protocols in ``application/ports.py``); they follow one another
by job: broker and prices, repositories and the unit of work, training and datasets, the alert
inbox, walk-forward, deployed agents.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Literal, Protocol, Self

import attrs
import numpy as np
from numpy.typing import NDArray

from domain.account import Account, BrokerPosition
from domain.alerts import Alert
from domain.audit import (
    ExecutionRecord,
    Notification,
    PerformanceRecord,
    PortfolioSnapshot,
    RunRecord,
)
from domain.clock import Clock
from domain.commands import SubmitOrder
from domain.events import ExitTriggered, Fill, OrderEvent, RiskEvent
from domain.market import Bar, MarketClock
from domain.market_data import Availability, DatasetSpec, ValidationIssue
from domain.orders import Order, OrderReport
from domain.position import ClosedPosition, Position
from domain.rl.episodes import EpisodeMetrics
from domain.rl.models import ModelVersion
from domain.rl.training import TrainingRun, TrialResult
from domain.signal import Signal
from domain.validation.jobs import WindowJob, WindowResult

__all__ = [
    "DEFAULT_RUN",
    "INBOX_FINAL",
    "INBOX_STATUSES",
    "AlertInbox",
    "BrokerPort",
    "Clock",
    "FillRepo",
    "InboxRecord",
    "InboxUnitOfWork",
    "JournalRepo",
    "ModelRegistry",
    "Notifier",
    "OrderRepo",
    "PositionRepo",
    "PriceFeedPort",
    "ReportRepo",
    "RunRepo",
    "SignalSource",
    "StateRepo",
    "Strategy",
    "UnitOfWork",
]

OrderQueryStatus = Literal["open", "closed", "all"]

#: The run a unit of work reads and writes when none is named. Rows written before runs had
#: names belong to it, and its client order ids are those of a store without named runs.
DEFAULT_RUN = "default"


class BrokerPort(Protocol):
    """A place that takes orders and holds positions (simulated exchange, Alpaca, fakes).

    Every order carries our deterministic ``client_order_id``. Submitting an id the broker
    already holds raises :class:`domain.errors.DuplicateClientOrderId`: the caller then
    looks the order up instead of placing a second one. Vendor errors arrive translated
    into :mod:`domain.errors`.
    """

    def submit_order(self, request: SubmitOrder) -> OrderReport:
        """Place an order and return the broker's first view of it."""
        ...

    def cancel_order(self, client_order_id: str) -> None:
        """Request cancellation of a working order; raises OrderNotFound if unknown."""
        ...

    def get_order(self, broker_order_id: str) -> OrderReport:
        """Return an order by the broker's id; raises OrderNotFound if unknown."""
        ...

    def get_order_by_client_id(self, client_order_id: str) -> OrderReport | None:
        """Return an order by our client order id, or None if the broker never saw it."""
        ...

    def list_orders(self, status: OrderQueryStatus = "open") -> list[OrderReport]:
        """Return orders, newest first."""
        ...

    def get_positions(self) -> list[BrokerPosition]:
        """Return every open position."""
        ...

    def get_account(self) -> Account:
        """Return cash, equity and buying power."""
        ...

    def close_position(self, ticker: str) -> OrderReport | None:
        """Flatten one position with a market order; None when there is nothing to close."""
        ...

    def close_all_positions(self, cancel_orders: bool = True) -> list[OrderReport]:
        """Flatten every position, canceling working orders first when asked."""
        ...

    def get_clock(self) -> MarketClock:
        """Return whether the market is open and its next open and close."""
        ...

    def poll_events(self) -> list[OrderEvent]:
        """Return order events (status changes and fills) not returned before, in order."""
        ...


class PriceFeedPort(Protocol):
    """Prices: the latest trade and historical bars."""

    def latest_price(self, ticker: str) -> Decimal | None:
        """Return the last known price of ``ticker``, or None if none is known."""
        ...

    def latest_bar(self, ticker: str) -> Bar | None:
        """Return the last completed bar of ``ticker``, or None."""
        ...

    def get_bars(
        self, ticker: str, start: datetime, end: datetime, timeframe: str = "1Day"
    ) -> list[Bar]:
        """Return bars with ``start <= ts <= end`` in time order."""
        ...


class Notifier(Protocol):
    """Tells people what happened. Must never raise into the caller."""

    def notify(self, notification: Notification) -> None:
        """Send (or queue) ``notification``."""
        ...


class SignalSource(Protocol):
    """Anything that produces signals: alert rules, strategies, RL agents."""

    def poll(self, now: datetime) -> Sequence[Signal]:
        """Return the signals that became known at or before ``now`` and were not returned."""
        ...


class Strategy(Protocol):
    """A bar-driven strategy for users who embed the core."""

    def on_bar(self, bar: Bar) -> Iterable[Signal]:
        """Return the signals this bar causes (usually none)."""
        ...


class OrderRepo(Protocol):
    """Orders, keyed by client order id."""

    def add(self, order: Order) -> None:
        """Insert a new order; raises DuplicateClientOrderId if the id exists."""
        ...

    def get(self, client_order_id: str) -> Order | None:
        """Return the order or None."""
        ...

    def save(self, order: Order) -> None:
        """Store the order's new state (optimistic: ConcurrencyConflict on a stale version)."""
        ...

    def list(self, *, open_only: bool = False, ticker: str | None = None) -> list[Order]:
        """Return orders, oldest first."""
        ...

    def record_event(self, event: OrderEvent) -> None:
        """Append an order event to the audit trail."""
        ...


class FillRepo(Protocol):
    """Fills, unique by fill id."""

    def add(self, fill: Fill) -> None:
        """Insert a fill; raises DuplicateFill if its id exists."""
        ...

    def exists(self, fill_id: str) -> bool:
        """Return True when a fill with this id is stored."""
        ...

    def for_order(self, client_order_id: str) -> list[Fill]:
        """Return the fills of one order in time order."""
        ...


class PositionRepo(Protocol):
    """Open positions (with optimistic concurrency) and closed ones."""

    def add(self, position: Position) -> None:
        """Insert a new open position."""
        ...

    def get(self, position_id: str) -> Position | None:
        """Return an open position by id."""
        ...

    def open_for(self, ticker: str) -> Position | None:
        """Return the open position in ``ticker``, if any."""
        ...

    def list_open(self) -> list[Position]:
        """Return every open position."""
        ...

    def save(self, position: Position) -> None:
        """Store new state; raises ConcurrencyConflict if someone saved it first."""
        ...

    def close(self, position: Position, closed: ClosedPosition) -> None:
        """Move a position to the closed table (atomically with the unit of work)."""
        ...

    def list_closed(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[ClosedPosition]:
        """Return closed positions by close time."""
        ...


class JournalRepo(Protocol):
    """Append-only audit: execution log, risk events, exit (stop-loss) events."""

    def add_execution(self, record: ExecutionRecord) -> None:
        """Append one execution-log row."""
        ...

    def add_risk_event(self, event: RiskEvent) -> None:
        """Append one risk event."""
        ...

    def add_exit_event(self, event: ExitTriggered) -> None:
        """Append one stop-loss / take-profit / trailing / time exit event."""
        ...

    def executions(self, signal_id: str | None = None) -> list[ExecutionRecord]:
        """Return execution-log rows, oldest first."""
        ...

    def risk_events(self) -> list[RiskEvent]:
        """Return risk events, oldest first."""
        ...


class ReportRepo(Protocol):
    """Portfolio snapshots and performance metrics."""

    def add_snapshot(self, snapshot: PortfolioSnapshot) -> None:
        """Store a snapshot; a second snapshot with the same ``(run_id, ts)`` replaces it."""
        ...

    def snapshots(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[PortfolioSnapshot]:
        """Return snapshots in time order."""
        ...

    def save_metrics(self, record: PerformanceRecord) -> None:
        """Store metrics; the same ``(run_id, period, period_start)`` replaces the old row."""
        ...

    def metrics(self, period: str | None = None) -> list[PerformanceRecord]:
        """Return stored metrics, oldest period first."""
        ...


class RunRepo(Protocol):
    """The named runs of a store (every run, whichever run the unit of work is opened for).

    A unit of work creates a placeholder record of its run (kind ``adhoc``, status
    ``created``) when it first writes without the run having been started; ``start``
    replaces such a placeholder.
    """

    def start(self, run: RunRecord) -> None:
        """Insert a run (or leave an existing, started run with the same id as it is)."""
        ...

    def finish(self, run_id: str, ts: datetime, status: str) -> None:
        """Mark a run finished / interrupted / failed."""
        ...

    def get(self, run_id: str) -> RunRecord | None:
        """Return a run by id."""
        ...

    def latest(self, kind: str | None = None) -> RunRecord | None:
        """Return the most recently started run (of ``kind``)."""
        ...

    def list(self) -> list[RunRecord]:
        """Return every run, the one started or finished most recently last."""
        ...

    def delete(self, run_id: str) -> None:
        """Delete a run and everything stored in it; unknown runs are ignored."""
        ...


class StateRepo(Protocol):
    """Small durable key/value state of the run: risk state, source offsets, engine cursor."""

    def get(self, key: str) -> str | None:
        """Return the value stored under ``key``."""
        ...

    def set(self, key: str, value: str) -> None:
        """Store ``value`` under ``key``."""
        ...


class UnitOfWork(Protocol):
    """One atomic use case: everything written inside commits together or not at all.

    A unit of work is opened for one run (``run``, default :data:`DEFAULT_RUN`): orders,
    fills, positions, the journal, state and reports are those of that run, and rows of
    other runs in the same store are invisible to it. Client order ids, fill ids and
    position ids stay unique across the runs of a store (the broker sees them all).
    """

    run: str
    orders: OrderRepo
    fills: FillRepo
    positions: PositionRepo
    journal: JournalRepo
    state: StateRepo
    reports: ReportRepo
    runs: RunRepo

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back anything not committed."""
        ...

    def for_run(self, run: str) -> UnitOfWork:
        """Return a unit of work on the same store, opened for run ``run``."""
        ...

    def commit(self) -> None:
        """Make everything written since entering durable."""
        ...

    def rollback(self) -> None:
        """Discard everything written since the last commit."""
        ...


class ModelRegistry(Protocol):
    """Trained RL models by name and version (artifact files plus metadata).

    ``register`` stores a new ``candidate`` version; ``promote`` / ``rollback`` follow
    :func:`domain.rl.models.plan_promotion` / :func:`domain.rl.models.plan_rollback`.
    Unknown names or versions raise :class:`domain.rl.models.ModelNotFoundError`.
    """

    def register(
        self,
        name: str,
        algo: str,
        artifact: str,
        *,
        hyperparams: dict[str, object],
        data_hash: str,
        env_config: dict[str, object],
        seed: int,
        library_versions: dict[str, str],
        metrics: dict[str, object],
    ) -> ModelVersion:
        """Copy the artifact (file or directory) in and record a new version."""
        ...

    def get(self, name: str, version: int | None = None) -> ModelVersion:
        """Return a version; ``None`` means production if any, else the latest."""
        ...

    def list(self, name: str | None = None) -> Sequence[ModelVersion]:
        """Return every version (of one model), by name then version."""
        ...

    def promote(self, name: str, version: int) -> ModelVersion:
        """Make ``version`` production (the previous production is archived)."""
        ...

    def rollback(self, name: str) -> ModelVersion:
        """Archive production and restore the previously promoted version; return it."""
        ...


# ------------------------------------------------------------------ training and datasets


class Trainer(Protocol):
    """Trains one RL model on prepared data and returns the run (model file plus metrics).

    The implementation owns the data, the algorithm and its configuration; the use case
    only names the run. The run's ``model_path`` stays readable until :meth:`close`.
    """

    def train(self, run_name: str) -> TrainingRun:
        """Train, validate and measure the buy-and-hold baseline on validation."""
        ...

    def close(self) -> None:
        """Release the run's temporary files."""
        ...


class ResolvedAgent(Protocol):
    """An agent ready to run: its display label and the fill rule it runs under."""

    @property
    def label(self) -> str:
        """Return the name shown for this agent (a baseline name or ``name@version``)."""
        ...

    @property
    def fill_at(self) -> str:
        """Return the fill rule of the environment it runs in."""
        ...


class AgentEvaluator(Protocol):
    """Runs baseline agents and registered models over every ticker of one data split.

    ``resolve`` raises ``ValueError`` or :class:`domain.rl.models.RegistryError` for a
    reference it cannot use.
    """

    def resolve(self, ref: str) -> ResolvedAgent:
        """Return the agent named ``ref`` (a baseline or ``name[@version]``)."""
        ...

    def run(
        self, agent: ResolvedAgent, on_ticker: Callable[[str], None] | None = None
    ) -> Sequence[EpisodeMetrics]:
        """Run ``agent`` over each ticker from its first bar to its last."""
        ...


class EquityChart(Protocol):
    """Draws agents' equity and drawdown curves into a file."""

    def write(
        self, results: Mapping[str, Sequence[EpisodeMetrics]], path: str, title: str
    ) -> None:
        """Write one curve per agent (equal weight over its tickers) to ``path``."""
        ...


class PriceHistory(Protocol):
    """Daily bars of one or more tickers, loaded from a price file and made canonical."""

    @property
    def name(self) -> str:
        """Return where the bars came from (a file name), for messages."""
        ...

    def tickers(self) -> int:
        """Return how many tickers have bars."""
        ...

    def validate(self, alerts: Sequence[Alert]) -> list[ValidationIssue]:
        """Check every ticker's bars (:func:`domain.market_data.validate_series`)."""
        ...

    def alerts_before_first_bar(
        self, alerts: Sequence[Alert], availability: Availability
    ) -> dict[str, int]:
        """Return, per ticker, how many alerts are too old to be used by its features."""
        ...


class FeatureSet(Protocol):
    """A built dataset: features, split labels and the RL matrix of every ticker."""

    def rows(self) -> int:
        """Return the number of bars."""
        ...

    def columns(self) -> int:
        """Return the number of columns (features, labels and identifiers)."""
        ...

    def split_counts(self) -> dict[str, dict[str, int]]:
        """Return, per ticker, its bars per split label (train, validation, test, embargo)."""
        ...

    def catalyst_bars(self) -> dict[str, int]:
        """Return, per ticker, the bars with a positive catalyst score."""
        ...


class FeatureStore(Protocol):
    """Builds datasets from price histories, caches them by key and writes them out."""

    def cached(self, key: str) -> FeatureSet | None:
        """Return the dataset cached under ``key``, if any."""
        ...

    def build(
        self,
        bars: PriceHistory,
        alerts: Sequence[Alert],
        spec: DatasetSpec,
        on_ticker: Callable[[str], None] | None = None,
    ) -> FeatureSet:
        """Compute the dataset; ``ValueError`` when there is nothing to build from."""
        ...

    def cache(self, key: str, features: FeatureSet) -> None:
        """Keep ``features`` under ``key``."""
        ...

    def write(self, features: FeatureSet, output: str) -> None:
        """Write the dataset to ``output`` (Parquet, or CSV by suffix)."""
        ...


class TuningTrial(Protocol):
    """One trial of a hyper-parameter search: its number and the parameters to try."""

    @property
    def number(self) -> int:
        """Return the trial's number in the study."""
        ...

    @property
    def hyperparams(self) -> dict[str, Any]:
        """Return the sampled (and fixed) hyper-parameters."""
        ...


TrialState = Literal["complete", "pruned", "failed"]


class HyperparameterSearch(Protocol):
    """A (possibly shared) study that proposes trials and learns from their results."""

    def ask(self) -> TuningTrial:
        """Start a trial with freshly sampled hyper-parameters."""
        ...

    def report(self, trial: TuningTrial, step: int, value: float) -> bool:
        """Record an intermediate validation score; return True when the trial should stop."""
        ...

    def tell(
        self,
        trial: TuningTrial,
        state: TrialState,
        value: float | None = None,
        attrs: Mapping[str, Any] | None = None,
    ) -> None:
        """Finish a trial with its state, its objective value and attributes to keep."""
        ...


class TrialTrainer(Protocol):
    """Trains one model for a tuning trial and reports each validation to a hook."""

    def validation_interval(self, hyperparams: Mapping[str, Any]) -> int:
        """Return the environment steps between two validations with these parameters."""
        ...

    def train(
        self,
        hyperparams: Mapping[str, Any],
        on_eval: Callable[[int, Mapping[str, float]], None],
    ) -> TrialResult:
        """Train with ``hyperparams``; an exception raised by ``on_eval`` stops training."""
        ...


# --- alert inbox ---------------------------------------------------------------------------------
#: Where an alert in the inbox stands: ``received`` (committed by the intake), ``released``
#: (public by the engine's clock, waiting to be routed), then one of ``routed`` (it made a
#: signal), ``suppressed`` (the router said no: duplicate, cool-down, below threshold ...) or
#: ``rejected`` (the engine cannot act on it, e.g. a ticker without prices).
INBOX_STATUSES = ("received", "released", "routed", "suppressed", "rejected")
INBOX_FINAL = ("routed", "suppressed", "rejected")


@attrs.frozen(kw_only=True)
class InboxRecord:
    """One alert in the inbox: the alert as JSON, where it came from and where it stands.

    ``seq`` is the store's insertion order (0 until stored); ``payload`` is the alert in the
    project's JSON schema (what :func:`adapters.data.alerts.alert_from_dict` reads).
    """

    alert_id: str
    received_at: datetime
    known_at: datetime
    source: str
    body_hash: str
    payload: str
    status: str = "received"
    reason: str = ""
    run: str | None = None
    updated_at: datetime | None = None
    seq: int = 0


class AlertInbox(Protocol):
    """The durable inbox of alerts received over HTTP, shared by every run of a store.

    Alert ids are unique: adding an id already there changes nothing and returns the stored
    record. Records move ``received -> released -> routed | suppressed | rejected`` only.
    """

    def add(self, record: InboxRecord) -> InboxRecord | None:
        """Store ``record``; return None when it is new, else the record stored first."""
        ...

    def get(self, alert_id: str) -> InboxRecord | None:
        """Return the record of ``alert_id``."""
        ...

    def release(self, now: datetime) -> int:
        """Move every ``received`` record known at or before ``now`` to ``released``."""
        ...

    def released(self, limit: int = 1000) -> Sequence[InboxRecord]:
        """Return ``released`` records in ``(known_at, seq)`` order, at most ``limit``."""
        ...

    def mark(self, alert_id: str, status: str, reason: str, ts: datetime,
             run: str | None = None) -> None:
        """Give a ``released`` record its final ``status`` with the ``reason`` and the run.

        Raises ``ValueError`` for an unknown status or a record that is not ``released``.
        """
        ...

    def list(self, status: str | None = None, limit: int | None = None) -> Sequence[InboxRecord]:
        """Return records (of one status) in the order they were received."""
        ...

    def counts(self) -> dict[str, int]:
        """Return the number of records per status."""
        ...


class InboxUnitOfWork(UnitOfWork, Protocol):
    """A unit of work whose store also holds the alert inbox."""

    inbox: AlertInbox


# --------------------------------------------------------------------------- walk-forward


class WindowRunner(Protocol):
    """Trains or selects candidates on one window's train bars and tests them out of sample.

    Implementations must be picklable: executors send them to other processes or machines.
    """

    def __call__(self, job: WindowJob) -> WindowResult:
        """Run one window and return its result."""
        ...


class WindowExecutor(Protocol):
    """Runs window jobs: in this process, in a process pool, or on a cluster."""

    def run(
        self, runner: WindowRunner, jobs: Sequence[WindowJob]
    ) -> Iterator[WindowResult]:
        """Run every job and yield each result as soon as it is finished (in any order)."""
        ...


class WalkForwardStore(Protocol):
    """Keeps a walk-forward run's finished windows so that an interrupted run resumes."""

    def finished(self, run_key: str) -> dict[int, WindowResult]:
        """Return the windows of ``run_key`` already finished, by index."""
        ...

    def save_window(self, run_key: str, result: WindowResult) -> None:
        """Record one finished window (atomically)."""
        ...

    def save_run(self, run_key: str, report: Mapping[str, Any]) -> None:
        """Record the finished run's report."""
        ...


class WalkForwardRepo(Protocol):
    """Finished walk-forward runs and their windows, for the dashboard."""

    def save(self, run_key: str, kind: str, settings: Mapping[str, Any],
             report: Mapping[str, Any]) -> None:
        """Store a run's report and its windows (replacing an earlier save of the key)."""
        ...

    def get(self, run_key: str) -> dict[str, Any] | None:
        """Return a stored run (``windows`` included) or None."""
        ...

    def list(self) -> list[dict[str, Any]]:
        """Return every stored run without its windows, newest first."""


# ------------------------------------------------------------------------ deployed agents


class Policy(Protocol):
    """A trained policy: one observation in, one action in ``[-1, 1]`` out."""

    def act(self, obs: NDArray[np.float32]) -> NDArray[np.float32]:
        """Return the action for ``obs`` (shape ``(1,)``)."""
        ...


class LiveObservations(Protocol):
    """One ticker's RL observation, built bar by bar with the training data's feature code."""

    def push_bar(self, bar: Bar) -> None:
        """Append the bar that just closed."""
        ...

    def push_alert(self, alert: Alert) -> None:
        """Record an alert about the ticker (it counts from the bar it becomes usable)."""
        ...

    def market_row(self) -> NDArray[np.float32] | None:
        """Return the 30 market features of the last bar, or ``None`` during the warm-up."""
        ...


class PolicyLoader(Protocol):
    """Loads a registered version as a policy; raises on anything that keeps it from acting
    (a missing file, an environment it was not trained for)."""

    def load(self, version: ModelVersion) -> Policy:
        """Return the version's policy."""
        ...
