"""The engine with grouped commits on SQLite: the same books as committing every step, also
when the run is stopped midway and resumed, and when the process dies between durable
commits (the resume replays the steps after the last one)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import attrs

from adapters.sources.market import restore_ledger
from adapters.sqlalchemy import SqlUnitOfWork, make_engine
from tests.integration.test_engine_resume import T0, World, outcome


def _grouped(world: World, every: int = 8) -> World:
    world.engine.config = attrs.evolve(world.engine.config, commit_every=every)
    return world


def _reference(tmp_path: Path) -> SqlUnitOfWork:
    # the same run committing every step, on its own SQLite file
    uow = SqlUnitOfWork(make_engine(f"sqlite:///{tmp_path / 'ref.db'}", synchronous="NORMAL"),
                        run_id="r")
    ref = World(uow)  # type: ignore[arg-type]
    assert ref.engine.run(ref.driver).status == "finished"
    return uow


def test_engine_when_commits_grouped_then_same_books_as_committing_every_step(
        tmp_path: Path) -> None:
    ref = _reference(tmp_path)
    engine = make_engine(f"sqlite:///{tmp_path / 'g.db'}", synchronous="NORMAL")
    uow = SqlUnitOfWork(engine, run_id="r")
    w = _grouped(World(uow))  # type: ignore[arg-type]
    res = w.engine.run(w.driver)
    assert res.status == "finished" and res.closed > 3
    assert uow._held is None and uow._points == 0  # everything durable at the end
    assert outcome(uow) == outcome(ref)  # type: ignore[arg-type]


def test_engine_when_grouped_run_dies_between_durable_commits_then_resume_is_exact(
        tmp_path: Path) -> None:
    ref = _reference(tmp_path)
    engine = make_engine(f"sqlite:///{tmp_path / 'g.db'}", synchronous="NORMAL")
    uow = SqlUnitOfWork(engine, run_id="r")
    first = _grouped(World(uow))  # type: ignore[arg-type]

    class Died(Exception):
        pass

    died: list[int] = []

    def die(step: object) -> None:
        held = uow._held
        # the first step from day 20 on after which some commit points are not yet durable
        if (step.ts - T0).days >= 20 and held is not None and uow._points > 0:  # type: ignore[attr-defined]
            died.append((step.ts - T0).days)  # type: ignore[attr-defined]
            held.invalidate()  # the process dies: the open transaction goes with it
            uow._held, uow._points = None, 0
            raise Died

    first.engine.on_step = die
    with contextlib.suppress(Died):
        first.engine.run(first.driver)
    assert died
    fresh = SqlUnitOfWork(engine, run_id="r")  # a new process on the same database
    second = _grouped(World(fresh))  # type: ignore[arg-type]
    res = second.engine.run(second.driver,
                            on_resume=lambda u: restore_ledger(second.broker, u))
    assert res.status == "finished" and res.resumed_from is not None
    assert (res.resumed_from - T0).days < died[0]  # from the last durable commit
    assert outcome(fresh) == outcome(ref)  # type: ignore[arg-type]
