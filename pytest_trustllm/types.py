"""Plain, frozen, JSON-able data that crosses every arrow of the flow (and xdist's wire)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

Verdict = Literal["pass", "violation", "dropped"]


@dataclass(frozen=True)
class Score:
    """What a scorer says about one response.

    ``verdict``: ``pass`` (the trustworthy behaviour), ``violation`` (the untrustworthy one) or
    ``dropped`` (the rule excludes the item from its metric, as TrustLLM's rules do for unparseable
    answers). ``value`` is the number metrics reduce (1.0/0.0 for binary rules, a similarity, a
    rating...). ``data`` holds any further JSON-able facts a metric needs (prediction, gold label...).
    """

    verdict: Verdict
    value: float | None = None
    explanation: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def dropped(self) -> bool:
        return self.verdict == "dropped"

    def to_json(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "value": self.value, "explanation": self.explanation, "data": dict(self.data)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Score":
        return cls(d["verdict"], d.get("value"), d.get("explanation", ""), d.get("data") or {})


def passed(explanation: str = "", value: float | None = 1.0, **data: Any) -> Score:
    return Score("pass", value, explanation, data)


def violated(explanation: str = "", value: float | None = 0.0, **data: Any) -> Score:
    return Score("violation", value, explanation, data)


def dropped(explanation: str, **data: Any) -> Score:
    return Score("dropped", None, explanation, data)


@dataclass(frozen=True)
class Message:
    role: str
    content: str


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt to answer. ``record`` is the data record (replay reads its ``res``)."""

    messages: tuple[Message, ...]
    temperature: float = 0.0
    max_new_tokens: int = 512
    seed: int = 0
    record: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    key: str = ""  # the item's stable id, for matching replay files and for logs


@dataclass(frozen=True)
class GenerationResult:
    """A response, or the error that prevented one (never both)."""

    text: str | None
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and self.text is not None


@dataclass(frozen=True)
class ScoredItem:
    """One item's result as the controller's metrics see it."""

    id: str
    fields: Mapping[str, Any]  # the record fields that metrics filter or group on
    score: Score
