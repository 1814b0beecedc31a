"""The signal router: catalyst alerts in, trading signals out, by configurable rules.

A rule matches an alert by catalyst type, minimum score and sentiment sign and says which
action to take and how confident to be (``base + score_weight * score``, clipped to [0, 1]).
Signals under the confidence threshold (0.70 by default) are dropped; an alert id seen before
is suppressed, and a ticker that produced a signal less than ``cooldown`` ago is left alone.

Every decision is returned as a :class:`RouteDecision` (signal or the reason there is none), so
the engine can journal and count what happened. The router's memory (seen ids, last signal per
ticker) round-trips through :meth:`SignalRouter.dump_state` / :meth:`load_state`, which the
engine stores in the unit of work with its cursor: a restarted run suppresses the same alerts.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

import attrs

from domain.alerts import Alert, CatalystType
from domain.errors import InvalidInput
from domain.signal import Signal
from domain.values import Action

__all__ = [
    "DEFAULT_RULES",
    "AlertFeed",
    "AlertSignalSource",
    "RouteDecision",
    "RouterConfig",
    "RoutingRule",
    "SignalRouter",
]


@attrs.frozen(kw_only=True)
class RoutingRule:
    """One routing rule.

    Parameters
    ----------
    catalyst_types
        Types the rule applies to (empty: every type).
    min_score
        Smallest alert score the rule accepts.
    sentiment
        ``"positive"`` (> 0), ``"negative"`` (< 0), ``"neutral"`` (== 0) or ``"any"``.
    action
        What a matching alert asks for.
    base_confidence, score_weight
        Confidence = ``base_confidence + score_weight * score``, clipped to [0, 1].
    """

    catalyst_types: tuple[CatalystType, ...] = ()
    min_score: float = 0.0
    sentiment: str = "any"
    action: Action = Action.BUY
    base_confidence: float = 0.5
    score_weight: float = 0.5

    def __attrs_post_init__(self) -> None:
        if self.sentiment not in ("positive", "negative", "neutral", "any"):
            raise InvalidInput("sentiment", self.sentiment, "positive, negative, neutral or any")
        if not 0.0 <= self.min_score <= 1.0:
            raise InvalidInput("min_score", self.min_score, "a number in [0, 1]")

    def matches(self, alert: Alert) -> bool:
        """Return True when ``alert`` falls under this rule."""
        if self.catalyst_types and alert.catalyst_type not in self.catalyst_types:
            return False
        if alert.score < self.min_score:
            return False
        s = alert.sentiment
        return {
            "positive": s > 0, "negative": s < 0, "neutral": s == 0, "any": True,
        }[self.sentiment]

    def confidence(self, alert: Alert) -> float:
        """Return the confidence this rule gives ``alert``."""
        return min(1.0, max(0.0, self.base_confidence + self.score_weight * alert.score))

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> RoutingRule:
        """Build a rule from a mapping (a TOML/JSON rules file)."""
        types = d.get("catalyst_types", ())
        if isinstance(types, str):
            types = (types,)
        if not isinstance(types, list | tuple):
            raise InvalidInput("catalyst_types", types, "a list of catalyst types")
        try:
            return cls(
                catalyst_types=tuple(CatalystType(str(t)) for t in types),
                min_score=float(str(d.get("min_score", 0.0))),
                sentiment=str(d.get("sentiment", "any")),
                action=Action(str(d.get("action", "buy")).lower()),
                base_confidence=float(str(d.get("base_confidence", 0.5))),
                score_weight=float(str(d.get("score_weight", 0.5))),
            )
        except ValueError as exc:
            raise InvalidInput("rule", d, f"a valid routing rule ({exc})") from exc


#: Beats are bought, misses are sold short; confidence 0.5 + 0.5 x score, so with the default
#: threshold of 0.70 only alerts scoring 0.4 or more (an EPS surprise of 8 % or more) trade.
DEFAULT_RULES: tuple[RoutingRule, ...] = (
    RoutingRule(sentiment="positive", action=Action.BUY),
    RoutingRule(sentiment="negative", action=Action.SELL),
)


@attrs.frozen(kw_only=True)
class RouterConfig:
    """Router settings: rules (first match wins), threshold, cool-down, strategy name."""

    rules: tuple[RoutingRule, ...] = DEFAULT_RULES
    threshold: float = 0.70
    cooldown: timedelta = timedelta(days=1)
    strategy: str = "catalyst-rules"
    allow_short: bool = True

    def __attrs_post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise InvalidInput("threshold", self.threshold, "a confidence in [0, 1]")
        if self.cooldown < timedelta(0):
            raise InvalidInput("cooldown", self.cooldown, "a non-negative duration")


@attrs.frozen
class RouteDecision:
    """What the router did with one alert: a signal, or why not."""

    alert: Alert
    signal: Signal | None
    reason: str  # "signal" | "duplicate" | "no_rule" | "below_threshold" | "cooldown" | ...
    confidence: float | None = None


class SignalRouter:
    """Turns alerts into signals by :class:`RouterConfig`; remembers ids and cool-downs."""

    def __init__(self, config: RouterConfig | None = None) -> None:
        self.config = config or RouterConfig()
        self._seen: set[str] = set()
        self._last: dict[str, datetime] = {}
        self._dumped: str | None = None  # dump_state's text until the memory changes
        # the seen ids in order and each as JSON, kept sorted as ids arrive (built on the
        # first dump), so a dump joins them instead of sorting and encoding every id again
        self._ids: list[str] | None = None
        self._ids_json: list[str] = []
        # each ticker's last signal time as JSON text, encoded once when it changes
        self._last_json: dict[str, str] = {}

    def route(self, alert: Alert) -> RouteDecision:
        """Return the decision for ``alert`` (and remember it)."""
        cfg = self.config
        if alert.id in self._seen:
            return RouteDecision(alert, None, "duplicate")
        self._dumped = None
        self._seen.add(alert.id)
        if self._ids is not None:
            at = bisect.bisect_left(self._ids, alert.id)
            self._ids.insert(at, alert.id)
            self._ids_json.insert(at, json.dumps(alert.id))
        rule = next((r for r in cfg.rules if r.matches(alert)), None)
        if rule is None:
            return RouteDecision(alert, None, "no_rule")
        if rule.action is Action.HOLD:
            return RouteDecision(alert, None, "hold")
        if rule.action is Action.SELL and not cfg.allow_short:
            return RouteDecision(alert, None, "short_disabled")
        conf = rule.confidence(alert)
        if conf < cfg.threshold:
            return RouteDecision(alert, None, "below_threshold", conf)
        last = self._last.get(alert.ticker)
        if last is not None and alert.known_at - last < cfg.cooldown:
            return RouteDecision(alert, None, "cooldown", conf)
        self._last[alert.ticker] = alert.known_at
        self._last_json.pop(alert.ticker, None)
        sig = Signal(
            signal_id=f"sig-{alert.id}"[:120], ticker=alert.ticker, action=rule.action,
            confidence=conf, ts=alert.known_at, catalyst_score=alert.score,
            strategy=cfg.strategy,
            metadata={"alert_id": alert.id, "catalyst_type": alert.catalyst_type.value,
                      "sentiment": alert.sentiment, "headline": alert.headline},
        )
        return RouteDecision(alert, sig, "signal", conf)

    def dump_state(self) -> str:
        """Return the router's memory as JSON (the same text while it has not changed)."""
        if self._dumped is None:
            if self._ids is None:
                self._ids = sorted(self._seen)
                self._ids_json = [json.dumps(i) for i in self._ids]
            # the text of json.dumps({"seen": sorted ids, "last": {...}})
            enc = self._last_json
            for t in self._last.keys() - enc.keys():
                enc[t] = f"{json.dumps(t)}: {json.dumps(self._last[t].isoformat())}"
            last = ", ".join(enc[t] for t in sorted(self._last))
            self._dumped = f'{{"seen": [{", ".join(self._ids_json)}], "last": {{{last}}}}}'
        return self._dumped

    def load_state(self, raw: str | None) -> None:
        """Restore the memory written by :meth:`dump_state` (None: start empty)."""
        if not raw:
            return
        d = json.loads(raw)
        self._dumped, self._ids, self._last_json = None, None, {}
        self._seen = set(d.get("seen", ()))
        self._last = {t: datetime.fromisoformat(v) for t, v in d.get("last", {}).items()}


