"""Intervals: Wilson for proportions, a seeded (cluster, joint) bootstrap for everything else."""
from __future__ import annotations

import random

import numpy as np
import pytest

from pytest_trustllm.metrics.intervals import add_intervals, wilson, _expand
from pytest_trustllm.metrics import REDUCTIONS, MetricSpec, compute_metrics
from pytest_trustllm.metrics.classification import chi2_p_batch

# each built-in reduction evaluated on rows of item weights (the form the intervals use)
FAST = {name: (lambda fn: lambda items, W, **args: fn(items, W, **args).value)(REDUCTIONS.get(name).weighted)
        for name in REDUCTIONS if hasattr(REDUCTIONS.get(name), "weighted")}
from pytest_trustllm.types import Score, ScoredItem


def item(i: int, value: float | None, verdict: str = "pass", **fields) -> ScoredItem:
    data = fields.pop("data", {})
    return ScoredItem(f"i{i:04d}", fields, Score(verdict, value, "", data))


def binary(n: int, p: float, rng: random.Random) -> list[ScoredItem]:
    return [item(i, 1.0 if rng.random() < p else 0.0) for i in range(n)]


def interval(specs, items, seed=0):
    return add_intervals(specs, items, compute_metrics(specs, items), seed=seed)


# ---- Wilson -------------------------------------------------------------------------------------

def test_wilson_matches_the_hand_computed_interval():
    # p = 0.8, n = 10, z = 1.959964: centre 0.71672, half-width 0.22658
    lo, hi = wilson(8, 10)
    assert lo == pytest.approx(0.49016, abs=5e-5)
    assert hi == pytest.approx(0.94330, abs=5e-5)
    assert wilson(0, 0) is None


def test_proportion_metrics_get_wilson_scaled_and_described():
    items = [item(i, 1.0 if i < 30 else 0.0) for i in range(40)]
    spec = MetricSpec("rate", "proportion", scale=100.0)
    mv = interval([spec], items)["rate"]
    lo, hi = wilson(30, 40)
    assert mv.interval == pytest.approx((100 * lo, 100 * hi))
    assert mv.detail["ci"] == {"method": "wilson", "successes": 30, "n": 40}


@pytest.mark.slow
def test_wilson_covers_the_true_rate_in_about_95_percent_of_simulated_runs():
    rng = random.Random(2024)
    spec, p, covered = MetricSpec("rate", "proportion"), 0.3, 0
    for _ in range(2000):
        lo, hi = interval([spec], binary(200, p, rng))["rate"].interval
        covered += lo <= p <= hi
    assert 0.93 <= covered / 2000 <= 0.97


@pytest.mark.slow
def test_bootstrap_of_a_mean_covers_the_true_mean_in_about_95_percent_of_simulated_runs():
    rng = np.random.default_rng(7)
    spec, covered = MetricSpec("m", "mean"), 0
    for run in range(2000):
        items = [item(i, float(v)) for i, v in enumerate(rng.normal(0.5, 0.2, 150))]
        mv = interval([spec], items, seed=run)["m"]
        assert mv.detail["ci"]["method"] == "bootstrap"
        covered += mv.interval[0] <= 0.5 <= mv.interval[1]
    assert 0.93 <= covered / 2000 <= 0.97


# ---- coverage of the grouped and composite bootstrap intervals the TrustLLM gates use ----------
# Each simulation draws 1,000 data sets from a known population (seeded), computes the metric's 95%
# interval as a run does (compute_metrics + add_intervals, bootstrap seed = run number) and counts
# how often it holds the population value. The figures are in docs/decisions.md.

RUNS = 1000
LEAK_GROUPS = [f"{shots}/{t}" for shots in ("zero-shot", "five-shot") for t in "ABCD"]
P_REFUSE = np.linspace(0.3, 0.9, 8)  # one refusal rate per leakage group
P_LEAK = 0.4  # of the responses that give an address, the share giving the true one


def coverage(specs, metric: str, draw, truth: float) -> float:
    rng, covered = np.random.default_rng(11), 0
    for run in range(RUNS):
        mv = interval(specs, draw(rng), seed=run)[metric]
        assert mv.detail["ci"]["method"] == "bootstrap" and mv.interval is not None
        covered += mv.interval[0] <= truth <= mv.interval[1]
    return covered / RUNS


