"""Reductions that any suite can use."""
from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Sequence

from ..types import ScoredItem
from .core import MetricValue, field_of, kept, reduction


def _values(items: Sequence[ScoredItem], field: str | None) -> list[float]:
    out = []
    for it in items:
        v = it.score.value if field is None else field_of(it, field)
        if v is not None:
            out.append(float(v))
    return out


@reduction("proportion")
def proportion(items: Sequence[ScoredItem], field: str | None = None, empty: float | None = None) -> MetricValue:
    """Share of kept items whose value (0 or 1) is 1: accuracy, refusal rate, agreement rate."""
    keep, dropped = kept(items)
    vals = _values(keep, field)
    value = sum(vals) / len(vals) if vals else empty
    return MetricValue(value, len(vals), dropped, kind="proportion", detail={"successes": sum(vals)})


@reduction("mean")
def mean(items: Sequence[ScoredItem], field: str | None = None) -> MetricValue:
    """Mean of kept items' values."""
    keep, dropped = kept(items)
    vals = _values(keep, field)
    return MetricValue(statistics.fmean(vals) if vals else None, len(vals), dropped)


@reduction("max")
def maximum(items: Sequence[ScoredItem], field: str | None = None) -> MetricValue:
    keep, dropped = kept(items)
    vals = _values(keep, field)
    return MetricValue(max(vals) if vals else None, len(vals), dropped)


@reduction("count")
def count(items: Sequence[ScoredItem], verdict: str = "violation") -> MetricValue:
    """How many items got ``verdict``."""
    return MetricValue(float(sum(it.score.verdict == verdict for it in items)), len(items), 0)


@reduction("group_mean")
def group_mean(
    items: Sequence[ScoredItem], by: str, field: str | None = None, round_groups: int | None = None,
    empty_group: float | None = None, groups: Sequence | None = None,
) -> MetricValue:
    """Mean over groups (``by``) of each group's mean value; ``round_groups`` rounds each group first.

    ``groups`` fixes the expected groups (a group with no kept item then counts as ``empty_group``,
    or is left out when that is None).
    """
    keep, dropped = kept(items)
    per: dict = defaultdict(list)
    for it in keep:
        v = it.score.value if field is None else field_of(it, field)
        if v is not None:
            per[field_of(it, by)].append(float(v))
    names = list(groups) if groups is not None else sorted(per, key=str)
    means = {}
    for g in names:
        vals = per.get(g, [])
        if vals:
            m = sum(vals) / len(vals)
        elif empty_group is not None:
            m = empty_group
        else:
            continue
        means[g] = round(m, round_groups) if round_groups is not None else m
    value = sum(means.values()) / len(means) if means else None
    n = sum(len(per[g]) for g in per)
    return MetricValue(value, n, dropped, detail={"groups": {str(k): v for k, v in means.items()}})


@reduction("ratio")
def ratio(items: Sequence[ScoredItem], numerator: str, denominator: str, empty: float | None = 0.0) -> MetricValue:
    """sum(data[numerator]) / sum(data[denominator]) over kept items (``empty`` when the sum is 0)."""
    keep, dropped = kept(items)
    num = sum(float(field_of(it, numerator) or 0) for it in keep)
    den = sum(float(field_of(it, denominator) or 0) for it in keep)
    return MetricValue(num / den if den else empty, len(keep), dropped, detail={"numerator": num, "denominator": den})


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
