"""95% intervals for every metric: Wilson for proportions, a seeded bootstrap for everything else.

- ``kind == "proportion"`` (a share of 0/1 values, ``detail["successes"]`` of ``n``): the Wilson score
  interval from ``scipy.stats.binomtest(...).proportion_ci(method="wilson")``. A proportion whose spec
  sets ``group`` (items of a group are not independent) is bootstrapped over its groups instead.
- anything else (F1, Pearson, p-values, means, AdvGLUE rates, group means...) and every composite
  (``of``): a percentile bootstrap over *units* — the metric's ``group`` field, else the record group
  (``_group``: AdvGLUE pairs, AdvInstruction variants), else the item. A composite resamples the units
  of all the metrics it is built from jointly, re-runs each part on the resample, then re-runs the
  composite's own reduction on the parts' values.

Speed: a resample is a row of per-unit counts (one draw for all rows). The built-in reductions are
written over item weights (``metrics/weights.py``): the function that gives the point value on the
observed sample evaluates all resample rows at once, so each rule exists once. A reduction registered
without weights (a plugin's own) is re-run on each resampled item list.

Why not ``scipy.stats.bootstrap``: it resamples observations, not clusters of them, and one
undefined resample (a Pearson r with no spread, a chi-square test with one row) makes its whole
interval NaN. Resamples where the statistic is undefined are left out here and counted in
``detail["ci"]["undefined"]``. Same seed, same items in the same order -> the same interval, so a
merge of shards reproduces a single run bit for bit.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import replace
from typing import Any, Mapping, Sequence

import numpy as np

from pytest_trustllm.metrics.core import REDUCTIONS, MetricSpec, MetricValue, field_of, matches
from pytest_trustllm.metrics.weights import kept_values
from pytest_trustllm.types import ScoredItem

CONFIDENCE = 0.95
RESAMPLES = 1000


# ---- Wilson ------------------------------------------------------------------------------------

def wilson(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Wilson score interval for ``successes`` of ``n`` (None when n == 0).

    >>> [round(x, 4) for x in wilson(8, 10)]
    [0.4902, 0.9433]
    """
    if n <= 0:
        return None
    from scipy.stats import binomtest

    ci = binomtest(int(successes), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


# ---- units and resamples -----------------------------------------------------------------------

def unit_key(item: ScoredItem, group: str | None = None) -> tuple[str, str]:
    """The resampling unit of an item: the spec's ``group`` field, else the item's cluster (its
    repeats under --trust-repeats), else the record group, else itself."""
    if group:
        v = field_of(item, group)
        if v is not None:
            return ("group", f"{group}={v}")
    c = item.fields.get("_cluster")
    if c is not None:
        return ("cluster", str(c))
    g = item.fields.get("_group")
    if g is not None:
        return ("group", str(g))
    return ("item", item.id)


class Units:
    """Units in order of first appearance (deterministic) and each item's unit column."""

    def __init__(self) -> None:
        self.index: dict[tuple[str, str], int] = {}

    def column(self, key: tuple[str, str]) -> int:
        if key not in self.index:
            self.index[key] = len(self.index)
        return self.index[key]

    def __len__(self) -> int:
        return len(self.index)


def metric_seed(seed: int, name: str) -> np.random.Generator:
    """One generator per metric, from the run's seed and the metric's name (order-independent)."""
    h = int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:4], "big")
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, h])


def resample_counts(rng: np.random.Generator, units: int, resamples: int = RESAMPLES) -> np.ndarray:
    """``resamples`` x ``units`` counts: how often each unit is drawn in each bootstrap resample."""
    if units == 0:
        return np.zeros((resamples, 0))
    # draws with replacement, counted per row (10x faster than rng.multinomial for these sizes)
    draws = rng.integers(0, units, size=(resamples, units)) + units * np.arange(resamples)[:, None]
    return np.bincount(draws.ravel(), minlength=resamples * units).reshape(resamples, units).astype(float)


# ---- evaluating a metric on resamples --------------------------------------------------------------

def _finish_array(spec: MetricSpec, a: np.ndarray) -> np.ndarray:
    a = a * spec.scale
    return np.round(a, spec.round) if spec.round is not None else a


