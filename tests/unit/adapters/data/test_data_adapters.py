"""OHLCV loading, the Parquet cache, the bar-source seam, the sample bundle, features."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adapters.data.alerts import AlertFileError, read_alerts
from adapters.data.cache import ParquetCache, content_hash
from adapters.data.calendar import session_bounds_ns
from adapters.data.features import (
    FEATURE_COLUMNS,
    build_features,
    feature_panel,
    repair_frame,
    sample_features,
    validate_frame,
)
from adapters.data.ohlcv import (
    CANONICAL_COLUMNS,
    DataError,
    canonicalize,
    fetch_ohlcv,
    load_ohlcv,
)
from adapters.data.sample import SAMPLE_TICKERS, sample_paths
from adapters.memory.feed import InMemoryPriceFeed
from domain.market import Bar
from domain.market_data.features import MARKET_FEATURES, WARMUP_BARS


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return load_ohlcv(sample_paths().prices)


def test_sample_when_loaded_then_real_canonical_bars_of_eight_tickers(
    prices: pd.DataFrame,
) -> None:
    assert tuple(prices.columns) == CANONICAL_COLUMNS
    assert sorted(prices["ticker"].unique()) == sorted(SAMPLE_TICKERS)
    assert str(prices["date"].dtype) == "datetime64[ns]"
    # The check from SOURCES.md: AAPL closed 74.96 -> 81.11 around its 2014-04-23 report.
    a = prices[(prices["ticker"] == "AAPL")].set_index("date")["close"]
    assert round(a["2014-04-23"], 2) == 74.96 and round(a["2014-04-24"], 2) == 81.11
    assert sample_paths().sources.read_text().count("licence") >= 1


def test_sample_alerts_when_read_then_known_at_next_session_open_utc() -> None:
    alerts = read_alerts(sample_paths().alerts)
    assert len(alerts) > 100 and all(a.catalyst_type == "earnings" for a in alerts)
    by_id = {a.id: a for a in alerts}
    assert by_id["earnings-AAPL-2014-04-23"].known_at == datetime(
        2014, 4, 24, 13, 30, tzinfo=UTC
    )
    # Winter (EST): the open is 14:30 UTC; a Friday report is known Monday.
    ko = by_id["earnings-KO-2013-02-12"]
    assert ko.known_at == datetime(2013, 2, 13, 14, 30, tzinfo=UTC)
    jpm = by_id["earnings-JPM-2013-04-12"]
    assert jpm.known_at == datetime(2013, 4, 15, 13, 30, tzinfo=UTC)
    assert all(0 <= a.score <= 1 and a.sentiment in (-1.0, 0.0, 1.0) for a in alerts)


def test_load_when_parquet_and_aliases_then_same_canonical_frame(
    prices: pd.DataFrame, tmp_path: Path
) -> None:
    raw = prices.rename(
        columns={"date": "Timestamp", "ticker": "Symbol", "volume": "Vol"}
    )
    raw.to_parquet(tmp_path / "x.parquet")
    back = load_ohlcv(tmp_path / "x.parquet")
    pd.testing.assert_frame_equal(back, prices)


def test_load_when_single_ticker_file_then_needs_ticker(
    prices: pd.DataFrame, tmp_path: Path
) -> None:
    p = tmp_path / "aapl.csv"
    prices[prices["ticker"] == "AAPL"].drop(columns="ticker").to_csv(p, index=False)
    with pytest.raises(DataError, match="--ticker"):
        load_ohlcv(p)
    assert set(load_ohlcv(p, ticker="aapl")["ticker"]) == {"AAPL"}


def test_load_when_missing_file_or_column_then_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        load_ohlcv(tmp_path / "nope.csv")
    (tmp_path / "bad.csv").write_text("date,ticker,open\n2020-01-02,AAPL,1\n")
    with pytest.raises(DataError, match="missing column"):
        load_ohlcv(tmp_path / "bad.csv")


def test_canonicalize_when_utc_timestamps_then_new_york_exchange_dates() -> None:
    df = pd.DataFrame(
        {
            "timestamp": [
                "2014-04-24T04:00:00Z",
                "2014-04-25T04:00:00Z",
            ],  # Alpaca daily bars
            "symbol": ["aapl", "aapl"],
            **{c: [1.0, 2.0] for c in ("open", "high", "low", "close", "volume")},
        }
    )
    out = canonicalize(df)
    assert out["date"].dt.strftime("%Y-%m-%d").tolist() == ["2014-04-24", "2014-04-25"]


def test_fetch_when_source_has_get_bars_then_canonical_frame(
    prices: pd.DataFrame,
) -> None:
    g = prices[prices["ticker"] == "KO"].head(30)
    bars = [
        Bar(
            "KO",
            pd.Timestamp(d)
            .tz_localize("America/New_York")
            .tz_convert("UTC")
            .to_pydatetime()
            + pd.Timedelta(hours=16),
            o,
            h,
            lo,
            c,
            v,
        )
        for d, o, h, lo, c, v in g[
            ["date", "open", "high", "low", "close", "volume"]
        ].itertuples(index=False)
    ]
    feed = InMemoryPriceFeed(bars)
    out = fetch_ohlcv(
        feed,
        ["KO"],
        datetime(2013, 1, 1, tzinfo=UTC),
        datetime(2013, 12, 31, tzinfo=UTC),
    )
    pd.testing.assert_frame_equal(out, g.reset_index(drop=True))


def test_fetch_when_rows_are_dicts_then_accepted() -> None:
    class DictSource:
        def get_bars(
            self, ticker: str, start: datetime, end: datetime, timeframe: str = "1Day"
        ) -> list[dict]:
            return [{"t": "2020-01-02", "o": 1, "h": 2, "l": 0.5, "c": 1.5, "v": 10}]

    out = fetch_ohlcv(DictSource(), ["ABC"], datetime(2020, 1, 1), datetime(2020, 1, 3))
    assert out.iloc[0].to_dict()["ticker"] == "ABC" and out.iloc[0]["close"] == 1.5


def test_cache_when_same_content_then_hit_and_changed_content_then_miss(
    prices: pd.DataFrame, tmp_path: Path
) -> None:
    src = tmp_path / "p.csv"
    prices.head(50).to_csv(src, index=False)
    cache = ParquetCache(tmp_path / "cache")
    calls = []

    def build() -> pd.DataFrame:
        calls.append(1)
        return load_ohlcv(src)

    k1 = content_hash("v1", src)
    df1, hit1 = cache.get_or_build("ohlcv", k1, build)
    df2, hit2 = cache.get_or_build("ohlcv", content_hash("v1", src), build)
    assert (hit1, hit2) == (False, True) and len(calls) == 1
    pd.testing.assert_frame_equal(df1, df2)
    prices.head(51).to_csv(src, index=False)
    assert content_hash("v1", src) != k1
    assert cache.path("ohlcv", k1).parent == tmp_path / "cache"


def test_read_alerts_when_bad_line_then_error_names_file_and_line(
    tmp_path: Path,
) -> None:
    p = tmp_path / "a.jsonl"
    good = {
        "id": "x",
        "ticker": "AAPL",
        "known_at": "2020-01-02T14:30:00Z",
        "catalyst_type": "fda",
        "score": 0.5,
        "sentiment": 0.1,
    }
    p.write_text(
        json.dumps(good) + "\n" + json.dumps({**good, "id": "y", "score": 3}) + "\n"
    )
    with pytest.raises(AlertFileError, match=r"a\.jsonl:2"):
        read_alerts(p)


def test_validate_frame_when_real_sample_then_clean(prices: pd.DataFrame) -> None:
    assert validate_frame(prices, read_alerts(sample_paths().alerts)) == []


def test_validate_and_repair_frame_when_gap_and_duplicate_then_reported(
    prices: pd.DataFrame,
) -> None:
    ko = prices[prices["ticker"] == "KO"]
    bad = pd.concat([prices.drop(index=ko.index[100]), ko.iloc[[5]]], ignore_index=True)
    bad = bad.sort_values(["ticker", "date"], kind="stable")
    issues = validate_frame(bad)
    assert {(i.ticker, i.problem.value) for i in issues} == {
        ("KO", "missing_session"),
        ("KO", "duplicate_timestamp"),
    }
    fixed, actions = repair_frame(bad)
    assert len(fixed) == len(prices) - 1 and len(actions) == 2


def test_session_bounds_when_early_close_and_dst_then_from_calendar() -> None:
    o, c = session_bounds_ns(
        np.array(["2013-11-29", "2014-01-06", "2014-07-07"], dtype="datetime64[D]")
    )
    hours = [
        (pd.Timestamp(x).hour, pd.Timestamp(y).hour) for x, y in zip(o, c, strict=True)
    ]
    assert hours == [(14, 18), (14, 21), (13, 20)]


def test_features_when_sample_built_then_finite_matrix_and_split_labels() -> None:
    f = sample_features()
    assert (
        set(FEATURE_COLUMNS) <= set(f.columns)
        and len(FEATURE_COLUMNS) == len(MARKET_FEATURES) == 30
    )
    assert np.isfinite(f[list(FEATURE_COLUMNS)].to_numpy()).all()
    assert all(str(t) == "float32" for t in f[list(FEATURE_COLUMNS)].dtypes)
    aapl = f[f["ticker"] == "AAPL"]
    assert aapl["split"].iloc[0] == "train" and aapl["split"].iloc[-1] == "test"
    # Replaced the tickets' constant close/close by open/close, which varies.
    assert aapl["f_open_close"].std() > 0
    panel = feature_panel(f, split="test")
    assert set(panel) == set(SAMPLE_TICKERS)
    assert all(
        len(p) == (f[(f.ticker == t) & (f.split == "test")].shape[0])
        for t, p in panel.items()
    )
    full = feature_panel(f)
    assert len(full["AAPL"]) == len(aapl) - WARMUP_BARS


def test_features_when_later_bars_change_then_earlier_rows_identical(
    prices: pd.DataFrame,
) -> None:
    alerts = read_alerts(sample_paths().alerts)
    base = build_features(prices, alerts, benchmark=None)
    cut = pd.Timestamp("2016-06-01")
    bumped = prices.copy()
    later = bumped["date"] > cut
    for c in ("open", "high", "low", "close"):
        bumped.loc[later, c] *= 1.37
    bumped.loc[later, "volume"] *= 0.5
    other = build_features(
        bumped, [a for a in alerts if a.known_at < datetime(2016, 6, 1, 20, tzinfo=UTC)]
    )
    cols = [c for c in base.columns if c not in ("split",)]
    early = base["date"] <= cut
    pd.testing.assert_frame_equal(base.loc[early, cols], other.loc[early, cols])


SHARED = Path(__file__).resolve().parents[5] / "shared" / "data"  # beside the checkout


@pytest.mark.skipif(
    not (SHARED / "earnings_eps_surprise.csv").exists(), reason="no shared data"
)
def test_build_sample_when_rerun_from_shared_data_then_identical_files(
    tmp_path: Path,
) -> None:
    from adapters.data.sample.build_sample import build

    build(SHARED, tmp_path)
    for name in ("prices_daily.csv", "alerts_earnings.jsonl"):
        assert (tmp_path / name).read_bytes() == (
            sample_paths().prices.parent / name
        ).read_bytes()


def test_splits_when_tickers_have_different_histories_then_cut_dates_common_to_all() -> None:
    f = sample_features()
    first = {s: f.loc[f.split == s, "date"].min() for s in ("validation", "test")}
    last = {s: f.loc[f.split == s, "date"].max() for s in ("train", "validation")}
    # no ticker trains on a day that another ticker already validates or tests on
    assert last["train"] < first["validation"] and last["validation"] < first["test"]
    for _, g in f.groupby("ticker"):
        order = {"train": 0, "embargo": 1, "validation": 2, "test": 4}
        ranks = [order[s] for s in g.sort_values("date")["split"] if s != "embargo"]
        assert ranks == sorted(ranks)
