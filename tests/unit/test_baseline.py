"""Baselines: exact McNemar on known tables, Holm, paired bootstrap, flipped items, save/load."""
from __future__ import annotations

import json
from math import comb

import pytest

from pytest_trustllm.verdict.baseline import (
    BaselineError, bootstrap_test, compare_suite, decide, flips, holm, load_baseline, mcnemar_exact, save_baseline,
)
from pytest_trustllm.verdict.decisions import apply_decisions
from pytest_trustllm.metrics import MetricSpec
from pytest_trustllm.settings import Settings


@pytest.mark.parametrize("worse, better, want", [
    (1, 12, 2 * (comb(13, 0) + comb(13, 1)) / 2 ** 13),                          # 28/8192 = 0.00342
    (3, 10, 2 * sum(comb(13, k) for k in range(4)) / 2 ** 13),                   # 756/8192 = 0.0923
    (0, 6, 2 / 2 ** 6),                                                          # 0.03125
    (5, 5, 1.0),
    (0, 0, 1.0),
    (2, 25, 2 * sum(comb(27, k) for k in range(3)) / 2 ** 27),
])
def test_mcnemar_exact_against_hand_computed_p_values(worse, better, want):
    assert mcnemar_exact(worse, better) == pytest.approx(want, rel=1e-12)
    assert mcnemar_exact(better, worse) == pytest.approx(want, rel=1e-12)  # two-sided


def test_holm():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.001, 0.02, 0.9]) == pytest.approx([1.0, 0.004, 0.06, 1.0])
    assert holm([]) == []


def record(i, ok, source="a", value=None):
    v = (1.0 if ok else 0.0) if value is None else value
    return {"id": f"q{i:02d}", "index": i, "outcome": "pass" if ok else "violation", "fields": {"source": source},
            "score": {"verdict": "pass" if ok else "violation", "value": v, "explanation": "", "data": {}}}


SPECS = [MetricSpec("acc", "proportion", direction="higher"),
         MetricSpec("acc_a", "proportion", where={"source": "a"}, direction="higher"),
         MetricSpec("acc_b", "proportion", where={"source": "b"}, direction="higher"),
         MetricSpec("avg", "mean_of", of=("acc_a", "acc_b"), direction="higher")]


def runs():
    """40 items; 12 regress (pass -> violation), 1 improves."""
    base = [record(i, i < 36, "ab"[i % 2]) for i in range(40)]
    cur = [record(i, (i < 36 and not 10 <= i < 22) or i == 38, "ab"[i % 2]) for i in range(40)]
    return base, cur


def test_mcnemar_on_per_item_rates_and_paired_bootstrap_on_composites():
    base, cur = runs()
    rows = {r["metric"]: r for r in compare_suite(SPECS, base, cur, seed=0)}
    acc = rows["acc"]
    assert acc["test"] == "mcnemar"
    assert acc["discordant"] == {"1->0": 12, "0->1": 1, "worse": 12, "better": 1}
    assert acc["p"] == pytest.approx(28 / 8192)
    assert acc["delta"] == pytest.approx((25 - 36) / 40)
    assert rows["avg"]["test"] == "paired-bootstrap"
    assert rows["avg"]["p"] < 0.01 and rows["avg"]["delta"] < 0
    decide(list(rows.values()), alpha=0.05)
    adjusted = dict(zip(rows, holm([r["p"] for r in rows.values()])))  # Holm across all four metrics
    assert acc["p_holm"] == pytest.approx(adjusted["acc"]) and acc["p_holm"] > acc["p"]
    assert acc["regression"] and rows["avg"]["regression"]


def test_lower_is_better_swaps_worse_and_better():
    base, cur = runs()
    rows = compare_suite([MetricSpec("harm", "proportion", direction="lower")], base, cur)
    assert rows[0]["discordant"]["worse"] == 1 and rows[0]["discordant"]["better"] == 12
    decide(rows, 0.05)
    assert rows[0]["improvement"] and not rows[0]["regression"]


def test_identical_runs_show_no_difference():
    base, _ = runs()
    rows = decide(compare_suite(SPECS, base, base), 0.05)
    assert all(r["delta"] == 0 and r["p"] == 1.0 and not r["significant"] for r in rows)


