"""The simulated exchange (BrokerPort + PriceFeedPort) and the replay engine that drives it.

See ``docs/simulator.md`` for the fill rules and the API for embedding.
"""

from adapters.simulated.exchange import ExchangeConfig, SimulatedExchange

__all__ = ["ExchangeConfig", "SimulatedExchange"]
