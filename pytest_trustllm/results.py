"""Controller-side aggregation: per-item payloads (from test reports, also across xdist, or from the
records of shards) -> the typed results (``result_model``), every verdict decided once in
``decide_run``; the results JSON is their ``to_json`` (schema ``pytest-trustllm/results/2``)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from .gates import GATE_STATES, Override, decide_gate, describe, effective_gates, gate_state, unknown_overrides
from .metrics import compute_metrics
from .metrics.core import match_value
from .report import label
from .result_model import ExitResult, GateResult, Interval, MetricResult, RunResult, SuiteResult
from .suite.schema import SuiteSpec
from .types import Score, ScoredItem

OUTCOMES = ("pass", "violation", "dropped", "error", "skip")


@dataclass
class Collector:
    """Item payloads by (suite file, model), in arrival order (sorted by index before use)."""

    payloads: dict[tuple[str, str | None, str | None], dict[str, dict[str, Any]]] = field(default_factory=dict)

    def add(self, payload: Mapping[str, Any]) -> None:
        # origin: None for the suite's own items, the test function's name for hand-written tests
        key = (payload["file"], payload.get("model"), payload.get("origin"))
        # keyed by item id: a rerun of the same item (e.g. xdist replacing a crashed worker) counts once
        self.payloads.setdefault(key, {})[payload["id"]] = dict(payload)

    def groups(self) -> list[tuple[str, str | None, str | None, list[dict[str, Any]]]]:
        out = []
        for (file, model, origin), items in sorted(self.payloads.items(),
                                                   key=lambda kv: (kv[0][0], str(kv[0][1]), str(kv[0][2]))):
            out.append((file, model, origin, sorted(items.values(), key=lambda p: (p["index"], p["id"]))))
        return out


def scored_items(payloads: Iterable[Mapping[str, Any]]) -> list[ScoredItem]:
    """Items with a score (pass, violation or dropped) as the metrics see them."""
    out: list[ScoredItem] = []
    for p in payloads:
        if p.get("repeats"):  # --trust-repeats: every repeat counts, one cluster per item
            from .repeats import expand

            out.extend(expand(p))
        elif p.get("score") is not None:
            out.append(ScoredItem(p["id"], p.get("fields") or {}, Score.from_json(p["score"])))
    return out


def _could_feed(fields: Mapping[str, Any], where: Mapping[str, Any]) -> bool:
    """Whether a skipped item (fields known, score unknown) might have counted in a metric's ``where``:
    only a record field that is present and does not match rules it out."""
    return all(k not in fields or match_value(fields[k], v) for k, v in where.items())


def _incomplete_reasons(specs: Sequence[Any], skipped: list[Mapping[str, Any]]) -> dict[str, str]:
    """metric -> why its value misses items: the skipped items it would have counted, or the parts a
    composite is built from, so a judge-less run does not taint the keyword-scored sub-metrics."""
    out: dict[str, str] = {}
    for spec in specs:  # parts come before the composites built from them
        if spec.of:
            parts = [n for n in spec.of if n in out]
            if parts:
                out[spec.name] = "incomplete part(s): " + ", ".join(parts)
            continue
        n = sum(1 for f in skipped if _could_feed(f, spec.where))
        if n:
            out[spec.name] = f"{n} item(s) skipped"
    return out


def suite_result(suite: SuiteSpec, file: str, model: str | None, payloads: list[Mapping[str, Any]], rules: str,
                 overrides: Iterable[Override], policy: Any, intervals: Callable | None = None,
                 origin: str | None = None, multi_model: bool = False) -> SuiteResult:
    """One suite's metrics, intervals and gates (decided under ``policy``, the run's settings)."""
    counts = Counter(p["outcome"] for p in payloads)
    specs = suite.metrics_for(rules)
    items = scored_items(payloads)
    values = compute_metrics(specs, items)
    if intervals is not None:
        values = intervals(specs, items, values)
    directions = {s.name: s.direction for s in specs}
    gates = {g.metric: g for g in effective_gates(suite.id, suite.gates, directions, overrides)}
    incomplete = _incomplete_reasons(specs, [p.get("fields") or {} for p in payloads if p["outcome"] == "skip"])
    metrics = []
    for s in specs:
        mv = values[s.name]
        g = gates.get(s.name)
        # no scored item: no value (a rule's empty default such as 0.0 is not a measurement)
        value = None if mv.n == 0 else mv.value
        interval = Interval(*mv.interval) if mv.interval and value is not None else None
        metrics.append(MetricResult(
            name=s.name, value=value, n=mv.n, dropped=mv.dropped, direction=s.direction, interval=interval,
            gate=decide_gate(g, s.name, value, interval.to_json() if interval else None, mv.n, policy) if g else None,
            incomplete=incomplete.get(s.name), description=s.description,
            detail=dict(mv.detail) if mv.detail else {}))
    return SuiteResult(
        id=suite.id, title=suite.title, file=file, dimension=suite.dimension, task=suite.task, model=model,
        origin=origin,
        items={"total": len(payloads), "passed": counts.get("pass", 0), "violated": counts.get("violation", 0),
               "dropped": counts.get("dropped", 0), "errors": counts.get("error", 0),
               "skipped": counts.get("skip", 0)},
        skipped_reasons=skipped_reasons(payloads), metrics=tuple(metrics),
        records=tuple(_record(p) for p in payloads), multi_model=multi_model,
        repeats=_repeats_block(payloads))


def skipped_reasons(payloads: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Why items were skipped: reason -> count, most frequent first."""
    counts = Counter(str(p.get("message") or "no reason given") for p in payloads if p["outcome"] == "skip")
    return dict(counts.most_common())


