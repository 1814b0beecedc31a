"""``catalyst dashboard``: the Streamlit dashboard over a database, headless, on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from entrypoints.cli.container import load_settings

__all__ = ["dashboard", "streamlit_command"]

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
err = Console(stderr=True)


def streamlit_command(host: str, port: int) -> list[str]:
    """Return the command line that serves the dashboard: headless, no usage statistics."""
    return [sys.executable, "-m", "streamlit", "run", str(APP),
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.address", host, "--server.port", str(port),
            "--server.fileWatcherType", "none", "--global.developmentMode", "false",
            "--client.toolbarMode", "minimal"]


def dashboard(
    db: Annotated[str | None, typer.Option("--db", help="Database URL (default: the "
                                           "settings' database).")] = None,
    run: Annotated[str | None, typer.Option("--run", help="Run shown first (default: the "
                                            "latest run of the database).")] = None,
    data: Annotated[Path | None, typer.Option("--data", help="OHLCV file of the benchmark "
                                              "and the price charts (default: the run's own "
                                              "data file when it is still there).")] = None,
    alerts: Annotated[Path | None, typer.Option("--alerts", help="Alerts file whose "
                                                "headlines the trade log shows (default: the "
                                                "run's own alerts file when it is still "
                                                "there).")] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.", min=1,
                                      max=65535)] = 8501,
    refresh: Annotated[float, typer.Option("--refresh", help="Seconds between live "
                                           "refreshes.", min=0.5)] = 5.0,
) -> None:
    """Serve the Streamlit dashboard: portfolio, risk, agents and runs, refreshing live."""
    settings = load_settings()
    if data is not None and not data.is_file():
        err.print(f"[bold red]error:[/] --data {str(data)!r}: no such file (expected an OHLCV "
                  "CSV or Parquet file)")
        raise typer.Exit(2)
    if alerts is not None and not alerts.is_file():
        err.print(f"[bold red]error:[/] --alerts {str(alerts)!r}: no such file (expected a "
                  "JSONL or CSV alerts file)")
        raise typer.Exit(2)
    env = dict(os.environ)
    env["CATALYST_DATABASE_URL"] = db or str(settings.database_url)
    env["CATALYST_DASHBOARD_REFRESH_S"] = str(refresh)
    if run:
        env["CATALYST_DASHBOARD_RUN"] = run
    if data is not None:
        env["CATALYST_DASHBOARD_DATA"] = str(data.resolve())
    if alerts is not None:
        env["CATALYST_DASHBOARD_ALERTS"] = str(alerts.resolve())
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(APP.parents[2]), env.get("PYTHONPATH", "")) if p)
    err.print(f"dashboard on http://{host}:{port} (Ctrl-C stops it)")
    cmd = streamlit_command(host, port)
    if os.name == "posix":  # Streamlit takes this process's place: signals reach it directly
        sys.stderr.flush()
        os.execve(cmd[0], cmd, env)
    try:
        code = subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        code = 0
    raise typer.Exit(code)
