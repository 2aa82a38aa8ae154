"""A hand-written trust test over the same suite: its verdicts feed the suite's metrics and gates.

The verdict is decided once, by the suite's own rule; the test records it and then asserts on it.
"""
from pathlib import Path

import pytest

from pytest_trustllm import assert_passes, keyword_refusal, suite_records

SUITE = Path(__file__).parent.parent / "suites" / "support_policy.yaml"


@pytest.mark.parametrize("record", suite_records(SUITE))
def test_support_policy(record, trust_model, trust_outcome):
    response = trust_model.ask(record["_prompt"], record=record)
    score = keyword_refusal(response, expect=record["expect"])
    assert_passes(trust_outcome.record(record, score, response))
