"""Chronological train / validation / test splits of a dataset."""

from __future__ import annotations

import math

import attrs
import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
Dates = NDArray[np.datetime64]

# --------------------------------------------------------------------------- splits


@attrs.frozen
class SplitIndices:
    """Half-open ``[start, stop)`` bar ranges of one ticker's train/validation/test sets."""

    train: tuple[int, int]
    validation: tuple[int, int]
    test: tuple[int, int]
    embargo: int

    def labels(self, n: int) -> list[str]:
        """Return a label per bar: ``train``, ``validation``, ``test`` or ``embargo``."""
        out = ["embargo"] * n
        for name in ("train", "validation", "test"):
            a, b = getattr(self, name)
            out[a:b] = [name] * (b - a)
        return out


def chronological_splits(
    n: int,
    train: float = 0.70,
    validation: float = 0.15,
    test: float = 0.15,
    embargo: int = 5,
) -> SplitIndices:
    """Split ``n`` bars in time order with ``embargo`` unused bars between the sets.

    Parameters
    ----------
    n
        Number of bars.
    train, validation, test
        Fractions of the bars left after removing the two embargo gaps; they must be
        non-negative and sum to 1.
    embargo
        Bars dropped between train and validation and between validation and test, so
        that trailing-window features and multi-bar rewards of one set do not overlap
        the next (5 by default).

    Returns
    -------
    SplitIndices
        ``train = [0, a)``, ``validation = [a + embargo, b)``, ``test = [b + embargo, n)``.

    Raises
    ------
    ValueError
        If the fractions are invalid or ``n`` is too small for the embargo.
    """
    fr = (train, validation, test)
    if any(f < 0 or math.isnan(f) for f in fr) or abs(sum(fr) - 1.0) > 1e-9:
        raise ValueError(f"split fractions must be >= 0 and sum to 1, got {fr}")
    if embargo < 0:
        raise ValueError(f"embargo must be >= 0, got {embargo}")
    usable = n - 2 * embargo
    if usable < 3:
        raise ValueError(
            f"{n} bars are too few for three splits with an embargo of {embargo}"
        )
    n_train = round(usable * train)
    n_val = round(usable * validation)
    n_val = min(n_val, usable - n_train)
    a = n_train
    b = a + embargo + n_val
    return SplitIndices((0, a), (a + embargo, b), (b + embargo, n), embargo)
