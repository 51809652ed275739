"""Comparing two samples of answer times: medians, and the two-sample Kolmogorov-Smirnov
test (written out here: its statistic and the usual asymptotic p-value are a few lines).

The KS test asks whether two samples could come from one distribution; a tiny p-value
says they cannot, whatever the shape of the difference (a shift, a second mode, a tail).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from statistics import median


def ks_statistic(first: list[float], second: list[float]) -> float:
    """The largest gap between the two samples' empirical distribution functions."""
    a, b = sorted(first), sorted(second)
    return max(abs(bisect_right(a, x) / len(a) - bisect_right(b, x) / len(b)) for x in a + b)


def ks_p_value(first: list[float], second: list[float]) -> float:
    """The asymptotic p-value of ``ks_statistic`` (Kolmogorov's distribution, with
    Stephens's small-sample correction)."""
    d = ks_statistic(first, second)
    n = math.sqrt(len(first) * len(second) / (len(first) + len(second)))
    lam = (n + 0.12 + 0.11 / n) * d
    if lam < 0.2:
        return 1.0
    total = sum((1.0 if j % 2 else -1.0) * math.exp(-2 * j * j * lam * lam) for j in range(1, 101))
    return max(0.0, min(1.0, 2 * total))


def median_gap_ms(first: list[float], second: list[float]) -> float:
    """``median(first) - median(second)``, in milliseconds (samples in seconds)."""
    return (median(first) - median(second)) * 1000


def sign_test_p_value(differences: list[float]) -> float:
    """Two-sided p-value that paired differences are as often above zero as below (the
    sign test: a test of their median being zero, whatever their distribution)."""
    above = sum(1 for d in differences if d > 0)
    below = sum(1 for d in differences if d < 0)
    n = above + below
    if n == 0:
        return 1.0
    tail: float = sum(math.comb(n, k) for k in range(min(above, below) + 1)) / 2**n
    return min(1.0, 2 * tail)
