"""The Streamlit dashboard (``catalyst dashboard`` runs this script with ``streamlit run``).

Four pages, chosen in the sidebar or with ``?page=``: Portfolio, Risk, Agents, Runs; the run
with ``?run=`` (else ``--run``, else the latest). Every number comes from the read models of
:mod:`application.views` (no SQL here); the live parts refresh every
``CATALYST_DASHBOARD_REFRESH_S`` seconds while a run trades. Kill, resume, promote and
rollback need the configured admin token, a typed confirmation and the operator's name;
without a token they are disabled.

Why one module: it is the one Streamlit script; its pages share the session state, the run
selection and the admin forms, and Streamlit runs it as one file.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pandas as pd
import streamlit as st

from adapters.reporting import charts
from application import views
from entrypoints.dashboard.container import DashboardConfig, DashboardContainer, check_admin

PAGES = ("Portfolio", "Risk", "Agents", "Runs")


@st.cache_resource
def _container() -> DashboardContainer:
    c = DashboardContainer()
    c.check_dependencies()
    return c


@st.cache_data(show_spinner=False)
def _closes(path: str) -> dict[str, list[Any]]:
    from adapters.reporting.prices import load_closes

    return load_closes(path)


def _config() -> DashboardConfig:
    cfg: DashboardConfig = _container().config()
    return cfg


def _uow(run: str) -> Any:
    return _container().gateways.uow_factory()().for_run(run)


def _base_uow() -> Any:
    return _container().gateways.uow_factory()()


def _money(v: Any) -> str:
    return "" if v is None else f"{float(v):,.2f}"


def _pct(v: Any) -> str:
    return "" if v is None else f"{float(v):+.2%}"


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def _run_file(run: str, param: str, given: Any) -> str | None:
    """A file of the run: the flag's, else the one the run's parameters name (``data``,
    ``signals``) when it is still where the run read it."""
    if given is not None:
        return str(given)
    from pathlib import Path

    for r in views.runs(_base_uow()):
        if r.run == run:
            name = str(r.params.get(param, "")).split("#", 1)[0]
            if name and Path(name).is_file():
                return name
    return None


def _price_file(run: str) -> str | None:
    """The price file of the benchmark and the price charts."""
    return _run_file(run, "data", _config().data)


@st.cache_data(show_spinner=False)
def _headlines(path: str) -> dict[str, str]:
    from adapters.data.alerts import read_alerts

    try:
        return {a.id: a.headline for a in read_alerts(path)}
    except (OSError, ValueError):
        return {}


# --- Portfolio --------------------------------------------------------------------------------
def portfolio(run: str) -> None:
    st.header(f"Portfolio - run {run}")
    uow = _uow(run)
    acct = views.account(uow, run)
    curve = views.equity_curve(uow)
    equity = charts.daily_equity([p.ts for p in curve], [p.equity for p in curve])
    alerts_path = _run_file(run, "signals", _config().alerts)
    trades = views.trade_log(uow, _headlines(alerts_path) if alerts_path else None)
    price_path = _price_file(run)
    closes = _closes(price_path) if price_path else {}
    traded = {t.ticker for t in trades} | {p.ticker for p in views.positions(uow)}
    bench = None
    if closes and not equity.empty:  # the universe: every ticker of the run's price data
        from adapters.reporting.prices import benchmark_series

        bench = benchmark_series(closes, equity)
    cols = st.columns(5)
    cols[0].metric("Equity", _money(acct.equity) if acct else "no snapshot yet")
    cols[1].metric("Cumulative P&L", _money(acct.cumulative_pnl) if acct else "")
    ret = (equity.iloc[-1] / equity.iloc[0] - 1) if len(equity) > 1 else None
    cols[2].metric("Return", _pct(ret))
    bret = (bench.iloc[-1] / bench.iloc[0] - 1) if bench is not None and len(bench) > 1 else None
    cols[3].metric("Benchmark return", _pct(bret) if bret is not None else "no price data")
    cols[4].metric("Run status", (acct.run_status or "") if acct else "")
    others = {}
    if "SPY" in closes and bench is not None:  # the market too, when the data has it
        from adapters.reporting.prices import benchmark_series

        others["SPY buy-and-hold"] = benchmark_series({"SPY": closes["SPY"]}, equity)
    if not equity.empty:
        st.plotly_chart(charts.equity_figure(equity, bench, others=others), width="stretch")
    if bench is None:
        st.caption("Benchmark: give the price file with `catalyst dashboard --data FILE`.")
    else:
        st.caption(f"Benchmark: equal-weight buy-and-hold of {', '.join(sorted(closes))}.")

    st.subheader("Open positions")
    pos = views.positions(uow)
    st.dataframe(_frame([{
        "ticker": p.ticker, "side": p.side, "quantity": float(p.quantity),
        "entry": float(p.avg_entry_price), "mark": _money(p.last_price),
        "stop": _money(p.stop_loss), "target": _money(p.take_profit),
        "trailing": _money(p.trailing_stop), "unrealized P&L": float(p.unrealized_pnl),
        "MFE": float(p.mfe), "MAE": float(p.mae),
        "opened": p.opened_at} for p in pos]), width="stretch", hide_index=True)
    if not pos:
        st.caption("No open position.")

    st.subheader("Orders")
    st.dataframe(_frame([{
        "created": o.created_at, "ticker": o.ticker, "side": o.side,
        "quantity": float(o.quantity), "status": o.status, "filled": float(o.filled_qty),
        "avg fill": _money(o.avg_fill_price), "signal": o.signal_id,
        "order id": o.client_order_id} for o in reversed(views.orders(uow))]),
        width="stretch", hide_index=True)

    st.subheader(f"Trade log ({len(trades)})")
    st.dataframe(_frame([{  # the alert behind each trade beside its result
        "ticker": t.ticker, "side": t.side, "opened": t.opened_at.date(),
        "closed": t.closed_at.date(), "P&L": round(float(t.realized_pnl), 2),
        "P&L %": f"{float(t.realized_pnl_pct):+.2%}", "catalyst score": t.catalyst_score,
        "headline": t.headline, "entry": float(t.entry_price), "exit": float(t.exit_price),
        "MFE": round(float(t.mfe), 2), "MAE": round(float(t.mae), 2),
        "exit reason": t.exit_reason, "alert": t.alert_id, "confidence": t.confidence,
        "source": t.source} for t in trades]),
        width="stretch", hide_index=True)

    st.subheader("Per-ticker results")
    st.dataframe(_frame([{
        "ticker": r.ticker, "trades": r.trades, "win rate": f"{r.win_rate:.0%}",
        "P&L": round(float(r.realized_pnl), 2), "best": round(float(r.best), 2),
        "worst": round(float(r.worst), 2)} for r in views.ticker_results(uow)]),
        width="stretch", hide_index=True)

    if closes:
        st.subheader("Price chart")
        options = sorted(traded & set(closes)) or sorted(closes)
        ticker = st.selectbox("Ticker", options, key="price_ticker")
        series = pd.Series({d: c for d, c in closes[ticker]}, dtype=float)
        marks = [t for t in trades if t.ticker == ticker] + [
            _OpenMark(p) for p in pos if p.ticker == ticker]
        st.plotly_chart(charts.price_figure(ticker, series, marks), width="stretch")


class _OpenMark:
    """An open position as the price chart draws it (no exit yet)."""

    def __init__(self, p: views.PositionView) -> None:
        self.opened_at = pd.Timestamp(p.opened_at).tz_convert(None).normalize() \
            if pd.Timestamp(p.opened_at).tzinfo else p.opened_at
        self.closed_at = None
        self.entry_price, self.exit_price = p.avg_entry_price, None
        self.stop_loss, self.take_profit = p.stop_loss, p.take_profit


# --- Risk -------------------------------------------------------------------------------------
def risk(run: str) -> None:
    st.header(f"Risk - run {run}")
    c = _container()
    uow = _uow(run)
    svc = c.services.risk_service(uow=uow, broker=None)
    status = views.risk_status(svc, uow)
    s = status.state
    colour = {"active": "green", "reducing": "orange", "halted": "red"}.get(s.state.value, "gray")
    st.markdown(f"### State: :{colour}[{s.state.value.upper()}]")
    if s.reason or s.tripped_rules:
        st.write(f"Why: {s.reason or ''} (rules: {', '.join(s.tripped_rules) or 'none'})"
                 + (f", since {s.tripped_at:%Y-%m-%d %H:%M}" if s.tripped_at else ""))
    else:
        st.write("Why: no rule has tripped.")
    if s.killed:
        st.error(f"Kill switch latched{' (flatten pending)' if s.kill_pending else ''}.")
    if s.resumed_by:
        st.caption(f"Last resumed by {s.resumed_by}: {s.resume_reason or ''}")
    st.subheader("Limits: usage and headroom")
    st.dataframe(_frame([{
        "limit": lim.name, "value": lim.text("value"), "max": lim.text("limit"),
        "headroom": lim.text("headroom"), "usage": f"{lim.usage:.0%}", "state": lim.status}
        for lim in status.limits]), width="stretch", hide_index=True)
    st.caption("Measured on the engine's last mark (equity and stored open positions).")
    _clusters(run, svc, status)
    st.subheader("Risk event log")
    events = views.risk_events(uow)
    st.dataframe(_frame([{
        "at": e.ts_event, "kind": e.kind, "rule": e.rule,
        "state": e.state.value if e.state else "", "value": e.value, "limit": e.limit,
        "by": e.actor, "message": e.message} for e in reversed(events)]),
        width="stretch", hide_index=True)
    if not events:
        st.caption("No risk event recorded.")
    _kill_controls(run, svc)


def _clusters(run: str, svc: Any, status: Any) -> None:
    st.subheader("Correlation clusters")
    path = _price_file(run)
    curve = views.equity_curve(_uow(run))
    if path is None or not curve:
        st.caption("Shown with the run's price data (`catalyst dashboard --data FILE`).")
        return
    cfg = svc.config
    last = pd.Timestamp(curve[-1].ts)
    as_of = (last.tz_convert(None) if last.tzinfo else last).normalize().to_pydatetime()
    groups = views.correlation_groups(_closes(path), as_of, cfg.correlation_threshold,
                                      cfg.correlation_lookback, cfg.correlation_min_obs)
    held = {p.ticker for p in views.positions(_uow(run))}
    st.dataframe(_frame([{"cluster": ", ".join(sorted(g)), "tickers": len(g),
                          "held": ", ".join(sorted(g & held))} for g in groups]),
                 width="stretch", hide_index=True)
    st.caption(f"Daily returns over the last {cfg.correlation_lookback} days to "
               f"{as_of:%Y-%m-%d}, linked above {cfg.correlation_threshold:g}; a cluster's "
               f"exposure is capped at {float(cfg.max_cluster_pct):.0%} of equity.")


def _kill_controls(run: str, svc: Any) -> None:
    cfg = _config()
    st.subheader("Kill switch")
    if cfg.admin_token is None:
        st.info("Kill and resume are disabled: no admin token is configured "
                "(set CATALYST_DASHBOARD_ADMIN_TOKEN).")
    disabled = cfg.admin_token is None
    with st.form("kill_form"):
        st.write(f"Halt run **{run}**: new entries stop; the engine cancels working orders at "
                 "its next step.")
        fields = _admin_inputs("kill", "KILL", disabled)
        flatten = st.checkbox("Also flatten every position", key="kill_flatten",
                              disabled=disabled)
        _admin_submit(cfg, "Kill", "KILL", "Killed", fields, disabled,
                      lambda who, reason: svc.kill(who, reason, flatten=flatten).state)
    with st.form("resume_form"):
        st.write(f"Resume run **{run}** after a kill or a tripped breaker.")
        fields = _admin_inputs("resume", "RESUME", disabled)
        _admin_submit(cfg, "Resume", "RESUME", "Resumed", fields, disabled,
                      lambda who, reason: svc.resume(who, reason, approve=True).state)


def _admin_inputs(prefix: str, word: str, disabled: bool) -> tuple[str, str, str, str]:
    """An admin form's fields: the token, the operator, the reason and the typed word."""
    token = st.text_input("Admin token", type="password", key=f"{prefix}_token",
                          disabled=disabled)
    operator = st.text_input("Operator", key=f"{prefix}_operator", disabled=disabled)
    reason = st.text_input("Reason", key=f"{prefix}_reason", disabled=disabled)
    confirm = st.text_input(f"Type {word} to confirm", key=f"{prefix}_confirm",
                            disabled=disabled)
    return token, operator, reason, confirm


