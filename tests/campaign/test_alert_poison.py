"""Poison alerts: every hostile line is a counted, explained skip; nothing escapes the parser."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from adapters.sources.files import open_feed
from adapters.sources.parse import MAX_DEPTH, loads_bounded, parse_json_line

GOOD = {"id": "a1", "ticker": "AAPL", "known_at": "2024-01-02T10:00:00+00:00", "score": 0.9}


def line(**over: object) -> bytes:
    return json.dumps({**GOOD, **over}).encode()


POISON: list[tuple[str, bytes, str]] = [
    ("400-digit score", line()[:-1] + b', "score": 1' + b"0" * 400 + b"}", "number too long"),
    ("nested 1,000 deep", line()[:-1] + b', "x": ' + b"[" * 1000 + b"]" * 1000 + b"}",
     "nested too deep"),
    ("1e400", line()[:-1] + b', "score": 1e400}', "finite"),
    ("NaN", line()[:-1] + b', "score": NaN}', "NaN"),
    ("-Infinity", line()[:-1] + b', "score": -Infinity}', "Infinity"),
    ("huge string score", line(score="1" + "0" * 400), "finite"),
    ("huge int via data", line(data={"n": 10**30}), ""),
    ("year 1900", line(known_at="1900-01-01T00:00:00+00:00"), "stale"),
    ("year 0001", line(known_at="0001-01-01T00:00:00+00:00"), "stale"),
    ("year 9999", line(known_at="9999-12-31T00:00:00+00:00"), "future"),
    ("not UTF-8", b'{"id": "\xff"}', "UTF-8"),
    ("array", b"[1, 2]", "expected a JSON object"),
]


@pytest.mark.parametrize(("name", "raw", "reason"), POISON, ids=[p[0] for p in POISON])
def test_poison_line_is_a_clean_value_error(name: str, raw: bytes, reason: str) -> None:
    from datetime import UTC, datetime
    try:
        alert = parse_json_line(raw, not_after=datetime(2030, 1, 1, tzinfo=UTC))
    except ValueError as exc:
        assert reason in str(exc), (name, str(exc))
        assert len(str(exc)) < 400  # the message names the problem, it does not echo the input
        return
    assert name == "huge int via data" and alert.id == "a1"  # a big number in free data is fine


def test_bom_and_quoted_newline_in_csv_and_bom_in_jsonl(tmp_path: Path) -> None:
    csv_path = tmp_path / "a.csv"
    csv_path.write_bytes("\ufeffid,ticker,known_at,score,headline\n"
                         'c1,AAPL,2024-01-02T10:00:00+00:00,0.9,"two\nlines"\n'
                         "c2,AAPL,2024-01-03T10:00:00+00:00,0.8,plain\n".encode())
    feed = open_feed(str(csv_path))
    alerts = feed.all_alerts()  # type: ignore[attr-defined]
    assert [a.id for a in alerts] == ["c1", "c2"] and feed.issues.skipped == 0
    js = tmp_path / "a.jsonl"
    js.write_bytes(b"\xef\xbb\xbf" + line() + b"\n" + line(id="a2") + b"\n")
    feed = open_feed(str(js))
    assert [a.id for a in feed.all_alerts()] == ["a1", "a2"]  # type: ignore[attr-defined]
    assert feed.issues.skipped == 0


def test_poison_file_loads_with_every_bad_line_counted(tmp_path: Path) -> None:
    p = tmp_path / "poison.jsonl"
    p.write_bytes(b"\n".join([line(id="ok1"), *(raw for _, raw, _ in POISON), line(id="ok2")])
                  + b"\n")
    feed = open_feed(str(p))
    ids = [a.id for a in feed.all_alerts()]  # type: ignore[attr-defined]
    assert {"ok1", "ok2"} <= set(ids) and len(ids) <= 4
    # every poison line but the harmless one (and the far-future one, refused only with a
    # not_after bound) is skipped with its line number
    skipped = {i.line for i in feed.issues.issues}
    assert len(skipped) == len(POISON) - 2 and min(skipped) == 2


@given(st.binary(max_size=600))
@example(b"[" * 5000)
@example(b'{"a":' * 3000)
@example(b"1" * 5000)
def test_fuzz_bytes_never_escape_as_anything_but_value_error(raw: bytes) -> None:
    with contextlib.suppress(ValueError):
        parse_json_line(raw)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids,
                                                              max_size=4),
    max_leaves=30,
)


@given(st.dictionaries(st.sampled_from(["id", "ticker", "known_at", "score", "sentiment",
                                        "catalyst_type", "data", "headline"]), json_values))
def test_fuzz_alert_objects_parse_or_explain(d: dict[str, object]) -> None:
    raw = json.dumps({**GOOD, **d}, allow_nan=True).encode()
    try:
        parse_json_line(raw)
    except ValueError as exc:
        assert str(exc)


@given(st.integers(min_value=1, max_value=200))
def test_depth_bound_is_exact(depth: int) -> None:
    doc = "[" * depth + "]" * depth
    if depth <= MAX_DEPTH:
        assert loads_bounded(doc) is not None
    else:
        with pytest.raises(ValueError, match="nested too deep"):
            loads_bounded(doc)


def test_folder_mode_counts_poison_and_releases_a_late_line_instead_of_dropping_it(
        tmp_path: Path) -> None:
    from datetime import UTC, datetime

    folder = tmp_path / "inbox"
    folder.mkdir()
    f = folder / "a.jsonl"
    deep = line()[:-1] + b', "id": "deep", "x": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    long = line()[:-1] + b', "id": "long", "score": 1' + b"0" * 400 + b"}"
    f.write_bytes(line(id="a2", known_at="2024-01-03T10:00:00+00:00") + b"\n" + deep + b"\n"
                  + long + b"\n")
    feed = open_feed(str(folder))
    after = datetime(2024, 1, 4, tzinfo=UTC)
    assert [a.id for a in feed.poll(after)] == ["a2"]
    issues = {i.line: i.reason for i in feed.issues.issues}
    assert sorted(issues) == [2, 3]
    assert "nested too deep" in issues[2] and "number too long" in issues[3]
    with f.open("ab") as fh:  # known before the released a2, written after it: a slow upstream
        fh.write(line(id="a1", known_at="2024-01-02T10:00:00+00:00") + b"\n")
    assert [a.id for a in feed.poll(after)] == ["a1"]  # released, not silently dropped
    assert feed.issues.accepted == 2 and feed.issues.skipped == 2


def test_stdin_counts_poison_lines_and_the_run_goes_on(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    import pandas as pd

    from adapters.data.sample import sample_paths

    df = pd.read_csv(sample_paths().prices)
    df[(df.date < "2013-04-01") & (df.ticker == "AAPL")].to_csv(tmp_path / "p.csv", index=False)
    good = json.dumps({"id": "s1", "ticker": "AAPL", "known_at": "2013-02-20T14:00:00Z",
                       "score": 0.9}).encode()
    poison = [good[:-1] + b', "x": ' + b"[" * 1000 + b"]" * 1000 + b"}",
              good[:-1] + b', "score": 1' + b"0" * 400 + b"}", b"\xff\xfe not UTF-8"]
    fine = [json.dumps({"id": f"s{d}", "ticker": "AAPL", "known_at": f"2013-03-{d}T14:00:00Z",
                        "score": 0.5}).encode() for d in (11, 12, 13, 14)]  # most lines good
    env = {**os.environ, "CATALYST_KILL_FILE": str(tmp_path / "K"),
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    r = subprocess.run(
        [sys.executable, "-c", "from entrypoints.cli.app import main; main()", "run", "--broker",
         "sim", "--data", str(tmp_path / "p.csv"), "--alerts", "-", "--db",
         f"sqlite:///{tmp_path / 's.db'}", "--json", "--report", str(tmp_path / "rep")],
        input=b"\n".join([*poison, *fine]) + b"\n", cwd=tmp_path, env=env, capture_output=True,
        timeout=300, check=False)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    assert b"Traceback" not in r.stderr
    out = json.loads(r.stdout)
    assert out["status"] == "finished" and out["bad_alert_lines"] == len(poison)
