"""The run helpers of the CLI: names, parameter differences, refusal and the run a view shows.

Exercised on the in-memory store (the e2e tests in tests/e2e/test_cli_runs.py run the CLI).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import typer

from adapters.memory.uow import InMemoryUnitOfWork
from domain.audit import RunRecord
from entrypoints.cli import runs as named

T0 = datetime(2024, 1, 2, tzinfo=UTC)


def _start(uow: InMemoryUnitOfWork, name: str, kind: str = "run", **params: object) -> None:
    with uow.for_run(name) as u:
        u.runs.start(RunRecord(run_id=name, kind=kind, started_at=T0, params=params))
        u.commit()


@pytest.mark.parametrize("name", ["default", "loose", "bt-0.6", "A_1", "x" * 64])
def test_check_name_when_valid_then_returned(name: str) -> None:
    assert named.check_name(name) == name


@pytest.mark.parametrize("name", ["", " a", "a b", "../x", "a/b", "-x", ".x", "x" * 65, "é"])
def test_check_name_when_not_a_safe_folder_name_then_exit_2(
        name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as exc:
        named.check_name(name)
    assert exc.value.exit_code == 2
    assert "--run" in capsys.readouterr().err


def test_param_diff_names_each_difference_kind_and_missing_keys() -> None:
    stored = RunRecord(run_id="r", kind="run", started_at=T0,
                       params={"threshold": 0.7, "sizing": "confidence", "old": 1})
    assert named.param_diff(stored, "run", {"threshold": 0.7, "sizing": "confidence",
                                            "old": 1}) == []
    assert named.param_diff(stored, "backtest", {"threshold": 0.6, "sizing": "confidence",
                                                 "new": [1, 2]}) == [
        "kind: run -> backtest",
        'new: (not set) -> [1, 2]',
        "old: 1 -> (not set)",
        "threshold: 0.7 -> 0.6",
    ]


def test_refuse_when_same_params_or_placeholder_or_new_then_returns() -> None:
    uow = InMemoryUnitOfWork()
    assert named.refuse_other_params(uow, "a", "run", {"t": 1}, "db") is None
    _start(uow, "a", t=1)
    got = named.refuse_other_params(uow, "a", "run", {"t": 1}, "db")
    assert got is not None and got.run_id == "a"
    with uow.for_run("early") as u:  # wrote before it was started: a placeholder
        u.state.set("k", "v")
        u.commit()
    assert named.refuse_other_params(uow, "early", "run", {"t": 9}, "db") is not None


def test_refuse_when_other_params_then_exit_2_lists_them_and_names_a_matching_run(
        capsys: pytest.CaptureFixture[str]) -> None:
    uow = InMemoryUnitOfWork()
    _start(uow, "default", t=1)
    _start(uow, "loose", t=2)
    with uow.for_run("default") as u:
        u.state.set("risk:state", "active")
        u.commit()
    with pytest.raises(typer.Exit) as exc:
        named.refuse_other_params(uow, "default", "run", {"t": 2}, "sqlite:///x.db")
    assert exc.value.exit_code == 2
    msg = " ".join(capsys.readouterr().err.split())
    assert "run 'default' in sqlite:///x.db was started with other parameters" in msg
    assert "t: 1 -> 2" in msg and "--run OTHER" in msg and "--run loose" in msg
    with uow.for_run("default") as u:
        assert u.state.get("risk:state") == "active"


def test_resolve_when_no_name_then_latest_by_activity_else_the_named_one(
        capsys: pytest.CaptureFixture[str]) -> None:
    uow = InMemoryUnitOfWork()
    assert named.resolve(uow, None, "db") == "default"  # an empty store
    _start(uow, "b")
    _start(uow, "a")
    assert named.resolve(uow, None, "db") == "a"
    assert named.resolve(uow, "b", "db") == "b"
    with pytest.raises(typer.Exit) as exc:
        named.resolve(uow, "nope", "db")
    assert exc.value.exit_code == 2
    assert "runs: b, a" in " ".join(capsys.readouterr().err.split())