def _admin_submit(cfg: Any, label: str, word: str, done: str,
                  fields: tuple[str, str, str, str], disabled: bool,
                  act: Callable[[str, str], Any]) -> None:
    """The form's button: check the token, operator and typed word, then ``act(who, reason)``
    (which returns the risk state after it)."""
    if not st.form_submit_button(label, disabled=disabled, key=f"{word.lower()}_submit"):
        return
    token, operator, reason, confirm = fields
    why = check_admin(cfg, token, confirm, word, operator)
    if why:
        st.error(f"{label} {why}")
        return
    state = act(f"dashboard:{operator.strip()}", reason)
    st.success(f"{done} by {operator.strip()}: state {state.value.upper()}")


# --- Agents -----------------------------------------------------------------------------------
def agents(run: str | None) -> None:
    st.header("Agents")
    c = _container()
    registry = c.registry()
    versions = views.model_versions(registry)
    if run is not None:
        cfg = _config()
        st.fragment(run_every=timedelta(seconds=cfg.refresh_s))(_agent_monitoring)(run)
    st.subheader("Registry")
    if not versions:
        st.info("No model registered yet (`catalyst rl train` registers one).")
    else:
        prod = [v for v in versions if v.status == "production"]
        st.write("Production: " + (", ".join(v.ref for v in prod) or "none"))
        st.dataframe(_frame([{
            "model": v.ref, "algo": v.algo, "status": v.status,
            "val Sharpe": _round(v.val_sharpe), "val return": _pct(v.val_return),
            "B&H return": _pct(v.buy_and_hold_return),
            "beats B&H": _yes_no(v.beats_buy_and_hold), "beats random": _yes_no(v.beats_random),
            "warnings": "; ".join(v.warnings), "created": v.created_at,
            "promoted": v.promoted_at, "seed": v.seed, "data": v.data_hash[:12],
            **{k: (round(x, 4) if isinstance(x, float) else x) for k, x in v.scalars.items()}}
            for v in versions]), width="stretch", hide_index=True)
    _walk_forwards(c)
    if versions:
        _promote_controls(registry, versions)


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 4)


