"""Rank agreement between a proxy and a reference: Kendall tau-b, Spearman rho and bootstrap intervals.

Thin wrappers over ``scipy.stats`` (reviewed, tie-aware implementations) that keep this module's contract: plain
Python floats, a ValueError for sequences of different lengths, and NaN, without a warning, when either side is
constant (there is no ranking to agree with).
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
from scipy import stats

# SciPy 1.15 renamed bootstrap's random_state to rng (SPEC 7); both take a Generator.
_RNG_KEYWORD = "rng" if "rng" in inspect.signature(stats.bootstrap).parameters else "random_state"


@contextmanager
def _quiet_constant_input() -> Iterator[None]:
    """SciPy warns on constant input; here NaN is the documented answer, so the warning is noise."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        warnings.simplefilter("ignore", RuntimeWarning)  # 0/0 inside the correlation of a constant resample
        yield


def _check_lengths(x: Sequence[float], y: Sequence[float]) -> None:
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length ({len(x)} vs {len(y)})")


def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b (ties counted on either side); NaN when either side is constant."""
    _check_lengths(x, y)
    with _quiet_constant_input():
        return float(stats.kendalltau(x, y, variant="b").statistic)


def average_ranks(values: Sequence[float]) -> list[float]:
    """Ranks 1..n, ties sharing the mean of the ranks they span."""
    return [float(r) for r in stats.rankdata(values, method="average")]


def spearman_rho(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rho: the Pearson correlation of average ranks; NaN when either side is constant."""
    _check_lengths(x, y)
    with _quiet_constant_input():
        return float(stats.spearmanr(x, y).statistic)


def bootstrap_interval(
    statistic: Callable[[Sequence[float], Sequence[float]], float],
    x: Sequence[float],
    y: Sequence[float],
    *,
    resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over (x, y) pairs resampled with replacement, seeded.

    The pairs are resampled by ``scipy.stats.bootstrap`` (``paired=True``), but the percentiles are taken here over
    its bootstrap distribution with the NaN draws dropped: with few architectures, some resamples are constant on
    one side, their tau is NaN, and SciPy's own interval then comes out NaN for the whole set. (nan, nan) when fewer
    than two pairs are given or every draw is NaN.
    """
    _check_lengths(x, y)
    if len(x) < 2:
        return (float("nan"), float("nan"))
    with _quiet_constant_input(), warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)  # NaN draws: handled below
        result = stats.bootstrap(
            (np.asarray(x, dtype=float), np.asarray(y, dtype=float)),
            statistic,
            paired=True,
            vectorized=False,
            n_resamples=resamples,
            confidence_level=level,
            method="percentile",
            **{_RNG_KEYWORD: np.random.default_rng(seed)},
        )
    draws = np.asarray(result.bootstrap_distribution, dtype=float)
    draws = draws[~np.isnan(draws)]
    if draws.size == 0:
        return (float("nan"), float("nan"))
    alpha = (1 - level) / 2
    low, high = np.percentile(draws, [100 * alpha, 100 * (1 - alpha)])
    return (float(low), float(high))
