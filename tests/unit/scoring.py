"""Helpers shared by the rule tests (tests/unit/test_scorers_trustllm_*.py): score pairs as a suite does."""
from __future__ import annotations

import json
from pathlib import Path

from pytest_trustllm.scoring.judges.base import Judges
from pytest_trustllm.metrics import compute_metrics
from pytest_trustllm.scoring.scorers import ScoringContext, run_scorer
from pytest_trustllm.suite import load_suite
from pytest_trustllm.types import Score, ScoredItem

SUITES = Path(__file__).resolve().parents[2] / "suites" / "trustllm"


def ctx(rules="paper", **judges):
    return ScoringContext(rules=rules, judges=Judges(**judges))


def run_suite(suite: str, pairs, rules="paper", **judges):
    """Score (record, response) pairs with a suite's scorer and compute its metrics under ``rules``."""
    spec = load_suite(SUITES / f"{suite}.yaml")
    scores = run_scorer(spec.scorer.name, pairs, ctx(rules, **judges), spec.scorer.args)
    items = [ScoredItem(str(i), rec, sc) for i, ((rec, _), sc) in enumerate(zip(pairs, scores)) if isinstance(sc, Score)]
    return scores, compute_metrics(spec.metrics_for(rules), items)


def data_writer(dimension: str):
    """``write(tmp_path, name, records)``: a dataset folder holding ``<dimension>/<name>``, as the suites read it."""

    def write(tmp_path: Path, name: str, records: list[dict]) -> Path:
        folder = tmp_path / dimension
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(json.dumps(records), encoding="utf-8")
        return tmp_path

    return write
