"""``catalyst run --broker sim`` that kills itself with SIGKILL at one chosen point of an order.

Usage: ``python -m tests.campaign.audit_kill_child N before|after -- RUN ARGS...``: the N-th
order this process sends is the victim; ``before``: the process dies as the exchange is about
to receive it (the order stored, never sent); ``after``: it dies as the exchange's answer comes
back (sent, the answer not stored). N = 0 runs to the end. The simulated exchange is the
command's own, given to the container as its ``sim`` broker; nothing else differs from the CLI.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from adapters.simulated import SimulatedExchange
from domain.commands import SubmitOrder
from domain.orders import OrderReport


class DyingExchange(SimulatedExchange):
    """The simulated exchange; the process dies at its ``victim``-th order."""

    victim = 0
    when = "before"
    sent = 0

    def submit_order(self, request: SubmitOrder) -> OrderReport:
        DyingExchange.sent += 1
        dies = DyingExchange.sent == self.victim
        if dies and self.when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        report = super().submit_order(request)
        if dies:
            os.kill(os.getpid(), signal.SIGKILL)
        return report


def main(argv: list[str]) -> None:
    from dependency_injector import providers

    from entrypoints.cli.app import main as cli
    from entrypoints.cli.container import get_container

    victim, when, sep, *args = argv
    assert sep == "--" and when in ("before", "after")
    DyingExchange.victim, DyingExchange.when = int(victim), when

    def exchange(**kw: Any) -> SimulatedExchange:
        return DyingExchange(**kw)

    get_container().gateways.sim_exchange.override(providers.Factory(exchange))
    sys.argv = ["catalyst", *args]
    cli()


if __name__ == "__main__":
    main(sys.argv[1:])
