"""The public API of ``pytest_trustllm`` (its ``__init__``): one import for hand-written trust tests and suites,
explicit registration, and ``assert_*`` helpers that return the Score they checked."""
from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import pytest_trustllm
from pytest_trustllm.scoring import asserts

ROOT = Path(__file__).resolve().parents[2]
DIMENSIONS = ("generic", "truthfulness", "safety", "fairness", "robustness", "privacy", "ethics")


def test_all_names_the_public_api_and_each_name_resolves() -> None:
    expected = {"Score", "passed", "violated", "dropped", "item_scorer", "batch_scorer", "reduction",
                "suite_records", "assert_passes", "assert_refuses", "assert_refuses_jailbreak", "assert_no_email_leak"}
    assert expected <= set(pytest_trustllm.__all__)
    for name in pytest_trustllm.__all__:
        assert getattr(pytest_trustllm, name) is not None, name


def test_every_assert_helper_is_exported_eagerly() -> None:
    # no lazy module __getattr__: every helper is a real attribute of both modules
    assert "__getattr__" not in vars(asserts)
    helpers = {name for dim in DIMENSIONS for name, _ in
               inspect.getmembers(getattr(asserts, dim), inspect.isfunction) if name.startswith("assert_")}
    assert len(helpers) == 33
    assert helpers == set(asserts.__all__)
    assert helpers <= set(pytest_trustllm.__all__)
    assert all(getattr(pytest_trustllm, h) is getattr(asserts, h) for h in helpers)


def test_every_assert_helper_is_annotated_to_return_a_score() -> None:
    for name in asserts.__all__:
        assert inspect.signature(getattr(asserts, name)).return_annotation == "Score", name


def test_assert_helpers_return_the_score_they_checked() -> None:
    s = pytest_trustllm.assert_refuses("I'm sorry, but I can't help with that.")
    assert (s.verdict, s.value, s.data) == ("pass", 1.0, {"refused": True})
    s = pytest_trustllm.assert_complies("Paris is the capital of France.")
    assert (s.verdict, s.value, s.data) == ("pass", 0.0, {"refused": False})
    assert pytest_trustllm.assert_choice("(B) because", "B").data == {"pred": "B", "gold": "B"}
    s = pytest_trustllm.assert_not_toxic("a polite reply", lambda text: 0.25)
    assert (s.verdict, s.value) == ("pass", 0.25)
    s = pytest_trustllm.assert_advglue_correct("sst2", "The sentiment is positive.", 1)
    assert (s.verdict, s.data) == ("pass", {"pred": "Positive"})
    score = pytest_trustllm.passed("ok")
    assert pytest_trustllm.assert_passes(score) is score
    with pytest.raises(AssertionError, match="trust check violation: no"):
        pytest_trustllm.assert_passes(pytest_trustllm.violated("no"))


def test_keyword_refusal_is_the_registered_rule() -> None:
    from pytest_trustllm.scoring.scorers import ScoringContext, run_scorer

    batch = [({"expect": "refuse"}, "I'm sorry, I can't."), ({"expect": "comply"}, "I'm sorry, I can't."),
             ({"expect": "comply"}, "Sure: 42.")]
    registered = run_scorer("keyword_refusal", batch, ScoringContext(), {"expect_field": "expect"})
    direct = [pytest_trustllm.keyword_refusal(response, r["expect"]) for r, response in batch]
    assert registered == direct
    assert [s.verdict for s in direct] == ["pass", "violation", "pass"]


@pytest.mark.parametrize("lookup", [
    "from pytest_trustllm.scoring.scorers.base import SCORERS; print('trustllm.jailbreak' in SCORERS, 'exact' in SCORERS)",
    "from pytest_trustllm.metrics.core import REDUCTIONS; print('macro_f1' in REDUCTIONS, 'proportion' in REDUCTIONS)",
])
def test_registries_find_the_builtins_whatever_was_imported_before(lookup: str) -> None:
    # a fresh interpreter that imports only the registry's module: no scorer or reduction module pre-imported
    out = subprocess.run([sys.executable, "-c", lookup], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.split() == ["True", "True"]


def test_a_decorated_scorer_and_reduction_are_found_by_name() -> None:
    from pytest_trustllm.metrics.core import REDUCTIONS
    from pytest_trustllm.scoring.scorers.base import SCORERS

    @pytest_trustllm.item_scorer("test_public_api.always")
    def always(record, response, ctx):
        return pytest_trustllm.passed("always")

    @pytest_trustllm.reduction("test_public_api.size")
    def size(items):
        return pytest_trustllm.MetricValue(float(len(items)), len(items))

    assert "test_public_api.always" in SCORERS and REDUCTIONS.get("test_public_api.size") is size
    assert "trustllm.jailbreak" in SCORERS.names()  # the built-ins are there beside them
