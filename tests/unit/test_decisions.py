"""Confident gates (pass / fail / inconclusive, warn vs fail) and what they do to the exit status."""
from __future__ import annotations

import copy

import pytest

from pytest_trustllm.verdict.decisions import apply_decisions, apply_gates
from pytest_trustllm.verdict.gates import confident_verdict
from pytest_trustllm.settings import Settings
from pytest_trustllm.verdict.decide import exit_decision


@pytest.mark.parametrize("value, interval, op, threshold, want", [
    (0.90, (0.85, 0.95), ">=", 0.80, "pass"),         # whole interval above
    (0.70, (0.65, 0.75), ">=", 0.80, "fail"),         # whole interval below
    (0.82, (0.76, 0.88), ">=", 0.80, "inconclusive"),  # straddles: the point verdict would be pass
    (0.78, (0.72, 0.84), ">=", 0.80, "inconclusive"),  # straddles: the point verdict would be fail
    (0.80, (0.80, 0.85), ">=", 0.80, "pass"),         # the bound on the threshold clears ">="
    (0.80, (0.80, 0.85), ">", 0.80, "inconclusive"),   # ... but not ">"
    (0.05, (0.02, 0.08), "<=", 0.10, "pass"),         # lower-is-better gate
    (0.15, (0.12, 0.20), "<=", 0.10, "fail"),
    (0.09, (0.05, 0.13), "<", 0.10, "inconclusive"),
    (0.50, None, ">=", 0.40, "inconclusive"),          # no interval: no confident verdict
    (None, None, ">=", 0.40, "incomplete"),            # no value
])
def test_confident_verdict(value, interval, op, threshold, want):
    assert confident_verdict(value, interval, op, threshold) == want


def suite(value, interval, threshold=0.8, op=">=", n=50):
    return {
        "id": "demo/suite", "title": "", "file": "suites/demo.yaml", "dimension": "safety", "task": "t",
        "model": "m", "origin": None, "multi_model": False,
        "items": {"total": n, "passed": n, "violated": 0, "dropped": 0, "errors": 0, "skipped": 0},
        "metrics": [{"name": "rta", "value": value, "n": n, "dropped": 0, "direction": "higher",
                     "interval": list(interval) if interval else None,
                     "gate": {"op": op, "threshold": threshold,
                              "verdict": "pass" if value >= threshold else "fail", "source": "test"},
                     "incomplete": None, "description": "", "detail": {}}],
        "records": [],
    }


def test_point_mode_keeps_the_point_verdict_and_records_the_confident_one():
    suites = [suite(0.82, (0.76, 0.88))]
    apply_gates(Settings(gate="point"), suites)
    g = suites[0]["metrics"][0]["gate"]
    assert g["verdict"] == "pass"
    assert g["mode"] == "point" and g["confident_verdict"] == "inconclusive"
    assert exit_decision(suites, 0) == (0, "trust passed: 1 passed of 1 gate(s)")


def test_confident_inconclusive_fails_the_run_by_default():
    suites = [suite(0.82, (0.76, 0.88))]
    apply_gates(Settings(gate="confident"), suites)
    g = suites[0]["metrics"][0]["gate"]
    assert (g["verdict"], g["point_verdict"], g["on_inconclusive"]) == ("inconclusive", "pass", "fail")
    status, reason = exit_decision(suites, 0)
    assert status == 1
    assert "demo/suite rta = 0.820, 95% CI [0.760, 0.880] straddles the threshold >= 0.8 (n=50)" in reason


def test_confident_inconclusive_with_warn_passes_and_says_so():
    suites = [suite(0.82, (0.76, 0.88))]
    lines = apply_gates(Settings(gate="confident", inconclusive="warn"), suites)
    assert lines == ["inconclusive (warn): demo/suite rta = 0.820, 95% CI [0.760, 0.880] straddles the "
                     "threshold >= 0.8 (n=50): inconclusive"]
    assert exit_decision(suites, 0) == (
        0, "trust passed: 1 inconclusive (warned) of 1 gate(s)")


def test_confident_fail_and_pass():
    failing, passing = [suite(0.70, (0.65, 0.75))], [suite(0.90, (0.85, 0.95))]
    apply_gates(Settings(gate="confident", inconclusive="warn"), failing)
    apply_gates(Settings(gate="confident"), passing)
    status, reason = exit_decision(failing, 0)
    assert status == 1 and "rta 95% CI [0.650, 0.750] lies entirely < 0.800 (value 0.700, n=50)" in reason
    assert exit_decision(passing, 0)[0] == 0


def test_sample_note_in_point_mode_names_the_noisy_verdicts():
    suites = [suite(0.82, (0.60, 0.98), n=12)]
    lines = apply_gates(Settings(gate="point", sample=12), suites)
    assert len(lines) == 1 and "--trust-sample=12: 1 point verdict(s)" in lines[0] and "demo/suite rta" in lines[0]
    confident = copy.deepcopy(suites)
    apply_gates(Settings(gate="confident", sample=12), confident)
    assert confident[0]["metrics"][0]["gate"]["verdict"] == "inconclusive"


def test_apply_decisions_returns_summary_lines_only_when_nothing_else_is_asked():
    suites = [suite(0.90, (0.85, 0.95))]
    assert apply_decisions(Settings(gate="confident"), suites) == {"summary_extra": []}


def test_junit_marks_inconclusive_as_failure_or_skip_by_policy(tmp_path):
    from junitparser import Failure, JUnitXml, Skipped

    from pytest_trustllm.render.report import add_junit_gates

    for policy, kind in (("fail", Failure), ("warn", Skipped)):
        path = tmp_path / f"{policy}.xml"
        path.write_text('<?xml version="1.0"?><testsuites><testsuite name="pytest" tests="0"/></testsuites>')
        suites = [suite(0.82, (0.76, 0.88))]
        apply_gates(Settings(gate="confident", inconclusive=policy), suites)
        add_junit_gates(path, suites, {"spec": "m"})
        gates = [s for s in JUnitXml.fromfile(str(path)) if s.name == "trust-gates"][0]
        (case,) = list(gates)
        assert isinstance(case.result[0], kind)
        assert "straddles the threshold" in case.result[0].message


def test_exit_decision_fails_on_regressions():
    suites = [suite(0.90, (0.85, 0.95))]
    status, reason = exit_decision(suites, 0, ["demo/suite rta regressed against the baseline: 0.950 -> 0.900"])
    assert status == 1
    assert reason == ("trust FAILED: 1 significant regression(s) against the baseline: demo/suite rta regressed "
                      "against the baseline: 0.950 -> 0.900")


def test_the_docs_name_only_real_options_and_commands():
    import re
    from pathlib import Path

    from pytest_trustllm.__main__ import _parser
    from pytest_trustllm.settings import OPTIONS

    text = (Path(__file__).resolve().parents[2] / "docs" / "decisions.md").read_text()
    flags = set(re.findall(r"--trust-[a-z-]+", text))
    assert flags and flags <= {o.flag for o in OPTIONS}
    merge = _parser()._subparsers._group_actions[0].choices["merge"]
    known = {s for a in merge._actions for s in a.option_strings}
    used = set(re.findall(r"(?<![\w-])(--(?!trust-|junitxml)[a-z][a-z-]*)", text))
    assert used <= known, used - known