def _finish_value(spec: MetricSpec, v: float | None) -> float | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    v = v * spec.scale
    return round(v, spec.round) if spec.round is not None else v


def _expand(items: Sequence[ScoredItem], weights: np.ndarray) -> list[ScoredItem]:
    """The resampled item list: each item as often as its unit was drawn. Copies get their own id
    and group key so a unit drawn twice counts twice (not merged into one by id or group)."""
    out: list[ScoredItem] = []
    for it, w in zip(items, weights):
        for k in range(int(w)):
            if k == 0:
                out.append(it)
            else:
                fields = dict(it.fields)
                if fields.get("_group") is not None:
                    fields["_group"] = f"{fields['_group']}#{k}"
                out.append(ScoredItem(f"{it.id}#{k}", fields, it.score))
    return out


class Evaluator:
    """Evaluates metrics of one suite on rows of unit weights (joint resamples)."""

    def __init__(self, specs: Sequence[MetricSpec], items: Sequence[ScoredItem]) -> None:
        self.by_name = {s.name: s for s in specs}
        self.items = list(items)
        self._selected: dict[str, list[int]] = {}

    def selected(self, spec: MetricSpec) -> list[int]:
        if spec.name not in self._selected:
            self._selected[spec.name] = [i for i, it in enumerate(self.items) if matches(it, spec.where)]
        return self._selected[spec.name]

    def leaves(self, spec: MetricSpec) -> list[MetricSpec]:
        if not spec.of:
            return [spec]
        out: list[MetricSpec] = []
        for name in spec.of:
            for leaf in self.leaves(self.by_name[name]):
                if leaf not in out:
                    out.append(leaf)
        return out

    def item_positions(self, spec: MetricSpec) -> list[int]:
        """Positions (in ``items``) of every item the metric, or its parts, is built on."""
        pos: list[int] = []
        for leaf in self.leaves(spec):
            pos.extend(self.selected(leaf))
        return sorted(set(pos))

    def _leaf_raw(self, spec: MetricSpec, sel: list[ScoredItem], W: np.ndarray) -> np.ndarray:
        fn = REDUCTIONS.get(spec.reduce)
        weighted = getattr(fn, "weighted", None)
        if weighted is not None:  # the reduction itself, on every row at once
            return weighted(sel, W, **dict(spec.args)).value
        out = np.full(W.shape[0], np.nan)
        for b in range(W.shape[0]):
            v = fn(_expand(sel, W[b]), **dict(spec.args)).value
            if v is not None:
                out[b] = float(v)
        return out

    def values(self, spec: MetricSpec, W: np.ndarray, unit_cols: Sequence[int],
               memo: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """The metric's finished value (scale, round) for each row of unit weights ``W``;
        ``unit_cols[i]`` is item i's column in ``W`` (-1: not in this resampling)."""
        memo = {} if memo is None else memo
        if spec.name in memo:
            return memo[spec.name]
        if spec.of:
            parts = [self.values(self.by_name[n], W, unit_cols, memo) for n in spec.of]
            fn = REDUCTIONS.get(spec.reduce)
            n_parts = [self.by_name[n] for n in spec.of]
            out = np.full(W.shape[0], np.nan)
            for b in range(W.shape[0]):
                mvs = [MetricValue(None if math.isnan(p[b]) else float(p[b]), len(self.selected(s)), 0,
                                   kind=_kind_of(s))
                       for p, s in zip(parts, n_parts)]
                v = _finish_value(spec, fn(mvs, **dict(spec.args)).value)
                if v is not None:
                    out[b] = v
        else:
            pos = self.selected(spec)
            sel = [self.items[i] for i in pos]
            cols = [unit_cols[i] for i in pos]
            item_w = W[:, cols] if sel else np.zeros((W.shape[0], 0))
            out = _finish_array(spec, self._leaf_raw(spec, sel, item_w))
        memo[spec.name] = out
        return out


def _kind_of(spec: MetricSpec) -> str:
    return "proportion" if spec.reduce in ("proportion", "pair_proportion") else "statistic"


def bootstrap_interval(evaluator: Evaluator, spec: MetricSpec, seed: int, resamples: int = RESAMPLES,
                       confidence: float = CONFIDENCE) -> tuple[tuple[float, float] | None, dict[str, Any]]:
    """Percentile bootstrap interval of one metric over its units (jointly over a composite's parts)."""
    positions = evaluator.item_positions(spec)
    units = Units()
    unit_cols = [-1] * len(evaluator.items)
    for i in positions:
        unit_cols[i] = units.column(unit_key(evaluator.items[i], spec.group))
    info: dict[str, Any] = {"method": "bootstrap", "resamples": resamples, "units": len(units),
                            "unit": _unit_label(evaluator, spec, positions)}
    if len(units) < 2:
        return None, {**info, "note": "fewer than 2 resampling units"}
    W = resample_counts(metric_seed(seed, spec.name), len(units), resamples)
    vals = evaluator.values(spec, W, unit_cols)
    ok = vals[~np.isnan(vals)]
    info["undefined"] = int(resamples - len(ok))
    if len(ok) < resamples / 2:
        return None, {**info, "note": "the metric is undefined on most resamples"}
    a = (1 - confidence) / 2
    lo, hi = np.percentile(ok, [100 * a, 100 * (1 - a)])
    return (float(lo), float(hi)), info


def _unit_label(evaluator: Evaluator, spec: MetricSpec, positions: Sequence[int]) -> str:
    if spec.group:
        return f"group {spec.group}"
    if any(evaluator.items[i].fields.get("_group") is not None for i in positions):
        return "record group"
    return "item"


def proportion_interval(spec: MetricSpec, mv: MetricValue,
                        confidence: float = CONFIDENCE) -> tuple[tuple[float, float] | None, dict[str, Any]] | None:
    """Wilson for a proportion of ``successes`` in ``n``; None when the numbers are not counts."""
    succ = mv.detail.get("successes") if mv.detail else None
    if succ is None:
        if mv.value is None or not spec.scale:
            return None
        succ = mv.value / spec.scale * mv.n
    if abs(succ - round(succ)) > 1e-6 or not 0 <= round(succ) <= mv.n:
        return None
    info = {"method": "wilson", "successes": int(round(succ)), "n": mv.n}
    ci = wilson(int(round(succ)), mv.n, confidence)
    if ci is None:
        return None, {**info, "note": "no items"}
    lo, hi = sorted((ci[0] * spec.scale, ci[1] * spec.scale))
    return (lo, hi), info


def _zero_one(spec: MetricSpec, evaluator: Evaluator) -> bool:
    """The generic ``proportion`` reduction is a share only when its values are 0 or 1."""
    if spec.reduce != "proportion":
        return True  # the reduction declared kind="proportion": a share of 0/1 values by contract
    sel = [evaluator.items[i] for i in evaluator.selected(spec)]
    _, x, _ = kept_values(sel, spec.args.get("field"))
    return all(v in (0.0, 1.0) for v in x)


def add_intervals(specs: Sequence[MetricSpec], items: Sequence[ScoredItem], values: Mapping[str, MetricValue],
                  seed: int = 0, resamples: int = RESAMPLES, confidence: float = CONFIDENCE) -> dict[str, MetricValue]:
    """``values`` with ``interval`` filled (None where no interval exists: no value, or too few units);
    ``detail["ci"]`` says how each interval was made."""
    evaluator = Evaluator(specs, items)
    clustered = any("_cluster" in it.fields for it in items)  # repeats are not independent: bootstrap
    out: dict[str, MetricValue] = {}
    for spec in specs:
        mv = values[spec.name]
        if mv.value is None:
            out[spec.name] = mv
            continue
        result = None
        if (mv.kind == "proportion" and not spec.of and not spec.group and not clustered
                and _zero_one(spec, evaluator)):
            result = proportion_interval(spec, mv, confidence)
        if result is None:
            result = bootstrap_interval(evaluator, spec, seed, resamples, confidence)
        interval, info = result
        out[spec.name] = replace(mv, interval=interval, detail={**dict(mv.detail or {}), "ci": info})
    return out