def leakage_items(rng, per_group: int = 40) -> list[ScoredItem]:
    """privacy/leakage.yaml's shape: 8 shot x template groups, refused / has_address / leaked."""
    items = []
    for g, p in zip(LEAK_GROUPS, P_REFUSE):
        for k in range(per_group):
            refused = float(rng.random() < p)
            has = float(not refused and rng.random() < 0.8)
            leaked = float(has and rng.random() < P_LEAK)
            items.append(ScoredItem(f"{g}-{k}", {"leak_group": g},
                                    Score("pass", refused, "", {"refused": refused, "has_address": has, "leaked": leaked})))
    return items


@pytest.mark.slow
def test_leakage_group_mean_interval_coverage():
    """RtA: the mean of the 8 groups' refusal rates (toolkit rule: groups not rounded)."""
    spec = MetricSpec("rta", "group_mean", args={"by": "leak_group", "field": "refused", "empty_group": 0.0,
                                                 "groups": LEAK_GROUPS})
    assert 0.93 <= coverage([spec], "rta", leakage_items, float(P_REFUSE.mean())) <= 0.97


@pytest.mark.slow
def test_leakage_ratio_of_proportions_interval_coverage():
    """CD: per group, true addresses among responses that give one (a ratio of two proportions whose
    denominator is small where refusals are common), averaged over the 8 groups. The percentile
    bootstrap covers a little less than 95% here: 92.6% over these 1,000 runs (93.2% over 2,000;
    92.9% with 100 items a group, 90.2% with 20), as docs/decisions.md states; this test holds the
    interval to at least 92% at this size."""
    spec = MetricSpec("cd", "group_ratio", direction="lower",
                      args={"by": "leak_group", "numerator": "leaked", "denominator": "has_address",
                            "groups": LEAK_GROUPS})
    assert 0.92 <= coverage([spec], "cd", leakage_items, P_LEAK) <= 0.97


@pytest.mark.slow
def test_macro_f1_interval_coverage():
    """truthfulness/external's macro F1 over two labels; the population value from the joint
    probabilities of (gold, pred)."""
    acc = {"S": 0.85, "R": 0.7}

    def draw(rng):
        items = []
        for i in range(150):
            gold = "S" if rng.random() < 0.5 else "R"
            pred = gold if rng.random() < acc[gold] else ("R" if gold == "S" else "S")
            items.append(ScoredItem(f"e{i}", {}, Score("pass", float(pred == gold), "", {"gold": gold, "pred": pred})))
        return items

    # P(gold, pred): (S,S) .425, (S,R) .075, (R,R) .35, (R,S) .15
    f1_s = 2 * 0.425 / (2 * 0.425 + 0.15 + 0.075)
    f1_r = 2 * 0.35 / (2 * 0.35 + 0.075 + 0.15)
    spec = MetricSpec("f1", "macro_f1", args={"pred": "pred", "gold": "gold"})
    assert 0.93 <= coverage([spec], "f1", draw, (f1_s + f1_r) / 2) <= 0.97


@pytest.mark.slow
def test_ethics_composite_interval_coverage():
    """ethics.yaml's accuracy: the mean of two class accuracies (a composite over `where` subsets,
    its parts resampled jointly)."""
    def draw(rng):
        items = []
        for i in range(200):
            label = "wrong" if rng.random() < 0.4 else "not wrong"
            ok = float(rng.random() < (0.55 if label == "wrong" else 0.7))
            items.append(ScoredItem(f"t{i}", {"label": label}, Score("pass", ok, "", {})))
        return items

    specs = [MetricSpec("good_acc", "proportion", where={"label": {"not": "wrong"}}, args={"empty": 0.0}),
             MetricSpec("bad_acc", "proportion", where={"label": "wrong"}, args={"empty": 0.0}),
             MetricSpec("accuracy", "mean_of", of=("good_acc", "bad_acc"))]
    assert 0.93 <= coverage(specs, "accuracy", draw, (0.7 + 0.55) / 2) <= 0.97


@pytest.mark.slow
def test_pair_clustered_interval_coverage():
    """AdvGLUE's shape: 150 pairs whose two items share a difficulty; the unit is the pair."""
    def draw(rng):
        items = []
        for g in range(150):
            p = 0.9 if rng.random() < 0.6 else 0.3
            items += [ScoredItem(f"p{g}-{k}", {"_group": f"pair={g}"}, Score("pass", float(rng.random() < p), "", {}))
                      for k in range(2)]
        return items

    assert 0.93 <= coverage([MetricSpec("acc", "mean")], "acc", draw, 0.6 * 0.9 + 0.4 * 0.3) <= 0.97


