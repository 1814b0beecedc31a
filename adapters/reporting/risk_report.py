"""The risk report: one self-contained HTML page (no scripts, no external files).

Shows the trading state, every limit with its value, limit, headroom and usage, the breaker
history (trips, warnings, kills, resumes) and the risk-event log (decisions included).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from application.risk import RiskStatus
from domain.events import RiskEvent, RiskState
from domain.risk import LimitStatus

_BREAKER_KINDS = ("trip", "warning", "kill", "kill_executed", "resume")
_STATE_COLOUR = {RiskState.ACTIVE: "#1e8e3e", RiskState.REDUCING: "#e37400",
                 RiskState.HALTED: "#d93025"}
_STATUS_COLOUR = {"ok": "#1e8e3e", "warning": "#e37400", "breached": "#d93025"}

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#202124}
h1{margin-bottom:.2rem} .sub{color:#5f6368;margin-top:0}
table{border-collapse:collapse;margin:1rem 0;width:100%;font-size:.9rem}
th,td{border-bottom:1px solid #dadce0;padding:.35rem .6rem;text-align:left;vertical-align:top}
th{background:#f1f3f4} td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:.15rem .6rem;border-radius:1rem;color:#fff;font-weight:600}
.bar{background:#e8eaed;width:10rem;height:.7rem;border-radius:.35rem;overflow:hidden}
.bar span{display:block;height:100%}
"""


def _e(x: object) -> str:
    return html.escape("" if x is None else str(x))


def _usage_bar(lim: LimitStatus) -> str:
    pct = max(Decimal(0), min(Decimal(1), lim.usage)) * 100
    colour = _STATUS_COLOUR[lim.status]
    return f'<div class="bar"><span style="width:{pct:.0f}%;background:{colour}"></span></div>'


def _limits_table(limits: Sequence[LimitStatus]) -> str:
    rows = "".join(
        f"<tr><td>{_e(lim.name)}</td><td class='num'>{_e(lim.text('value'))}</td>"
        f"<td class='num'>{_e(lim.text('limit'))}</td>"
        f"<td class='num'>{_e(lim.text('headroom'))}</td>"
        f"<td class='num'>{lim.usage * 100:.1f}%</td><td>{_usage_bar(lim)}</td>"
        f"<td style='color:{_STATUS_COLOUR[lim.status]};font-weight:600'>{_e(lim.status)}</td></tr>"
        for lim in limits
    )
    return ("<table><tr><th>limit</th><th>value</th><th>limit</th><th>headroom</th>"
            f"<th>usage</th><th></th><th>state</th></tr>{rows}</table>")


def _events_table(events: Sequence[RiskEvent], empty: str) -> str:
    if not events:
        return f"<p class='sub'>{_e(empty)}</p>"
    rows = "".join(
        f"<tr><td>{_e(ev.ts_event.isoformat(timespec='seconds'))}</td><td>{_e(ev.kind)}</td>"
        f"<td>{_e(ev.rule)}</td><td>{_e(ev.state.value if ev.state else '')}</td>"
        f"<td>{_e(ev.actor or '')}</td><td>{_e(ev.message)}</td></tr>"
        for ev in events
    )
    return ("<table><tr><th>time</th><th>kind</th><th>rule</th><th>state after</th>"
            f"<th>by</th><th>message</th></tr>{rows}</table>")


def render_risk_report(status: RiskStatus, events: Sequence[RiskEvent], *,
                       generated_at: datetime, max_events: int = 500) -> str:
    """Return the risk report as an HTML document.

    Parameters
    ----------
    status
        The current state and limits (``RiskService.status``).
    events
        The risk-event log, oldest first; the breaker history is taken from it.
    generated_at
        The time printed in the header.
    max_events
        The log shows at most this many of the latest events (the breaker history is complete).
    """
    st = status.state
    colour = _STATE_COLOUR[st.state]
    history = [e for e in events if e.kind in _BREAKER_KINDS]
    log_events = list(events)[-max_events:][::-1]
    decisions = [e for e in events if e.kind == "decision"]
    rejected = sum(1 for e in decisions if e.data.get("verdict") == "rejected")
    warned = sum(1 for e in decisions if e.data.get("verdict") == "warning")
    facts = [
        ("trading state", f"<span class='badge' style='background:{colour}'>"
                          f"{_e(st.state.value.upper())}</span>"),
        ("tripped by", _e(", ".join(st.tripped_rules) or "-")),
        ("reason", _e(st.reason or "-")),
        ("kill flag file", "SET" if status.kill_flag_set else "not set"),
        ("kill pending (cancel/flatten)", "yes" if st.kill_pending else "no"),
        ("equity (last mark)", _e(f"${st.last_equity:,.2f}" if st.last_equity is not None
                                  else "-")),
        ("day-start equity", _e(f"${st.day_start_equity:,.2f}" if st.day_start_equity
                                is not None else "-")),
        ("peak equity", _e(f"${st.peak_equity:,.2f}" if st.peak_equity is not None else "-")),
        ("session", _e(st.session or "-")),
        ("last resume", _e(f"{st.resumed_by} at {st.resumed_at:%Y-%m-%d %H:%M} UTC: "
                           f"{st.resume_reason or ''}" if st.resumed_by and st.resumed_at
                           else "-")),
        ("pre-trade decisions", f"{len(decisions)} ({rejected} rejected, {warned} warnings)"),
    ]
    facts_html = "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in facts)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Catalyst Trader - risk report</title>
<style>{_CSS}</style></head><body>
<h1>Risk report</h1>
<p class="sub">generated {_e(generated_at.isoformat(timespec='seconds'))}</p>
<h2>State</h2><table>{facts_html}</table>
<h2>Limits</h2>{_limits_table(status.limits)}
<h2>Breaker history</h2>
{_events_table(history, "No trips, warnings, kills or resumes recorded.")}
<h2>Risk-event log (latest {len(log_events)} of {len(events)}, newest first)</h2>
{_events_table(log_events, "No risk events recorded.")}
</body></html>
"""


def write_risk_report(path: str | Path, status: RiskStatus, events: Sequence[RiskEvent], *,
                      generated_at: datetime) -> Path:
    """Write the report to ``path`` (a file, or a folder that gets ``risk_report.html``)."""
    p = Path(path)
    if p.suffix.lower() not in (".html", ".htm"):
        p = p / "risk_report.html"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(render_risk_report(status, events, generated_at=generated_at), encoding="utf-8")
    return p
