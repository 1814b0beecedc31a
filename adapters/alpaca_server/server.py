"""A loopback Alpaca-compatible server: the trading API v2, stock data v2 and the stream.

It puts Alpaca's HTTP shape (paths, JSON with numbers as strings, ``{"code", "message"}``
errors with Alpaca's status codes, the ``client_order_id`` uniqueness rule) in front of any
in-process exchange that implements :class:`application.ports.BrokerPort` plus a bar driver
(``on_bar(ticker, ts_ns, o, h, l, c, v)`` like :class:`adapters.simulated.SimulatedExchange`,
the default, or ``bar(...)`` like :class:`adapters.memory.FakeBroker`), and injects seeded
faults (:mod:`adapters.alpaca_server.faults`).

What the exchange does not know, the server adds on top: one-cancels-other and
one-triggers-other orders (the exchange only has brackets), order replacement, notional
orders, partial position closes, trailing-stop state, assets, the calendar, watchlists,
account activities and portfolio history, request-rate and body-size limits.

Point alpaca-py at it with ``TradingClient(key, secret, url_override=server.base_url)``,
``StockHistoricalDataClient(key, secret, url_override=server.base_url)`` and
``TradingStream(key, secret, url_override=server.stream_url)``.

Besides Alpaca's endpoints it serves a few of its own under ``/_sim`` (guarded by the API key
when one is set, and by a control token when one is given): ``POST /_sim/bar`` (advance a
ticker by one bar), ``GET /_sim/orders`` (every order, for audits), ``POST /_sim/faults``
(change fault rates).

The server is one class assembled from mixins, one module per group of endpoints:
:mod:`~adapters.alpaca_server.core` (state), :mod:`~adapters.alpaca_server.shapes` (JSON),
:mod:`~adapters.alpaca_server.matching` (server-held orders, fills into the stream),
:mod:`~adapters.alpaca_server.orders`, :mod:`~adapters.alpaca_server.account`,
:mod:`~adapters.alpaca_server.data_routes`, :mod:`~adapters.alpaca_server.stream` and
:mod:`~adapters.alpaca_server.guard` (auth, limits, faults, error mapping); Alpaca's wire format
is in :mod:`~adapters.alpaca_server.wire`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from adapters.alpaca_server import marketdata as md
from adapters.alpaca_server.account import AccountRoutes
from adapters.alpaca_server.core import Backend, default_exchange
from adapters.alpaca_server.data_routes import MarketDataRoutes
from adapters.alpaca_server.faults import FaultPlan, FaultSpecError
from adapters.alpaca_server.guard import RequestGuard
from adapters.alpaca_server.orders import OrderRoutes
from adapters.alpaca_server.stream import TradeStream
from adapters.alpaca_server.wire import (
    ACCOUNT_ID,
    ACCOUNT_NUMBER,
    MAX_BODY_BYTES,
    ApiError,
    parse_float,
    unprocessable,
)


class AlpacaCompatServer(OrderRoutes, AccountRoutes, MarketDataRoutes, TradeStream,
                         RequestGuard):
    """Serve an exchange over Alpaca's REST + stream protocol; start it with :meth:`start`.

    Parameters
    ----------
    backend
        The exchange (:func:`default_exchange` when None: 100,000 starting cash).
    faults
        A :class:`FaultPlan` or a spec string; nothing is injected by default.
    api_key, secret_key
        When set, requests must carry exactly these credentials (401 otherwise); when None any
        non-empty key is accepted.
    rate_limit
        Requests per minute per key before 429 answers (Alpaca: 200); None: no limit.
    max_body
        Largest request body in bytes (413 beyond it).
    control_token
        When set, ``/_sim/*`` requests must carry it in ``X-Sim-Control-Token``.
    fill_market_now
        Fill market orders submitted while the market is open at once, at the last known
        price, like Alpaca does during a session (history replay); when False they wait for
        the next bar (the exchange's rule: the next bar's open).
    """

    def __init__(
        self,
        backend: Backend | None = None,
        faults: FaultPlan | str | None = None,
        *,
        api_key: str | None = None,
        secret_key: str | None = None,
        stream_poll_s: float = 0.02,
        follow_wall_clock: bool = False,
        order_hook: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        rate_limit: int | None = None,
        max_body: int = MAX_BODY_BYTES,
        control_token: str | None = None,
        reference_calendar: str = "XNYS",
        fill_market_now: bool = False,
    ) -> None:
        self.backend = backend if backend is not None else default_exchange()
        self.follow_wall_clock = follow_wall_clock
        self.order_hook = order_hook
        self.faults = faults if isinstance(faults, FaultPlan) else FaultPlan.parse(faults)
        self._key = api_key
        self._secret = secret_key
        self._stream_poll_s = stream_poll_s
        self.rate_limit = rate_limit
        self.max_body = max_body
        self.control_token = control_token
        self._reference_calendar = reference_calendar
        self.fill_market_now = fill_market_now
        self._ref_sessions = None
        self._buckets = {}
        self.lock = threading.RLock()
        self._events = []
        self._bars = {}
        self._ids = {}  # order uuid -> client order id
        self._meta = {}
        self._created = {}
        self._oco_open = {}  # ticker -> OCO parents whose legs both work
        self._fill_qty = {}
        self._activities = []
        self._equity = []
        self._configurations = {
            "dtbp_check": "entry", "trade_confirm_email": "all", "suspend_trade": False,
            "no_shorting": False, "fractional_trading": True, "max_margin_multiplier": "1",
            "pdt_check": "entry", "ptp_no_exception_entry": False}
        self._watchlists = {}
        self._seq = 0
        self.post_orders = 0  # POST /v2/orders received (for audits)
        self.duplicate_posts = 0  # of which refused: client_order_id already taken
        self.stream_listeners = 0  # trade_updates subscriptions so far
        self.requests = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.host = "127.0.0.1"
        self.port = 0
        self._equity.append((self.now(), self.backend.get_account().equity))
        self.app = Starlette(routes=self._routes(), exception_handlers={
            HTTPException: self._http_error, Exception: self._internal_error})

    # --- lifecycle ----------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """Return the REST base URL to give alpaca-py's ``url_override``."""
        return f"http://{self.host}:{self.port}"

    @property
    def stream_url(self) -> str:
        """Return the trade-updates WebSocket URL to give ``TradingStream(url_override=...)``."""
        return f"ws://{self.host}:{self.port}/stream"

    def start(self, host: str = "127.0.0.1", port: int = 0, timeout: float = 10.0) -> None:
        """Serve in a background thread; ``port=0`` picks a free ephemeral port."""
        config = uvicorn.Config(self.app, host=host, port=port, log_level="critical",
                                ws="websockets-sansio", lifespan="off", access_log=False,
                                timeout_graceful_shutdown=1)
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(target=server.run, name="alpaca-sim-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"sim server did not start on {host}:{port}")
            time.sleep(0.01)
        self.host = host
        self.port = server.servers[0].sockets[0].getsockname()[1]

    def serve_forever(self, host: str = "127.0.0.1", port: int = 8765) -> None:
        """Serve in the calling thread until interrupted (the ``catalyst sim-server`` command)."""
        self.host, self.port = host, port
        uvicorn.run(self.app, host=host, port=port, log_level="warning",
                    ws="websockets-sansio", lifespan="off")

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    # --- routes ----------------------------------------------------------------------------
    def _routes(self) -> list[Route | WebSocketRoute]:
        h = self._handler
        w = True
        return [
            Route("/v2/account", h(self._get_account)),
            Route("/v2/account/configurations", h(self._get_configurations)),
            Route("/v2/account/configurations", h(self._patch_configurations, write=w),
                  methods=["PATCH"]),
            Route("/v2/account/portfolio/history", h(self._portfolio_history)),
            Route("/v2/account/activities", h(self._activities_ep)),
            Route("/v2/account/activities/{activity_type}", h(self._activities_ep)),
            Route("/v2/clock", h(self._get_clock)),
            Route("/v2/calendar", h(self._get_calendar)),
            Route("/v2/assets", h(self._get_assets)),
            Route("/v2/assets/{symbol_or_id}", h(self._get_asset)),
            Route("/v2/orders", h(self._post_order, write=w), methods=["POST"]),
            Route("/v2/orders", h(self._get_orders), methods=["GET"]),
            Route("/v2/orders", h(self._cancel_all, write=w), methods=["DELETE"]),
            Route("/v2/orders:by_client_order_id", h(self._get_by_cid)),
            Route("/v2/orders/{order_id}", h(self._get_order), methods=["GET"]),
            Route("/v2/orders/{order_id}", h(self._replace_order, write=w), methods=["PATCH"]),
            Route("/v2/orders/{order_id}", h(self._cancel_order, write=w), methods=["DELETE"]),
            Route("/v2/positions", h(self._get_positions), methods=["GET"]),
            Route("/v2/positions", h(self._close_all, write=w), methods=["DELETE"]),
            Route("/v2/positions/{symbol}", h(self._get_position), methods=["GET"]),
            Route("/v2/positions/{symbol}", h(self._close_position, write=w),
                  methods=["DELETE"]),
            Route("/v2/watchlists", h(self._get_watchlists), methods=["GET"]),
            Route("/v2/watchlists", h(self._create_watchlist, write=w), methods=["POST"]),
            Route("/v2/watchlists/{wid}", h(self._get_watchlist), methods=["GET"]),
            Route("/v2/watchlists/{wid}", h(self._update_watchlist, write=w),
                  methods=["PUT"]),
            Route("/v2/watchlists/{wid}", h(self._add_to_watchlist, write=w),
                  methods=["POST"]),
            Route("/v2/watchlists/{wid}", h(self._delete_watchlist, write=w),
                  methods=["DELETE"]),
            Route("/v2/watchlists/{wid}/{symbol}", h(self._remove_from_watchlist, write=w),
                  methods=["DELETE"]),
            Route("/v2/stocks/bars", h(self._bars_ep)),
            Route("/v2/stocks/bars/latest", h(self._latest_bars)),
            Route("/v2/stocks/trades/latest", h(self._latest_trades)),
            Route("/v2/stocks/quotes/latest", h(self._latest_quotes)),
            Route("/v2/stocks/trades", h(self._trades_ep)),
            Route("/v2/stocks/quotes", h(self._quotes_ep)),
            Route("/v2/stocks/snapshots", h(self._snapshots)),
            Route("/v2/stocks/{symbol}/bars", h(self._symbol_bars)),
            Route("/v2/stocks/{symbol}/bars/latest", h(self._symbol_latest_bar)),
            Route("/v2/stocks/{symbol}/trades/latest", h(self._symbol_latest_trade)),
            Route("/v2/stocks/{symbol}/quotes/latest", h(self._symbol_latest_quote)),
            Route("/v2/stocks/{symbol}/trades", h(self._symbol_trades)),
            Route("/v2/stocks/{symbol}/quotes", h(self._symbol_quotes)),
            Route("/v2/stocks/{symbol}/snapshot", h(self._symbol_snapshot)),
            Route("/_sim/bar", self._control(self._sim_bar), methods=["POST"]),
            Route("/_sim/orders", self._control(self._sim_orders), methods=["GET"]),
            Route("/_sim/faults", self._control(self._sim_faults), methods=["POST"]),
            WebSocketRoute("/stream", self._stream),
            WebSocketRoute("/stream/", self._stream),
        ]

    # --- simulator control -------------------------------------------------------------------
    async def _sim_bar(self, request: Request) -> Response:
        b = self._json_object(request)
        ts = md.parse_ts("t", b.get("t"))
        values = {}
        for name in ("o", "h", "l", "c"):
            values[name] = parse_float(name, b.get(name))
        volume = parse_float("v", b.get("v", 1_000_000))
        symbol = b.get("symbol")
        if not isinstance(symbol, str) or not symbol:
            raise unprocessable(f"invalid symbol {symbol!r}: expected a ticker string")
        if not values["l"] <= min(values["o"], values["c"]) <= \
                max(values["o"], values["c"]) <= values["h"] or values["l"] <= 0:
            raise unprocessable(f"invalid bar {values}: expected 0 < l <= o, c <= h")
        self.bar(symbol, values["o"], values["h"], values["l"], values["c"], volume, ts=ts)
        return JSONResponse({"ok": True})

    async def _sim_orders(self, request: Request) -> Response:
        return JSONResponse(self.all_orders())

    async def _sim_faults(self, request: Request) -> Response:
        spec = (getattr(request.state, "body", b"") or b"").decode("utf-8", "replace")
        try:
            self.faults = FaultPlan.parse(spec)
        except FaultSpecError as exc:
            raise unprocessable(str(exc)) from None
        return JSONResponse({"rates": self.faults.rates, "seed": self.faults.seed})


__all__ = ["ACCOUNT_ID", "ACCOUNT_NUMBER", "AlpacaCompatServer", "ApiError", "Backend",
           "default_exchange"]
