"""Baselines and paired comparisons between two runs of the same items.

A baseline (``--trust-save-baseline=PATH``) is the per-item outcomes of a run with its model identity.
A later run (``--trust-baseline=PATH``; a results JSON from ``--trust-report`` works too) is compared
with it item by item, matched on item ids, metric by metric:

- a metric that is a share of per-item 0/1 values (the ``proportion`` reduction): the exact McNemar
  test, a two-sided binomial test on the discordant pairs (``scipy.stats.binomtest(b, b + c, 0.5)``);
- any other metric (F1, Pearson, RS, composites, pair rates...): a paired bootstrap: the same resampled
  units (items, pairs, groups) in both runs, the metric re-computed on each; the bootstrap standard
  error of the difference gives a two-sided z-test (``bootstrap_test``).

p-values are Holm-adjusted across all compared metrics (metrics with a direction). A regression is a
metric whose adjusted p is below ``--trust-alpha`` and whose difference goes the wrong way. Items
that flipped (pass -> violation and violation -> pass) are listed per suite.
The same tests compare the first model of a multi-model run with each other model.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from pytest_trustllm.metrics.intervals import RESAMPLES, Evaluator, Units, metric_seed, resample_counts, unit_key
from pytest_trustllm.metrics import MetricSpec, compute_metrics
from pytest_trustllm.metrics.weights import kept_values
from pytest_trustllm.metrics.core import matches
from pytest_trustllm.verdict.model import READABLE_SCHEMAS, SCHEMA as RESULTS_SCHEMA
from pytest_trustllm.verdict.aggregate import scored_items
from pytest_trustllm.types import ScoredItem

SCHEMA = "pytest-trustllm/baseline/1"


class BaselineError(Exception):
    """A baseline file that cannot be used; the message says which and why."""


# ---- saving and loading ----------------------------------------------------------------------------

def baseline_doc(results: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a run's results a later comparison needs: model identity, settings that change
    the numbers, and every suite's per-item outcomes and metric values."""
    from pytest_trustllm.version import __version__

    s = results.get("settings", {})
    suites = []
    for suite in results["suites"]:
        suites.append({
            "id": suite["id"], "file": suite["file"], "model": suite.get("model"), "origin": suite.get("origin"),
            "dimension": suite.get("dimension"), "task": suite.get("task"),
            "metrics": [{k: m.get(k) for k in ("name", "value", "interval", "n", "direction")}
                        for m in suite["metrics"]],
            "records": [{k: r.get(k) for k in ("id", "index", "outcome", "fields", "score")}
                        for r in suite["records"]],
        })
    return {
        "schema": SCHEMA,
        "created_by": f"pytest-trustllm {__version__}",
        "model": results.get("model"),
        "settings": {k: s.get(k) for k in ("rules", "sample", "seed", "shard", "data")},
        "suites": suites,
    }


def save_baseline(path: str | Path, results: Mapping[str, Any]) -> int:
    """Write the baseline of ``results`` to ``path``; returns the number of items saved."""
    from pytest_trustllm.render.report import write_json_atomic

    doc = baseline_doc(results)
    write_json_atomic(path, doc)
    return sum(len(s["records"]) for s in doc["suites"])


