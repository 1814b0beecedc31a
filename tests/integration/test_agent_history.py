"""The agents' history on the simulated exchange: the bars the replay serves."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from adapters.data.ohlcv import load_ohlcv
from adapters.data.sample import sample_paths
from adapters.sources.market import DailyBars, load_daily_bars
from entrypoints.cli.agents import bars_frame, served_bars


def test_a_clean_file_gives_the_files_own_bars_and_frame() -> None:
    path = sample_paths().prices
    bars = served_bars(DailyBars(path, strict=False))
    assert bars == load_daily_bars(path)
    pd.testing.assert_frame_equal(bars_frame(bars), load_ohlcv(path).reset_index(drop=True))


def test_a_bad_bar_is_not_among_the_served_bars(tmp_path: Path) -> None:
    df = pd.read_csv(sample_paths().prices)
    df = df[df.ticker.isin(["AAPL", "MSFT"]) & (df.date < "2013-06-01")]
    row = df.index[(df.ticker == "MSFT") & (df.date == "2013-04-02")][0]
    bad = df.copy()
    bad.loc[row, "low"] = bad.loc[row, "high"] * 2.0  # high below low
    bad.to_csv(tmp_path / "bad.csv", index=False)
    df.drop(index=row).to_csv(tmp_path / "without.csv", index=False)
    data = DailyBars(tmp_path / "bad.csv", strict=False)
    assert [(b.ticker, b.day) for b in data.bad_bars] == [("MSFT", "2013-04-02")]
    assert served_bars(data) == load_daily_bars(tmp_path / "without.csv")
    # the raw file's bars still hold it: the reason the agents do not read them
    assert len(load_daily_bars(tmp_path / "bad.csv")) == len(served_bars(data)) + 1
