"""A run over poisoned alerts: it goes on, each bad line lands in the quarantine once, and
`catalyst quarantine` lists file, line and reason."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.data.sample import sample_paths
from entrypoints.cli.app import app
from entrypoints.cli.container import reset_container

CLI = CliRunner()


@pytest.fixture()
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CATALYST_KILL_FILE", str(tmp_path / "KILL"))
    reset_container()
    yield tmp_path
    reset_container()


@pytest.mark.slow
def test_poisoned_alerts_are_quarantined_once_and_listed(cwd: Path) -> None:
    good = sample_paths().alerts.read_bytes().splitlines()
    poison = [
        good[0][:-1] + b', "score": 1' + b"0" * 400 + b"}",
        good[1][:-1] + b', "x": ' + b"[" * 1000 + b"]" * 1000 + b"}",
        good[2].replace(b'"known_at": "', b'"known_at": "1900').split(b"1900")[0]
        + b'1900-01-02T00:00:00+00:00", "id": "old", "ticker": "AAPL", "score": 1}',
    ]
    alerts = cwd / "alerts.jsonl"
    alerts.write_bytes(b"\n".join([*good[3:], *poison]) + b"\n")
    db = f"sqlite:///{cwd / 'q.db'}"
    r = CLI.invoke(app, ["run", "--broker", "sim", "--alerts", str(alerts), "--db", db, "--json",
                         "--report", str(cwd / "rep")])
    assert r.exit_code == 0, r.output
    r = CLI.invoke(app, ["quarantine", "--db", db, "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    bad_lines = {len(good) - 3 + i + 1 for i in range(len(poison))}
    assert {x["line"] for x in rows} >= bad_lines
    reasons = " ".join(x["reason"] for x in rows)
    assert "number too long" in reasons and "nested too deep" in reasons
    assert all(x["source"] == str(alerts) and x["run"] == "default" for x in rows)
    n = len(rows)
    reset_container()
    r = CLI.invoke(app, ["run", "--broker", "sim", "--alerts", str(alerts), "--db", db,
                         "--json", "--report", str(cwd / "rep")])
    assert r.exit_code == 0, r.output
    assert len(json.loads(CLI.invoke(app, ["quarantine", "--db", db, "--json"]).output)) == n
    text = CLI.invoke(app, ["quarantine", "--db", db, "--run", "default"])
    assert f"Quarantined input ({n})" in text.output
    assert "Nothing quarantined" in CLI.invoke(app, ["quarantine", "--db", db, "--run",
                                                     "other"]).output


def test_alert_after_the_data_end_is_counted_as_future(cwd: Path) -> None:
    import pandas as pd

    df = pd.read_csv(sample_paths().prices)
    df[(df.date < "2013-03-01") & (df.ticker == "AAPL")].to_csv(cwd / "p.csv", index=False)
    alerts = cwd / "a.jsonl"
    alerts.write_text(
        json.dumps({"id": "in", "ticker": "AAPL", "known_at": "2013-01-10T14:00:00Z",
                    "score": 0.9}) + "\n"
        + json.dumps({"id": "late", "ticker": "AAPL", "known_at": "2014-01-10T14:00:00Z",
                      "score": 0.9}) + "\n")
    db = f"sqlite:///{cwd / 'f.db'}"
    r = CLI.invoke(app, ["run", "--broker", "sim", "--data", str(cwd / "p.csv"), "--alerts",
                         str(alerts), "--db", db, "--json", "--report", str(cwd / "rep")])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output[r.output.index("{"):])
    assert out["bad_alert_lines"] == 1
    (row,) = json.loads(CLI.invoke(app, ["quarantine", "--db", db, "--json"]).output)
    assert row["line"] == 2 and "future" in row["reason"]
