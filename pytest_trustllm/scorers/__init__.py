"""Scorers: pure functions of (record, response[, judges]) -> Score, registered by name."""
from .base import (  # noqa: F401
    SCORERS,
    JudgeError,
    MissingJudge,
    ScoringContext,
    Unscored,
    batch_scorer,
    item_scorer,
    judged,
    run_scorer,
)
from . import generic  # noqa: F401  (registers the generic scorers)


def load_builtin_scorers() -> None:
    """Import the TrustLLM scorers (registration is an import side effect, done once)."""
    from . import trustllm  # noqa: F401