class AlertFeed(Protocol):
    """Where alerts come from (a file, a followed folder, stdin, a webhook queue)."""

    def poll(self, now: datetime) -> Sequence[Alert]:
        """Return the alerts known at or before ``now`` not returned before."""
        ...

    def dump_state(self) -> str:
        """Return the feed's position (offsets) as JSON, stored with the engine cursor."""
        ...

    def load_state(self, raw: str | None) -> None:
        """Restore the position written by :meth:`dump_state`."""
        ...


class AlertSignalSource:
    """A :class:`~application.ports.SignalSource` over an alert feed and a router.

    Every routing decision of the last poll stays in :attr:`last_decisions` for the journal.
    """

    def __init__(self, feed: AlertFeed, router: SignalRouter | None = None) -> None:
        self.feed = feed
        self.router = router or SignalRouter()
        self.last_decisions: list[RouteDecision] = []
        self.counts: dict[str, int] = {}
        # the last dump_state text and what it was made of (feed text, router text, counts)
        self._dump: tuple[str, str, dict[str, int], str] | None = None

    def poll(self, now: datetime) -> Sequence[Signal]:
        """Route the alerts that became known by ``now``; return the resulting signals."""
        self.last_decisions = [self.router.route(a) for a in self.feed.poll(now)]
        for d in self.last_decisions:
            self.counts[d.reason] = self.counts.get(d.reason, 0) + 1
        return [d.signal for d in self.last_decisions if d.signal is not None]

    def dump_state(self) -> str:
        """Return feed and router state together (the same text while neither changed).

        The router's memory (every alert id seen) is embedded as a JSON object, not as a
        string, so that it is not escaped again each time it grows.
        """
        feed, router = self.feed.dump_state(), self.router.dump_state()
        last = self._dump
        if last is not None and last[1] is router and last[0] == feed and last[2] == self.counts:
            return last[3]
        text = (f'{{"feed": {json.dumps(feed)}, "router": {router}, '
                f'"counts": {json.dumps(self.counts)}}}')
        self._dump = (feed, router, dict(self.counts), text)
        return text

    def load_state(self, raw: str | None) -> None:
        """Restore feed and router state."""
        if not raw:
            return
        d = json.loads(raw)
        self.feed.load_state(d.get("feed"))
        router = d.get("router")  # an object; a string in states written before
        self.router.load_state(router if router is None or isinstance(router, str)
                               else json.dumps(router))
        self.counts = dict(d.get("counts", {}))


def route_all(alerts: Iterable[Alert], router: SignalRouter | None = None) -> list[RouteDecision]:
    """Route ``alerts`` in order (a convenience for tests and reports)."""
    r = router or SignalRouter()
    return [r.route(a) for a in alerts]
