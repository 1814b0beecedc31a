"""The CLI's dependency-injector container: Core (settings, logging, clock), Gateways, Services.

Only entrypoint functions ask the container for objects; nothing below the entrypoints knows
it exists. Tests swap any provider with ``container.<name>.override(...)``.
"""

from __future__ import annotations

from dependency_injector import containers, providers

from adapters.system.clock import SystemClock
from entrypoints.settings import Settings


class Core(containers.DeclarativeContainer):
    """Configuration, clock."""

    settings = providers.Singleton(Settings)
    clock = providers.Singleton(SystemClock)


class Gateways(containers.DeclarativeContainer):
    """Adapters behind ports: database, broker, price feed, notifiers."""

    core = providers.DependenciesContainer()
    # --- gateway providers (one block per area; keep each area's lines together) ---


class Services(containers.DeclarativeContainer):
    """Use cases, built from gateways."""

    core = providers.DependenciesContainer()
    gateways = providers.DependenciesContainer()
    # --- service providers ---


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
