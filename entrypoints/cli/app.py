"""The ``catalyst`` command: one Typer app, one sub-app per area.

Exit codes everywhere: 0 success, 1 the job ran and found problems, 2 bad input or configuration.

The sub-commands load lazily: ``catalyst --help`` lists them from :data:`LAZY_COMMANDS` without
importing their modules (pandas, SQLAlchemy, alpaca-py, torch), and a command's module is
imported only when that command runs or shows its own help.
"""

from __future__ import annotations

# ruff: noqa: E402 - the start-up SIGINT handler comes before the (slow) imports below
import signal


def _interrupted_while_starting(signum: int, frame: object) -> None:
    # Ctrl-C while the CLI's own modules load: a quiet exit 130, never an import traceback
    raise SystemExit(130)


_sigint = signal.signal(signal.SIGINT, _interrupted_while_starting)

import importlib
import json
import os
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from typer import _click as click  # Typer carries its own click
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

signal.signal(signal.SIGINT, _sigint)  # loaded: Ctrl-C as before (click: exit 130)

if TYPE_CHECKING:
    from entrypoints.settings import Settings

#: name -> (module, attribute, one-line help, kind) of every lazily loaded command. ``kind`` is
#: "group" (the attribute is the command's own Typer sub-app), "member" (the attribute is a Typer
#: app that holds the command among others) or "function" (a plain command function).
LAZY_COMMANDS: dict[str, tuple[str, str, str, str]] = {
    "sim-server": ("entrypoints.cli.simserver", "sim_server", "Serve Alpaca's trading REST API, "
                   "market data and the trade-updates stream offline.", "function"),
    "data": ("entrypoints.cli.data", "app", "Market data: import OHLCV files, fetch from Alpaca, "
             "build features, validate.", "group"),
    "rl": ("entrypoints.cli.rl", "app", "Reinforcement learning: train, tune, register, ensemble "
           "and evaluate agents.", "group"),
    "risk": ("entrypoints.cli.risk", "app", "Risk: limits and headroom, kill switch, recorded "
             "resume, risk report, sizing backtest.", "group"),
    "db": ("entrypoints.cli.db", "app", "Database: migrate (Alembic), show the revision, check "
           "integrity.", "group"),
    "backtest": ("entrypoints.cli.trading", "app", "Replay history through the paper-trading "
                 "engine as fast as possible and report.", "member"),
    "run": ("entrypoints.cli.trading", "app", "Paper-trade through the engine; resumes after a "
            "restart (SIGINT/SIGTERM stop cleanly).", "member"),
    "positions": ("entrypoints.cli.trading_views", "app", "Open positions with their stops, marks and "
                  "excursions.", "member"),
    "orders": ("entrypoints.cli.trading_views", "app", "Orders, newest last.", "member"),
    "trades": ("entrypoints.cli.trading_views", "app", "Closed positions (the trade log).", "member"),
    "account": ("entrypoints.cli.trading_views", "app", "Cash, equity and P&L from the run's latest "
                "portfolio snapshot.", "member"),
    "report": ("entrypoints.cli.trading_views", "app", "Performance metrics per period (recomputed "
               "from the stored snapshots and trades).", "member"),
    "runs": ("entrypoints.cli.trading_views", "app", "The runs of a database: name, kind, status, "
             "size, last equity and parameters.", "member"),
    "export": ("entrypoints.cli.trading_views", "app", "Export the trade log.", "member"),
    "backtest-walk-forward": ("entrypoints.cli.walk_forward_backtest", "backtest_walk_forward",
                              "Walk-forward validation of the catalyst rule strategy over a "
                              "parameter grid.", "function"),
    "serve": ("entrypoints.cli.serve", "serve", "Run the webhook intake alone: alerts over HTTP "
              "into the database's inbox.", "function"),
    "dashboard": ("entrypoints.cli.dashboard", "dashboard", "Serve the Streamlit dashboard: "
                  "portfolio, risk, agents and runs, refreshing live.", "function"),
    "alerts": ("entrypoints.cli.serve", "alerts", "List the alert inbox: id, status, reason, "
               "when received and known.", "function"),
    "quarantine": ("entrypoints.cli.quarantine", "quarantine", "List the alert lines and price "
                   "bars set aside: run, kind, file, line and reason.", "function"),
}


def load_command(name: str) -> click.Command:
    """Import and return the click command ``name`` of :data:`LAZY_COMMANDS`."""
    module, attr, _, kind = LAZY_COMMANDS[name]
    obj = getattr(importlib.import_module(module), attr)
    if kind == "function":
        holder = typer.Typer()
        holder.command(name=name)(obj)
        holder.command(name="-")(lambda: None)  # two commands: get_command returns a group
        obj, kind = holder, "member"
    sub = typer.main.get_command(obj)
    if kind == "group":
        sub.name = name
        command: click.Command = sub
        return command
    if not isinstance(sub, TyperGroup):
        raise TypeError(f"{module}.{attr} holds one command, expected a group")
    member = sub.get_command(click.Context(sub), name)
    if member is None:
        raise LookupError(f"{module}.{attr} has no command {name!r}")
    return member


