"""Regenerate the bundled sample data set from the project's shared real data.

Run from the repository root (it is not used at runtime)::

    .venv/bin/python adapters/data/sample/build_sample.py [--shared ../shared/data]

It writes ``prices_daily.csv`` and ``alerts_earnings.jsonl`` next to this file:

* prices: the rows of ``prices_daily_sp500_5yr.csv`` for :data:`TICKERS`, unchanged.
* alerts: one ``earnings`` alert per row of ``earnings_eps_surprise.csv`` for those tickers
  whose report date lies inside the ticker's price range and whose surprise is known.
  The report date ``D`` has no time of day, so the alert is ``known_at`` the regular open of
  the first XNYS session *after* ``D`` (13:30 or 14:30 UTC depending on daylight saving time,
  from ``exchange_calendars``). ``score = min(1, |surprise_pct| / 20)`` (a 20 % surprise or
  more scores 1); ``sentiment = sign(surprise_pct)`` (beat +1, miss -1, in line 0).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import exchange_calendars as xcals
import pandas as pd

from adapters.data.calendar import get_calendar

TICKERS = ("AAPL", "MSFT", "AMZN", "JPM", "XOM", "JNJ", "GOOG", "KO")
HERE = Path(__file__).resolve().parent
DEFAULT_SHARED = HERE.parents[2].parent / "shared" / "data"
SCORE_SCALE_PCT = 20.0


def known_at_for_report_date(
    cal: xcals.ExchangeCalendar, day: pd.Timestamp
) -> pd.Timestamp:
    """Return the UTC open of the first session strictly after ``day``."""
    if cal.is_session(day):
        session = cal.next_session(day)
    else:
        session = cal.date_to_session(day, direction="next")
    return pd.Timestamp(cal.session_open(session))


def _num(x: Any) -> float | None:
    return None if pd.isna(x) else float(x)


def build(shared: Path, out: Path) -> tuple[int, int]:
    """Write the sample files; return (price rows, alerts)."""
    prices = pd.read_csv(shared / "prices_daily_sp500_5yr.csv")
    prices = prices[prices["ticker"].isin(TICKERS)].sort_values(["ticker", "date"])
    prices.to_csv(out / "prices_daily.csv", index=False, lineterminator="\n")

    eps = pd.read_csv(shared / "earnings_eps_surprise.csv")
    cal = get_calendar("XNYS", "2012-01-01")
    lines: list[str] = []
    for ticker, rows in eps[eps["ticker"].isin(TICKERS)].groupby("ticker", sort=True):
        px = prices[prices["ticker"] == ticker]
        first, last = px["date"].min(), px["date"].max()
        records: list[dict[str, Any]] = rows.sort_values("date").to_dict("records")  # type: ignore[assignment]
        for row in records:
            day = str(row["date"])
            if not (first <= day < last) or pd.isna(row["surprise_pct"]):
                continue
            surprise = float(row["surprise_pct"])
            known = known_at_for_report_date(cal, pd.Timestamp(day))
            score = min(1.0, abs(surprise) / SCORE_SCALE_PCT)
            sentiment = 0.0 if surprise == 0 else math.copysign(1.0, surprise)

            alert = {
                "id": f"earnings-{ticker}-{day}",
                "ticker": ticker,
                "known_at": known.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "catalyst_type": "earnings",
                "score": round(score, 6),
                "sentiment": sentiment,
                "headline": (
                    f"{ticker} earnings reported {day}: EPS surprise {surprise:+.2f}%"
                ),
                "source": "HistoricalEarningsData 0.3 (PyPI) via earnings_eps_surprise.csv",
                "data": {
                    "report_date": day,
                    "eps_estimate": _num(row["eps_estimate"]),
                    "reported_eps": _num(row["reported_eps"]),
                    "surprise_pct": surprise,
                },
            }
            lines.append(json.dumps(alert, sort_keys=True))
    lines.sort(key=lambda s: (json.loads(s)["known_at"], json.loads(s)["ticker"]))
    (out / "alerts_earnings.jsonl").write_text(
        "\n".join(lines) + "\n", encoding="utf-8"
    )
    return len(prices), len(lines)


def main() -> None:
    """Parse arguments and rebuild the sample."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    n_prices, n_alerts = build(args.shared, args.out)
    print(f"wrote {n_prices} price rows and {n_alerts} alerts to {args.out}")


if __name__ == "__main__":
    main()
