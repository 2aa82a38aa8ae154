"""``--trust-calibration``: a run attaches its refusal judge's calibration figures to the results JSON
and names them in the terminal; figures of another judge are attached but flagged."""
from __future__ import annotations

from conftest import TrustRun, rows


def test_shipped_figures_of_the_runs_refusal_judge_are_attached(trust: TrustRun) -> None:
    trust.data("suites/data.jsonl", rows(6))
    trust.suite("suites/demo.yaml")
    result, res = trust.report("--trust-model=replay", "--trust-refusal=offline", "--trust-calibration=shipped")
    cal = res["calibration"]
    assert cal["available"] and cal["matches_run"] and cal["judge"]["name"] == "offline"
    assert cal["overall"]["n"] == 1800 and 0 < cal["overall"]["kappa"] <= 1
    assert "judge calibration [offline]: agreement" in result.stdout.str()

    result, res = trust.report("--trust-model=replay", "--trust-refusal=keyword",
                               "--trust-calibration=shipped", name="kw.json")
    assert not res["calibration"]["available"]
    assert "calibrate --trust-refusal=keyword" in result.stdout.str()


def test_figures_of_another_judge_are_flagged(trust: TrustRun) -> None:
    from pytest_trustllm.scoring.calibrate import shipped_path

    trust.data("suites/data.jsonl", rows(6))
    trust.suite("suites/demo.yaml")
    result, res = trust.report("--trust-model=replay", "--trust-refusal=keyword",
                               f"--trust-calibration={shipped_path('offline')}")
    assert res["calibration"]["available"] and res["calibration"]["matches_run"] is False
    assert "NOT the refusal judge this run used" in result.stdout.str()
