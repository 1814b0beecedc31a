"""Data-pipeline edges: benchmark gaps, alerts older than the data, bad alert and feature files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adapters.data.alerts import AlertFileError, alert_from_dict, read_alerts
from adapters.data.calendar import previous_session_bounds_ns
from adapters.data.features import (
    FeatureFileError,
    alerts_before_first_bar,
    build_features,
    check_feature_frame,
    feature_panel,
)
from adapters.sources.parse import parse_alert_dict
from domain import indicators as ind
from domain.alerts import Alert
from domain.market_data import Availability, alerts_before_start
from tests.synthetic_bars import to_frame, walk

# ------------------------------------------------------------------ benchmark gaps


def _panel_with_spy_gap(gap: int = 100) -> tuple[pd.DataFrame, pd.Timestamp]:
    spy = walk(250, seed=11, ticker="SPY", daily_vol=0.01)
    tick = walk(250, seed=12, ticker="TEST")
    df = to_frame(spy, tick)
    missing = pd.Timestamp(spy.dates[gap])
    df = df[~((df["ticker"] == "SPY") & (df["date"] == missing))].reset_index(drop=True)
    return df, missing


def test_beta_when_benchmark_lacks_a_date_then_not_zeroed_for_the_next_61_bars() -> None:
    df, missing = _panel_with_spy_gap()
    f = build_features(df, benchmark="SPY")
    t = f[f["ticker"] == "TEST"].reset_index(drop=True)
    # A NaN benchmark close inside a window would blank 61 betas (0 in the matrix).
    assert t["beta"].iloc[60:].notna().all()
    assert (t["f_beta"].iloc[60:] != 0.0).all()
    k = int(np.flatnonzero(t["date"] == missing)[0])
    assert t["beta"].iloc[k] == t["beta"].iloc[k - 1]  # carried, uses no later bar
    # Elsewhere: beta over returns between the dates both have.
    spy = df[df["ticker"] == "SPY"].set_index("date")["close"]
    common = t[t["date"].isin(spy.index)]
    expect = ind.beta(common["close"].to_numpy(), spy[common["date"]].to_numpy(), 60)
    np.testing.assert_allclose(common["beta"].to_numpy(), expect, rtol=1e-12, equal_nan=True)


def test_benchmark_when_not_in_data_then_error_names_it() -> None:
    df = to_frame(walk(100, seed=1))
    with pytest.raises(ValueError, match="benchmark 'SPY' is not in the data"):
        build_features(df, benchmark="spy")


# ------------------------------------------------------- alerts before the first bar


def _alert(i: int, known: datetime, score: float = 0.5) -> Alert:
    return Alert(id=f"a{i}", ticker="TEST", known_at=known, catalyst_type="fda",
                 score=score, sentiment=1.0)


def test_alerts_when_dated_before_first_bar_then_dropped_and_counted_not_piled_on_bar_0() -> None:
    s = walk(120, seed=13, start="2019-01-02")
    df = to_frame(s)
    old = [_alert(i, datetime(2018, 6, 1 + i, 14, tzinfo=UTC), 0.9) for i in range(3)]
    # 2018-12-31 was the session before 2019-01-02; news after its open belongs to bar 0.
    fresh = _alert(10, datetime(2019, 1, 1, 12, tzinfo=UTC), 0.4)
    f = build_features(df, [*old, fresh])
    assert f["catalyst_score"].iloc[0] == 0.4 and f["news_velocity"].iloc[0] == 1.0
    assert alerts_before_first_bar(df, [*old, fresh]) == {"TEST": 3}
    assert alerts_before_first_bar(df, [fresh]) == {}


def test_alerts_before_start_when_at_the_boundaries_then_rules_agree_with_first_usable_bar() -> None:
    prev = previous_session_bounds_ns("2019-01-02")
    assert prev is not None
    o, c = prev  # 2018-12-31 14:30 and 21:00 UTC
    k = np.array([o - 1, o, o + 1, c - 1, c], dtype=np.int64)
    assert alerts_before_start(k, prev, Availability.OPEN).tolist() == [
        True, True, False, False, False]
    assert alerts_before_start(k, prev, Availability.CLOSE).tolist() == [
        True, True, True, True, False]


# ---------------------------------------------------------------- alert field errors


def _good() -> dict[str, object]:
    return {"id": "x", "ticker": "AAPL", "known_at": "2020-01-02T14:30:00Z", "score": 0.5}


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("id", "a non-empty string"),
        ("ticker", "a ticker symbol string"),
        ("known_at", "an ISO-8601 time with a UTC offset"),
        ("score", "a number in [0, 1]"),
    ],
)
def test_read_alerts_when_field_missing_then_error_names_line_field_and_expectation(
    tmp_path: Path, field: str, expected: str
) -> None:
    p = tmp_path / "a.jsonl"
    bad = {k: v for k, v in _good().items() if k != field}
    p.write_text("\n".join([json.dumps(_good()), "", json.dumps(bad)]) + "\n")
    with pytest.raises(AlertFileError) as e:
        read_alerts(p)
    assert f"a.jsonl:3: alert line 3: missing field '{field}' (expected {expected}" in str(e.value)
    with pytest.raises(ValueError, match=f"missing field\\(s\\): {field} \\(expected"):
        parse_alert_dict(bad)


def test_read_alerts_when_not_json_or_bad_value_then_says_which() -> None:
    with pytest.raises(ValueError, match="expected a JSON object"):
        alert_from_dict([1, 2])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"invalid score: got 3, expected a number in \[0, 1\]"):
        alert_from_dict({**_good(), "score": 3})


def test_read_alerts_when_line_is_not_json_then_line_named(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl"
    p.write_text(json.dumps(_good()) + "\n{oops\n")
    with pytest.raises(AlertFileError, match=r"a\.jsonl:2: alert line 2 is not JSON"):
        read_alerts(p)


# ------------------------------------------------------------------- feature files


def test_feature_panel_when_given_a_price_frame_then_names_missing_columns() -> None:
    df = to_frame(walk(100, seed=2))
    with pytest.raises(FeatureFileError, match=r"not a feature file: missing column\(s\) split"):
        feature_panel(df, split="train")
    with pytest.raises(FeatureFileError, match=r"prices\.parquet is not a feature file"):
        check_feature_frame(df, "prices.parquet")
    check_feature_frame(build_features(to_frame(walk(100, seed=2))))
