"""The CLI's container: the shared ``Core`` and ``Gateways`` and the CLI's ``Services``.

Only command functions ask the container for objects, at their top; nothing below the
entrypoints knows it exists. Tests swap any provider with ``container.<name>.override(...)``
and start afresh with :func:`reset_container` (which also resets the singletons).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from dependency_injector import containers, providers

from entrypoints.containers import Core, Gateways

if TYPE_CHECKING:
    from entrypoints.settings import Settings

__all__ = ["Container", "Core", "Gateways", "Services", "get_container", "load_settings",
           "reset_container"]


def _risk_service(**kwargs: Any) -> Any:
    from application.risk import RiskService  # noqa: PLC0415 - imported when first used

    return RiskService(**kwargs)


def _signal_router(**kwargs: Any) -> Any:
    from application.router import RouterConfig, SignalRouter  # noqa: PLC0415

    kwargs.setdefault("config", RouterConfig())
    return SignalRouter(**kwargs)


def _order_executor(**kwargs: Any) -> Any:
    from application.executor import OrderExecutor  # noqa: PLC0415

    return OrderExecutor(**kwargs)


def _position_monitor(**kwargs: Any) -> Any:
    from application.monitor import PositionMonitor  # noqa: PLC0415

    return PositionMonitor(**kwargs)


def _portfolio_tracker(**kwargs: Any) -> Any:
    from application.tracker import PortfolioTracker  # noqa: PLC0415

    return PortfolioTracker(**kwargs)


def _reconciler(**kwargs: Any) -> Any:
    from application.reconcile import Reconciler  # noqa: PLC0415

    return Reconciler(**kwargs)


def _engine(**kwargs: Any) -> Any:
    from application.engine import Engine  # noqa: PLC0415

    return Engine(**kwargs)


def _live_trading(**kwargs: Any) -> Any:
    from application.live import LiveTrading  # noqa: PLC0415

    return LiveTrading(**kwargs)


class Services(containers.DeclarativeContainer):
    """Use cases and the engine, their shared dependencies filled from Core and Gateways.

    What differs per run (the run's unit of work, the replay's exchange and clock, the run's
    thresholds) is passed when the command calls the factory.
    """

    core = providers.DependenciesContainer()
    gateways = providers.DependenciesContainer()

    risk_service = providers.Factory(
        _risk_service, notifier=gateways.notifier, clock=core.clock, config=gateways.risk_config,
        kill_flag=gateways.kill_switch,
        kill_flag_flattens=gateways.kill_switch.provided.wants_flatten,
    )
    signal_router = providers.Factory(_signal_router)
    order_executor = providers.Factory(_order_executor)
    position_monitor = providers.Factory(_position_monitor)
    portfolio_tracker = providers.Factory(_portfolio_tracker)
    reconciler = providers.Factory(_reconciler, clock=core.clock, notifier=gateways.notifier)
    engine = providers.Factory(_engine, clock=core.clock)
    #: real-time trading (``run --broker alpaca``): the run's unit of work, broker, feed,
    #: source and :class:`~application.live.LiveConfig` are given at call time
    live_trading = providers.Factory(
        _live_trading, clock=core.clock, new_risk=risk_service.provider,
        new_executor=order_executor.provider, new_monitor=position_monitor.provider,
        new_tracker=portfolio_tracker.provider, new_reconciler=reconciler.provider,
        new_engine=engine.provider, monotonic=core.monotonic, sleep=core.sleep)


class Container(containers.DeclarativeContainer):
    """The whole CLI graph."""

    core = providers.Container(Core)
    gateways = providers.Container(Gateways, core=core)
    services = providers.Container(Services, core=core, gateways=gateways)


_container: Container | None = None


def get_container() -> Container:
    """Return the process's container, created on first use (never at import time)."""
    global _container
    if _container is None:
        _container = Container()
        _container.check_dependencies()
    return _container


def reset_container() -> None:
    """Forget the process's container (tests call this between CLI invocations)."""
    global _container
    if _container is not None:
        _container.unwire()
        _container.reset_singletons()
    _container = None


def load_settings() -> Settings:
    """Return the container's settings; bad configuration exits 2 with the field named."""
    from pydantic import ValidationError  # noqa: PLC0415
    from rich.console import Console  # noqa: PLC0415

    from entrypoints.settings import (  # noqa: PLC0415
        ConfigError,
        check_config_files,
        explain_settings_error,
    )

    try:
        check_config_files()
        settings: Settings = get_container().core.settings()
    except ValidationError as exc:
        err = Console(stderr=True)
        for e in exc.errors():
            field = ".".join(str(p) for p in e["loc"]) or "settings"
            err.print(f"[bold red]error:[/] configuration {field}={e.get('input')!r}: {e['msg']}")
        raise typer.Exit(2) from None
    except ConfigError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
        raise typer.Exit(2) from None
    except (ValueError, TypeError, UnicodeDecodeError) as exc:  # a source that cannot parse
        Console(stderr=True).print(f"[bold red]error:[/] {explain_settings_error(exc)}",
                                   highlight=False)
        raise typer.Exit(2) from None
    return settings