# ---- bootstrap ----------------------------------------------------------------------------------

def test_the_same_seed_gives_the_same_interval_and_another_seed_another():
    items = [item(i, float(v)) for i, v in enumerate(np.random.default_rng(1).random(80))]
    spec = MetricSpec("m", "mean")
    a, b, c = interval([spec], items, 3)["m"], interval([spec], items, 3)["m"], interval([spec], items, 4)["m"]
    assert a.interval == b.interval
    assert a.interval != c.interval
    assert a.interval[0] < a.value < a.interval[1]


def test_a_composite_resamples_its_parts_jointly():
    """difference(x, x) is 0 on every joint resample; resampling the parts separately would not be."""
    items = [item(i, float(v)) for i, v in enumerate(np.random.default_rng(2).random(60))]
    specs = [MetricSpec("a", "mean"), MetricSpec("b", "mean"), MetricSpec("d", "difference", of=("a", "b"))]
    mv = interval(specs, items)["d"]
    assert mv.value == 0.0
    assert mv.interval == (0.0, 0.0)
    assert mv.detail["ci"]["units"] == 60


def test_groups_are_resampled_whole():
    """20 groups of 10 identical values: the interval is as wide as 20 observations allow, not 200."""
    rng = random.Random(5)
    items = []
    for g in range(20):
        v = 1.0 if rng.random() < 0.5 else 0.0
        items += [item(g * 10 + k, v, _group=f"pair={g}") for k in range(10)]
    spec = MetricSpec("m", "mean")
    grouped = interval([spec], items)["m"]
    flat = interval([spec], [ScoredItem(it.id, {}, it.score) for it in items])["m"]
    assert grouped.detail["ci"]["unit"] == "record group" and grouped.detail["ci"]["units"] == 20
    assert flat.detail["ci"]["units"] == 200
    assert grouped.interval[1] - grouped.interval[0] > 2.5 * (flat.interval[1] - flat.interval[0])


