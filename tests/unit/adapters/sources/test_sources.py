"""Alert feeds: every malformed line reported with its line number and reason, then skipped."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

from adapters.sources.files import AlertFileFeed, FolderFeed, StdinFeed, open_feed
from adapters.sources.parse import MAX_LINE_BYTES

NOW = datetime(2030, 1, 1, tzinfo=UTC)
FAR = datetime(2100, 1, 1, tzinfo=UTC)


def good(i: int, ticker: str = "AAPL", day: int = 1) -> str:
    return json.dumps({"id": f"a{i}", "ticker": ticker, "known_at": f"2024-01-{day:02d}T14:30:00Z",
                       "catalyst_type": "earnings", "score": 0.9, "sentiment": 1.0})


def bad_file(tmp_path: Path) -> Path:
    lines = [
        good(1),
        '{"id": "a2", "ticker": "AAPL", "known_at": "2024-01-02T14:30:00Z"}',  # no score
        '{"id": "a3", "ticker": "AAPL", ',  # bad JSON
        good(4, ticker="ZZZZ"),  # unknown ticker
        '{"id": "a5", "ticker": "AAPL", "known_at": "2024-01-02T14:30:00Z", "score": NaN}',
        json.dumps({"id": "a6", "ticker": "AAPL", "known_at": "2099-01-01T00:00:00Z",
                    "score": 0.9}),  # future
        '{"id": "a7", "pad": "' + "x" * (10 * 1024 * 1024) + '"}',  # 10 MB line
        good(8, day=3),
    ]
    p = tmp_path / "alerts.jsonl"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def test_file_feed_when_malformed_lines_then_each_reported_with_line_and_reason(
        tmp_path: Path) -> None:
    feed = AlertFileFeed(bad_file(tmp_path), known_tickers={"AAPL"}, not_after=NOW)
    got = feed.poll(FAR)
    assert [a.id for a in got] == ["a1", "a8"]
    issues = {i.line: i.reason for i in feed.issues.issues}
    assert sorted(issues) == [2, 3, 4, 5, 6, 7]
    assert "missing field(s): score" in issues[2]
    assert "bad JSON" in issues[3]
    assert "unknown ticker 'ZZZZ'" in issues[4]
    assert "finite" in issues[5]
    assert "future timestamp" in issues[6]
    assert f"line too long (> {MAX_LINE_BYTES} bytes)" in issues[7]
    assert feed.issues.skipped == 6 and feed.issues.accepted == 2 and feed.issues.lines == 8


def test_file_feed_when_polled_then_released_by_known_at_once(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl"
    p.write_text(good(2, day=2) + "\n" + good(1, day=1) + "\n", encoding="utf-8")
    feed = AlertFileFeed(p)
    assert [a.id for a in feed.poll(datetime(2024, 1, 1, 15, tzinfo=UTC))] == ["a1"]
    assert feed.poll(datetime(2024, 1, 1, 16, tzinfo=UTC)) == []
    state = feed.dump_state()
    again = AlertFileFeed(p)
    again.load_state(state)
    assert [a.id for a in again.poll(FAR)] == ["a2"]


def test_csv_feed_when_rows_then_alerts_and_bad_rows_reported(tmp_path: Path) -> None:
    p = tmp_path / "a.csv"
    p.write_text("id,ticker,known_at,catalyst_type,score,sentiment\n"
                 "c1,AAPL,2024-01-01T14:30:00Z,earnings,0.9,1\n"
                 "c2,AAPL,2024-01-01T14:30:00Z,earnings,nan,1\n"
                 "c3,AAPL\n", encoding="utf-8")
    feed = AlertFileFeed(p)
    assert [a.id for a in feed.poll(FAR)] == ["c1"]
    assert [i.line for i in feed.issues.issues] == [3, 4]


def test_folder_feed_when_file_grows_then_only_new_lines_read_and_offset_survives(
        tmp_path: Path) -> None:
    f = tmp_path / "x.jsonl"
    f.write_text(good(1) + "\n" + good(2)[:10], encoding="utf-8")  # second line incomplete
    feed = FolderFeed(tmp_path)
    assert [a.id for a in feed.poll(FAR)] == ["a1"]
    with f.open("a", encoding="utf-8") as fh:
        fh.write(good(2)[10:] + "\n")
    assert [a.id for a in feed.poll(FAR)] == ["a2"]
    state = feed.dump_state()
    with f.open("a", encoding="utf-8") as fh:
        fh.write(good(3) + "\n")
    (tmp_path / "y.jsonl").write_text(good(4) + "\n", encoding="utf-8")
    resumed = FolderFeed(tmp_path)
    resumed.load_state(state)
    assert sorted(a.id for a in resumed.poll(FAR)) == ["a3", "a4"]


def test_stdin_feed_when_stream_ends_then_all_lines_parsed() -> None:
    stream = io.BytesIO((good(1) + "\nnot json\n").encode())
    feed = StdinFeed(stream)
    feed.wait_closed()
    assert [a.id for a in feed.poll(FAR)] == ["a1"]
    assert feed.issues.issues[0].line == 2


def test_open_feed_when_missing_path_then_file_not_found(tmp_path: Path) -> None:
    try:
        open_feed(tmp_path / "nope.jsonl")
    except FileNotFoundError as exc:
        assert "nope.jsonl" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected FileNotFoundError")
