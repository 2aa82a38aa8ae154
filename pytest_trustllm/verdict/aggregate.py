"""Controller-side aggregation: per-item payloads (from test reports, also across xdist, or from the
records of shards) -> the typed results (``verdict/model.py``), every verdict decided once in
``decide_run``; the results JSON is their ``to_json`` (schema ``pytest-trustllm/results/2``)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from pytest_trustllm.generation.repeats import record_generations
from pytest_trustllm.verdict.gates import Override, decide_gate, effective_gates
from pytest_trustllm.metrics import compute_metrics
from pytest_trustllm.metrics.core import match_value
from pytest_trustllm.verdict.model import Interval, MetricResult, SuiteResult
from pytest_trustllm.suite.schema import SuiteSpec
from pytest_trustllm.types import Score, ScoredItem

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
            from pytest_trustllm.generation.repeats import expand

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
    from pytest_trustllm.generation.repeats import suite_repeats

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
        for gen in (g for r in s.records for g in record_generations(r)):
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
