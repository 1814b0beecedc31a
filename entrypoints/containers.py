"""The containers every entrypoint shares: ``Core`` (settings, clock) and ``Gateways`` (adapters).

Each entrypoint (``entrypoints/cli/container.py``, the webhook, the dashboard, an agent runner)
declares its own ``Services`` over these two and its own top container. The broker and the price
feed are chosen once, here, by ``settings.broker`` (``providers.Selector``); an entrypoint that
takes the choice as a flag overrides ``Gateways.broker_name``. Heavy adapters (alpaca-py, the
simulated exchange's calendars, SQLAlchemy) are imported only when a provider is first called,
so building a container costs nothing. Nothing below ``entrypoints/`` knows these exist.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from dependency_injector import containers, providers

if TYPE_CHECKING:
    from entrypoints.settings import Settings


def _settings() -> Settings:
    from entrypoints.settings import Settings  # noqa: PLC0415 - pydantic, numpy: when first used

    return Settings()


def _system_clock() -> Any:
    from adapters.system.clock import SystemClock  # noqa: PLC0415 - imported when first used

    return SystemClock()


def _notifier(settings: Settings) -> Any:
    from adapters.notifiers import notifier_from_settings  # noqa: PLC0415 - imported when used

    return notifier_from_settings(settings)


def _kill_switch(path: Any) -> Any:
    from adapters.system.kill_switch import FileKillSwitch  # noqa: PLC0415 - imported when used

    return FileKillSwitch(path)


def _db_engine(url: str) -> Any:
    from adapters.sqlalchemy import make_engine  # noqa: PLC0415 - sqlalchemy is slow to import

    return make_engine(url)


def _uow_factory(engine: Any) -> Any:
    from adapters.sqlalchemy import sql_uow_factory  # noqa: PLC0415 - sqlalchemy is slow to import

    return sql_uow_factory(engine)


def _run_uow(url: str, *, run_id: str, synchronous: Any = "NORMAL") -> Any:
    from adapters.sqlalchemy import make_engine, sql_uow_factory  # noqa: PLC0415 - slow import

    return sql_uow_factory(make_engine(url, synchronous=synchronous), run_id=run_id)()


def _daily_bars(path: Any, ticker: str | None = None, strict: bool = False) -> Any:
    from adapters.sources.market import DailyBars  # noqa: PLC0415 - pandas, pyarrow

    return DailyBars(path, ticker=ticker, strict=strict)


def _array_replay(data: Any, exchange: Any, clock: Any, speed: float = 0.0) -> Any:
    from adapters.sources.market import ArrayReplay  # noqa: PLC0415 - imported when used

    return ArrayReplay(data, exchange, clock, speed=speed)


def _alpaca_broker(settings: Settings, live: bool = False, **overrides: Any) -> Any:
    from adapters.alpaca import build_broker  # noqa: PLC0415 - heavy, only when chosen

    return build_broker(settings, live=live, **overrides)


def _alpaca_price_feed(settings: Settings, **overrides: Any) -> Any:
    from adapters.alpaca import build_price_feed  # noqa: PLC0415 - heavy, only when chosen

    return build_price_feed(settings, **overrides)


def _sim_exchange(**kwargs: Any) -> Any:
    from adapters.simulated import SimulatedExchange  # noqa: PLC0415 - calendars load slowly

    return SimulatedExchange(**kwargs)


def _sim_check() -> tuple[bool, str]:
    return True, "simulated exchange (in process)"


def _alpaca_check(settings: Settings) -> tuple[bool, str]:
    from adapters.alpaca import check_account  # noqa: PLC0415 - heavy, only when chosen

    return check_account(settings, timeout_s=5.0)


def _broker_name(settings: Settings) -> str:
    return settings.broker


class Core(containers.DeclarativeContainer):
    """Configuration, the clock, and how a real-time loop measures and spends time."""

    settings = providers.Singleton(_settings)
    clock = providers.Singleton(_system_clock)
    #: elapsed seconds (outage budgets) and the wait between real-time steps; a test
    #: replaying a market moves it at ``sleep`` instead of waiting
    monotonic = providers.Object(time.monotonic)
    sleep = providers.Object(time.sleep)


class Gateways(containers.DeclarativeContainer):
    """Adapters behind ports: database, broker, price feed, notifiers, kill switch."""

    core = providers.DependenciesContainer()

    # risk
    notifier = providers.Singleton(_notifier, settings=core.settings)
    kill_switch = providers.Singleton(_kill_switch, path=core.settings.provided.kill_file)
    risk_config = providers.Singleton(core.settings.provided.risk_config.call())

    # persistence: one engine per process (an empty database is migrated on first use)
    engine = providers.Singleton(_db_engine, core.settings.provided.database_url)
    uow_factory = providers.Singleton(_uow_factory, engine)
    #: the unit of work of one run on a database the command names (``--db``): ``url=``,
    #: ``run_id=`` and ``synchronous=`` at call time; raises PersistenceError
    run_uow = providers.Factory(_run_uow)

    # market data of a replay: a daily-bar file as arrays, and the driver that replays it
    daily_bars = providers.Factory(_daily_bars)
    replay_driver = providers.Factory(_array_replay)

    # the vendor: "sim" or "alpaca", from settings; a ``--broker`` flag overrides this provider
    broker_name = providers.Callable(_broker_name, core.settings)
    # one simulated exchange per replay (``config=`` and ``clock=`` at call time); it is the
    # replay's broker and price feed at once
    sim_exchange = providers.Factory(_sim_exchange)
    # Alpaca: paper unless ``live=True`` (which also needs CATALYST_LIVE_CONFIRM=I-UNDERSTAND)
    alpaca_broker = providers.Factory(_alpaca_broker, settings=core.settings)
    alpaca_price_feed = providers.Factory(_alpaca_price_feed, settings=core.settings)
    #: the Alpaca REST broker without the trade stream (short commands: risk kill, account)
    broker = providers.Factory(_alpaca_broker, settings=core.settings, use_stream=False)

    #: the broker a live run trades through, chosen by ``broker_name``
    live_broker = providers.Selector(broker_name, sim=sim_exchange, alpaca=alpaca_broker)
    #: the price feed of a live run: Alpaca's market data; in a replay the exchange is the feed
    live_price_feed = providers.Selector(
        broker_name, sim=providers.Object(None), alpaca=alpaca_price_feed)
    #: the broker a separate, short command can reach: None on "sim", whose exchange lives
    #: inside the engine's process
    remote_broker = providers.Selector(broker_name, sim=providers.Object(None), alpaca=broker)
    #: ``doctor``'s check of the chosen broker: (reachable, detail)
    broker_check = providers.Selector(
        broker_name, sim=providers.Callable(_sim_check),
        alpaca=providers.Callable(_alpaca_check, core.settings))
