"""``catalyst serve`` (the webhook intake alone), ``catalyst alerts`` (list the inbox), and the
intake that ``catalyst run --listen`` starts next to the engine.

The intake writes every alert to the ``alerts`` inbox of the database and answers 202 only
after the commit; a ``catalyst run`` on the same database (``--listen`` in the same process,
or elsewhere) releases and routes them. Without a token (``CATALYST_WEBHOOK_TOKEN``) the
intake refuses to listen on anything but a loopback address.
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, cast

import typer
from rich.console import Console
from rich.table import Table

from application.ports import INBOX_STATUSES, InboxUnitOfWork
from entrypoints.settings import mask_url

out = Console()
err = Console(stderr=True)

__all__ = ["alerts", "intake_thread", "parse_listen", "run_with_intake", "serve"]

LOOPBACK_NAMES = ("localhost",)
_COST_FLAGS = ("commission_bps", "commission_per_share", "commission_per_order", "min_commission",
               "slippage_bps", "slippage_model", "spread_bps", "volatility_factor")


def _fail(msg: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {msg}")
    return typer.Exit(code)


def parse_listen(spec: str) -> tuple[str, int]:
    """Return ``(host, port)`` of ``HOST:PORT`` (``[::1]:8080`` for IPv6); ValueError why not."""
    s = spec.strip()
    host, sep, port_s = s.rpartition(":")
    if not sep or not host:
        raise ValueError(f"--listen {spec!r}: expected HOST:PORT, e.g. 127.0.0.1:8080")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        port = int(port_s)
    except ValueError:
        raise ValueError(f"--listen {spec!r}: port {port_s!r} is not a number") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"--listen {spec!r}: port {port} is outside 0-65535")
    return host, port


def is_loopback(host: str) -> bool:
    """Return True for a loopback address (127.0.0.0/8, ::1, localhost)."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_exposure(host: str, token: str | None) -> None:
    if token is None and not is_loopback(host):
        raise _fail(f"--listen {host}: no webhook token is configured, so the intake listens on "
                    "a loopback address only; set CATALYST_WEBHOOK_TOKEN (or listen on "
                    "127.0.0.1)")


def _server(app: Any, host: str, port: int) -> Any:
    import uvicorn  # noqa: PLC0415 - only when serving

    cfg = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                         lifespan="off", timeout_graceful_shutdown=5)
    return uvicorn.Server(cfg)


def _uow_factory(db: str | None, synchronous: str = "FULL"
                 ) -> tuple[Any, Callable[[], InboxUnitOfWork], str]:
    from adapters.sqlalchemy import PersistenceError, make_engine, sql_uow_factory
    from adapters.sqlalchemy.engine import is_memory, parse_url
    from entrypoints.webhook.container import WebhookContainer

    container = WebhookContainer()
    url = db or container.core.settings().database_url
    try:
        if is_memory(parse_url(url)):
            raise _fail(f"--db {mask_url(url)!r}: the inbox must outlive the process; use a database "
                        "file or server")
        engine = make_engine(url, synchronous=cast(Any, synchronous))
    except PersistenceError as exc:
        raise _fail(f"--db: {exc}") from None
    factory = cast(Callable[[], InboxUnitOfWork], sql_uow_factory(engine))
    return container, factory, url


@contextmanager
def intake_thread(app: Any, host: str, port: int) -> Iterator[Any]:
    """Serve ``app`` on ``host:port`` from a background thread while the block runs."""
    server = _server(app, host, port)
    th = threading.Thread(target=server.run, name="webhook", daemon=True)
    th.start()
    deadline = time.monotonic() + 10
    while not server.started and th.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    if not server.started:
        raise _fail(f"--listen {host}:{port}: the intake did not start (is the port in use?)")
    try:
        yield server
    finally:
        server.should_exit = True
        th.join(10)


def serve(
    listen: Annotated[str, typer.Option("--listen", help="HOST:PORT to listen on (loopback "
                                        "unless a webhook token is set).")] = "127.0.0.1:8787",
    db: Annotated[str | None, typer.Option("--db", help="Database URL (default: "
                                           "CATALYST_DATABASE_URL).")] = None,
    run: Annotated[str | None, typer.Option("--run", help="Run whose health, kill and resume "
                                            "the admin endpoints address (default: the "
                                            "latest).")] = None,
    rate: Annotated[float, typer.Option("--rate", help="Requests per second per client "
                                        "(0: no limit).")] = 50.0,
    burst: Annotated[int, typer.Option("--burst", help="Requests a client may send at "
                                       "once.")] = 100,
    synchronous: Annotated[str, typer.Option("--synchronous", help="SQLite: FULL (an "
                           "acknowledged alert survives a power cut) or NORMAL (it survives "
                           "a crash of the process).")] = "FULL",
) -> None:
    """Run the webhook intake alone: alerts over HTTP into the database's inbox."""
    from entrypoints.webhook.app import create_app
    from entrypoints.webhook.container import admin_actions, store_health

    try:
        host, port = parse_listen(listen)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    if rate < 0 or burst < 1:
        raise _fail(f"--rate {rate:g} --burst {burst}: expected rate >= 0 and burst >= 1")
    if synchronous.upper() not in ("FULL", "NORMAL"):
        raise _fail(f"--synchronous {synchronous!r}: expected FULL or NORMAL")
    container, factory, url = _uow_factory(db, synchronous.upper())
    config = container.config(rate=rate, burst=burst)
    _check_exposure(host, config.token)
    kill, resume = admin_actions(container, factory, run)
    app = create_app(factory, config, health=store_health(factory, run), kill=kill,
                     resume=resume)
    server = _server(app, host, port)
    err.print(f"catalyst intake listening on http://{listen} (inbox in "
              f"{mask_url(url).split('@')[-1]}); Ctrl-C stops")
    server.run()


