"""The dashboard's container and configuration: the shared Core and Gateways, the CLI's
Services (for the risk service), and what only the dashboard needs (its run, price data,
admin token, refresh period, the model registry).

``catalyst dashboard`` passes its flags to the Streamlit process through the environment
variables below; the settings (database URL, admin token, folders) come from the usual
``CATALYST_*`` variables and ``catalyst.toml``.
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path
from typing import Any

import attrs
from dependency_injector import containers, providers

from entrypoints.cli.container import Services
from entrypoints.containers import Core, Gateways

__all__ = ["ALERTS_ENV", "DATA_ENV", "REFRESH_ENV", "RUN_ENV", "DashboardConfig", "DashboardContainer",
           "agent_status", "check_admin", "dashboard_config"]

RUN_ENV = "CATALYST_DASHBOARD_RUN"
DATA_ENV = "CATALYST_DASHBOARD_DATA"
ALERTS_ENV = "CATALYST_DASHBOARD_ALERTS"
REFRESH_ENV = "CATALYST_DASHBOARD_REFRESH_S"


@attrs.frozen
class DashboardConfig:
    """What the pages need besides the store: the run to show (None: the latest), the price
    file of the benchmark and the price charts, the admin token, the refresh period, the
    alerts file whose headlines the trade log shows."""

    run: str | None
    data: Path | None
    admin_token: str | None
    refresh_s: float
    reports_dir: Path
    alerts: Path | None = None


def dashboard_config(settings: Any, env: dict[str, str] | None = None) -> DashboardConfig:
    """Read the dashboard's configuration from ``settings`` and the environment."""
    e = os.environ if env is None else env
    token = settings.dashboard_admin_token
    secret = token.get_secret_value() if token is not None else ""
    refresh = e.get(REFRESH_ENV, "5")
    try:
        refresh_s = float(refresh)
    except ValueError:
        raise ValueError(f"{REFRESH_ENV}={refresh!r}: expected seconds (a number)") from None
    return DashboardConfig(run=e.get(RUN_ENV) or None,
                           data=Path(e[DATA_ENV]) if e.get(DATA_ENV) else None,
                           admin_token=secret or None, refresh_s=refresh_s,
                           reports_dir=settings.reports_dir,
                           alerts=Path(e[ALERTS_ENV]) if e.get(ALERTS_ENV) else None)


def check_admin(config: DashboardConfig, typed_token: str, confirmation: str, expected: str,
                operator: str) -> str | None:
    """Return why an admin action is refused, or None when it may go ahead: an admin token
    must be configured and typed, the confirmation must equal ``expected`` and the operator
    must give a name."""
    if config.admin_token is None:
        return "disabled: no admin token is configured (CATALYST_DASHBOARD_ADMIN_TOKEN)"
    if not hmac.compare_digest(typed_token.encode(), config.admin_token.encode()):
        return "refused: wrong admin token"
    if confirmation.strip() != expected:
        return f"refused: type {expected!r} to confirm"
    if not operator.strip():
        return "refused: the operator's name is required"
    return None


def _registry(settings: Any, engine: Any) -> Any:
    """The model registry as the ``rl`` commands open it: its metadata in the database
    ``CATALYST_MODELS_DB`` names, in ``metadata.json`` files with ``none``, else in the
    dashboard's database."""
    from adapters.rl.registry import (  # noqa: PLC0415
        FileSystemModelRegistry,
        JsonMetadataStore,
        SqlMetadataStore,
    )

    db = settings.models_db
    if db is not None and db.lower() == "none":
        store: Any = JsonMetadataStore(settings.models_dir)
    else:
        store = SqlMetadataStore(db if db else engine)
    return FileSystemModelRegistry(settings.models_dir, store)


def _walk_forward(engine: Any) -> Any:
    from adapters.sqlalchemy.walk_forward import SqlWalkForwardRepo  # noqa: PLC0415

    return SqlWalkForwardRepo(engine)


def agent_status(settings: Any, run: str) -> dict[str, Any] | None:
    """Return what the agents of run ``run`` wrote last (``agents/<run>.json`` under the state
    home, where ``catalyst backtest/run --agent`` keeps it and ``catalyst rl status`` reads
    it), or None when the run wrote none; ``ValueError`` when the file cannot be read."""
    from adapters.rl.inference import StatusFile  # noqa: PLC0415

    path = Path(settings.home) / "agents" / f"{run}.json"
    if not path.is_file():
        return None
    try:
        return StatusFile(path).read()
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: unreadable agent status ({exc})") from None


class DashboardContainer(containers.DeclarativeContainer):
    """The dashboard's graph."""

    core = providers.Container(Core)
    gateways = providers.Container(Gateways, core=core)
    services = providers.Container(Services, core=core, gateways=gateways)
    config = providers.Singleton(dashboard_config, settings=core.settings)
    registry = providers.Singleton(_registry, settings=core.settings, engine=gateways.engine)
    walk_forward = providers.Singleton(_walk_forward, engine=gateways.engine)
