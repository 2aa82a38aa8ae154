"""Thresholds and verdicts: suite gates, overridden from the ini file and a thresholds file."""
from __future__ import annotations

import operator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import yaml

from pytest_trustllm.verdict.model import GateResult, fails_run
from pytest_trustllm.suite.schema import GATE_OPS, GateSpec

OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}
FLIP = {">=": "<", ">": "<=", "<=": ">", "<": ">="}  # the operator a value that misses the gate stands in


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
    shown = op if ok else FLIP[op]
    return f"{suite_id} {metric} = {value:.3f} {shown} {threshold:.3f} (n={n})"


GATE_STATES = ("failed", "incomplete", "inconclusive", "passed")


def gate_state(g: Mapping[str, Any]) -> str:
    """A gate's verdict as counted: failed, incomplete, inconclusive or passed."""
    v = g["verdict"]
    return {"fail": "failed", "incomplete": "incomplete", "inconclusive": "inconclusive"}.get(v, "passed")


def confident_verdict(value: float | None, interval: Sequence[float] | None, op: str, threshold: float,
                      n: int | None = None) -> str:
    """pass: the whole interval clears the threshold; fail: the whole interval is on the wrong side;
    inconclusive: it straddles the threshold, or there is no interval; incomplete: no value, or no
    scored item behind it."""
    if value is None or n == 0:
        return "incomplete"
    if not interval:
        return "inconclusive"
    ok = [OPS[op](x, threshold) for x in interval]
    if all(ok):
        return "pass"
    if not any(ok):
        return "fail"
    return "inconclusive"


def _confident_reason(metric: str, value: float, interval: Sequence[float] | None, n: int, op: str,
                      threshold: float, verdict: str) -> str:
    """One line after the suite label, with the numbers that decided a confident gate."""
    ci = interval
    if verdict == "fail":
        return (f"{metric} 95% CI [{ci[0]:.3f}, {ci[1]:.3f}] lies entirely {FLIP[op]} {threshold:.3f} "
                f"(value {value:.3f}, n={n})")
    if not ci:
        return f"{metric} = {value:.3f} has no 95% interval (n={n}); gate {op} {threshold:g} is inconclusive"
    return (f"{metric} = {value:.3f}, 95% CI [{ci[0]:.3f}, {ci[1]:.3f}] straddles the threshold {op} {threshold:g} "
            f"(n={n}): inconclusive")


def decide_gate(gate: GateSpec, metric: str, value: float | None, interval: Sequence[float] | None, n: int,
                policy: Any) -> GateResult:
    """The one place a gate's verdict is decided. ``policy``: the run's settings (``gate``: point or
    confident; ``incomplete`` and ``inconclusive``: fail or warn). Both verdicts are recorded; the
    mode's is ``verdict``."""
    point = verdict(value, gate.op, gate.threshold, n)
    confident = confident_verdict(value, interval, gate.op, gate.threshold, n)
    mode = policy.gate
    final = confident if mode == "confident" else point
    on_incomplete = getattr(policy, "incomplete", "fail") if point == "incomplete" else None
    on_inconclusive = policy.inconclusive if final == "inconclusive" else None
    reason = (_confident_reason(metric, value, interval, n, gate.op, gate.threshold, final)
              if mode == "confident" and final in ("fail", "inconclusive") else None)
    return GateResult(op=gate.op, threshold=gate.threshold, verdict=final, source=gate.source, mode=mode,
                      point_verdict=point, confident_verdict=confident,
                      fails=fails_run(final, on_incomplete, on_inconclusive), on_incomplete=on_incomplete,
                      on_inconclusive=on_inconclusive, reason=reason)
