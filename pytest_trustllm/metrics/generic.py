"""Reductions that any suite can use, written over item weights (``weights.py``): the same code gives
the point value and the bootstrap resamples."""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from pytest_trustllm.types import ScoredItem
from pytest_trustllm.metrics.core import MetricValue, field_of, reduction
from pytest_trustllm.metrics.weights import kept_positions, kept_values, rounded, safe_div, wcount, weighted_reduction, wsum

if TYPE_CHECKING:
    import numpy as np  # imported inside the functions: a plugin start does not pay for NumPy


@weighted_reduction("proportion")
def proportion(items: Sequence[ScoredItem], W: np.ndarray, field: str | None = None,
               empty: float | None = None) -> MetricValue:
    """Share of kept items whose value (0 or 1) is 1: accuracy, refusal rate, agreement rate."""
    import numpy as np
    pos, vals, dropped = kept_values(items, field)
    w = W[:, pos]
    value = safe_div(wsum(w, np.array(vals)), wcount(w), empty)
    return MetricValue(value, len(vals), dropped, kind="proportion", detail={"successes": sum(vals)})


@weighted_reduction("mean")
def mean(items: Sequence[ScoredItem], W: np.ndarray, field: str | None = None) -> MetricValue:
    """Mean of kept items' values."""
    import numpy as np
    pos, vals, dropped = kept_values(items, field)
    w = W[:, pos]
    return MetricValue(safe_div(wsum(w, np.array(vals), exact=True), wcount(w), None), len(vals), dropped)


@weighted_reduction("max")
def maximum(items: Sequence[ScoredItem], W: np.ndarray, field: str | None = None) -> MetricValue:
    import numpy as np
    pos, vals, dropped = kept_values(items, field)
    if not vals:
        return MetricValue(np.full(W.shape[0], np.nan), 0, dropped)
    m = np.where(W[:, pos] > 0, np.array(vals), -np.inf).max(1)
    return MetricValue(np.where(np.isfinite(m), m, np.nan), len(vals), dropped)


@weighted_reduction("count")
def count(items: Sequence[ScoredItem], W: np.ndarray, verdict: str = "violation") -> MetricValue:
    """How many items got ``verdict``."""
    import numpy as np
    return MetricValue(wsum(W, np.array([it.score.verdict == verdict for it in items], dtype=float)), len(items), 0)


def _group_names(keys: list, groups: Sequence | None) -> list:
    """The groups a per-group rule averages over: the fixed ``groups``, else those observed (sorted)."""
    return list(groups) if groups is not None else sorted(dict.fromkeys(keys), key=str)


@weighted_reduction("group_mean")
def group_mean(
    items: Sequence[ScoredItem], W: np.ndarray, by: str, field: str | None = None, round_groups: int | None = None,
    empty_group: float | None = None, groups: Sequence | None = None,
) -> MetricValue:
    """Mean over groups (``by``) of each group's mean value; ``round_groups`` rounds each group first.

    ``groups`` fixes the expected groups (a group with no kept item then counts as ``empty_group``,
    or is left out when that is None).
    """
    import numpy as np
    pos, vals, dropped = kept_values(items, field)
    x = np.array(vals)
    keys = [field_of(items[i], by) for i in pos]
    total, count_ = np.zeros(W.shape[0]), np.zeros(W.shape[0])
    detail = {}
    for g in _group_names(keys, groups):
        sel = np.array([k == g for k in keys], dtype=bool)
        w = W[:, pos[sel]]
        den = wcount(w)
        m = rounded(safe_div(wsum(w, x[sel]), den, 0.0), round_groups)
        has = den > 0
        if groups is not None and empty_group is not None:
            m = np.where(has, m, rounded(np.full(W.shape[0], float(empty_group)), round_groups))
            has = np.ones(W.shape[0], dtype=bool)
        if has[0]:
            detail[str(g)] = float(m[0])
        total += np.where(has, m, 0.0)
        count_ += has
    return MetricValue(safe_div(total, count_, None), len(vals), dropped, detail={"groups": detail})


def _sums(items: Sequence[ScoredItem], keep: list[int], numerator: str, denominator: str):
    import numpy as np
    num = np.array([float(field_of(items[i], numerator) or 0) for i in keep])
    den = np.array([float(field_of(items[i], denominator) or 0) for i in keep])
    return num, den


@weighted_reduction("ratio")
def ratio(items: Sequence[ScoredItem], W: np.ndarray, numerator: str, denominator: str,
          empty: float | None = 0.0) -> MetricValue:
    """sum(data[numerator]) / sum(data[denominator]) over kept items (``empty`` when the sum is 0)."""
    keep = kept_positions(items)
    num, den = _sums(items, keep, numerator, denominator)
    w = W[:, keep]
    return MetricValue(safe_div(wsum(w, num), wsum(w, den), empty), len(keep), len(items) - len(keep),
                       detail={"numerator": sum(num.tolist()), "denominator": sum(den.tolist())})


# Composite reductions receive the MetricValues named in the spec's ``of``.

@reduction("mean_of")
def mean_of(parts: Sequence[MetricValue], skip_missing: bool = False) -> MetricValue:
    """Unweighted mean of other metrics (TrustLLM's headline averages)."""
    vals = [p.value for p in parts]
    if any(v is None for v in vals):
        if not skip_missing:
            return MetricValue(None, sum(p.n for p in parts), sum(p.dropped for p in parts))
        vals = [v for v in vals if v is not None]
    return MetricValue(sum(vals) / len(vals) if vals else None, sum(p.n for p in parts), sum(p.dropped for p in parts))


@reduction("difference")
def difference(parts: Sequence[MetricValue]) -> MetricValue:
    """First minus second (e.g. AdvGLUE's RS = adv_acc - asr)."""
    a, b = parts
    v = None if a.value is None or b.value is None else a.value - b.value
    return MetricValue(v, max(a.n, b.n), max(a.dropped, b.dropped))
