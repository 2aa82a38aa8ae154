"""95% intervals for every metric: Wilson for proportions, a seeded bootstrap for everything else.

- ``kind == "proportion"`` (a share of 0/1 values, ``detail["successes"]`` of ``n``): the Wilson score
  interval from ``scipy.stats.binomtest(...).proportion_ci(method="wilson")``. A proportion whose spec
  sets ``group`` (items of a group are not independent) is bootstrapped over its groups instead.
- anything else (F1, Pearson, p-values, means, AdvGLUE rates, group means...) and every composite
  (``of``): a percentile bootstrap over *units* — the metric's ``group`` field, else the record group
  (``_group``: AdvGLUE pairs, AdvInstruction variants), else the item. A composite resamples the units
  of all the metrics it is built from jointly, re-runs each part on the resample, then re-runs the
  composite's own reduction on the parts' values.

Speed: a resample is a row of per-unit counts (one ``multinomial`` draw for all rows). The built-in
reductions have a vectorised twin below (``FAST``) that evaluates all rows at once; before a twin is
trusted it must reproduce the reduction's own value on the observed sample, otherwise (and for any
reduction without a twin) the registered reduction itself is re-run on each resampled item list.

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
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .metrics.core import REDUCTIONS, MetricSpec, MetricValue, field_of, matches
from .types import ScoredItem

CONFIDENCE = 0.95
RESAMPLES = 1000
_TOL = 1e-9


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


# ---- vectorised twins of the built-in reductions -------------------------------------------------
# fn(items, W, **args) -> array (rows of W) of raw values (before scale/round), NaN = undefined.
# W[b, i] is the weight (count) of item i in resample b.

FAST: dict[str, Callable[..., np.ndarray]] = {}


def _fast(name: str):
    def deco(fn):
        FAST[name] = fn
        return fn
    return deco


def _vals(items: Sequence[ScoredItem], field: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Kept items' values: (positions, values) of the items whose value is not None."""
    pos, vals = [], []
    for i, it in enumerate(items):
        if it.score.dropped:
            continue
        v = it.score.value if field is None else field_of(it, field)
        if v is not None:
            pos.append(i)
            vals.append(float(v))
    return np.array(pos, dtype=int), np.array(vals, dtype=float)


def _safe_div(num: np.ndarray, den: np.ndarray, empty: float | None) -> np.ndarray:
    out = np.full(num.shape, np.nan if empty is None else float(empty))
    ok = den != 0
    out[ok] = num[ok] / den[ok]
    return out


@_fast("proportion")
def _proportion(items, W, field=None, empty=None):
    pos, x = _vals(items, field)
    w = W[:, pos]
    return _safe_div(w @ x, w.sum(1), empty)


@_fast("mean")
def _mean(items, W, field=None):
    pos, x = _vals(items, field)
    w = W[:, pos]
    return _safe_div(w @ x, w.sum(1), None)


@_fast("max")
def _max(items, W, field=None):
    pos, x = _vals(items, field)
    if not len(pos):
        return np.full(W.shape[0], np.nan)
    m = np.where(W[:, pos] > 0, x, -np.inf).max(1)
    return np.where(np.isfinite(m), m, np.nan)


@_fast("count")
def _count(items, W, verdict="violation"):
    ind = np.array([it.score.verdict == verdict for it in items], dtype=float)
    return W @ ind if len(items) else np.zeros(W.shape[0])


@_fast("ratio")
def _ratio(items, W, numerator, denominator, empty=0.0):
    keep = [i for i, it in enumerate(items) if not it.score.dropped]
    num = np.array([float(field_of(items[i], numerator) or 0) for i in keep])
    den = np.array([float(field_of(items[i], denominator) or 0) for i in keep])
    w = W[:, keep]
    return _safe_div(w @ num, w @ den, empty) if keep else np.full(W.shape[0], np.nan if empty is None else empty)