def _repeats_block(payloads: list[Mapping[str, Any]]) -> dict[str, Any] | None:
    """``repeats`` (consistency, flipping items) only for runs with --trust-repeats > 1."""
    from .repeats import suite_repeats

    return suite_repeats(payloads) or None


def _record(p: Mapping[str, Any]) -> dict[str, Any]:
    """Per-item outcome kept in the results (baselines and shard merges recompute from these)."""
    out = {"id": p["id"], "index": p["index"], "outcome": p["outcome"], "fields": p.get("fields") or {},
           "score": p.get("score")}
    if p["outcome"] in ("violation", "error"):
        out.update(message=p.get("message"), prompt=p.get("prompt"), response=p.get("response"))
    if p.get("repeats"):
        out["repeats"] = p["repeats"]
    gen = p.get("generation")
    if gen:
        out["generation"] = {"cached": gen.get("cached"), "error": gen.get("error"), "replayed": gen.get("replayed"),
                             "prompt_tokens": gen.get("prompt_tokens", 0),
                             "completion_tokens": gen.get("completion_tokens", 0)}
    return out


def generation_totals(suites: Iterable[SuiteResult]) -> dict[str, Any]:
    """Top-level ``generation`` counts and token usage per model, from the per-item records."""
    total = {"generated": 0, "cached": 0, "replayed": 0, "errors": 0}
    usage: dict[str, dict[str, int]] = {}
    for s in suites:
        u = usage.setdefault(str(s.model), {"prompt_tokens": 0, "completion_tokens": 0})
        for gen in (g for r in s.records for g in _generations(r)):
            if gen is None:
                continue
            if gen.get("error"):
                total["errors"] += 1
            elif gen.get("replayed"):
                total["replayed"] += 1
            elif gen.get("cached"):
                total["cached"] += 1
            else:
                total["generated"] += 1
                u["prompt_tokens"] += gen.get("prompt_tokens", 0)
                u["completion_tokens"] += gen.get("completion_tokens", 0)
    return {**total, "usage": usage}


def _gates(suites: Iterable[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    return [(s, m) for s in suites for m in s["metrics"] if m["gate"]]


def _generations(record: Mapping[str, Any]) -> list[Mapping[str, Any] | None]:
    """A record's responses: one, or one per repeat (--trust-repeats)."""
    reps = record.get("repeats")
    return [x.get("generation") for x in reps] if reps else [record.get("generation")]


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


# ---- the run: one function for the live run and the shard merge ----------------------------------

def model_block(settings: Any, infos: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``model``: the spec(s) asked for and the identities the processes that ran them reported."""
    identities: dict[str, Any] = {}
    for info in infos:
        identities.update({k: v for k, v in info.get("models", {}).items() if v is not None})
    specs = list(settings.model)
    block: dict[str, Any] = {"spec": specs[0] if len(specs) == 1 else (specs or None)}
    if len(specs) <= 1:
        block["identity"] = identities.get(specs[0]) if specs else None
    else:
        block["identities"] = {s: identities.get(s) for s in specs}
    return block


def merge_judges(infos: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The judges of all processes (or shards), their counts added up."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for info in infos:
        for j in info.get("judges", []):
            key = (j["kind"], j["name"])
            if key not in merged:
                merged[key] = dict(j)
            else:
                for k in ("calls", "cached", "failures", "prompt_tokens", "completion_tokens"):
                    merged[key][k] = merged[key].get(k, 0) + j.get(k, 0)
    return [merged[k] for k in sorted(merged)]


def merge_notes(infos: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for info in infos:
        out.update(info.get("data_notes", {}))
    return out


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
    from .decisions import apply_decisions, exit_failures
    from .intervals import add_intervals

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
