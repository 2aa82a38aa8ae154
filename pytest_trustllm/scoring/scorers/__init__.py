"""Scorers: pure functions of (record, response[, judges]) -> Score, registered by name."""
from pytest_trustllm.scoring.scorers.base import (  # noqa: F401
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


def load_builtin_scorers() -> None:
    """Register the built-in scorers now (a lookup in ``SCORERS`` does it by itself)."""
    SCORERS.load_builtins()
