"""``catalyst sim-server``: an offline, Alpaca-compatible paper-trading server on loopback.

Any bot written for alpaca-py can trade against it by pointing ``url_override`` at it.
Exit codes: 0 stopped normally, 2 bad option (fault spec, price list, port).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer
from rich.console import Console
from rich.panel import Panel

from adapters.alpaca_server import AlpacaCompatServer, FaultPlan, FaultSpecError
from adapters.alpaca_server.server import default_exchange

app = typer.Typer(help="Serve an offline Alpaca-compatible paper-trading API (REST + stream).")
out = Console()
err = Console(stderr=True)


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
        if not sym or price <= 0:
            raise _bad("--prices", item, "SYMBOL=PRICE with a positive price")
        result[sym.strip().upper()] = price
    return result


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
    calendar: Annotated[str, typer.Option(
        help="Exchange calendar (XNYS) or 'none' for an always-open market.")] = "none",
    key: Annotated[str | None, typer.Option(
        help="Require this API key id (any non-empty key is accepted when unset).")] = None,
    secret: Annotated[str | None, typer.Option(
        help="Require this secret key (with --key).", show_default=False)] = None,
) -> None:
    """Serve Alpaca's trading REST API, market data and the trade-updates stream offline."""
    if not 0 < port < 65536:
        raise _bad("--port", port, "a TCP port in 1..65535")
    if cash <= 0:
        raise _bad("--cash", cash, "a positive amount")
    if (key is None) != (secret is None):
        raise _bad("--key/--secret", "one of them", "both or neither")
    try:
        plan = FaultPlan.parse(faults)
    except FaultSpecError as exc:
        err.print(f"[bold red]error:[/] --faults: {exc}")
        raise typer.Exit(2) from None
    opening = _prices(prices)
    cal = None if calendar.lower() in ("", "none") else calendar
    try:
        backend = default_exchange(Decimal(str(cash)), calendar=cal,
                                   start=datetime.now(UTC))
    except Exception as exc:  # noqa: BLE001 - an unknown calendar name
        raise _bad("--calendar", calendar, f"an exchange_calendars name or 'none' ({exc})"
                   ) from None
    server = AlpacaCompatServer(backend, plan, api_key=key, secret_key=secret,
                                follow_wall_clock=True)
    for sym, px in opening.items():
        p = float(px)
        server.bar(sym, p, p, p, p, 0.0)
    base = f"http://{host}:{port}"
    out.print(Panel.fit(
        f"REST        {base}   (TradingClient / StockHistoricalDataClient url_override)\n"
        f"stream      ws://{host}:{port}/stream   (TradingStream url_override)\n"
        f"push a bar  POST {base}/_sim/bar  {{\"symbol\":\"AAPL\",\"o\":1,\"h\":1,\"l\":1,"
        f"\"c\":1,\"v\":1000}}\n"
        f"faults      {plan.rates or 'none'} seed={plan.seed}\n"
        f"auth        {'key required' if key else 'any non-empty key'}",
        title="catalyst sim-server (offline Alpaca paper API)"))
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print("[yellow]warning:[/] serving beyond loopback: anyone who can reach this "
                  "port can trade the simulated account")
    server.serve_forever(host, port)
