"""Risk management in the domain: limits, decisions, circuit breakers and sizing. Pure."""

from domain.risk.breaker import BreakerState, CircuitBreaker, ResumeRefused, escalate
from domain.risk.config import RiskConfig
from domain.risk.correlation import correlation_clusters, pairwise_correlation
from domain.risk.decision import RiskDecision, RuleResult, Unit, Verdict, format_value
from domain.risk.inputs import (
    Holding,
    MarketView,
    OrderIntent,
    PendingOrder,
    Purpose,
    Quote,
    TickerExposure,
    exposures,
    holdings,
    pending_entries,
)
from domain.risk.policy import LimitStatus, RiskPolicy, reduces_position
from domain.risk.sizing import (
    SizeResult,
    SizingConfig,
    SizingMethod,
    TradeStats,
    size_position,
    stats_by_strategy,
)

__all__ = [
    "BreakerState",
    "CircuitBreaker",
    "Holding",
    "LimitStatus",
    "MarketView",
    "OrderIntent",
    "PendingOrder",
    "Purpose",
    "Quote",
    "ResumeRefused",
    "RiskConfig",
    "RiskDecision",
    "RiskPolicy",
    "RuleResult",
    "SizeResult",
    "SizingConfig",
    "SizingMethod",
    "TickerExposure",
    "TradeStats",
    "Unit",
    "Verdict",
    "correlation_clusters",
    "escalate",
    "exposures",
    "format_value",
    "holdings",
    "pairwise_correlation",
    "pending_entries",
    "reduces_position",
    "size_position",
    "stats_by_strategy",
]
