"""Running the ``catalyst`` CLI in process for the e2e tests of the trading commands."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from click.testing import Result
from typer.testing import CliRunner

from adapters.data.sample import sample_paths
from entrypoints.cli.app import app
from entrypoints.cli.container import reset_container

TICKERS = {"AAPL", "AMZN", "JPM", "MSFT", "XOM"}


@contextmanager
def _environment(cwd: Path, env: dict[str, str]) -> Iterator[None]:
    saved, here = dict(os.environ), Path.cwd()
    try:
        for k in [k for k in os.environ if k.startswith(("CATALYST_RISK__", "CATALYST_COSTS__"))]:
            del os.environ[k]
        os.environ.pop("CATALYST_CONFIG", None)  # the default: catalyst.toml in cwd, if any
        os.environ.update({"CATALYST_LOG_LEVEL": "WARNING", "CATALYST_KILL_FILE": str(cwd / "KILL"),
                           "CATALYST_DATABASE_URL": f"sqlite:///{cwd}/var/catalyst.db", **env})
        os.chdir(cwd)
        reset_container()
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        os.chdir(here)
        reset_container()


def catalyst(args: list[str], cwd: Path, env: dict[str, str] | None = None,
             toml: str | None = None) -> Result:
    """Run the CLI in ``cwd`` with ``env`` (and ``catalyst.toml`` = ``toml``), in process."""
    if toml is not None:
        (cwd / "catalyst.toml").write_text(toml)
    with _environment(cwd, env or {}):
        return CliRunner().invoke(app, args)


def make_small_data(d: Path) -> Path:
    """Write two years of five tickers from the bundled sample and their alerts into ``d``."""
    df = pd.read_csv(sample_paths().prices)
    df = df[(df.date < "2015-01-01") & df.ticker.isin(TICKERS)]
    df.to_csv(d / "prices.csv", index=False)
    alerts = [json.loads(x) for x in sample_paths().alerts.read_text().splitlines()]
    keep = [a for a in alerts if a["ticker"] in TICKERS and a["known_at"] < "2015-01-01"]
    (d / "alerts.jsonl").write_text("".join(json.dumps(a) + "\n" for a in keep))
    return d


def empty_config(folder: Path) -> str:
    """Return the path of an empty ``catalyst.toml`` in ``folder`` (made if missing): a test's
    settings come from its environment only (a named config file that is missing is an
    error)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "none.toml"
    path.touch()
    return str(path)