def _round(a: np.ndarray, digits: int | None) -> np.ndarray:
    return a if digits is None else np.round(a, digits)


@_fast("group_mean")
def _group_mean(items, W, by, field=None, round_groups=None, empty_group=None, groups=None):
    pos, x = _vals(items, field)
    keys = [field_of(items[i], by) for i in pos]
    present = list(dict.fromkeys(keys))
    names = list(groups) if groups is not None else present
    total = np.zeros(W.shape[0])
    count = np.zeros(W.shape[0])
    for g in names:
        sel = np.array([k == g for k in keys], dtype=bool)
        if sel.any():
            w = W[:, pos[sel]]
            den = w.sum(1)
            m = _round(_safe_div(w @ x[sel], den, 0.0), round_groups)
            has = den > 0
        else:
            m, has = np.zeros(W.shape[0]), np.zeros(W.shape[0], dtype=bool)
        if groups is not None and empty_group is not None:
            e = round(float(empty_group), round_groups) if round_groups is not None else float(empty_group)
            m = np.where(has, m, e)
            has = np.ones(W.shape[0], dtype=bool)
        total += np.where(has, m, 0.0)
        count += has
    return _safe_div(total, count, None)


@_fast("group_ratio")
def _group_ratio(items, W, by, numerator, denominator, groups=None, round_groups=None, empty=0.0):
    keep = [i for i, it in enumerate(items) if not it.score.dropped]
    keys = [field_of(items[i], by) for i in keep]
    num = np.array([float(field_of(items[i], numerator) or 0) for i in keep])
    den = np.array([float(field_of(items[i], denominator) or 0) for i in keep])
    present = list(dict.fromkeys(keys))
    names = list(groups) if groups is not None else present
    total = np.zeros(W.shape[0])
    count = np.zeros(W.shape[0])
    for g in names:
        sel = np.array([k == g for k in keys], dtype=bool)
        if sel.any():
            w = W[:, np.array(keep)[sel]]
            v = _round(_safe_div(w @ num[sel], w @ den[sel], empty), round_groups)
            seen = w.sum(1) > 0
        else:
            v = np.full(W.shape[0], float(empty))
            seen = np.zeros(W.shape[0], dtype=bool)
        if groups is None:  # only the groups present in this resample count
            total += np.where(seen, v, 0.0)
            count += seen
        else:  # a fixed group with no item in this resample counts ``empty``, as in the reduction
            total += np.where(seen, v, _round(np.full(W.shape[0], float(empty)), round_groups))
            count += 1
    return _safe_div(total, count, None)


@_fast("f1_all_correct")
def _f1_all_correct(items, W, field=None):
    pos, x = _vals(items, field)
    w = W[:, pos]
    n, c = w.sum(1), w @ x
    out = np.full(W.shape[0], np.nan)
    ok = n > 0
    out[ok] = np.where(n[ok] + c[ok] > 0, 2 * c[ok] / np.maximum(n[ok] + c[ok], 1e-300), 0.0)
    return out


@_fast("pearson")
def _pearson(items, W, x, y):
    pos, xs, ys = [], [], []
    for i, it in enumerate(items):
        if it.score.dropped:
            continue
        a, b = field_of(it, x), field_of(it, y)
        if a is None or b is None:
            continue
        pos.append(i)
        xs.append(float(a))
        ys.append(float(b))
    if not pos:
        return np.full(W.shape[0], np.nan)
    xa, ya = np.array(xs), np.array(ys)
    w = W[:, pos]
    n = w.sum(1)
    out = np.full(W.shape[0], np.nan)
    ok = n >= 2
    if not ok.any():
        return out
    w, n = w[ok], n[ok]
    mx, my = (w @ xa) / n, (w @ ya) / n
    # centred moments per resample (no E[x^2]-E[x]^2 cancellation)
    dx = xa[None, :] - mx[:, None]
    dy = ya[None, :] - my[:, None]
    sxx = (w * dx * dx).sum(1) / n
    syy = (w * dy * dy).sum(1) / n
    sxy = (w * dx * dy).sum(1) / n
    scale_x = max(1.0, float(np.max(np.abs(xa)))) ** 2
    scale_y = max(1.0, float(np.max(np.abs(ya)))) ** 2
    good = (sxx > 1e-12 * scale_x) & (syy > 1e-12 * scale_y)
    r = np.full(len(n), np.nan)
    r[good] = sxy[good] / np.sqrt(sxx[good] * syy[good])
    out[ok] = r
    return out