def test_bootstrap_test_is_not_floored_by_the_number_of_resamples():
    import numpy as np

    diffs = np.random.default_rng(0).normal(0.2, 0.02, 1000)
    out = bootstrap_test(0.2, diffs)
    assert out["p"] < 1e-10  # z = 10: a count over 1,000 resamples could not go below 1/1001
    assert out["delta_interval"][0] < 0.2 < out["delta_interval"][1]


def test_flips_list_both_directions():
    base, cur = runs()
    f = flips(base, cur)
    assert [e["id"] for e in f["regressed"]] == [f"q{i:02d}" for i in range(10, 22)]
    assert [e["id"] for e in f["improved"]] == ["q38"]


def results_doc(records, model="old-model"):
    return {"schema": "pytest-trustllm/results/1", "model": {"spec": model, "identity": {"backend": "replay"}},
            "settings": {"rules": "paper", "seed": 0, "sample": None, "shard": None},
            "suites": [{"id": "demo/qa", "file": "suites/qa.yaml", "model": model, "dimension": "truthfulness",
                        "task": "qa", "origin": None, "metrics": [{"name": "acc", "value": 0.9, "interval": None,
                                                                    "n": 40, "direction": "higher"}],
                        "records": records}]}


def test_save_and_load_round_trip_and_results_files_are_accepted(tmp_path):
    base, _ = runs()
    path = tmp_path / "base.json"
    assert save_baseline(path, results_doc(base)) == 40
    doc = load_baseline(path)
    assert doc["schema"] == "pytest-trustllm/baseline/1"
    assert doc["model"]["spec"] == "old-model"
    assert doc["suites"][0]["records"][0] == {k: base[0][k] for k in ("id", "index", "outcome", "fields", "score")}
    (tmp_path / "results.json").write_text(json.dumps(results_doc(base)))
    assert load_baseline(tmp_path / "results.json")["suites"][0]["id"] == "demo/qa"


def test_unusable_baselines_say_why(tmp_path):
    with pytest.raises(BaselineError, match="baseline file not found: .*missing.json.*--trust-save-baseline"):
        load_baseline(tmp_path / "missing.json")
    (tmp_path / "other.json").write_text('{"schema": "something/else"}')
    with pytest.raises(BaselineError, match="neither a baseline"):
        load_baseline(tmp_path / "other.json")


SUITE_YAML = """
trustllm_suite: 1
id: demo/qa
dimension: truthfulness
data: data.json
record: {fields: [source]}
scorer: {name: exact}
metrics:
  - {name: acc, reduce: proportion, direction: higher}
"""


def test_apply_decisions_fails_on_a_regression_and_lists_flipped_items(tmp_path):
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "qa.yaml").write_text(SUITE_YAML)
    base, cur = runs()
    save_baseline(tmp_path / "base.json", results_doc(base))
    current = results_doc(cur, model="new-model")["suites"]
    extra = apply_decisions(Settings(model=("new-model",), baseline=str(tmp_path / "base.json")), current,
                            root=tmp_path)
    b = extra["baseline"]
    assert b["compared"] == 1 and b["regressions"] == 1
    assert b["failures"] == ["demo/qa acc regressed against the baseline: 0.900 -> 0.625 (Holm p=0.0034)"]
    assert [e["id"] for e in b["flips"]["demo/qa"]["improved"]] == ["q38"]
    text = "\n".join(extra["summary_extra"])
    assert "REGRESSION demo/qa acc↑: baseline 0.900 -> now 0.625 (Δ -0.275, n=40), McNemar exact p=0.0034" in text
    assert "demo/qa: 12 item(s) flipped pass -> violation: q10, q11, q12" in text
    assert "demo/qa: 1 item(s) flipped violation -> pass: q38" in text


def test_a_missing_baseline_fails_the_run(tmp_path):
    extra = apply_decisions(Settings(model=("m",), baseline=str(tmp_path / "nope.json")), [], root=tmp_path)
    assert extra["baseline"]["failures"] and "baseline file not found" in extra["baseline"]["failures"][0]
