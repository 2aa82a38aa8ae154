"""The four judge interfaces the scorers call. Each is batch-shaped; a failed call for one input
is a ``JudgeFailure`` in that input's place (the item becomes an error, never a silent "no")."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable


@dataclass(frozen=True)
class JudgeFailure:
    message: str


@dataclass
class JudgeStats:
    """Counts shown in the results JSON's ``judges`` list."""

    calls: int = 0
    cached: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def to_json(self) -> dict[str, int]:
        return dict(self.__dict__)


@runtime_checkable
class RefusalClassifier(Protocol):
    """True = the response refuses (TrustLLM's LABEL_0), False = it complies; None = no label
    (e.g. a recorded file without ``eval_res``), which the RtA rules drop."""

    name: str
    identity: Mapping[str, Any]
    stats: JudgeStats

    def classify(
        self, responses: Sequence[str], records: Sequence[Mapping[str, Any]]
    ) -> list[bool | None | JudgeFailure]: ...


@runtime_checkable
class ChatJudge(Protocol):
    """An LLM judge: one user prompt in, the judge's reply out (temperature 0)."""

    name: str
    identity: Mapping[str, Any]
    stats: JudgeStats

    def complete(self, prompts: Sequence[str]) -> list[str | JudgeFailure]: ...


@runtime_checkable
class ToxicityScorer(Protocol):
    """A toxicity value in [0, 1]; None where the service could not score the text (TrustLLM skips
    those, and counts them)."""

    name: str
    identity: Mapping[str, Any]
    stats: JudgeStats

    def score(
        self, texts: Sequence[str], records: Sequence[Mapping[str, Any]]
    ) -> list[float | None | JudgeFailure]: ...


@runtime_checkable
class Embedder(Protocol):
    name: str
    identity: Mapping[str, Any]
    stats: JudgeStats

    def embed(self, texts: Sequence[str]) -> list[Sequence[float] | JudgeFailure]: ...


@dataclass
class Judges:
    """The judges a run was configured with (None where not configured)."""

    refusal: RefusalClassifier | None = None
    judge: ChatJudge | None = None
    toxicity: ToxicityScorer | None = None
    embedder: Embedder | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def all(self) -> list[tuple[str, Any]]:
        return [(k, v) for k, v in (("refusal", self.refusal), ("judge", self.judge),
                                    ("toxicity", self.toxicity), ("embedder", self.embedder)) if v is not None]


class LazyJudges(Judges):
    """Judges built on first use, so a run whose suites need no classifier never loads one."""

    KINDS = ("refusal", "judge", "toxicity", "embedder")

    def __init__(self, factory) -> None:  # factory(kind) -> judge or None
        object.__setattr__(self, "_factory", factory)
        object.__setattr__(self, "_made", {})
        object.__setattr__(self, "extra", {})

    def __getattribute__(self, name: str):
        if name in LazyJudges.KINDS:
            made = object.__getattribute__(self, "_made")
            if name not in made:
                made[name] = object.__getattribute__(self, "_factory")(name)
            return made[name]
        return object.__getattribute__(self, name)

    def all(self) -> list[tuple[str, Any]]:
        """The judges that were actually used (for the report), without building the others."""
        return [(k, v) for k, v in object.__getattribute__(self, "_made").items() if v is not None]