@_fast("macro_f1")
def _macro_f1(items, W, pred="pred", gold="gold"):
    pos, golds, preds = [], [], []
    for i, it in enumerate(items):
        if it.score.dropped:
            continue
        g, p = field_of(it, gold), field_of(it, pred)
        if g is None or p is None:
            continue
        pos.append(i)
        golds.append(str(g))
        preds.append(str(p))
    if not pos:
        return np.full(W.shape[0], np.nan)
    w = W[:, pos]
    labels = sorted({*golds, *preds})
    ga, pa = np.array(golds), np.array(preds)
    f1_sum = np.zeros(W.shape[0])
    present = np.zeros(W.shape[0])
    for lab in labels:
        G, P = ga == lab, pa == lab
        tp = w @ (G & P)
        fp = w @ (~G & P)
        fn = w @ (G & ~P)
        here = (w @ (G | P)) > 0
        f1 = np.where(tp > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1e-300), 0.0)
        f1_sum += np.where(here, f1, 0.0)
        present += here
    return _safe_div(f1_sum, present, None)


def chi2_p_batch(tables: np.ndarray) -> np.ndarray:
    """p-values of ``scipy.stats.chi2_contingency`` (its defaults: Yates' correction when dof = 1) for
    a stack of R x C tables whose rows and columns all have counts (the reduction drops empty ones).
    The same statistic as scipy's, evaluated for all tables at once; ``chi2.sf`` gives the p-value."""
    from scipy.stats import chi2

    _, r, c = tables.shape
    dof = (r - 1) * (c - 1)
    expected = tables.sum(2, keepdims=True) * tables.sum(1, keepdims=True) / tables.sum((1, 2), keepdims=True)
    diff = tables - expected
    if dof == 1:
        diff = np.sign(diff) * np.maximum(np.abs(diff) - 0.5, 0.0)
    return chi2.sf((diff * diff / expected).sum((1, 2)), dof)


@_fast("chi2_p")
def _chi2_p(items, W, by, field="option"):
    from .metrics.classification import chi2_p_value

    pos, cells = [], []
    for i, it in enumerate(items):
        if it.score.dropped:
            continue
        a, o = field_of(it, by), field_of(it, field)
        if a is None or o is None:
            continue
        pos.append(i)
        cells.append((str(a), str(o)))
    out = np.full(W.shape[0], np.nan)
    if not pos:
        return out
    rows = sorted({a for a, _ in cells})
    cols = sorted({o for _, o in cells})
    onehot = np.zeros((len(pos), len(rows) * len(cols)))
    for k, (a, o) in enumerate(cells):
        onehot[k, rows.index(a) * len(cols) + cols.index(o)] = 1
    tables = (W[:, pos] @ onehot).reshape(W.shape[0], len(rows), len(cols))
    full = (tables.sum(2) > 0).all(1) & (tables.sum(1) > 0).all(1)
    if len(rows) >= 2 and len(cols) >= 2 and full.any():
        out[full] = chi2_p_batch(tables[full])
    for b in np.flatnonzero(~full):  # a category absent from this resample: the reduction's own way
        t = tables[b]
        t = t[t.sum(1) > 0][:, t.sum(0) > 0]
        p = chi2_p_value(t.astype(int).tolist())
        if p is not None:
            out[b] = p
    return out


