"""Validation, repair, splits and catalyst enrichment (domain.market_data)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.data.calendar import session_bounds_ns, sessions_between
from adapters.data.ohlcv import frame_to_series, load_ohlcv
from adapters.data.sample import sample_paths
from domain.alerts import Alert
from domain.market_data import (
    Availability,
    IssueSeverity,
    OhlcvSeries,
    Problem,
    catalyst_features,
    chronological_splits,
    first_usable_bar,
    repair_series,
    validate_series,
)


@pytest.fixture(scope="module")
def aapl() -> OhlcvSeries:
    return frame_to_series(load_ohlcv(sample_paths().prices))["AAPL"]


@pytest.fixture(scope="module")
def sessions(aapl: OhlcvSeries) -> np.ndarray:
    return sessions_between(aapl.dates[0], aapl.dates[-1])


def _with(s: OhlcvSeries, **changes: tuple[int, float]) -> OhlcvSeries:
    arrays = {
        k: getattr(s, k).copy() for k in ("open", "high", "low", "close", "volume")
    }
    for col, (i, v) in changes.items():
        arrays[col][i] = v
    return OhlcvSeries(s.ticker, s.dates.copy(), **arrays)


def _problems(issues: list) -> set[tuple[str, Problem]]:
    return {(i.date, i.problem) for i in issues}


def test_validate_when_real_sample_then_no_findings(
    aapl: OhlcvSeries, sessions: np.ndarray
) -> None:
    assert validate_series(aapl, sessions) == []


def test_validate_when_faults_injected_then_each_named_with_ticker_and_date(
    aapl: OhlcvSeries, sessions: np.ndarray
) -> None:
    bad = _with(
        aapl,
        close=(10, float("nan")),
        low=(20, -1.0),
        high=(30, 1.0),  # below low
        open=(40, 1000.0),  # outside [low, high]
        volume=(50, -5.0),
    )
    found = _problems(validate_series(bad, sessions))
    d = [str(x) for x in aapl.dates]
    assert (d[10], Problem.NAN) in found
    assert (d[20], Problem.NON_POSITIVE_PRICE) in found
    assert (d[30], Problem.HIGH_BELOW_LOW) in found
    assert (d[40], Problem.OPEN_OUTSIDE_RANGE) in found
    assert (d[50], Problem.NEGATIVE_VOLUME) in found
    assert all(i.ticker == "AAPL" for i in validate_series(bad, sessions))


def test_validate_when_duplicate_and_gap_then_error_and_warning(
    aapl: OhlcvSeries, sessions: np.ndarray
) -> None:
    idx = np.r_[0:100, 99, 101:200, 201:300]  # duplicate of bar 99, bar 200 missing
    s = aapl.take(idx)
    issues = validate_series(s, sessions)
    by = {(i.problem, i.date): i.severity for i in issues}
    assert by[(Problem.DUPLICATE_TIMESTAMP, str(aapl.dates[99]))] is IssueSeverity.ERROR
    assert by[(Problem.MISSING_SESSION, str(aapl.dates[200]))] is IssueSeverity.WARNING


def test_validate_when_weekend_bar_then_not_a_session(
    aapl: OhlcvSeries, sessions: np.ndarray
) -> None:
    s = aapl.take(np.arange(10))
    dates = s.dates.copy()
    dates[5] = np.datetime64("2013-02-16")  # a Saturday
    s = OhlcvSeries(s.ticker, dates, s.open, s.high, s.low, s.close, s.volume)
    assert ("2013-02-16", Problem.NOT_A_SESSION) in _problems(
        validate_series(s, sessions)
    )


def test_validate_when_unadjusted_split_then_split_like_jump_unless_catalyst(
    aapl: OhlcvSeries, sessions: np.ndarray
) -> None:
    s = aapl.take(np.arange(300))
    k = 150
    arrs = {c: getattr(s, c).copy() for c in ("open", "high", "low", "close")}
    for a in arrs.values():
        a[:k] *= 7.0  # AAPL's 7:1 split, left unadjusted
    vol = s.volume.copy()
    vol[:k] /= 7.0
    raw = OhlcvSeries(
        "AAPL", s.dates, arrs["open"], arrs["high"], arrs["low"], arrs["close"], vol
    )
    day = str(s.dates[k])
    assert (day, Problem.SPLIT_LIKE_JUMP) in _problems(validate_series(raw, sessions))
    assert validate_series(raw, sessions, catalyst_dates=[day]) == []

    fixed = repair_series(raw, sessions)
    np.testing.assert_allclose(fixed.series.close, s.close, rtol=1e-12)
    np.testing.assert_allclose(fixed.series.volume, s.volume, rtol=1e-12)
    assert "7:1 split" in fixed.actions[0].detail
    assert validate_series(fixed.series, sessions) == []


def test_repair_when_faults_then_drops_and_fixes_and_says_what(
    aapl: OhlcvSeries, sessions: np.ndarray
) -> None:
    s = aapl.take(np.r_[0:50, 20, 50:100])
    bad = _with(s, close=(10, float("nan")), high=(30, 1.0), open=(40, 1e4))
    r = repair_series(bad, sessions)
    acts = {(a.date, a.problem): a.detail for a in r.actions}
    d = [str(x) for x in s.dates]
    assert acts[(d[10], Problem.NAN)] == "dropped the bar"
    assert acts[(d[30], Problem.HIGH_BELOW_LOW)] == "dropped the bar"
    assert acts[(d[40], Problem.OPEN_OUTSIDE_RANGE)].startswith("widened")
    assert "kept the first" in acts[(d[20], Problem.DUPLICATE_TIMESTAMP)]
    remaining = validate_series(r.series, sessions)
    assert {i.problem for i in remaining} == {
        Problem.MISSING_SESSION
    }  # gaps are not invented
    assert r.unrepaired == []
    assert len(r.series) == 100 - 2


def test_repair_when_jump_matches_no_split_then_left_and_reported_as_error(
    aapl: OhlcvSeries, sessions: np.ndarray
) -> None:
    s = aapl.take(np.arange(100))
    c = s.close.copy()
    c[60:] *= 1.83
    hi, lo, op = s.high.copy(), s.low.copy(), s.open.copy()
    hi[60:] *= 1.83
    lo[60:] *= 1.83
    op[60:] *= 1.83
    r = repair_series(OhlcvSeries("AAPL", s.dates, op, hi, lo, c, s.volume), sessions)
    assert [a.problem for a in r.unrepaired] == [Problem.SPLIT_LIKE_JUMP]
    np.testing.assert_array_equal(r.series.close, c)


# ---------------------------------------------------------------------------- splits


@given(
    n=st.integers(20, 5000),
    embargo=st.integers(0, 5),
    fr=st.tuples(st.floats(0.1, 1), st.floats(0.05, 1), st.floats(0.05, 1)),
)
def test_splits_when_any_size_then_ordered_disjoint_with_embargo(
    n: int, embargo: int, fr: tuple[float, float, float]
) -> None:
    tot = sum(fr)
    sp = chronological_splits(n, fr[0] / tot, fr[1] / tot, fr[2] / tot, embargo=embargo)
    (a0, a1), (b0, b1), (c0, c1) = sp.train, sp.validation, sp.test
    assert a0 == 0 and c1 == n
    assert b0 - a1 == embargo and c0 - b1 == embargo
    assert a0 <= a1 <= b0 <= b1 <= c0 <= c1
    labels = sp.labels(n)
    assert labels.count("embargo") == 2 * embargo
    assert labels.count("train") == a1 - a0


def test_splits_when_defaults_then_70_15_15_with_5_bar_embargo() -> None:
    sp = chronological_splits(1010)
    assert (
        sp.train == (0, 700) and sp.validation == (705, 855) and sp.test == (860, 1010)
    )


def test_splits_when_bad_fractions_or_too_short_then_value_error() -> None:
    with pytest.raises(ValueError):
        chronological_splits(100, 0.5, 0.5, 0.5)
    with pytest.raises(ValueError):
        chronological_splits(11, embargo=5)


# ------------------------------------------------------------- catalyst enrichment


def _alert(
    i: int,
    known: datetime,
    kind: str = "earnings",
    score: float = 0.5,
    sent: float = 1.0,
) -> Alert:
    return Alert(
        id=f"a{i}",
        ticker="AAPL",
        known_at=known,
        catalyst_type=kind,
        score=score,
        sentiment=sent,
    )


@pytest.fixture(scope="module")
def bounds(aapl: OhlcvSeries) -> tuple[np.ndarray, np.ndarray]:
    return session_bounds_ns(aapl.dates)


def _index_of(aapl: OhlcvSeries, day: str) -> int:
    return int(np.flatnonzero(aapl.dates == np.datetime64(day))[0])


def test_catalyst_when_earnings_known_at_next_open_then_usable_from_that_bar(
    aapl: OhlcvSeries, bounds: tuple[np.ndarray, np.ndarray]
) -> None:
    # AAPL reported 2014-04-23 after the close; the bundled alert is known 04-24 13:30 UTC.
    a = _alert(0, datetime(2014, 4, 24, 13, 30, tzinfo=UTC), score=0.7)
    f = catalyst_features([a], *bounds)
    t = _index_of(aapl, "2014-04-24")
    assert (
        f.catalyst_score[t] == 0.7 and f.is_earnings[t] == 1.0 and f.sentiment[t] == 1.0
    )
    assert f.catalyst_score[t - 1] == 0.0 and np.isnan(f.days_since_catalyst[t - 1])
    assert f.days_since_catalyst[t + 3] == 3.0
    assert f.news_velocity[t + 4] == 1.0 and f.news_velocity[t + 5] == 0.0


def test_catalyst_when_news_during_session_then_open_rule_waits_a_bar_close_rule_does_not(
    aapl: OhlcvSeries, bounds: tuple[np.ndarray, np.ndarray]
) -> None:
    a = _alert(0, datetime(2014, 4, 24, 15, 0, tzinfo=UTC))
    t = _index_of(aapl, "2014-04-24")
    assert first_usable_bar([0], *bounds).tolist() == [0]
    assert catalyst_features([a], *bounds).catalyst_score[t] == 0.0
    assert catalyst_features([a], *bounds).catalyst_score[t + 1] == 0.5
    f = catalyst_features([a], *bounds, availability=Availability.CLOSE)
    assert f.catalyst_score[t] == 0.5
    # Known after the close: never usable at that bar under either rule.
    late = _alert(1, datetime(2014, 4, 24, 20, 0, 1, tzinfo=UTC))
    for rule in Availability:
        assert (
            catalyst_features([late], *bounds, availability=rule).catalyst_score[t]
            == 0.0
        )


def test_catalyst_when_several_alerts_then_max_score_mean_sentiment_and_flags(
    aapl: OhlcvSeries, bounds: tuple[np.ndarray, np.ndarray]
) -> None:
    k = datetime(2015, 6, 1, 12, 0, tzinfo=UTC)
    alerts = [
        _alert(0, k, "merger", 0.9, 1.0),
        _alert(1, k, "fda", 0.2, -0.5),
        _alert(2, k, "other", 0.3, 0.0),
    ]
    f = catalyst_features(alerts, *bounds)
    t = _index_of(aapl, "2015-06-01")
    assert f.catalyst_score[t] == 0.9
    assert f.sentiment[t] == pytest.approx(0.5 / 3)
    assert (f.is_merger[t], f.is_fda[t], f.is_earnings[t], f.is_insider[t]) == (
        1,
        1,
        0,
        0,
    )
    assert f.news_velocity[t] == 3.0


@settings(max_examples=50, deadline=None)
@given(
    offsets=st.lists(st.integers(0, 1200 * 24 * 60), min_size=0, max_size=15),
    cut=st.integers(1, 1200),
)
def test_catalyst_when_alerts_known_after_bar_t_close_then_features_up_to_t_unchanged(
    aapl: OhlcvSeries,
    bounds: tuple[np.ndarray, np.ndarray],
    offsets: list[int],
    cut: int,
) -> None:
    start = datetime(2013, 2, 8, tzinfo=UTC)
    alerts = [_alert(i, start + timedelta(minutes=m)) for i, m in enumerate(offsets)]
    close_t = pd.Timestamp(int(bounds[1][cut]), tz="UTC").to_pydatetime()
    early = [a for a in alerts if a.known_at <= close_t]
    for rule in Availability:
        full = catalyst_features(alerts, *bounds, availability=rule).as_dict()
        part = catalyst_features(early, *bounds, availability=rule).as_dict()
        for k in full:
            np.testing.assert_array_equal(full[k][: cut + 1], part[k][: cut + 1])
