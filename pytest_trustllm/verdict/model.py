"""The typed results of a run: run -> suites -> metrics -> interval and gate, each frozen.

``decide.decide_run`` builds these once from the item payloads (the live run and the shard merge
alike) and decides every verdict there; the renderers (terminal, results JSON, JUnit, HTML) read
them, or their JSON form, and decide nothing. ``to_json`` gives the document that
``results.schema.json`` describes (``pytest-trustllm/results/2``); ``from_json`` reads it back.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

SCHEMA = "pytest-trustllm/results/2"
# documents of the previous version are still read (baselines, shards); their gates lack ``fails``
READABLE_SCHEMAS = (SCHEMA, "pytest-trustllm/results/1")


@dataclass(frozen=True)
class Interval:
    """A metric's 95% interval; ``[low, high]`` in JSON."""

    low: float
    high: float

    def to_json(self) -> list[float]:
        return [self.low, self.high]

    @classmethod
    def from_json(cls, doc: Sequence[float] | None) -> "Interval | None":
        return None if not doc else cls(doc[0], doc[1])


def fails_run(verdict: str, on_incomplete: str | None = None, on_inconclusive: str | None = None) -> bool:
    """Whether a gate with this verdict fails the run: a failed gate always; an incomplete or
    inconclusive one unless --trust-incomplete / --trust-inconclusive say warn."""
    return (verdict == "fail" or (verdict == "incomplete" and (on_incomplete or "fail") == "fail")
            or (verdict == "inconclusive" and (on_inconclusive or "fail") == "fail"))


@dataclass(frozen=True)
class GateResult:
    """A gate and its verdict, decided once (``gates.decide_gate``). ``verdict`` is the one the
    gate mode uses; ``fails`` whether it fails the run (a failed gate always; an incomplete or
    inconclusive one unless its policy, ``on_incomplete`` / ``on_inconclusive``, says warn)."""

    op: str
    threshold: float
    verdict: str
    source: str
    mode: str
    point_verdict: str
    confident_verdict: str
    fails: bool
    on_incomplete: str | None = None
    on_inconclusive: str | None = None
    reason: str | None = None  # the numbers behind a confident gate that did not pass
    sequential: Mapping[str, Any] | None = None  # --trust-sequential: decided after N items, its sequence

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"op": self.op, "threshold": self.threshold, "verdict": self.verdict,
                               "source": self.source, "mode": self.mode, "point_verdict": self.point_verdict,
                               "confident_verdict": self.confident_verdict}
        if self.on_incomplete is not None:
            out["on_incomplete"] = self.on_incomplete
        if self.reason is not None:
            out["reason"] = self.reason
        if self.on_inconclusive is not None:
            out["on_inconclusive"] = self.on_inconclusive
        if self.sequential is not None:
            out["sequential"] = dict(self.sequential)
        out["fails"] = self.fails
        return out

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "GateResult":
        verdict = doc["verdict"]
        fails = doc.get("fails")
        if fails is None:  # a results/1 document: the policy fields it carries decide
            fails = fails_run(verdict, doc.get("on_incomplete"), doc.get("on_inconclusive"))
        return cls(op=doc["op"], threshold=doc["threshold"], verdict=verdict, source=doc.get("source", ""),
                   mode=doc.get("mode", "point"), point_verdict=doc.get("point_verdict", verdict),
                   confident_verdict=doc.get("confident_verdict", verdict), fails=bool(fails),
                   on_incomplete=doc.get("on_incomplete"), on_inconclusive=doc.get("on_inconclusive"),
                   reason=doc.get("reason"), sequential=doc.get("sequential"))


@dataclass(frozen=True)
class MetricResult:
    name: str
    value: float | None  # None when no scored item stands behind it (n = 0)
    n: int
    dropped: int
    direction: str
    interval: Interval | None
    gate: GateResult | None
    incomplete: str | None  # why the value misses items, None when complete
    description: str
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "n": self.n, "dropped": self.dropped,
                "direction": self.direction, "interval": self.interval.to_json() if self.interval else None,
                "gate": self.gate.to_json() if self.gate else None, "incomplete": self.incomplete,
                "description": self.description, "detail": dict(self.detail)}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "MetricResult":
        return cls(name=doc["name"], value=doc["value"], n=doc["n"], dropped=doc["dropped"],
                   direction=doc["direction"], interval=Interval.from_json(doc.get("interval")),
                   gate=GateResult.from_json(doc["gate"]) if doc.get("gate") else None,
                   incomplete=doc.get("incomplete"), description=doc.get("description") or "",
                   detail=dict(doc.get("detail") or {}))


ITEM_COUNTS = ("total", "passed", "violated", "dropped", "errors", "skipped")


