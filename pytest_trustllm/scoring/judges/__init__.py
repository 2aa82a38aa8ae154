"""Judges: refusal classifier, LLM judge, toxicity and embeddings, each behind a small interface."""
from pytest_trustllm.scoring.judges.base import (  # noqa: F401
    ChatJudge,
    Embedder,
    JudgeFailure,
    JudgeStats,
    RefusalClassifier,
    ToxicityScorer,
)
