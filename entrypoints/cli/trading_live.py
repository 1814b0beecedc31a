"""``catalyst run --broker alpaca``: options in, :class:`application.live.LiveTrading` out.

This module parses and checks the options, asks the CLI's container for the broker, the
price feed and the use case, installs the OS signal handlers, runs, and renders the summary.
Exit codes: 0 the run ended (``--max-steps``, SIGINT/SIGTERM); 2 a bad option or a broker that
cannot be reached at start (nothing of the run is touched); 1 the run stopped on an error or
because the broker stayed out of reach longer than ``--max-outage``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from adapters.sources.files import NotAlertsError, open_feed
from adapters.sources.parse import AlertIssue
from application.engine import MarketStep
from application.execution.results import ExecutionResult
from application.live import BrokerUnreachable, LiveConfig, LiveTrading, check_reachable
from application.ports import DEFAULT_RUN, SignalSource
from application.router import AlertSignalSource, RouterConfig
from domain.errors import DomainError
from domain.risk.sizing import SizingMethod
from entrypoints.cli import runs as named
from entrypoints.cli.container import Container
from entrypoints.cli.lease import take_run_lease
from entrypoints.cli.live_log import LoggingBroker, LoggingSource, log_step_results, watch_risk
from entrypoints.cli.trading_options import err, fail, issue_printer, out
from entrypoints.cli.trading_report import summary_table
from entrypoints.settings import mask_url
from entrypoints.signals import stop_on_signals

__all__ = ["run_live"]

#: daily bars read before the first step for the agents' observations (their warm-up is 60
#: sessions; calendar days include weekends and holidays)
AGENT_WARMUP_DAYS = 120


def _close(obj: Any) -> None:
    """Stop an adapter's threads and sessions (the trade-updates stream); never raises."""
    close = getattr(obj, "close", None)
    if close is not None:
        try:
            close()
        except Exception as exc:  # noqa: BLE001 - closing must not hide the run's outcome
            err.print(f"[dim]closing {type(obj).__name__}: {exc}[/]")