def _yes_no(v: bool | None) -> str:
    return "" if v is None else ("yes" if v else "no")


def _agent_monitoring(run: str) -> None:
    """The deployed agents of ``run``: refreshed live while it trades."""
    from entrypoints.dashboard.container import agent_status

    st.subheader(f"Live monitoring - run {run}")
    try:
        mon = views.agent_monitor(_uow(run), run, agent_status(_container().core.settings(), run))
    except ValueError as exc:
        st.error(str(exc))
        return
    if not mon.has_status and not mon.versions:
        st.info(f"No agent deployed in run {run} (`catalyst backtest --agent NAME` or "
                "`catalyst run --agent NAME` deploys one).")
        return
    if mon.agents:
        st.dataframe(_frame([{
            "agent": a.name, "running": a.running, "pinned": "yes" if a.pinned else "no",
            "tickers": ", ".join(a.tickers)} for a in mon.agents]),
            width="stretch", hide_index=True)
    if mon.steps is not None:
        st.caption(f"{mon.steps} bars seen; the status is rewritten as the agents act.")
    for v in mon.drift_warnings:
        st.warning(f"Drift warning: {v.ref}: {v.drift_feature} drifted "
                   f"{v.drift_score:.2f} from the training data (threshold "
                   f"{v.drift_threshold:g}).")
    st.dataframe(_frame([{
        "version": v.ref, "signals": v.signals,
        "actions": ", ".join(f"{k}={n}" for k, n in sorted(v.actions.items())),
        "orders": v.activity.orders,
        "refused by risk": ", ".join(f"{k}={n}" for k, n in sorted(v.activity.refused.items()))
        or "0",
        "closed trades": v.activity.closed,
        "realized P&L": round(float(v.activity.realized_pnl), 2),
        "open": v.activity.open, "unrealized P&L": round(float(v.activity.unrealized_pnl), 2),
        "drift": ("unavailable" if v.drift_unavailable else "") if v.drift_score is None else
        f"{v.drift_score:.2f} ({v.drift_feature})" + (" WARN" if v.drift_warned else ""),
        "latency p50 ms": _round(v.latency_p50_ms), "latency p99 ms": _round(v.latency_p99_ms),
        "latency max ms": _round(v.latency_max_ms),
        "first bar": v.first_ts, "last bar": v.last_ts} for v in mon.versions]),
        width="stretch", hide_index=True, key="agent_versions")
    for v in mon.versions:
        if v.drift_score is None and v.drift_unavailable:
            st.caption(f"No drift monitoring for {v.ref}: {v.drift_unavailable}")
    shares = {v.ref: dict(v.action_share) for v in mon.versions if v.action_share}
    if shares:
        st.markdown("**Action distribution**")
        st.plotly_chart(charts.actions_figure(shares), width="stretch", key="agent_actions")
    refused = [(v.ref, rule, n) for v in mon.versions
               for rule, n in sorted(v.activity.refused.items())]
    if refused:
        st.markdown("**Signals refused by risk, by rule**")
        st.dataframe(_frame([{"version": ref, "rule": rule, "refused": n}
                             for ref, rule, n in refused]), width="stretch", hide_index=True)
    if mon.swaps:
        st.markdown("**Swaps**")
        st.dataframe(_frame([{"agent": w.agent, "from": w.from_ref, "to": w.to_ref,
                              "at": w.ts, "pause ms": _round(w.pause_ms)} for w in mon.swaps]),
                     width="stretch", hide_index=True)


