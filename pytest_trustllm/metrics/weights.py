"""Reductions over item weights: one definition gives the point value and every bootstrap resample.

A weighted reduction is ``fn(items, W, **args) -> MetricValue`` whose ``value`` is an array with one
entry per row of ``W`` (NaN: undefined). ``W[b, i]`` is how often item ``i`` is in sample ``b``: the
observed sample is the single row of ones, a bootstrap resample a row of draw counts, so the point
value and the intervals run the same rule. ``n`` and ``dropped`` count the items passed in; ``detail``
describes the first row (the observed sample, when the point value is asked for).

The primitives below evaluate a sum or a rounding in two ways, so that values stay what they were: the
observed sample (one row) is summed in item order with Python's ``sum`` (``math.fsum`` for a mean, as
``statistics.fmean``) and rounded with Python's ``round``; many rows use a matrix product and ``np.round``.
"""
from __future__ import annotations

import inspect
import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable, Sequence

from pytest_trustllm.types import ScoredItem
from pytest_trustllm.metrics.core import MetricValue, field_of, reduction

if TYPE_CHECKING:
    import numpy as np  # imported inside the functions: a plugin start does not pay for NumPy


def observed(n: int) -> np.ndarray:
    """The weights of the observed sample: every item once."""
    import numpy as np
    return np.ones((1, n))


def wsum(W: np.ndarray, x: np.ndarray, exact: bool = False) -> np.ndarray:
    """Per row of ``W``, the weighted sum of ``x`` (a column per item, or a row per sample).

    The observed sample is summed in item order (``sum``), or correctly rounded (``math.fsum``) with
    ``exact``; resamples by a matrix product."""
    import numpy as np
    if W.shape[0] == 1:
        terms = (W[0] * (x if x.ndim == 1 else x[0])).tolist()
        return np.array([math.fsum(terms) if exact else sum(terms)])
    return W @ x if x.ndim == 1 else (W * x).sum(1)


def wcount(W: np.ndarray) -> np.ndarray:
    """Per row, how many items the sample holds."""
    import numpy as np
    return wsum(W, np.ones(W.shape[1]))


def rounded(a: np.ndarray, digits: int | None) -> np.ndarray:
    import numpy as np
    if digits is None:
        return a
    if a.shape == (1,):
        return np.array([a[0] if math.isnan(a[0]) else round(float(a[0]), digits)])
    return np.round(a, digits)


def safe_div(num: np.ndarray, den: np.ndarray, empty: float | None) -> np.ndarray:
    """``num / den`` per row; ``empty`` (None: undefined, NaN) where ``den`` is 0."""
    import numpy as np
    out = np.full(num.shape, np.nan if empty is None else float(empty))
    ok = den != 0
    out[ok] = num[ok] / den[ok]
    return out


def kept_values(items: Sequence[ScoredItem], field: str | None) -> tuple[np.ndarray, list[float], int]:
    """(positions, values, dropped) of the kept items whose value (the score's, or ``field``) is not None."""
    import numpy as np
    pos: list[int] = []
    vals: list[float] = []
    dropped = 0
    for i, it in enumerate(items):
        if it.score.dropped:
            dropped += 1
            continue
        v = it.score.value if field is None else field_of(it, field)
        if v is not None:
            pos.append(i)
            vals.append(float(v))
    return np.array(pos, dtype=int), vals, dropped


def kept_pairs(items: Sequence[ScoredItem], first: str, second: str) -> tuple[list[int], list, list, int]:
    """(positions, first values, second values, dropped) of the kept items where both fields are set;
    ``dropped`` counts the items the scorer dropped (not those with a field missing)."""
    pos: list[int] = []
    firsts: list = []
    seconds: list = []
    dropped = 0
    for i, it in enumerate(items):
        if it.score.dropped:
            dropped += 1
            continue
        a, b = field_of(it, first), field_of(it, second)
        if a is not None and b is not None:
            pos.append(i)
            firsts.append(a)
            seconds.append(b)
    return pos, firsts, seconds, dropped


def kept_positions(items: Sequence[ScoredItem]) -> list[int]:
    return [i for i, it in enumerate(items) if not it.score.dropped]


def weighted_reduction(name: str):
    """Register ``fn(items, W, **args)`` as the reduction ``name``.

    The registered callable is the familiar ``reduction(items, **args) -> MetricValue`` (the value at
    the observed sample, None when undefined); ``.weighted`` is ``fn`` itself, which the intervals
    evaluate on all resamples at once."""
    def deco(fn: Callable[..., MetricValue]) -> Callable[..., MetricValue]:
        def point(items: Sequence[ScoredItem], **args: Any) -> MetricValue:
            mv = fn(items, observed(len(items)), **args)
            v = float(mv.value[0])
            return replace(mv, value=None if math.isnan(v) else v)

        sig = inspect.signature(fn)
        params = list(sig.parameters.values())
        point.__signature__ = sig.replace(parameters=[params[0], *params[2:]])  # what a suite's args may name
        point.__name__, point.__qualname__, point.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
        point.__module__ = fn.__module__
        point.weighted = fn  # type: ignore[attr-defined]
        return reduction(name)(point)

    return deco
