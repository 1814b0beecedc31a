"""The webhook's container: the CLI's Core and Gateways, plus the intake's own wiring.

It reuses :class:`~entrypoints.cli.container.Core` (settings, clock) and
:class:`~entrypoints.cli.container.Gateways` (the database engine, the units of work, the kill
file) and adds what only the intake needs: its :class:`WebhookConfig`, the health report read
from the store, and kill / resume through :class:`application.risk.RiskService`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from dependency_injector import containers, providers

from application.ports import DEFAULT_RUN, InboxUnitOfWork
from application.risk import RiskService
from domain.errors import InvalidInput
from entrypoints.cli.container import Services
from entrypoints.containers import Core, Gateways
from entrypoints.webhook.app import WebhookConfig

__all__ = ["ADMIN_TOKEN_ENV", "WebhookContainer", "admin_actions", "store_health"]

#: The environment variable of the admin token of ``/v1/kill`` and ``/v1/resume`` (the setting
#: ``webhook_admin_token``, kept apart from the intake's token).
ADMIN_TOKEN_ENV = "CATALYST_WEBHOOK_ADMIN_TOKEN"


def _secret(value: Any) -> str | None:
    if value is None:
        return None
    s = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
    return s or None


def _config(settings: Any, **overrides: Any) -> WebhookConfig:
    kw: dict[str, Any] = {"token": _secret(settings.webhook_token),
                          "admin_token": _secret(settings.webhook_admin_token)}
    kw.update(overrides)
    return WebhookConfig(**kw)


class WebhookContainer(containers.DeclarativeContainer):
    """The intake's graph: Core and Gateways of the CLI, the webhook config."""

    core = providers.Container(Core)
    gateways = providers.Container(Gateways, core=core)
    services = providers.Container(Services, core=core, gateways=gateways)
    config = providers.Factory(_config, settings=core.settings)


def _run_of(factory: Callable[[], InboxUnitOfWork], run: str | None) -> str:
    if run:
        return run
    with factory() as u:
        runs = u.runs.list()
    return runs[-1].run_id if runs else DEFAULT_RUN


def store_health(factory: Callable[[], InboxUnitOfWork], run: str | None = None
                 ) -> Callable[[], dict[str, Any]]:
    """Return the health report read from the store: the run's status, last step, risk."""

    def health() -> dict[str, Any]:
        rid = _run_of(factory, run)
        with cast(InboxUnitOfWork, factory().for_run(rid)) as u:
            rec = u.runs.get(rid)
            cursor = u.state.get(f"engine:{rid}:cursor")
            st = RiskService.load(u)
        return {"engine": {"run": rid, "in_process": False,
                           "status": rec.status if rec else None,
                           "last_step": cursor or None},
                "risk": {"state": st.state.value, "killed": st.killed,
                         "tripped_rules": list(st.tripped_rules)}}

    return health


def admin_actions(container: WebhookContainer, factory: Callable[[], InboxUnitOfWork],
                  run: str | None = None
                  ) -> tuple[Callable[[dict[str, Any]], dict[str, Any]],
                             Callable[[dict[str, Any]], dict[str, Any]]]:
    """Return ``(kill, resume)`` over the run's :class:`RiskService` (no broker here: the
    engine cancels and flattens at its next step, as after ``catalyst risk kill``)."""

    def service(doc: dict[str, Any]) -> RiskService:
        rid = doc.get("run") or _run_of(factory, run)
        svc: RiskService = container.services.risk_service(
            uow=factory().for_run(rid), broker=None)
        return svc

    def kill(doc: dict[str, Any]) -> dict[str, Any]:
        by = str(doc.get("by") or "webhook").strip()
        svc = service(doc)
        report = svc.kill(f"http:{by}", str(doc.get("reason", "")),
                          flatten=bool(doc.get("flatten", False)))
        return {"run": doc.get("run") or _run_of(factory, run), "state": report.state.value,
                "by": f"http:{by}", "flatten": bool(doc.get("flatten", False)),
                "executed_here": report.executed}

    def resume(doc: dict[str, Any]) -> dict[str, Any]:
        who = str(doc.get("approved_by", "")).strip()
        if not who:
            raise InvalidInput("approved_by", doc.get("approved_by"), "the approver's name")
        svc = service(doc)
        before = svc.current()
        st = svc.resume(f"http:{who}", str(doc.get("reason", "")), approve=True)
        return {"run": doc.get("run") or _run_of(factory, run), "state": st.state.value,
                "previous_state": before.state.value, "resumed_by": st.resumed_by}

    return kill, resume
