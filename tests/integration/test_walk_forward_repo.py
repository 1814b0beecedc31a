"""The walk-forward repository: SQL (SQLite) and the in-memory fake behave the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adapters.memory.uow import InMemoryWalkForwardRepo
from adapters.sqlalchemy.engine import make_engine
from adapters.sqlalchemy.walk_forward import SqlWalkForwardRepo


def _report(n: int, ret: float) -> dict[str, Any]:
    return {
        "windows": [
            {"index": i, "train_start": "2020-01-01", "train_end": "2020-12-31",
             "test_start": f"2021-0{i + 1}-01", "test_end": f"2021-0{i + 1}-28",
             "metrics": {"total_return": ret}, "baselines": {"buy_and_hold": {}},
             "chosen": {"label": "ppo"}}
            for i in range(n)
        ],
        "aggregate": {"windows": n}, "deflated_sharpe": {"dsr": 0.3}, "pbo": {"pbo": 0.4},
        "n_trials": 2 * n,
    }


@pytest.fixture(params=["sql", "memory"])
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "memory":
        return InMemoryWalkForwardRepo()
    return SqlWalkForwardRepo(make_engine(f"sqlite:///{tmp_path / 'wf.db'}"))


def test_save_get_list_and_replace(repo: Any) -> None:
    repo.save("k1", "rl", {"algo": "ppo"}, _report(3, 0.1))
    repo.save("k2", "rules", {"grid": "g.toml"}, _report(1, 0.2))
    got = repo.get("k1")
    assert got["kind"] == "rl" and got["settings"] == {"algo": "ppo"}
    assert [w["window_index"] for w in got["windows"]] == [0, 1, 2]
    assert got["windows"][2]["test_start"] == "2021-03-01"
    assert got["pbo"] == {"pbo": 0.4} and got["n_trials"] == 6
    assert {r["run_key"] for r in repo.list()} == {"k1", "k2"}
    assert all("windows" not in r for r in repo.list())
    repo.save("k1", "rl", {"algo": "ppo"}, _report(2, -0.1))  # a rerun replaces the rows
    got = repo.get("k1")
    assert len(got["windows"]) == 2 and got["windows"][0]["metrics"]["total_return"] == -0.1
    assert repo.get("nope") is None


def test_a_failed_save_leaves_the_earlier_rows(tmp_path: Path) -> None:
    repo = SqlWalkForwardRepo(make_engine(f"sqlite:///{tmp_path / 'wf.db'}"))
    repo.save("k", "rl", {}, _report(2, 0.1))
    bad = _report(2, 0.5)
    bad["windows"][1]["index"] = 0  # duplicate primary key: the transaction rolls back
    with pytest.raises(Exception):  # noqa: B017, PT011 - the driver's integrity error
        repo.save("k", "rl", {}, bad)
    got = repo.get("k")
    assert got is not None and [w["metrics"]["total_return"] for w in got["windows"]] == [0.1, 0.1]