def alerts(
    status: Annotated[str | None, typer.Option("--status", help="Only this status: "
                                               + ", ".join(INBOX_STATUSES) + ".")] = None,
    db: Annotated[str | None, typer.Option("--db", help="Database URL.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many (0: all).")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the alert inbox: id, status, reason, when received and known."""
    if status is not None and status not in INBOX_STATUSES:
        raise _fail(f"--status {status!r}: expected one of {', '.join(INBOX_STATUSES)}")
    if limit < 0:
        raise _fail(f"--limit {limit}: expected >= 0")
    _, factory, _ = _uow_factory(db)
    with factory() as u:
        recs = u.inbox.list(status=status, limit=limit or None)
    rows = [{"id": r.alert_id, "status": r.status, "reason": r.reason, "run": r.run,
             "source": r.source, "received_at": r.received_at.isoformat(),
             "known_at": r.known_at.isoformat(), "body_hash": r.body_hash,
             "alert": json.loads(r.payload)} for r in recs]
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table(title=f"Alert inbox ({len(rows)}{' ' + status if status else ''})")
    for c in ("id", "status", "reason", "run", "received_at", "known_at"):
        table.add_column(c)
    for r in rows:
        table.add_row(*(str(r[c] or "") for c in ("id", "status", "reason", "run",
                                                  "received_at", "known_at")))
    out.print(table)


def run_with_intake(listen: str, session_args: dict[str, Any]) -> None:
    """``catalyst run --listen``: the replay engine routes the inbox while the intake serves.

    ``session_args`` are ``run``'s options. The alerts come from the inbox only (``--alerts``
    and ``--strategy`` are refused); the replay releases each alert once its clock reaches
    the alert's ``known_at``.
    """
    from adapters.sources.inbox import InboxFeed, InboxSignalSource
    from adapters.sqlalchemy import SqlUnitOfWork
    from application.router import RouterConfig
    from entrypoints.cli import runs as named
    from entrypoints.cli.container import get_container
    from entrypoints.cli.trading_options import cost_model
    from entrypoints.cli.trading_report import finish
    from entrypoints.cli.trading_session import open_session, run_session
    from entrypoints.webhook.app import create_app
    from entrypoints.webhook.container import WebhookContainer, admin_actions

    a = session_args
    try:
        host, port = parse_listen(listen)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    container = get_container()
    settings = container.core.settings()
    if (a.get("broker") or settings.broker) != "sim":
        raise _fail("--listen with --broker alpaca: not supported in one process yet; run "
                    "`catalyst serve` and a replay with --listen, or feed alerts with --alerts")
    if a.get("alerts") or a.get("strategy"):
        raise _fail("--listen: the alerts come from the webhook inbox; drop --alerts/--strategy")
    wc = WebhookContainer()
    config = wc.config()
    _check_exposure(host, config.token)
    url = a.get("db") or settings.database_url
    from adapters.sqlalchemy.engine import is_memory, parse_url

    if is_memory(parse_url(url)):
        raise _fail(f"--db {mask_url(url)!r}: --listen needs a database file or server (the intake and "
                    "the engine share it)")
    session = open_session(
        "run", a.get("data"), None, None, url,
        named.check_name(a["run_id"]) if a.get("run_id") else None, a["speed"],
        a["cash"], a["threshold"], a["sizing"], a["max_hold_days"], a["as_json"],
        a["reconcile_steps"], ticker=a.get("ticker"), container=container,
        costs=cost_model(settings, **{k: a.get(k) for k in _COST_FLAGS}))
    session.feed_counts, session.alerts_spec, session.issue_count = None, "inbox", 0
    uow = cast(InboxUnitOfWork, session.uow)
    feed = InboxFeed(uow, known_tickers=set(session.data.first_ts), run=session.run_id)
    source = InboxSignalSource(feed, container.services.signal_router(
        config=RouterConfig(threshold=a["threshold"])))
    session.source = source
    session.engine.source = source
    session.params["signals"] = "inbox"
    named.refuse_other_params(session.uow, session.run_id, "run", session.params, url)
    engine_sql = cast(SqlUnitOfWork, session.uow).engine

    def factory() -> InboxUnitOfWork:
        return cast(InboxUnitOfWork, SqlUnitOfWork(engine_sql))

    last: dict[str, Any] = {"ts": None}

    def health() -> dict[str, Any]:
        st = session.risk.current()
        return {"engine": {"run": session.run_id, "in_process": True,
                           "alive": not session.engine.stopping, "last_step": last["ts"]},
                "risk": {"state": st.state.value, "killed": st.killed,
                         "tripped_rules": list(st.tripped_rules)}}

    kill, resume = admin_actions(wc, factory, session.run_id)
    app = create_app(factory, config, health=health, kill=kill, resume=resume)
    t0 = time.perf_counter()
    with intake_thread(app, host, port):
        err.print(f"catalyst intake listening on http://{listen} next to run {session.run_id}")
        def after(step: Any) -> None:
            last["ts"] = step.ts.isoformat()

        session.on_step = after
        result = run_session(session, bool(a.get("progress")) and not a["as_json"])
    report = a.get("report")
    report_dir = report or settings.reports_dir / session.run_id
    finish(session, result, report_dir, a["as_json"], time.perf_counter() - t0)