@_fast("pair_proportion")
def _pair_proportion(items, W, by="pair", field=None):
    per: dict[Any, list[int]] = {}
    for i, it in enumerate(items):
        per.setdefault(field_of(it, by), []).append(i)
    cols, vals = [], []
    for members in per.values():
        live = [m for m in members if not items[m].score.dropped]
        if not live:
            continue
        v = items[live[0]].score.value if field is None else field_of(items[live[0]], field)
        if v is None:
            continue
        cols.append(live[0])
        vals.append(float(v))
    w = W[:, cols]
    return _safe_div(w @ np.array(vals), w.sum(1), None)


@_fast("advglue")
def _advglue(items, W, stat, round_tasks=None, tasks=None, task="task", index="index", kind="kind",
             correct="correct"):
    from .metrics.correlation import ADVGLUE_TASKS

    tasks = ADVGLUE_TASKS if tasks is None else tasks
    by_pair: dict[tuple[str, str], dict[str, tuple[bool, int]]] = {}
    for i, it in enumerate(items):
        if it.score.dropped:
            continue
        key = (str(field_of(it, task)), str(field_of(it, index)))
        by_pair.setdefault(key, {})[str(field_of(it, kind))] = (bool(field_of(it, correct)), i)
    per_task: dict[str, list[tuple[bool, bool, int]]] = {}
    for (t, _), p in by_pair.items():
        if "original" in p and "modified" in p:
            # a pair is one unit (the suite groups it); its weight is its original item's
            per_task.setdefault(t, []).append((p["original"][0], p["modified"][0], p["original"][1]))
    total = np.zeros(W.shape[0])
    for t in tasks:
        pairs = per_task.get(t, [])
        if not pairs:
            v = np.zeros(W.shape[0])
        else:
            w = W[:, [c for _, _, c in pairs]]
            o = np.array([a for a, _, _ in pairs], dtype=float)
            m = np.array([b for _, b, _ in pairs], dtype=float)
            n = w.sum(1)
            orig, mod, succ = w @ o, w @ m, w @ (o * (1 - m))
            v = {"acc": _safe_div(orig, n, 0.0), "adv_acc": _safe_div(mod, n, 0.0),
                 "asr": _safe_div(succ, orig, 0.0)}[stat]
        total += _round(v, round_tasks)
    return total / len(tasks) if tasks else np.full(W.shape[0], np.nan)


# ---- evaluating a metric on resamples --------------------------------------------------------------

def _finish_array(spec: MetricSpec, a: np.ndarray) -> np.ndarray:
    a = a * spec.scale
    return np.round(a, spec.round) if spec.round is not None else a


def _finish_value(spec: MetricSpec, v: float | None) -> float | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    v = v * spec.scale
    return round(v, spec.round) if spec.round is not None else v


def _same(a: float | None, b: float) -> bool:
    if a is None:
        return math.isnan(b)
    return not math.isnan(b) and abs(a - b) <= _TOL * max(1.0, abs(a))


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
        self._fast_ok: dict[str, bool] = {}

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
        fast = FAST.get(spec.reduce)
        if fast is not None and self._fast_ok.get(spec.name) is None:
            # trust the vectorised twin only where it reproduces the reduction on the observed sample
            try:
                ref = fn(sel, **dict(spec.args)).value
                got = float(fast(sel, np.ones((1, len(sel))), **dict(spec.args))[0])
                self._fast_ok[spec.name] = _same(None if ref is None else float(ref), got)
            except Exception:  # noqa: BLE001 - a twin that cannot run falls back to the reduction
                self._fast_ok[spec.name] = False
        if fast is not None and self._fast_ok.get(spec.name):
            return fast(sel, W, **dict(spec.args))
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
    _, x = _vals(sel, spec.args.get("field"))
    return bool(np.all((x == 0) | (x == 1)))


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
