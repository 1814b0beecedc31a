"""Risk decisions are values, not exceptions: each names the rule, the value and the limit."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

import attrs


class Verdict(StrEnum):
    """Outcome of one rule, or of a whole check."""

    APPROVED = "approved"
    WARNING = "warning"  # approved, but a limit is near or the order looks odd
    REJECTED = "rejected"


class Unit(StrEnum):
    """How a rule's value and limit are displayed."""

    PCT = "pct"  # a fraction shown as a percentage
    USD = "usd"
    COUNT = "count"
    RATIO = "ratio"
    SECONDS = "seconds"
    PRICE = "price"
    STATE = "state"


Number = Decimal | int | float


def format_value(value: Number | str | None, unit: Unit) -> str:
    """Return ``value`` as a person reads it in ``unit`` (``0.1`` as ``10.00%``)."""
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value
    d = value if isinstance(value, Decimal) else Decimal(repr(value)) if isinstance(value, float) \
        else Decimal(value)
    if unit is Unit.PCT:
        return f"{d * 100:.2f}%"
    if unit is Unit.USD:
        return f"${d:,.2f}"
    if unit is Unit.COUNT:
        return f"{int(d)}"
    if unit is Unit.SECONDS:
        return f"{d:.0f}s"
    if unit is Unit.PRICE:
        return f"{d:.4f}".rstrip("0").rstrip(".")
    return f"{d:.4f}"


@attrs.frozen
class RuleResult:
    """The outcome of one rule for one order (or one portfolio check).

    ``value`` is what was measured, ``limit`` the bound it was compared with; ``message`` names
    the rule, the value and the limit in words.
    """

    rule: str
    verdict: Verdict
    value: Number | str | None
    limit: Number | str | None
    unit: Unit
    message: str

    @property
    def value_text(self) -> str:
        """Return the value as shown in the message."""
        return format_value(self.value, self.unit)

    @property
    def limit_text(self) -> str:
        """Return the limit as shown in the message."""
        return format_value(self.limit, self.unit)


def result(
    rule: str, verdict: Verdict, value: Number | str | None, limit: Number | str | None,
    unit: Unit, what: str, relation: str,
) -> RuleResult:
    """Build a :class:`RuleResult` whose message reads ``rule: what value relation limit``."""
    v, lim = format_value(value, unit), format_value(limit, unit)
    msg = f"{rule}: {what} {v} {relation} limit {lim}"
    if v == lim and _numeric(value) and _numeric(limit) and value != limit:
        # rounding hides why it failed ("2.00% vs limit 2.00%"): show the exact numbers
        msg += f" (exactly {value} vs {limit})"
    return RuleResult(rule, verdict, value, limit, unit, msg)


def _numeric(x: object) -> bool:
    return isinstance(x, Decimal | int | float) and not isinstance(x, bool)


def passed(rule: str, value: Number | str | None, limit: Number | str | None, unit: Unit,
           what: str, relation: str = "within") -> RuleResult:
    """Build an approving :class:`RuleResult`."""
    return result(rule, Verdict.APPROVED, value, limit, unit, what, relation)


@attrs.frozen
class RiskDecision:
    """The answer to "may this order go out?".

    ``verdict`` is REJECTED when any rule rejected (``rule``, ``value``, ``limit`` and
    ``message`` then describe the first rejection), WARNING when approved with warnings (they
    describe the first warning), APPROVED otherwise. ``checks`` holds every rule's result.
    """

    verdict: Verdict
    rule: str
    value: Number | str | None
    limit: Number | str | None
    unit: Unit
    message: str
    checks: tuple[RuleResult, ...] = ()
    reduces_risk: bool = False

    @property
    def approved(self) -> bool:
        """Return True when the order may go out (APPROVED or WARNING)."""
        return self.verdict is not Verdict.REJECTED

    @property
    def rejections(self) -> tuple[RuleResult, ...]:
        """Return every rejecting rule result."""
        return tuple(c for c in self.checks if c.verdict is Verdict.REJECTED)

    @property
    def warnings(self) -> tuple[RuleResult, ...]:
        """Return every warning."""
        return tuple(c for c in self.checks if c.verdict is Verdict.WARNING)

    @property
    def value_text(self) -> str:
        """Return the value as shown in the message."""
        return format_value(self.value, self.unit)

    @property
    def limit_text(self) -> str:
        """Return the limit as shown in the message."""
        return format_value(self.limit, self.unit)

    @classmethod
    def from_checks(cls, checks: tuple[RuleResult, ...], reduces_risk: bool = False) -> RiskDecision:
        """Combine rule results: the first rejection wins, then the first warning."""
        for wanted in (Verdict.REJECTED, Verdict.WARNING):
            for c in checks:
                if c.verdict is wanted:
                    msg = c.message
                    others = sum(1 for o in checks if o.verdict is wanted) - 1
                    if others:
                        msg += f" (and {others} more {wanted.value} rule{'s' if others > 1 else ''})"
                    return cls(wanted, c.rule, c.value, c.limit, c.unit, msg, checks, reduces_risk)
        n = len(checks)
        return cls(
            Verdict.APPROVED, "all", n, n, Unit.COUNT,
            f"all: {n} rules passed, limit {n} rules checked", checks, reduces_risk,
        )