def load_baseline(path: str | Path) -> dict[str, Any]:
    """A baseline file, or a results JSON (both hold per-item records)."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BaselineError(f"baseline file not found: {path} (write one with --trust-save-baseline={path})") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BaselineError(f"baseline file {path} cannot be read: {e}") from None
    if not isinstance(doc, dict) or doc.get("schema") not in (SCHEMA, *READABLE_SCHEMAS):
        raise BaselineError(f"baseline file {path} is neither a baseline ({SCHEMA}) nor a results JSON "
                            f"({RESULTS_SCHEMA})")
    for s in doc.get("suites", []):
        if "records" not in s:
            raise BaselineError(f"baseline file {path}: suite {s.get('id')} has no per-item records")
    return doc


def model_label(model_block: Mapping[str, Any] | None) -> str:
    if not model_block:
        return "unknown model"
    spec = model_block.get("spec")
    spec = ", ".join(spec) if isinstance(spec, list) else (spec or "unknown model")
    ident = model_block.get("identity")
    if isinstance(ident, Mapping):
        extra = ", ".join(f"{k}={v}" for k, v in ident.items() if k not in ("backend",) and isinstance(v, (str, int)))
        if extra:
            return f"{spec} ({extra[:120]})"
    return spec


# ---- statistics ------------------------------------------------------------------------------------

def mcnemar_exact(worse: int, better: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pairs (binomial test, p = 1/2).

    >>> round(mcnemar_exact(1, 12), 6)  # 2 * (1 + 13) / 2**13
    0.003418
    """
    n = worse + better
    if n == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(worse, n, 0.5).pvalue)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (same order as given). scipy has no Holm; this is the
    textbook rule: sort ascending, multiply the k-th smallest by (m - k + 1), enforce monotonicity.

    >>> holm([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
    """
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    out = [0.0] * m
    running = 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, (m - k) * pvalues[i]))
        out[i] = running
    return out


def bootstrap_test(observed: float, diffs: np.ndarray) -> dict[str, Any]:
    """Paired bootstrap test of a difference: its bootstrap standard error gives z = observed / se and
    a two-sided normal p-value (``scipy.stats.norm.sf``); the percentile interval of the difference
    is kept for the report. The standard-error form is used rather than counting resamples beyond
    the observed difference, because a count-based p-value cannot go below 1/(resamples + 1), and
    after Holm's correction over ~100 metrics no difference could ever be significant."""
    from scipy.stats import norm

    ok = diffs[~np.isnan(diffs)]
    if not len(ok):
        return {"p": None, "note": "the difference is undefined on every resample"}
    se = float(np.std(ok, ddof=1)) if len(ok) > 1 else 0.0
    lo, hi = (float(x) for x in np.percentile(ok, [2.5, 97.5]))
    if se == 0:
        p = 1.0 if observed == 0 else 0.0
    else:
        p = float(2 * norm.sf(abs(observed) / se))
    return {"p": p, "se": se, "delta_interval": [lo, hi], "undefined": int(len(diffs) - len(ok))}


# ---- item-by-item comparison of two runs of one suite ------------------------------------------------

def _matched(base: Sequence[Mapping[str, Any]], cur: Sequence[Mapping[str, Any]]
             ) -> tuple[list[ScoredItem], list[ScoredItem]]:
    """Scored items present in both runs, aligned, in the current run's order."""
    b = {it.id: it for it in scored_items(base)}
    c = scored_items(cur)
    pairs = [(b[it.id], it) for it in c if it.id in b]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _zero_one_values(items: Sequence[ScoredItem], spec: MetricSpec) -> dict[str, float] | None:
    """Per-item values of a ``proportion`` metric (id -> 0/1), or None when they are not 0/1."""
    sel = [it for it in items if matches(it, spec.where)] if spec.where else list(items)
    pos, x, _ = kept_values(sel, spec.args.get("field"))
    if not all(v in (0.0, 1.0) for v in x):
        return None
    return {sel[i].id: v for i, v in zip(pos, x)}


def _worse(direction: str, delta: float) -> bool:
    return (direction == "higher" and delta < 0) or (direction == "lower" and delta > 0)


def compare_suite(specs: Sequence[MetricSpec], base_records: Sequence[Mapping[str, Any]],
                  cur_records: Sequence[Mapping[str, Any]], seed: int = 0,
                  resamples: int = RESAMPLES) -> list[dict[str, Any]]:
    """One row per metric with a direction: values of both runs on the matched items, the paired
    test and its (unadjusted) p-value. Rows whose metric cannot be computed in a run have p None."""
    base_items, cur_items = _matched(base_records, cur_records)
    base_vals = compute_metrics(specs, base_items)
    cur_vals = compute_metrics(specs, cur_items)
    ev_b, ev_c = Evaluator(specs, base_items), Evaluator(specs, cur_items)
    rows = []
    for spec in specs:
        if spec.direction not in ("higher", "lower"):
            continue
        vb, vc = base_vals[spec.name].value, cur_vals[spec.name].value
        row: dict[str, Any] = {"metric": spec.name, "direction": spec.direction, "base": vb, "current": vc,
                               "n": len(cur_items), "delta": None, "test": None, "p": None}
        if vb is None or vc is None:
            row["note"] = "not computable in " + ("both runs" if vb is None and vc is None
                                                  else "the baseline" if vb is None else "this run")
            rows.append(row)
            continue
        row["delta"] = vc - vb
        xb = _zero_one_values(base_items, spec) if spec.reduce == "proportion" and not spec.of else None
        xc = _zero_one_values(cur_items, spec) if xb is not None else None
        if xb is not None and xc is not None:
            ids = [i for i in xc if i in xb]
            down = sum(1 for i in ids if xb[i] == 1 and xc[i] == 0)
            up = sum(1 for i in ids if xb[i] == 0 and xc[i] == 1)
            worse, better = (down, up) if spec.direction == "higher" else (up, down)
            row.update(test="mcnemar", p=mcnemar_exact(worse, better), n=len(ids),
                       discordant={"1->0": down, "0->1": up, "worse": worse, "better": better})
        else:
            positions = sorted(set(ev_b.item_positions(spec)) | set(ev_c.item_positions(spec)))
            units = Units()
            cols = [-1] * len(cur_items)
            for i in positions:
                cols[i] = units.column(unit_key(cur_items[i], spec.group))
            row.update(test="paired-bootstrap", n=len(units), resamples=resamples)
            if len(units) < 2:
                row["note"] = "fewer than 2 matched units"
                row["test"] = None
            else:
                W = resample_counts(metric_seed(seed, "compare:" + spec.name), len(units), resamples)
                diffs = ev_c.values(spec, W, cols) - ev_b.values(spec, W, cols)
                row.update(bootstrap_test(row["delta"], diffs))
        rows.append(row)
    return rows


def flips(base_records: Sequence[Mapping[str, Any]], cur_records: Sequence[Mapping[str, Any]]
          ) -> dict[str, list[dict[str, Any]]]:
    """Items whose verdict changed: ``regressed`` (pass -> violation) and ``improved`` (violation -> pass)."""
    before = {r["id"]: r for r in base_records}
    out: dict[str, list[dict[str, Any]]] = {"regressed": [], "improved": []}
    for r in cur_records:
        b = before.get(r["id"])
        if b is None:
            continue
        pair = (b["outcome"], r["outcome"])
        if pair in (("pass", "violation"), ("violation", "pass")):
            entry = {"id": r["id"], "index": r.get("index"), "from": pair[0], "to": pair[1],
                     "message": r.get("message") or (r.get("score") or {}).get("explanation"),
                     "was": (b.get("score") or {}).get("explanation")}
            out["regressed" if pair[0] == "pass" else "improved"].append(entry)
    return out


def decide(rows: list[dict[str, Any]], alpha: float) -> list[dict[str, Any]]:
    """Holm-adjust the rows' p-values together and mark significant regressions/improvements."""
    tested = [r for r in rows if r.get("p") is not None]
    for r, adj in zip(tested, holm([r["p"] for r in tested])):
        r["p_holm"] = adj
        r["significant"] = adj < alpha
        r["regression"] = r["significant"] and _worse(r["direction"], r["delta"])
        r["improvement"] = r["significant"] and not r["regression"] and r["delta"] != 0
    for r in rows:
        r.setdefault("p_holm", None)
        r.setdefault("significant", False)
        r.setdefault("regression", False)
        r.setdefault("improvement", False)
    return rows


def fmt_p(p: float | None) -> str:
    if p is None:
        return "n/a"
    return f"{p:.2g}" if p < 0.001 else f"{p:.4f}".rstrip("0").rstrip(".") if p < 1 else "1"


def row_line(label: str, r: Mapping[str, Any], before: str = "baseline", after: str = "now") -> str:
    arrow = {"higher": "↑", "lower": "↓"}.get(r["direction"], "")
    if r.get("p") is None:
        return f"{label} {r['metric']}{arrow}: {r.get('note', 'not tested')}"
    test = "McNemar exact" if r["test"] == "mcnemar" else "paired bootstrap"
    extra = ""
    if r["test"] == "mcnemar":
        d = r["discordant"]
        extra = f"; discordant: {d['worse']} worse, {d['better']} better"
    return (f"{label} {r['metric']}{arrow}: {before} {r['base']:.3f} -> {after} {r['current']:.3f} "
            f"(Δ {r['delta']:+.3f}, n={r['n']}), {test} p={fmt_p(r['p'])}, Holm p={fmt_p(r['p_holm'])}{extra}")


def flip_lines(label: str, f: Mapping[str, Sequence[Mapping[str, Any]]], shown: int = 10) -> list[str]:
    out = []
    for key, text in (("regressed", "pass -> violation"), ("improved", "violation -> pass")):
        items = f.get(key) or []
        if not items:
            continue
        ids = ", ".join(e["id"] for e in items[:shown])
        more = f" … (+{len(items) - shown} more in the results JSON)" if len(items) > shown else ""
        out.append(f"  {label}: {len(items)} item(s) flipped {text}: {ids}{more}")
    return out


def iter_pairs(cur_suites: Iterable[Mapping[str, Any]], base_suites: Sequence[Mapping[str, Any]]):
    """(current suite, baseline suite or None): same id and model, else the baseline's only suite
    with that id (a new model is usually compared with the previous model's run)."""
    for s in cur_suites:
        same_id = [b for b in base_suites if b["id"] == s["id"] and b.get("origin") == s.get("origin")]
        exact = [b for b in same_id if b.get("model") == s.get("model")]
        yield s, (exact[0] if exact else same_id[0] if len(same_id) == 1 else None)


__all__ = [
    "SCHEMA", "BaselineError", "baseline_doc", "save_baseline", "load_baseline", "mcnemar_exact", "holm",
    "compare_suite", "flips", "decide", "iter_pairs", "row_line", "flip_lines", "fmt_p", "model_label",
]

