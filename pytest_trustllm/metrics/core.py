"""The reduction registry and the driver that turns a suite's metric specs into values.

A reduction is a pure function ``fn(items, **args) -> MetricValue`` over the items a metric's
``where`` filter selects. It must count the items its rule drops (``MetricValue.dropped``). The built-in
ones are written over item weights (``weights.weighted_reduction``), so the same function serves the
bootstrap intervals; one registered with ``reduction`` is re-run on each resample.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Sequence

from pytest_trustllm.registry import Registry
from pytest_trustllm.types import ScoredItem

Reduction = Callable[..., "MetricValue"]
# The built-in reductions register with ``@reduction``; the registry imports their modules before its first lookup.
REDUCTIONS: Registry[Reduction] = Registry("reduction", builtins=(
    "pytest_trustllm.metrics.generic", "pytest_trustllm.metrics.classification", "pytest_trustllm.metrics.correlation"))


def reduction(name: str):
    """Register a reduction under ``name`` (decorator)."""
    return REDUCTIONS.register(name)


@dataclass(frozen=True)
class MetricValue:
    value: float | None
    n: int
    dropped: int = 0
    # How the value is built, for the interval code: "proportion" (a share of 0/1 values: Wilson)
    # or "statistic" (anything else: bootstrap over items or groups).
    kind: str = "statistic"
    detail: Mapping[str, Any] = field(default_factory=dict)
    interval: tuple[float, float] | None = None


@dataclass(frozen=True)
class MetricSpec:
    name: str
    reduce: str
    direction: str = "higher"  # "higher" | "lower" | "none" (no better side, e.g. a raw count)
    where: Mapping[str, Any] = field(default_factory=dict)
    args: Mapping[str, Any] = field(default_factory=dict)
    of: tuple[str, ...] = ()  # for composite reductions over other metrics
    scale: float = 1.0
    round: int | None = None
    description: str = ""
    group: str | None = None  # resampling unit for intervals (a record field), e.g. a pair id


def field_of(item: ScoredItem, name: str, default: Any = None) -> Any:
    """A value from the score's data, else from the record fields."""
    if name in item.score.data:
        return item.score.data[name]
    return item.fields.get(name, default)


def match_value(actual: Any, expected: Any) -> bool:
    if isinstance(expected, Mapping) and set(expected) == {"not"}:
        return not match_value(actual, expected["not"])
    if isinstance(expected, (list, tuple)):
        return any(match_value(actual, e) for e in expected)
    return actual == expected


def matches(item: ScoredItem, where: Mapping[str, Any]) -> bool:
    return all(match_value(field_of(item, k), v) for k, v in where.items())


def kept(items: Sequence[ScoredItem]) -> tuple[list[ScoredItem], int]:
    """The items a rule did not drop, and how many it dropped."""
    keep = [it for it in items if not it.score.dropped]
    return keep, len(items) - len(keep)


def _finish(spec: MetricSpec, mv: MetricValue) -> MetricValue:
    v = mv.value
    if v is not None and (isinstance(v, float) and math.isnan(v)):
        v = None
    if v is not None:
        v = v * spec.scale
        if spec.round is not None:
            v = round(v, spec.round)
    return replace(mv, value=v)


def compute_one(spec: MetricSpec, items: Sequence[ScoredItem], done: Mapping[str, MetricValue]) -> MetricValue:
    fn = REDUCTIONS.get(spec.reduce)
    if spec.of:
        return _finish(spec, fn([done[name] for name in spec.of], **dict(spec.args)))
    selected = [it for it in items if matches(it, spec.where)] if spec.where else list(items)
    return _finish(spec, fn(selected, **dict(spec.args)))


def compute_metrics(specs: Sequence[MetricSpec], items: Sequence[ScoredItem]) -> dict[str, MetricValue]:
    """All metrics of a suite, composites after the metrics they are built from."""
    done: dict[str, MetricValue] = {}
    pending = list(specs)
    while pending:
        progressed = False
        for spec in list(pending):
            if all(name in done for name in spec.of):
                done[spec.name] = compute_one(spec, items, done)
                pending.remove(spec)
                progressed = True
        if not progressed:  # the loader rejects cycles and unknown names; this is a guard
            raise ValueError(f"metrics {[s.name for s in pending]} refer to unknown or cyclic metrics")
    return {spec.name: done[spec.name] for spec in specs}
