"""``catalyst sim-server``: an offline, Alpaca-compatible paper-trading server.

Any bot written for alpaca-py (or alpaca-trade-api) can trade against it by pointing its base
URL at it. Two kinds of market: prices pushed by hand (``--prices`` plus ``POST /_sim/bar``)
on the wall clock, or history replay (``--data FILE``) where a dataset's bars become the
market on a replay clock. With neither, the bundled sample's latest closes are the prices.
Exit codes: 0 stopped normally, 2 bad option (fault spec, price list, port, data, speed).
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.panel import Panel

from adapters.alpaca_server import AlpacaCompatServer, FaultPlan, FaultSpecError
from adapters.alpaca_server.replay import HistoryReplay, load_history, replay_exchange
from adapters.alpaca_server.server import default_exchange

app = typer.Typer(help="Serve an offline Alpaca-compatible paper-trading API (REST + stream).")
out = Console()
err = Console(stderr=True)
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _bad(field: str, value: object, expected: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {field}={value!r}: expected {expected}")
    return typer.Exit(2)


def _prices(text: str) -> dict[str, Decimal]:
    result: dict[str, Decimal] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        sym, _, px = item.partition("=")
        try:
            price = Decimal(px)
        except InvalidOperation:
            raise _bad("--prices", item, "SYMBOL=PRICE, e.g. AAPL=190.5,MSFT=410") from None
        if not sym or not price.is_finite() or price <= 0:
            raise _bad("--prices", item, "SYMBOL=PRICE with a positive price")
        result[sym.strip().upper()] = price
    return result


def _rate(text: str) -> int | None:
    if text.strip().lower() in ("off", "none", "0"):
        return None
    m = re.fullmatch(r"\s*(\d+)\s*(?:/\s*min)?\s*", text)
    if m is None or int(m.group(1)) < 1:
        raise _bad("--rate-limit", text, "N/min (e.g. 200/min) or off")
    return int(m.group(1))


def _speed(text: str) -> float | None:
    """Return the replay's speed factor, or None for ``max`` (bar after bar)."""
    if text.strip().lower() == "max":
        return None
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*x?\s*", text)
    if m is None or float(m.group(1)) <= 0:
        raise _bad("--speed", text, "a factor such as 60x, or max")
    return float(m.group(1))


def _start_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _bad("--start", text, "an ISO time or date, e.g. 2020-03-02T14:30Z") from None
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def _drive(replay: HistoryReplay, speed: float | None, tick_s: float) -> None:
    """Advance the replay from the wall clock: ``speed`` x real time, or one bar per tick."""
    wall0, sim0 = time.monotonic(), replay.now
    while not replay.done:
        time.sleep(tick_s)
        if speed is None:
            nxt = replay.next_time
            if nxt is not None:
                replay.advance_to(nxt)
        else:
            replay.advance_to(sim0 + timedelta(seconds=(time.monotonic() - wall0) * speed))


