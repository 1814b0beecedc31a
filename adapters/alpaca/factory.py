"""Build the Alpaca adapters from settings: paper by default, live only when confirmed twice."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from adapters.alpaca.broker import AlpacaBroker, AlpacaConfig
from adapters.alpaca.feed import AlpacaPriceFeed
from domain.errors import DomainError

LIVE_CONFIRM_ENV = "CATALYST_LIVE_CONFIRM"
#: must equal entrypoints.settings.LIVE_CONFIRMATION (adapters may not import entrypoints;
#: a test checks they agree)
LIVE_CONFIRMATION = "I-UNDERSTAND"


class AlpacaConfigError(DomainError):
    """Alpaca cannot be used as configured; the message says what to set."""


def config_from_settings(settings: Any, live: bool = False, **overrides: Any) -> AlpacaConfig:
    """Return an AlpacaConfig from :class:`entrypoints.settings.Settings`.

    Live trading needs both ``live=True`` (the ``--live`` flag) and
    ``CATALYST_LIVE_CONFIRM=I-UNDERSTAND``; anything else trades paper.
    """
    key, secret = settings.alpaca_api_key, settings.alpaca_secret_key
    if key is None or secret is None or not key.get_secret_value() or \
            not secret.get_secret_value():
        raise AlpacaConfigError(
            "broker alpaca needs APCA_API_KEY_ID and APCA_API_SECRET_KEY (paper keys from "
            "https://app.alpaca.markets/paper/dashboard/overview); see docs/alpaca.md")
    if live:
        confirm = settings.live_confirm.get_secret_value() if settings.live_confirm else ""
        if confirm != LIVE_CONFIRMATION:
            raise AlpacaConfigError(
                f"--live trades real money: also set {LIVE_CONFIRM_ENV}={LIVE_CONFIRMATION} "
                "(refusing to start)")
        paper = False
    else:
        paper = True
        if not settings.alpaca_paper:
            raise AlpacaConfigError(
                "CATALYST_ALPACA_PAPER=false needs --live (and the live confirmation)")
    base = settings.alpaca_base_url
    stream = overrides.pop("stream_url", None)
    if stream is None and base and base.startswith(("http://127.", "http://localhost")):
        stream = base.replace("http://", "ws://", 1).rstrip("/") + "/stream"
    return AlpacaConfig(api_key=key.get_secret_value(), secret_key=secret.get_secret_value(),
                        paper=paper, base_url=base, data_url=settings.alpaca_data_url,
                        stream_url=stream, **overrides)


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build_broker(settings: Any, live: bool = False,
                 announce: Callable[[str], None] | None = _to_stderr,
                 **overrides: Any) -> AlpacaBroker:
    """Return a connected AlpacaBroker; live mode prints (to stderr, so ``--json`` output
    stays clean) which account it will trade, before any order can be sent.

    Raises AlpacaConfigError with a clear message when keys or the live confirmation are missing.
    """
    config = config_from_settings(settings, live, **overrides)
    broker = AlpacaBroker(config)
    if announce is not None and not config.paper:
        announce(f"LIVE TRADING: {broker.describe()}")
    return broker


def build_price_feed(settings: Any, **overrides: Any) -> AlpacaPriceFeed:
    """Return an Alpaca price feed (market data needs the same keys)."""
    overrides.setdefault("use_stream", False)
    return AlpacaPriceFeed(config_from_settings(settings, False, **overrides))


def check_account(settings: Any, timeout_s: float = 5.0) -> tuple[bool, str]:
    """Reach the account with a short timeout (``catalyst doctor``); never raises."""
    try:
        config = config_from_settings(settings, not settings.alpaca_paper, timeout_s=timeout_s,
                                      max_read_attempts=1, use_stream=False)
    except AlpacaConfigError as exc:
        return False, str(exc)
    broker = AlpacaBroker(config)
    try:
        acct = broker.get_account()
    except DomainError as exc:
        return False, f"alpaca unreachable: {exc}"
    finally:
        broker.close()
    mode = "paper" if config.paper else "LIVE"
    return True, f"alpaca {mode} account {acct.account_id} reachable ({acct.status})"
