"""The run decided once: item payloads grouped by suite (``SuiteRun``) -> ``RunResult``, with every
metric, gate, comparison and the exit status decided here. The live run (``plugin/controller.py``) and the
shard merge (``verdict/merge.py``) both call ``decide_run``; renderers only read its result."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

from pytest_trustllm.metrics.intervals import add_intervals
from pytest_trustllm.suite.schema import SuiteSpec
from pytest_trustllm.verdict.aggregate import generation_totals, merge_judges, merge_notes, model_block, suite_result
from pytest_trustllm.verdict.decisions import apply_decisions, exit_failures
from pytest_trustllm.verdict.gates import GATE_STATES, Override, describe, gate_state, unknown_overrides
from pytest_trustllm.verdict.model import ExitResult, GateResult, RunResult, SuiteResult, label


def _gates(suites: Iterable[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    return [(s, m) for s in suites for m in s["metrics"] if m["gate"]]


def _fails(g: Mapping[str, Any]) -> bool:
    """Read, not decided: ``fails`` as ``gates.decide_gate`` set it."""
    return GateResult.from_json(g).fails


def gate_failures(suites: Iterable[Mapping[str, Any]]) -> list[str]:
    lines = []
    for s, m in _gates(suites):
        g = m["gate"]
        if _fails(g):
            # a confident gate's reason line carries its interval (gates.decide_gate)
            lines.append(f"{label(s)} {g['reason']}" if g.get("reason") else
                         describe(label(s), m["name"], m["value"], g["op"], g["threshold"], m["n"]))
    return lines


def gate_counts(suites: Iterable[Mapping[str, Any]]) -> str:
    """``11 failed, 7 incomplete, 10 inconclusive (warned), 3 passed of 31 gate(s)``."""
    gates = [m["gate"] for _, m in _gates(suites)]
    counts = Counter(gate_state(g) for g in gates)
    parts = []
    for state in GATE_STATES:
        n = counts.get(state, 0)
        if not n:
            continue
        warned = sum(1 for g in gates if gate_state(g) == state and not _fails(g))
        note = "" if state in ("failed", "passed") or not warned else (
            " (warned)" if warned == n else f" ({warned} warned)")
        parts.append(f"{n} {state}{note}")
    return f"{', '.join(parts)} of {len(gates)} gate(s)"


def exit_decision(suites: list[Mapping[str, Any]], pytest_status: int,
                  regressions: Sequence[str] = ()) -> tuple[int, str]:
    """Non-zero when any gate fails (a failed gate; an incomplete or inconclusive one unless its
    policy says warn), any item errored, or ``regressions`` (significant regressions against
    --trust-baseline) is not empty, even if every test passed."""
    failures = gate_failures(suites)
    errors = sum(s["items"]["errors"] for s in suites)
    gates = len(_gates(suites))
    reasons = []
    if failures:
        reasons.append(f"{gate_counts(suites)}: " + "; ".join(failures[:3]) + (" …" if len(failures) > 3 else ""))
    if errors:
        reasons.append(f"{errors} item(s) errored")
    if regressions:
        reasons.append(f"{len(regressions)} significant regression(s) against the baseline: "
                       + "; ".join(regressions[:3]) + (" …" if len(regressions) > 3 else ""))
    if reasons:
        return (pytest_status or 1), "trust FAILED: " + "; ".join(reasons)
    if not suites:
        return pytest_status, "trust: no trust items ran"
    passed = gate_counts(suites)
    if pytest_status:
        return pytest_status, f"trust: {passed}, but the pytest run failed (exit {pytest_status})"
    return 0, f"trust passed: {passed}" if gates else "trust passed: no gates"


@dataclass(frozen=True)
class SuiteRun:
    """The items one suite result is made of: its spec, ``file`` as the results name it, and the
    payloads of one (model, origin); ``overrides``: the threshold overrides that apply."""

    suite: SuiteSpec
    file: str
    model: str | None
    origin: str | None
    payloads: list[Mapping[str, Any]]
    overrides: Sequence[Override]


def decide_run(settings: Any, groups: Iterable[SuiteRun], infos: Sequence[Mapping[str, Any]], pytest_status: int,
               root: Any, settings_json: Mapping[str, Any] | None = None, notes: Sequence[str] = (),
               merged_from: Sequence[str] | None = None, post: Sequence[Callable] = ()) -> RunResult:
    """Item payloads -> the run's typed results, every verdict decided here once: metrics and their
    intervals, gates (``gates.decide_gate``), the baseline and model comparisons, the exit status.
    ``infos``: what the processes that ran the items know (model identities, judge counts, data notes);
    ``root``: the folder ``suites[].file`` is relative to. ``post``: the run's extensions (budget, sequential
    gates, calibration), each ``f(suite_docs) -> (blocks, summary lines)``, called before the exit decision; a
    budget may turn a gate incomplete (verdict and ``fails`` both), nothing else changes a verdict."""
    def seeded(specs, items, values):
        return add_intervals(specs, items, values, seed=settings.seed)

    multi = len(settings.model) > 1
    groups = list(groups)
    suites = tuple(suite_result(g.suite, g.file, g.model, g.payloads, settings.rules, g.overrides, settings, seeded,
                                g.origin, multi) for g in groups)
    docs = [s.to_json() for s in suites]
    extra = apply_decisions(settings, docs, root=root)
    blocks: dict[str, Any] = {}
    for extension in post:
        more, lines = extension(docs)
        blocks.update(more)
        extra["summary_extra"] = list(extra["summary_extra"]) + list(lines)
    if post:
        suites = tuple(SuiteResult.from_json(d) for d in docs)
    status, reason = exit_decision(docs, pytest_status, exit_failures(extra))
    if not settings.model and suites:  # nothing was asked of a model: no verdict either way
        skipped = sum(s.items["skipped"] for s in suites)
        status, reason = pytest_status, (f"trust: no model selected (pass --trust-model); {skipped} trust "
                                         "item(s) skipped, no gate evaluated")
    overrides = list(dict.fromkeys(o for g in groups for o in g.overrides))
    bad = unknown_overrides(overrides, {s.id: [m.name for m in s.metrics] for s in suites})
    if bad:
        status, reason = (status or 1), reason + f"; unknown threshold override(s): {', '.join(bad)}"
    return RunResult(
        model=model_block(settings, infos),
        settings=dict(settings_json) if settings_json is not None else settings.to_json(),
        generation=generation_totals(suites), judges=tuple(merge_judges(infos)), data=merge_notes(infos),
        suites=suites, exit=ExitResult(status, reason, pytest_status),
        summary_extra=tuple(notes) + tuple(extra["summary_extra"]),
        baseline=extra.get("baseline"), comparison=extra.get("comparison"),
        merged_from=tuple(merged_from) if merged_from is not None else None, blocks=blocks)