@app.callback(invoke_without_command=True)
def sim_server(
    host: Annotated[str, typer.Option(help="Interface to bind (loopback by default).")] =
    "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8765,
    faults: Annotated[str, typer.Option(
        help="Seeded fault injection, e.g. '429:0.05,504_after:0.02,gap:0.1,seed=7' "
             "(see docs/alpaca.md).")] = "",
    cash: Annotated[float, typer.Option(help="Starting cash of the simulated account.")] =
    100_000.0,
    prices: Annotated[str, typer.Option(
        help="Opening prices, e.g. 'AAPL=190,MSFT=410' (one bar each at start).")] = "",
    data: Annotated[Path | None, typer.Option(
        help="Replay this OHLCV file (CSV/Parquet, daily bars) as the market.")] = None,
    sample: Annotated[bool, typer.Option(
        "--sample", help="Replay the bundled sample dataset (like --data with its file).")] =
    False,
    start: Annotated[str | None, typer.Option(
        help="Replay start time (default: the open of the dataset's second session).")] = None,
    speed: Annotated[str, typer.Option(
        help="Replay speed: a factor of real time (60x) or 'max' (one bar per tick).")] =
    "60x",
    tick: Annotated[float, typer.Option(help="Replay tick in wall seconds.")] = 0.05,
    calendar: Annotated[str, typer.Option(
        help="Exchange calendar (XNYS) or 'none' for an always-open market "
             "(replay always uses XNYS).")] = "none",
    key: Annotated[str | None, typer.Option(
        help="Require this API key id (any non-empty key is accepted when unset).")] = None,
    secret: Annotated[str | None, typer.Option(
        help="Require this secret key (with --key).", show_default=False)] = None,
    rate_limit: Annotated[str, typer.Option(
        help="Requests per minute per key before 429, like Alpaca (or 'off').")] = "200/min",
    control_token: Annotated[str | None, typer.Option(
        help="Token /_sim/* requests must send in X-Sim-Control-Token (generated when "
             "binding beyond loopback).", show_default=False)] = None,
) -> None:
    """Serve Alpaca's trading REST API, market data and the trade-updates stream offline."""
    if not 0 < port < 65536:
        raise _bad("--port", port, "a TCP port in 1..65535")
    if cash <= 0:
        raise _bad("--cash", cash, "a positive amount")
    if (key is None) != (secret is None):
        raise _bad("--key/--secret", "one of them", "both or neither")
    if data is not None and prices:
        raise _bad("--prices", prices, "no --prices with --data (the data sets the prices)")
    if tick <= 0:
        raise _bad("--tick", tick, "a positive number of seconds")
    try:
        plan = FaultPlan.parse(faults)
    except FaultSpecError as exc:
        err.print(f"[bold red]error:[/] --faults: {exc}")
        raise typer.Exit(2) from None
    per_minute = _rate(rate_limit)
    pace = _speed(speed)
    begin = _start_time(start)
    opening = _prices(prices)
    if control_token is None and host not in _LOOPBACK:
        control_token = secrets.token_urlsafe(24)
    replay: HistoryReplay | None = None
    common = {"api_key": key, "secret_key": secret, "rate_limit": per_minute,
              "control_token": control_token}
    if data is not None or sample:
        try:
            bars = load_history(data)
        except (ValueError, OSError) as exc:
            raise _bad("--data", str(data), f"a readable OHLCV file ({exc})") from None
        first = begin or bars[0].ts
        server = AlpacaCompatServer(replay_exchange(Decimal(str(cash)), first), plan,
                                    fill_market_now=True, **common)  # type: ignore[arg-type]
        try:
            replay = HistoryReplay(server, bars, begin)
        except ValueError as exc:
            raise _bad("--start", start, str(exc)) from None
        market = (f"replay     {data or 'bundled sample'}: {len(bars)} bars, from "
                  f"{replay.start.isoformat()} at {speed}")
    else:
        cal = None if calendar.lower() in ("", "none") else calendar
        try:
            backend = default_exchange(Decimal(str(cash)), calendar=cal,
                                       start=datetime.now(UTC))
        except Exception as exc:  # noqa: BLE001 - an unknown calendar name
            raise _bad("--calendar", calendar, f"an exchange_calendars name or 'none' ({exc})"
                       ) from None
        server = AlpacaCompatServer(backend, plan, follow_wall_clock=True,
                                    **common)  # type: ignore[arg-type]
        if not opening:
            opening = _sample_closes()
        for sym, px in opening.items():
            p = float(px)
            server.bar(sym, p, p, p, p, 0.0)
        market = f"prices     {', '.join(f'{s}={p}' for s, p in opening.items())}"
    base = f"http://{host}:{port}"
    out.print(Panel.fit(
        f"REST        {base}   (TradingClient / StockHistoricalDataClient url_override)\n"
        f"stream      ws://{host}:{port}/stream   (TradingStream url_override)\n"
        f"{market}\n"
        f"push a bar  POST {base}/_sim/bar  {{\"symbol\":\"AAPL\",\"o\":1,\"h\":1,\"l\":1,"
        f"\"c\":1,\"v\":1000}}\n"
        f"faults      {plan.rates or 'none'} seed={plan.seed}\n"
        f"rate limit  {f'{per_minute}/min' if per_minute else 'off'}\n"
        f"auth        {'key required' if key else 'any non-empty key'}"
        + (f"\ncontrol     X-Sim-Control-Token: {control_token}" if control_token else ""),
        title="catalyst sim-server (offline Alpaca paper API)"))
    if host not in _LOOPBACK:
        err.print("[yellow]warning:[/] serving beyond loopback: anyone who can reach this "
                  "port can trade the simulated account")
    if replay is not None:
        threading.Thread(target=_drive, args=(replay, pace, tick), name="replay",
                         daemon=True).start()
    server.serve_forever(host, port)


def _sample_closes() -> dict[str, Decimal]:
    """Return the latest close of every ticker of the bundled sample (a fresh server's prices)."""
    last: dict[str, Decimal] = {}
    for b in load_history(None):
        last[b.ticker] = Decimal(repr(b.close))
    return last
