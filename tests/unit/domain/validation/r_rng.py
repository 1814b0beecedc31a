"""R's default random numbers (``set.seed`` then ``rnorm``), to rebuild published R examples.

R's defaults: the Mersenne-Twister generator seeded by ``set.seed(s)`` as R's ``RNG.c`` does
(the seed scrambled by 50 steps of the linear congruence ``s = 69069 s + 1``, then the 624
state words drawn from the same congruence, the position set to 624), uniforms
``genrand_int32() * 2^-32``, and normals by inversion from two uniforms
(``u = (floor(2^27 u1) + u2) / 2^27``, ``qnorm(u)``; Python's ``NormalDist.inv_cdf`` is the
same algorithm as R's ``qnorm``, Wichura's AS 241). numpy's MT19937 with that state gives
the same 32-bit words. Checked against values printed by R in the tests that use it.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
from numpy.typing import NDArray

_MASK = 0xFFFFFFFF
_BIG = 134217728.0  # 2^27


class RRandom:
    """R's ``set.seed(seed)`` followed by draws of ``runif`` / ``rnorm``."""

    def __init__(self, seed: int) -> None:
        s = seed & _MASK
        for _ in range(50):
            s = (69069 * s + 1) & _MASK
        words = []
        for _ in range(625):
            s = (69069 * s + 1) & _MASK
            words.append(s)
        # words[0] is R's stored position (reset to 624); the state is the other 624.
        self._bits = np.random.MT19937()
        self._bits.state = {
            "bit_generator": "MT19937",
            "state": {"key": np.asarray(words[1:], dtype=np.uint32), "pos": 624},
        }

    def runif(self, n: int) -> NDArray[np.float64]:
        """``runif(n)``: uniforms on (0, 1)."""
        raw = self._bits.random_raw(n).astype(np.float64)
        u = raw * 2.3283064365386963e-10
        return np.clip(u, 1.1641532182693481e-10, 1 - 1.1641532182693481e-10)

    def rnorm(self, n: int) -> NDArray[np.float64]:
        """``rnorm(n)``: standard normals by R's default inversion method."""
        u = self.runif(2 * n).reshape(n, 2)
        v = (np.floor(_BIG * u[:, 0]) + u[:, 1]) / _BIG
        q = NormalDist().inv_cdf
        return np.asarray([q(x) for x in v], dtype=np.float64)
