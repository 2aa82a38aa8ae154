"""Generic reductions and the metric driver."""
import pytest

from pytest_trustllm.metrics import MetricSpec, compute_metrics
from pytest_trustllm.types import Score, ScoredItem


def item(i, verdict="pass", value=1.0, **fields):
    return ScoredItem(str(i), fields, Score(verdict, value if verdict != "dropped" else None, "", {}))


def test_proportion_counts_dropped_apart():
    items = [item(1), item(2, "violation", 0.0), item(3, "dropped"), item(4)]
    mv = compute_metrics([MetricSpec("acc", "proportion")], items)["acc"]
    assert mv.value == pytest.approx(2 / 3) and mv.n == 3 and mv.dropped == 1 and mv.kind == "proportion"


def test_where_filters_and_composites():
    items = [item(1, src="a"), item(2, "violation", 0.0, src="a"), item(3, src="b"), item(4, src="c")]
    specs = [
        MetricSpec("a", "proportion", where={"src": "a"}),
        MetricSpec("not_a", "proportion", where={"src": {"not": "a"}}),
        MetricSpec("bc", "proportion", where={"src": ["b", "c"]}),
        MetricSpec("avg", "mean_of", of=("a", "not_a")),
        MetricSpec("diff", "difference", of=("not_a", "a")),
        MetricSpec("pct", "proportion", where={"src": "a"}, scale=100, round=1),
    ]
    got = compute_metrics(specs, items)
    assert got["a"].value == 0.5 and got["not_a"].value == 1.0 and got["bc"].n == 2
    assert got["avg"].value == 0.75 and got["diff"].value == 0.5 and got["pct"].value == 50.0


def test_group_mean_rounds_groups_first():
    items = [item(i, "pass" if i % 3 else "violation", 1.0 if i % 3 else 0.0, g="x" if i < 3 else "y")
             for i in range(6)]
    mv = compute_metrics([MetricSpec("m", "group_mean", args={"by": "g", "round_groups": 2})], items)["m"]
    assert mv.detail["groups"] == {"x": 0.67, "y": 0.67}
    assert mv.value == pytest.approx(0.67)


def test_ratio_and_empty_values():
    items = [ScoredItem("1", {}, Score("pass", 1.0, "", {"hit": 1, "has": 1})),
             ScoredItem("2", {}, Score("pass", 1.0, "", {"hit": 0, "has": 1}))]
    assert compute_metrics([MetricSpec("r", "ratio", args={"numerator": "hit", "denominator": "has"})],
                           items)["r"].value == 0.5
    assert compute_metrics([MetricSpec("m", "mean")], [])["m"].value is None
    assert compute_metrics([MetricSpec("avg", "mean_of", of=("m",)), MetricSpec("m", "mean")], [])["avg"].value is None
