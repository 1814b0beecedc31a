"""When a replay's input counts as mostly bad, and what the notices say."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.reporting.trading_report import write_report
from adapters.sources.parse import AlertIssue, IssueLog
from entrypoints.cli.outcome import MAX_BAD_ALERT_SHARE, input_problem, notices_for


def _log(lines: int, accepted: int) -> IssueLog:
    log = IssueLog()
    log.lines, log.accepted = lines, accepted
    return log


@pytest.mark.parametrize(("lines", "bad", "failed"), [
    (10, 5, False), (10, 6, True), (10, 0, False), (1, 1, True), (3, 1, False),
])
def test_input_problem_when_share_of_bad_lines_then_more_than_half_fails(
        lines: int, bad: int, failed: bool) -> None:
    assert MAX_BAD_ALERT_SHARE == 0.5
    issues = [AlertIssue("a.jsonl", i + 1, "missing field(s): score") for i in range(bad)]
    problem = input_problem(_log(lines, lines - bad), issues, bad, "a.jsonl", backtest=True)
    assert (problem is not None) == failed
    if failed:
        assert problem is not None
        assert f"{bad} of {lines} alert lines in a.jsonl were bad" in problem
        assert "(first: a.jsonl:1: missing field(s): score)" in problem


def test_input_problem_when_no_alert_then_backtest_fails_and_run_waits() -> None:
    assert input_problem(_log(0, 0), [], 0, "dir", backtest=True) == \
        "no valid alert in dir: nothing to trade"
    assert input_problem(_log(0, 0), [], 0, "dir", backtest=False) is None  # a followed folder
    assert input_problem(None, [], 0, None, backtest=True) is None  # --strategy: no alerts


def _extra(**breaker: object) -> dict[str, object]:
    b = {"latched": False, "auto_resumes": 0, "trips": [], "state": "active", "rules": [],
         "since": None, "refused_signals": 0, **breaker}
    return {"breaker": b, "costs_text": "commission 10 bps; slippage 5 bps"}


def test_notices_when_breaker_latched_then_date_rules_refusals_and_how_it_resumes() -> None:
    extra = _extra(latched=True, state="halted", rules=["daily_loss"],
                   since="2010-02-11T21:00:00+00:00", refused_signals=704)
    bt = notices_for(extra, None, backtest=True)
    assert bt[0] == ("circuit breaker HALTED since 2010-02-11 (daily_loss); 704 signals refused "
                     "after it; a backtest never resumes unless run with --auto-resume")
    assert bt[-1] == "costs: commission 10 bps; slippage 5 bps"
    assert "catalyst risk resume" in notices_for(extra, None, backtest=False)[0]
    assert notices_for(_extra(), "x", backtest=True)[0] == "bad input: x"


def test_report_when_notices_and_trips_then_at_the_top_and_in_their_own_table(
        tmp_path: Path) -> None:
    trips = [{"at": "2010-02-11T21:00:00+00:00", "rule": "daily_loss", "to": "halted",
              "message": "daily_loss: loss 3.1% reached limit 3.0%; trading halted"}]
    files = write_report(tmp_path, run_id="r", snapshots=[], closed=[], metrics={},
                         extra={"breaker": {"latched": True, "trips": trips}},
                         notices=["circuit breaker HALTED since 2010-02-11", "costs: none"])
    page = files.html.read_text()
    assert page.index("circuit breaker HALTED since 2010-02-11") < page.index("Equity and")
    assert "Circuit breaker trips (1)" in page and "loss 3.1% reached limit 3.0%" in page
    assert '"notices": [' in files.metrics_json.read_text()
