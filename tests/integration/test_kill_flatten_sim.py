"""``risk kill --flatten`` during a replay on the simulated exchange: stored closing orders that
trade at the next session's open, the flatten shown pending until the book is flat."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.data.sample import sample_paths
from adapters.system.kill_switch import FileKillSwitch
from application.engine import MarketStep
from domain.account import Account
from domain.values import TimeInForce
from entrypoints.cli.container import get_container, reset_container
from entrypoints.cli.trading_session import Session


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CATALYST_KILL_FILE", str(tmp_path / "KILL"))
    reset_container()
    yield tmp_path
    reset_container()


@pytest.mark.slow
def test_kill_with_flatten_closes_every_position_through_stored_orders(env: Path) -> None:
    sess = Session(data=sample_paths().prices, alerts=None, strategy=None,
                   db_url=f"sqlite:///{env / 'c.db'}", kind="run", run_id=None, speed=0.0,
                   cash=Decimal(100_000), threshold=0.5, sizing="fixed",
                   max_hold_days=30.0, issue_sink=None, reconcile_steps=0,
                   container=get_container())
    ks = FileKillSwitch(env / "KILL")
    seen: list[tuple[int, int, bool]] = []  # (step, open positions, flatten pending)
    n = 0

    def on_step(step: MarketStep) -> None:
        nonlocal n
        n += 1
        with sess.uow as u:
            held = len(u.positions.list_open())
        if not ks.is_set() and held >= 2:
            ks.engage("ops", "drill", flatten=True)  # `catalyst risk kill --flatten`
            seen.append((n, held, False))
            return
        if ks.is_set():
            s = sess.risk.status(Account(cash=Decimal(0), equity=Decimal(0),
                                         buying_power=Decimal(0)), recent=0)
            seen.append((n, held, s.flatten_pending))

    sess.on_step = on_step
    sess.run(progress=False)
    assert seen, "the sample never held two positions"
    killed_at, held, _ = seen[0]
    assert held >= 2
    # the closing orders were sent at the step after the kill, at the close: they fill at the
    # next session's open, and the flatten shows pending until then
    assert seen[1] == (killed_at + 1, held, True)
    assert seen[2] == (killed_at + 2, 0, False)
    assert all(h == 0 and not p for _, h, p in seen[2:])
    with sess.uow as u:
        assert u.positions.list_open() == []
        done = [e for e in u.journal.risk_events() if e.kind == "flatten_done"]
        after_kill = [o for o in u.orders.list() if o.client_order_id in done[0].data["orders"]]
    assert len(done) == 1 and len(after_kill) == held
    assert all(o.status.value == "filled" and o.request.time_in_force is TimeInForce.GTC
               for o in after_kill)
