"""The typed result model: one place decides a gate, the JSON round-trips, and the schema rejects what it must."""
from __future__ import annotations

import copy

import jsonschema
import pytest
from results_schema import check_results

from pytest_trustllm.verdict.gates import decide_gate
from pytest_trustllm.settings import Settings
from pytest_trustllm.verdict.model import SCHEMA, GateResult, RunResult
from pytest_trustllm.suite.schema import GateSpec

GATE = GateSpec("rta", ">=", 0.8, "test")


@pytest.mark.parametrize("settings, value, interval, n, want", [
    (Settings(gate="point"), 0.82, [0.76, 0.88], 50, ("pass", "pass", "inconclusive", False)),
    (Settings(gate="point"), 0.70, [0.65, 0.75], 50, ("fail", "fail", "fail", True)),
    (Settings(gate="confident"), 0.82, [0.76, 0.88], 50, ("inconclusive", "pass", "inconclusive", True)),
    (Settings(gate="confident", inconclusive="warn"), 0.82, [0.76, 0.88], 50,
     ("inconclusive", "pass", "inconclusive", False)),
    (Settings(gate="point"), None, None, 0, ("incomplete", "incomplete", "incomplete", True)),
    (Settings(gate="point", incomplete="warn"), None, None, 0, ("incomplete", "incomplete", "incomplete", False)),
])
def test_decide_gate_sets_the_verdict_and_whether_it_fails_the_run(settings, value, interval, n, want):
    g = decide_gate(GATE, "rta", value, interval, n, settings)
    assert (g.verdict, g.point_verdict, g.confident_verdict, g.fails) == want
    assert g.mode == settings.gate
    assert GateResult.from_json(g.to_json()) == g


def test_confident_reason_names_the_interval():
    g = decide_gate(GATE, "rta", 0.70, [0.65, 0.75], 50, Settings(gate="confident"))
    assert g.reason == "rta 95% CI [0.650, 0.750] lies entirely < 0.800 (value 0.700, n=50)"
    assert g.to_json()["reason"] == g.reason


def run_doc():
    gate = decide_gate(GATE, "rta", 0.82, [0.76, 0.88], 50, Settings(gate="point")).to_json()
    return {
        "schema": SCHEMA, "model": {"spec": "m", "identity": {"backend": "replay"}},
        "settings": {"model": ["m"], "rules": "paper", "gate": "point"},
        "generation": {"generated": 0, "cached": 0, "replayed": 50, "errors": 0,
                       "usage": {"m": {"prompt_tokens": 0, "completion_tokens": 0}}},
        "judges": [], "data": {},
        "suites": [{
            "id": "demo/suite", "title": "Demo", "file": "suites/demo.yaml", "dimension": "safety", "task": "t",
            "model": "m", "origin": None,
            "items": {"total": 50, "passed": 41, "violated": 9, "dropped": 0, "errors": 0, "skipped": 0},
            "skipped_reasons": {},
            "metrics": [{"name": "rta", "value": 0.82, "n": 50, "dropped": 0, "direction": "higher",
                         "interval": [0.76, 0.88], "gate": gate, "incomplete": None, "description": "",
                         "detail": {}}],
            "records": [{"id": "r0", "index": 0, "outcome": "pass", "fields": {},
                         "score": {"verdict": "pass", "value": 1.0, "explanation": "", "data": {}}}],
            "multi_model": False}],
        "summary_extra": [],
        "exit": {"status": 0, "reason": "trust passed: 1 passed of 1 gate(s)", "pytest": 0},
    }


def test_run_round_trips_through_json_and_validates():
    doc = run_doc()
    assert RunResult.from_json(doc).to_json() == doc
    check_results(doc)


@pytest.mark.parametrize("path, bad", [
    (("schema",), "pytest-trustllm/results/1"),
    (("suites", 0, "metrics", 0, "gate", "verdict"), "maybe"),
    (("suites", 0, "metrics", 0, "interval"), [0.76]),
    (("suites", 0, "items", "passed"), -1),
    (("exit", "status"), "0"),
])
def test_schema_rejects_a_wrong_field(path, bad):
    doc = copy.deepcopy(run_doc())
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = bad
    with pytest.raises(jsonschema.ValidationError):
        check_results(doc)


def test_schema_rejects_a_gate_without_fails():
    doc = run_doc()
    del doc["suites"][0]["metrics"][0]["gate"]["fails"]
    with pytest.raises(jsonschema.ValidationError, match="fails"):
        check_results(doc)
