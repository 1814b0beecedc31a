"""Beta on the dates both series have: causal, and carried over the benchmark's missing dates."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import indicators as ind
from domain.market_data.features import beta_on_common_dates


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 1000),
    holes=st.sets(st.integers(1, 149), max_size=12),
    cut=st.integers(70, 149),
)
def test_property_beta_on_common_dates_is_causal_and_carries_the_last_value(
    seed: int, holes: set[int], cut: int
) -> None:
    rng = np.random.default_rng(seed)
    c = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, 150)))
    b = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 150)))
    b_holes = b.copy()
    b_holes[sorted(holes)] = np.nan
    full = beta_on_common_dates(c, b_holes, 20)
    # causal: later prices do not change earlier betas
    later = c.copy()
    later[cut + 1 :] *= 3.0
    np.testing.assert_array_equal(beta_on_common_dates(later, b_holes, 20)[: cut + 1],
                                  full[: cut + 1])
    ok = np.isfinite(b_holes)
    idx = np.flatnonzero(ok)
    np.testing.assert_array_equal(full[idx], ind.beta(c[idx], b[idx], 20))
    for i in sorted(holes):
        assert np.isnan(full[i]) == np.isnan(full[i - 1]) and (
            np.isnan(full[i]) or full[i] == full[i - 1]
        )
