"""A price file handed over as alerts is recognised from its first line; alert files are not."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from adapters.sources.files import NotAlertsError, not_alerts_reason, open_feed

ALERT = {"id": "a1", "ticker": "AAPL", "known_at": "2014-01-02T13:30:00Z", "score": 0.9}
BAR = {"date": "2014-01-02", "ticker": "AAPL", "open": 1.0, "high": 2.0, "low": 0.5,
       "close": 1.5, "volume": 100}


@pytest.mark.parametrize(("name", "text"), [
    ("p.csv", "date,ticker,open,high,low,close,volume\n2014-01-02,AAPL,1,2,0.5,1.5,100\n"),
    ("p.csv", "Date,Close\n2014-01-02,1.5\n"),  # a single-ticker close series
    ("p.jsonl", "\n" + json.dumps(BAR) + "\n"),  # price rows as JSON lines
    ("p.jsonl", "timestamp,symbol,open,high,low,close\n"),  # a CSV named .jsonl
])
def test_price_file_when_given_as_alerts_then_recognised(name: str, text: str,
                                                         tmp_path: Path) -> None:
    f = tmp_path / name
    f.write_text(text)
    reason = not_alerts_reason(f)
    assert reason is not None and "price file" in reason
    with pytest.raises(NotAlertsError, match="pass prices as --data"):
        open_feed(f)


def test_parquet_when_given_as_alerts_then_recognised(tmp_path: Path) -> None:
    f = tmp_path / "p.parquet"
    pd.DataFrame([BAR]).to_parquet(f)
    assert "Parquet" in (not_alerts_reason(f) or "")


@pytest.mark.parametrize(("name", "text"), [
    ("a.jsonl", json.dumps(ALERT) + "\n"),
    ("a.jsonl", json.dumps({**ALERT, "data": {"close": 1.0, "open": 2.0}}) + "\n"),
    ("a.csv", "id,ticker,known_at,score\na1,AAPL,2014-01-02T13:30:00Z,0.9\n"),
    ("a.jsonl", '{"id": "broken", \n'),  # a bad alert line stays an alert-file problem
    ("a.jsonl", ""),
])
def test_alert_file_when_read_then_not_taken_for_prices(name: str, text: str,
                                                        tmp_path: Path) -> None:
    f = tmp_path / name
    f.write_text(text)
    assert not_alerts_reason(f) is None
    open_feed(f)
