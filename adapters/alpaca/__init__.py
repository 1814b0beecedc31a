"""Alpaca adapters (alpaca-py): BrokerPort and PriceFeedPort that never double an order."""

import warnings

with warnings.catch_warnings():  # alpaca-py 0.44 imports the deprecated websockets.legacy
    warnings.simplefilter("ignore", DeprecationWarning)
    import alpaca.trading.stream  # noqa: F401

from adapters.alpaca.broker import AlpacaBroker, AlpacaConfig, harden_client  # noqa: E402
from adapters.alpaca.factory import (  # noqa: E402
    AlpacaConfigError,
    build_broker,
    build_price_feed,
    check_account,
    config_from_settings,
)
from adapters.alpaca.feed import AlpacaPriceFeed  # noqa: E402

__all__ = [
    "AlpacaBroker",
    "AlpacaConfig",
    "AlpacaConfigError",
    "AlpacaPriceFeed",
    "build_broker",
    "build_price_feed",
    "check_account",
    "config_from_settings",
    "harden_client",
]