_METAVARS = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "path": "PATH", "file": "FILE",
             "directory": "DIR", "datetime": "DATETIME", "decimal": "AMOUNT"}


def _no_type(ctx: click.Context) -> str | None:
    return None


def tidy_help(command: click.Command) -> click.Command:
    """Give every option of ``command`` (and of its sub-commands) a plain metavar.

    Typer labels each option with its Python type (``<bool>`` on a flag that takes no value,
    ``<list[Path]>``); flags get none, value options a word such as ``TEXT``, ``PATH``,
    ``NUMBER`` or their choices. Error messages name options by their flags, not metavars.
    """
    help_option = command.get_help_option(click.Context(command))
    for param in [*command.params, help_option]:
        if isinstance(param, TyperArgument):
            if param.metavar is None:
                param.metavar = (param.name or "value").upper()
            # the name column already shows the metavar; no second, type-named one
            param.display_type_rich = _no_type  # type: ignore[method-assign]
            continue
        if not isinstance(param, TyperOption) or param.metavar is not None:
            continue
        if param.is_flag or param.count:
            param.metavar = ""
            continue
        display = param.display_type
        label = display(click.Context(command)).strip("<>")
        many = label.startswith("list[")
        label = label.removeprefix("list[").removesuffix("]")
        word = _METAVARS.get(label.lower(), label if "|" in label else "VALUE")
        param.metavar = f"{word}..." if many or param.multiple else word
    if isinstance(command, TyperGroup):
        for sub in command.commands.values():
            tidy_help(sub)
    return command


class _Listed(TyperCommand):
    """A lazy command as the top-level help lists it: its name and one-line help only."""


class LazyGroup(TyperGroup):
    """The top-level group: lists lazy commands by name, imports one only to run it."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in LAZY_COMMANDS if n not in self.commands)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS and cmd_name not in self.commands:
            return _Listed(cmd_name, help=LAZY_COMMANDS[cmd_name][2], rich_markup_mode=None)
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else None
        if name in LAZY_COMMANDS and name not in self.commands:
            self.commands[name] = load_command(name)
        cmd_name, cmd, rest = super().resolve_command(ctx, args)
        if cmd is not None:
            tidy_help(cmd)
        return cmd_name, cmd, rest

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        tidy_help(self)  # the group's own options and eager commands
        super().format_help(ctx, formatter)


app = typer.Typer(
    cls=LazyGroup,
    name="catalyst",
    help="Paper-trade news-catalyst alerts under strict risk controls; train and deploy RL agents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)


def package_version() -> str:
    """Return the installed version of catalyst-trader."""
    # importlib.metadata costs a tenth of the start-up budget of ``catalyst --help``
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version("catalyst-trader")
    except PackageNotFoundError:  # running from a source tree without install
        return "0+unknown"


def _version(value: bool) -> None:
    if value:
        out.print(f"catalyst-trader {package_version()}")
        raise typer.Exit(0)


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
    from entrypoints.cli.container import load_settings  # noqa: PLC0415 - not for --help
    from entrypoints.logs import configure_logging  # noqa: PLC0415 - structlog, when running

    settings = load_settings()
    if os.environ.get("CATALYST_VAR_DIR") and not os.environ.get("CATALYST_HOME"):
        Console(stderr=True).print("[yellow]deprecated:[/] CATALYST_VAR_DIR is now CATALYST_HOME "
                                   f"(using {settings.home})")
    level = (log_level or settings.log_level).upper()
    configure_logging(level, settings.log_format, settings.secret_values())


def _password(url: str) -> str | None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        u = make_url(url)
    except ArgumentError:
        return None
    pw = u.password or u.query.get("password")
    return str(pw) if pw and not isinstance(pw, tuple) else None


def _check_database(settings: Settings) -> tuple[bool, str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from entrypoints.settings import mask_url  # noqa: PLC0415

    url = settings.database_url
    try:
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            from pathlib import Path

            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"connect_timeout": 3}
                               if url.startswith("postgresql") else {})
        with engine.connect() as conn:
            # reads the file's header: a file that is not a database fails here
            conn.execute(text("select count(*) from sqlite_master" if url.startswith("sqlite")
                              else "select 1"))
        engine.dispose()
    except ArgumentError:
        return False, f"malformed database URL {mask_url(url)!r}"
    except (SQLAlchemyError, OSError, ImportError) as exc:
        first = str(exc).splitlines()[0][:200] if str(exc) else ""
        return False, mask_url(f"{type(exc).__name__}: {first}").replace(
            _password(url) or "\x00", "***")
    return True, "reachable"


@app.command()
def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Print the configuration (secrets masked) and check the database and the broker."""
    from rich.table import Table  # noqa: PLC0415

    from entrypoints.cli.container import get_container, load_settings  # noqa: PLC0415

    settings = load_settings()
    db_ok, db_msg = _check_database(settings)
    br_ok, br_msg = get_container().gateways.broker_check()
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


def main() -> None:
    """Run the CLI (the ``catalyst`` console script)."""
    app()