def _walk_forwards(c: DashboardContainer) -> None:
    st.subheader("Walk-forward validation")
    wfs = views.walk_forward_runs(c.walk_forward(), kind="rl")
    if not wfs:
        st.caption("No agent walk-forward stored (`catalyst rl walk-forward` stores one).")
        return
    st.dataframe(_frame([{
        "run": w.run_key[:12], "algo": w.algo, "windows": w.windows,
        "OOS return": _pct(w.oos_total_return), "OOS Sharpe": _round(w.oos_sharpe),
        "OOS max DD": _pct(w.oos_max_drawdown), "B&H return": _pct(w.bh_total_return),
        "beats B&H": _pct(w.share_beating_buy_and_hold),
        "beats random": _pct(w.share_beating_random), "deflated Sharpe": _round(w.deflated_sharpe),
        "PBO": _round(w.pbo), "stored": w.created_at} for w in wfs]),
        width="stretch", hide_index=True)


def _promote_controls(registry: Any, versions: list[views.ModelVersionView]) -> None:
    cfg = _config()
    st.subheader("Promote or roll back")
    disabled = cfg.admin_token is None
    if disabled:
        st.info("Promote and rollback are disabled: no admin token is configured.")
    with st.form("promote_form"):
        ref = st.selectbox("Version", [v.ref for v in versions], key="promote_ref",
                           disabled=disabled)
        action = st.radio("Action", ["promote", "rollback"], key="promote_action",
                          disabled=disabled, horizontal=True)
        token = st.text_input("Admin token", type="password", key="promote_token",
                              disabled=disabled)
        operator = st.text_input("Operator", key="promote_operator", disabled=disabled)
        confirm = st.text_input("Type the version (name@version) to confirm",
                                key="promote_confirm", disabled=disabled)
        if st.form_submit_button("Apply", disabled=disabled, key="promote_submit"):
            why = check_admin(cfg, token, confirm, str(ref), operator)
            if why:
                st.error(f"{action.title()} {why}")
            else:
                from domain.rl.models import RegistryError

                name, version = str(ref).rsplit("@", 1)
                try:
                    mv = (registry.promote(name, int(version)) if action == "promote"
                          else registry.rollback(name))
                except RegistryError as exc:
                    st.error(f"{action.title()} failed: {exc}")
                    return
                st.success(f"{action.title()} done by {operator.strip()}: {mv.ref} is "
                           "production")