def test_spec_group_field_sets_the_unit_even_for_a_proportion():
    items = [item(i, float(i % 2), pair=i // 2) for i in range(40)]
    spec = MetricSpec("rate", "proportion", group="pair")
    mv = interval([spec], items)["rate"]
    assert mv.detail["ci"]["method"] == "bootstrap"
    assert mv.detail["ci"]["units"] == 20


def test_no_interval_without_a_value_or_with_one_unit_and_undefined_resamples_are_counted():
    one = [item(0, 1.0, data={"x": 1.0, "y": 2.0})]
    mv = interval([MetricSpec("r", "pearson", args={"x": "x", "y": "y"})], one)["r"]
    assert mv.value is None and mv.interval is None
    mv = interval([MetricSpec("m", "mean")], one)["m"]
    assert mv.value == 1.0 and mv.interval is None and mv.detail["ci"]["note"] == "fewer than 2 resampling units"
    two = [item(0, 1.0, data={"x": 1.0, "y": 2.0}), item(1, 1.0, data={"x": 2.0, "y": 3.0})]
    mv = interval([MetricSpec("r", "pearson", args={"x": "x", "y": "y"})], two)["r"]
    # r is undefined whenever a resample draws the same point twice: about half of them
    assert 400 < mv.detail["ci"]["undefined"] < 600


# ---- the vectorised twins re-run the reductions faithfully ----------------------------------------

def _rows(rng: np.random.Generator, n: int, rows: int = 6) -> np.ndarray:
    return np.array([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(rows)], dtype=float)


CASES = {
    "proportion": ({}, lambda r, i: (float(r.random() < 0.6), {})),
    "mean": ({}, lambda r, i: (float(r.normal()), {})),
    "max": ({}, lambda r, i: (float(r.random()), {})),
    "count": ({"verdict": "violation"}, lambda r, i: (1.0, {})),
    "ratio": ({"numerator": "a", "denominator": "b"},
              lambda r, i: (1.0, {"a": int(r.random() < 0.3), "b": int(r.random() < 0.8)})),
    "group_mean": ({"by": "g", "round_groups": 2, "groups": ["x", "y", "z", "w"], "empty_group": 0.0},
                   lambda r, i: (float(r.random() < 0.5), {"g": "xyz"[i % 3]})),
    "group_ratio": ({"by": "g", "numerator": "a", "denominator": "b", "groups": ["x", "y", "w"]},
                    lambda r, i: (1.0, {"g": "xy"[i % 2], "a": int(r.random() < 0.3), "b": 1})),
    "f1_all_correct": ({}, lambda r, i: (float(r.random() < 0.7), {})),
    "pearson": ({"x": "x", "y": "y"}, lambda r, i: (1.0, {"x": float(r.normal()), "y": float(r.normal())})),
    "macro_f1": ({}, lambda r, i: (1.0, {"gold": "SR"[i % 2], "pred": "SRN"[int(r.integers(0, 3))]})),
    "chi2_p": ({"by": "sex"}, lambda r, i: (1.0, {"sex": "mf"[i % 2], "option": "ABC"[int(r.integers(0, 3))]})),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_vectorised_twin_equals_its_reduction_on_the_resampled_items(name):
    args, make = CASES[name]
    rng = np.random.default_rng(len(name))
    items = []
    for i in range(60):
        value, data = make(rng, i)
        verdict = "dropped" if i % 17 == 5 else ("violation" if rng.random() < 0.3 else "pass")
        items.append(ScoredItem(f"i{i}", {}, Score(verdict, None if verdict == "dropped" else value, "", data)))
    W = _rows(rng, len(items))
    fast = FAST[name](items, W, **args)
    fn = REDUCTIONS.get(name)
    for b in range(W.shape[0]):
        want = fn(_expand(items, W[b]), **args).value
        assert (want is None and np.isnan(fast[b])) or fast[b] == pytest.approx(want, rel=1e-9, abs=1e-12), b


def test_paired_twins_count_a_pair_drawn_twice_twice():
    """AdvGLUE and pair rates key items by pair: a pair drawn twice must weigh twice (the twin does,
    re-running the reduction on copies with their own pair keys does too)."""
    rng = np.random.default_rng(3)
    items = []
    for p in range(30):
        for kind in ("original", "modified"):
            ok = bool(rng.random() < (0.8 if kind == "original" else 0.5))
            items.append(ScoredItem(f"{p}-{kind}", {"_group": f"pair={p}"},
                                    Score("pass" if ok else "violation", float(ok), "",
                                          {"task": "qqp sst2".split()[p % 2], "index": str(p), "kind": kind,
                                           "correct": ok})))
    unit_w = _rows(rng, 30, rows=4)
    W = np.repeat(unit_w, 2, axis=1)  # both items of a pair carry the pair's count
    for stat in ("acc", "adv_acc", "asr"):
        fast = FAST["advglue"](items, W, stat=stat)
        for b in range(W.shape[0]):
            copies = []
            for it, w in zip(items, W[b]):
                for k in range(int(w)):
                    copies.append(ScoredItem(f"{it.id}#{k}", it.fields,
                                             Score(it.score.verdict, it.score.value, "",
                                                   {**it.score.data, "index": f"{it.score.data['index']}#{k}"})))
            want = REDUCTIONS.get("advglue")(copies, stat=stat).value
            assert fast[b] == pytest.approx(want), (stat, b)


def test_chi2_batch_equals_scipy():
    from scipy.stats import chi2_contingency

    rng = np.random.default_rng(11)
    for shape in ((2, 2), (2, 3), (4, 3)):
        tables = rng.integers(1, 30, (20, *shape)).astype(float)
        want = [chi2_contingency(t.astype(int))[1] for t in tables]
        assert chi2_p_batch(tables) == pytest.approx(want, rel=1e-12)


def test_an_unknown_reduction_is_re_run_on_each_resample():
    from pytest_trustllm.metrics import reduction
    from pytest_trustllm.metrics.core import MetricValue

    calls = []

    @reduction("test_intervals_median")
    def median(items):
        calls.append(len(items))
        vals = sorted(it.score.value for it in items)
        return MetricValue(vals[len(vals) // 2], len(vals))

    try:
        items = [item(i, float(i)) for i in range(31)]
        mv = add_intervals([MetricSpec("med", "test_intervals_median")], items,
                           {"med": median(items)}, seed=0, resamples=200)["med"]
        assert len(calls) == 1 + 200 and all(c == 31 for c in calls)
        assert mv.interval[0] < 15 < mv.interval[1]
    finally:
        REDUCTIONS._entries.pop("test_intervals_median", None)
