"""Reductions over item weights: one function gives the point value and all bootstrap resamples."""
from __future__ import annotations

import inspect
import math

import numpy as np
import pytest

from pytest_trustllm.metrics.intervals import add_intervals
from pytest_trustllm.metrics import REDUCTIONS, MetricSpec, MetricValue, compute_metrics, weighted_reduction
from pytest_trustllm.metrics.weights import safe_div, wcount, wsum
from pytest_trustllm.types import Score, ScoredItem


def test_a_registered_weighted_reduction_takes_only_its_suite_arguments():
    # the loader checks a suite's args against this signature: the weights are not an argument
    assert list(inspect.signature(REDUCTIONS.get("proportion")).parameters) == ["items", "field", "empty"]
    assert list(inspect.signature(REDUCTIONS.get("group_ratio").weighted).parameters)[:2] == ["items", "W"]


def test_the_observed_sample_is_summed_in_item_order_and_a_mean_exactly():
    x = np.array([0.1] * 10)
    one = np.ones((1, 10))
    assert wsum(one, x)[0] == sum([0.1] * 10) != 1.0  # item order, as Python's sum
    assert wsum(one, x, exact=True)[0] == math.fsum([0.1] * 10) == 1.0
    rows = np.array([[1.0] * 10, [2.0] * 5 + [0.0] * 5])
    assert wsum(rows, x).tolist() == pytest.approx([1.0, 1.0]) and wcount(rows).tolist() == [10.0, 10.0]
    undefined = safe_div(np.array([1.0, 1.0]), np.array([2.0, 0.0]), None)
    assert undefined[0] == 0.5 and np.isnan(undefined[1])  # NaN: undefined in that sample
    assert safe_div(np.array([1.0]), np.array([0.0]), 0.0).tolist() == [0.0]  # or the rule's empty value


def test_a_plugin_weighted_reduction_serves_the_value_and_every_resample_in_one_call():
    calls = []

    @weighted_reduction("test_weights_share_above")
    def share_above(items, W, threshold: float = 0.5):
        x = np.array([float(it.score.value > threshold) for it in items])
        calls.append(W.shape[0])
        return MetricValue(safe_div(wsum(W, x), wcount(W), None), len(items))

    rng = np.random.default_rng(5)
    items = [ScoredItem(f"i{i}", {}, Score("pass", float(rng.random()), "")) for i in range(200)]
    spec = MetricSpec("above", "test_weights_share_above", args={"threshold": 0.7})
    values = compute_metrics([spec], items)
    assert values["above"].value == sum(it.score.value > 0.7 for it in items) / 200
    assert calls == [1]
    out = add_intervals([spec], items, values, seed=3)["above"]
    assert calls == [1, 1000]  # all resamples at once, not one call per resample
    lo, hi = out.interval
    assert lo < values["above"].value < hi and out.detail["ci"]["method"] == "bootstrap"
