"""Thresholds and verdicts: suite gates, overridden from the ini file and a thresholds file."""
from __future__ import annotations

import operator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from .suite.schema import GATE_OPS, GateSpec

OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}


class ThresholdsError(Exception):
    pass


@dataclass(frozen=True)
class Override:
    suite: str
    metric: str
    op: str | None
    threshold: float
    source: str


def read_thresholds_file(path: str | Path) -> list[Override]:
    """``{suite_id: {metric: threshold | {op: '>=', threshold: 0.9}}}`` in YAML or JSON."""
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ThresholdsError(f"thresholds file not found: {path}") from None
    except yaml.YAMLError as e:
        raise ThresholdsError(f"thresholds file {path} is not valid YAML: {e}") from None
    if not isinstance(doc, dict):
        raise ThresholdsError(f"thresholds file {path}: expected {{suite_id: {{metric: threshold}}}}")
    out = []
    for suite, metrics in doc.items():
        if not isinstance(metrics, dict):
            raise ThresholdsError(f"thresholds file {path}: {suite}: expected a mapping of metric: threshold")
        for metric, v in metrics.items():
            op = None
            if isinstance(v, dict):
                op, v = v.get("op"), v.get("threshold")
                if op is not None and op not in GATE_OPS:
                    raise ThresholdsError(f"thresholds file {path}: {suite}.{metric}: invalid op {op!r}; "
                                          f"valid: {', '.join(GATE_OPS)}")
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ThresholdsError(f"thresholds file {path}: {suite}.{metric}: threshold {v!r} is not a number")
            out.append(Override(str(suite), str(metric), op, float(v), f"thresholds file {p.name}"))
    return out


def effective_gates(suite_id: str, gates: Iterable[GateSpec], metric_directions: Mapping[str, str],
                    overrides: Iterable[Override]) -> list[GateSpec]:
    """The suite's gates with overrides applied (later overrides win); an override for a metric
    without a gate adds one, with the operator its direction implies."""
    result = {g.metric: g for g in gates}
    for o in overrides:
        if o.suite != suite_id or o.metric not in metric_directions:
            continue
        base = result.get(o.metric)
        op = o.op or (base.op if base else (">=" if metric_directions[o.metric] != "lower" else "<="))
        result[o.metric] = (replace(base, op=op, threshold=o.threshold, source=o.source) if base
                            else GateSpec(o.metric, op, o.threshold, o.source))
    return list(result.values())


def unknown_overrides(overrides: Iterable[Override], known: Mapping[str, Iterable[str]]) -> list[str]:
    """Overrides that name a suite or metric that ran in this session but does not exist."""
    bad = []
    for o in overrides:
        if o.suite in known and o.metric not in set(known[o.suite]):
            bad.append(f"{o.suite}.{o.metric} ({o.source})")
    return bad


def verdict(value: float | None, op: str, threshold: float, n: int | None = None) -> str:
    """pass | fail | incomplete (no value, or no scored item behind it: a rule's ``empty`` default
    such as ETHICS's 0.0 for an empty class is no evidence to gate on)."""
    if value is None or n == 0:
        return "incomplete"
    return "pass" if OPS[op](value, threshold) else "fail"


def describe(suite_id: str, metric: str, value: float | None, op: str, threshold: float, n: int) -> str:
    """One precise line: ``trustllm/safety/jailbreak rta = 0.812 < 0.900 (n=1400)``."""
    if value is None or n == 0:
        return f"{suite_id} {metric} could not be computed (n={n}); gate {op} {threshold:g}"
    ok = OPS[op](value, threshold)
    shown = op if ok else {">=": "<", ">": "<=", "<=": ">", "<": ">="}[op]
    return f"{suite_id} {metric} = {value:.3f} {shown} {threshold:.3f} (n={n})"


def gate_json(g: GateSpec, value: float | None, n: int) -> dict[str, Any]:
    return {"op": g.op, "threshold": g.threshold, "verdict": verdict(value, g.op, g.threshold, n),
            "source": g.source}


GATE_STATES = ("failed", "incomplete", "inconclusive", "passed")


def gate_state(g: Mapping[str, Any]) -> str:
    """A gate's verdict as counted: failed, incomplete, inconclusive or passed."""
    v = g["verdict"]
    return {"fail": "failed", "incomplete": "incomplete", "inconclusive": "inconclusive"}.get(v, "passed")


def gate_fails(g: Mapping[str, Any]) -> bool:
    """Whether a gate fails the run: a failed gate always; an incomplete or inconclusive one unless
    --trust-incomplete / --trust-inconclusive say warn."""
    state = gate_state(g)
    return (state == "failed" or (state == "incomplete" and g.get("on_incomplete", "fail") == "fail")
            or (state == "inconclusive" and g.get("on_inconclusive", "fail") == "fail"))
