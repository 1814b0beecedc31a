"""What validation and repair report: one finding per problem, with its severity."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

import attrs
import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
Dates = NDArray[np.datetime64]

class IssueSeverity(StrEnum):
    """How bad a finding is: errors fail validation, warnings are reported only."""

    ERROR = "error"
    WARNING = "warning"


class Problem(StrEnum):
    """What a validation finding is about."""

    DUPLICATE_TIMESTAMP = "duplicate_timestamp"
    UNSORTED = "unsorted"
    NAN = "nan"
    NON_FINITE = "non_finite"
    IMPLAUSIBLE_PRICE = "implausible_price"
    OUT_OF_CALENDAR = "out_of_calendar"
    NON_POSITIVE_PRICE = "non_positive_price"
    NEGATIVE_VOLUME = "negative_volume"
    HIGH_BELOW_LOW = "high_below_low"
    OPEN_OUTSIDE_RANGE = "open_outside_range"
    CLOSE_OUTSIDE_RANGE = "close_outside_range"
    NOT_A_SESSION = "not_a_session"
    MISSING_SESSION = "missing_session"
    SPLIT_LIKE_JUMP = "split_like_jump"
    LARGE_MOVE = "large_move"
    SPLIT_NOT_IN_PRICES = "split_not_in_prices"


DEFAULT_SEVERITY = {
    Problem.MISSING_SESSION: IssueSeverity.WARNING,
    Problem.UNSORTED: IssueSeverity.WARNING,
    Problem.LARGE_MOVE: IssueSeverity.WARNING,
    Problem.SPLIT_NOT_IN_PRICES: IssueSeverity.WARNING,
}


@attrs.frozen
class ValidationIssue:
    """One finding: which ticker, which date, what problem, and the values involved.

    ``evidence`` says, for a large move, what the split decision rests on (splits file,
    ``adj_close``, volume), so that an ambiguous case can be settled by hand.
    """

    ticker: str
    date: str
    problem: Problem
    detail: str
    severity: IssueSeverity = IssueSeverity.ERROR
    evidence: str = ""


def day_strings(dates: Dates) -> list[str]:
    return [
        str(x) for x in np.datetime_as_string(dates.astype("datetime64[D]"), unit="D")
    ]


def day_set(dates: Iterable[np.datetime64 | str]) -> set[str]:
    return {str(d)[:10] for d in dates}


def nonzero_rows(mask: NDArray[np.bool_]) -> list[int]:
    return [int(i) for i in np.flatnonzero(mask)]
