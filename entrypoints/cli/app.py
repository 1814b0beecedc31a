"""The ``catalyst`` command: one Typer app, one sub-app per area.

Exit codes everywhere: 0 success, 1 the job ran and found problems, 2 bad input or configuration.
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from entrypoints.cli.container import get_container
from entrypoints.logs import configure_logging
from entrypoints.settings import Settings, mask_url

app = typer.Typer(
    name="catalyst",
    help="Paper-trade news-catalyst alerts under strict risk controls; train and deploy RL agents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)


def package_version() -> str:
    """Return the installed version of catalyst-trader."""
    try:
        return version("catalyst-trader")
    except PackageNotFoundError:  # running from a source tree without install
        return "0+unknown"


def _version(value: bool) -> None:
    if value:
        out.print(f"catalyst-trader {package_version()}")
        raise typer.Exit(0)


def load_settings() -> Settings:
    """Return the container's settings; bad configuration exits 2 with the field named."""
    try:
        settings: Settings = get_container().core.settings()
    except ValidationError as exc:
        for e in exc.errors():
            field = ".".join(str(p) for p in e["loc"]) or "settings"
            err.print(f"[bold red]error:[/] configuration {field}={e.get('input')!r}: {e['msg']}")
        raise typer.Exit(2) from None
    return settings


@app.callback()
def main_callback(
    version_: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
    log_level: Annotated[
        str | None, typer.Option("--log-level", help="DEBUG, INFO, WARNING, ERROR.")
    ] = None,
) -> None:
    """Catalyst Trader."""
    settings = load_settings()
    level = (log_level or settings.log_level).upper()
    configure_logging(level, settings.log_format, settings.secret_values())


def _check_database(settings: Settings) -> tuple[bool, str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    url = settings.database_url
    try:
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            from pathlib import Path

            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"connect_timeout": 3}
                               if url.startswith("postgresql") else {})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except ArgumentError:
        return False, f"malformed database URL {mask_url(url)!r}"
    except (SQLAlchemyError, OSError, ImportError) as exc:
        return False, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    return True, "reachable"


def _check_broker(settings: Settings) -> tuple[bool, str]:
    if settings.broker == "sim":
        return True, "simulated exchange (in process)"
    from adapters.alpaca import check_account  # noqa: PLC0415 - only when alpaca is chosen

    return check_account(settings, timeout_s=5.0)


@app.command()
def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Print the configuration (secrets masked) and check the database and the broker."""
    settings = load_settings()
    db_ok, db_msg = _check_database(settings)
    br_ok, br_msg = _check_broker(settings)
    checks = {"database": {"ok": db_ok, "detail": db_msg}, "broker": {"ok": br_ok, "detail": br_msg}}
    payload: dict[str, Any] = {
        "version": package_version(),
        "python": sys.version.split()[0],
        "settings": settings.masked(),
        "checks": checks,
    }
    if as_json:
        out.print_json(json.dumps(payload, default=str))
    else:
        table = Table(title="Configuration (secrets masked)")
        table.add_column("setting")
        table.add_column("value")
        for key, value in payload["settings"].items():
            table.add_row(key, "" if value is None else str(value))
        out.print(table)
        checks_table = Table(title="Checks")
        checks_table.add_column("check")
        checks_table.add_column("status")
        checks_table.add_column("detail")
        for name, c in checks.items():
            checks_table.add_row(name, "[green]ok[/]" if c["ok"] else "[red]FAIL[/]", str(c["detail"]))
        out.print(checks_table)
    if not (db_ok and br_ok):
        raise typer.Exit(1)


def _register() -> None:
    # --- sub-apps (one line per area) ---
    from entrypoints.cli import data, rl, simserver, trading
    from entrypoints.cli import db as db_cli
    from entrypoints.cli import risk as risk_cli

    app.add_typer(data.app, name="data")
    app.add_typer(rl.app, name="rl")
    app.add_typer(risk_cli.app, name="risk")
    app.add_typer(db_cli.app, name="db")
    app.add_typer(trading.app)  # backtest, run, positions, orders, trades, account, report, export
    app.command(name="sim-server")(simserver.sim_server)
    from entrypoints.cli.walk_forward_backtest import backtest_walk_forward as _bwf  # noqa: I001
    app.command(name="backtest-walk-forward")(_bwf)
    # --- end sub-apps ---


_register()


def main() -> None:
    """Run the CLI (the ``catalyst`` console script)."""
    app()
