"""The CLI's dependency-injector container: Core (settings, logging, clock), Gateways, Services.

Only entrypoint functions ask the container for objects; nothing below the entrypoints knows
it exists. Tests swap any provider with ``container.<name>.override(...)``.
"""

from __future__ import annotations

from typing import Any

from dependency_injector import containers, providers

from adapters.notifiers import notifier_from_settings
from adapters.sqlalchemy import make_engine, sql_uow_factory
from adapters.system.clock import SystemClock
from adapters.system.kill_switch import FileKillSwitch
from application.executor import OrderExecutor
from application.monitor import PositionMonitor
from application.risk import RiskService
from application.router import RouterConfig, SignalRouter
from application.tracker import PortfolioTracker
from entrypoints.settings import Settings


def _alpaca_broker(settings: Settings, live: bool = False, **overrides: Any) -> Any:
    from adapters.alpaca import build_broker  # noqa: PLC0415 - heavy, only when chosen

    return build_broker(settings, live=live, **overrides)


def _alpaca_price_feed(settings: Settings, **overrides: Any) -> Any:
    from adapters.alpaca import build_price_feed  # noqa: PLC0415 - heavy, only when chosen

    return build_price_feed(settings, **overrides)


def _sim_exchange(**kwargs: Any) -> Any:
    from adapters.simulated import SimulatedExchange  # noqa: PLC0415 - calendars load slowly

    return SimulatedExchange(**kwargs)


class Core(containers.DeclarativeContainer):
    """Configuration, clock."""

    settings = providers.Singleton(Settings)
    clock = providers.Singleton(SystemClock)


class Gateways(containers.DeclarativeContainer):
    """Adapters behind ports: database, broker, price feed, notifiers."""

    core = providers.DependenciesContainer()
    # --- gateway providers (one block per area; keep each area's lines together) ---
    # risk
    notifier = providers.Singleton(notifier_from_settings, settings=core.settings)
    kill_switch = providers.Singleton(FileKillSwitch, path=core.settings.provided.kill_file)
    risk_config = providers.Singleton(core.settings.provided.risk_config.call())
    # persistence (issue 3): one engine per process (migrates an empty database on first use)
    engine = providers.Singleton(make_engine, core.settings.provided.database_url)
    uow_factory = providers.Singleton(sql_uow_factory, engine)
    # alpaca (issue 6): paper by default; pass live=True (the --live flag) at call time, which
    # also needs CATALYST_LIVE_CONFIRM=I-UNDERSTAND; alpaca-py is imported only when used
    alpaca_broker = providers.Factory(_alpaca_broker, settings=core.settings)
    alpaca_price_feed = providers.Factory(_alpaca_price_feed, settings=core.settings)
    # the broker other CLI commands reach when CATALYST_BROKER=alpaca (risk kill, account)
    broker = providers.Factory(_alpaca_broker, settings=core.settings, use_stream=False)
    # pipeline (issue 5): one simulated exchange per replay (config= and clock= at call time)
    sim_exchange = providers.Factory(_sim_exchange)


class Services(containers.DeclarativeContainer):
    """Use cases, built from gateways."""

    core = providers.DependenciesContainer()
    gateways = providers.DependenciesContainer()
    # --- service providers ---
    # risk: uow= (a unit of work from gateways.uow_factory) and broker= (None, or the Alpaca
    # broker) are passed at call time by entrypoints/cli/risk.py
    risk_service = providers.Factory(
        RiskService, notifier=gateways.notifier, clock=core.clock, config=gateways.risk_config,
        kill_flag=gateways.kill_switch,
        kill_flag_flattens=gateways.kill_switch.provided.wants_flatten,
    )
    # pipeline (issue 5): broker=, feed=, risk=, config= are passed at call time by
    # entrypoints/cli/trading.py (the replay's exchange and clock)
    router_config = providers.Singleton(RouterConfig)
    signal_router = providers.Factory(SignalRouter, config=router_config)
    order_executor = providers.Factory(OrderExecutor)
    position_monitor = providers.Factory(PositionMonitor)
    portfolio_tracker = providers.Factory(PortfolioTracker)


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