@dataclass(frozen=True)
class SuiteResult:
    """One suite for one model (and, for a hand-written test reporting into it, one ``origin``).
    ``records`` stay plain dicts: the per-item outcomes baselines and merges recompute from."""

    id: str
    title: str
    file: str
    dimension: str
    task: str
    model: str | None
    origin: str | None
    items: Mapping[str, int]
    skipped_reasons: Mapping[str, int]
    metrics: tuple[MetricResult, ...]
    records: tuple[Mapping[str, Any], ...]
    multi_model: bool = False
    repeats: Mapping[str, Any] | None = None  # --trust-repeats > 1: consistency and flipping items

    def to_json(self) -> dict[str, Any]:
        out = {"id": self.id, "title": self.title, "file": self.file, "dimension": self.dimension,
               "task": self.task, "model": self.model, "origin": self.origin,
               "items": {k: self.items[k] for k in ITEM_COUNTS}, "skipped_reasons": dict(self.skipped_reasons),
               "metrics": [m.to_json() for m in self.metrics], "records": [dict(r) for r in self.records],
               "multi_model": self.multi_model}
        if self.repeats is not None:
            out["repeats"] = dict(self.repeats)
        return out

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "SuiteResult":
        return cls(id=doc["id"], title=doc.get("title") or "", file=doc["file"], dimension=doc["dimension"],
                   task=doc["task"], model=doc.get("model"), origin=doc.get("origin"),
                   items={k: doc["items"][k] for k in ITEM_COUNTS},
                   skipped_reasons=dict(doc.get("skipped_reasons") or {}),
                   metrics=tuple(MetricResult.from_json(m) for m in doc["metrics"]),
                   records=tuple(dict(r) for r in doc.get("records", [])),
                   multi_model=bool(doc.get("multi_model", False)), repeats=doc.get("repeats"))


@dataclass(frozen=True)
class ExitResult:
    status: int
    reason: str
    pytest: int  # the run's own status before the trust decision (the shard merge recombines it)

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason, "pytest": self.pytest}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "ExitResult":
        return cls(int(doc["status"]), str(doc["reason"]), int(doc.get("pytest", 0) or 0))


RUN_BLOCKS = ("budget", "sequential", "calibration")


@dataclass(frozen=True)
class RunResult:
    """The whole results document. ``baseline`` and ``comparison`` are the paired comparisons'
    blocks (``decisions``), present only when asked for; ``merged_from`` only on a shard merge."""

    model: Mapping[str, Any]
    settings: Mapping[str, Any]
    generation: Mapping[str, Any]
    judges: tuple[Mapping[str, Any], ...]
    data: Mapping[str, str]
    suites: tuple[SuiteResult, ...]
    exit: ExitResult
    summary_extra: tuple[str, ...] = ()
    baseline: Mapping[str, Any] | None = None
    comparison: Mapping[str, Any] | None = None
    merged_from: tuple[str, ...] | None = None
    blocks: Mapping[str, Any] = field(default_factory=dict)  # budget, sequential, calibration: when asked for

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schema": SCHEMA, "model": dict(self.model), "settings": dict(self.settings),
                               "generation": dict(self.generation), "judges": [dict(j) for j in self.judges],
                               "data": dict(self.data), "suites": [s.to_json() for s in self.suites]}
        if self.baseline is not None:
            out["baseline"] = self.baseline
        if self.comparison is not None:
            out["comparison"] = self.comparison
        out.update(self.blocks)
        out["summary_extra"] = list(self.summary_extra)
        out["exit"] = self.exit.to_json()
        if self.merged_from is not None:
            out["merged_from"] = list(self.merged_from)
        return out

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "RunResult":
        return cls(model=dict(doc.get("model") or {}), settings=dict(doc.get("settings") or {}),
                   generation=dict(doc.get("generation") or {}), judges=tuple(doc.get("judges") or ()),
                   data=dict(doc.get("data") or {}), suites=tuple(SuiteResult.from_json(s) for s in doc["suites"]),
                   exit=ExitResult.from_json(doc["exit"]), summary_extra=tuple(doc.get("summary_extra") or ()),
                   baseline=doc.get("baseline"), comparison=doc.get("comparison"),
                   merged_from=tuple(doc["merged_from"]) if doc.get("merged_from") is not None else None,
                   blocks={k: doc[k] for k in RUN_BLOCKS if k in doc})


def label(s: Mapping[str, Any]) -> str:
    """A suite result's name: its id, the model when several ran, the test when hand-written."""
    out = s["id"]
    if s.get("multi_model"):
        out += f" [{s['model']}]"
    if s.get("origin"):
        out += f" ({s['origin']})"
    return out