# --- Runs -------------------------------------------------------------------------------------
def runs_page() -> None:
    st.header("Runs")
    cfg = _config()
    rows = []
    for r in views.runs(_base_uow()):
        report = cfg.reports_dir / r.run / "report.html"
        rows.append({"run": r.run, "kind": r.kind, "status": r.status,
                     "started": r.started_at, "finished": r.finished_at, "orders": r.orders,
                     "trades": r.trades, "open": r.open_positions,
                     "equity": _money(r.equity), "latest": r.latest,
                     "report": str(report) if report.is_file() else ""})
    if not rows:
        st.info("No run in this database yet.")
        return
    st.dataframe(_frame(rows), width="stretch", hide_index=True)
    index = cfg.reports_dir / "index.html"
    if index.is_file():
        st.caption(f"Reports index: {index}")
    reported = [r["run"] for r in rows if r["report"]]
    if reported:
        pick = st.selectbox("Report of run", reported, index=len(reported) - 1,
                            key="report_run")
        path = cfg.reports_dir / str(pick) / "report.html"
        st.download_button("Download the report (one HTML file, works offline)",
                           data=path.read_bytes(), file_name=f"catalyst-{pick}-report.html",
                           mime="text/html", key="report_download")


# --- page choice ------------------------------------------------------------------------------
def main() -> None:
    st.set_page_config(page_title="Catalyst Trader", layout="wide")
    cfg = _config()
    asked = st.query_params.get("page", "Portfolio")
    page = st.sidebar.radio("Page", PAGES, index=PAGES.index(asked) if asked in PAGES else 0,
                            key="page")
    known = [r.run for r in views.runs(_base_uow())]
    run = st.query_params.get("run") or cfg.run or (known[-1] if known else None)
    if known:
        run = st.sidebar.selectbox("Run", known, index=known.index(run) if run in known
                                   else len(known) - 1, key="run")
    st.sidebar.caption(f"Refreshes every {cfg.refresh_s:g} s.")
    if page == "Agents":
        agents(run)
    elif page == "Runs":
        runs_page()
    elif run is None:
        st.info("No run in this database yet: `catalyst backtest` or `catalyst run` fills it.")
    else:
        live = st.fragment(run_every=timedelta(seconds=cfg.refresh_s))(
            portfolio if page == "Portfolio" else risk)
        live(run)


if __name__ == "__main__":  # Streamlit runs the script as __main__; an import does not
    main()