def run_live(container: Container, *, alerts: str | None, agents: Sequence[str] | None,
             db: str | None, run_id: str | None, threshold: float, sizing: str,
             max_hold_days: float, tickers: str, interval: float, max_steps: int, live: bool,
             as_json: bool, reconcile_interval: float = 300.0,
             max_outage: float = 300.0) -> None:
    """Trade in real time through the container's broker (see the module doc)."""
    from adapters.data.sample import SAMPLE_TICKERS
    from adapters.sqlalchemy import PersistenceError

    if not alerts and not agents:
        raise fail("--alerts: `catalyst run --broker alpaca` needs an alert source (a file, a "
                   "folder followed as it grows, or - for stdin) or an --agent")
    if alerts and agents:
        raise fail("--alerts and --agent: give one signal source, not both")
    if max_outage <= 0:
        raise fail(f"--max-outage {max_outage}: expected seconds > 0")
    try:
        method = SizingMethod(sizing)
    except ValueError:
        raise fail(f"--sizing {sizing!r}: expected one of "
                   f"{', '.join(m.value for m in SizingMethod)}") from None
    rid = named.check_name(run_id) if run_id is not None else DEFAULT_RUN
    watch = [t.strip().upper() for t in tickers.split(",") if t.strip()] or list(SAMPLE_TICKERS)
    settings = container.core.settings()
    where = mask_url(settings.alpaca_base_url or "Alpaca's API")
    try:
        # the trade-updates stream starts once the broker answered (a stream that cannot
        # connect retries for ever in its own thread)
        raw_broker = container.gateways.live_broker(live=live, use_stream=False)
    except DomainError as exc:
        raise fail(f"--broker alpaca: {exc}") from None
    broker = LoggingBroker(raw_broker)
    feed: Any = None
    lease = None
    try:
        try:
            feed = container.gateways.live_price_feed()
        except DomainError as exc:
            raise fail(f"--broker alpaca: {exc}") from None
        try:  # before anything of the run is touched (its database included)
            check_reachable(broker)
        except BrokerUnreachable as exc:
            raise fail(f"--broker alpaca: cannot reach {where}: {exc}") from None
        url = db or settings.database_url
        params: dict[str, Any] = {"alerts": alerts, "tickers": watch, "live": live,
                                  "threshold": threshold, "sizing": method.value,
                                  "max_hold_days": max_hold_days}
        if agents:
            params = {**params, "alerts": None, "agents": list(agents)}
        issues: list[AlertIssue] = []
        source = _source(container, alerts, agents, watch, rid, threshold, broker, feed,
                         issues)
        try:
            uow = container.gateways.run_uow(url, run_id=rid, synchronous="FULL")
        except PersistenceError as exc:
            raise fail(f"database {mask_url(url)!r}: {exc}") from None
        named.refuse_other_params(uow, rid, "live", params, url)
        risk_watch: list[Callable[[], None]] = []

        def after_step(step: MarketStep, results: Sequence[ExecutionResult]) -> None:
            log_step_results(results)
            for check in risk_watch:
                check()

        trading: LiveTrading = container.services.live_trading(
            uow=uow, broker=broker, feed=feed, source=source, after_step=after_step,
            config=LiveConfig(
                run_id=rid, tickers=tuple(watch), params=params, threshold=threshold,
                sizing=method,
                max_hold=timedelta(days=max_hold_days) if max_hold_days > 0 else None,
                # a closed market is waited out in naps short enough to notice an outage
                interval_s=interval, max_idle_s=min(60.0, max(1.0, max_outage / 2)),
                max_steps=max_steps or None,
                reconcile_interval=timedelta(seconds=reconcile_interval)
                if reconcile_interval > 0 else None,
                max_outage_s=max_outage, warmup_days=AGENT_WARMUP_DAYS if agents else 0))
        start_stream = getattr(raw_broker, "start_stream", None)
        if start_stream is not None:
            start_stream()
        lease = take_run_lease(uow, rid, trading.request_stop)
        risk = trading.risk
        risk_watch.append(watch_risk(lambda: risk.current().state, risk.kill_flag_set))
        risk_watch[0]()  # a halt in force at start is logged before the first step
        if not as_json:
            what = f"agents {', '.join(agents)}" if agents else f"alerts {alerts}"
            err.print(f"[bold]{'LIVE' if live else 'paper'} trading on Alpaca[/]: run {rid}, "
                      f"{what}, watching {', '.join(watch)} every {interval:g}s; Ctrl-C "
                      "stops cleanly")
        try:
            with stop_on_signals(trading.request_stop):
                outcome = trading.run()
        except BrokerUnreachable as exc:
            raise fail(f"--broker alpaca: cannot reach {where}: {exc}") from None
        except DomainError as exc:
            raise fail(f"run {rid} stopped: {exc}", 1) from None
        finally:
            flush = getattr(source, "flush_status", None)
            if flush is not None:
                flush()
    finally:
        if lease is not None:
            lease.release()
        _close(feed)
        _close(raw_broker)
    result = outcome.result
    payload = {"run_id": rid, "status": result.status, "steps": result.steps,
               "signals": result.signals, "orders": result.orders,
               "closed_trades": result.closed, "bad_alert_lines": len(issues),
               "reconciliations": result.reconciliations,
               "reconcile_repairs": result.repairs, "broker_outage": outcome.outage}
    if agents:
        payload["agents"] = getattr(source, "versions", dict)()
    if as_json:
        out.print_json(json.dumps(payload))
    else:
        out.print(summary_table(f"Run {rid}", payload))
    if outcome.outage is not None:
        raise fail(f"run {rid} stopped: {where} out of reach: {outcome.outage}", 1)


def _source(container: Container, alerts: str | None, agents: Sequence[str] | None,
            watch: list[str], run_id: str, threshold: float, broker: Any, feed: Any,
            issues: list[AlertIssue]) -> SignalSource:
    """Return the run's signal source: the alert feed through the router, or the agents."""
    if agents:
        from entrypoints.cli.agents import live_agent_source

        return LoggingSource(live_agent_source(
            agents, watch, run_id, broker, feed, notifier=container.gateways.notifier()))
    show = issue_printer()

    def on_issue(i: AlertIssue) -> None:
        issues.append(i)
        show(i)

    assert alerts is not None  # checked by run_live
    try:
        alert_feed = open_feed(alerts, on_issue=on_issue)
    except (FileNotFoundError, NotAlertsError) as exc:
        raise fail(f"--alerts {alerts!r}: {exc}") from None
    return LoggingSource(AlertSignalSource(alert_feed, container.services.signal_router(
        config=RouterConfig(threshold=threshold))))
