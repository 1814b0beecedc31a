"""On a feed whose latest bar is a minute bar, the agents still see each session's completed
daily bar exactly once, equal to the data's bar.

The loopback Alpaca server replays two tickers of the bundled sample the way a live feed
serves them: each session opens with a first-minute bar (the session's open price), and the
rest of the session arrives at the close; the server's daily bars are the sum of the two
(equal to the sample's bar). The engine's wall-clock driver reads the latest bar through the
real Alpaca adapter, as ``catalyst run --broker alpaca`` does: what it gets is the minute
bar. :class:`application.live.CompletedDailyBars` between the driver and the agents must
hand them the completed daily bars instead, once per session, never the session in progress.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from adapters.alpaca import AlpacaBroker, AlpacaConfig, AlpacaPriceFeed
from adapters.alpaca_server import AlpacaCompatServer
from adapters.alpaca_server.replay import (
    HistoryReplay,
    load_history,
    replay_exchange,
    session_open_before,
)
from adapters.data.sample import sample_paths
from adapters.rl.inference import session_stamp
from adapters.sources.market import load_daily_bars
from application.engine import WallClockDriver
from application.live import CompletedDailyBars
from domain.clock import Clock
from domain.market import Bar
from tests.agent_support import Recorder, first_minute_stream

KEY, SECRET = "PKDAILYBARS000000001", "dailyBarsSecret0000000000000000000001"
TICKERS = ("AAPL", "MSFT")
SESSIONS, START = 40, 25
FIRST_MINUTE_VOLUME = 100.0


class ReplayClock(Clock):
    def __init__(self, replay: HistoryReplay) -> None:
        self.replay = replay

    def now(self) -> datetime:
        return self.replay.now


@pytest.fixture
def prices(tmp_path: Path) -> Path:
    df = pd.read_csv(sample_paths().prices)
    parts = [df[df.ticker == t].sort_values("date").head(SESSIONS) for t in TICKERS]
    pd.concat(parts).to_csv(tmp_path / "bars.csv", index=False)
    return tmp_path / "bars.csv"


def test_agents_see_each_completed_daily_bar_once_on_a_minute_bar_feed(prices: Path) -> None:
    daily = load_history(prices)
    # each session: its first minute at the open, the rest of the session at the close
    stream = first_minute_stream(daily, FIRST_MINUTE_VOLUME)
    closes = sorted({b.ts for b in daily})
    server = AlpacaCompatServer(replay_exchange(Decimal(100_000), stream[0].ts),
                                api_key=KEY, secret_key=SECRET)
    replay = HistoryReplay(server, stream, start=session_open_before(closes[START]))
    server.start()
    cfg = AlpacaConfig(api_key=KEY, secret_key=SECRET, base_url=server.base_url,
                       data_url=server.base_url, use_stream=False, timeout_s=5.0,
                       rate_per_minute=1e9, burst=1_000_000, backoff_base_s=0.0)
    try:
        feed, broker = AlpacaPriceFeed(cfg), AlpacaBroker(cfg)
        rec = Recorder()
        agents = CompletedDailyBars(rec, feed, broker, TICKERS, session_stamp)
        now = replay.now  # the run's warm-up, as LiveTrading.warm_up reads it
        agents.warm_up([b for t in TICKERS
                        for b in feed.get_bars(t, now - timedelta(days=120), now, "1Day")])

        def nap(_seconds: float) -> None:
            nxt = replay.next_time
            if nxt is not None:
                replay.advance_to(nxt)

        steps = SESSIONS - START
        driver = WallClockDriver(feed, broker, ReplayClock(replay), list(TICKERS),
                                 interval=0.0, max_idle=1.0, sleep=nap, max_steps=steps)
        raw: list[dict[str, Bar]] = []
        for step in driver.steps(None):
            raw.append(dict(step.bars))
            agents.observe(step.bars)
    finally:
        server.stop()

    # what the feed's latest bar is: each session's first minute, at its open
    assert len(raw) == steps
    for i, got in enumerate(raw):
        opened = session_open_before(closes[START + i])
        assert sorted(got) == list(TICKERS)
        assert all(b.ts == opened and b.volume == FIRST_MINUTE_VOLUME for b in got.values())

    # what the agents see: the bundled data's daily bars (stamped at their session's close),
    # the history before the run, then each session once as it completes
    data = load_daily_bars(prices)
    before = [b for b in data if b.ts < closes[START - 1] + timedelta(seconds=1)]
    assert rec.warm == before
    seen = [b for s in rec.steps for b in sorted(s.values(), key=lambda b: b.ticker)]
    want = [b for b in data if closes[START - 1] <= b.ts <= closes[SESSIONS - 2]]
    assert seen == want
    assert len(rec.steps) == steps  # one session per step: the one that closed before it
    assert [{b.ts for b in s.values()} for s in rec.steps] == \
        [{c} for c in closes[START - 1:SESSIONS - 1]]
