"""Score a suite without a pytest run: the same flow the plugin's items use, in one process.
For notebooks, scripts and the reproduction bench."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from pytest_trustllm.generation.backends.base import Backend, make_backend
from pytest_trustllm.generation.cache import ResponseCache
from pytest_trustllm.generation.execute import ItemOutcome, execute
from pytest_trustllm.scoring.judges.base import Judges
from pytest_trustllm.metrics import MetricValue, compute_metrics
from pytest_trustllm.scoring.scorers.base import ScoringContext
from pytest_trustllm.suite.load import load_suite
from pytest_trustllm.suite.paths import DataLocator
from pytest_trustllm.suite.records import ItemSpec, build_items, read_records
from pytest_trustllm.suite.schema import SuiteSpec
from pytest_trustllm.types import ScoredItem


@dataclass(frozen=True)
class SuiteEvaluation:
    suite: SuiteSpec
    items: list[ItemSpec]
    outcomes: list[ItemOutcome]
    metrics: dict[str, MetricValue]


def carried_fields(suite: SuiteSpec, item: ItemSpec) -> dict[str, Any]:
    fields = {k: item.record[k] for k in suite.carried_fields() if k in item.record}
    if item.group is not None:
        fields["_group"] = item.group
    return fields


def evaluate_suite(
    suite_path: str | Path,
    data_dir: str | Path | None = None,
    *,
    rules: str = "paper",
    judges: Judges | None = None,
    model: str | Backend = "replay",
    options: Mapping[str, Any] | None = None,
    cache: ResponseCache | None = None,
) -> SuiteEvaluation:
    """Generate (or replay) and score every record of a suite; returns outcomes and metrics."""
    suite = load_suite(suite_path)
    data_path = DataLocator(str(data_dir) if data_dir else None).resolve(suite)
    items = build_items(suite, read_records(data_path), data_path)
    backend = make_backend(model, dict(options or {})) if isinstance(model, str) else model
    ctx = ScoringContext(rules=rules, judges=judges or Judges())
    outcomes: list[ItemOutcome] = []
    # whole chunks at a time, as the plugin does (group rules need whole groups)
    by_chunk: dict[int, list[ItemSpec]] = {}
    for it in items:
        by_chunk.setdefault(it.chunk, []).append(it)
    order: list[ItemSpec] = []
    for c in sorted(by_chunk):
        part = by_chunk[c]
        outcomes.extend(execute(suite, part, backend, ctx, cache=cache))
        order.extend(part)
    # metrics see only the fields the plugin carries to its controller, so both agree
    scored = [ScoredItem(it.id, carried_fields(suite, it), o.score)
              for it, o in zip(order, outcomes) if o.score is not None]
    return SuiteEvaluation(suite, order, outcomes, compute_metrics(suite.metrics_for(rules), scored))
