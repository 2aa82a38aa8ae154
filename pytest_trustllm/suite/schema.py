"""The suite schema as frozen dataclasses (the JSON Schema in ``suite.schema.json`` mirrors it)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from pytest_trustllm.metrics.core import MetricSpec

SCHEMA_VERSION = 1
DIMENSIONS = ("truthfulness", "safety", "fairness", "robustness", "privacy", "ethics")
GATE_OPS = (">=", ">", "<=", "<")
RULE_MODES = ("paper", "toolkit")


@dataclass(frozen=True)
class GenerationSpec:
    temperature: float = 0.0
    max_new_tokens: int = 512
    system_prompt: str | None = None


@dataclass(frozen=True)
class RecordSpec:
    id: str | None = None
    prompt: str | None = "prompt"
    prompt_template: str | None = None
    fields: tuple[str, ...] = ()
    group: Any = None  # None | field | [fields] | {"consecutive": N, "where": {...}}
    stratify: str | None = None


@dataclass(frozen=True)
class ScorerSpec:
    name: str
    args: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GateSpec:
    metric: str
    op: str
    threshold: float
    source: str = ""


@dataclass(frozen=True)
class SuiteSpec:
    path: Path
    id: str
    title: str
    dimension: str
    task: str
    markers: tuple[str, ...]
    description: str
    data: str
    filter: Mapping[str, Any]
    record: RecordSpec
    generation: GenerationSpec
    scorer: ScorerSpec
    metrics: tuple[tuple[MetricSpec, str | None], ...]  # (spec, rules mode it is limited to)
    gates: tuple[GateSpec, ...]
    chunk_size: int = 64
    lines: Mapping[str, int] = field(default_factory=dict, compare=False)  # key path -> line

    def metrics_for(self, rules: str) -> list[MetricSpec]:
        return [m for m, mode in self.metrics if mode in (None, rules)]

    @property
    def all_markers(self) -> tuple[str, ...]:
        seen: list[str] = []
        for m in (self.dimension, self.task, *self.markers):
            if m not in seen:
                seen.append(m)
        return tuple(seen)

    def carried_fields(self) -> tuple[str, ...]:
        """Record fields the controller's metrics may read (where/by/group args)."""
        names = list(self.record.fields)
        for m, _ in self.metrics:
            names.extend(m.where.keys())
            for key in ("by", "field", "pred", "gold", "x", "y", "attribute", "group", "numerator", "denominator"):
                v = m.args.get(key)
                if isinstance(v, str):
                    names.append(v)
            if m.group:
                names.append(m.group)
        if self.record.stratify:
            names.append(self.record.stratify)
        return tuple(dict.fromkeys(names))
