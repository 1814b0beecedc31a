"""What a replay tells its user besides the metrics: the circuit breaker, bad input, signals
that could not trade, the limits and costs used.

``catalyst backtest`` and ``catalyst run`` put these in the summary table, ``--json``,
``metrics.json`` and the HTML report (:func:`notices_for` lists what must not be missed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from adapters.sources.parse import AlertIssue, IssueLog
from application.executor import ExecutionResult
from application.ports import UnitOfWork
from application.risk import RiskService
from domain.events import RiskState
from domain.risk.config import RiskConfig

#: a run whose alert input had more bad lines than this share of all lines exits 1
MAX_BAD_ALERT_SHARE = 0.5


def risk_overrides(cfg: RiskConfig, default: RiskConfig) -> dict[str, str]:
    """Return the limits of ``cfg`` that differ from ``default``, as text."""
    return {f.name: str(getattr(cfg, f.name)) for f in attrs.fields(RiskConfig)
            if getattr(cfg, f.name) != getattr(default, f.name)}


def limits_json(cfg: RiskConfig) -> dict[str, Any]:
    """Return every risk limit as JSON values (Decimals as text, states by name)."""
    out: dict[str, Any] = {}
    for f in attrs.fields(RiskConfig):
        v = getattr(cfg, f.name)
        out[f.name] = str(v) if isinstance(v, Decimal) else getattr(v, "value", v)
    return out


def breaker_summary(uow: UnitOfWork, risk: RiskService, results: Iterable[ExecutionResult], *,
                    auto_resume: bool, auto_resumes: int) -> dict[str, Any]:
    """Return the circuit breaker over the run: trips, the state at the end, refusals.

    ``since`` is the first trip after the last resume (the trip that latched); signals refused
    by the trading state are ``refused_signals``, every risk rejection is counted by rule.
    """
    with uow as u:
        events = u.journal.risk_events()
    st = risk.current()
    trips = [e for e in events if e.kind == "trip"]
    resumes = [e for e in events if e.kind == "resume"]
    last_resume = resumes[-1].ts_event if resumes else None
    latching = [e for e in trips if last_resume is None or e.ts_event >= last_resume]
    refused = Counter(r.reason for r in results if r.status == "rejected")
    latched = st.state is not RiskState.ACTIVE
    since = (latching[0].ts_event if latching else st.tripped_at) if latched else None
    return {
        "state": st.state.value, "latched": latched,
        "since": since.isoformat() if since else None,
        "rules": list(st.tripped_rules), "reason": st.reason, "killed": st.killed,
        "trips": [{"at": e.ts_event.isoformat(), "rule": e.rule,
                   "to": e.state.value if e.state else None, "message": e.message}
                  for e in trips],
        "refused_signals": refused.get("trading_state", 0),
        "risk_rejections": dict(sorted(refused.items())),
        "auto_resume": auto_resume, "auto_resumes": auto_resumes,
    }


def early_signals(uow: UnitOfWork, results: Iterable[ExecutionResult],
                  first_bar: Mapping[str, datetime]) -> dict[str, Any]:
    """Return, per ticker, the signals released before its first bar (no price: not traded)."""
    sids = {r.signal_id for r in results if r.status == "failed" and r.reason == "unknown_ticker"}
    if not sids:
        return {}
    per: Counter[str] = Counter()
    with uow as u:
        for row in u.journal.executions():
            if row.signal_id in sids and row.stage == "validate" and not row.success:
                per[row.ticker] += 1
                sids.discard(row.signal_id)
    return {t: {"signals": n, "first_bar": first_bar[t].date().isoformat()
                if t in first_bar else None} for t, n in sorted(per.items())}


def input_problem(counts: IssueLog | None, issues: Sequence[AlertIssue], bad: int,
                  spec: str | None, *, backtest: bool) -> str | None:
    """Return why the alert input makes the run's numbers meaningless, or None.

    Mostly bad: more than :data:`MAX_BAD_ALERT_SHARE` of the alert lines were skipped; for a
    backtest also an input without a single valid alert.
    """
    if counts is None:
        return None
    lines = counts.lines
    first = f" (first: {issues[0]})" if issues else ""
    if lines and bad > MAX_BAD_ALERT_SHARE * lines:
        return (f"{bad} of {lines} alert lines in {spec} were bad and skipped{first}: the "
                "results describe almost none of the input")
    if counts.accepted == 0 and backtest:
        return f"no valid alert in {spec}{first}: nothing to trade"
    return None


def notices_for(extra: Mapping[str, Any], problem: str | None, *, backtest: bool) -> list[str]:
    """Return what the reader must not miss, the costs used last."""
    out = []
    if problem:
        out.append(f"bad input: {problem}")
    b = extra["breaker"]
    if b["latched"]:
        since = (b["since"] or "")[:10]
        after = ("a backtest never resumes unless run with --auto-resume" if backtest else
                 "trading resumes only after `catalyst risk resume --approve --by NAME`")
        out.append(f"circuit breaker {b['state'].upper()} since {since} "
                   f"({', '.join(b['rules'])}); {b['refused_signals']} signals refused after "
                   f"it; {after}")
    if b["auto_resumes"]:
        out.append(f"--auto-resume: {b['auto_resumes']} simulated operator resume(s) after "
                   f"breaker trips ({len(b['trips'])} trips); live trading would have stayed "
                   "halted until a person resumed")
    for t, v in extra.get("signals_before_first_bar", {}).items():
        out.append(f"{v['signals']} signal(s) for {t} came before its first bar "
                   f"({v['first_bar']}) and were not traded")
    if extra.get("kill_file_ignored"):
        out.append(f"the kill file {extra['kill_file_ignored']} was ignored (a backtest does "
                   "not read it)")
    out.append(f"costs: {extra['costs_text']}")
    return out
