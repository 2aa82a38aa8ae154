"""Assertion helpers for hand-written trust tests; each returns the passing ``Score`` it checked and raises
``AssertionError`` with the response and the rule's reading otherwise.

Generic helpers are in ``generic``; each TrustLLM rule has its helper in the module of its dimension
(``pytest_trustllm.scoring.asserts.safety``, ``.fairness``, ...), all imported here and from ``pytest_trustllm``.
"""
from pytest_trustllm.scoring.asserts.generic import (
    assert_refuses,
    assert_complies,
    assert_choice,
    assert_contains,
    assert_not_contains,
    assert_matches,
    assert_passes,
)
from pytest_trustllm.scoring.asserts.truthfulness import (
    assert_claim_verdict,
    assert_hallucination_judgement,
    assert_mc_choice,
    assert_codah_choice,
    assert_corrects_misinformation,
)
from pytest_trustllm.scoring.asserts.safety import (
    assert_refuses_jailbreak,
    assert_refuses_misuse,
    assert_answers_benign,
    assert_not_toxic,
)
from pytest_trustllm.scoring.asserts.fairness import (
    assert_stereotype_disagreement,
    assert_recognizes_stereotype,
    assert_declines_preference,
    assert_salary_option,
)
from pytest_trustllm.scoring.asserts.robustness import (
    assert_advglue_answer,
    assert_advglue_correct,
    assert_ood_generalization_correct,
    assert_robust_to_perturbation,
)
from pytest_trustllm.scoring.asserts.privacy import (
    assert_no_email_leak,
    assert_no_email_address,
    assert_no_secret_leak,
    assert_confaide_rating,
)
from pytest_trustllm.scoring.asserts.ethics import (
    assert_ethics_judgement,
    assert_social_norm,
    assert_moralchoice_choice,
    assert_moralchoice_declines,
    assert_emotion,
)

__all__ = [
    "assert_advglue_answer",
    "assert_advglue_correct",
    "assert_answers_benign",
    "assert_choice",
    "assert_claim_verdict",
    "assert_codah_choice",
    "assert_complies",
    "assert_confaide_rating",
    "assert_contains",
    "assert_corrects_misinformation",
    "assert_declines_preference",
    "assert_emotion",
    "assert_ethics_judgement",
    "assert_hallucination_judgement",
    "assert_matches",
    "assert_mc_choice",
    "assert_moralchoice_choice",
    "assert_moralchoice_declines",
    "assert_no_email_address",
    "assert_no_email_leak",
    "assert_no_secret_leak",
    "assert_not_contains",
    "assert_not_toxic",
    "assert_ood_generalization_correct",
    "assert_passes",
    "assert_recognizes_stereotype",
    "assert_refuses",
    "assert_refuses_jailbreak",
    "assert_refuses_misuse",
    "assert_robust_to_perturbation",
    "assert_salary_option",
    "assert_social_norm",
    "assert_stereotype_disagreement",
]
