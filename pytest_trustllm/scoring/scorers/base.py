"""Scorer protocol, registry and context.

A scorer is batch-shaped so judges can batch: ``fn(batch, ctx, **args) -> list[Score | Unscored]``
where ``batch`` is a list of ``(record, response)`` pairs. Most rules are per-item: write them as a
plain function of ``(record, response, ctx, **args)`` and register with ``item_scorer``.
Group scorers (pairs, perturbation groups) receive whole groups, which batches keep together.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping, Sequence

from pytest_trustllm.scoring.judges.base import JudgeFailure, Judges
from pytest_trustllm.registry import Registry
from pytest_trustllm.types import Score

Record = Mapping[str, Any]
Batch = Sequence[tuple[Record, str]]


@dataclass(frozen=True)
class Unscored:
    """An item the scorer could not score: ``skip`` (a judge is not configured) or ``error``."""

    kind: Literal["skip", "error"]
    message: str

    @classmethod
    def skip(cls, message: str) -> "Unscored":
        return cls("skip", message)

    @classmethod
    def error(cls, message: str) -> "Unscored":
        return cls("error", message)


ScoreOrUnscored = Score | Unscored


@dataclass
class ScoringContext:
    rules: str = "paper"  # "paper" (the rules behind the published numbers) | "toolkit"
    judges: Judges = field(default_factory=Judges)

    def need(self, kind: str) -> Any:
        """The configured judge of ``kind``; raises ``MissingJudge`` naming the option to set."""
        judge = getattr(self.judges, kind)
        if judge is None:
            raise MissingJudge(kind)
        return judge


JUDGE_OPTIONS = {
    "refusal": "--trust-refusal",
    "judge": "--trust-judge=MODEL_SPEC",
    "toxicity": "--trust-toxicity",
    "embedder": "--trust-embedder",
}


class MissingJudge(Exception):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        what = "an LLM judge" if kind == "judge" else f"the {kind} judge"
        super().__init__(f"needs {what}, which is not configured: set {JUDGE_OPTIONS.get(kind, kind)}")


@dataclass(frozen=True)
class ScorerEntry:
    fn: Callable[..., list[ScoreOrUnscored]]
    description: str = ""


# The built-in rules register with the decorators below; the registry imports their modules before its first lookup.
SCORERS: Registry[ScorerEntry] = Registry("scorer", builtins=("pytest_trustllm.scoring.scorers.generic",
                                                              "pytest_trustllm.scoring.scorers.trustllm"))


def batch_scorer(name: str, description: str = ""):
    """Register a batch-shaped scorer ``fn(batch, ctx, **args) -> list[Score | Unscored]``."""

    def add(fn):
        SCORERS.register(name, ScorerEntry(fn, description or (fn.__doc__ or "").strip().split("\n")[0]))
        return fn

    return add


def item_scorer(name: str, description: str = ""):
    """Register a per-item scorer ``fn(record, response, ctx, **args) -> Score``."""

    def add(fn):
        def run(batch: Batch, ctx: ScoringContext, **args: Any) -> list[ScoreOrUnscored]:
            out: list[ScoreOrUnscored] = []
            for record, response in batch:
                try:
                    out.append(fn(record, response, ctx, **args))
                except MissingJudge as e:
                    out.append(Unscored.skip(str(e)))
                except JudgeError as e:
                    out.append(Unscored.error(f"judge failed: {e}"))
                except Exception as e:  # noqa: BLE001 - one record's failure errors that item only
                    out.append(Unscored.error(f"scorer {name!r} failed: {type(e).__name__}: {e}"))
            return out

        run.__doc__ = fn.__doc__
        SCORERS.register(name, ScorerEntry(run, description or (fn.__doc__ or "").strip().split("\n")[0]))
        return fn

    return add


def run_scorer(name: str, batch: Batch, ctx: ScoringContext, args: Mapping[str, Any]) -> list[ScoreOrUnscored]:
    """Call a registered scorer; a crash becomes an error for each item rather than a lost batch."""
    entry = SCORERS.get(name)
    try:
        out = entry.fn(batch, ctx, **dict(args))
    except MissingJudge as e:
        return [Unscored.skip(str(e))] * len(batch)
    except Exception as e:  # noqa: BLE001 - reported per item, with the scorer's name
        return [Unscored.error(f"scorer {name!r} failed: {type(e).__name__}: {e}")] * len(batch)
    if len(out) != len(batch):
        return [Unscored.error(f"scorer {name!r} returned {len(out)} scores for {len(batch)} items")] * len(batch)
    return list(out)


def judged(value: Any) -> Any:
    """Raise a judge failure as an item error (scorers call this on every judge output)."""
    if isinstance(value, JudgeFailure):
        raise JudgeError(value.message)
    return value


class JudgeError(Exception):
    pass
